//! Decoders for the compact encodings of older RDB files, which Redis 7.0 still loads and
//! converts: the ziplist (lists, hashes and sorted sets before 7.0; quicklist nodes before
//! RDB 10) and the zipmap (hashes before 2.6). Both are read fully and checked as they are
//! read (bounds, back-lengths, counts, terminator), so a damaged blob is refused instead of
//! producing wrong data. Types turn the entries into their current encoding (listpack or
//! hashtable) with `to_listpack` or their own builder.
//!
//! Ziplist layout:
//! ```text
//! zlbytes:u32 LE | zltail:u32 LE | zllen:u16 LE | entry* | 0xFF
//! entry := prevlen (1 byte < 254, or 0xFE + u32 LE) | encoding [| data]
//! encoding := 00llllll | 01llllll llllllll (BE) | 0x80 u32 BE   string of that length
//!           | 0xC0 i16 | 0xD0 i32 | 0xE0 i64 | 0xF0 i24 | 0xFE i8  (little-endian)
//!           | 0xF1..=0xFD                                          immediate 0..=12
//! ```
//! Zipmap layout: `count:u8 | (len key len value free:u8 value-padding)* | 0xFF`, where a
//! length is one byte below 254 or 254 followed by a u32 (little-endian).

use crate::types::listpack::Listpack;
use crate::util;

const ZL_HEADER: usize = 10;
const ZL_END: u8 = 0xFF;

/// One ziplist entry's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZlEntry {
    Bytes(Vec<u8>),
    Int(i64),
}

impl ZlEntry {
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            ZlEntry::Bytes(b) => b.clone(),
            ZlEntry::Int(v) => util::i64_bytes(*v),
        }
    }
}

fn u32_le(b: &[u8]) -> usize {
    u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize
}

/// All entries of a ziplist, after checking it as Redis' deep integrity validation does.
/// None when the blob is not a valid ziplist.
pub fn ziplist_entries(zl: &[u8]) -> Option<Vec<ZlEntry>> {
    let size = zl.len();
    if size < ZL_HEADER + 1 || u32_le(&zl[0..4]) != size || zl[size - 1] != ZL_END {
        return None;
    }
    let tail = u32_le(&zl[4..8]);
    if tail > size - 1 {
        return None;
    }
    let header_count = u16::from_le_bytes([zl[8], zl[9]]) as usize;
    let end = size - 1;
    let mut p = ZL_HEADER;
    let mut prev_size = 0usize;
    let mut prev_start = None;
    let mut out = Vec::new();
    while zl[p] != ZL_END {
        let start = p;
        // prevlen
        let (prevlen, plen) = if zl[p] < 254 {
            (zl[p] as usize, 1)
        } else {
            if p + 5 > end {
                return None;
            }
            (u32_le(&zl[p + 1..p + 5]), 5)
        };
        if prevlen != prev_size {
            return None;
        }
        p += plen;
        if p >= end {
            return None;
        }
        let enc = zl[p];
        let (entry, hlen, dlen) = match enc >> 6 {
            0 => (None, 1, (enc & 0x3f) as usize),
            1 => {
                if p + 2 > end {
                    return None;
                }
                (None, 2, (((enc & 0x3f) as usize) << 8) | zl[p + 1] as usize)
            }
            2 => {
                if enc != 0x80 || p + 5 > end {
                    return None;
                }
                (
                    None,
                    5,
                    u32::from_be_bytes(zl[p + 1..p + 5].try_into().unwrap()) as usize,
                )
            }
            _ => {
                let n = match enc {
                    0xC0 => 2,
                    0xD0 => 4,
                    0xE0 => 8,
                    0xF0 => 3,
                    0xFE => 1,
                    0xF1..=0xFD => 0,
                    _ => return None,
                };
                if p + 1 + n > end {
                    return None;
                }
                let d = &zl[p + 1..p + 1 + n];
                let v = match enc {
                    0xC0 => i16::from_le_bytes(d.try_into().unwrap()) as i64,
                    0xD0 => i32::from_le_bytes(d.try_into().unwrap()) as i64,
                    0xE0 => i64::from_le_bytes(d.try_into().unwrap()),
                    0xF0 => (i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8) as i64,
                    0xFE => d[0] as i8 as i64,
                    _ => (enc & 0x0f) as i64 - 1,
                };
                (Some(ZlEntry::Int(v)), 1, n)
            }
        };
        let data_start = p + hlen;
        let next = data_start.checked_add(dlen)?;
        if next > end {
            return None;
        }
        out.push(entry.unwrap_or_else(|| ZlEntry::Bytes(zl[data_start..next].to_vec())));
        prev_size = next - start;
        prev_start = Some(start);
        p = next;
    }
    if p != end {
        return None;
    }
    if let Some(s) = prev_start {
        if s != tail {
            return None;
        }
    }
    if header_count != u16::MAX as usize && out.len() != header_count {
        return None;
    }
    Some(out)
}

