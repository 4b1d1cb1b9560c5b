/* module_shim.c -- the entry points of the module API that take C variadic arguments.
 *
 * Rust cannot define C-variadic functions on stable, so RedisModule_Call, Replicate, Log and
 * CreateStringPrintf enter here: their arguments are turned into plain arrays
 * (or a formatted message) and handed to the Rust implementation in src/module/. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleString RedisModuleString;
typedef struct RedisModuleCallReply RedisModuleCallReply;

/* Implemented in Rust (src/module/). */
const char *RM_StringPtrLen(const RedisModuleString *s, size_t *len);
RedisModuleString *RM_CreateString(RedisModuleCtx *ctx, const char *ptr, size_t len);
RedisModuleCallReply *ferrodis_module_call(RedisModuleCtx *ctx, const char *cmd, const char *fmt,
                                           const char **argv, const size_t *lens, int argc,
                                           int fmt_ok);
int ferrodis_module_replicate(RedisModuleCtx *ctx, const char *cmd, const char *fmt,
                              const char **argv, const size_t *lens, int argc, int fmt_ok);
void ferrodis_module_log(RedisModuleCtx *ctx, const char *level, const char *msg);

/* Arguments of a call built from a format: byte strings by pointer and length. Numbers
 * ('l') are printed into `owned` buffers that live until the call returns. */
typedef struct {
    const char **argv;
    size_t *lens;
    char **owned;
    int argc, cap, nowned;
} argbuf;

static int argbuf_push(argbuf *a, const char *p, size_t len) {
    if (a->argc == a->cap) {
        int cap = a->cap ? a->cap * 2 : 8;
        const char **nv = realloc(a->argv, sizeof(*nv) * cap);
        if (!nv) return 0;
        a->argv = nv;
        size_t *nl = realloc(a->lens, sizeof(*nl) * cap);
        if (!nl) return 0;
        a->lens = nl;
        a->cap = cap;
    }
    a->argv[a->argc] = p;
    a->lens[a->argc] = len;
    a->argc++;
    return 1;
}

static void argbuf_free(argbuf *a) {
    for (int i = 0; i < a->nowned; i++) free(a->owned[i]);
    free(a->owned);
    free(a->argv);
    free(a->lens);
}

/* Walks the format; returns 0 on an unknown format character (flag characters are left to
 * the Rust side, which reads them from the format itself). */
static int collect_args(argbuf *a, const char *fmt, va_list ap) {
    const char *p;
    for (p = fmt; *p; p++) {
        switch (*p) {
        case 'c': {
            const char *s = va_arg(ap, const char *);
            if (!argbuf_push(a, s, strlen(s))) return 0;
            break;
        }
        case 's': {
            const RedisModuleString *s = va_arg(ap, const RedisModuleString *);
            size_t len;
            const char *ptr = RM_StringPtrLen(s, &len);
            if (!argbuf_push(a, ptr, len)) return 0;
            break;
        }
        case 'b': {
            const char *buf = va_arg(ap, const char *);
            size_t len = va_arg(ap, size_t);
            if (!argbuf_push(a, buf, len)) return 0;
            break;
        }
        case 'l': {
            long long v = va_arg(ap, long long);
            char *buf = malloc(32);
            char **no = realloc(a->owned, sizeof(*no) * (a->nowned + 1));
            if (!buf || !no) { free(buf); if (no) a->owned = no; return 0; }
            a->owned = no;
            a->owned[a->nowned++] = buf;
            int n = snprintf(buf, 32, "%lld", v);
            if (!argbuf_push(a, buf, (size_t)n)) return 0;
            break;
        }
        case 'v': {
            RedisModuleString **v = va_arg(ap, RedisModuleString **);
            size_t vlen = va_arg(ap, size_t);
            for (size_t i = 0; i < vlen; i++) {
                size_t len;
                const char *ptr = RM_StringPtrLen(v[i], &len);
                if (!argbuf_push(a, ptr, len)) return 0;
            }
            break;
        }
        case '!': case 'A': case 'R': case '3': case '0': case 'C': case 'S': case 'W':
        case 'M': case 'E':
            break;
        default:
            return 0;
        }
    }
    return 1;
}

RedisModuleCallReply *ferrodis_shim_Call(RedisModuleCtx *ctx, const char *cmd, const char *fmt, ...) {
    argbuf a = {0};
    va_list ap;
    va_start(ap, fmt);
    int ok = collect_args(&a, fmt, ap);
    va_end(ap);
    RedisModuleCallReply *r = ferrodis_module_call(ctx, cmd, fmt, a.argv, a.lens, a.argc, ok);
    argbuf_free(&a);
    return r;
}

int ferrodis_shim_Replicate(RedisModuleCtx *ctx, const char *cmd, const char *fmt, ...) {
    argbuf a = {0};
    va_list ap;
    va_start(ap, fmt);
    int ok = collect_args(&a, fmt, ap);
    va_end(ap);
    int r = ferrodis_module_replicate(ctx, cmd, fmt, a.argv, a.lens, a.argc, ok);
    argbuf_free(&a);
    return r;
}

/* Formats like vsnprintf into a fresh buffer; NULL when out of memory. */
static char *format_message(const char *fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0) return NULL;
    char *buf = malloc((size_t)n + 1);
    if (buf) vsnprintf(buf, (size_t)n + 1, fmt, ap);
    return buf;
}

void ferrodis_shim_Log(RedisModuleCtx *ctx, const char *level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = format_message(fmt, ap);
    va_end(ap);
    if (msg) ferrodis_module_log(ctx, level, msg);
    free(msg);
}

RedisModuleString *ferrodis_shim_CreateStringPrintf(RedisModuleCtx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    RedisModuleString *s = NULL;
    if (n >= 0) {
        char *buf = malloc((size_t)n + 1);
        if (buf) {
            vsnprintf(buf, (size_t)n + 1, fmt, ap);
            s = RM_CreateString(ctx, buf, (size_t)n);
            free(buf);
        }
    }
    va_end(ap);
    return s;
}
