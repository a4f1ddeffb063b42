#!/usr/bin/env bash
# Prints the README's "which card, which model, which flags" table: every published model on three cards, planned
# with the weights as published (bf16) and with --weights fp8; every cell comes from an `accelaes plan --json` run
# (no number is typed by hand). Needs jq.
# Usage: ACCELAES="dotnet tools/AccelAes.Cli/bin/Release/net10.0/accelaes.dll" tools/plan-table.sh
set -euo pipefail
accelaes=${ACCELAES:-accelaes}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One cell: "policy, peak" of a plan, "does not fit" when no policy fits, and a mark on policies the runtime lacks.
cell() {
  jq -r 'def gib: (. / 1073741824 * 10 | round / 10 | tostring) + " GiB";
    if .fits then "\(.policy)\(if .policy_implemented then "" else " *" end), \(.peak_bytes | gib)"
    else "does not fit" end' "$1"
}

echo "| model (1024², --memory) | card | bf16 (as published) | --weights fp8 |"
echo "|---|---|---|---|"
for model in sd3-medium sd3.5-medium sd3.5-large flux-dev flux-schnell lumina-next-sft; do
  for card in "RTX 4090:24GiB" "RTX 5090:32GiB" "H100:80GiB"; do
    $accelaes plan --arch "$model" --memory "${card#*:}" --json "$tmp/bf16.json" > /dev/null
    $accelaes plan --arch "$model" --memory "${card#*:}" --weights fp8 --json "$tmp/fp8.json" > /dev/null
    echo "| $model | ${card%%:*} (${card#*:}) | $(cell "$tmp/bf16.json") | $(cell "$tmp/fp8.json") |"
  done
done
