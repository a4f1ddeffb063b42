/*
 * abi_test.c — checks the contract of accelaes.h from C: versions, error codes and messages, the size field of
 * the option structs, cancellation from the progress callback, and handle validation (double free, stale and
 * mistyped handles).
 *
 *   abi_test CASE [ARGS]
 *
 *   version                      library and ABI versions, status names, knob enumeration
 *   bad-folder MISSING NOT_MODEL a folder that does not exist, and one that exists but holds no model
 *   bad-options                  bad engine / generate options: size fields, backend, knobs, preset, NULLs, buffer
 *   cancel                       the progress callback cancels; the buffer is untouched; the model stays usable
 *   handles                      double free, use after free, a model passed as an engine, a made-up handle
 *   threads                      two engines generate in parallel; a second call on a busy engine is BUSY;
 *                                error messages are per thread
 *   schnell FOLDER               a FLUX.1-schnell folder: model info and a default generation use its model
 *                                card's 4 steps and guidance 0, and the warnings say so
 *   mask                         the executed schedule in accelaes_generate_result (and the 0.1.0 struct size
 *                                still accepted); accelaes_mask_get: sizes, capacity checks, values, lifetime
 *
 * Every check prints "ok - ..." or "FAIL - ... (file:line)"; the exit code is the number of failures (0: all
 * passed), 2 for a bad command line. Uses the built-in tiny model (ACCELAES_CACHE_DIR says where it is written).
 */
#define _POSIX_C_SOURCE 200809L
#include "accelaes.h"

#include <pthread.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, what)                                                                   \
    do {                                                                                    \
        if (cond) printf("ok - %s\n", what);                                                \
        else { printf("FAIL - %s (%s:%d)\n", what, __FILE__, __LINE__); failures++; }        \
    } while (0)

/* Checks that `call` returned `expected` and that the thread's message contains `needle` ("" when the call
 * succeeded). Prints the message so the test log shows what a host would see. */
static void expect(const char* what, accelaes_status status, accelaes_status expected, const char* needle) {
    const char* message = accelaes_last_error();
    char line[512];
    printf("   %s -> %s: %s\n", what, accelaes_status_name(status), message);
    snprintf(line, sizeof line, "%s returns %s", what, accelaes_status_name(expected));
    CHECK(status == expected, line);
    if (expected == ACCELAES_OK) {
        CHECK(message != NULL && message[0] == '\0', "the last error is empty after a success");
    } else {
        snprintf(line, sizeof line, "%s: the message names '%s'", what, needle);
        CHECK(message != NULL && strstr(message, needle) != NULL, line);
    }
}

static accelaes_engine* new_engine(void) {
    accelaes_engine* engine = NULL;
    accelaes_status s = accelaes_engine_create(NULL, &engine);
    expect("accelaes_engine_create(NULL options)", s, ACCELAES_OK, "");
    CHECK(engine != NULL, "the engine handle is set");
    return engine;
}

static accelaes_model* builtin_model(accelaes_engine* engine) {
    accelaes_model* model = NULL;
    accelaes_status s = accelaes_model_load(engine, NULL, NULL, &model);
    expect("accelaes_model_load(built-in)", s, ACCELAES_OK, "");
    CHECK(model != NULL, "the model handle is set");
    return model;
}

/* Small, fast generation settings for the tiny model. */
static void small_options(accelaes_generate_options* o) {
    accelaes_generate_options_init(o);
    o->prompt = "a red cube on a table";
    o->steps = 3;
    o->width = 32;
    o->height = 32;
    o->seed = 7;
}

#define IMAGE_BYTES (32 * 32 * 3)
#define SENTINEL 0xA5

static int untouched(const uint8_t* buffer, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (buffer[i] != SENTINEL) return 0;
    return 1;
}

/* ---- version ---------------------------------------------------------------------------------------- */

