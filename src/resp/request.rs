//! Incremental request parser.
//!
//! A client's query buffer may hold half a command, many pipelined commands, or one huge bulk
//! argument arriving over many reads. The parser keeps its progress (`multibulk_left`,
//! `bulk_len`, arguments collected so far) between calls, so a large request is scanned once,
//! not once per read. Error texts are Redis 7.0's, because clients and the upstream suite match on
//! them.

use memchr::memchr;

/// Longest inline request, or header line, accepted before the request is refused.
pub const INLINE_MAX_SIZE: usize = 64 * 1024;
/// Bulk arguments at least this large are "big": worth reading into a buffer of their own.
pub const MBULK_BIG_ARG: usize = 32 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum ParseOutcome {
    /// A whole command is in `argv` (possibly empty for a blank inline line or `*0`).
    Complete,
    /// More bytes are needed.
    Incomplete,
    /// A protocol error: the text to reply with, and a short reason for the log. The connection
    /// must be closed after the reply.
    Error(String, &'static str),
}

/// Limits that depend on the client and the server config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bulk_len: i64,
    /// Unauthenticated clients may only send small requests.
    pub auth_required: bool,
    /// The master link may send bulks of any size.
    pub is_master: bool,
}

#[derive(Debug, Default)]
pub struct RequestParser {
    /// Arguments still to read for the current multibulk request (0 = between requests).
    multibulk_left: i64,
    /// Length of the bulk being read, -1 when its `$len` line has not been read yet.
    bulk_len: i64,
    pub argv: Vec<Vec<u8>>,
    /// Total bytes of the arguments collected (for `CLIENT LIST` `argv-mem`).
    pub argv_bytes: usize,
    /// True while the current request is inline (for protocol error handling on masters).
    pub inline: bool,
}

impl RequestParser {
    pub fn new() -> Self {
        RequestParser {
            multibulk_left: 0,
            bulk_len: -1,
            argv: Vec::new(),
            argv_bytes: 0,
            inline: false,
        }
    }

    /// True when the parser is between requests (nothing partially read).
    pub fn is_idle(&self) -> bool {
        self.multibulk_left == 0 && self.argv.is_empty()
    }

    /// Length of the bulk currently awaited, if one is (used to size the read buffer for big
    /// arguments).
    pub fn pending_bulk_len(&self) -> Option<usize> {
        if self.multibulk_left > 0 && self.bulk_len >= 0 {
            Some(self.bulk_len as usize)
        } else {
            None
        }
    }

    /// Parses the next request starting at `*pos` in `buf`, advancing `*pos` past what was used.
    pub fn parse(&mut self, buf: &mut Vec<u8>, pos: &mut usize, limits: Limits) -> ParseOutcome {
        if self.multibulk_left == 0 {
            if *pos >= buf.len() {
                return ParseOutcome::Incomplete;
            }
            if buf[*pos] == b'*' {
                self.inline = false;
                return self.parse_multibulk(buf, pos, limits);
            }
            self.inline = true;
            return self.parse_inline(buf, pos);
        }
        self.parse_multibulk(buf, pos, limits)
    }

