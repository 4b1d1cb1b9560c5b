//! Bit-level commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO.
//!
//! Strings are bitmaps whose bit 0 is the most significant bit of the first byte. Reads past
//! the end see zeros; writes grow the string with zero bytes (and always leave it `raw`, since
//! it is then edited in place). The counting and searching primitives work a machine word at
//! a time because bitmaps can be hundreds of megabytes long.

use crate::client::Client;
use crate::commands::{errors, CmdProc};
use crate::config::table::notify;
use crate::server::Server;
use crate::types::rawstr::RawStr;
use crate::types::{RStr, Value, WRONGTYPE};
use crate::util;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "setbit" => setbit_command,
        "getbit" => getbit_command,
        "bitcount" => bitcount_command,
        "bitpos" => bitpos_command,
        "bitop" => bitop_command,
        "bitfield" => bitfield_command,
        "bitfield_ro" => bitfield_ro_command,
        _ => return None,
    })
}

const BIT_OFFSET_ERR: &str = "bit offset is not an integer or out of range";
const BIT_VALUE_ERR: &str = "bit is not an integer or out of range";
const BITFIELD_TYPE_ERR: &str =
    "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

// ----- primitives ------------------------------------------------------------------------

/// Number of set bits.
pub fn popcount(s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    let mut n = 0u64;
    for ch in &mut chunks {
        let w = u64::from_ne_bytes(ch.try_into().expect("chunk of 8 bytes"));
        n += w.count_ones() as u64;
    }
    for b in chunks.remainder() {
        n += b.count_ones() as u64;
    }
    n
}

/// Position of the first bit equal to `bit`. When looking for a 1 and there is none the
/// answer is -1; when looking for a 0 and there is none, the string counts as zero-padded on
/// the right, so the answer is the first bit past its end.
pub fn bitpos(s: &[u8], bit: bool) -> i64 {
    let skip_byte: u8 = if bit { 0 } else { 0xff };
    let skip_word: u64 = if bit { 0 } else { u64::MAX };
    let mut i = 0;
    while i + 8 <= s.len() {
        let w = u64::from_ne_bytes(s[i..i + 8].try_into().expect("8 bytes"));
        if w != skip_word {
            break;
        }
        i += 8;
    }
    while i < s.len() {
        let b = s[i];
        if b != skip_byte {
            let x = if bit { b } else { !b };
            return i as i64 * 8 + x.leading_zeros() as i64;
        }
        i += 1;
    }
    if bit {
        -1
    } else {
        s.len() as i64 * 8
    }
}

/// Reads a `bits`-wide unsigned integer at bit `offset`; bits past the end read as zero.
pub fn get_unsigned_bitfield(p: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for k in 0..bits as u64 {
        let o = offset + k;
        let byte = (o >> 3) as usize;
        let b = match p.get(byte) {
            Some(x) => (x >> (7 - (o & 7))) & 1,
            None => 0,
        };
        v = (v << 1) | b as u64;
    }
    v
}

/// Reads a `bits`-wide two's complement integer at bit `offset`.
pub fn get_signed_bitfield(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned_bitfield(p, offset, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        v |= u64::MAX << bits;
    }
    v as i64
}

/// Writes the low `bits` bits of `value` at bit `offset` (the buffer is already long enough).
pub fn set_bitfield(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for k in 0..bits as u64 {
        let bitval = ((value >> (bits as u64 - 1 - k)) & 1) as u8;
        let o = offset + k;
        let byte = (o >> 3) as usize;
        let shift = 7 - (o & 7);
        p[byte] = (p[byte] & !(1 << shift)) | (bitval << shift);
    }
}

/// What BITFIELD does when a value doesn't fit its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// Checks `value + incr` against an unsigned `bits`-wide type. Returns 0 when it fits, 1 on
/// overflow, -1 on underflow, with the value to store instead under WRAP/SAT. A `value`
/// already out of range (a SET argument, with `incr` 0) counts as an overflow.
pub fn check_unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (i32, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrapped = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > maxincr) {
        let limit = match ow {
            Overflow::Wrap => wrapped(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, limit)
    } else if incr < 0 && incr < minincr {
        match ow {
            // Wrapping reports the condition as an overflow, whichever the direction.
            Overflow::Wrap => (1, wrapped()),
            Overflow::Sat => (-1, 0),
            Overflow::Fail => (-1, 0),
        }
    } else {
        (0, 0)
    }
}

/// The signed counterpart of [`check_unsigned_overflow`]; WRAP wraps towards the most negative
/// value, as two's complement arithmetic does.
pub fn check_signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i32, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    // These can wrap, but are only consulted once `value` is known to be in range.
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrapped = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        let limit = match ow {
            Overflow::Wrap => wrapped(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, limit)
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        match ow {
            Overflow::Wrap => (1, wrapped()),
            Overflow::Sat => (-1, min),
            Overflow::Fail => (-1, 0),
        }
    } else {
        (0, 0)
    }
}

