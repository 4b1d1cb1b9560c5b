//! The replication backlog: a fixed-size ring holding the most recent bytes of the replication
//! stream, so that a replica that lost its link can continue (PSYNC +CONTINUE) from the offset
//! it reached instead of loading a whole snapshot again. Offsets are those of the stream
//! (`master_repl_offset`): the backlog holds the bytes from `first_offset` up to the current one.

#[derive(Debug)]
pub struct Backlog {
    buf: Vec<u8>,
    /// Where the next byte goes in `buf`.
    idx: usize,
    /// Bytes of valid history held (at most the size).
    pub histlen: usize,
    /// Stream offset of the first byte held (INFO `repl_backlog_first_byte_offset`).
    pub first_offset: i64,
}

impl Backlog {
    /// An empty backlog whose next byte will be the one after `repl_offset`.
    pub fn new(size: usize, repl_offset: i64) -> Backlog {
        Backlog {
            buf: vec![0; size.max(1)],
            idx: 0,
            histlen: 0,
            first_offset: repl_offset + 1,
        }
    }

    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// Appends stream bytes, dropping the oldest ones past the size.
    pub fn feed(&mut self, mut data: &[u8]) {
        let size = self.buf.len();
        while !data.is_empty() {
            let room = size - self.idx;
            let n = room.min(data.len());
            self.buf[self.idx..self.idx + n].copy_from_slice(&data[..n]);
            self.idx = (self.idx + n) % size;
            data = &data[n..];
            let grown = self.histlen + n;
            if grown > size {
                self.first_offset += (grown - size) as i64;
                self.histlen = size;
            } else {
                self.histlen = grown;
            }
        }
    }

    /// Whether the bytes starting at stream offset `from` are all still held (or `from` is
    /// the very next offset).
    pub fn covers(&self, from: i64) -> bool {
        from >= self.first_offset && from <= self.first_offset + self.histlen as i64
    }

    /// The bytes from stream offset `from` to the end. `covers(from)` must hold.
    pub fn read_from(&self, from: i64) -> Vec<u8> {
        let skip = (from - self.first_offset) as usize;
        let len = self.histlen - skip;
        let size = self.buf.len();
        // The oldest byte sits `histlen` bytes behind the write position.
        let start = (self.idx + size - self.histlen + skip) % size;
        let mut out = Vec::with_capacity(len);
        let first = len.min(size - start);
        out.extend_from_slice(&self.buf[start..start + first]);
        out.extend_from_slice(&self.buf[..len - first]);
        out
    }

    /// Changes the size, keeping the most recent history that still fits.
    pub fn resize(&mut self, size: usize) {
        let size = size.max(1);
        if size == self.buf.len() {
            return;
        }
        let keep = self.histlen.min(size);
        let from = self.first_offset + (self.histlen - keep) as i64;
        let data = self.read_from(from);
        *self = Backlog {
            buf: vec![0; size],
            idx: 0,
            histlen: 0,
            first_offset: from,
        };
        self.feed(&data);
        self.first_offset = from;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_everything_until_full() {
        let mut b = Backlog::new(10, 100);
        b.feed(b"abcdef");
        assert_eq!(b.first_offset, 101);
        assert_eq!(b.histlen, 6);
        assert!(b.covers(101) && b.covers(107) && !b.covers(108) && !b.covers(100));
        assert_eq!(b.read_from(103), b"cdef");
    }

    #[test]
    fn wraps_and_forgets_the_oldest_bytes() {
        let mut b = Backlog::new(4, 0);
        b.feed(b"abc");
        b.feed(b"defg");
        assert_eq!(b.histlen, 4);
        assert_eq!(b.first_offset, 4);
        assert_eq!(b.read_from(4), b"defg");
        assert_eq!(b.read_from(6), b"fg");
        assert!(!b.covers(3));
        b.feed(b"0123456789");
        assert_eq!(b.read_from(b.first_offset), b"6789");
        assert_eq!(b.first_offset, 14);
    }

    #[test]
    fn resize_keeps_recent_history() {
        let mut b = Backlog::new(8, 0);
        b.feed(b"abcdefgh");
        b.resize(3);
        assert_eq!(b.first_offset, 6);
        assert_eq!(b.read_from(6), b"fgh");
        b.resize(16);
        b.feed(b"ij");
        assert_eq!(b.read_from(6), b"fghij");
    }
}