/// A listpack with the same entries, in order (how 7.0 converts ziplists it loads).
pub fn to_listpack(entries: &[ZlEntry]) -> Listpack {
    let mut lp = Listpack::new();
    for e in entries {
        lp.append(&e.to_vec());
    }
    lp
}

/// The field/value pairs of a zipmap, checked (bounds, terminator, count when it is below
/// 254, no duplicate fields, at least one pair). None when invalid.
pub fn zipmap_pairs(zm: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if zm.len() < 2 || *zm.last()? != ZL_END {
        return None;
    }
    let declared = zm[0] as usize;
    let mut p = 1;
    let read_len = |p: &mut usize| -> Option<Option<usize>> {
        let b = *zm.get(*p)?;
        match b {
            255 => Some(None),
            254 => {
                let v = zm.get(*p + 1..*p + 5)?;
                *p += 5;
                Some(Some(u32_le(v)))
            }
            _ => {
                *p += 1;
                Some(Some(b as usize))
            }
        }
    };
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while let Some(klen) = read_len(&mut p)? {
        let key = zm.get(p..p.checked_add(klen)?)?.to_vec();
        p += klen;
        let vlen = read_len(&mut p)??;
        let free = *zm.get(p)? as usize;
        p += 1;
        let val = zm.get(p..p.checked_add(vlen)?)?.to_vec();
        p += vlen + free;
        if !seen.insert(key.clone()) {
            return None;
        }
        out.push((key, val));
    }
    // An empty zipmap is corrupt too (no writer ever produced one).
    if p != zm.len() - 1 || out.is_empty() || (declared < 254 && declared != out.len()) {
        return None;
    }
    Some(out)
}