// ----- argument parsing ------------------------------------------------------------------

/// Parses a bit offset, bounded by `proto-max-bulk-len` (in bytes). With `hash_bits`, the
/// BITFIELD form `#N` means N times the field width.
fn bit_offset_or_reply(
    srv: &Server,
    c: &mut Client,
    idx: usize,
    hash_bits: Option<u32>,
) -> Option<u64> {
    let arg = &c.argv[idx];
    let (digits, mult) = match hash_bits {
        Some(bits) if bits > 0 && arg.first() == Some(&b'#') => (&arg[1..], bits as i64),
        _ => (&arg[..], 1),
    };
    let Some(v) = util::parse_i64(digits) else {
        c.out.error(BIT_OFFSET_ERR);
        return None;
    };
    let v = v.wrapping_mul(mult);
    if v < 0 || (!c.must_obey() && (v >> 3) >= srv.config.proto_max_bulk_len) {
        c.out.error(BIT_OFFSET_ERR);
        return None;
    }
    Some(v as u64)
}

/// Parses a BITFIELD type: `i1`..`i64` or `u1`..`u63`. Returns (signed, bits).
fn bitfield_type_or_reply(c: &mut Client, idx: usize) -> Option<(bool, u32)> {
    let arg = &c.argv[idx];
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => {
            c.out.error(BITFIELD_TYPE_ERR);
            return None;
        }
    };
    match util::parse_i64(&arg[1..]) {
        Some(b) if b >= 1 && ((signed && b <= 64) || (!signed && b <= 63)) => {
            Some((signed, b as u32))
        }
        _ => {
            c.out.error(BITFIELD_TYPE_ERR);
            None
        }
    }
}

/// Parses an optional trailing BIT|BYTE unit. Returns Some(is_bit), None after a syntax error.
fn range_unit_or_reply(c: &mut Client, idx: usize) -> Option<bool> {
    let a = &c.argv[idx];
    if a.eq_ignore_ascii_case(b"bit") {
        Some(true)
    } else if a.eq_ignore_ascii_case(b"byte") {
        Some(false)
    } else {
        c.out.error(errors::SYNTAX);
        None
    }
}

// ----- key access ------------------------------------------------------------------------

/// Returns the `raw` buffer of a string key for a bit write, creating the key or padding the
/// string with zero bytes so that bit `maxbit` exists. The flag says whether the key was
/// created or grown (a change even if no bit flips). None after a WRONGTYPE reply.
fn bit_buffer_for_write<'a>(
    srv: &'a mut Server,
    c: &mut Client,
    key: &[u8],
    maxbit: u64,
) -> Option<(&'a mut RawStr, bool)> {
    let need = (maxbit >> 3) as usize + 1;
    let exists = match srv.lookup_write(c.db, key) {
        None => false,
        Some(o) if matches!(o.value, Value::Str(_)) => true,
        Some(_) => {
            c.out.error(WRONGTYPE);
            return None;
        }
    };
    if !exists {
        srv.db_add(c.db, key, Value::Str(RStr::raw(vec![0u8; need])));
    }
    let obj = srv.dbs[c.db]
        .dict
        .get_mut(key)
        .expect("key found or just added");
    let buf = match &mut obj.value {
        Value::Str(s) => s.make_raw(),
        _ => unreachable!("type checked above"),
    };
    let mut grown = !exists;
    if buf.len() < need {
        buf.resize(need, 0);
        grown = true;
    }
    Some((buf, grown))
}

/// Runs `f` on the bytes of a string key for reading. Returns None (after replying `missing`
/// as an integer) when the key doesn't exist, or after WRONGTYPE.
fn with_string_for_read<R>(
    srv: &mut Server,
    c: &mut Client,
    key_idx: usize,
    missing: i64,
    f: impl FnOnce(&mut Client, &[u8]) -> R,
) -> Option<R> {
    let key = std::mem::take(&mut c.argv[key_idx]);
    let res = match srv.lookup_read(c.db, &key) {
        None => {
            c.out.int(missing);
            None
        }
        Some(o) => match &o.value {
            Value::Str(s) => Some(s.with_bytes(|b| f(c, b))),
            _ => {
                c.out.error(WRONGTYPE);
                None
            }
        },
    };
    c.argv[key_idx] = key;
    res
}

// ----- SETBIT / GETBIT -------------------------------------------------------------------

fn setbit_command(srv: &mut Server, c: &mut Client) {
    let Some(offset) = bit_offset_or_reply(srv, c, 2, None) else {
        return;
    };
    let on = match util::parse_i64(&c.argv[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => {
            c.out.error(BIT_VALUE_ERR);
            return;
        }
    };
    let key = c.argv[1].clone();
    let Some((buf, grown)) = bit_buffer_for_write(srv, c, &key, offset) else {
        return;
    };
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7);
    let old = (buf[byte] >> shift) & 1 == 1;
    let changed = grown || old != on;
    if changed {
        buf[byte] = (buf[byte] & !(1 << shift)) | ((on as u8) << shift);
        srv.signal_modified_key(c.db, &key);
        srv.notify_keyspace_event(notify::STRING, "setbit", &key, c.db);
        srv.dirty += 1;
    }
    c.out.int(old as i64);
}

