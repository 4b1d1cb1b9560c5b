//! HyperLogLog sketches, stored inside ordinary string values exactly as Redis 7.0 lays them
//! out, so that a key written by PFADD here is byte-identical to Redis' (DUMP/RDB/replication
//! carry it as a plain string) and vice versa.
//!
//! ```text
//!   +------+-----+-------+------------------+-----------------------------------+
//!   | HYLL | enc | 0 0 0 | cached card (LE) | registers                         |
//!   +------+-----+-------+------------------+-----------------------------------+
//!     4 B    1 B   3 B      8 B: the top bit   dense (enc 0): 16384 registers of
//!                           of the last byte   6 bits, little-endian bit packing,
//!                           set = stale        12288 bytes;
//!                                              sparse (enc 1): run-length opcodes
//!
//!   sparse opcodes (registers from 0 to 16383, in order, covering all of them):
//!     00xxxxxx           ZERO:  x+1 (1..=64) registers at 0
//!     01xxxxxx yyyyyyyy  XZERO: (x<<8|y)+1 (1..=16384) registers at 0
//!     1vvvvvll           VAL:   l+1 (1..=4) registers at v+1 (1..=32)
//! ```
//!
//! An element is hashed with MurmurHash64A (seed 0xadc83b19): the low 14 bits choose the
//! register, and the register keeps the longest "zeros then a one" run seen in the remaining
//! bits. A sketch starts sparse and turns dense when a register needs a value above 32 or the
//! sparse form would grow past `hll-sparse-max-bytes`. The count uses Ertl's improved
//! estimator over the histogram of register values, as Redis 7.0 does.
//!
//! The bytes come from clients (SETRANGE can corrupt a sketch at will), so every reader here
//! checks bounds and reports [`Corrupt`] rather than trusting the opcodes.

use super::rawstr::RawStr;

pub const HEADER_LEN: usize = 16;
const P: u32 = 14;
/// Bits of the hash left after taking the register index.
const Q: usize = 64 - P as usize;
pub const REGISTERS: usize = 1 << P;
const REGISTER_BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << REGISTER_BITS) - 1;
pub const DENSE_LEN: usize = HEADER_LEN + (REGISTERS * REGISTER_BITS).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
/// 0.5 / ln(2), the estimator's constant for an infinite number of registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
const ENCODING_BYTE: usize = 4;
const CARD_OFFSET: usize = 8;
const HASH_SEED: u64 = 0xadc8_3b19;

/// The sketch's bytes don't describe 16384 registers: Redis' "-INVALIDOBJ" case.
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Whether a string value can be used as a sketch (Redis' `isHLLObjectOrReply` checks on the
/// bytes): the magic, a known encoding, and the exact length for the dense form. Sparse
/// opcodes are only validated when they are walked.
pub fn looks_valid(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN
        && &bytes[..4] == b"HYLL"
        && bytes[ENCODING_BYTE] <= SPARSE
        && (bytes[ENCODING_BYTE] != DENSE || bytes.len() == DENSE_LEN)
}

pub fn encoding(bytes: &[u8]) -> u8 {
    bytes[ENCODING_BYTE]
}

/// A new, empty sketch: sparse, every register covered by XZERO opcodes.
pub fn new_sparse() -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + 2);
    b.extend_from_slice(b"HYLL");
    b.push(SPARSE);
    b.extend_from_slice(&[0; 11]);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        b.extend_from_slice(&xzero(run));
        left -= run;
    }
    b
}

/// The cached cardinality, when still valid.
pub fn cached_card(bytes: &[u8]) -> Option<u64> {
    let card: [u8; 8] = bytes[CARD_OFFSET..HEADER_LEN].try_into().ok()?;
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

pub fn set_cached_card(bytes: &mut [u8], card: u64) {
    bytes[CARD_OFFSET..HEADER_LEN].copy_from_slice(&card.to_le_bytes());
}

pub fn invalidate_cache(bytes: &mut [u8]) {
    bytes[HEADER_LEN - 1] |= 0x80;
}

/// MurmurHash2, 64-bit version (MurmurHash64A), reading 8-byte blocks little endian as Redis'
/// endian-neutral variant does.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes(block.try_into().expect("8-byte block"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element hashes to, and the length of its "0...01" pattern (1..=Q+1).
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, HASH_SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // A sentinel bit past the usable ones bounds the run at Q+1.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Register `i` of a dense register area (6-bit registers packed little endian). The last
/// register's bits end inside the last byte, so a missing "next" byte reads as zero.
fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * REGISTER_BITS / 8;
    let shift = (i * REGISTER_BITS) & 7;
    let b0 = regs[byte] as u16;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 | (b1 << 8)) >> shift) as u8) & REGISTER_MAX
}