/// Builds a ziplist the way Redis lays it out (for tests, which need old-format payloads).
#[cfg(test)]
pub(crate) fn build(entries: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut last = ZL_HEADER;
    for e in entries {
        let start = body.len();
        last = ZL_HEADER + start;
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(0xFE);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match util::parse_i64(e).filter(|v| util::i64_bytes(*v) == *e) {
            Some(v) if (0..=12).contains(&v) => body.push(0xF1 + v as u8),
            Some(v) if i8::try_from(v).is_ok() => {
                body.push(0xFE);
                body.push(v as i8 as u8);
            }
            Some(v) if i16::try_from(v).is_ok() => {
                body.push(0xC0);
                body.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) => {
                body.push(0xE0);
                body.extend_from_slice(&v.to_le_bytes());
            }
            None if e.len() < 64 => {
                body.push(e.len() as u8);
                body.extend_from_slice(e);
            }
            None => {
                body.push(0x40 | (e.len() >> 8) as u8);
                body.push(e.len() as u8);
                body.extend_from_slice(e);
            }
        }
        prev = body.len() - start;
    }
    let total = ZL_HEADER + body.len() + 1;
    let mut zl = Vec::new();
    zl.extend_from_slice(&(total as u32).to_le_bytes());
    zl.extend_from_slice(&(last as u32).to_le_bytes());
    zl.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    zl.extend_from_slice(&body);
    zl.push(ZL_END);
    zl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_entry_encoding() {
        let long = vec![b'x'; 300];
        let entries: Vec<&[u8]> = vec![b"a", b"7", b"-100", b"30000", b"9999999999", &long, b""];
        let zl = build(&entries);
        let got = ziplist_entries(&zl).unwrap();
        let as_bytes: Vec<Vec<u8>> = got.iter().map(ZlEntry::to_vec).collect();
        assert_eq!(
            as_bytes,
            entries.iter().map(|e| e.to_vec()).collect::<Vec<_>>()
        );
        let lp = to_listpack(&got);
        assert_eq!(lp.len(), entries.len());
    }

    #[test]
    fn damaged_ziplists_are_refused() {
        let zl = build(&[b"a", b"b", b"c"]);
        // Every truncation, and every single-byte change of the header or the back-lengths.
        for n in 0..zl.len() {
            assert!(ziplist_entries(&zl[..n]).is_none());
        }
        for i in [0usize, 4, 8, 10, 13] {
            let mut bad = zl.clone();
            bad[i] ^= 0x01;
            assert!(ziplist_entries(&bad).is_none(), "byte {i}");
        }
    }

    #[test]
    fn zipmaps_decode_and_reject_duplicates() {
        // count 2: "a" -> "1" (1 byte of free space), "bb" -> "" ; end.
        let zm = [2u8, 1, b'a', 1, 1, b'1', 0, 2, b'b', b'b', 0, 0, 0xFF];
        assert_eq!(
            zipmap_pairs(&zm).unwrap(),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"bb".to_vec(), b"".to_vec())
            ]
        );
        let dup = [2u8, 1, b'a', 1, 0, b'1', 1, b'a', 1, 0, b'2', 0xFF];
        assert!(zipmap_pairs(&dup).is_none());
        assert!(zipmap_pairs(&zm[..zm.len() - 1]).is_none());
    }

    /// Walks an RDB file of Redis' test assets (written by Redis 2.x-7.0) and renders every
    /// value as text, decoding the old compact encodings with this module.
    fn walk(file: &[u8]) -> Vec<(String, Vec<String>)> {
        use crate::rdb::decode::Reader;
        use crate::rdb::{opcode, types};
        let txt = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut r = Reader::new(file);
        assert_eq!(&r.take(5).unwrap(), b"REDIS");
        r.take(4).unwrap();
        let mut out = Vec::new();
        loop {
            let t = r.byte().unwrap();
            match t {
                opcode::EOF => break,
                opcode::SELECTDB => {
                    r.length().unwrap();
                    continue;
                }
                opcode::RESIZEDB => {
                    r.length().unwrap();
                    r.length().unwrap();
                    continue;
                }
                opcode::AUX => {
                    r.string().unwrap();
                    r.string().unwrap();
                    continue;
                }
                opcode::EXPIRETIME_MS => {
                    r.millis().unwrap();
                    continue;
                }
                _ => {}
            }
            let key = txt(&r.string().unwrap());
            let vals: Vec<String> = match t {
                types::STRING => vec![txt(&r.string().unwrap())],
                types::LIST | types::SET => {
                    let n = r.length().unwrap();
                    (0..n).map(|_| txt(&r.string().unwrap())).collect()
                }
                types::HASH => {
                    let n = r.length().unwrap();
                    (0..n * 2).map(|_| txt(&r.string().unwrap())).collect()
                }
                types::ZSET => {
                    let n = r.length().unwrap();
                    let mut v = Vec::new();
                    for _ in 0..n {
                        v.push(txt(&r.string().unwrap()));
                        v.push(r.text_double().unwrap().to_string());
                    }
                    v
                }
                types::SET_INTSET => {
                    let is =
                        crate::types::set::IntSet::from_bytes(r.string().unwrap(), true).unwrap();
                    is.iter().map(|v| v.to_string()).collect()
                }
                types::HASH_ZIPMAP => zipmap_pairs(&r.string().unwrap())
                    .unwrap()
                    .into_iter()
                    .flat_map(|(k, v)| [txt(&k), txt(&v)])
                    .collect(),
                types::LIST_ZIPLIST | types::ZSET_ZIPLIST | types::HASH_ZIPLIST => {
                    ziplist_entries(&r.string().unwrap())
                        .unwrap()
                        .iter()
                        .map(|e| txt(&e.to_vec()))
                        .collect()
                }
                types::LIST_QUICKLIST => {
                    let nodes = r.length().unwrap();
                    let mut v = Vec::new();
                    for _ in 0..nodes {
                        let zl = r.string().unwrap();
                        v.extend(
                            ziplist_entries(&zl)
                                .unwrap()
                                .iter()
                                .map(|e| txt(&e.to_vec())),
                        );
                    }
                    v
                }
                other => panic!("unexpected type {other}"),
            };
            out.push((key, vals));
        }
        out
    }

    fn find<'a>(all: &'a [(String, Vec<String>)], key: &str) -> &'a [String] {
        &all.iter().find(|(k, _)| k == key).unwrap().1
    }

    /// An RDB file of upstream's test suite (tests/assets), which holds files written by old
    /// Redis versions with encodings 7.0 no longer writes. The tree is found through REDIS_SRC
    /// (scripts/test-all sets it) or fetch-redis-source's default cache.
    fn upstream_asset(name: &str) -> Vec<u8> {
        let root = std::env::var_os("REDIS_SRC")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                let cache = std::env::var_os("XDG_CACHE_HOME")
                    .map(std::path::PathBuf::from)
                    .unwrap_or_else(|| {
                        std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                            .join(".cache")
                    });
                cache.join("ferrodis/redis-7.0.15")
            });
        let path = root.join("tests/assets").join(name);
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; fetch upstream's tree with tests/tcl-compat/fetch-redis-source",
                path.display()
            )
        })
    }

    #[test]
    fn redis_test_assets_decode_to_their_known_contents() {
        let enc = walk(&upstream_asset("encodings.rdb"));
        assert_eq!(
            find(&enc, "list_zipped"),
            ["1", "2", "3", "a", "b", "c", "100000", "6000000000"]
        );
        assert_eq!(find(&enc, "hash_zipped"), ["a", "1", "b", "2", "c", "3"]);
        assert_eq!(find(&enc, "zset_zipped"), ["a", "1", "b", "2", "c", "3"]);
        assert_eq!(find(&enc, "set_zipped_3").len(), 6);
        assert_eq!(find(&enc, "list").len(), 24);
        let zm = walk(&upstream_asset("hash-zipmap.rdb"));
        assert_eq!(find(&zm, "hash"), ["f1", "v1", "f2", "v2"]);
        let hz = walk(&upstream_asset("hash-ziplist.rdb"));
        assert_eq!(find(&hz, "hash"), ["f1", "v1", "f2", "v2"]);
        let zz = walk(&upstream_asset("zset-ziplist.rdb"));
        assert_eq!(find(&zz, "zset"), ["one", "1", "two", "2"]);
        let lq = walk(&upstream_asset("list-quicklist.rdb"));
        assert_eq!(find(&lq, "list"), ["7"]);
        assert_eq!(find(&lq, "x"), ["7"]);
    }
}
