/* module_shim.c -- the entry points of the module API that take C variadic arguments.
 *
 * Rust cannot define C-variadic functions on stable, so RedisModule_Call, Replicate, Log,
 * CreateStringPrintf, HashSet, HashGet, EmitAOF and LogIOError enter here (and the functions
 * taking or returning `long double`, a type Rust lacks, such as SaveLongDouble and
 * LoadLongDouble): their arguments are turned into plain arrays (or a formatted message) and
 * handed to the Rust implementation in src/module/. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
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
 * ('l') are printed into `owned` buffers that live until the call returns. The first
 * ARGBUF_INLINE arguments live in the struct itself (on the caller's stack), so a usual call
 * allocates nothing here; longer lists move to the heap. Start one with ARGBUF_INIT. */
#define ARGBUF_INLINE 16
typedef struct {
    const char **argv;
    size_t *lens;
    char **owned;
    int argc, cap, nowned;
    const char *inline_argv[ARGBUF_INLINE];
    size_t inline_lens[ARGBUF_INLINE];
} argbuf;

static void argbuf_init(argbuf *a) {
    a->argv = a->inline_argv;
    a->lens = a->inline_lens;
    a->owned = NULL;
    a->argc = a->nowned = 0;
    a->cap = ARGBUF_INLINE;
}

