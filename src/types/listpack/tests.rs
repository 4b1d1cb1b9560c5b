//! Listpack tests: encodings at their boundaries, golden bytes taken from Redis 7.0.15 DUMP
//! payloads, model-based property tests and a never-panics check for the validator.

use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A listpack holding exactly `v`, checked for byte layout of the single entry.
fn single(v: &[u8]) -> Listpack {
    let mut lp = Listpack::new();
    lp.append(v);
    assert!(Listpack::validate_integrity(lp.as_bytes(), true));
    lp
}

/// The entry bytes (without header/terminator) of a one-element listpack.
fn entry_bytes(v: &[u8]) -> Vec<u8> {
    let lp = single(v);
    lp.as_bytes()[HDR_SIZE..lp.bytes_len() - 1].to_vec()
}

#[test]
fn empty() {
    let lp = Listpack::new();
    assert_eq!(lp.as_bytes(), &[7, 0, 0, 0, 0, 0, 0xFF]);
    assert_eq!(lp.len(), 0);
    assert!(lp.first().is_none() && lp.last().is_none() && lp.seek(0).is_none());
    assert!(Listpack::validate_integrity(lp.as_bytes(), true));
}

#[test]
fn int_encodings_at_boundaries() {
    let cases: &[(i64, &[u8])] = &[
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0xC0, 0x80]),
        (-1, &[0xDF, 0xFF]),
        (4095, &[0xCF, 0xFF]),
        (-4096, &[0xD0, 0x00]),
        (4096, &[0xF1, 0x00, 0x10]),
        (-4097, &[0xF1, 0xFF, 0xEF]),
        (32767, &[0xF1, 0xFF, 0x7F]),
        (-32768, &[0xF1, 0x00, 0x80]),
        (32768, &[0xF2, 0x00, 0x80, 0x00]),
        (-32769, &[0xF2, 0xFF, 0x7F, 0xFF]),
        (8388607, &[0xF2, 0xFF, 0xFF, 0x7F]),
        (-8388608, &[0xF2, 0x00, 0x00, 0x80]),
        (8388608, &[0xF3, 0x00, 0x00, 0x80, 0x00]),
        (i32::MIN as i64, &[0xF3, 0x00, 0x00, 0x00, 0x80]),
        (i32::MAX as i64 + 1, &[0xF4, 0, 0, 0, 0x80, 0, 0, 0, 0]),
        (i64::MIN, &[0xF4, 0, 0, 0, 0, 0, 0, 0, 0x80]),
        (
            i64::MAX,
            &[0xF4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
        ),
    ];
    for &(v, enc) in cases {
        let s = v.to_string();
        let mut want = enc.to_vec();
        want.push(enc.len() as u8);
        assert_eq!(entry_bytes(s.as_bytes()), want, "encoding of {v}");
        let lp = single(s.as_bytes());
        assert_eq!(lp.get(lp.first().unwrap()), Entry::Int(v));
    }
}

#[test]
fn non_canonical_integers_stay_strings() {
    for s in [
        "01",
        "-0",
        "+1",
        " 1",
        "1 ",
        "-",
        "",
        "9223372036854775808",
        "-9223372036854775809",
        "1.0",
        "00",
    ] {
        let lp = single(s.as_bytes());
        assert_eq!(
            lp.get(lp.first().unwrap()),
            Entry::Str(s.as_bytes()),
            "{s:?}"
        );
    }
}

#[test]
fn string_encodings_at_boundaries() {
    for (len, hdr) in [
        (0usize, vec![0x80]),
        (63, vec![0xBF]),
        (64, vec![0xE0, 0x40]),
        (4095, vec![0xEF, 0xFF]),
        (4096, vec![0xF0, 0x00, 0x10, 0x00, 0x00]),
    ] {
        let s = vec![b'x'; len];
        let e = entry_bytes(&s);
        assert_eq!(&e[..hdr.len()], &hdr[..], "header for len {len}");
        assert_eq!(&e[hdr.len()..hdr.len() + len], &s[..]);
        let size = hdr.len() + len;
        let mut bl = Vec::new();
        push_backlen(&mut bl, size);
        assert_eq!(&e[hdr.len() + len..], &bl[..]);
        let lp = single(&s);
        assert_eq!(lp.get(lp.first().unwrap()), Entry::Str(&s[..]));
        assert_eq!(lp.get(lp.last().unwrap()), Entry::Str(&s[..]));
    }
}

