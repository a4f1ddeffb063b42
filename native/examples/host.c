/*
 * host.c — a native program embedding AccelAes through its C ABI (accelaes.h).
 *
 * Generates one image from a prompt, with the built-in tiny model unless --model names a diffusers folder,
 * writes it as a binary PPM (P6: a 3-line header and raw RGB bytes — any image viewer or `convert` reads it,
 * and it needs no PNG library), and prints the time of each phase.
 *
 *   make                    # builds ./host against ../../artifacts/native/linux-x64/libaccelaes.so
 *   ./host --prompt "a lighthouse at dusk" --steps 8 --out lighthouse.ppm
 *
 * Exit codes: 0 success, 1 the engine reported an error (printed with its status), 2 bad command line.
 */
#include "accelaes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OVERRIDES 32

static void usage(FILE* to) {
    fprintf(to,
            "usage: host [--model DIR] [--prompt TEXT] [--negative-prompt TEXT] [--steps N] [--guidance G]\n"
            "            [--seed N] [--width W] [--height H] [--accel none|stepcache|accelaes] [--set knob=value]...\n"
            "            [--backend cpu|cuda] [--device N] [--out FILE.ppm] [--quiet] [--cancel-at STEP]\n"
            "Without --model, the built-in tiny random-weight model is used (written to ACCELAES_CACHE_DIR on first use).\n"
            "--cancel-at STEP cancels from the progress callback after denoising step STEP (no image is written).\n");
}

/* Prints the failed call, its status and the library's message (thread-local, so read it right away). */
static int fail(const char* call, accelaes_status status) {
    fprintf(stderr, "error: %s: %s: %s\n", call, accelaes_status_name(status), accelaes_last_error());
    return 1;
}

typedef struct {
    int quiet;
    int cancel_at; /* denoising step after which to cancel; 0 = never */
} progress_state;

/* Progress on stderr: one line per phase, the denoising steps overwriting each other. Returning non-zero
 * cancels the generation (here: at --cancel-at, to show what a host's "stop" button does). */
static int32_t ACCELAES_CALL on_progress(int32_t phase, int32_t step, int32_t total, void* user_data) {
    static const char* names[] = {"encode", "denoise", "decode"};
    const progress_state* state = (const progress_state*)user_data;
    if (!state->quiet && phase >= 0 && phase <= 2) {
        fprintf(stderr, "\r%-8s %d/%d", names[phase], (int)step, (int)total);
        if (step == total) fputc('\n', stderr);
        fflush(stderr);
    }
    if (phase == ACCELAES_PHASE_DENOISE && step == state->cancel_at) {
        if (!state->quiet) fputc('\n', stderr);
        return 1;
    }
    return 0;
}

/* Writes a P6 PPM under a temporary name and renames it into place, so a failed write leaves no partial file. */
static int write_ppm(const char* path, const uint8_t* rgb, int32_t width, int32_t height) {
    size_t bytes = (size_t)width * (size_t)height * 3;
    size_t tmp_len = strlen(path) + 5;
    char* tmp = (char*)malloc(tmp_len);
    FILE* f;
    int ok;
    if (!tmp) return 0;
    snprintf(tmp, tmp_len, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) {
        perror(tmp);
        free(tmp);
        return 0;
    }
    ok = fprintf(f, "P6\n%d %d\n255\n", (int)width, (int)height) > 0 && fwrite(rgb, 1, bytes, f) == bytes;
    ok = (fclose(f) == 0) && ok;
#ifdef _WIN32
    if (ok) remove(path); /* rename does not replace on Windows */
#endif
    if (!ok || rename(tmp, path) != 0) {
        perror(path);
        remove(tmp);
        free(tmp);
        return 0;
    }
    free(tmp);
    return 1;
}

