namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// Splits C into a grid of independent blocks for the worker threads. Blocks are cut on tile boundaries;
/// since each block computes all of K for its elements, the split changes who computes an element, not how.
/// </summary>
internal static class CpuGemmPartition
{
    /// <summary>Tasks for a parallel call: one per core.</summary>
    public static int MaxTasks(bool parallel) => parallel ? Environment.ProcessorCount : 1;

    /// <summary>How many tasks a call is worth: 1 when serial or small, else up to <paramref name="maxTasks"/>.</summary>
    public static int TaskCount(long multiplyAdds, int maxTasks, long tiles)
    {
        if (maxTasks <= 1 || multiplyAdds < CpuGemmDriver.ParallelThreshold)
        {
            return 1;
        }

        long byWork = multiplyAdds / CpuGemmDriver.MinWorkPerTask;
        return (int)Math.Max(1, Math.Min(Math.Min(maxTasks, byWork), tiles));
    }

    /// <summary>
    /// Factors <paramref name="tasks"/> into partsM × partsN. Every extra part along N re-packs A and every
    /// extra part along M re-packs B, so the factorisation minimising <c>partsM·n + partsN·m</c> (the packing
    /// volume) wins; a dimension cannot have more parts than tiles.
    /// </summary>
    public static (int PartsM, int PartsN) Grid(int tasks, int tilesM, int tilesN, int m, int n)
    {
        for (int t = tasks; t > 1; t--)
        {
            (int, int) best = (0, 0);
            long bestCost = long.MaxValue;
            for (int pm = 1; pm <= t; pm++)
            {
                if (t % pm != 0)
                {
                    continue;
                }

                int pn = t / pm;
                if (pm > tilesM || pn > tilesN)
                {
                    continue;
                }

                long cost = (long)pm * n + (long)pn * m;
                if (cost < bestCost)
                {
                    bestCost = cost;
                    best = (pm, pn);
                }
            }

            if (bestCost != long.MaxValue)
            {
                return best;
            }
        }

        return (1, 1);
    }

    /// <summary>Element range of part <paramref name="index"/> of <paramref name="parts"/>, in whole tiles.</summary>
    public static (int Start, int End) Range(int index, int parts, int tiles, int tileSize, int length)
    {
        long firstTile = (long)tiles * index / parts;
        long endTile = (long)tiles * (index + 1) / parts;
        int start = (int)Math.Min(length, firstTile * tileSize);
        int end = (int)Math.Min(length, endTile * tileSize);
        return (start, end);
    }
}