fn dense_put(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * REGISTER_BITS / 8;
    let shift = (i * REGISTER_BITS) & 7;
    let v = (v & REGISTER_MAX) as u16;
    let mask = (REGISTER_MAX as u16) << shift;
    regs[byte] = (regs[byte] & !(mask as u8)) | ((v << shift) as u8);
    if let Some(b1) = regs.get_mut(byte + 1) {
        *b1 = (*b1 & !((mask >> 8) as u8)) | ((v << shift) >> 8) as u8;
    }
}

/// Raises a dense register to `count`; true if it changed.
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

/// The opcode at `p` and its length in bytes (an XZERO cut short by the end reads its
/// missing byte as zero, as it would be reported corrupt by the register total anyway).
fn op_at(s: &[u8], p: usize) -> (Op, usize) {
    let b = s[p];
    if b & 0xc0 == 0 {
        (Op::Zero((b & 0x3f) as usize + 1), 1)
    } else if b & 0x80 != 0 {
        (Op::Val(((b >> 2) & 0x1f) + 1, (b & 3) as usize + 1), 1)
    } else {
        let lo = s.get(p + 1).copied().unwrap_or(0) as usize;
        (Op::XZero((((b & 0x3f) as usize) << 8 | lo) + 1), 2)
    }
}

fn zero(len: usize) -> u8 {
    (len - 1) as u8
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | 0x40, (l & 0xff) as u8]
}

fn val(v: u8, len: usize) -> u8 {
    ((v - 1) << 2) | (len - 1) as u8 | 0x80
}

/// Appends the opcodes for a run of `len` zero registers.
fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        seq.extend_from_slice(&xzero(len));
    } else {
        seq.push(zero(len));
    }
}