fn getbit_command(srv: &mut Server, c: &mut Client) {
    let Some(offset) = bit_offset_or_reply(srv, c, 2, None) else {
        return;
    };
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7);
    let bit = with_string_for_read(srv, c, 1, 0, |_, p| {
        p.get(byte).map_or(0, |b| ((b >> shift) & 1) as i64)
    });
    if let Some(bit) = bit {
        c.out.int(bit);
    }
}

// ----- BITCOUNT / BITPOS -----------------------------------------------------------------

/// A range normalised to whole bytes `start..=end`, plus masks of the bits of the first and
/// last byte that lie outside a BIT range. `None` when the range is empty.
#[derive(Debug, PartialEq, Eq)]
struct ByteRange {
    start: usize,
    end: usize,
    first_out: u8,
    last_out: u8,
}

/// Clamps a user range (negative values count from the end) to a string of `len` bytes.
/// `end` is `None` for BITPOS without an end; it then means "to the end".
fn normalize_range(
    len: usize,
    mut start: i64,
    end: Option<i64>,
    is_bit: bool,
) -> Option<ByteRange> {
    let mut total = len as i64;
    let mut end = end.unwrap_or(if is_bit { (total << 3) + 7 } else { total - 1 });
    if is_bit {
        total <<= 3;
    }
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    if is_bit {
        Some(ByteRange {
            start: (start >> 3) as usize,
            end: (end >> 3) as usize,
            first_out: !(0xffu8 >> (start & 7)),
            last_out: ((1u16 << (7 - (end & 7))) - 1) as u8,
        })
    } else {
        Some(ByteRange {
            start: start as usize,
            end: end as usize,
            first_out: 0,
            last_out: 0,
        })
    }
}

fn count_bits_in(p: &[u8], r: &ByteRange) -> i64 {
    let mut n = popcount(&p[r.start..=r.end]) as i64;
    // Bits of the edge bytes outside a BIT range were counted: take them back.
    n -= (p[r.start] & r.first_out).count_ones() as i64;
    n -= (p[r.end] & r.last_out).count_ones() as i64;
    n
}

fn bitcount_command(srv: &mut Server, c: &mut Client) {
    let argc = c.argv.len();
    let count = with_string_for_read(srv, c, 1, 0, |c, p| -> Option<i64> {
        if argc == 2 {
            return Some(popcount(p) as i64);
        }
        if argc != 4 && argc != 5 {
            c.out.error(errors::SYNTAX);
            return None;
        }
        let start = crate::commands::arg_i64(c, 2)?;
        let end = crate::commands::arg_i64(c, 3)?;
        if start < 0 && end < 0 && start > end {
            return Some(0);
        }
        let is_bit = if argc == 5 {
            range_unit_or_reply(c, 4)?
        } else {
            false
        };
        Some(match normalize_range(p.len(), start, Some(end), is_bit) {
            Some(r) => count_bits_in(p, &r),
            None => 0,
        })
    });
    if let Some(Some(n)) = count {
        c.out.int(n);
    }
}

/// BITPOS over a range (Redis' edge-byte handling included): searches the partial first byte,
/// the whole bytes, then the partial last byte. `end_given` matters when looking for a 0: the
/// bits right of an explicit range are not assumed to be zero.
fn bitpos_in(p: &[u8], bit: bool, r: &ByteRange, end_given: bool) -> i64 {
    let mut start = r.start;
    let end = r.end;
    let mut bytes = end - start + 1;
    let masked = |b: u8, out: u8| if bit { b & !out } else { b | out };
    let pos = 'found: {
        if r.first_out != 0 {
            let mut b = masked(p[start], r.first_out);
            if r.last_out != 0 && bytes == 1 {
                b = masked(b, r.last_out);
            }
            let pos = bitpos(&[b], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'found pos;
            }
            start += 1;
            bytes -= 1;
        }
        let whole = bytes - (r.last_out != 0) as usize;
        if whole > 0 {
            let pos = bitpos(&p[start..start + whole], bit);
            if bytes == whole || (pos != -1 && pos != (whole as i64) << 3) {
                break 'found pos;
            }
            start += whole;
            bytes -= whole;
        }
        bitpos(&[masked(p[end], r.last_out)], bit)
    };
    if end_given && !bit && pos == (bytes as i64) << 3 {
        return -1;
    }
    if pos != -1 {
        pos + ((start as i64) << 3)
    } else {
        pos
    }
}