int main(int argc, char** argv) {
    const char* model_dir = NULL;
    const char* out_path = "image.ppm";
    const char* overrides[MAX_OVERRIDES];
    int override_count = 0, i;
    progress_state progress = {0, 0};
    accelaes_engine_options engine_options;
    accelaes_generate_options options;
    accelaes_generate_result result;
    accelaes_model_info info;
    accelaes_engine* engine = NULL;
    accelaes_model* model = NULL;
    accelaes_status status;
    int32_t width = 0, height = 0;
    uint8_t* rgb = NULL;
    int exit_code = 1;

    accelaes_engine_options_init(&engine_options);
    accelaes_generate_options_init(&options);
    options.prompt = "a lighthouse at dusk, cinematic";

    for (i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return 0; }
        if (strcmp(a, "--quiet") == 0) { progress.quiet = 1; continue; }
        if (!v) { fprintf(stderr, "host: %s needs a value\n", a); usage(stderr); return 2; }
        if (strcmp(a, "--model") == 0) model_dir = v;
        else if (strcmp(a, "--prompt") == 0) options.prompt = v;
        else if (strcmp(a, "--negative-prompt") == 0) options.negative_prompt = v;
        else if (strcmp(a, "--steps") == 0) options.steps = atoi(v);
        else if (strcmp(a, "--guidance") == 0) options.guidance = (float)atof(v);
        else if (strcmp(a, "--seed") == 0) options.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--width") == 0) options.width = atoi(v);
        else if (strcmp(a, "--height") == 0) options.height = atoi(v);
        else if (strcmp(a, "--accel") == 0) options.accel_preset = v;
        else if (strcmp(a, "--set") == 0) {
            if (override_count == MAX_OVERRIDES) { fprintf(stderr, "host: at most %d --set\n", MAX_OVERRIDES); return 2; }
            overrides[override_count++] = v;
        }
        else if (strcmp(a, "--backend") == 0) engine_options.backend = v;
        else if (strcmp(a, "--device") == 0) engine_options.device = atoi(v);
        else if (strcmp(a, "--out") == 0) out_path = v;
        else if (strcmp(a, "--cancel-at") == 0) progress.cancel_at = atoi(v);
        else takes_value = 0;
        if (!takes_value) { fprintf(stderr, "host: unknown option %s\n", a); usage(stderr); return 2; }
        i++;
    }
    options.accel_overrides = overrides;
    options.accel_override_count = override_count;
    options.progress = on_progress;
    options.user_data = &progress;

    if (accelaes_abi_version() != ACCELAES_ABI_VERSION) {
        fprintf(stderr, "error: libaccelaes has ABI %u, this host was built for %d\n", accelaes_abi_version(), ACCELAES_ABI_VERSION);
        return 1;
    }
    printf("AccelAes %s (ABI %u)\n", accelaes_version(), accelaes_abi_version());

    if ((status = accelaes_engine_create(&engine_options, &engine)) != ACCELAES_OK)
        return fail("accelaes_engine_create", status);
    if ((status = accelaes_model_load(engine, model_dir, NULL, &model)) != ACCELAES_OK) {
        exit_code = fail("accelaes_model_load", status);
        goto done;
    }
    accelaes_model_info_init(&info);
    if ((status = accelaes_model_info_get(model, &info)) != ACCELAES_OK) {
        exit_code = fail("accelaes_model_info_get", status);
        goto done;
    }
    printf("model: %s (%s)\n", info.pipeline_class, model_dir ? info.folder : "built-in tiny model, random weights");

    /* Validate the options and learn the image size before allocating the buffer. */
    if ((status = accelaes_image_size(model, &options, &width, &height)) != ACCELAES_OK) {
        exit_code = fail("accelaes_image_size", status);
        goto done;
    }
    rgb = (uint8_t*)malloc((size_t)width * (size_t)height * 3);
    if (!rgb) { fprintf(stderr, "error: out of memory for a %dx%d image\n", (int)width, (int)height); goto done; }

    accelaes_generate_result_init(&result);
    status = accelaes_generate(model, &options, rgb, (size_t)width * (size_t)height * 3, &result);
    if (status != ACCELAES_OK) {
        exit_code = fail("accelaes_generate", status);
        goto done;
    }
    if (result.warning_count > 0) fprintf(stderr, "warning: %s\n", result.warnings);
    if (!write_ppm(out_path, rgb, result.width, result.height)) goto done;

    printf("image: %dx%d, %d steps (%d computed, %d skipped), guidance %g, seed %llu -> %s\n",
           (int)result.width, (int)result.height, (int)result.steps, (int)result.steps_computed,
           (int)result.steps_skipped, (double)result.guidance, (unsigned long long)options.seed, out_path);
    if (result.schedule) printf("schedule: %s\n", result.schedule); /* NULL from a library before 0.2.0 */
    printf("load     %8.3f s\n", info.load_seconds);
    printf("encode   %8.3f s\n", result.encode_seconds);
    printf("denoise  %8.3f s\n", result.denoise_seconds);
    printf("decode   %8.3f s\n", result.decode_seconds);
    if (result.other_seconds > 0) printf("other    %8.3f s\n", result.other_seconds);
    printf("total    %8.3f s\n", result.total_seconds);
    exit_code = 0;

done:
    free(rgb);
    accelaes_model_free(model);  /* NULL-safe; accelaes_engine_free would free it too */
    accelaes_engine_free(engine);
    return exit_code;
}