static int argbuf_push(argbuf *a, const char *p, size_t len) {
    if (a->argc == a->cap) {
        int cap = a->cap * 2;
        int was_inline = a->argv == a->inline_argv;
        const char **nv = realloc(was_inline ? NULL : a->argv, sizeof(*nv) * cap);
        if (!nv) return 0;
        if (was_inline) memcpy(nv, a->inline_argv, sizeof(*nv) * a->argc);
        a->argv = nv;
        size_t *nl = realloc(was_inline ? NULL : a->lens, sizeof(*nl) * cap);
        if (!nl) return 0;
        if (was_inline) memcpy(nl, a->inline_lens, sizeof(*nl) * a->argc);
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
    if (a->argv != a->inline_argv) free(a->argv);
    if (a->lens != a->inline_lens) free(a->lens);
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
    argbuf a;
    argbuf_init(&a);
    va_list ap;
    va_start(ap, fmt);
    int ok = collect_args(&a, fmt, ap);
    va_end(ap);
    RedisModuleCallReply *r = ferrodis_module_call(ctx, cmd, fmt, a.argv, a.lens, a.argc, ok);
    argbuf_free(&a);
    return r;
}

int ferrodis_shim_Replicate(RedisModuleCtx *ctx, const char *cmd, const char *fmt, ...) {
    argbuf a;
    argbuf_init(&a);
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

/* RedisModule_HashSet / HashGet: (field, value) pairs until a NULL field. The Rust side
 * validates the key once, then handles one pair at a time. */
typedef struct RedisModuleKey RedisModuleKey;
int ferrodis_hash_begin(RedisModuleKey *key, int flags, int write);
int ferrodis_hash_set_one(RedisModuleKey *key, int flags, const char *field, size_t flen,
                          RedisModuleString *value);
int ferrodis_hash_set_end(RedisModuleKey *key, int count);
void ferrodis_hash_get_one(RedisModuleKey *key, int flags, const char *field, size_t flen,
                           void *out);

#define SHIM_HASH_CFIELDS (1 << 2)

int ferrodis_shim_HashSet(RedisModuleKey *key, int flags, ...) {
    if (!ferrodis_hash_begin(key, flags, 1)) return 0;
    int count = 0;
    va_list ap;
    va_start(ap, flags);
    for (;;) {
        const char *fptr;
        size_t flen;
        if (flags & SHIM_HASH_CFIELDS) {
            fptr = va_arg(ap, const char *);
            if (fptr == NULL) break;
            flen = strlen(fptr);
        } else {
            RedisModuleString *f = va_arg(ap, RedisModuleString *);
            if (f == NULL) break;
            fptr = RM_StringPtrLen(f, &flen);
        }
        RedisModuleString *value = va_arg(ap, RedisModuleString *);
        count += ferrodis_hash_set_one(key, flags, fptr, flen, value);
    }
    va_end(ap);
    return ferrodis_hash_set_end(key, count);
}

int ferrodis_shim_HashGet(RedisModuleKey *key, int flags, ...) {
    if (!ferrodis_hash_begin(key, flags, 0)) return 1; /* REDISMODULE_ERR */
    va_list ap;
    va_start(ap, flags);
    for (;;) {
        const char *fptr;
        size_t flen;
        if (flags & SHIM_HASH_CFIELDS) {
            fptr = va_arg(ap, const char *);
            if (fptr == NULL) break;
            flen = strlen(fptr);
        } else {
            RedisModuleString *f = va_arg(ap, RedisModuleString *);
            if (f == NULL) break;
            fptr = RM_StringPtrLen(f, &flen);
        }
        void *out = va_arg(ap, void *);
        ferrodis_hash_get_one(key, flags, fptr, flen, out);
    }
    va_end(ap);
    return 0; /* REDISMODULE_OK */
}

/* long double crosses the C ABI in x87 registers/stack slots Rust cannot name: these
 * entry points convert at the boundary (decimal text, as Redis prints and parses it). */
int ferrodis_reply_human_long_double(RedisModuleCtx *ctx, const char *buf, size_t len);

/* Redis' ld2string: "human" is %.17Lf without trailing zeros (nor a bare point, nor "-0"),
 * otherwise %.17Lg; infinities print as inf / -inf. */
static int format_long_double(char *buf, size_t size, long double ld, int human) {
    int len;
    if (isinf(ld)) return snprintf(buf, size, ld > 0 ? "inf" : "-inf");
    if (!human) return snprintf(buf, size, "%.17Lg", ld);
    len = snprintf(buf, size, "%.17Lf", ld);
    if (len > 0 && (size_t)len < size && strchr(buf, '.') != NULL) {
        char *p = buf + len - 1;
        while (*p == '0') { p--; len--; }
        if (*p == '.') len--;
    }
    if (len == 2 && buf[0] == '-' && buf[1] == '0') { buf[0] = '0'; len = 1; }
    return len;
}

int ferrodis_shim_ReplyWithLongDouble(RedisModuleCtx *ctx, long double ld) {
    char buf[5 * 1024];
    int len = format_long_double(buf, sizeof(buf), ld, 1);
    if (len < 0 || (size_t)len >= sizeof(buf)) len = 0;
    return ferrodis_reply_human_long_double(ctx, buf, (size_t)len);
}

RedisModuleString *ferrodis_shim_CreateStringFromLongDouble(RedisModuleCtx *ctx, long double ld,
                                                            int humanfriendly) {
    char buf[5 * 1024];
    int len = format_long_double(buf, sizeof(buf), ld, humanfriendly);
    if (len < 0 || (size_t)len >= sizeof(buf)) return NULL;
    return RM_CreateString(ctx, buf, (size_t)len);
}

/* Redis' string2ld: strtold over the whole string; no spaces, no NaN. */
int ferrodis_shim_StringToLongDouble(const RedisModuleString *str, long double *d) {
    size_t len;
    const char *p = RM_StringPtrLen(str, &len);
    char buf[5 * 1024];
    if (len == 0 || len >= sizeof(buf)) return 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    char *eptr;
    errno = 0;
    long double v = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' || (size_t)(eptr - buf) != len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return 1;
    *d = v;
    return 0;
}

/* Module data type IO (src/module/io.rs): long doubles are saved as their "%La" text, as
 * Redis does, since their size differs between platforms; EmitAOF takes a Call-style
 * format; LogIOError a printf format. */
typedef struct RedisModuleIO RedisModuleIO;
void ferrodis_io_save_string_buffer(RedisModuleIO *io, const char *p, size_t len);
char *ferrodis_io_load_string_buffer(RedisModuleIO *io, size_t *len);
void ferrodis_module_emit_aof(RedisModuleIO *io, const char *cmd, const char **argv,
                              const size_t *lens, int argc, int fmt_ok);
void ferrodis_module_log_io(RedisModuleIO *io, const char *level, const char *msg);

void ferrodis_shim_SaveLongDouble(RedisModuleIO *io, long double value) {
    char buf[5 * 1024];
    int len;
    if (isinf(value))
        len = snprintf(buf, sizeof(buf), value > 0 ? "inf" : "-inf");
    else
        len = snprintf(buf, sizeof(buf), "%La", value);
    if (len < 0 || (size_t)len >= sizeof(buf)) len = 0;
    ferrodis_io_save_string_buffer(io, buf, (size_t)len);
}

long double ferrodis_shim_LoadLongDouble(RedisModuleIO *io) {
    size_t len;
    char *s = ferrodis_io_load_string_buffer(io, &len);
    if (!s) return 0;
    long double value = 0;
    char buf[5 * 1024];
    if (len > 0 && len < sizeof(buf)) {
        memcpy(buf, s, len);
        buf[len] = '\0';
        char *eptr;
        errno = 0;
        long double v = strtold(buf, &eptr);
        if (!isspace((unsigned char)buf[0]) && eptr[0] == '\0' && !isnan(v)) value = v;
    }
    free(s);
    return value;
}

void ferrodis_shim_EmitAOF(RedisModuleIO *io, const char *cmd, const char *fmt, ...) {
    argbuf a;
    argbuf_init(&a);
    va_list ap;
    va_start(ap, fmt);
    int ok = collect_args(&a, fmt, ap);
    va_end(ap);
    ferrodis_module_emit_aof(io, cmd, a.argv, a.lens, a.argc, ok);
    argbuf_free(&a);
}

void ferrodis_shim_LogIOError(RedisModuleIO *io, const char *level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = format_message(fmt, ap);
    va_end(ap);
    if (msg) ferrodis_module_log_io(io, level, msg);
    free(msg);
}
