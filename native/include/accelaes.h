/*
 * accelaes.h — the C ABI of the AccelAes Diffusion Transformer inference engine.
 *
 * The library (libaccelaes.so on Linux, libaccelaes.dylib on macOS, accelaes.dll on Windows) is the engine
 * compiled with .NET NativeAOT: a self-contained native shared library, no .NET runtime needed on the host.
 * Build it with `dotnet publish native/AccelAes.Native -c Release -r linux-x64 -o artifacts/native/linux-x64`
 * (README.md, "Embedding from C").
 *
 * ---------------------------------------------------------------------------------------------------------
 * Conventions (they hold for every function below unless its comment says otherwise)
 *
 *  - Errors. Functions return an accelaes_status: ACCELAES_OK (0) or an error code. After an error,
 *    accelaes_last_error() returns a UTF-8 message that names the cause (the file, the option, the knob, the
 *    value). No exception, signal or longjmp ever crosses the boundary; an unexpected failure inside the engine
 *    is reported as ACCELAES_ERR_INTERNAL with its description.
 *  - Nothing half-done. A failing function leaves its outputs as documented (out handles set to NULL, the
 *    image buffer untouched, out structs untouched) and the handles it was given still valid.
 *  - Strings are UTF-8 and NUL-terminated, in and out. Invalid UTF-8 input is ACCELAES_ERR_INVALID_ARGUMENT.
 *    The library copies every input string it keeps; the caller may free its strings once a call returns.
 *  - Handles (accelaes_engine*, accelaes_model*) are opaque. The library keeps a table of live handles and
 *    validates every handle it is given: a freed, foreign or mistyped handle (a model passed as an engine)
 *    gives ACCELAES_ERR_INVALID_HANDLE instead of undefined behaviour, and freeing twice is an error, not a
 *    crash. Handle values are never reused within a process.
 *  - Option structs start with `uint32_t size`, which the caller sets to sizeof(the struct) as its header
 *    declares it (use the *_init helpers). Fields may be appended in later library versions (the ABI version
 *    stays): the library reads the fields it knows, accepts a larger struct whose extra bytes are all zero, and
 *    rejects one whose unknown fields are set (ACCELAES_ERR_UNSUPPORTED: the host was built against a newer
 *    header than the library). Output structs work the other way round: the library writes only the fields
 *    that fit the size the caller set, so a host built against an older header gets the fields it knows.
 *    A zero field means "the default" unless its comment says otherwise.
 *  - Threading. Every function may be called from any thread. Engines are independent: generations on
 *    different engines run in parallel. One engine runs one operation at a time (a model load or a
 *    generation): a second one on the same engine, from another thread or from inside a progress callback,
 *    returns ACCELAES_ERR_BUSY at once — the library never blocks waiting for another call. Create one
 *    engine per thread that should generate concurrently.
 *  - The error message is thread-local: accelaes_last_error() reports the last call made on the calling
 *    thread, and its pointer stays valid until the next accelaes_* call on that thread (accelaes_last_error,
 *    accelaes_status_name, accelaes_version and accelaes_abi_version excepted).
 *  - The calling convention is the platform's C convention (cdecl).
 *
 * Environment: ACCELAES_CACHE_DIR (default $XDG_CACHE_HOME/accelaes or ~/.cache/accelaes) is where the
 * built-in tiny model is written on first use; ACCELAES_CUDA_LIB_DIR is a folder the CUDA libraries are
 * loaded from first. They are read when the library needs them (ACCELAES_CACHE_DIR at each load of the built-in
 * model); set them before the first accelaes_* call.
 * ---------------------------------------------------------------------------------------------------------
 */
#ifndef ACCELAES_H
#define ACCELAES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define ACCELAES_CALL __cdecl
#  if defined(ACCELAES_STATIC)
#    define ACCELAES_API
#  else
#    define ACCELAES_API __declspec(dllimport)
#  endif
#else
#  define ACCELAES_CALL
#  define ACCELAES_API __attribute__((visibility("default")))
#endif

/* The ABI this header describes. Bumped on any incompatible change; compatible additions (new functions,
 * fields appended to option structs) keep it. Compare with accelaes_abi_version() at start-up.
 * Compatible additions so far, with the library version that has them (accelaes_version()):
 *   0.2.0  accelaes_generate_result.schedule (appended), accelaes_mask_get.
 *   (next) accelaes_model_load_file, accelaes_model_load_ex (the weights option). */
