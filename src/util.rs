//! Small conversions that must behave exactly like Redis' own: strict integer and double parsing,
//! number formatting, glob matching (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET) and the
//! quote-aware argument splitter used by inline requests and config files.

use std::io::Write;

/// Parses a signed 64-bit integer the way Redis' `string2ll` does: optional leading '-', no '+',
/// no spaces, no leading zeros (except "0" itself), no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    // "-0" is not the canonical form of any number.
    if neg && digits == b"0" {
        return None;
    }
    let v = parse_u64(digits)?;
    if neg {
        (v <= i64::MAX as u64 + 1).then(|| (v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses an unsigned 64-bit integer with the same strictness as [`parse_i64`].
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    if !(b'1'..=b'9').contains(&s[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    Some(v)
}

/// Parses a double like Redis' `string2d`: C `strtod` syntax (so "inf", "-inf", "1e3" and hex
/// floats are accepted), but no leading space, no trailing bytes, no NaN and no overflow.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() >= 5 * 1024 || c_isspace(s[0]) || s.contains(&0) {
        return None;
    }
    let mut buf = Vec::with_capacity(s.len() + 1);
    buf.extend_from_slice(s);
    buf.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; strtod only reads up to the NUL and
    // writes the end pointer into our local. errno is thread-local.
    let (v, consumed, erange) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(buf.as_ptr() as *const libc::c_char, &mut end);
        let consumed = end.offset_from(buf.as_ptr() as *const libc::c_char) as usize;
        (v, consumed, *libc::__errno_location() == libc::ERANGE)
    };
    if consumed != s.len() || v.is_nan() {
        return None;
    }
    if erange && (v.is_infinite() || v == 0.0) {
        return None;
    }
    Some(v)
}

extern "C" {
    fn ferrodis_ld_add(
        base: *const u8,
        base_len: usize,
        incr: *const u8,
        incr_len: usize,
        out: *mut u8,
        cap: usize,
    ) -> libc::c_long;
    fn ferrodis_fmt_g17(v: f64, out: *mut u8, cap: usize) -> usize;
}

/// Why a long-double increment failed.
#[derive(Debug, PartialEq, Eq)]
pub enum LongDoubleError {
    NotANumber,
    NanOrInfinity,
}

/// `base + incr` in C `long double`, rendered as Redis renders INCRBYFLOAT results.
/// `base` of `None` counts as zero.
pub fn long_double_add(base: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, LongDoubleError> {
    let mut out = [0u8; 5 * 1024 + 64];
    let (bp, bl) = match base {
        Some(b) => (b.as_ptr(), b.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: every pointer is valid for the length passed with it; `out` has `out.len()` bytes.
    let n = unsafe {
        ferrodis_ld_add(
            bp,
            bl,
            incr.as_ptr(),
            incr.len(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    match n {
        -2 => Err(LongDoubleError::NanOrInfinity),
        n if n < 0 => Err(LongDoubleError::NotANumber),
        n => Ok(out[..n as usize].to_vec()),
    }
}

/// Appends `v` formatted as C's "%.17g" (Redis 7.0's format for doubles in replies).
pub fn push_f64_g17(out: &mut Vec<u8>, v: f64) {
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    let mut buf = [0u8; 64];
    // SAFETY: `buf` has 64 bytes, far more than any %.17g rendering needs.
    let n = unsafe { ferrodis_fmt_g17(v, buf.as_mut_ptr(), buf.len()) };
    out.extend_from_slice(&buf[..n]);
}

pub fn f64_g17(v: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    push_f64_g17(&mut out, v);
    out
}

/// Appends the decimal form of an integer.
#[inline]
pub fn push_i64(out: &mut Vec<u8>, v: i64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

pub fn i64_bytes(v: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    push_i64(&mut out, v);
    out
}

/// Case-insensitive ASCII comparison, the way Redis compares option names.
#[inline]
pub fn eq_ic(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// Glob-style matching with Redis' rules: `*`, `?`, `[...]` classes with ranges and `^`
/// negation, and `\` escapes. Bounded recursion: a pattern made of many stars cannot blow up.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    glob_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn glob_impl(mut p: &[u8], mut s: &[u8], nocase: bool, skip_longer: &mut bool, depth: u32) -> bool {
    // Deeply nested stars are refused rather than risk the stack, as Redis does.
    if depth > 1000 {
        return false;
    }
    let fold = |c: u8| if nocase { c.to_ascii_lowercase() } else { c };
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if glob_impl(&p[1..], s, nocase, skip_longer, depth + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                // No tail of the string matched the rest of the pattern: a longer string
                // cannot match either, so callers up the stack can stop early.
                *skip_longer = true;
                return false;
            }
            b'?' => {
                s = &s[1..];
            }
            b'[' => {
                p = &p[1..];
                let negate = !p.is_empty() && p[0] == b'^';
                if negate {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.is_empty() {
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if p[0] == s[0] {
                            matched = true;
                        }
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut start, mut end) = (p[0], p[2]);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let c = fold(s[0]);
                        if fold(start) <= c && c <= fold(end) {
                            matched = true;
                        }
                        p = &p[2..];
                    } else if fold(p[0]) == fold(s[0]) {
                        matched = true;
                    }
                    p = &p[1..];
                }
                // An unterminated class consumes the whole pattern; Redis then treats the last
                // byte as the class end.
                if p.is_empty() {
                    if negate {
                        matched = !matched;
                    }
                    if !matched {
                        return false;
                    }
                    s = &s[1..];
                    // Pattern is exhausted: step back so the outer loop sees it as consumed.
                    return s.is_empty();
                }
                if negate {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if fold(p[0]) != fold(s[0]) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if fold(c) != fold(s[0]) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while !p.is_empty() && p[0] == b'*' {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// Splits a line into arguments like Redis' `sdssplitargs`: whitespace separated, with
/// "double quotes" (supporting \n \r \t \b \a \\ \" and \xHH escapes) and 'single quotes'
/// (supporting \'). Returns `None` on unbalanced quotes or a closing quote not followed by space.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // Redis works on C strings: a NUL byte ends the line.
    let line = match memchr::memchr(0, line) {
        Some(p) => &line[..p],
        None => line,
    };
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && c_isspace(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    let hex = |h: u8| (h as char).to_digit(16).unwrap() as u8;
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !c_isspace(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !c_isspace(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

/// C's `isspace` in the "C" locale (space, \t, \n, \v, \f, \r).
#[inline]
pub fn c_isspace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Quotes a byte string the way Redis' `sdscatrepr` does (used by MONITOR, CLIENT LIST, logs).
pub fn push_repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c),
            c => {
                let _ = write!(out, "\\x{:02x}", c);
            }
        }
    }
    out.push(b'"');
}

/// Parses a memory amount with Redis' units (`1k` = 1000, `1kb` = 1024, up to `gb`), as
/// `memtoull` does. Negative values and unknown units are errors.
pub fn parse_memory(s: &[u8]) -> Option<u64> {
    let digits_end = s
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    if s.first() == Some(&b'-') {
        return None;
    }
    let unit = &s[digits_end..];
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let digits = &s[..digits_end];
    if digits.is_empty() {
        return None;
    }
    let v: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    v.checked_mul(mul)
}

/// Current wall-clock time in milliseconds / microseconds since the epoch.
pub fn mstime() -> i64 {
    ustime() / 1000
}

pub fn ustime() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_micros() as i64
}

/// Monotonic microseconds, for durations (command time, latency samples, timeouts).
pub fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// 40 random hex characters, as Redis uses for run ids and replication ids.
pub fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| std::char::from_digit(rng.gen_range(0..16), 16).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_is_strict_like_redis() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b"9223372036854775808"[..],
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"",
            b"-",
            b"1a",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn parse_f64_follows_strtod_without_nan() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b"1e400"), None);
    }

    #[test]
    fn long_double_increment_prints_like_redis() {
        assert_eq!(long_double_add(None, b"10.5").unwrap(), b"10.5");
        assert_eq!(long_double_add(Some(b"10.5"), b"0.1").unwrap(), b"10.6");
        assert_eq!(long_double_add(Some(b"1"), b"-1").unwrap(), b"0");
        assert_eq!(long_double_add(Some(b"1.5e3"), b"0").unwrap(), b"1500");
        assert_eq!(
            long_double_add(Some(b"abc"), b"1"),
            Err(LongDoubleError::NotANumber)
        );
        assert_eq!(
            long_double_add(Some(b"inf"), b"-inf"),
            Err(LongDoubleError::NanOrInfinity)
        );
    }

    #[test]
    fn g17_matches_printf() {
        assert_eq!(f64_g17(1.5), b"1.5");
        assert_eq!(f64_g17(0.1), b"0.10000000000000001");
        assert_eq!(f64_g17(f64::INFINITY), b"inf");
    }

    #[test]
    fn glob_matches_redis_rules() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"h\\*llo", b"h*llo", false));
        assert!(!glob_match(b"h\\*llo", b"hello", false));
        assert!(glob_match(b"HELLO", b"hello", true));
        assert!(!glob_match(b"a*b", b"acbd", false));
        assert!(!glob_match(b"a*", b"", false));
        // As in Redis, an empty string matches no pattern at all (KEYS * special-cases it).
        assert!(!glob_match(b"*", b"", false));
    }

    #[test]
    fn split_args_handles_quotes() {
        assert_eq!(
            split_args(b"set a b").unwrap(),
            vec![b"set".to_vec(), b"a".to_vec(), b"b".to_vec()]
        );
        assert_eq!(
            split_args(b"\"a\\x41\\n\" 'b\\'c'").unwrap(),
            vec![b"aA\n".to_vec(), b"b'c".to_vec()]
        );
        assert!(split_args(b"\"unterminated").is_none());
        assert!(split_args(b"\"a\"b").is_none());
        assert_eq!(split_args(b"   ").unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory(b"1kb"), Some(1024));
        assert_eq!(parse_memory(b"1k"), Some(1000));
        assert_eq!(parse_memory(b"2GB"), Some(2 << 30));
        assert_eq!(parse_memory(b"-1"), None);
        assert_eq!(parse_memory(b"1x"), None);
    }
}