#[test]
fn backlen_boundaries() {
    let cases: &[(usize, &[u8])] = &[
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0x01, 0x80]),
        (16382, &[0x7F, 0xFE]),
        (16383, &[0x00, 0xFF, 0xFF]),
        (2097150, &[0x7F, 0xFF, 0xFE]),
        (2097151, &[0x00, 0xFF, 0xFF, 0xFF]),
        (268435454, &[0x7F, 0xFF, 0xFF, 0xFE]),
        (268435455, &[0x00, 0xFF, 0xFF, 0xFF, 0xFF]),
    ];
    for &(l, want) in cases {
        let mut out = Vec::new();
        push_backlen(&mut out, l);
        assert_eq!(out, want, "backlen {l}");
        assert_eq!(backlen_size(l), want.len());
        assert_eq!(decode_backlen(&out, out.len() - 1), Some(l));
    }
    // Six continuation groups are corrupt.
    assert_eq!(decode_backlen(&[0x80; 6], 5), None);
    assert_eq!(decode_backlen(&[0x80, 0x80], 1), None);
}

#[test]
fn large_strings_walk_both_ways() {
    // Entries big enough for 3-byte back-lengths.
    let mut lp = Listpack::new();
    let big = vec![b'a'; 20000];
    lp.append(b"x");
    lp.append(&big);
    lp.append(b"y");
    assert!(Listpack::validate_integrity(lp.as_bytes(), true));
    let l = lp.last().unwrap();
    assert_eq!(lp.get(l), Entry::Str(b"y"));
    let m = lp.prev(l).unwrap();
    assert_eq!(lp.get(m), Entry::Str(&big[..]));
    assert_eq!(lp.get(lp.prev(m).unwrap()), Entry::Str(b"x"));
}

/// Redis 7.0.15: `HSET h a 1 b 127 c 128 d -1 e 4095 f -4096 g 4096 h -4097 i 32767 j 32768
/// k -32768 l 8388607 m 8388608 n 2147483647 o 2147483648 p -9223372036854775808 q 01 r -0 s ""`
/// then `DUMP h` (rdbcompression no): the payload is 0x10 (hash listpack), a 14-bit length
/// 0x40 0x94 (148), then these listpack bytes.
const GOLDEN_HASH: &str = "9400000026008161020101816202\
7f01816302c08002816402dfff02816502cfff02816602d00002816702f1001003816802f1ffef03816902f1ff7f\
03816a02f200800004816b02f1008003816c02f2ffff7f04816d02f30000800005816e02f3ffffff7f05816f02f4\
000000800000000009817002f400000000000000800981710282303103817202822d30038173028001ff";

#[test]
fn golden_hash_with_integers() {
    let pairs: &[(&str, &str)] = &[
        ("a", "1"),
        ("b", "127"),
        ("c", "128"),
        ("d", "-1"),
        ("e", "4095"),
        ("f", "-4096"),
        ("g", "4096"),
        ("h", "-4097"),
        ("i", "32767"),
        ("j", "32768"),
        ("k", "-32768"),
        ("l", "8388607"),
        ("m", "8388608"),
        ("n", "2147483647"),
        ("o", "2147483648"),
        ("p", "-9223372036854775808"),
        ("q", "01"),
        ("r", "-0"),
        ("s", ""),
    ];
    let mut lp = Listpack::new();
    for (f, v) in pairs {
        lp.append(f.as_bytes());
        lp.append(v.as_bytes());
    }
    let golden = hex(GOLDEN_HASH);
    assert_eq!(lp.as_bytes(), &golden[..]);
    let back = Listpack::from_bytes(golden).unwrap();
    assert_eq!(back.len(), 38);
    let strings: Vec<Vec<u8>> = back.iter().map(|e| e.to_vec()).collect();
    let want: Vec<Vec<u8>> = pairs
        .iter()
        .flat_map(|(f, v)| [f.as_bytes().to_vec(), v.as_bytes().to_vec()])
        .collect();
    assert_eq!(strings, want);
}