#define ACCELAES_ABI_VERSION 1

/* ---- Status codes ------------------------------------------------------------------------------------ */

typedef int32_t accelaes_status;
enum {
    ACCELAES_OK = 0,
    ACCELAES_ERR_INVALID_ARGUMENT = 1, /* a NULL where a value is needed, a bad option, knob, size or string */
    ACCELAES_ERR_NOT_FOUND = 2,        /* a model folder (or a file it needs) does not exist */
    ACCELAES_ERR_INVALID_MODEL = 3,    /* the folder exists but is not a usable model: bad or missing files, unsupported config */
    ACCELAES_ERR_UNSUPPORTED = 4,      /* valid but not available here: a backend not in this build, a newer struct */
    ACCELAES_ERR_CANCELLED = 5,        /* the progress callback asked to stop */
    ACCELAES_ERR_OUT_OF_MEMORY = 6,    /* host or GPU memory ran out; the message says how much was asked for */
    ACCELAES_ERR_NO_GPU = 7,           /* the CUDA backend was asked for and no usable GPU / driver was found */
    ACCELAES_ERR_BUFFER_TOO_SMALL = 8, /* a caller's buffer is too small (the image: width * height * 3 bytes; a mask) */
    ACCELAES_ERR_INVALID_HANDLE = 9,   /* a freed, unknown or wrongly typed handle */
    ACCELAES_ERR_BUSY = 10,            /* the engine is running another operation (see Threading) */
    ACCELAES_ERR_IO = 11,              /* a file could not be read or written (permissions, disk full) */
    ACCELAES_ERR_INTERNAL = 99         /* a bug in the engine; the message has the details, please report it */
};

/* ---- Handles ----------------------------------------------------------------------------------------- */

/* An engine: one compute backend (CPU, or one CUDA device) and the models loaded on it. */
typedef struct accelaes_engine accelaes_engine;
/* A loaded text-to-image pipeline (tokenizers, text encoders, transformer, VAE), owned by its engine. */
typedef struct accelaes_model accelaes_model;

/* ---- Library ----------------------------------------------------------------------------------------- */

/* ACCELAES_ABI_VERSION of the loaded library. A host built against this header should refuse to run when
 * it differs. Never fails; any thread. */
ACCELAES_API uint32_t ACCELAES_CALL accelaes_abi_version(void);

/* The library's version, e.g. "0.2.0". Static string owned by the library (never free it). Never fails. */
ACCELAES_API const char* ACCELAES_CALL accelaes_version(void);

/* The symbolic name of a status ("ACCELAES_ERR_NOT_FOUND"; "ACCELAES_UNKNOWN_STATUS" for other values).
 * Static string owned by the library. Never fails. */
ACCELAES_API const char* ACCELAES_CALL accelaes_status_name(accelaes_status status);

/* The message of the last failed accelaes_* call on the calling thread, "" when that call succeeded.
 * UTF-8, owned by the library, valid until the next accelaes_* call on this thread (see Conventions).
 * Never returns NULL. Copy it if you need it longer. */
ACCELAES_API const char* ACCELAES_CALL accelaes_last_error(void);

/* ---- Engine ------------------------------------------------------------------------------------------ */

typedef struct accelaes_engine_options {
    uint32_t size;       /* sizeof(accelaes_engine_options) */
    int32_t device;      /* CUDA device ordinal (cuda backend); >= 0; ignored by the CPU backend */
    const char* backend; /* "cpu" (default when NULL or "") or "cuda" */
} accelaes_engine_options;

/* Zero-fills *options and sets its size: the defaults (CPU backend). */
static inline void accelaes_engine_options_init(accelaes_engine_options* options) {
    accelaes_engine_options zero = {0};
    *options = zero;
    options->size = (uint32_t)sizeof(accelaes_engine_options);
}

/* Creates an engine.
 * options: NULL for the defaults. out: receives the engine; set to NULL on failure.
 * Errors: INVALID_ARGUMENT (out NULL, bad size field, unknown backend name, negative device),
 *         UNSUPPORTED (a backend this build does not provide), NO_GPU (cuda without a usable GPU),
 *         OUT_OF_MEMORY.
 * Ownership: the caller owns the engine and frees it with accelaes_engine_free. */