    fn parse_inline(&mut self, buf: &[u8], pos: &mut usize) -> ParseOutcome {
        let rest = &buf[*pos..];
        let Some(nl) = memchr(b'\n', rest) else {
            if rest.len() > INLINE_MAX_SIZE {
                return ParseOutcome::Error(
                    "Protocol error: too big inline request".into(),
                    "too big inline request",
                );
            }
            return ParseOutcome::Incomplete;
        };
        let line_end = if nl > 0 && rest[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        let Some(args) = crate::util::split_args(&rest[..line_end]) else {
            return ParseOutcome::Error(
                "Protocol error: unbalanced quotes in request".into(),
                "unbalanced quotes in inline request",
            );
        };
        *pos += nl + 1;
        self.argv_bytes = args.iter().map(|a| a.len()).sum();
        self.argv = args;
        ParseOutcome::Complete
    }

    /// Finds a `\r\n`-terminated header line at the start of `rest`; returns the line without the
    /// terminator, or None if it is not complete yet.
    fn header_line(rest: &[u8]) -> Option<&[u8]> {
        let cr = memchr(b'\r', rest)?;
        if cr + 1 >= rest.len() {
            return None;
        }
        Some(&rest[..cr])
    }

    fn parse_multibulk(
        &mut self,
        buf: &mut Vec<u8>,
        pos: &mut usize,
        limits: Limits,
    ) -> ParseOutcome {
        if self.multibulk_left == 0 {
            let rest = &buf[*pos..];
            let Some(line) = Self::header_line(rest) else {
                if memchr(b'\r', rest).is_none() && rest.len() > INLINE_MAX_SIZE {
                    return ParseOutcome::Error(
                        "Protocol error: too big mbulk count string".into(),
                        "too big mbulk count string",
                    );
                }
                return ParseOutcome::Incomplete;
            };
            let count = match crate::util::parse_i64(&line[1..]) {
                Some(n) if n <= i32::MAX as i64 => n,
                _ => {
                    return ParseOutcome::Error(
                        "Protocol error: invalid multibulk length".into(),
                        "invalid mbulk count",
                    )
                }
            };
            if count > 10 && limits.auth_required {
                return ParseOutcome::Error(
                    "Protocol error: unauthenticated multibulk length".into(),
                    "unauth mbulk count",
                );
            }
            *pos += line.len() + 2;
            if count <= 0 {
                self.argv.clear();
                self.argv_bytes = 0;
                return ParseOutcome::Complete;
            }
            self.multibulk_left = count;
            self.argv = Vec::with_capacity(count.min(1024) as usize);
            self.argv_bytes = 0;
            self.bulk_len = -1;
        }
        while self.multibulk_left > 0 {
            if self.bulk_len == -1 {
                let rest = &buf[*pos..];
                let Some(line) = Self::header_line(rest) else {
                    if memchr(b'\r', rest).is_none() && rest.len() > INLINE_MAX_SIZE {
                        return ParseOutcome::Error(
                            "Protocol error: too big bulk count string".into(),
                            "too big bulk count string",
                        );
                    }
                    return ParseOutcome::Incomplete;
                };
                if line.first() != Some(&b'$') {
                    let got = line.first().copied().unwrap_or(b'\r') as char;
                    return ParseOutcome::Error(
                        format!("Protocol error: expected '$', got '{}'", got),
                        "expected $ but got something else",
                    );
                }
                let len = match crate::util::parse_i64(&line[1..]) {
                    Some(n) if n >= 0 && (limits.is_master || n <= limits.max_bulk_len) => n,
                    _ => {
                        return ParseOutcome::Error(
                            "Protocol error: invalid bulk length".into(),
                            "invalid bulk length",
                        )
                    }
                };
                if len > 16384 && limits.auth_required {
                    return ParseOutcome::Error(
                        "Protocol error: unauthenticated bulk length".into(),
                        "unauth bulk length",
                    );
                }
                *pos += line.len() + 2;
                self.bulk_len = len;
                // A big argument that is all the buffer still holds: move it to the start of
                // the buffer and size the buffer for exactly the argument, so that once complete
                // the buffer itself becomes the argument (no copy, no doubled memory).
                let big = !limits.is_master && len as usize >= MBULK_BIG_ARG;
                if big && buf.len() - *pos <= len as usize + 2 {
                    buf.drain(..*pos);
                    *pos = 0;
                    buf.reserve_exact(len as usize + 2 - buf.len());
                }
            }
            let need = self.bulk_len as usize + 2;
            if buf.len() - *pos < need {
                return ParseOutcome::Incomplete;
            }
            let bulk = self.bulk_len as usize;
            let arg =
                if !limits.is_master && bulk >= MBULK_BIG_ARG && *pos == 0 && buf.len() == need {
                    // The buffer is exactly this argument: take it, and give the client a fresh
                    // buffer of the same size, since a big argument is often followed by another.
                    let mut whole = std::mem::replace(buf, Vec::with_capacity(need));
                    whole.truncate(bulk);
                    self.argv_bytes += whole.len();
                    self.argv.push(whole);
                    self.bulk_len = -1;
                    self.multibulk_left -= 1;
                    continue;
                } else {
                    buf[*pos..*pos + bulk].to_vec()
                };
            self.argv_bytes += arg.len();
            self.argv.push(arg);
            *pos += need;
            self.bulk_len = -1;
            self.multibulk_left -= 1;
        }
        ParseOutcome::Complete
    }

    /// Forgets a partially read request (after a protocol error or on RESET of the parser).
    pub fn reset(&mut self) {
        self.multibulk_left = 0;
        self.bulk_len = -1;
        self.argv.clear();
        self.argv_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        auth_required: false,
        is_master: false,
    };

    fn parse_all(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<String>) {
        let mut p = RequestParser::new();
        let mut pos = 0;
        let mut out = Vec::new();
        let mut buf = input.to_vec();
        loop {
            match p.parse(&mut buf, &mut pos, OPEN) {
                ParseOutcome::Complete => out.push(std::mem::take(&mut p.argv)),
                ParseOutcome::Incomplete => return (out, None),
                ParseOutcome::Error(e, _) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn multibulk_and_inline_requests_parse() {
        let (cmds, err) = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\"\n");
        assert_eq!(err, None);
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(
            cmds[2],
            vec![b"set".to_vec(), b"a".to_vec(), b"b c".to_vec()]
        );
    }

    #[test]
    fn protocol_errors_use_redis_text() {
        assert_eq!(
            parse_all(b"*3000000000\r\n").1.unwrap(),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n!3\r\n").1.unwrap(),
            "Protocol error: expected '$', got '!'"
        );
        assert_eq!(
            parse_all(b"*1\r\n$-1\r\n").1.unwrap(),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"\"unbalanced\r\n").1.unwrap(),
            "Protocol error: unbalanced quotes in request"
        );
    }

    #[test]
    fn byte_at_a_time_equals_all_at_once() {
        let input = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*1\r\n$4\r\nPING\r\n";
        let mut p = RequestParser::new();
        let mut buf = Vec::new();
        let mut pos = 0;
        let mut got = Vec::new();
        for &b in input.iter() {
            buf.push(b);
            while let ParseOutcome::Complete = p.parse(&mut buf, &mut pos, OPEN) {
                got.push(std::mem::take(&mut p.argv));
            }
        }
        assert_eq!(got, parse_all(input).0);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn a_big_argument_takes_over_the_buffer_without_copying() {
        let mut p = RequestParser::new();
        let big = vec![b'v'; MBULK_BIG_ARG * 2];
        let mut buf = format!("*2\r\n$3\r\nGET\r\n${}\r\n", big.len()).into_bytes();
        let mut pos = 0;
        assert_eq!(p.parse(&mut buf, &mut pos, OPEN), ParseOutcome::Incomplete);
        // The header was consumed and the buffer now starts with the argument.
        assert_eq!(pos, 0);
        assert!(buf.is_empty());
        buf.extend_from_slice(&big);
        buf.extend_from_slice(b"\r\n");
        let data_ptr = buf.as_ptr();
        assert_eq!(p.parse(&mut buf, &mut pos, OPEN), ParseOutcome::Complete);
        assert_eq!(p.argv[1], big);
        assert_eq!(
            p.argv[1].as_ptr(),
            data_ptr,
            "the argument is the old buffer itself"
        );
        assert!(buf.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_all(&data);
        }

        #[test]
        fn encoded_commands_round_trip(args in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 1..8)) {
            let mut wire = format!("*{}\r\n", args.len()).into_bytes();
            for a in &args {
                wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                wire.extend_from_slice(a);
                wire.extend_from_slice(b"\r\n");
            }
            let (cmds, err) = parse_all(&wire);
            proptest::prop_assert!(err.is_none());
            proptest::prop_assert_eq!(cmds, vec![args]);
        }
    }

    /// Feeds `input` to a parser in the given chunk sizes, as a connection would (append what
    /// was read, parse until more is needed, drop what was consumed); the commands and the
    /// error, if any.
    fn parse_chunked(
        input: &[u8],
        chunks: &mut dyn Iterator<Item = usize>,
        limits: Limits,
    ) -> (Vec<Vec<Vec<u8>>>, Option<String>) {
        let mut p = RequestParser::new();
        let (mut buf, mut pos, mut fed) = (Vec::new(), 0usize, 0usize);
        let mut out = Vec::new();
        while fed < input.len() {
            let n = chunks
                .next()
                .unwrap_or(input.len())
                .clamp(1, input.len() - fed);
            buf.extend_from_slice(&input[fed..fed + n]);
            fed += n;
            loop {
                match p.parse(&mut buf, &mut pos, limits) {
                    ParseOutcome::Complete => out.push(std::mem::take(&mut p.argv)),
                    ParseOutcome::Incomplete => break,
                    ParseOutcome::Error(e, _) => return (out, Some(e)),
                }
            }
            buf.drain(..pos);
            pos = 0;
        }
        (out, None)
    }

    /// Deterministic fuzzing: valid request streams (multibulk, inline, empty and big
    /// arguments) mutated at random must never panic the parser, and reading them in random
    /// pieces must give exactly what reading them whole gives (the same commands, the same
    /// protocol error), whatever the limits.
    #[test]
    fn mutated_requests_parse_the_same_whole_or_in_pieces() {
        use rand::{Rng, SeedableRng};
        let mut base: Vec<u8> = Vec::new();
        base.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n");
        base.extend_from_slice(b"PING\r\nset a \"b c\" 'd'\n\r\n*0\r\n*-1\r\n");
        base.extend_from_slice(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
        let mut big = b"*2\r\n$4\r\nECHO\r\n$40000\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 40000));
        big.extend_from_slice(b"\r\n");
        let inputs = [
            base.clone(),
            big.clone(),
            [base.clone(), big, base].concat(),
        ];
        let limits = [
            OPEN,
            Limits {
                max_bulk_len: 100,
                auth_required: false,
                is_master: false,
            },
            Limits {
                max_bulk_len: 512 * 1024 * 1024,
                auth_required: true,
                is_master: false,
            },
            Limits {
                max_bulk_len: 10,
                auth_required: false,
                is_master: true,
            },
        ];
        let scale = crate::rdb::fuzz::scale();
        let mut rng = crate::rdb::fuzz::rng(0x5eed_0005);
        for i in 0..600 * scale {
            let src = &inputs[i % inputs.len()];
            let m = crate::rdb::fuzz::mutate(&mut rng, src, &inputs[0]);
            let lim = limits[rng.gen_range(0..limits.len())];
            let whole = parse_chunked(&m, &mut std::iter::empty(), lim);
            let seed: u64 = rng.gen();
            let mut crng = rand::rngs::SmallRng::seed_from_u64(seed);
            let max = [1usize, 3, 17, 1000, 70000][rng.gen_range(0..5)];
            let mut sizes = std::iter::from_fn(move || Some(crng.gen_range(1..=max)));
            let pieces = parse_chunked(&m, &mut sizes, lim);
            assert_eq!(
                whole,
                pieces,
                "input {:?} limits {:?}",
                String::from_utf8_lossy(&m),
                lim
            );
        }
    }
}