fn bitpos_command(srv: &mut Server, c: &mut Client) {
    let bit = match crate::commands::arg_i64(c, 2) {
        None => return,
        Some(0) => false,
        Some(1) => true,
        Some(_) => {
            c.out.error("The bit argument must be 1 or 0.");
            return;
        }
    };
    let argc = c.argv.len();
    // A missing key is an endless run of zeros.
    let missing = if bit { -1 } else { 0 };
    let pos = with_string_for_read(srv, c, 1, missing, |c, p| -> Option<i64> {
        let (range, end_given) = match argc {
            3 => {
                if p.is_empty() {
                    return Some(-1);
                }
                let r = ByteRange {
                    start: 0,
                    end: p.len() - 1,
                    first_out: 0,
                    last_out: 0,
                };
                (Some(r), false)
            }
            4..=6 => {
                let start = crate::commands::arg_i64(c, 3)?;
                let is_bit = if argc == 6 {
                    range_unit_or_reply(c, 5)?
                } else {
                    false
                };
                let end = if argc >= 5 {
                    Some(crate::commands::arg_i64(c, 4)?)
                } else {
                    None
                };
                (normalize_range(p.len(), start, end, is_bit), end.is_some())
            }
            _ => {
                c.out.error(errors::SYNTAX);
                return None;
            }
        };
        Some(match range {
            Some(r) => bitpos_in(p, bit, &r, end_given),
            None => -1,
        })
    });
    if let Some(Some(n)) = pos {
        c.out.int(n);
    }
}

// ----- BITOP -----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Folds one more source into the result; shorter operands are zero-padded on the right.
fn bitop_fold(res: &mut Vec<u8>, src: &[u8], op: BitOp) {
    if src.len() > res.len() {
        res.resize(src.len(), 0);
    }
    match op {
        BitOp::And => {
            for (r, s) in res.iter_mut().zip(src) {
                *r &= s;
            }
            for r in res[src.len()..].iter_mut() {
                *r = 0;
            }
        }
        BitOp::Or => {
            for (r, s) in res.iter_mut().zip(src) {
                *r |= s;
            }
        }
        BitOp::Xor => {
            for (r, s) in res.iter_mut().zip(src) {
                *r ^= s;
            }
        }
        BitOp::Not => unreachable!("NOT has a single source"),
    }
}

fn bitop_command(srv: &mut Server, c: &mut Client) {
    let opname = &c.argv[1];
    let op = if opname.eq_ignore_ascii_case(b"and") {
        BitOp::And
    } else if opname.eq_ignore_ascii_case(b"or") {
        BitOp::Or
    } else if opname.eq_ignore_ascii_case(b"xor") {
        BitOp::Xor
    } else if opname.eq_ignore_ascii_case(b"not") {
        BitOp::Not
    } else {
        c.out.error(errors::SYNTAX);
        return;
    };
    if op == BitOp::Not && c.argv.len() != 4 {
        c.out
            .error("BITOP NOT must be called with a single source key.");
        return;
    }
    let mut res: Vec<u8> = Vec::new();
    for j in 3..c.argv.len() {
        let key = std::mem::take(&mut c.argv[j]);
        let mut wrong = false;
        match srv.lookup_read(c.db, &key) {
            // A missing key is a string of zeros.
            None => {
                if j > 3 {
                    bitop_fold(&mut res, &[], op);
                }
            }
            Some(o) => match &o.value {
                Value::Str(s) => s.with_bytes(|b| {
                    if j == 3 {
                        res.extend_from_slice(b);
                        if op == BitOp::Not {
                            for x in res.iter_mut() {
                                *x = !*x;
                            }
                        }
                    } else {
                        bitop_fold(&mut res, b, op);
                    }
                }),
                _ => wrong = true,
            },
        }
        c.argv[j] = key;
        if wrong {
            c.out.error(WRONGTYPE);
            return;
        }
    }
    let target = c.argv[2].clone();
    let len = res.len();
    if len > 0 {
        srv.set_key(c.db, &target, Value::Str(RStr::raw(res)), false);
        srv.notify_keyspace_event(notify::STRING, "set", &target, c.db);
        srv.dirty += 1;
    } else if srv.db_delete(c.db, &target) {
        srv.signal_modified_key(c.db, &target);
        srv.notify_keyspace_event(notify::GENERIC, "del", &target, c.db);
        srv.dirty += 1;
    }
    c.out.int(len as i64);
}

// ----- BITFIELD --------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldOpKind {
    Get,
    Set,
    IncrBy,
}