ACCELAES_API accelaes_status ACCELAES_CALL accelaes_engine_create(const accelaes_engine_options* options,
                                                                  accelaes_engine** out);

/* Frees an engine, the models still loaded on it (their handles become invalid) and its backend's memory.
 * NULL: does nothing, returns OK.
 * Errors: INVALID_HANDLE (already freed, or not an engine), BUSY (an operation is running on it: the engine
 *         is left as it was; free it after that operation returns). */
ACCELAES_API accelaes_status ACCELAES_CALL accelaes_engine_free(accelaes_engine* engine);

/* ---- Models ------------------------------------------------------------------------------------------ */

/* Loads a diffusers pipeline folder (model_index.json and its component folders: SD3 / SD3.5, FLUX.1,
 * Lumina-Next) onto the engine's backend.
 * folder: UTF-8 path, or NULL for the built-in tiny random-weight SD3 model (written to ACCELAES_CACHE_DIR
 *         on first use; every stage of a real run executes, but the picture is noise).
 * variant: weight file variant ("bf16", "fp16" → diffusion_pytorch_model.<variant>.safetensors) or NULL.
 * out: receives the model; set to NULL on failure.
 * Memory: before any weight loads, the memory plan of a generation at the model's default size and settings,
 *         against the GPU's free memory, picks the residency: every component resident, or (when they do not fit
 *         together) the text encoders on the device only while encoding — each generation then loads them, frees
 *         them, and loads the transformer and VAE, which stay until the next generation's encoders need the room —
 *         or (when the transformer alone does not fit) the same with the transformer's blocks in pinned host memory,
 *         streamed through two device slots during each forward ("sequential").
 *         On the CPU backend everything stays resident (no device to fit).
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (out NULL, bad UTF-8), NOT_FOUND (the folder does not exist; the
 *         message names it), INVALID_MODEL (not a pipeline folder, a missing component or tensor, a config
 *         the engine does not support; the message names the file, tensor or field), IO, OUT_OF_MEMORY (also: the
 *         plan fits under no policy; the message gives its peaks and the change that would fit), BUSY.
 * Ownership: the model belongs to the engine; free it with accelaes_model_free, or it is freed with the
 * engine. Loading can take long for real checkpoints; it runs on the calling thread. */
ACCELAES_API accelaes_status ACCELAES_CALL accelaes_model_load(accelaes_engine* engine, const char* folder,
                                                               const char* variant, accelaes_model** out);

/* accelaes_model_load with the weights option, as the CLI's --weights:
 * weights: NULL, "" or "bf16": the checkpoint as stored (what accelaes_model_load does); "fp8": the transformer's Linear
 *         weights quantised to fp8 e4m3 as they load (one scale per output channel; biases, norms, embeddings and the
 *         other components as stored). The memory plan counts them at 1 byte per element. On the CPU backend generation
 *         computes with the exactly dequantised values.
 * Errors: as accelaes_model_load; INVALID_ARGUMENT also for any other weights string (the message names it). */
ACCELAES_API accelaes_status ACCELAES_CALL accelaes_model_load_ex(accelaes_engine* engine, const char* folder,
                                                                  const char* variant, const char* weights,
                                                                  accelaes_model** out);

/* Loads a single-file checkpoint as people download it: SD3 / SD3.5 in Stability AI's layout (sd3.5_large.safetensors;
 * its bundled VAE and text encoders are used when present) or FLUX.1 in Black Forest Labs' layout (with or without
 * ComfyUI's prefix, fp8, scaled fp8), mapped to diffusers' names as views over the mapped file.
 * file: UTF-8 path of the .safetensors file.
 * components: UTF-8 path of a diffusers pipeline folder of the same model (model_index.json) that gives what the file
 *         lacks: tokenizers, scheduler, and the text encoders and VAE the file does not carry (those it carries need
 *         no weights there; their config.json there, if present, is the config they are built with) — or a folder of
 *         single files (clip_l.safetensors, clip_g.safetensors, t5xxl_*.safetensors, ae.safetensors) with the
 *         tokenizer folders and scheduler/ of the diffusers repo, as the CLI's --components. Required in practice: no
 *         single file carries tokenizers.
 * config: UTF-8 path of a folder whose config.json is the transformer's config, or NULL / "" (then components'
 *         transformer/config.json, else inferred from the tensor shapes). Any given config is checked against the tensors.
 * weights: NULL, "" or "bf16" (as stored) or "fp8" (the transformer's Linear weights quantised at load), as for
 *         accelaes_model_load_ex.
 * out: receives the model; set to NULL on failure. Memory: as accelaes_model_load, with weights counted from the
 *         file's header.
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (out NULL, file NULL / "" / a folder, bad UTF-8, an unknown weights), NOT_FOUND (the file does
 *         not exist), INVALID_MODEL (unrecognised layout, a missing or misshapen tensor, components missing or of
 *         another model, a config that disagrees with the tensors; the message names the tensor, component or field),
 *         IO, OUT_OF_MEMORY, BUSY. accelaes_model_info_get reports the file as the model's folder. */
