//! The RDB reader over an in-memory buffer (a whole file, or a DUMP payload). Every read is
//! bounds-checked and every length is checked against the bytes left before anything is
//! allocated, so truncated or hostile input ends in a `LoadError`, never a panic or a huge
//! allocation.

use super::*;
use crate::util;

#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// After an `Eof`: the position the failed read needed the input to reach (a loader fed
    /// in pieces waits for at least that much before trying the record again).
    want: usize,
}

/// A length or, for strings, one of the special encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            want: 0,
        }
    }

    /// Goes back to `pos` (the start of a record that could not be read whole yet).
    pub fn rewind(&mut self, pos: usize) {
        self.pos = pos.min(self.pos);
    }

    /// Where the last failed read needed the input to reach (see `want`).
    pub fn wanted(&self) -> usize {
        self.want
    }

    /// The data ends before `n` more bytes: remember how far it had to reach.
    fn short(&mut self, n: u64) -> LoadError {
        self.want = (self.pos as u64).saturating_add(n).min(usize::MAX as u64) as usize;
        LoadError::Eof
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Everything read so far (what the checksum covers).
    pub fn consumed(&self) -> &'a [u8] {
        &self.buf[..self.pos]
    }

    pub fn take(&mut self, n: usize) -> LoadResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.short(n as u64));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn byte(&mut self) -> LoadResult<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn len_or_enc(&mut self) -> LoadResult<Len> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Len::Plain((first & 0x3f) as u64),
            1 => Len::Plain((((first & 0x3f) as u64) << 8) | self.byte()? as u64),
            LEN_ENCVAL => Len::Encoded(first & 0x3f),
            _ => match first {
                LEN_32BIT => {
                    Len::Plain(u32::from_be_bytes(self.take(4)?.try_into().unwrap()) as u64)
                }
                LEN_64BIT => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().unwrap())),
                _ => return corrupt(format!("Unknown length encoding {} in rdbLoadLen()", first)),
            },
        })
    }

    /// A plain length (a special encoding here is corruption).
    pub fn length(&mut self) -> LoadResult<u64> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => corrupt("Unexpected encoded length"),
        }
    }

    /// A count of items that each take at least `min_bytes`: checked against what is left, so
    /// a forged count can't make the caller reserve memory for items that aren't there.
    pub fn count(&mut self, min_bytes: usize) -> LoadResult<usize> {
        let n = self.length()?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(self.short(n.saturating_mul(min_bytes.max(1) as u64)));
        }
        Ok(n as usize)
    }

    /// A string in any of its encodings, as bytes (integers rendered as decimal text).
    pub fn string(&mut self) -> LoadResult<Vec<u8>> {
        match self.len_or_enc()? {
            Len::Plain(n) => {
                if n > self.remaining() as u64 {
                    return Err(self.short(n));
                }
                Ok(self.take(n as usize)?.to_vec())
            }
            Len::Encoded(e) => match e {
                ENC_INT8 | ENC_INT16 | ENC_INT32 => Ok(util::i64_bytes(self.encoded_int(e)?)),
                ENC_LZF => self.lzf(),
                _ => corrupt(format!("Unknown RDB string encoding type {}", e)),
            },
        }
    }

    /// A string that was integer-encoded, as the integer (None for other encodings: the
    /// caller then reads the bytes with `string`). Lets strings load as `int` without a
    /// round trip through text.
    fn encoded_int(&mut self, e: u8) -> LoadResult<i64> {
        Ok(match e {
            ENC_INT8 => self.byte()? as i8 as i64,
            ENC_INT16 => i16::from_le_bytes(self.take(2)?.try_into().unwrap()) as i64,
            _ => i32::from_le_bytes(self.take(4)?.try_into().unwrap()) as i64,
        })
    }

    fn lzf(&mut self) -> LoadResult<Vec<u8>> {
        let clen = self.length()?;
        let len = self.length()?;
        if clen > self.remaining() as u64 {
            return Err(self.short(clen));
        }
        let data = self.take(clen as usize)?;
        // LZF expands at most ~ (2^8+2^3+...)x per back reference; a claimed length far beyond
        // what the compressed bytes could produce is corruption, not an allocation to attempt.
        if len == 0 || len > (clen.saturating_mul(265)).saturating_add(64) {
            return corrupt("Invalid LZF compressed string");
        }
        match crate::lzf::decompress(data, len as usize) {
            Some(v) if v.len() == len as usize => Ok(v),
            _ => corrupt("Invalid LZF compressed string"),
        }
    }

    /// An 8-byte little-endian millisecond time.
    pub fn millis(&mut self) -> LoadResult<i64> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    /// A 4-byte little-endian second time (old EXPIRETIME opcode).
    pub fn seconds(&mut self) -> LoadResult<i32> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    pub fn binary_double(&mut self) -> LoadResult<f64> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    /// A double in the old text form (ZSET type 3): a length byte then the text, with 253, 254
    /// and 255 meaning NaN, +inf and -inf.
    pub fn text_double(&mut self) -> LoadResult<f64> {
        let n = self.byte()?;
        match n {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            _ => {
                let t = self.take(n as usize)?;
                std::str::from_utf8(t)
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .map_or_else(|| corrupt("Invalid double value"), Ok)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::encode::Writer;
    use super::*;

    #[test]
    fn round_trips_lengths_and_strings() {
        let mut w = Writer::new(Vec::new(), false, true);
        let lens = [0u64, 1, 63, 64, 16383, 16384, u32::MAX as u64, 1 << 40];
        for l in lens {
            w.len(l).unwrap();
        }
        let strings: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"0".to_vec(),
            b"-1".to_vec(),
            b"127".to_vec(),
            b"-32768".to_vec(),
            b"2147483647".to_vec(),
            b"-2147483649".to_vec(),
            b"007".to_vec(),
            vec![b'x'; 1000],
            (0..5000u32).map(|i| (i % 251) as u8).collect(),
        ];
        for s in &strings {
            w.string(s).unwrap();
        }
        let buf = w.into_inner();
        let mut r = Reader::new(&buf);
        for l in lens {
            assert_eq!(r.length().unwrap(), l);
        }
        for s in &strings {
            assert_eq!(&r.string().unwrap(), s);
        }
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn truncated_and_forged_input_is_an_error() {
        // A length claiming more bytes than there are.
        assert_eq!(
            Reader::new(&[0x80, 0xff, 0xff, 0xff, 0xff, 1]).string(),
            Err(LoadError::Eof)
        );
        // LZF header with an absurd uncompressed length.
        assert!(Reader::new(&[0xC3, 2, 0x80, 0x7f, 0xff, 0xff, 0xff, 0, 0])
            .string()
            .is_err());
        // Unknown special encoding.
        assert!(Reader::new(&[0xC5]).string().is_err());
        assert_eq!(Reader::new(&[]).byte(), Err(LoadError::Eof));
    }
}