struct FieldOp {
    kind: FieldOpKind,
    offset: u64,
    /// SET value or INCRBY increment.
    arg: i64,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

/// Outcome of a SET/INCRBY on a field: the reply (None under FAIL), and the old and new raw
/// field values when something was written.
struct FieldWrite {
    reply: Option<i64>,
    write: Option<(u64, u64)>,
}

/// Computes what a SET or INCRBY does to a field currently holding `old_raw` (its raw bits).
fn field_write(op: &FieldOp, old_raw: u64) -> FieldWrite {
    let mask = if op.bits == 64 {
        u64::MAX
    } else {
        (1u64 << op.bits) - 1
    };
    let (overflowed, new, reply) = if op.signed {
        let old = if op.bits < 64 && old_raw & (1u64 << (op.bits - 1)) != 0 {
            (old_raw | !mask) as i64
        } else {
            old_raw as i64
        };
        if op.kind == FieldOpKind::IncrBy {
            let (ov, limit) = check_signed_overflow(old, op.arg, op.bits, op.overflow);
            let new = if ov != 0 {
                limit
            } else {
                old.wrapping_add(op.arg)
            };
            (ov != 0, new as u64, new)
        } else {
            let (ov, limit) = check_signed_overflow(op.arg, 0, op.bits, op.overflow);
            let new = if ov != 0 { limit } else { op.arg };
            (ov != 0, new as u64, old)
        }
    } else if op.kind == FieldOpKind::IncrBy {
        let (ov, limit) = check_unsigned_overflow(old_raw, op.arg, op.bits, op.overflow);
        let new = if ov != 0 {
            limit
        } else {
            old_raw.wrapping_add(op.arg as u64)
        };
        (ov != 0, new, new as i64)
    } else {
        let (ov, limit) = check_unsigned_overflow(op.arg as u64, 0, op.bits, op.overflow);
        let new = if ov != 0 { limit } else { op.arg as u64 };
        (ov != 0, new, old_raw as i64)
    };
    if overflowed && op.overflow == Overflow::Fail {
        return FieldWrite {
            reply: None,
            write: None,
        };
    }
    FieldWrite {
        reply: Some(reply),
        write: Some((old_raw, new & mask)),
    }
}

fn bitfield_generic(srv: &mut Server, c: &mut Client, read_only_cmd: bool) {
    let mut ops: Vec<FieldOp> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut read_only = true;
    let mut highest_write: u64 = 0;
    let argc = c.argv.len();
    let mut j = 2;
    while j < argc {
        let remaining = argc - j - 1;
        let sub = &c.argv[j];
        let kind = if sub.eq_ignore_ascii_case(b"get") && remaining >= 2 {
            FieldOpKind::Get
        } else if sub.eq_ignore_ascii_case(b"set") && remaining >= 3 {
            FieldOpKind::Set
        } else if sub.eq_ignore_ascii_case(b"incrby") && remaining >= 3 {
            FieldOpKind::IncrBy
        } else if sub.eq_ignore_ascii_case(b"overflow") && remaining >= 1 {
            let t = &c.argv[j + 1];
            overflow = if t.eq_ignore_ascii_case(b"wrap") {
                Overflow::Wrap
            } else if t.eq_ignore_ascii_case(b"sat") {
                Overflow::Sat
            } else if t.eq_ignore_ascii_case(b"fail") {
                Overflow::Fail
            } else {
                c.out.error("Invalid OVERFLOW type specified");
                return;
            };
            j += 2;
            continue;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        };
        let Some((signed, bits)) = bitfield_type_or_reply(c, j + 1) else {
            return;
        };
        let Some(offset) = bit_offset_or_reply(srv, c, j + 2, Some(bits)) else {
            return;
        };
        let mut arg = 0;
        if kind != FieldOpKind::Get {
            read_only = false;
            highest_write = highest_write.max(offset + bits as u64 - 1);
            match crate::commands::arg_i64(c, j + 3) {
                Some(v) => arg = v,
                None => return,
            }
        }
        ops.push(FieldOp {
            kind,
            offset,
            arg,
            overflow,
            bits,
            signed,
        });
        j += if kind == FieldOpKind::Get { 3 } else { 4 };
    }

    let key = c.argv[1].clone();
    if read_only {
        // Nothing is written: a missing key reads as zeros, only the type is checked.
        match srv.lookup_read(c.db, &key) {
            None => {
                c.out.array(ops.len());
                for op in &ops {
                    reply_field_get(c, &[], op);
                }
            }
            Some(o) => match &o.value {
                Value::Str(s) => {
                    c.out.array(ops.len());
                    s.with_bytes(|p| {
                        for op in &ops {
                            reply_field_get(c, p, op);
                        }
                    });
                }
                _ => c.out.error(WRONGTYPE),
            },
        }
        return;
    }
    if read_only_cmd {
        c.out.error("BITFIELD_RO only supports the GET subcommand");
        return;
    }
    let Some((buf, grown)) = bit_buffer_for_write(srv, c, &key, highest_write) else {
        return;
    };
    c.out.array(ops.len());
    let mut changes = 0i64;
    for op in &ops {
        if op.kind == FieldOpKind::Get {
            reply_field_get(c, buf, op);
            continue;
        }
        let old_raw = get_unsigned_bitfield(buf, op.offset, op.bits);
        let w = field_write(op, old_raw);
        match w.reply {
            Some(v) => c.out.int(v),
            None => c.out.null(),
        }
        if let Some((old, new)) = w.write {
            set_bitfield(buf, op.offset, op.bits, new);
            if grown || old != new {
                changes += 1;
            }
        }
    }
    if changes > 0 {
        // The replies of all operations precede the `setbit` event, as in Redis.
        srv.flush_self_pushes(c);
        srv.signal_modified_key(c.db, &key);
        srv.notify_keyspace_event(notify::STRING, "setbit", &key, c.db);
        srv.dirty += changes;
    }
}

fn reply_field_get(c: &mut Client, p: &[u8], op: &FieldOp) {
    if op.signed {
        c.out.int(get_signed_bitfield(p, op.offset, op.bits));
    } else {
        c.out
            .int(get_unsigned_bitfield(p, op.offset, op.bits) as i64);
    }
}

fn bitfield_command(srv: &mut Server, c: &mut Client) {
    bitfield_generic(srv, c, false)
}

fn bitfield_ro_command(srv: &mut Server, c: &mut Client) {
    bitfield_generic(srv, c, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_support::{encoding, run, setup};

    #[test]
    fn dirty_counts_only_real_changes() {
        // Mirrors upstream's "SETBIT/BITFIELD only increase dirty when the value changed".
        let (mut srv, mut c) = setup();
        let d0 = srv.dirty;
        run(&mut srv, &mut c, &["SETBIT", "foo", "0", "0"]);
        run(
            &mut srv,
            &mut c,
            &["BITFIELD", "foo2", "SET", "i5", "0", "0"],
        );
        assert_eq!(srv.dirty, d0 + 2, "creating a key is a change");
        let (_, prop) = run(&mut srv, &mut c, &["SETBIT", "foo", "0", "0"]);
        assert!(prop.is_empty());
        run(
            &mut srv,
            &mut c,
            &["BITFIELD", "foo2", "SET", "i5", "0", "0"],
        );
        assert_eq!(srv.dirty, d0 + 2);
        for v in ["1", "1", "0", "0"] {
            run(&mut srv, &mut c, &["SETBIT", "foo", "0", v]);
            run(&mut srv, &mut c, &["BITFIELD", "foo2", "SET", "i5", "0", v]);
        }
        assert_eq!(srv.dirty, d0 + 6);
        run(
            &mut srv,
            &mut c,
            &["BITFIELD", "foo3", "INCRBY", "i5", "0", "1"],
        );
        run(
            &mut srv,
            &mut c,
            &["BITFIELD", "foo3", "INCRBY", "i5", "0", "1"],
        );
        assert_eq!(srv.dirty, d0 + 8);
        run(&mut srv, &mut c, &["SETBIT", "foo", "90", "0"]);
        run(
            &mut srv,
            &mut c,
            &["BITFIELD", "foo2", "SET", "i5", "90", "0"],
        );
        assert_eq!(srv.dirty, d0 + 10, "growing the string is a change");
        // A write op that fails under OVERFLOW FAIL changes nothing.
        let (reply, prop) = run(
            &mut srv,
            &mut c,
            &[
                "BITFIELD", "foo3", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "9",
            ],
        );
        assert_eq!(reply, b"*1\r\n$-1\r\n");
        assert!(prop.is_empty());
        assert_eq!(srv.dirty, d0 + 10);
    }

    #[test]
    fn bit_writes_leave_raw_strings() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SET", "k", "1"]);
        assert_eq!(encoding(&srv, "k"), "int");
        assert_eq!(
            run(&mut srv, &mut c, &["SETBIT", "k", "6", "1"]).0,
            b":0\r\n"
        );
        assert_eq!(encoding(&srv, "k"), "raw");
        run(&mut srv, &mut c, &["SET", "a", "1"]);
        run(&mut srv, &mut c, &["SET", "b", "2"]);
        let (reply, prop) = run(&mut srv, &mut c, &["BITOP", "XOR", "d", "a", "b", "a"]);
        assert_eq!(reply, b":1\r\n");
        assert_eq!(prop.len(), 1);
        assert_eq!(encoding(&srv, "d"), "raw");
        // An all-empty result deletes the destination.
        let (reply, _) = run(&mut srv, &mut c, &["BITOP", "AND", "d", "nokey"]);
        assert_eq!(reply, b":0\r\n");
        assert!(srv.dbs[0].dict.get(&b"d"[..]).is_none());
    }

    #[test]
    fn argument_errors() {
        let (mut srv, mut c) = setup();
        let off = b"-ERR bit offset is not an integer or out of range\r\n".to_vec();
        let bit = b"-ERR bit is not an integer or out of range\r\n".to_vec();
        assert_eq!(
            run(&mut srv, &mut c, &["SETBIT", "k", "4294967296", "1"]).0,
            off
        );
        assert_eq!(run(&mut srv, &mut c, &["SETBIT", "k", "-1", "1"]).0, off);
        assert_eq!(run(&mut srv, &mut c, &["GETBIT", "k", "#1"]).0, off);
        assert_eq!(run(&mut srv, &mut c, &["SETBIT", "k", "0", "2"]).0, bit);
        assert_eq!(run(&mut srv, &mut c, &["SETBIT", "k", "0", "-1"]).0, bit);
        assert_eq!(
            run(&mut srv, &mut c, &["BITFIELD", "k", "GET", "u64", "0"]).0,
            format!("-ERR {}\r\n", BITFIELD_TYPE_ERR).as_bytes()
        );
        assert_eq!(
            run(
                &mut srv,
                &mut c,
                &["BITFIELD", "k", "GET", "i8", "#536870912"]
            )
            .0,
            off
        );
        assert_eq!(
            run(
                &mut srv,
                &mut c,
                &["BITFIELD_RO", "k", "SET", "u8", "0", "1"]
            )
            .0,
            b"-ERR BITFIELD_RO only supports the GET subcommand\r\n"
        );
        assert_eq!(
            run(&mut srv, &mut c, &["BITOP", "NOT", "d", "a", "b"]).0,
            b"-ERR BITOP NOT must be called with a single source key.\r\n"
        );
        assert_eq!(
            run(&mut srv, &mut c, &["BITPOS", "k", "2"]).0,
            b"-ERR The bit argument must be 1 or 0.\r\n"
        );
        // Arguments parse before the key is read; a missing key answers without range parsing.
        assert_eq!(
            run(&mut srv, &mut c, &["BITPOS", "nokey", "1", "x"]).0,
            b":-1\r\n"
        );
        assert_eq!(
            run(&mut srv, &mut c, &["BITCOUNT", "nokey", "x"]).0,
            b":0\r\n"
        );
    }

    #[test]
    fn popcount_matches_naive_count() {
        let data: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
            .collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 999] {
            let naive: u64 = data[..len].iter().map(|b| b.count_ones() as u64).sum();
            assert_eq!(popcount(&data[..len]), naive, "len {}", len);
        }
    }