ACCELAES_API accelaes_status ACCELAES_CALL accelaes_model_load_file(accelaes_engine* engine, const char* file,
                                                                    const char* components, const char* config,
                                                                    const char* weights, accelaes_model** out);

/* Frees a model. NULL: does nothing, returns OK.
 * Errors: INVALID_HANDLE (already freed, freed with its engine, or not a model), BUSY (its engine is
 *         running an operation; the model is left as it was). */
ACCELAES_API accelaes_status ACCELAES_CALL accelaes_model_free(accelaes_model* model);

typedef struct accelaes_model_info {
    uint32_t size;              /* caller sets sizeof(accelaes_model_info) */
    int32_t default_steps;      /* the pipeline's default denoising steps (28 SD3 / FLUX.1-dev, 30 Lumina-Next; 4 for a
                                   FLUX.1-schnell folder: no guidance embedder and an unshifted scheduler) */
    float default_guidance;     /* the pipeline's default guidance scale (0 for FLUX.1-schnell, which takes none) */
    int32_t default_width;      /* default image size in pixels */
    int32_t default_height;
    int32_t size_multiple;      /* width and height must be positive multiples of this */
    const char* pipeline_class; /* "StableDiffusion3Pipeline", "FluxPipeline", "LuminaPipeline", ... */
    const char* folder;         /* the absolute folder the model was loaded from */
    double load_seconds;        /* time accelaes_model_load spent */
} accelaes_model_info;

static inline void accelaes_model_info_init(accelaes_model_info* info) {
    accelaes_model_info zero = {0};
    *info = zero;
    info->size = (uint32_t)sizeof(accelaes_model_info);
}

/* Fills *info (caller sets info->size first). The strings are owned by the model and valid until it is
 * freed. Errors: INVALID_HANDLE, INVALID_ARGUMENT (info NULL or a bad size field). */
ACCELAES_API accelaes_status ACCELAES_CALL accelaes_model_info_get(const accelaes_model* model,
                                                                   accelaes_model_info* info);

/* ---- Generation -------------------------------------------------------------------------------------- */

/* Phases reported to the progress callback, in this order. */
enum {
    ACCELAES_PHASE_ENCODE = 0,  /* text encoders: reported as (0, 1) then (1, 1) */
    ACCELAES_PHASE_DENOISE = 1, /* the sampling loop: (step, total) after each step, step = 1 .. total */
    ACCELAES_PHASE_DECODE = 2   /* the VAE decode: (1, 1) when the image is decoded */
};

/* Called on the thread that called accelaes_generate, synchronously, between units of work.
 * Return 0 to go on, non-zero to cancel: accelaes_generate then stops at the next check (after the current
 * step) and returns ACCELAES_ERR_CANCELLED without writing the image. The callback must return normally
 * (no longjmp, no C++ exception through the library); calling accelaes_generate, accelaes_model_load or a
 * free function of the same engine from inside it returns ACCELAES_ERR_BUSY. */
typedef int32_t (ACCELAES_CALL *accelaes_progress_fn)(int32_t phase, int32_t step, int32_t total, void* user_data);

enum {
    ACCELAES_GUIDANCE_BATCHED = 0, /* one forward over [uncond, cond] (what the diffusers pipelines do) */
    ACCELAES_GUIDANCE_TWO_PASS = 1 /* two forwards per step: half the activation memory */
};