static void test_version(void) {
    const char* name = NULL;
    const char* description = NULL;
    int32_t count, i, found = 0;
    CHECK(accelaes_abi_version() == ACCELAES_ABI_VERSION, "accelaes_abi_version() == ACCELAES_ABI_VERSION");
    CHECK(accelaes_version() != NULL && strlen(accelaes_version()) > 0, "accelaes_version() is a non-empty string");
    printf("   version %s, ABI %u\n", accelaes_version(), accelaes_abi_version());
    CHECK(strcmp(accelaes_status_name(ACCELAES_ERR_NOT_FOUND), "ACCELAES_ERR_NOT_FOUND") == 0, "status names match the header");
    CHECK(strcmp(accelaes_status_name(ACCELAES_ERR_CANCELLED), "ACCELAES_ERR_CANCELLED") == 0, "status name of CANCELLED");
    CHECK(strcmp(accelaes_status_name(12345), "ACCELAES_UNKNOWN_STATUS") == 0, "an unknown status has a name too");
    CHECK(accelaes_last_error() != NULL, "accelaes_last_error() is never NULL");

    count = accelaes_knob_count();
    CHECK(count > 10, "there are acceleration knobs");
    for (i = 0; i < count; i++) {
        expect("accelaes_knob(i)", accelaes_knob(i, &name, &description), ACCELAES_OK, "");
        if (name && strcmp(name, "skip_ratio") == 0 && description && description[0]) found = 1;
    }
    CHECK(found, "the knob list has skip_ratio with a description (the CLI's --set knobs)");
    expect("accelaes_knob(count)", accelaes_knob(count, &name, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "out of range");
    expect("accelaes_knob(-1)", accelaes_knob(-1, NULL, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "out of range");
}

/* ---- bad-folder ------------------------------------------------------------------------------------- */

static void test_bad_folder(const char* missing, const char* not_model) {
    accelaes_engine* engine = new_engine();
    accelaes_model* model = (accelaes_model*)(uintptr_t)0x1; /* must be reset to NULL on failure */
    accelaes_status s;

    s = accelaes_model_load(engine, missing, NULL, &model);
    expect("accelaes_model_load(a missing folder)", s, ACCELAES_ERR_NOT_FOUND, missing);
    CHECK(model == NULL, "the out handle is NULL after a failed load");

    model = (accelaes_model*)(uintptr_t)0x1;
    s = accelaes_model_load(engine, not_model, NULL, &model);
    expect("accelaes_model_load(a folder without a model)", s, ACCELAES_ERR_INVALID_MODEL, "model_index.json");
    CHECK(model == NULL, "the out handle is NULL after a failed load");

    s = accelaes_model_load(engine, "", NULL, &model);
    expect("accelaes_model_load(\"\")", s, ACCELAES_ERR_INVALID_ARGUMENT, "folder");

    /* A variant becomes part of a weights file name: one that could leave the folder is refused up front. */
    s = accelaes_model_load(engine, not_model, "../x", &model);
    expect("accelaes_model_load(variant \"../x\")", s, ACCELAES_ERR_INVALID_ARGUMENT, "Variant '../x'");

    s = accelaes_model_load(engine, "\xff\xfe-not-utf8", NULL, &model);
    expect("accelaes_model_load(invalid UTF-8)", s, ACCELAES_ERR_INVALID_ARGUMENT, "UTF-8");

    s = accelaes_model_load(engine, missing, NULL, NULL);
    expect("accelaes_model_load(out NULL)", s, ACCELAES_ERR_INVALID_ARGUMENT, "NULL");

    /* The engine is still usable after the failures. */
    model = builtin_model(engine);
    expect("accelaes_engine_free", accelaes_engine_free(engine), ACCELAES_OK, "");
}

/* ---- bad-options ------------------------------------------------------------------------------------ */

/* A host built against a newer header: the v1 struct followed by a field this library does not know. */
typedef struct {
    accelaes_engine_options v1;
    int64_t newer_field;
} engine_options_v2;

static void test_bad_options(void) {
    accelaes_engine_options eo;
    engine_options_v2 newer;
    accelaes_engine* engine = NULL;
    accelaes_model* model;
    accelaes_generate_options o;
    accelaes_generate_result result;
    const char* unknown_knob[] = {"warp_speed=9"};
    const char* bad_value[] = {"skip_ratio=lots"};
    const char* no_equals[] = {"skip_ratio"};
    const char* good_knobs[] = {"warmup=1", "interval=2"};
    const char* null_entry[] = {NULL};
    uint8_t rgb[IMAGE_BYTES];
    int32_t w = -1, h = -1;
    accelaes_status s;

    /* Engine options. */
    accelaes_engine_options_init(&eo);
    eo.size = 0;
    s = accelaes_engine_create(&eo, &engine);
    expect("accelaes_engine_create(size 0)", s, ACCELAES_ERR_INVALID_ARGUMENT, "size");
    CHECK(engine == NULL, "no engine after a failed create");
    eo.size = 3;
    expect("accelaes_engine_create(size 3)", accelaes_engine_create(&eo, &engine), ACCELAES_ERR_INVALID_ARGUMENT, "size is 3");
    accelaes_engine_options_init(&eo);
    eo.backend = "tpu";
    expect("accelaes_engine_create(backend tpu)", accelaes_engine_create(&eo, &engine), ACCELAES_ERR_INVALID_ARGUMENT, "'tpu'");
    accelaes_engine_options_init(&eo);
    eo.device = -1;
    expect("accelaes_engine_create(device -1)", accelaes_engine_create(&eo, &engine), ACCELAES_ERR_INVALID_ARGUMENT, "device");
    expect("accelaes_engine_create(out NULL)", accelaes_engine_create(NULL, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "NULL");

    /* The CUDA backend without a GPU (no driver, no device, no NVRTC) is NO_GPU with the reason, not a crash. */
    accelaes_engine_options_init(&eo);
    eo.backend = "cuda";
    s = accelaes_engine_create(&eo, &engine);
    printf("   accelaes_engine_create(backend cuda) -> %s: %s\n", accelaes_status_name(s), accelaes_last_error());
    if (s == ACCELAES_OK) {
        CHECK(engine != NULL, "a CUDA engine where a GPU is present");
        accelaes_engine_free(engine);
        engine = NULL;
    } else {
        CHECK(s == ACCELAES_ERR_NO_GPU && strstr(accelaes_last_error(), "GPU") != NULL,
              "the CUDA backend without a usable GPU is NO_GPU, and the message says what is missing");
        CHECK(engine == NULL, "no engine after a failed create");
        CHECK(strstr(accelaes_last_error(), "--backend") == NULL, "the NO_GPU message names no CLI option (a host has none)");
    }

    memset(&newer, 0, sizeof newer);
    accelaes_engine_options_init(&newer.v1);
    newer.v1.size = (uint32_t)sizeof newer;
    newer.newer_field = 42;
    s = accelaes_engine_create((const accelaes_engine_options*)&newer, &engine);
    expect("accelaes_engine_create(newer struct, unknown field set)", s, ACCELAES_ERR_UNSUPPORTED, "newer accelaes.h");
    newer.newer_field = 0;
    s = accelaes_engine_create((const accelaes_engine_options*)&newer, &engine);
    expect("accelaes_engine_create(newer struct, unknown field zero)", s, ACCELAES_OK, "");
    CHECK(engine != NULL, "a larger struct with zero extra fields is accepted");

    model = builtin_model(engine);

    /* Generate options: each is rejected before any work, and the buffer stays untouched. */
    memset(rgb, SENTINEL, sizeof rgb);
    small_options(&o);
    o.accel_overrides = unknown_knob;
    o.accel_override_count = 1;
    expect("accelaes_generate(unknown knob)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "warp_speed");
    expect("accelaes_image_size(unknown knob)", accelaes_image_size(model, &o, &w, &h), ACCELAES_ERR_INVALID_ARGUMENT, "warp_speed");
    CHECK(w == -1 && h == -1, "accelaes_image_size leaves its outputs untouched on failure");
    o.accel_overrides = bad_value;
    expect("accelaes_generate(skip_ratio=lots)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "skip_ratio");
    o.accel_overrides = no_equals;
    expect("accelaes_generate(knob without =)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "knob=value");
    o.accel_overrides = null_entry;
    expect("accelaes_generate(NULL override)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "accel_overrides[0]");
    o.accel_overrides = NULL;
    expect("accelaes_generate(overrides NULL, count 1)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "accel_overrides");

    small_options(&o);
    o.accel_preset = "turbo";
    expect("accelaes_generate(preset turbo)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "'turbo'");

    small_options(&o);
    o.size = 8;
    expect("accelaes_generate(options size 8)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "accelaes_generate_options.size");
    small_options(&o);
    o.prompt = NULL;
    expect("accelaes_generate(prompt NULL)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "prompt");
    small_options(&o);
    o.steps = -2;
    expect("accelaes_generate(steps -2)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "steps");
    small_options(&o);
    o.width = 40;
    expect("accelaes_generate(width 40)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "multiples of 16");
    /* Bounds and non-finite values: the validation the CLI shares (InputLimits), checked before anything is allocated. */
    small_options(&o);
    o.steps = INT32_MAX;
    expect("accelaes_generate(steps INT32_MAX)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "between 1 and 10000");
    small_options(&o);
    o.guidance = NAN;
    expect("accelaes_generate(guidance NaN)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "guidance (0 = the pipeline's default) is NaN");
    small_options(&o);
    o.true_cfg_scale = -INFINITY;
    expect("accelaes_generate(true_cfg_scale -inf)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "true_cfg_scale");
    small_options(&o);
    o.width = 4096; /* a multiple of 16, beyond the tiny SD3's position table */
    w = h = -1;
    expect("accelaes_image_size(width beyond the position table)", accelaes_image_size(model, &o, &w, &h), ACCELAES_ERR_INVALID_ARGUMENT, "pos_embed_max_size");
    CHECK(w == -1 && h == -1, "accelaes_image_size refuses a size accelaes_generate would refuse");
    small_options(&o);
    o.guidance_mode = 7;
    expect("accelaes_generate(guidance_mode 7)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "guidance_mode");
    expect("accelaes_generate(options NULL)", accelaes_generate(model, NULL, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "NULL");

    small_options(&o);
    expect("accelaes_generate(rgb NULL)", accelaes_generate(model, &o, NULL, sizeof rgb, NULL), ACCELAES_ERR_INVALID_ARGUMENT, "rgb is NULL");
    expect("accelaes_generate(buffer too small)", accelaes_generate(model, &o, rgb, sizeof rgb - 1, NULL), ACCELAES_ERR_BUFFER_TOO_SMALL, "3072");
    accelaes_generate_result_init(&result);
    result.size = 4;
    expect("accelaes_generate(result size 4)", accelaes_generate(model, &o, rgb, sizeof rgb, &result), ACCELAES_ERR_INVALID_ARGUMENT, "accelaes_generate_result.size");
    CHECK(untouched(rgb, sizeof rgb), "no failed call wrote into the image buffer");

    /* The same model still generates, with valid knobs, and reports what the knobs did. */
    small_options(&o);
    o.accel_preset = "stepcache";
    o.accel_overrides = good_knobs;
    o.accel_override_count = 2;
    o.steps = 4;
    expect("accelaes_image_size(valid)", accelaes_image_size(model, &o, &w, &h), ACCELAES_OK, "");
    CHECK(w == 32 && h == 32, "accelaes_image_size gives the requested size");
    accelaes_generate_result_init(&result);
    expect("accelaes_generate(stepcache, warmup=1 interval=2)", accelaes_generate(model, &o, rgb, sizeof rgb, &result), ACCELAES_OK, "");
    printf("   steps %d, computed %d, skipped %d\n", result.steps, result.steps_computed, result.steps_skipped);
    CHECK(result.steps == 4 && result.steps_skipped > 0 && result.steps_computed + result.steps_skipped == 4,
          "StepCache skipped steps as the knobs asked");
    CHECK(!untouched(rgb, sizeof rgb), "a successful generation wrote the image");

    expect("accelaes_engine_free", accelaes_engine_free(engine), ACCELAES_OK, "");
}

/* ---- cancel ----------------------------------------------------------------------------------------- */

typedef struct {
    int calls;
    int calls_after_cancel;
    int cancelled;
    int cancel_at_step;            /* denoise step at which to cancel; 0 = never */
    accelaes_model* model;         /* to try a re-entrant call */
    accelaes_status reentrant;     /* what accelaes_generate returned from inside the callback */
    int last_phase, last_step, last_total;
    int out_of_order;
} progress_log;

static int32_t ACCELAES_CALL on_progress(int32_t phase, int32_t step, int32_t total, void* user_data) {
    progress_log* log = (progress_log*)user_data;
    log->calls++;
    if (log->cancelled) log->calls_after_cancel++;
    if (phase < log->last_phase || (phase == log->last_phase && step < log->last_step)) log->out_of_order++;
    log->last_phase = phase;
    log->last_step = step;
    log->last_total = total;
    if (phase == ACCELAES_PHASE_DENOISE && step == 1 && log->model) {
        accelaes_generate_options o;
        uint8_t one[IMAGE_BYTES];
        small_options(&o);
        log->reentrant = accelaes_generate(log->model, &o, one, sizeof one, NULL);
    }
    if (log->cancel_at_step > 0 && phase == ACCELAES_PHASE_DENOISE && step == log->cancel_at_step) {
        log->cancelled = 1;
        return 1;
    }
    return 0;
}

static void test_cancel(void) {
    accelaes_engine* engine = new_engine();
    accelaes_model* model = builtin_model(engine);
    accelaes_generate_options o;
    accelaes_generate_result result;
    progress_log log;
    uint8_t rgb[IMAGE_BYTES];
    accelaes_status s;

    memset(&log, 0, sizeof log);
    log.cancel_at_step = 1;
    log.model = model;
    memset(rgb, SENTINEL, sizeof rgb);
    small_options(&o);
    o.progress = on_progress;
    o.user_data = &log;
    accelaes_generate_result_init(&result);
    result.steps = -7;
    s = accelaes_generate(model, &o, rgb, sizeof rgb, &result);
    expect("accelaes_generate(callback returns 1 at denoise step 1)", s, ACCELAES_ERR_CANCELLED, "Cancelled");
    CHECK(log.cancelled, "the callback was called at the denoise step");
    CHECK(log.calls_after_cancel == 0, "no progress reports after the callback cancelled");
    CHECK(untouched(rgb, sizeof rgb), "a cancelled generation writes nothing into the buffer");
    CHECK(result.steps == -7, "a cancelled generation leaves the result struct untouched");
    printf("   re-entrant accelaes_generate from the callback -> %s\n", accelaes_status_name(log.reentrant));
    CHECK(log.reentrant == ACCELAES_ERR_BUSY, "a re-entrant generation on the same engine is BUSY, not a deadlock");

    /* Afterwards the model is usable and the engine not busy: a full run reports every phase in order. */
    memset(&log, 0, sizeof log);
    o.user_data = &log;
    s = accelaes_generate(model, &o, rgb, sizeof rgb, &result);
    expect("accelaes_generate(after a cancel)", s, ACCELAES_OK, "");
    CHECK(log.out_of_order == 0, "progress reports come in order");
    CHECK(log.calls == 2 + 3 + 1, "encode (0/1, 1/1), three denoise steps and the decode were reported");
    CHECK(log.last_phase == ACCELAES_PHASE_DECODE && log.last_step == 1 && log.last_total == 1, "the last report is the decode");
    CHECK(result.steps == 3 && result.width == 32 && result.height == 32, "the result describes the image");
    CHECK(!untouched(rgb, sizeof rgb), "the image was written");

    expect("accelaes_model_free", accelaes_model_free(model), ACCELAES_OK, "");
    expect("accelaes_engine_free", accelaes_engine_free(engine), ACCELAES_OK, "");
}

/* ---- handles ---------------------------------------------------------------------------------------- */

static void test_handles(void) {
    accelaes_engine* engine = new_engine();
    accelaes_engine* other = new_engine();
    accelaes_model* model = builtin_model(engine);
    accelaes_model* kept = builtin_model(other);
    accelaes_model_info info;
    accelaes_generate_options o;
    uint8_t rgb[IMAGE_BYTES];

    CHECK(engine != other, "two engines have different handles");
    expect("accelaes_engine_free(NULL)", accelaes_engine_free(NULL), ACCELAES_OK, "");
    expect("accelaes_model_free(NULL)", accelaes_model_free(NULL), ACCELAES_OK, "");
    expect("accelaes_engine_free(a model handle)", accelaes_engine_free((accelaes_engine*)model), ACCELAES_ERR_INVALID_HANDLE, "not an accelaes_engine");
    expect("accelaes_model_free(an engine handle)", accelaes_model_free((accelaes_model*)engine), ACCELAES_ERR_INVALID_HANDLE, "not an accelaes_model");
    expect("accelaes_engine_free(made-up pointer)", accelaes_engine_free((accelaes_engine*)(uintptr_t)0xdeadbeef0ULL), ACCELAES_ERR_INVALID_HANDLE, "not a live");

    accelaes_model_info_init(&info);
    expect("accelaes_model_info_get", accelaes_model_info_get(model, &info), ACCELAES_OK, "");
    CHECK(info.pipeline_class && strcmp(info.pipeline_class, "StableDiffusion3Pipeline") == 0, "the built-in model is an SD3 pipeline");
    CHECK(info.size_multiple == 16 && info.default_steps > 0, "model info has the pipeline's defaults");

    /* Freeing an engine frees its models: their handles go stale with it. */
    expect("accelaes_engine_free", accelaes_engine_free(engine), ACCELAES_OK, "");
    expect("accelaes_engine_free(again)", accelaes_engine_free(engine), ACCELAES_ERR_INVALID_HANDLE, "already freed");
    expect("accelaes_model_free(freed with its engine)", accelaes_model_free(model), ACCELAES_ERR_INVALID_HANDLE, "already freed");
    small_options(&o);
    expect("accelaes_generate(freed model)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_ERR_INVALID_HANDLE, "accelaes_model");
    expect("accelaes_model_load(freed engine)", accelaes_model_load(engine, NULL, NULL, &model), ACCELAES_ERR_INVALID_HANDLE, "accelaes_engine");

    /* The other engine is unaffected; a model freed on its own goes stale, its engine lives on. */
    expect("accelaes_generate(other engine)", accelaes_generate(kept, &o, rgb, sizeof rgb, NULL), ACCELAES_OK, "");
    expect("accelaes_model_free", accelaes_model_free(kept), ACCELAES_OK, "");
    expect("accelaes_model_free(again)", accelaes_model_free(kept), ACCELAES_ERR_INVALID_HANDLE, "already freed");
    expect("accelaes_engine_free(other)", accelaes_engine_free(other), ACCELAES_OK, "");
    expect("accelaes_engine_free(other, again)", accelaes_engine_free(other), ACCELAES_ERR_INVALID_HANDLE, "already freed");
}

/* ---- threads --------------------------------------------------------------------------------------- */

typedef struct {
    accelaes_model* model;
    uint8_t rgb[IMAGE_BYTES];
    accelaes_status status;
    /* Hand-shake with the main thread: the worker's callback waits at denoise step 1 until the main thread has
     * made its own calls, so those happen while this generation is certainly running. */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int in_denoise, main_done, wait_for_main;
    int message_empty; /* accelaes_last_error() on the worker's thread after its call was "" */
} worker;

static int32_t ACCELAES_CALL worker_progress(int32_t phase, int32_t step, int32_t total, void* user_data) {
    worker* w = (worker*)user_data;
    (void)total;
    if (w->wait_for_main && phase == ACCELAES_PHASE_DENOISE && step == 1) {
        pthread_mutex_lock(&w->lock);
        w->in_denoise = 1;
        pthread_cond_broadcast(&w->changed);
        while (!w->main_done) pthread_cond_wait(&w->changed, &w->lock);
        pthread_mutex_unlock(&w->lock);
    }
    return 0;
}

static void* worker_main(void* arg) {
    worker* w = (worker*)arg;
    accelaes_generate_options o;
    small_options(&o);
    o.progress = worker_progress;
    o.user_data = w;
    w->status = accelaes_generate(w->model, &o, w->rgb, sizeof w->rgb, NULL);
    w->message_empty = accelaes_last_error()[0] == '\0';
    return NULL;
}

static void worker_init(worker* w, accelaes_model* model, int wait_for_main) {
    memset(w, 0, sizeof *w);
    w->model = model;
    w->wait_for_main = wait_for_main;
    w->status = -1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->changed, NULL);
}

static void test_threads(void) {
    accelaes_engine* engine_a = new_engine();
    accelaes_engine* engine_b = new_engine();
    accelaes_model* model_a = builtin_model(engine_a);
    accelaes_model* model_b = builtin_model(engine_b);
    accelaes_model* not_loaded = NULL;
    static worker a, b;
    pthread_t ta, tb;
    accelaes_generate_options o;
    uint8_t rgb[IMAGE_BYTES];
    accelaes_status s;

    /* One engine per thread: both generate at once, and get the same image for the same seed. */
    worker_init(&a, model_a, 0);
    worker_init(&b, model_b, 0);
    CHECK(pthread_create(&ta, NULL, worker_main, &a) == 0 && pthread_create(&tb, NULL, worker_main, &b) == 0, "two threads started");
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    printf("   parallel generations on two engines -> %s, %s\n", accelaes_status_name(a.status), accelaes_status_name(b.status));
    CHECK(a.status == ACCELAES_OK && b.status == ACCELAES_OK, "two engines generate in parallel");
    CHECK(memcmp(a.rgb, b.rgb, IMAGE_BYTES) == 0, "the same seed gives the same image on both engines");

    /* One engine, two threads: while the worker's generation runs, the main thread's calls on that engine are
     * BUSY at once (no waiting, no deadlock), and its error message does not leak into the worker's thread. */
    worker_init(&a, model_a, 1);
    CHECK(pthread_create(&ta, NULL, worker_main, &a) == 0, "worker started");
    pthread_mutex_lock(&a.lock);
    while (!a.in_denoise) pthread_cond_wait(&a.changed, &a.lock);
    pthread_mutex_unlock(&a.lock);
    small_options(&o);
    s = accelaes_generate(model_a, &o, rgb, sizeof rgb, NULL);
    expect("accelaes_generate(engine busy on another thread)", s, ACCELAES_ERR_BUSY, "one operation per engine");
    expect("accelaes_engine_free(engine busy on another thread)", accelaes_engine_free(engine_a), ACCELAES_ERR_BUSY, "running a generation");
    expect("accelaes_model_load(engine busy on another thread)", accelaes_model_load(engine_a, NULL, NULL, &not_loaded), ACCELAES_ERR_BUSY, "one operation per engine");
    expect("accelaes_generate(the other engine meanwhile)", accelaes_generate(model_b, &o, rgb, sizeof rgb, NULL), ACCELAES_OK, "");
    pthread_mutex_lock(&a.lock);
    a.main_done = 1;
    pthread_cond_broadcast(&a.changed);
    pthread_mutex_unlock(&a.lock);
    pthread_join(ta, NULL);
    printf("   the worker's generation -> %s\n", accelaes_status_name(a.status));
    CHECK(a.status == ACCELAES_OK, "the running generation was not disturbed by the BUSY calls");
    CHECK(a.message_empty, "the main thread's BUSY messages did not reach the worker's thread (messages are thread-local)");
    CHECK(accelaes_last_error()[0] == '\0', "the main thread's own last call succeeded, so its message is empty");
    CHECK(memcmp(a.rgb, rgb, IMAGE_BYTES) == 0, "and gave the same image as the other engine");

    expect("accelaes_engine_free(a, idle again)", accelaes_engine_free(engine_a), ACCELAES_OK, "");
    expect("accelaes_engine_free(b)", accelaes_engine_free(engine_b), ACCELAES_OK, "");
}

/* ---- schnell ---------------------------------------------------------------------------------------- */

static void test_schnell(const char* folder) {
    accelaes_engine* engine = new_engine();
    accelaes_model* model = NULL;
    accelaes_model_info info;
    accelaes_generate_options o;
    accelaes_generate_result result;
    static uint8_t rgb[IMAGE_BYTES];

    expect("accelaes_model_load(a FLUX.1-schnell folder)", accelaes_model_load(engine, folder, NULL, &model), ACCELAES_OK, "");
    accelaes_model_info_init(&info);
    expect("accelaes_model_info_get", accelaes_model_info_get(model, &info), ACCELAES_OK, "");
    printf("   %s: default %d steps, guidance %g\n", info.pipeline_class, info.default_steps, (double)info.default_guidance);
    CHECK(strcmp(info.pipeline_class, "FluxPipeline") == 0, "it is a FluxPipeline");
    CHECK(info.default_steps == 4 && info.default_guidance == 0.0f, "its defaults are the model card's: 4 steps, guidance 0");

    small_options(&o);
    o.steps = 0;    /* the pipeline's default */
    o.guidance = 0; /* the pipeline's default */
    accelaes_generate_result_init(&result);
    expect("accelaes_generate(schnell, default steps)", accelaes_generate(model, &o, rgb, sizeof rgb, &result), ACCELAES_OK, "");
    printf("   %d steps, schedule %s, warnings: %s\n", result.steps, result.schedule ? result.schedule : "(null)", result.warnings);
    CHECK(result.steps == 4 && result.guidance == 0.0f, "a default generation runs 4 steps with guidance 0");
    CHECK(result.schedule != NULL && strcmp(result.schedule, "FFFF") == 0, "its schedule is four full steps");
    CHECK(strstr(result.warnings, "FLUX.1-schnell") != NULL && result.warning_count >= 1, "the warnings say the model card's defaults were used");

    expect("accelaes_engine_free", accelaes_engine_free(engine), ACCELAES_OK, "");
}

/* ---- single file ------------------------------------------------------------------------------------ */

/* FILE: an SD3 single file written from FOLDER's pipeline (Stability AI layout); loaded with FOLDER as its components,
 * it generates FOLDER's image byte for byte. Without components, the missing pieces are named; a missing file is NOT_FOUND. */
static void test_single_file(const char* file, const char* folder, const char* missing) {
    accelaes_engine* engine = new_engine();
    accelaes_model* from_file = NULL;
    accelaes_model* from_folder = NULL;
    accelaes_model_info info;
    accelaes_generate_options o;
    accelaes_generate_result result;
    static uint8_t rgb_file[IMAGE_BYTES], rgb_folder[IMAGE_BYTES];

    expect("accelaes_model_load_file(no components)", accelaes_model_load_file(engine, file, NULL, NULL, NULL, &from_file),
           ACCELAES_ERR_INVALID_MODEL, "tokenizer");
    CHECK(from_file == NULL, "a failed load leaves the out pointer NULL");
    expect("accelaes_model_load_file(missing file)", accelaes_model_load_file(engine, missing, folder, NULL, NULL, &from_file),
           ACCELAES_ERR_NOT_FOUND, missing);
    expect("accelaes_model_load_file(a folder)", accelaes_model_load_file(engine, folder, folder, NULL, NULL, &from_file),
           ACCELAES_ERR_INVALID_ARGUMENT, "accelaes_model_load");
    expect("accelaes_model_load_file(file, components)", accelaes_model_load_file(engine, file, folder, "", "bf16", &from_file), ACCELAES_OK, "");
    accelaes_model_info_init(&info);
    expect("accelaes_model_info_get(file)", accelaes_model_info_get(from_file, &info), ACCELAES_OK, "");
    CHECK(strcmp(info.pipeline_class, "StableDiffusion3Pipeline") == 0, "the file is an SD3 pipeline");
    CHECK(strstr(info.folder, ".safetensors") != NULL, "the model's folder is the file");
    expect("accelaes_model_load(folder)", accelaes_model_load(engine, folder, NULL, &from_folder), ACCELAES_OK, "");

    small_options(&o);
    accelaes_generate_result_init(&result);
    expect("accelaes_generate(file)", accelaes_generate(from_file, &o, rgb_file, sizeof rgb_file, &result), ACCELAES_OK, "");
    accelaes_generate_result_init(&result);
    expect("accelaes_generate(folder)", accelaes_generate(from_folder, &o, rgb_folder, sizeof rgb_folder, &result), ACCELAES_OK, "");
    CHECK(memcmp(rgb_file, rgb_folder, IMAGE_BYTES) == 0, "the file with its components gives the folder's image byte for byte");

    expect("accelaes_engine_free", accelaes_engine_free(engine), ACCELAES_OK, "");
}

/* ---- fp8 weights ------------------------------------------------------------------------------------ */

/* The weights option of accelaes_model_load_ex / accelaes_model_load_file: "fp8" quantises the transformer's Linear weights
 * at load, so the image moves off the stored weights' image; NULL and "bf16" are the stored weights (accelaes_model_load's
 * image byte for byte); anything else is named. FILE / FOLDER as for single-file. */
static void test_fp8(const char* file, const char* folder) {
    accelaes_engine* engine = new_engine();
    accelaes_model *stored = NULL, *same = NULL, *fp8 = NULL, *file_fp8 = NULL, *bad = NULL;
    accelaes_generate_options o;
    accelaes_generate_result result;
    static uint8_t rgb_stored[IMAGE_BYTES], rgb_same[IMAGE_BYTES], rgb_fp8[IMAGE_BYTES], rgb_file_fp8[IMAGE_BYTES];

    expect("accelaes_model_load(folder)", accelaes_model_load(engine, folder, NULL, &stored), ACCELAES_OK, "");
    expect("accelaes_model_load_ex(folder, \"bf16\")", accelaes_model_load_ex(engine, folder, NULL, "bf16", &same), ACCELAES_OK, "");
    expect("accelaes_model_load_ex(folder, \"fp8\")", accelaes_model_load_ex(engine, folder, NULL, "fp8", &fp8), ACCELAES_OK, "");
    expect("accelaes_model_load_file(file, components, \"fp8\")", accelaes_model_load_file(engine, file, folder, NULL, "fp8", &file_fp8),
           ACCELAES_OK, "");
    expect("accelaes_model_load_ex(weights \"fp4\")", accelaes_model_load_ex(engine, folder, NULL, "fp4", &bad),
           ACCELAES_ERR_INVALID_ARGUMENT, "weights is 'fp4'");
    CHECK(bad == NULL, "a refused weights option leaves the out pointer NULL");
    expect("accelaes_model_load_file(weights \"int8\")", accelaes_model_load_file(engine, file, folder, NULL, "int8", &bad),
           ACCELAES_ERR_INVALID_ARGUMENT, "weights is 'int8'");

    small_options(&o);
    accelaes_generate_result_init(&result);
    expect("accelaes_generate(stored)", accelaes_generate(stored, &o, rgb_stored, sizeof rgb_stored, &result), ACCELAES_OK, "");
    accelaes_generate_result_init(&result);
    expect("accelaes_generate(bf16)", accelaes_generate(same, &o, rgb_same, sizeof rgb_same, &result), ACCELAES_OK, "");
    accelaes_generate_result_init(&result);
    expect("accelaes_generate(fp8)", accelaes_generate(fp8, &o, rgb_fp8, sizeof rgb_fp8, &result), ACCELAES_OK, "");
    accelaes_generate_result_init(&result);
    expect("accelaes_generate(file, fp8)", accelaes_generate(file_fp8, &o, rgb_file_fp8, sizeof rgb_file_fp8, &result), ACCELAES_OK, "");
    CHECK(memcmp(rgb_stored, rgb_same, IMAGE_BYTES) == 0, "\"bf16\" loads the checkpoint as stored: accelaes_model_load's image");
    CHECK(memcmp(rgb_stored, rgb_fp8, IMAGE_BYTES) != 0, "\"fp8\" quantises the transformer: the image changes");
    CHECK(memcmp(rgb_fp8, rgb_file_fp8, IMAGE_BYTES) == 0, "the file with \"fp8\" gives the folder's fp8 image byte for byte");

    expect("accelaes_engine_free", accelaes_engine_free(engine), ACCELAES_OK, "");
}

/* ---- mask ------------------------------------------------------------------------------------------- */

static int count_char(const char* text, char c) {
    int n = 0;
    for (; *text; text++) n += *text == c;
    return n;
}

static void test_mask(void) {
    accelaes_engine* engine = new_engine();
    accelaes_model* model = builtin_model(engine);
    accelaes_generate_options o;
    accelaes_generate_result result;
    static uint8_t rgb[64 * 64 * 3];
    const char* sparse_knobs[] = { "sparse=on" };
    const char* sentinel_text = "untouched";
    float soft[64];
    uint8_t binary[64];
    int32_t h = -1, w = -1, i, n, ones = 0, consistent = 1, in_range = 1, untouched_soft = 1;
    char line[256];

    expect("accelaes_mask_get(before any generation)", accelaes_mask_get(model, NULL, 0, NULL, 0, &h, &w), ACCELAES_OK, "");
    CHECK(h == 0 && w == 0, "no generation yet: the mask is 0 x 0");

    /* Dense: every step 'F', and no mask. */
    small_options(&o);
    accelaes_generate_result_init(&result);
    expect("accelaes_generate(dense, 3 steps)", accelaes_generate(model, &o, rgb, sizeof rgb, &result), ACCELAES_OK, "");
    CHECK(result.schedule != NULL && strcmp(result.schedule, "FFF") == 0, "a dense run's schedule is \"FFF\"");
    expect("accelaes_mask_get(after a dense run)", accelaes_mask_get(model, NULL, 0, NULL, 0, &h, &w), ACCELAES_OK, "");
    CHECK(h == 0 && w == 0, "a dense run built no mask: 0 x 0");

    /* A host built against 0.1.0's header passes the smaller struct: accepted, and nothing past it is written. */
    accelaes_generate_result_init(&result);
    result.size = (uint32_t)offsetof(accelaes_generate_result, schedule);
    result.schedule = sentinel_text;
    expect("accelaes_generate(result.size of 0.1.0)", accelaes_generate(model, &o, rgb, sizeof rgb, &result), ACCELAES_OK, "");
    CHECK(result.steps == 3 && result.warnings != NULL, "the 0.1.0 fields are written");
    CHECK(result.schedule == sentinel_text, "the field appended in 0.2.0 is not written for a 0.1.0-sized struct");
    CHECK(result.size == (uint32_t)offsetof(accelaes_generate_result, schedule), "the size field is kept");

    /* AesMask + SkipSparse + StepCache at 12 steps on a 4 x 4 token grid. */
    small_options(&o);
    o.steps = 12;
    o.width = 64;
    o.height = 64;
    o.accel_preset = "accelaes";
    o.accel_overrides = sparse_knobs;
    o.accel_override_count = 1;
    accelaes_generate_result_init(&result);
    expect("accelaes_generate(accelaes + sparse=on, 12 steps, 64x64)", accelaes_generate(model, &o, rgb, sizeof rgb, &result), ACCELAES_OK, "");
    printf("   schedule %s: computed %d, skipped %d, sparse %d; mask %d of %d tokens\n", result.schedule ? result.schedule : "(null)",
           result.steps_computed, result.steps_skipped, result.steps_sparse, result.mask_focus_tokens, result.mask_tokens);
    CHECK(result.schedule != NULL && (int)strlen(result.schedule) == result.steps, "one schedule letter per step");
    if (result.schedule != NULL) {
        CHECK(count_char(result.schedule, 'M') == 1, "one step captured the mask ('M')");
        CHECK(count_char(result.schedule, 'X') == result.steps_skipped, "'X' letters are the skipped steps");
        CHECK(count_char(result.schedule, 'S') == result.steps_sparse, "'S' letters are the sparse steps");
        CHECK(result.steps - count_char(result.schedule, 'X') == result.steps_computed, "the other letters are the computed steps");
        CHECK((int)strspn(result.schedule, "FMCSX") == result.steps, "only the documented letters appear");
    }

    h = w = -1;
    expect("accelaes_mask_get(NULL buffers: the size)", accelaes_mask_get(model, NULL, 0, NULL, 0, &h, &w), ACCELAES_OK, "");
    CHECK(h == 4 && w == 4, "the mask is the 4 x 4 token grid of a 64 x 64 image");
    CHECK(h * w == result.mask_tokens, "its size is result.mask_tokens");
    n = h * w;

    for (i = 0; i < 64; i++) { soft[i] = -7.0f; binary[i] = SENTINEL; }
    h = w = -1;
    snprintf(line, sizeof line, "needs %d", n);
    expect("accelaes_mask_get(soft one float short)", accelaes_mask_get(model, soft, (size_t)n - 1, binary, 64, &h, &w), ACCELAES_ERR_BUFFER_TOO_SMALL, line);
    expect("accelaes_mask_get(binary one byte short)", accelaes_mask_get(model, soft, 64, binary, (size_t)n - 1, &h, &w), ACCELAES_ERR_BUFFER_TOO_SMALL, line);
    for (i = 0; i < 64; i++) untouched_soft &= soft[i] == -7.0f;
    CHECK(untouched_soft && untouched(binary, 64) && h == -1 && w == -1, "a failing call writes no buffer and no size");
    expect("accelaes_mask_get(height NULL)", accelaes_mask_get(model, soft, 64, binary, 64, NULL, &w), ACCELAES_ERR_INVALID_ARGUMENT, "NULL");
    expect("accelaes_mask_get(an engine as the model)", accelaes_mask_get((accelaes_model*)engine, NULL, 0, NULL, 0, &h, &w), ACCELAES_ERR_INVALID_HANDLE, "");

    expect("accelaes_mask_get(exact buffers)", accelaes_mask_get(model, soft, (size_t)n, binary, (size_t)n, &h, &w), ACCELAES_OK, "");
    for (i = 0; i < n; i++) {
        in_range &= soft[i] >= 0.0f && soft[i] <= 1.0f;
        consistent &= binary[i] == (soft[i] > 0.5f ? 1 : 0);
        ones += binary[i];
    }
    CHECK(in_range, "soft values are in [0, 1]");
    CHECK(consistent, "binary is 1 exactly where soft > 0.5");
    CHECK(result.mask_focus_tokens == -1 ? ones == n : ones == result.mask_focus_tokens, "binary's ones are the focus tokens the result reports");
    CHECK(soft[n] == -7.0f && binary[n] == SENTINEL, "nothing is written past height * width");
    expect("accelaes_mask_get(binary only)", accelaes_mask_get(model, NULL, 0, binary, (size_t)n, &h, &w), ACCELAES_OK, "");

    /* The next successful generation replaces it: a dense one leaves no mask. */
    small_options(&o);
    expect("accelaes_generate(dense again)", accelaes_generate(model, &o, rgb, sizeof rgb, NULL), ACCELAES_OK, "");
    expect("accelaes_mask_get(after the next dense run)", accelaes_mask_get(model, NULL, 0, NULL, 0, &h, &w), ACCELAES_OK, "");
    CHECK(h == 0 && w == 0, "the next generation replaced the mask");

    expect("accelaes_engine_free", accelaes_engine_free(engine), ACCELAES_OK, "");
    expect("accelaes_mask_get(a freed model)", accelaes_mask_get(model, NULL, 0, NULL, 0, &h, &w), ACCELAES_ERR_INVALID_HANDLE, "");
}

int main(int argc, char** argv) {
    const char* which = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0); /* the log shows every line even if a check crashes */
    if (strcmp(which, "version") == 0) test_version();
    else if (strcmp(which, "bad-folder") == 0 && argc == 4) test_bad_folder(argv[2], argv[3]);
    else if (strcmp(which, "bad-options") == 0) test_bad_options();
    else if (strcmp(which, "cancel") == 0) test_cancel();
    else if (strcmp(which, "handles") == 0) test_handles();
    else if (strcmp(which, "threads") == 0) test_threads();
    else if (strcmp(which, "mask") == 0) test_mask();
    else if (strcmp(which, "schnell") == 0 && argc == 3) test_schnell(argv[2]);
    else if (strcmp(which, "single-file") == 0 && argc == 5) test_single_file(argv[2], argv[3], argv[4]);
    else if (strcmp(which, "fp8") == 0 && argc == 4) test_fp8(argv[2], argv[3]);
    else {
        fprintf(stderr, "usage: abi_test version | bad-folder MISSING NOT_MODEL | bad-options | cancel | handles | threads | mask | schnell FOLDER | single-file FILE FOLDER MISSING | fp8 FILE FOLDER\n");
        return 2;
    }
    printf("%d failure(s)\n", failures);
    return failures > 255 ? 255 : failures;
}