    #[test]
    fn bitpos_basic_and_padding() {
        assert_eq!(bitpos(b"", true), -1);
        assert_eq!(bitpos(b"", false), 0);
        assert_eq!(bitpos(&[0xff, 0xf0, 0x00], false), 12);
        assert_eq!(bitpos(&[0x00, 0x0f, 0x00], true), 12);
        assert_eq!(bitpos(&[0xff; 20], false), 160);
        assert_eq!(bitpos(&[0x00; 20], true), -1);
        let mut v = vec![0u8; 27];
        v.push(0xf0);
        assert_eq!(bitpos(&v, true), 216);
    }

    fn pos(p: &[u8], bit: bool, start: i64, end: Option<i64>, is_bit: bool) -> i64 {
        match normalize_range(p.len(), start, end, is_bit) {
            Some(r) => bitpos_in(p, bit, &r, end.is_some()),
            None => -1,
        }
    }

    #[test]
    fn bitpos_ranges_follow_redis() {
        let s = [0x00, 0xff, 0x00];
        assert_eq!(pos(&s, false, 1, Some(-1), false), 16);
        assert_eq!(pos(&s, false, 1, Some(1), false), -1);
        assert_eq!(pos(&s, false, 8, Some(8), true), -1);
        assert_eq!(pos(&s, true, 8, Some(8), true), 8);
        assert_eq!(pos(&s, true, 16, Some(200), true), -1);
        let ones = [0xff, 0xff, 0xff];
        // Without an end the string is zero padded; with one it is not.
        assert_eq!(pos(&ones, false, 0, None, false), 24);
        assert_eq!(pos(&ones, false, 0, Some(-1), false), -1);
        assert_eq!(pos(&ones, false, 0, Some(-1), true), -1);
        // Unaligned bit starts skip the partial byte correctly.
        let mut v = vec![0xffu8; 27];
        v.push(0x0f);
        for start in [1, 9, 17, 65] {
            assert_eq!(pos(&v, false, start, Some(-1), true), 216);
        }
        // Bits inside one byte, range within it.
        assert_eq!(pos(&[0b0010_0100], true, 3, Some(4), true), -1);
        assert_eq!(pos(&[0b0010_0100], true, 3, Some(5), true), 5);
        assert_eq!(pos(&[0b1101_1011], false, 3, Some(4), true), -1);
        assert_eq!(pos(&[0b1101_1011], false, 1, Some(4), true), 2);
    }

