/* Long-double arithmetic for INCRBYFLOAT and HINCRBYFLOAT.
 *
 * Redis does these increments in the platform's `long double` (80-bit extended precision on
 * x86-64) and prints the result with 17 fractional digits, trimming trailing zeros. Rust has no
 * `long double`, so the parse/add/format round trip lives here, where the C compiler gives us the
 * same type and the same libc formatting. Every function works on length-delimited buffers. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FD_MAX_LD_CHARS (5 * 1024)

/* Strictly parse a long double: no surrounding space, nothing after the number, no NaN, no
 * overflow to infinity and no underflow to zero. Returns 1 on success. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[FD_MAX_LD_CHARS];
    char *end;
    long double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != len) return 0;
    if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) return 0;
    if (errno == EINVAL || isnan(v)) return 0;
    *out = v;
    return 1;
}

/* Human-friendly rendering: "%.17Lf" with trailing zeros (and a bare '.') removed, "-0" as "0",
 * infinities as "inf"/"-inf". Returns the length written, 0 if `cap` is too small. */
static size_t format_ld_human(long double v, char *out, size_t cap) {
    int n;
    size_t l;
    if (isinf(v)) {
        const char *txt = v > 0 ? "inf" : "-inf";
        l = strlen(txt);
        if (l + 1 > cap) return 0;
        memcpy(out, txt, l + 1);
        return l;
    }
    n = snprintf(out, cap, "%.17Lf", v);
    if (n < 0 || (size_t)n + 1 > cap) return 0;
    l = (size_t)n;
    if (strchr(out, '.') != NULL) {
        while (l > 0 && out[l - 1] == '0') l--;
        if (l > 0 && out[l - 1] == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        l = 1;
    }
    out[l] = '\0';
    return l;
}

/* base + incr, formatted into out. `base` may be NULL (a missing key counts as 0).
 * Returns the length written, or -1 if an operand is not a valid number, -2 if the result is NaN
 * or infinite, -3 if `out` is too small. */
long ferrodis_ld_add(const char *base, size_t base_len, const char *incr, size_t incr_len,
                     char *out, size_t cap) {
    long double a = 0, b, r;
    size_t l;
    if (base != NULL && !parse_ld(base, base_len, &a)) return -1;
    if (!parse_ld(incr, incr_len, &b)) return -1;
    r = a + b;
    if (isnan(r) || isinf(r)) return -2;
    l = format_ld_human(r, out, cap);
    if (l == 0) return -3;
    return (long)l;
}

/* "%.17g" rendering of a double, as Redis 7.0 uses for RESP double replies and scores. */
size_t ferrodis_fmt_g17(double v, char *out, size_t cap) {
    int n = snprintf(out, cap, "%.17g", v);
    if (n < 0 || (size_t)n + 1 > cap) return 0;
    return (size_t)n;
}