#[test]
fn golden_string_boundaries() {
    // Redis 7.0.15, `HSET h2 x <63 x's> y <64 y's>`, DUMP without compression.
    let mut want = hex("910000000400817802bf");
    want.extend(std::iter::repeat_n(b'x', 63));
    want.extend(hex("40817902e040"));
    want.extend(std::iter::repeat_n(b'y', 64));
    want.extend(hex("42ff"));
    let mut lp = Listpack::new();
    lp.append(b"x");
    lp.append(&[b'x'; 63]);
    lp.append(b"y");
    lp.append(&[b'y'; 64]);
    assert_eq!(lp.as_bytes(), &want[..]);

    // Redis 7.0.15, hash-max-listpack-value 10000, `HSET h3 z <4095 z's> w <4096 w's>`.
    let mut want = hex("172000000400817a02efff");
    want.extend(std::iter::repeat_n(b'z', 4095));
    want.extend(hex("2081817702f000100000"));
    want.extend(std::iter::repeat_n(b'w', 4096));
    want.extend(hex("2085ff"));
    let mut lp = Listpack::new();
    lp.append(b"z");
    lp.append(&[b'z'; 4095]);
    lp.append(b"w");
    lp.append(&[b'w'; 4096]);
    assert_eq!(lp.bytes_len(), 0x2017);
    assert_eq!(lp.as_bytes(), &want[..]);
    assert!(Listpack::from_bytes(want).is_some());
}

#[test]
fn golden_wide_integers() {
    // Redis 7.0.15: `HSET n a -8388608 b -8388609 c -2147483648 d -2147483649
    // e 9223372036854775807 f -32769 g 4294967296`, DUMP payload after "10 40 50".
    let golden = hex(
        "500000000e00816102f200008004816202f3ffff7fff05816302f30000008005816402f4ffffff7f\
         ffffffff09816502f4ffffffffffffff7f09816602f2ff7fff04816702f4000000000100000009ff",
    );
    let mut lp = Listpack::new();
    for (f, v) in [
        ("a", "-8388608"),
        ("b", "-8388609"),
        ("c", "-2147483648"),
        ("d", "-2147483649"),
        ("e", "9223372036854775807"),
        ("f", "-32769"),
        ("g", "4294967296"),
    ] {
        lp.append(f.as_bytes());
        lp.append(v.as_bytes());
    }
    assert_eq!(lp.as_bytes(), &golden[..]);
    let back = Listpack::from_bytes(golden).unwrap();
    assert_eq!(back.get(back.seek(3).unwrap()), Entry::Int(-8388609));
    assert_eq!(back.get(back.seek(-1).unwrap()), Entry::Int(4294967296));
}

/// FNV-1a, to compare a large listpack with Redis' bytes without embedding them.
fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100000001b3)
    })
}

#[test]
fn golden_unknown_count_header() {
    // Redis 7.0.15 with hash-max-listpack-entries 100000: HSET big f0 -1000 f1 -993 ...
    // f39999 (i*7-1000): 80000 entries, so the header count reads 65535 ("unknown").
    // Length, first bytes and FNV-1a of the listpack inside its DUMP payload:
    let mut lp = Listpack::new();
    for i in 0..40000i64 {
        lp.append(format!("f{i}").as_bytes());
        lp.append((i * 7 - 1000).to_string().as_bytes());
    }
    assert_eq!(lp.bytes_len(), 503326);
    assert_eq!(
        &lp.as_bytes()[..16],
        &hex("1eae0700ffff82663003dc1802826631")[..]
    );
    assert_eq!(fnv1a(lp.as_bytes()), 0x5c9366d47a47d61a);
    assert_eq!(lp.len(), 80000);
    let back = Listpack::from_bytes(lp.as_bytes().to_vec()).unwrap();
    assert_eq!(back.len(), 80000);
    let p = back.first().unwrap();
    assert_eq!(back.find(p, b"f39999", 1), back.seek(-2));
    assert_eq!(back.find(p, b"-993", 1), None);
    let v = back.find(back.next(p).unwrap(), b"-993", 1).unwrap();
    assert_eq!(back.get(v), Entry::Int(-993));
}

