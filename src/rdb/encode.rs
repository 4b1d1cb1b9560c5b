//! The RDB writer: length prefixes, the string encodings (integers, LZF, raw) chosen exactly as
//! Redis chooses them (so DUMP payloads and files are byte-identical for the same values), and
//! the running CRC-64. Works over any `io::Write`: a file for snapshots, a Vec for DUMP, a
//! counting sink for `DEBUG OBJECT`'s serializedlength.

use std::io::{self, Write};

use super::*;
use crate::util;

pub struct Writer<W: Write> {
    out: W,
    /// Running checksum, None when `rdbchecksum no` (the trailer is then zero).
    crc: Option<u64>,
    compression: bool,
    /// Bytes written so far.
    pub written: u64,
}

/// A sink that only counts (for serialized lengths).
pub struct Counter;

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The integer a string can be saved as: its canonical decimal form of at most 11 bytes.
pub fn try_integer(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 11 {
        return None;
    }
    util::parse_i64(b).filter(|v| util::i64_bytes(*v) == b)
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, checksum: bool, compression: bool) -> Self {
        Writer {
            out,
            crc: checksum.then_some(0),
            compression,
            written: 0,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Whether strings are LZF-compressed (`rdbcompression`).
    pub fn compression(&self) -> bool {
        self.compression
    }

    pub fn checksum(&self) -> u64 {
        self.crc.unwrap_or(0)
    }

    pub fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        if let Some(c) = self.crc.as_mut() {
            *c = crc64::update(*c, b);
        }
        self.written += b.len() as u64;
        self.out.write_all(b)
    }

    pub fn byte(&mut self, b: u8) -> io::Result<()> {
        self.raw(&[b])
    }

    /// A length prefix in its shortest form.
    pub fn len(&mut self, len: u64) -> io::Result<()> {
        if len < 1 << 6 {
            self.byte((LEN_6BIT << 6) | len as u8)
        } else if len < 1 << 14 {
            self.raw(&[(LEN_14BIT << 6) | (len >> 8) as u8, len as u8])
        } else if len <= u32::MAX as u64 {
            self.byte(LEN_32BIT)?;
            self.raw(&(len as u32).to_be_bytes())
        } else {
            self.byte(LEN_64BIT)?;
            self.raw(&len.to_be_bytes())
        }
    }

    /// An integer in the smallest special encoding that holds it; false if none does.
    fn encoded_int(&mut self, v: i64) -> io::Result<bool> {
        let enc = 0xC0;
        if (i8::MIN as i64..=i8::MAX as i64).contains(&v) {
            self.raw(&[enc | ENC_INT8, v as u8])?;
        } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
            let b = (v as i16).to_le_bytes();
            self.raw(&[enc | ENC_INT16, b[0], b[1]])?;
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            self.byte(enc | ENC_INT32)?;
            self.raw(&(v as i32).to_le_bytes())?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// A string as Redis' `rdbSaveRawString` writes it: short canonical integers as integers,
    /// strings over 20 bytes LZF-compressed when compression is on and it saves at least 4
    /// bytes, otherwise length + bytes.
    pub fn string(&mut self, b: &[u8]) -> io::Result<()> {
        if let Some(v) = try_integer(b) {
            if self.encoded_int(v)? {
                return Ok(());
            }
        }
        if self.compression && b.len() > 20 {
            if let Some(c) = crate::lzf::compress(b, b.len() - 4) {
                self.byte(0xC0 | ENC_LZF)?;
                self.len(c.len() as u64)?;
                self.len(b.len() as u64)?;
                return self.raw(&c);
            }
        }
        self.len(b.len() as u64)?;
        self.raw(b)
    }

    /// An integer value as a string (`rdbSaveLongLongAsStringObject`): the integer encodings
    /// when it fits 32 bits, else its decimal text, never compressed.
    pub fn int_string(&mut self, v: i64) -> io::Result<()> {
        if self.encoded_int(v)? {
            return Ok(());
        }
        let s = util::i64_bytes(v);
        self.len(s.len() as u64)?;
        self.raw(&s)
    }

    /// An 8-byte little-endian millisecond time.
    pub fn millis(&mut self, ms: i64) -> io::Result<()> {
        self.raw(&ms.to_le_bytes())
    }

    /// A double in binary form (IEEE 754, little-endian), as ZSET_2 scores are stored.
    pub fn binary_double(&mut self, v: f64) -> io::Result<()> {
        self.raw(&v.to_le_bytes())
    }

    /// An AUX field whose value is text.
    pub fn aux(&mut self, key: &str, val: &[u8]) -> io::Result<()> {
        self.byte(opcode::AUX)?;
        self.string(key.as_bytes())?;
        self.string(val)
    }

    /// An AUX field whose value is an integer (written as a string, so integer-encoded when it
    /// fits, like Redis' `rdbSaveAuxFieldStrInt`).
    pub fn aux_int(&mut self, key: &str, v: i64) -> io::Result<()> {
        self.aux(key, &util::i64_bytes(v))
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Writer<Vec<u8>>) -> io::Result<()>) -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), false, true);
        f(&mut w).unwrap();
        w.into_inner()
    }

    #[test]
    fn lengths_use_the_shortest_form() {
        assert_eq!(enc(|w| w.len(10)), [10]);
        assert_eq!(enc(|w| w.len(63)), [63]);
        assert_eq!(enc(|w| w.len(64)), [0x40, 64]);
        assert_eq!(enc(|w| w.len(16383)), [0x7f, 0xff]);
        assert_eq!(enc(|w| w.len(16384)), [0x80, 0, 0, 0x40, 0]);
        assert_eq!(enc(|w| w.len(1 << 32)), [0x81, 0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn strings_pick_redis_encodings() {
        assert_eq!(enc(|w| w.string(b"12")), [0xC0, 12]);
        assert_eq!(enc(|w| w.string(b"-200")), [0xC1, 0x38, 0xff]);
        assert_eq!(enc(|w| w.string(b"100000")), [0xC2, 0xa0, 0x86, 1, 0]);
        // Not canonical, or too long for the integer forms: a plain string.
        assert_eq!(enc(|w| w.string(b"012")), [3, b'0', b'1', b'2']);
        assert_eq!(enc(|w| w.string(b"12345678901")), {
            let mut v = vec![11];
            v.extend_from_slice(b"12345678901");
            v
        });
        // Compressible and over 20 bytes.
        let s = vec![b'a'; 100];
        let out = enc(|w| w.string(&s));
        assert_eq!(out[0], 0xC3);
        assert!(out.len() < 20);
        // Integers beyond 32 bits as text.
        assert_eq!(enc(|w| w.int_string(1 << 40)), {
            let mut v = vec![13];
            v.extend_from_slice(b"1099511627776");
            v
        });
    }
}
