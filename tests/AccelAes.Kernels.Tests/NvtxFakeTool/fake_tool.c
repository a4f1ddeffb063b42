/*
 * A stand-in for a profiler's NVTX injection library (what Nsight points NVTX_INJECTION64_PATH at), written from
 * the NVTX v3 protocol: InitializeInjectionNvtx2 receives the application's getExportTable, asks it for the
 * callbacks table (id 1) and the version-info table (id 3), walks every module's function table the way a real
 * tool does, and writes its own RangePushA / RangePop / MarkA into the CORE slots. Each call is appended to a log
 * that the test reads through fake_tool_log().
 *
 * Built by NvtxInjectionTests with gcc; -DFAKE_TOOL_NO_ENTRY leaves the entry point out, -DFAKE_TOOL_INIT_FAILS
 * fills the slots and then returns 0 (declines to attach).
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*slot_fn)(void);
typedef const void* (*get_export_table_fn)(uint32_t id);
typedef int (*get_module_table_fn)(int module, slot_fn*** out_table, unsigned int* out_size);

struct callbacks_table { size_t struct_size; get_module_table_fn get_module_function_table; };
struct version_info_table { size_t struct_size; uint32_t version; uint32_t reserved0; void (*set_injection_version)(uint32_t); };

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buffer[1 << 16];
static size_t log_length;
static int depth;

static void append(const char* kind, const char* text)
{
    pthread_mutex_lock(&log_lock);
    int n = snprintf(log_buffer + log_length, sizeof log_buffer - log_length, text ? "%s:%s\n" : "%s\n", kind, text);
    if (n > 0 && log_length + (size_t)n < sizeof log_buffer)
        log_length += (size_t)n;
    pthread_mutex_unlock(&log_lock);
}

const char* fake_tool_log(void) { return log_buffer; }

void fake_tool_reset(void)
{
    pthread_mutex_lock(&log_lock);
    log_length = 0;
    log_buffer[0] = 0;
    depth = 0;
    pthread_mutex_unlock(&log_lock);
}

/* Exported (not static) so every variant compiles cleanly with -Wall -Werror, entry point or not. */
int tool_push(const char* message) { append("push", message); return depth++; }
int tool_pop(void) { append("pop", NULL); return --depth; }
void tool_mark(const char* message) { append("mark", message); }

#ifndef FAKE_TOOL_NO_ENTRY
int InitializeInjectionNvtx2(get_export_table_fn get_export_table)
{
    static const unsigned int expected_sizes[] = { 0, 16, 9, 15, 7, 16, 7 }; /* CORE CUDA OPENCL CUDART CORE2 SYNC */
    char line[128];
    const struct callbacks_table* callbacks = get_export_table(1);
    const struct version_info_table* version = get_export_table(3);
    if (!callbacks || callbacks->struct_size < sizeof *callbacks || !version || version->struct_size < sizeof *version)
    {
        append("error", "export tables");
        return 0;
    }
    if (get_export_table(2) != NULL || get_export_table(99) != NULL)
        append("error", "unknown export table ids must give NULL");
    snprintf(line, sizeof line, "%u", version->version);
    append("version", line);
    version->set_injection_version(3);

    for (int module = 1; module <= 6; module++)
    {
        slot_fn** table = NULL;
        unsigned int size = 0;
        if (!callbacks->get_module_function_table(module, &table, &size) || !table || size != expected_sizes[module]
            || table[0] != NULL || table[size] != NULL)
        {
            snprintf(line, sizeof line, "module %d size %u", module, size);
            append("error", line);
            return 0;
        }
        for (unsigned int id = 1; id < size; id++)
            if (table[id] == NULL || *table[id] != NULL) /* slots exist and start empty */
            {
                snprintf(line, sizeof line, "module %d slot %u", module, id);
                append("error", line);
                return 0;
            }
    }
    if (callbacks->get_module_function_table(7, NULL, NULL) != 0 || callbacks->get_module_function_table(0, NULL, NULL) != 0)
        append("error", "unknown modules must give 0");

    slot_fn** core = NULL;
    unsigned int core_size = 0;
    callbacks->get_module_function_table(1, &core, &core_size);
    *core[2] = (slot_fn)tool_mark;  /* NVTX_CBID_CORE_MarkA */
    *core[9] = (slot_fn)tool_push;  /* NVTX_CBID_CORE_RangePushA */
    *core[11] = (slot_fn)tool_pop;  /* NVTX_CBID_CORE_RangePop */
    append("attached", NULL);
#ifdef FAKE_TOOL_INIT_FAILS
    return 0;
#else
    return 1;
#endif
}
#endif