#[test]
fn navigation_seek_and_find() {
    let mut lp = Listpack::new();
    for v in ["f1", "1", "f2", "v2", "1", "x"] {
        lp.append(v.as_bytes());
    }
    assert_eq!(lp.get(lp.seek(0).unwrap()), Entry::Str(b"f1"));
    assert_eq!(lp.get(lp.seek(-1).unwrap()), Entry::Str(b"x"));
    assert_eq!(lp.get(lp.seek(-6).unwrap()), Entry::Str(b"f1"));
    assert_eq!(lp.get(lp.seek(4).unwrap()), Entry::Int(1));
    assert!(lp.seek(6).is_none() && lp.seek(-7).is_none());
    let first = lp.first().unwrap();
    // skip = 1 compares only even positions (hash fields): "1" at index 1 is a value, the one
    // at index 4 is a field.
    assert_eq!(lp.find(first, b"1", 1), lp.seek(4));
    assert_eq!(lp.find(first, b"1", 0), lp.seek(1));
    // Integer entries match only the canonical spelling.
    assert_eq!(lp.find(first, b"01", 0), None);
    assert_eq!(lp.find(first, b"v2", 1), None);
    assert_eq!(lp.find(lp.seek(3).unwrap(), b"v2", 1), lp.seek(3));
}

#[test]
fn header_count_unknown_past_u16() {
    let mut lp = Listpack::new();
    for _ in 0..65535 {
        lp.append(b"1");
    }
    assert_eq!(&lp.as_bytes()[4..6], &[0xFF, 0xFF]);
    assert_eq!(lp.len(), 65535);
    lp.append(b"1");
    assert_eq!(lp.len(), 65536);
    let back = Listpack::from_bytes(lp.as_bytes().to_vec()).unwrap();
    assert_eq!(back.len(), 65536);
    let p = lp.seek(-2).unwrap();
    lp.delete_range(p, 2);
    assert_eq!(lp.len(), 65534);
    assert_eq!(&lp.as_bytes()[4..6], &65534u16.to_le_bytes());
}

#[test]
fn validate_rejects_corruption() {
    let good = hex(GOLDEN_HASH);
    assert!(Listpack::validate_integrity(&good, true));
    // Too short, wrong total, missing terminator.
    assert!(!Listpack::validate_integrity(&good[..6], false));
    assert!(!Listpack::validate_integrity(
        &good[..good.len() - 1],
        false
    ));
    let mut b = good.clone();
    *b.last_mut().unwrap() = 0;
    assert!(!Listpack::validate_integrity(&b, false));
    // Wrong header count: shallow passes, deep fails.
    let mut b = good.clone();
    b[4] = 37;
    assert!(Listpack::validate_integrity(&b, false));
    assert!(!Listpack::validate_integrity(&b, true));
    // Unknown count is accepted.
    b[4] = 0xFF;
    b[5] = 0xFF;
    assert!(Listpack::validate_integrity(&b, true));
    // Bad back-length of the first entry.
    let mut b = good.clone();
    b[HDR_SIZE + 2] = 3;
    assert!(!Listpack::validate_integrity(&b, true));
    // Invalid encoding byte.
    let mut b = good.clone();
    b[HDR_SIZE] = 0xF5;
    assert!(!Listpack::validate_integrity(&b, true));
    // A string length running past the end.
    let b = [12, 0, 0, 0, 1, 0, 0xF0, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF];
    assert!(!Listpack::validate_integrity(&b, true));
    // Premature terminator inside the entries.
    let b = [9, 0, 0, 0, 0, 0, 0xFF, 0x01, 0xFF];
    assert!(!Listpack::validate_integrity(&b, true));
}