typedef struct accelaes_generate_options {
    uint32_t size;               /* sizeof(accelaes_generate_options) */
    int32_t steps;               /* denoising steps; 0 = the pipeline's default; negative is an error */
    const char* prompt;          /* required, UTF-8 ("" is a valid prompt; NULL is an error) */
    const char* negative_prompt; /* NULL = "" (the pipelines' default) */
    uint64_t seed;               /* seed of the initial noise: same seed, same image, on every backend */
    float guidance;              /* guidance scale; 0 = the pipeline's default (7 SD3, 4 Lumina, 3.5 FLUX.1-dev);
                                    <= 1 turns SD3 / Lumina CFG off; negative, NaN or infinite is an error */
    float true_cfg_scale;        /* FLUX only: real CFG against the negative prompt when > 1; 0 = off */
    int32_t width;               /* pixels; 0 = the model's default; must be a multiple of size_multiple */
    int32_t height;
    int32_t guidance_mode;       /* ACCELAES_GUIDANCE_BATCHED (0) or ACCELAES_GUIDANCE_TWO_PASS */
    int32_t accel_override_count;/* number of entries in accel_overrides */
    const char* accel_preset;    /* AccelAes preset: "none" (default when NULL), "stepcache", "accelaes", "teacache", "fbcache", "fora", "taylorseer", "delta-dit", "ras" */
    const char* const* accel_overrides; /* "knob=value" strings, as the CLI's --set (see accelaes_knob) */
    const char* aesmask_clip;    /* Lumina-Next + AesMask: a CLIP ViT-L/14 text encoder folder, or NULL */
    accelaes_progress_fn progress; /* NULL = no progress reports, no cancellation */
    void* user_data;             /* passed to progress unchanged */
} accelaes_generate_options;

/* Zero-fills *options and sets its size: pipeline defaults, seed 0, dense sampling. Set prompt. */
static inline void accelaes_generate_options_init(accelaes_generate_options* options) {
    accelaes_generate_options zero = {0};
    *options = zero;
    options->size = (uint32_t)sizeof(accelaes_generate_options);
}

/* Statistics of one generation. */
typedef struct accelaes_generate_result {
    uint32_t size;           /* caller sets sizeof(accelaes_generate_result) */
    int32_t width;           /* the image written: width * height * 3 bytes */
    int32_t height;
    int32_t steps;           /* denoising steps of the schedule */
    int32_t steps_computed;  /* steps that ran the transformer (= steps when dense) */
    int32_t steps_skipped;   /* steps StepCache extrapolated instead */
    int32_t steps_sparse;    /* computed steps that ran SkipSparse (focus tokens only) */
    float guidance;          /* the guidance scale used */
    double encode_seconds;   /* text encoders */
    double denoise_seconds;  /* the sampling loop */
    double decode_seconds;   /* the VAE decode */
    double other_seconds;    /* everything else timed by the pipeline (AesMask word scoring) */
    double total_seconds;    /* wall time of the whole call */
    int32_t warning_count;   /* number of lines in warnings */
    int32_t mask_focus_tokens; /* AesMask: focus tokens of the mask; -1 when no mask was built or it fell back */
    int32_t mask_tokens;     /* AesMask: image tokens the mask covers; -1 when no mask was built */
    int32_t reserved0;       /* 0 */
    const char* warnings;    /* "" or '\n'-separated messages (prompt truncated, mask fell back, ...);
                                owned by the model, valid until its next generation or until it is freed */
    /* ---- appended in 0.2.0 (same ABI): a library older than that leaves it as the caller set it (NULL after
     *      accelaes_generate_result_init); a host built against 0.1.0's header passes the smaller size and the
     *      library writes only the fields that header has ---- */
    const char* schedule;    /* the schedule that ran, one letter per step (steps letters):
                                'F' full forward, 'M' full forward that captured the AesMask, 'C' full forward that
                                filled the SkipSparse caches, 'S' sparse forward (focus tokens only), 'X' skipped
                                (StepCache extrapolated the velocity). Dense runs are all 'F'. After a mask fallback
                                this is the executed (dense) schedule, not the one accelaes explain predicts.
                                Owned by the model, valid until its next generation or until it is freed */
} accelaes_generate_result;

static inline void accelaes_generate_result_init(accelaes_generate_result* result) {
    accelaes_generate_result zero = {0};
    *result = zero;
    result->size = (uint32_t)sizeof(accelaes_generate_result);
}