/// Calls `f(first_register, run, value)` for each run of the sparse opcodes; Err when they
/// don't cover exactly the 16384 registers. A VAL run that would pass the end stops the walk
/// (like Redis) before touching anything beyond it.
fn walk_sparse(ops: &[u8], mut f: impl FnMut(usize, usize, u8)) -> Result<(), Corrupt> {
    let mut idx = 0usize;
    let mut p = 0;
    while p < ops.len() {
        let (op, oplen) = op_at(ops, p);
        match op {
            Op::Zero(n) | Op::XZero(n) => {
                f(idx, n, 0);
                idx += n;
            }
            Op::Val(v, n) => {
                if idx + n > REGISTERS {
                    break;
                }
                f(idx, n, v);
                idx += n;
            }
        }
        p += oplen;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Converts a sparse sketch to the dense form in place (no-op when already dense).
pub fn to_dense(s: &mut RawStr) -> Result<(), Corrupt> {
    if s[ENCODING_BYTE] == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_LEN];
    dense[..HEADER_LEN].copy_from_slice(&s[..HEADER_LEN]);
    dense[ENCODING_BYTE] = DENSE;
    {
        let regs = &mut dense[HEADER_LEN..];
        walk_sparse(&s[HEADER_LEN..], |first, run, v| {
            if v != 0 {
                for i in first..first + run {
                    dense_put(regs, i, v);
                }
            }
        })?;
    }
    *s = RawStr::from_slice(&dense);
    Ok(())
}

/// Raises register `index` to `count` in a sparse sketch, splitting and merging opcodes in
/// place; promotes to dense when the value doesn't fit a VAL opcode or the sketch would pass
/// `sparse_max` bytes. Ok(true) when the register changed.
fn sparse_set(s: &mut RawStr, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`, with its first register and the previous op.
    let ops_end = s.len();
    let mut p = HEADER_LEN;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut found = None;
    while p < ops_end {
        let (op, oplen) = op_at(&s[..], p);
        let span = match op {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        };
        if index < first + span {
            found = Some((op, oplen, span));
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    let Some((op, oplen, span)) = found else {
        return Err(Corrupt);
    };
    if p + oplen > ops_end {
        return Err(Corrupt);
    }
    // Step 2: the trivial in-place updates.
    match op {
        Op::Val(old, _) if old >= count => return Ok(false),
        Op::Val(_, 1) | Op::Zero(1) => {
            s[p] = val(count, 1);
            merge_adjacent(s, prev.unwrap_or(HEADER_LEN));
            invalidate_cache(s);
            return Ok(true);
        }
        _ => {}
    }
    // Step 3: split the run into (before, our register, after).
    let last = first + span - 1;
    let mut seq = Vec::with_capacity(5);
    match op {
        Op::Zero(_) | Op::XZero(_) => {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
        Op::Val(cur, _) => {
            if index != first {
                seq.push(val(cur, index - first));
            }
            seq.push(val(count, 1));
            if index != last {
                seq.push(val(cur, last - index));
            }
        }
    }
    let grow = seq.len() as isize - oplen as isize;
    if grow > 0 && s.len() + grow as usize > sparse_max {
        return promote(s, index, count);
    }
    let len = s.len();
    let tail = p + oplen;
    if grow > 0 {
        s.resize(len + grow as usize, 0);
        s.copy_within(tail..len, tail + grow as usize);
    } else if grow < 0 {
        s.copy_within(tail..len, (tail as isize + grow) as usize);
        s.resize((len as isize + grow) as usize, 0);
    }
    s[p..p + seq.len()].copy_from_slice(&seq);
    merge_adjacent(s, prev.unwrap_or(HEADER_LEN));
    invalidate_cache(s);
    Ok(true)
}

/// Step 4 of an update: merges equal adjacent VAL opcodes in the few opcodes starting at `p`
/// (the one before the change), so the sparse form stays minimal.
fn merge_adjacent(s: &mut RawStr, mut p: usize) {
    let mut budget = 5;
    while p < s.len() && budget > 0 {
        budget -= 1;
        let b = s[p];
        if b & 0xc0 == 0x40 {
            p += 2;
            continue;
        }
        if b & 0x80 == 0 {
            p += 1;
            continue;
        }
        if p + 1 < s.len() && s[p + 1] & 0x80 != 0 {
            let (Op::Val(v1, l1), _) = op_at(&s[..], p) else {
                unreachable!("checked VAL")
            };
            let (Op::Val(v2, l2), _) = op_at(&s[..], p + 1) else {
                unreachable!("checked VAL")
            };
            if v1 == v2 && l1 + l2 <= SPARSE_VAL_MAX_LEN {
                s[p + 1] = val(v1, l1 + l2);
                let len = s.len();
                s.copy_within(p + 1..len, p);
                s.resize(len - 1, 0);
                // Look at the merged opcode again: it may merge with the next one too.
                continue;
            }
        }
        p += 1;
    }
}

fn promote(s: &mut RawStr, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    Ok(dense_set(&mut s[HEADER_LEN..], index, count))
}

/// Adds an element; Ok(true) when a register changed.
pub fn add(s: &mut RawStr, ele: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(ele);
    set_register(s, index, count, sparse_max)
}

/// Raises one register to `count` in either encoding.
pub fn set_register(
    s: &mut RawStr,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, Corrupt> {
    match s[ENCODING_BYTE] {
        DENSE => {
            check_dense_len(s)?;
            Ok(dense_set(&mut s[HEADER_LEN..], index, count))
        }
        SPARSE => sparse_set(s, index, count, sparse_max),
        _ => Err(Corrupt),
    }
}

/// Dense register code indexes all 12288 register bytes: a dense sketch of another length is
/// corrupt (callers validate with `looks_valid`; this keeps the readers safe regardless).
fn check_dense_len(bytes: &[u8]) -> Result<(), Corrupt> {
    if bytes.len() == DENSE_LEN {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Folds a sketch into `max` (one byte per register): max[i] = max(max[i], register i).
pub fn merge_into(max: &mut [u8; REGISTERS], bytes: &[u8]) -> Result<(), Corrupt> {
    let regs = &bytes[HEADER_LEN..];
    if bytes[ENCODING_BYTE] == DENSE {
        check_dense_len(bytes)?;
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        Ok(())
    } else {
        // Zero runs change nothing; VAL runs are within the registers (walk_sparse stops
        // before one that isn't).
        walk_sparse(regs, |first, run, v| {
            if v != 0 {
                for m in &mut max[first..first + run] {
                    *m = (*m).max(v);
                }
            }
        })
    }
}

/// Histogram of register values of a stored sketch. Err for sparse opcodes that don't cover
/// the registers exactly (the histogram is still filled as far as they go, like Redis).
fn histogram(bytes: &[u8], hist: &mut [u64; 64]) -> Result<(), Corrupt> {
    let regs = &bytes[HEADER_LEN..];
    if bytes[ENCODING_BYTE] == DENSE {
        check_dense_len(bytes)?;
        for i in 0..REGISTERS {
            hist[dense_get(regs, i) as usize] += 1;
        }
        return Ok(());
    }
    // Unlike register updates, the histogram counts every run (no overflow stop), as Redis.
    let mut idx = 0usize;
    let mut p = 0;
    while p < regs.len() {
        let (op, oplen) = op_at(regs, p);
        match op {
            Op::Zero(n) | Op::XZero(n) => {
                hist[0] += n as u64;
                idx += n;
            }
            Op::Val(v, n) => {
                hist[v as usize] += n as u64;
                idx += n;
            }
        }
        p += oplen;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x).powf(2.0) * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// Ertl's estimator ("New cardinality estimation algorithms for HyperLogLog sketches").
fn estimate(hist: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - hist[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += hist[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(hist[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The estimated cardinality of a stored sketch.
pub fn count(bytes: &[u8]) -> Result<u64, Corrupt> {
    let mut hist = [0u64; 64];
    histogram(bytes, &mut hist)?;
    Ok(estimate(&hist))
}

/// The estimated cardinality of registers held one per byte (the union PFCOUNT builds).
pub fn count_registers(max: &[u8; REGISTERS]) -> u64 {
    let mut hist = [0u64; 64];
    for &r in max.iter() {
        hist[(r & 63) as usize] += 1;
    }
    estimate(&hist)
}

/// Every register of a dense sketch.
pub fn dense_registers(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let regs = &bytes[HEADER_LEN..];
    (0..REGISTERS).map(move |i| dense_get(regs, i))
}

/// PFDEBUG DECODE's text for a sparse sketch: `z:len`, `Z:len`, `v:value,len` opcodes.
pub fn decode_sparse(bytes: &[u8]) -> String {
    let ops = &bytes[HEADER_LEN..];
    let mut out = Vec::new();
    let mut p = 0;
    while p < ops.len() {
        let (op, oplen) = op_at(ops, p);
        out.push(match op {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(v, n) => format!("v:{v},{n}"),
        });
        p += oplen;
    }
    out.join(" ")
}

/// PFSELFTEST: register packing and estimator accuracy, checked against plain models.
pub fn self_test(rng: &mut impl rand::Rng, sparse_max: usize) -> Result<(), String> {
    // 1. Every register keeps its value without disturbing its neighbours.
    let mut regs = vec![0u8; DENSE_LEN - HEADER_LEN];
    let mut model = vec![0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, m) in model.iter_mut().enumerate() {
            let v = rng.gen::<u8>() & REGISTER_MAX;
            *m = v;
            dense_put(&mut regs, i, v);
        }
        for (i, &m) in model.iter().enumerate() {
            let got = dense_get(&regs, i);
            if got != m {
                return Err(format!(
                    "TESTFAILED Register {i} should be {m} but is {got}"
                ));
            }
        }
    }
    // 2. Dense and sparse sketches fed the same elements agree, and stay within a few
    //    standard errors of the true count.
    let mut dense = RawStr::from_slice(&new_sparse());
    to_dense(&mut dense).map_err(|_| "TESTFAILED dense conversion".to_string())?;
    let mut sparse = RawStr::from_slice(&new_sparse());
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed: u64 = rng.gen();
    let mut checkpoint = 1u64;
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        let (index, run) = pattern(&ele);
        dense_set(&mut dense[HEADER_LEN..], index, run);
        set_register(&mut sparse, index, run, sparse_max)
            .map_err(|_| "TESTFAILED sparse update".to_string())?;
        if j != checkpoint {
            continue;
        }
        if (j as usize) < sparse_max / 2 && sparse[ENCODING_BYTE] != SPARSE {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let d = count(&dense).map_err(|_| "TESTFAILED dense count".to_string())?;
        let s = count(&sparse).map_err(|_| "TESTFAILED sparse count".to_string())?;
        if d != s {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = (checkpoint as i64 - d as i64).unsigned_abs();
        // Cardinality 10 collides often enough to allow one miss.
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REDIS_ABC_FOOBAR: &[u8] =
        b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80Gu\x8cY|\x80P\xb1\x84K\xfb\x80BZ";

    fn fresh() -> RawStr {
        RawStr::from_slice(&new_sparse())
    }

    #[test]
    fn empty_sketch_matches_redis_bytes() {
        let s = new_sparse();
        assert_eq!(s.len(), 18);
        assert_eq!(&s[..5], b"HYLL\x01");
        assert_eq!(&s[16..], &[0x7f, 0xff]);
        assert_eq!(count(&s), Ok(0));
        assert_eq!(decode_sparse(&s), "Z:16384");
    }

    #[test]
    fn sketch_bytes_match_redis() {
        // `PFADD k a b c foobar` then `GET k` on redis-server 7.0.15.
        let mut s = fresh();
        for e in [&b"a"[..], b"b", b"c", b"foobar"] {
            add(&mut s, e, 3000).unwrap();
        }
        assert_eq!(&s[..], REDIS_ABC_FOOBAR);
        assert_eq!(
            decode_sparse(&s),
            "Z:1910 v:4,1 Z:6525 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603"
        );
        assert_eq!(count(&s), Ok(4));
    }

    proptest! {
        /// Sparse updates (with promotion) always agree with a plain register array.
        #[test]
        fn sparse_and_dense_agree_with_a_model(
            sets in proptest::collection::vec((0usize..REGISTERS, 1u8..=40), 0..300),
            sparse_max in 20usize..400,
        ) {
            let mut s = fresh();
            let mut model = [0u8; REGISTERS];
            for (i, c) in sets {
                let changed = set_register(&mut s, i, c, sparse_max).unwrap();
                prop_assert_eq!(changed, c > model[i]);
                model[i] = model[i].max(c);
                let mut merged = [0u8; REGISTERS];
                merge_into(&mut merged, &s).unwrap();
                prop_assert_eq!(&merged[..], &model[..]);
            }
            prop_assert_eq!(count(&s).unwrap(), count_registers(&model));
        }

        /// Arbitrary bytes behind a valid header never panic any reader or writer.
        #[test]
        fn corrupt_sketches_are_reported_not_trusted(
            ops in proptest::collection::vec(any::<u8>(), 0..64),
            dense in any::<bool>(),
            index in 0usize..REGISTERS, c in 1u8..60,
        ) {
            let mut bytes = new_sparse()[..HEADER_LEN].to_vec();
            if dense {
                bytes[ENCODING_BYTE] = DENSE;
                bytes.resize(DENSE_LEN, 0);
                let n = ops.len().min(DENSE_LEN - HEADER_LEN);
                bytes[HEADER_LEN..HEADER_LEN + n].copy_from_slice(&ops[..n]);
            } else {
                bytes.extend_from_slice(&ops);
            }
            let _ = count(&bytes);
            let mut max = [0u8; REGISTERS];
            let _ = merge_into(&mut max, &bytes);
            let _ = decode_sparse(&bytes);
            let mut s = RawStr::from_slice(&bytes);
            let _ = set_register(&mut s, index, c, 3000);
            let _ = to_dense(&mut s);
        }
    }
}