// ---- property tests ------------------------------------------------------------------------

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        (-5000i64..5000).prop_map(|v| v.to_string().into_bytes()),
        prop::sample::select(vec![
            "01", "-0", "+1", "-", "", "127", "128", "-4096", "-4097", "32768", "8388608"
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..80),
        (60usize..70, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
        (4090usize..4100, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>),
    Prepend(Vec<u8>),
    InsertBefore(usize, Vec<u8>),
    InsertAfter(usize, Vec<u8>),
    Replace(usize, Vec<u8>),
    Delete(usize),
    DeleteRange(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        value().prop_map(Op::Append),
        value().prop_map(Op::Prepend),
        (any::<usize>(), value()).prop_map(|(i, v)| Op::InsertBefore(i, v)),
        (any::<usize>(), value()).prop_map(|(i, v)| Op::InsertAfter(i, v)),
        (any::<usize>(), value()).prop_map(|(i, v)| Op::Replace(i, v)),
        any::<usize>().prop_map(Op::Delete),
        (any::<usize>(), 0usize..5).prop_map(|(i, n)| Op::DeleteRange(i, n)),
    ]
}

/// What reading back `v` must give.
fn model_entry(v: &[u8]) -> Entry<'_> {
    match parse_i64(v) {
        Some(i) => Entry::Int(i),
        None => Entry::Str(v),
    }
}

/// Expected serialised size of an entry, computed from the format table independently of
/// the encoder.
fn model_entry_size(v: &[u8]) -> usize {
    let enc = match parse_i64(v) {
        Some(i) if (0..=127).contains(&i) => 1,
        Some(i) if (-4096..=4095).contains(&i) => 2,
        Some(i) if (-32768..=32767).contains(&i) => 3,
        Some(i) if (-(1 << 23)..(1 << 23)).contains(&i) => 4,
        Some(i) if (i32::MIN as i64..=i32::MAX as i64).contains(&i) => 5,
        Some(_) => 9,
        None if v.len() < 64 => 1 + v.len(),
        None if v.len() < 4096 => 2 + v.len(),
        None => 5 + v.len(),
    };
    enc + if enc < 128 { 1 } else { 2 }
}