    #[test]
    fn bitcount_bit_ranges() {
        let s = b"foobar";
        let naive = |a: usize, b: usize| -> i64 {
            (a..=b)
                .filter(|i| s[i / 8] & (0x80 >> (i % 8)) != 0)
                .count() as i64
        };
        for (a, b) in [(10, 14), (3, 14), (3, 29), (0, 47), (7, 8), (9, 9)] {
            let r = normalize_range(s.len(), a, Some(b), true).unwrap();
            assert_eq!(count_bits_in(s, &r), naive(a as usize, b as usize));
        }
        assert!(normalize_range(s.len(), -2, Some(1), true).is_none());
        assert!(normalize_range(0, 0, Some(-1), false).is_none());
    }

    #[test]
    fn bitfield_get_set_roundtrip() {
        let mut buf = vec![0u8; 2];
        set_bitfield(&mut buf, 7, 5, 23);
        assert_eq!(buf, [0b0000_0001, 0b0111_0000]);
        assert_eq!(get_unsigned_bitfield(&buf, 7, 5), 23);
        set_bitfield(&mut buf, 0, 8, (-100i64) as u64);
        assert_eq!(get_signed_bitfield(&buf, 0, 8), -100);
        // Past the end reads as zero.
        assert_eq!(get_unsigned_bitfield(&buf, 12, 16), 0);
        let mut wide = vec![0u8; 9];
        set_bitfield(&mut wide, 3, 64, i64::MIN as u64);
        assert_eq!(get_signed_bitfield(&wide, 3, 64), i64::MIN);
    }