/* The image size accelaes_generate would produce for these options, so the caller can size its buffer
 * (width * height * 3 bytes). Validates the options exactly as accelaes_generate does (size field, prompt,
 * steps, guidance, preset, knobs, image size) without generating: a host can check user input with it.
 * width, height: receive the size; untouched on failure.
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (the message names the field or knob), UNSUPPORTED, BUSY is never
 *         returned (this reads only). */
ACCELAES_API accelaes_status ACCELAES_CALL accelaes_image_size(const accelaes_model* model,
                                                               const accelaes_generate_options* options,
                                                               int32_t* width, int32_t* height);

/* Generates one image: prompt → text encoders → denoising loop (with the requested AccelAes acceleration)
 * → VAE decode, on the calling thread, reporting progress through options->progress.
 * rgb: the caller's buffer for the image, 8-bit RGB, rows top to bottom, 3 bytes per pixel, no padding;
 *      written only when the call succeeds (on any error it is left untouched).
 * rgb_capacity: its size in bytes; at least width * height * 3 (see accelaes_image_size).
 * result: NULL, or statistics of the run (caller sets result->size); written only on success.
 * Errors: INVALID_HANDLE; INVALID_ARGUMENT (bad options: the message names the field, preset or knob;
 *         rgb NULL); BUFFER_TOO_SMALL (checked before any work; the message gives the bytes needed);
 *         CANCELLED (the callback returned non-zero); BUSY (the engine is running another operation);
 *         OUT_OF_MEMORY; IO; INTERNAL. After any error the model remains usable.
 * Threading: one operation per engine at a time (see Conventions). */
ACCELAES_API accelaes_status ACCELAES_CALL accelaes_generate(accelaes_model* model,
                                                             const accelaes_generate_options* options,
                                                             uint8_t* rgb, size_t rgb_capacity,
                                                             accelaes_generate_result* result);

/* The AesMask of the model's last successful accelaes_generate, copied into the caller's buffers. The mask lives
 * on the image token grid (height x width tokens, row-major: token y * width + x covers the image's pixels
 * [y * s, (y + 1) * s) x [x * s, (x + 1) * s), s = size_multiple of accelaes_model_info).
 * soft: NULL, or height * width floats in [0, 1]: the blurred mask that drives spatial guidance (all 1 when the
 *       mask fell back: a flat heat map, reported in result.warnings and as mask_focus_tokens == -1).
 * soft_capacity: the number of floats soft holds (not bytes).
 * binary: NULL, or height * width bytes: 1 for a focus token (soft > 0.5; the tokens sparse steps compute), else 0.
 * binary_capacity: the number of bytes binary holds.
 * height, width: receive the grid; 0 x 0 when the last generation built no mask (dense, StepCache only, a preset
 *       that turned AesMask off at a small step count) or the model has not generated yet. Pass NULL buffers
 *       first to learn the size.
 * The mask stays available until the model's next successful generation (as result.warnings does); a failed or
 * cancelled generation keeps the previous one. Any thread; never BUSY (a generation running on the engine
 * replaces the mask only when it succeeds).
 * Errors: INVALID_HANDLE; INVALID_ARGUMENT (height or width NULL); BUFFER_TOO_SMALL (a non-NULL buffer holds
 *         fewer than height * width elements: the message gives the number needed; nothing is written). */
ACCELAES_API accelaes_status ACCELAES_CALL accelaes_mask_get(const accelaes_model* model,
                                                             float* soft, size_t soft_capacity,
                                                             uint8_t* binary, size_t binary_capacity,
                                                             int32_t* height, int32_t* width);

/* ---- Acceleration knobs ------------------------------------------------------------------------------ */

/* The number of acceleration knobs accel_overrides accepts ("skip_ratio", "mask_step", "warmup", ...,
 * the same as the CLI's --set). Never fails. */
ACCELAES_API int32_t ACCELAES_CALL accelaes_knob_count(void);

/* The name and a one-line description of knob `index` (0 .. accelaes_knob_count() - 1). Either output may
 * be NULL. Static strings owned by the library. Errors: INVALID_ARGUMENT (index out of range). */
ACCELAES_API accelaes_status ACCELAES_CALL accelaes_knob(int32_t index, const char** name, const char** description);

#ifdef __cplusplus
}
#endif

#endif /* ACCELAES_H */