fn check(lp: &Listpack, model: &[Vec<u8>]) -> Result<(), TestCaseError> {
    prop_assert_eq!(lp.len(), model.len());
    let got: Vec<Entry> = lp.iter().collect();
    let want: Vec<Entry> = model.iter().map(|v| model_entry(v)).collect();
    prop_assert_eq!(&got, &want);
    // Backwards walk sees the same elements.
    let mut back = Vec::new();
    let mut p = lp.last();
    while let Some(q) = p {
        back.push(lp.get(q));
        p = lp.prev(q);
    }
    back.reverse();
    prop_assert_eq!(&back, &want);
    let size: usize = HDR_SIZE + 1 + model.iter().map(|v| model_entry_size(v)).sum::<usize>();
    prop_assert_eq!(lp.bytes_len(), size);
    let b = lp.as_bytes();
    prop_assert_eq!(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, size);
    prop_assert_eq!(u16::from_le_bytes([b[4], b[5]]) as usize, model.len());
    prop_assert!(Listpack::validate_integrity(b, true));
    for (i, v) in model.iter().enumerate() {
        let j = model
            .iter()
            .position(|w| model_entry(w) == model_entry(v))
            .unwrap();
        prop_assert_eq!(lp.find(lp.first().unwrap(), v, 0), lp.seek(j as i64));
        prop_assert_eq!(lp.seek(i as i64 - model.len() as i64), lp.seek(i as i64));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_vec_model(ops in prop::collection::vec(op(), 1..40)) {
        let mut lp = Listpack::new();
        let mut model: Vec<Vec<u8>> = Vec::new();
        for op in ops {
            let n = model.len();
            match op {
                Op::Append(v) => { lp.append(&v); model.push(v); }
                Op::Prepend(v) => { lp.prepend(&v); model.insert(0, v); }
                Op::InsertBefore(i, v) if n > 0 => {
                    let i = i % n;
                    let p = lp.insert_before(lp.seek(i as i64).unwrap(), &v);
                    prop_assert_eq!(p, lp.seek(i as i64).unwrap());
                    model.insert(i, v);
                }
                Op::InsertAfter(i, v) if n > 0 => {
                    let i = i % n;
                    let p = lp.insert_after(lp.seek(i as i64).unwrap(), &v);
                    prop_assert_eq!(p, lp.seek(i as i64 + 1).unwrap());
                    model.insert(i + 1, v);
                }
                Op::Replace(i, v) if n > 0 => {
                    let i = i % n;
                    lp.replace(lp.seek(i as i64).unwrap(), &v);
                    model[i] = v;
                }
                Op::Delete(i) if n > 0 => {
                    let i = i % n;
                    let next = lp.delete(lp.seek(i as i64).unwrap());
                    model.remove(i);
                    prop_assert_eq!(next, lp.seek(i as i64));
                }
                Op::DeleteRange(i, k) if n > 0 => {
                    let i = i % n;
                    let next = lp.delete_range(lp.seek(i as i64).unwrap(), k);
                    model.drain(i..(i + k).min(n));
                    prop_assert_eq!(next, lp.seek(i as i64));
                }
                _ => {}
            }
            check(&lp, &model)?;
        }
        // Round trip through raw bytes.
        let back = Listpack::from_bytes(lp.as_bytes().to_vec()).unwrap();
        prop_assert_eq!(back, lp);
    }

    #[test]
    fn find_with_skip_matches_model(
        vals in prop::collection::vec(value(), 0..30),
        needle in value(),
        skip in 0usize..3,
    ) {
        let mut lp = Listpack::new();
        for v in &vals {
            lp.append(v);
        }
        let want = (0..vals.len())
            .step_by(skip + 1)
            .find(|&i| model_entry(&vals[i]) == model_entry(&needle));
        let got = lp.first().and_then(|p| lp.find(p, &needle, skip));
        prop_assert_eq!(got, want.and_then(|i| lp.seek(i as i64)));
    }

    #[test]
    fn validate_never_panics_on_random_bytes(
        mut bytes in prop::collection::vec(any::<u8>(), 0..64),
        fix_header in any::<bool>(),
    ) {
        if fix_header && bytes.len() >= 7 {
            let n = bytes.len() as u32;
            bytes[0..4].copy_from_slice(&n.to_le_bytes());
            *bytes.last_mut().unwrap() = 0xFF;
        }
        exercise(bytes);
    }

    #[test]
    fn validate_never_panics_on_mutated_listpacks(
        vals in prop::collection::vec(value(), 0..8),
        muts in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<Option<usize>>(),
    ) {
        let mut lp = Listpack::new();
        for v in &vals {
            lp.append(v);
        }
        let mut bytes = lp.as_bytes().to_vec();
        for (i, b) in muts {
            // Keep the total-size header right most of the time so the deep checks run.
            let i = HDR_SIZE.min(bytes.len()) + i % (bytes.len() - HDR_SIZE.min(bytes.len())).max(1);
            if i < bytes.len() {
                bytes[i] = b;
            }
        }
        if let Some(c) = cut {
            bytes.truncate(c % (bytes.len() + 1));
            if bytes.len() >= 7 {
                let n = bytes.len() as u32;
                bytes[0..4].copy_from_slice(&n.to_le_bytes());
            }
        }
        exercise(bytes);
    }
}

/// Validates arbitrary bytes; whatever is accepted must then be fully walkable both ways.
fn exercise(bytes: Vec<u8>) {
    let shallow = Listpack::validate_integrity(&bytes, false);
    let deep = Listpack::validate_integrity(&bytes, true);
    assert!(!deep || shallow);
    if let Some(lp) = Listpack::from_bytes(bytes) {
        assert!(deep);
        let fwd: Vec<Entry> = lp.iter().collect();
        assert_eq!(fwd.len(), lp.len());
        let mut back = Vec::new();
        let mut p = lp.last();
        while let Some(q) = p {
            back.push(lp.get(q));
            p = lp.prev(q);
        }
        back.reverse();
        assert_eq!(fwd, back);
    } else {
        assert!(!deep);
    }
}

#[test]
fn safe_to_add_limit() {
    // Redis' lpSafeToAdd: current bytes + addition must stay within 1 GB.
    let lp = Listpack::new();
    assert!(lp.safe_to_add(MAX_SAFETY_SIZE - 7));
    assert!(!lp.safe_to_add(MAX_SAFETY_SIZE - 6));
    assert!(!lp.safe_to_add(usize::MAX));
}