    #[test]
    fn unsigned_overflow_modes() {
        assert_eq!(
            check_unsigned_overflow(100, 257, 8, Overflow::Wrap),
            (1, 101)
        );
        assert_eq!(
            check_unsigned_overflow(101, 255, 8, Overflow::Wrap),
            (1, 100)
        );
        assert_eq!(
            check_unsigned_overflow(100, 257, 8, Overflow::Sat),
            (1, 255)
        );
        assert_eq!(check_unsigned_overflow(255, -255, 8, Overflow::Sat), (0, 0));
        assert_eq!(
            check_unsigned_overflow(100, -255, 8, Overflow::Sat),
            (-1, 0)
        );
        assert_eq!(
            check_unsigned_overflow(100, -101, 8, Overflow::Wrap),
            (1, 255)
        );
        assert_eq!(check_unsigned_overflow(100, 155, 8, Overflow::Fail).0, 0);
        assert_eq!(check_unsigned_overflow(100, 156, 8, Overflow::Fail).0, 1);
        // A SET of a value that doesn't fit (negative numbers are huge unsigned ones).
        assert_eq!(
            check_unsigned_overflow(-1i64 as u64, 0, 8, Overflow::Wrap),
            (1, 255)
        );
        assert_eq!(check_unsigned_overflow(256, 0, 8, Overflow::Sat), (1, 255));
        assert_eq!(
            check_unsigned_overflow(1 << 62, i64::MAX, 63, Overflow::Sat),
            (1, (1 << 63) - 1)
        );
    }

    #[test]
    fn signed_overflow_modes() {
        assert_eq!(check_signed_overflow(100, 257, 8, Overflow::Wrap), (1, 101));
        assert_eq!(check_signed_overflow(101, 255, 8, Overflow::Wrap), (1, 100));
        assert_eq!(check_signed_overflow(100, 257, 8, Overflow::Sat), (1, 127));
        assert_eq!(check_signed_overflow(127, -255, 8, Overflow::Sat), (0, 0));
        assert_eq!(
            check_signed_overflow(127, -256, 8, Overflow::Sat),
            (-1, -128)
        );
        assert_eq!(check_signed_overflow(-128, -1, 8, Overflow::Wrap), (1, 127));
        assert_eq!(check_signed_overflow(255, 0, 8, Overflow::Wrap), (1, -1));
        assert_eq!(check_signed_overflow(27, 100, 8, Overflow::Fail).0, 0);
        assert_eq!(check_signed_overflow(28, 100, 8, Overflow::Fail).0, 1);
        // 64 bits: only true i64 overflow counts.
        assert_eq!(
            check_signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            (1, i64::MIN)
        );
        assert_eq!(
            check_signed_overflow(i64::MIN, -1, 64, Overflow::Sat),
            (-1, i64::MIN)
        );
        assert_eq!(check_signed_overflow(-5, i64::MAX, 64, Overflow::Fail).0, 0);
        assert_eq!(check_signed_overflow(5, i64::MIN, 64, Overflow::Fail).0, 0);
    }

    #[test]
    fn field_write_regression_3564() {
        // BITFIELD k SET i8 0 10 SET i8 64 10 INCRBY i8 10 99900 replies 0 0 60.
        let mut buf = vec![0u8; 9];
        let mut replies = Vec::new();
        for (kind, offset, arg) in [
            (FieldOpKind::Set, 0, 10),
            (FieldOpKind::Set, 64, 10),
            (FieldOpKind::IncrBy, 10, 99900),
        ] {
            let op = FieldOp {
                kind,
                offset,
                arg,
                overflow: Overflow::Wrap,
                bits: 8,
                signed: true,
            };
            let old = get_unsigned_bitfield(&buf, offset, 8);
            let w = field_write(&op, old);
            replies.push(w.reply.unwrap());
            set_bitfield(&mut buf, offset, 8, w.write.unwrap().1);
        }
        assert_eq!(replies, [0, 0, 60]);
    }

    #[test]
    fn field_write_fail_leaves_value() {
        let op = FieldOp {
            kind: FieldOpKind::IncrBy,
            offset: 0,
            arg: 200,
            overflow: Overflow::Fail,
            bits: 8,
            signed: false,
        };
        let w = field_write(&op, 100);
        assert!(w.reply.is_none() && w.write.is_none());
    }
}
