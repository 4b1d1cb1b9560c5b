//! A client's pending output and the RESP2/RESP3 encoders that fill it.
//!
//! Layout mirrors Redis so that output-buffer accounting (`CLIENT LIST` `omem`,
//! `client-output-buffer-limit`) means the same thing: a first buffer of `REPLY_CHUNK_BYTES`
//! filled while nothing is queued behind it, then a list of chunks. Only the list counts as
//! "output memory". Deferred lengths (a reply whose element count is known only at the end, as in
//! KEYS) reserve an empty chunk that is filled in when the count is known.
//!
//! Encoders pick the RESP2 or RESP3 form from `resp`: e.g. a map is `*2N` in RESP2 and `%N` in
//! RESP3, a null is `$-1` / `*-1` in RESP2 and `_` in RESP3.

use std::collections::VecDeque;
use std::io::{self, Write};

use crate::util;

pub const REPLY_CHUNK_BYTES: usize = 16 * 1024;
/// Smallest size the first buffer is shrunk to.
pub const REPLY_MIN_BYTES: usize = 1024;

#[derive(Debug)]
pub struct ReplyBuf {
    /// Protocol version of the client: 2 or 3.
    pub resp: u8,
    /// When false (CLIENT REPLY OFF/SKIP, or a client whose replies go nowhere) nothing is added.
    pub enabled: bool,
    buf: Vec<u8>,
    /// Usable size of the first buffer (`rbs`): starts at 16 KB and is adapted by the cron to
    /// the client's recent peak (`rbp`), as Redis 7.0 does.
    pub buf_usable: usize,
    pub buf_peak: usize,
    pub buf_peak_last_reset_ms: i64,
    list: VecDeque<Vec<u8>>,
    /// Bytes held in `list` (what Redis calls `reply_bytes`).
    pub list_bytes: usize,
    /// Bytes of the front of the output (buf, or the first list chunk) already written.
    sent: usize,
    /// Number of list chunks removed from the front so far; makes deferred handles stable.
    popped: usize,
    /// Error replies produced since the last `take_errors` (their full text, without CRLF):
    /// the server turns them into error statistics.
    pub errors: Vec<Vec<u8>>,
    /// Error replies that are not for the statistics (`error_counted_elsewhere`): they still
    /// make the command a failed call.
    pub uncounted_errors: u64,
    /// Total bytes ever added (for `INFO stats` network figures we count on write instead).
    pub added_since_flush: usize,
}

/// Handle to an element count that will be known later.
#[derive(Debug, Clone, Copy)]
pub struct Deferred(usize);

/// A position in the pending output, taken with `mark` so that bytes produced elsewhere
/// (pub/sub messages a command's own client receives) can later be spliced in there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Offset in the first buffer (nothing was queued behind it then).
    Buf(usize),
    /// Absolute chunk index (counting popped chunks) and offset within it.
    Chunk(usize, usize),
}

impl Default for ReplyBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyBuf {
    pub fn new() -> Self {
        ReplyBuf {
            resp: 2,
            enabled: true,
            buf: Vec::new(),
            buf_usable: REPLY_CHUNK_BYTES,
            buf_peak: 0,
            buf_peak_last_reset_ms: 0,
            list: VecDeque::new(),
            list_bytes: 0,
            sent: 0,
            popped: 0,
            errors: Vec::new(),
            uncounted_errors: 0,
            added_since_flush: 0,
        }
    }

    /// True when something is waiting to be written.
    #[inline]
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty() || !self.list.is_empty()
    }

    /// Bytes allocated for the first buffer.
    pub fn buf_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Resizes the first buffer per the recent peak (Redis' `clientsCronResizeOutputBuffer`):
    /// halve-or-more when the peak stayed under half, double (up to 16 KB) when it was full.
    /// Returns +1 for an expansion, -1 for a shrink, 0 otherwise.
    pub fn cron_resize(&mut self, now_ms: i64, peak_reset_ms: i64) -> i32 {
        let shrink_to = self.buf_usable / 2;
        let expand_to = self.buf_usable * 2;
        let mut new_size = 0;
        let mut change = 0;
        if shrink_to >= REPLY_MIN_BYTES && self.buf_peak < shrink_to {
            new_size = REPLY_MIN_BYTES.max(self.buf_peak + 1);
            change = -1;
        } else if expand_to < REPLY_CHUNK_BYTES * 2 && self.buf_peak == self.buf_usable {
            new_size = REPLY_CHUNK_BYTES.min(expand_to);
            change = 1;
        }
        if peak_reset_ms >= 0 && now_ms - self.buf_peak_last_reset_ms >= peak_reset_ms {
            self.buf_peak = self.buf.len();
            self.buf_peak_last_reset_ms = now_ms;
        }
        if new_size != 0 {
            self.buf_usable = new_size.max(self.buf.len());
            if self.buf.capacity() > self.buf_usable {
                self.buf.shrink_to(self.buf_usable);
            }
        }
        change
    }

    pub fn buf_len(&self) -> usize {
        self.buf.len()
    }

    pub fn list_len(&self) -> usize {
        self.list.len()
    }

    /// Appends raw protocol bytes.
    #[inline]
    pub fn raw(&mut self, data: &[u8]) {
        if !self.enabled {
            return;
        }
        self.added_since_flush += data.len();
        if self.list.is_empty() {
            let room = self.buf_usable.saturating_sub(self.buf.len());
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(self.buf_usable);
            }
            if data.len() <= room {
                self.buf.extend_from_slice(data);
                self.buf_peak = self.buf_peak.max(self.buf.len());
                return;
            }
            let (head, tail) = data.split_at(room);
            self.buf.extend_from_slice(head);
            self.buf_peak = self.buf_peak.max(self.buf.len());
            self.push_list(tail);
        } else {
            self.push_list(data);
        }
    }

    /// Appends pieces of protocol that make one reply: when they all fit in the buffer (the
    /// usual case) the room is checked once for them all.
    #[inline]
    fn raw_pieces(&mut self, pieces: &[&[u8]]) {
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        if self.enabled
            && self.list.is_empty()
            && self.buf.capacity() != 0
            && total <= self.buf_usable.saturating_sub(self.buf.len())
        {
            for p in pieces {
                self.buf.extend_from_slice(p);
            }
            self.added_since_flush += total;
            self.buf_peak = self.buf_peak.max(self.buf.len());
            return;
        }
        for p in pieces {
            self.raw(p);
        }
    }

    /// Appends raw protocol bytes even when replies are switched off: pub/sub messages and
    /// subscription confirmations still reach a client under CLIENT REPLY OFF/SKIP, as in Redis.
    pub fn raw_push(&mut self, data: &[u8]) {
        let was = self.enabled;
        self.enabled = true;
        self.raw(data);
        self.enabled = was;
    }

    /// The current end of the pending output.
    pub fn mark(&self) -> Mark {
        match self.list.back() {
            None => Mark::Buf(self.buf.len()),
            Some(last) => Mark::Chunk(self.popped + self.list.len() - 1, last.len()),
        }
    }

    /// Inserts `data` at a position taken earlier with `mark`, ahead of whatever was added since
    /// (bypassing CLIENT REPLY OFF like `raw_push`). If that position can no longer be reached
    /// (already written, or it sits on a deferred header still unfilled) the data is appended.
    pub fn insert_at(&mut self, mark: Mark, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if mark == self.mark() {
            self.raw_push(data);
            return;
        }
        match mark {
            Mark::Buf(off) if off >= self.sent && off <= self.buf.len() => {
                // Everything in the list came after the mark.
                self.added_since_flush += data.len();
                self.buf.splice(off..off, data.iter().copied());
                return;
            }
            Mark::Chunk(abs, off) if abs >= self.popped => {
                // A mark at offset 0 was taken on an unfilled deferred header: the position is
                // right after that header, i.e. at the start of the next chunk.
                let (idx, off) = if off == 0 {
                    (abs - self.popped + 1, 0)
                } else {
                    (abs - self.popped, off)
                };
                let front_sent = if idx == 0 && self.buf.is_empty() {
                    self.sent
                } else {
                    0
                };
                if let Some(chunk) = self.list.get_mut(idx) {
                    if !chunk.is_empty() && off <= chunk.len() && off >= front_sent {
                        let before = chunk.capacity();
                        chunk.splice(off..off, data.iter().copied());
                        self.list_bytes += chunk.capacity() - before;
                        self.added_since_flush += data.len();
                        return;
                    }
                }
            }
            _ => {}
        }
        self.raw_push(data);
    }

    fn push_list(&mut self, mut data: &[u8]) {
        if let Some(last) = self.list.back_mut() {
            let room = last.capacity() - last.len();
            if room > 0 {
                let n = room.min(data.len());
                last.extend_from_slice(&data[..n]);
                data = &data[n..];
            }
        }
        if !data.is_empty() {
            let cap = data.len().max(REPLY_CHUNK_BYTES);
            let mut chunk = Vec::with_capacity(cap);
            chunk.extend_from_slice(data);
            self.list_bytes += cap;
            self.list.push_back(chunk);
        }
    }

    /// Writes as much as the socket takes. Returns the bytes written; `WouldBlock` is not an
    /// error (it returns what was written so far). Pending chunks go out together in one
    /// vectored write (up to `MAX_WRITE_SLICES`), so replies split over many small chunks
    /// (deferred lengths) don't cost a system call each.
    pub fn write_to<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<usize> {
        const MAX_WRITE_SLICES: usize = 64;
        let mut total = 0;
        loop {
            // Skip what is finished at the front; a lone placeholder left over is dropped.
            if self.buf.is_empty() {
                match self.list.front() {
                    None => return Ok(total),
                    Some(c) if c.is_empty() => {
                        if self.list.len() == 1 {
                            self.list.pop_front();
                            self.popped += 1;
                            continue;
                        }
                        // An unfilled deferred placeholder can't be passed.
                        return Ok(total);
                    }
                    Some(c) if self.sent >= c.len() => {
                        self.advance_front();
                        continue;
                    }
                    Some(_) => {}
                }
            } else if self.sent >= self.buf.len() {
                self.advance_front();
                continue;
            }
            let mut slices = [io::IoSlice::new(&[]); MAX_WRITE_SLICES];
            let mut n = 0;
            let mut chunks = self.list.iter();
            if !self.buf.is_empty() {
                slices[0] = io::IoSlice::new(&self.buf[self.sent..]);
                n = 1;
            } else if let Some(c) = chunks.next() {
                slices[0] = io::IoSlice::new(&c[self.sent..]);
                n = 1;
            }
            for c in chunks {
                // Stop at an unfilled placeholder: nothing after it may go out yet.
                if n == MAX_WRITE_SLICES || c.is_empty() {
                    break;
                }
                slices[n] = io::IoSlice::new(c);
                n += 1;
            }
            match w.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "write zero")),
                Ok(written) => {
                    total += written;
                    self.consume(written);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Marks `n` written bytes as sent, front first, releasing the chunks they complete.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let front_len = if !self.buf.is_empty() {
                self.buf.len()
            } else {
                match self.list.front() {
                    Some(c) => c.len(),
                    None => return,
                }
            };
            let left = front_len - self.sent;
            if n >= left {
                n -= left;
                self.advance_front();
            } else {
                self.sent += n;
                n = 0;
            }
        }
    }

    fn advance_front(&mut self) {
        self.sent = 0;
        if !self.buf.is_empty() {
            self.buf.clear();
        } else if let Some(c) = self.list.pop_front() {
            self.list_bytes -= c.capacity();
            self.popped += 1;
        }
    }

    /// Takes everything pending as one byte vector (for fake clients whose output is consumed
    /// in-process: MULTI inside scripts, module calls, tests).
    pub fn take_all(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        out.drain(..self.sent.min(out.len()));
        for c in self.list.drain(..) {
            out.extend_from_slice(&c);
        }
        self.popped = 0;
        self.list_bytes = 0;
        self.sent = 0;
        out
    }

    /// Back to a new buffer's state, keeping the memory of the first buffer (a reused
    /// client's).
    pub fn reset(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        *self = ReplyBuf::new();
        self.buf = buf;
    }

    /// Hands back a buffer `take_all` returned, once read: it becomes the first buffer again
    /// if that is still unallocated (so a client whose output is taken after every command
    /// does not allocate a new one each time).
    pub fn reuse_buffer(&mut self, mut taken: Vec<u8>) {
        if self.buf.capacity() == 0 && self.list.is_empty() && taken.capacity() <= self.buf_usable {
            taken.clear();
            self.buf = taken;
        }
    }

    /// Drops all pending output (client being freed, or CLIENT KILL).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.list.clear();
        self.list_bytes = 0;
        self.sent = 0;
    }

    // ----- RESP encoders -------------------------------------------------------------------

    #[inline]
    fn header(&mut self, prefix: u8, n: i64) {
        let mut tmp = [0u8; 24];
        let len = Self::format_header(&mut tmp, prefix, n);
        self.raw(&tmp[..len]);
    }

    /// Writes `<prefix><n>\r\n` into `tmp` and returns its length.
    #[inline]
    fn format_header(tmp: &mut [u8; 24], prefix: u8, n: i64) -> usize {
        let mut b = itoa::Buffer::new();
        let s = b.format(n).as_bytes();
        tmp[0] = prefix;
        tmp[1..1 + s.len()].copy_from_slice(s);
        tmp[1 + s.len()] = b'\r';
        tmp[2 + s.len()] = b'\n';
        3 + s.len()
    }

    pub fn ok(&mut self) {
        self.raw(b"+OK\r\n");
    }

    /// `+status`
    pub fn status(&mut self, s: &str) {
        self.simple(s.as_bytes());
    }

    pub fn simple(&mut self, s: &[u8]) {
        // A short status is put together on the stack and appended in one piece.
        let mut line = [0u8; 64];
        if s.len() + 3 <= line.len() {
            line[0] = b'+';
            line[1..=s.len()].copy_from_slice(s);
            line[s.len() + 1..s.len() + 3].copy_from_slice(b"\r\n");
            self.raw(&line[..s.len() + 3]);
        } else {
            self.raw_pieces(&[b"+", s, b"\r\n"]);
        }
    }

    /// An error reply. `msg` may carry its own code (`-WRONGTYPE ...`); otherwise `ERR ` is
    /// prepended. CR/LF inside the message become spaces, since they would break the protocol.
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes())
    }

    pub fn error_bytes(&mut self, msg: &[u8]) {
        let mut line = Vec::with_capacity(msg.len() + 6);
        if msg.first() == Some(&b'-') {
            line.extend_from_slice(&msg[1..]);
        } else {
            line.extend_from_slice(b"ERR ");
            line.extend_from_slice(msg);
        }
        for b in line.iter_mut() {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        if self.enabled {
            self.raw(b"-");
            self.raw(&line);
            self.raw(b"\r\n");
        }
        self.errors.push(line);
    }

    /// An error reply whose error was already counted where it arose (a script passing on
    /// the error of a command it called): it makes the command failed, nothing more.
    pub fn error_counted_elsewhere(&mut self, msg: &str) {
        self.error(msg);
        self.errors.pop();
        self.uncounted_errors += 1;
    }

    #[inline]
    pub fn int(&mut self, v: i64) {
        match v {
            0 => self.raw(b":0\r\n"),
            1 => self.raw(b":1\r\n"),
            _ => self.header(b':', v),
        }
    }

    #[inline]
    pub fn bulk(&mut self, v: &[u8]) {
        let mut tmp = [0u8; 24];
        let len = Self::format_header(&mut tmp, b'$', v.len() as i64);
        self.raw_pieces(&[&tmp[..len], v, b"\r\n"]);
    }

    pub fn bulk_str(&mut self, s: &str) {
        self.bulk(s.as_bytes());
    }

    pub fn bulk_i64(&mut self, v: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(v).as_bytes());
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        if self.resp == 2 {
            self.raw(b"$-1\r\n");
        } else {
            self.raw(b"_\r\n");
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if self.resp == 2 {
            self.raw(b"*-1\r\n");
        } else {
            self.raw(b"_\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    pub fn map(&mut self, n: usize) {
        if self.resp == 2 {
            self.header(b'*', 2 * n as i64);
        } else {
            self.header(b'%', n as i64);
        }
    }

    pub fn set(&mut self, n: usize) {
        if self.resp == 2 {
            self.header(b'*', n as i64);
        } else {
            self.header(b'~', n as i64);
        }
    }

    pub fn push(&mut self, n: usize) {
        if self.resp == 2 {
            self.header(b'*', n as i64);
        } else {
            self.header(b'>', n as i64);
        }
    }

    /// RESP3 attribute header (ignored by RESP2 clients, so callers only use it with RESP3).
    pub fn attribute(&mut self, n: usize) {
        self.header(b'|', n as i64);
    }

    pub fn bool(&mut self, v: bool) {
        if self.resp == 2 {
            self.int(v as i64);
        } else {
            self.raw(if v { b"#t\r\n" } else { b"#f\r\n" });
        }
    }

    /// A double, formatted as Redis 7.0 does ("%.17g", with `inf`/`-inf`).
    pub fn double(&mut self, d: f64) {
        let mut s = Vec::with_capacity(32);
        util::push_f64_g17(&mut s, d);
        if self.resp == 2 {
            self.bulk(&s);
        } else {
            self.raw(b",");
            self.raw(&s);
            self.raw(b"\r\n");
        }
    }

    pub fn big_number(&mut self, s: &[u8]) {
        if self.resp == 2 {
            self.bulk(s);
        } else {
            self.raw(b"(");
            self.raw(s);
            self.raw(b"\r\n");
        }
    }

    /// Verbatim text (`=len\r\ntxt:...`), a plain bulk string in RESP2.
    pub fn verbatim(&mut self, text: &[u8], format: &str) {
        if self.resp == 2 {
            self.bulk(text);
        } else {
            self.header(b'=', (text.len() + 4) as i64);
            self.raw(format.as_bytes());
            self.raw(b":");
            self.raw(text);
            self.raw(b"\r\n");
        }
    }

    /// An array of bulk strings.
    pub fn bulks<I, T>(&mut self, items: I)
    where
        I: ExactSizeIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.array(items.len());
        for it in items {
            self.bulk(it.as_ref());
        }
    }

    /// An empty array.
    pub fn empty_array(&mut self) {
        self.raw(b"*0\r\n");
    }

    // ----- deferred lengths ----------------------------------------------------------------

    /// Reserves the place of an aggregate header whose count is not known yet.
    pub fn defer(&mut self) -> Deferred {
        if !self.enabled {
            return Deferred(usize::MAX);
        }
        self.list.push_back(Vec::new());
        Deferred(self.popped + self.list.len() - 1)
    }

    fn fill_deferred(&mut self, d: Deferred, prefix: u8, n: i64) {
        if d.0 == usize::MAX || d.0 < self.popped {
            return;
        }
        let idx = d.0 - self.popped;
        let mut header = Vec::with_capacity(24);
        header.push(prefix);
        util::push_i64(&mut header, n);
        header.extend_from_slice(b"\r\n");
        self.list_bytes += header.capacity();
        self.list[idx] = header;
    }

    pub fn set_deferred_array(&mut self, d: Deferred, n: usize) {
        self.fill_deferred(d, b'*', n as i64);
    }

    pub fn set_deferred_map(&mut self, d: Deferred, n: usize) {
        if self.resp == 2 {
            self.fill_deferred(d, b'*', 2 * n as i64);
        } else {
            self.fill_deferred(d, b'%', n as i64);
        }
    }

    /// RESP3 attribute header (modules may send attributes).
    pub fn set_deferred_attribute(&mut self, d: Deferred, n: usize) {
        self.fill_deferred(d, b'|', n as i64);
    }

    pub fn set_deferred_set(&mut self, d: Deferred, n: usize) {
        if self.resp == 2 {
            self.fill_deferred(d, b'*', n as i64);
        } else {
            self.fill_deferred(d, b'~', n as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_nulls_differ() {
        let mut r = ReplyBuf::new();
        r.null();
        r.null_array();
        assert_eq!(r.take_all(), b"$-1\r\n*-1\r\n");
        r.resp = 3;
        r.null();
        r.map(1);
        assert_eq!(r.take_all(), b"_\r\n%1\r\n");
    }

    #[test]
    fn errors_get_err_prefix_unless_coded() {
        let mut r = ReplyBuf::new();
        r.error("syntax error");
        r.error("-WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(
            r.take_all(),
            b"-ERR syntax error\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n".to_vec()
        );
        assert_eq!(r.errors.len(), 2);
    }

    #[test]
    fn deferred_lengths_are_filled_in_place() {
        let mut r = ReplyBuf::new();
        r.bulk(b"first");
        let d = r.defer();
        for i in 0..3 {
            r.int(i);
        }
        r.set_deferred_array(d, 3);
        assert_eq!(
            r.take_all(),
            b"$5\r\nfirst\r\n*3\r\n:0\r\n:1\r\n:2\r\n".to_vec()
        );
    }

    #[test]
    fn nested_deferred_lengths() {
        let mut r = ReplyBuf::new();
        let outer = r.defer();
        let inner = r.defer();
        r.int(1);
        r.set_deferred_array(inner, 1);
        r.int(2);
        r.set_deferred_array(outer, 2);
        assert_eq!(r.take_all(), b"*2\r\n*1\r\n:1\r\n:2\r\n".to_vec());
    }

    #[test]
    fn inserted_bytes_land_at_the_mark() {
        let mut r = ReplyBuf::new();
        r.int(1);
        let m = r.mark();
        r.int(2);
        r.insert_at(m, b"+pushed\r\n");
        assert_eq!(r.take_all(), b":1\r\n+pushed\r\n:2\r\n".to_vec());

        // A mark inside a list chunk, with a deferred header filled after it.
        let mut r = ReplyBuf::new();
        r.bulk(&vec![b'x'; REPLY_CHUNK_BYTES + 10]);
        let m = r.mark();
        let d = r.defer();
        r.int(7);
        r.set_deferred_array(d, 1);
        r.insert_at(m, b"+p\r\n");
        let out = r.take_all();
        assert!(out.ends_with(b"\r\n+p\r\n*1\r\n:7\r\n"));
    }

    #[test]
    fn pushes_bypass_reply_off() {
        let mut r = ReplyBuf::new();
        r.enabled = false;
        r.int(1);
        let m = r.mark();
        r.raw_push(b"+a\r\n");
        r.insert_at(m, b"+b\r\n");
        assert_eq!(r.take_all(), b"+b\r\n+a\r\n".to_vec());
        assert!(!r.enabled);
    }

    #[test]
    fn large_replies_spill_into_list_and_write_out_whole() {
        let mut r = ReplyBuf::new();
        let big = vec![b'x'; 100_000];
        r.bulk(&big);
        assert!(r.list_bytes > 0);
        let mut sink = Vec::new();
        r.write_to(&mut sink).unwrap();
        assert_eq!(sink.len(), 100_000 + 11);
        assert!(!r.has_pending());
        assert_eq!(r.list_bytes, 0);
    }
}
