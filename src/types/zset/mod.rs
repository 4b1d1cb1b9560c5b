//! Sorted set values and their two encodings, as Redis 7.0 keeps them (t_zset.c):
//! - `listpack`: member, score, member, score... in one listpack sorted by (score, member),
//!   byte-identical to Redis' so RDB/DUMP can copy it whole; used while the set has at most
//!   `zset-max-listpack-entries` members of at most `zset-max-listpack-value` bytes;
//! - `skiplist`: a skiplist plus member index ([`skiplist::ZsetSkiplist`]).
//!
//! Conversions happen where Redis makes them (growing past a limit converts to skiplist;
//! stored results of ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE convert back when small), because
//! `OBJECT ENCODING`, memory use and RDB output all show the difference.
//!
//! Scores inside a listpack are stored as Redis' `d2string` renders them ("1", "1.5", "inf"),
//! which the listpack turns into an integer entry when it is a canonical integer.

pub mod skiplist;

use std::cmp::Ordering;

use crate::types::listpack::{Entry, Listpack, Pos};
use crate::util;
pub use skiplist::ZsetSkiplist;

pub enum ZsetValue {
    Listpack(Listpack),
    Skiplist(ZsetSkiplist),
}

impl std::fmt::Debug for ZsetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Zset({}, {} members)", self.encoding_name(), self.len())
    }
}

/// The listpack limits (`zset-max-listpack-entries`, `zset-max-listpack-value`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

/// C `strtod` over the whole argument up to its first NUL, as Redis' range parsing uses it:
/// leading spaces and an empty string (zero) are accepted, NaN is not.
pub fn strtod_all(s: &[u8]) -> Option<f64> {
    let mut buf = Vec::with_capacity(s.len() + 1);
    buf.extend_from_slice(s);
    buf.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; strtod reads up to the NUL and
    // stores a pointer into `buf` in `end`.
    let (v, rest) = unsafe {
        let v = libc::strtod(buf.as_ptr() as *const libc::c_char, &mut end);
        (v, *end as u8)
    };
    (rest == 0 && !v.is_nan()).then_some(v)
}

/// C `strtod` of a prefix, ignoring what follows (Redis' `zzlStrtod` on listpack scores).
fn strtod_prefix(s: &[u8]) -> f64 {
    let n = s.len().min(127);
    let mut buf = [0u8; 128];
    buf[..n].copy_from_slice(&s[..n]);
    // SAFETY: `buf` is NUL-terminated (n <= 127); a null end pointer is allowed.
    unsafe { libc::strtod(buf.as_ptr() as *const libc::c_char, std::ptr::null_mut()) }
}

/// A score range with optional exclusive ends (Redis' `zrangespec`).
#[derive(Debug, Clone, Copy)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    /// Parses "min"/"(min" and "max"/"(max"; None for anything strtod rejects or NaN.
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        fn bound(s: &[u8]) -> Option<(f64, bool)> {
            match s.first() {
                Some(b'(') => Some((strtod_all(&s[1..])?, true)),
                _ => Some((strtod_all(s)?, false)),
            }
        }
        let (min, minex) = bound(min)?;
        let (max, maxex) = bound(max)?;
        Some(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    #[inline]
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    #[inline]
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    #[inline]
    pub fn contains(&self, v: f64) -> bool {
        self.gte_min(v) && self.lte_max(v)
    }

    /// A range no value can satisfy, whatever the set holds.
    pub fn is_empty_spec(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lexicographic range: "-" and "+" are below and above every member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl LexBound {
    fn parse(s: &[u8]) -> Option<LexBound> {
        match s.first()? {
            b'+' if s.len() == 1 => Some(LexBound::Max),
            b'-' if s.len() == 1 => Some(LexBound::Min),
            b'(' => Some(LexBound::Excl(s[1..].to_vec())),
            b'[' => Some(LexBound::Incl(s[1..].to_vec())),
            _ => None,
        }
    }

    fn exclusive(&self) -> bool {
        matches!(self, LexBound::Excl(_))
    }

    /// Orders two bounds: "-" below every string, "+" above, equal sentinels equal.
    fn cmp_bound(&self, o: &LexBound) -> Ordering {
        fn rank(b: &LexBound) -> u8 {
            match b {
                LexBound::Min => 0,
                LexBound::Incl(_) | LexBound::Excl(_) => 1,
                LexBound::Max => 2,
            }
        }
        match (self, o) {
            (LexBound::Incl(a) | LexBound::Excl(a), LexBound::Incl(b) | LexBound::Excl(b)) => {
                a.cmp(b)
            }
            _ => rank(self).cmp(&rank(o)),
        }
    }
}

/// A lexicographic range (Redis' `zlexrangespec`).
#[derive(Debug, Clone)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    pub fn gte_min(&self, v: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(s) => v >= &s[..],
            LexBound::Excl(s) => v > &s[..],
        }
    }

    pub fn lte_max(&self, v: &[u8]) -> bool {
        match &self.max {
            LexBound::Max => true,
            LexBound::Min => false,
            LexBound::Incl(s) => v <= &s[..],
            LexBound::Excl(s) => v < &s[..],
        }
    }

    pub fn contains(&self, v: &[u8]) -> bool {
        self.gte_min(v) && self.lte_max(v)
    }

    pub fn is_empty_spec(&self) -> bool {
        match self.min.cmp_bound(&self.max) {
            Ordering::Greater => true,
            Ordering::Equal => self.min.exclusive() || self.max.exclusive(),
            Ordering::Less => false,
        }
    }
}

/// Redis' `double2ll`: the integer a double equals exactly, within +-2^62.
fn double_as_i64(d: f64) -> Option<i64> {
    let lim = (i64::MAX / 2) as f64;
    if d < -lim || d > lim {
        return None;
    }
    let l = d as i64;
    (l as f64 == d).then_some(l)
}

/// A score as Redis' `d2string` writes it into a listpack.
pub fn d2string(v: f64) -> Vec<u8> {
    if v.is_nan() {
        b"nan".to_vec()
    } else if v.is_infinite() {
        if v < 0.0 {
            b"-inf".to_vec()
        } else {
            b"inf".to_vec()
        }
    } else if v == 0.0 {
        // Both zeros are written as "0": that is what Redis 7.0.15 as shipped (Debian's
        // redis-server) stores in a listpack for a score of -0 (ZSCAN and ZSCORE then show 0,
        // while a skiplist keeps -0), even though util.c reads as if it would write "-0".
        b"0".to_vec()
    } else if let Some(l) = double_as_i64(v) {
        util::i64_bytes(l)
    } else {
        util::f64_g17(v)
    }
}

fn entry_score(e: Entry) -> f64 {
    match e {
        Entry::Int(v) => v as f64,
        Entry::Str(s) => strtod_prefix(s),
    }
}

/// Calls `f` with an entry's bytes (integers in decimal).
#[inline]
fn with_bytes<R>(e: Entry, f: impl FnOnce(&[u8]) -> R) -> R {
    match e {
        Entry::Str(s) => f(s),
        Entry::Int(v) => {
            let mut b = itoa::Buffer::new();
            f(b.format(v).as_bytes())
        }
    }
}

fn entry_cmp(e: Entry, m: &[u8]) -> Ordering {
    with_bytes(e, |b| b.cmp(m))
}

/// ZADD's options.
#[derive(Debug, Default, Clone, Copy)]
pub struct AddFlags {
    pub incr: bool,
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

/// What one ZADD element did (Redis' `ZADD_OUT_*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddOutcome {
    /// The score is, or the increment made it, NaN; nothing changed.
    Nan,
    /// Skipped because of NX/XX/GT/LT.
    Nop,
    Added(f64),
    Updated(f64),
    /// Present with the very same resulting score.
    Same(f64),
}

/// What ZADD does to a present member with score `cur`, given the new score or increment.
fn update_outcome(cur: f64, score: f64, f: AddFlags) -> AddOutcome {
    if f.nx {
        return AddOutcome::Nop;
    }
    let mut score = score;
    if f.incr {
        score += cur;
        if score.is_nan() {
            return AddOutcome::Nan;
        }
    }
    if (f.lt && score >= cur) || (f.gt && score <= cur) {
        return AddOutcome::Nop;
    }
    if score == cur {
        AddOutcome::Same(score)
    } else {
        AddOutcome::Updated(score)
    }
}

/// Listpack pair operations (Redis' `zzl*`).
mod lp {
    use super::*;

    /// Each (member position, member, score), in order.
    pub fn pairs(lp: &Listpack) -> Vec<(Pos, Entry<'_>, f64)> {
        let mut out = Vec::with_capacity(lp.len() / 2);
        let mut p = lp.first();
        while let Some(ep) = p {
            let sp = lp.next(ep).expect("score follows member");
            out.push((ep, lp.get(ep), entry_score(lp.get(sp))));
            p = lp.next(sp);
        }
        out
    }

    /// Position and score of a member.
    pub fn find(lp: &Listpack, member: &[u8]) -> Option<(Pos, f64)> {
        let ep = lp.find(lp.first()?, member, 1)?;
        let sp = lp.next(ep).expect("score follows member");
        Some((ep, entry_score(lp.get(sp))))
    }

    pub fn insert(lp: &mut Listpack, member: &[u8], score: f64) {
        let sbuf = d2string(score);
        let mut p = lp.first();
        while let Some(ep) = p {
            let sp = lp.next(ep).expect("score follows member");
            let s = entry_score(lp.get(sp));
            if s > score || (s == score && entry_cmp(lp.get(ep), member) == Ordering::Greater) {
                let mp = lp.insert_before(ep, member);
                lp.insert_after(mp, &sbuf);
                return;
            }
            p = lp.next(sp);
        }
        lp.append(member);
        lp.append(&sbuf);
    }

    fn gte(p: &(Pos, Entry, f64), r: RangeSpec) -> bool {
        with_bytes(p.1, |m| r.gte(m, p.2))
    }

    fn lte(p: &(Pos, Entry, f64), r: RangeSpec) -> bool {
        with_bytes(p.1, |m| r.lte(m, p.2))
    }

    /// Whether the range can hold anything, judged on the extremes (Redis' `zzlIsInRange`
    /// and `zzlIsInLexRange`).
    fn may_hold(pairs: &[(Pos, Entry, f64)], r: RangeSpec) -> bool {
        match (pairs.first(), pairs.last()) {
            (Some(first), Some(last)) => !r.empty_spec() && gte(last, r) && lte(first, r),
            _ => false,
        }
    }

    /// Pair index of the first element in range (Redis' `zzlFirstInRange`).
    pub fn first_in(pairs: &[(Pos, Entry, f64)], r: RangeSpec) -> Option<usize> {
        if !may_hold(pairs, r) {
            return None;
        }
        let i = pairs.iter().position(|p| gte(p, r))?;
        lte(&pairs[i], r).then_some(i)
    }

    /// Pair index of the last element in range (Redis' `zzlLastInRange`).
    pub fn last_in(pairs: &[(Pos, Entry, f64)], r: RangeSpec) -> Option<usize> {
        if !may_hold(pairs, r) {
            return None;
        }
        let i = pairs.iter().rposition(|p| lte(p, r))?;
        gte(&pairs[i], r).then_some(i)
    }

    /// How many elements from index `i` on keep the range's upper end.
    pub fn run_len(pairs: &[(Pos, Entry, f64)], i: usize, r: RangeSpec) -> usize {
        pairs[i..].iter().take_while(|p| lte(p, r)).count()
    }

    /// Deletes `n` pairs from pair index `i`.
    pub fn delete_pairs(lp: &mut Listpack, i: usize, n: usize) {
        if n == 0 {
            return;
        }
        let p = lp.seek(2 * i as i64).expect("pair index in range");
        lp.delete_range(p, 2 * n);
    }
}

impl ZsetValue {
    pub fn new_listpack() -> ZsetValue {
        ZsetValue::Listpack(Listpack::new())
    }

    pub fn new_skiplist() -> ZsetValue {
        ZsetValue::Skiplist(ZsetSkiplist::new())
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            ZsetValue::Listpack(_) => "listpack",
            ZsetValue::Skiplist(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZsetValue::Listpack(l) => l.len() / 2,
            ZsetValue::Skiplist(z) => z.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZsetValue::Listpack(l) => lp::find(l, member).map(|(_, s)| s),
            ZsetValue::Skiplist(z) => z.score(member),
        }
    }

    /// Rewrites a listpack as a skiplist.
    pub fn convert_to_skiplist(&mut self) {
        if let ZsetValue::Listpack(l) = self {
            let mut z = ZsetSkiplist::new();
            for (_, e, s) in lp::pairs(l) {
                with_bytes(e, |m| z.insert_new(s, m));
            }
            *self = ZsetValue::Skiplist(z);
        }
    }

    /// Rewrites a skiplist as a listpack when it fits the limits (Redis'
    /// `zsetConvertToListpackIfNeeded`, used for stored results).
    pub fn convert_to_listpack_if_needed(
        &mut self,
        maxelelen: usize,
        totelelen: usize,
        lim: Limits,
    ) {
        if let ZsetValue::Skiplist(z) = self {
            if z.len() <= lim.entries
                && maxelelen <= lim.value
                && totelelen <= crate::types::listpack::MAX_SAFETY_SIZE
            {
                let mut l = Listpack::new();
                for n in z.skiplist().iter() {
                    l.append(n.member());
                    l.append(&d2string(n.score()));
                }
                *self = ZsetValue::Listpack(l);
            }
        }
    }

    /// Adds or updates one member (Redis' `zsetAdd`).
    pub fn add(&mut self, score: f64, member: &[u8], f: AddFlags, lim: Limits) -> AddOutcome {
        if score.is_nan() {
            return AddOutcome::Nan;
        }
        if let ZsetValue::Skiplist(z) = self {
            // One index lookup serves both the decision and the update.
            let found = z.modify(member, |cur| {
                let out = update_outcome(cur, score, f);
                match out {
                    AddOutcome::Updated(n) => (Some(n), out),
                    _ => (None, out),
                }
            });
            return match found {
                Some(out) => out,
                None if f.xx => AddOutcome::Nop,
                None => {
                    z.insert_new(score, member);
                    AddOutcome::Added(score)
                }
            };
        }
        let ZsetValue::Listpack(l) = self else {
            unreachable!("skiplist handled above")
        };
        let Some((p, cur)) = lp::find(l, member) else {
            if f.xx {
                return AddOutcome::Nop;
            }
            if l.len() / 2 + 1 > lim.entries
                || member.len() > lim.value
                || !l.safe_to_add(member.len())
            {
                self.convert_to_skiplist();
                if let ZsetValue::Skiplist(z) = self {
                    z.insert_new(score, member);
                }
            } else {
                lp::insert(l, member, score);
            }
            return AddOutcome::Added(score);
        };
        let out = update_outcome(cur, score, f);
        if let AddOutcome::Updated(n) = out {
            l.delete_range(p, 2);
            lp::insert(l, member, n);
        }
        out
    }

    /// Removes a member; false when absent (Redis' `zsetDel`).
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZsetValue::Listpack(l) => match lp::find(l, member) {
                Some((p, _)) => {
                    l.delete_range(p, 2);
                    true
                }
                None => false,
            },
            ZsetValue::Skiplist(z) => z.remove(member).is_some(),
        }
    }

    /// 0-based rank of a member, from the low end or (`rev`) the high end.
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let len = self.len();
        let r = match self {
            ZsetValue::Listpack(l) => {
                let ep = l.find(l.first()?, member, 1)?;
                let mut i = 0;
                let mut p = l.first();
                while let Some(q) = p {
                    if q == ep {
                        break;
                    }
                    i += 1;
                    p = l.next(q);
                }
                i / 2
            }
            ZsetValue::Skiplist(z) => z.rank(member)?.0,
        };
        Some(if rev { len - 1 - r } else { r })
    }

    /// Calls `f` for the members of 0-based ranks start..=end (both valid), counted from the
    /// low end or (`rev`) from the high end, in that direction.
    pub fn for_rank_range(
        &self,
        start: usize,
        end: usize,
        rev: bool,
        mut f: impl FnMut(&[u8], f64),
    ) {
        let n = end + 1 - start;
        match self {
            ZsetValue::Listpack(l) => {
                let pairs = lp::pairs(l);
                let len = pairs.len();
                for k in 0..n {
                    let i = if rev { len - 1 - start - k } else { start + k };
                    let (_, e, s) = pairs[i];
                    with_bytes(e, |m| f(m, s));
                }
            }
            ZsetValue::Skiplist(z) => {
                let zsl = z.skiplist();
                let len = zsl.len();
                let first = if rev { len - start } else { start + 1 };
                let mut node = zsl.by_rank(first);
                for _ in 0..n {
                    let Some(x) = node else { break };
                    f(x.member(), x.score());
                    node = if rev { x.prev() } else { x.next() };
                }
            }
        }
    }

    /// Calls `f` for members with scores in the range, in ascending or (`rev`) descending
    /// order, skipping `offset` of them and emitting at most `limit` (negative: no limit).
    /// Returns how many were emitted.
    pub fn for_score_range(
        &self,
        r: &ScoreRange,
        offset: i64,
        limit: i64,
        rev: bool,
        f: impl FnMut(&[u8], f64),
    ) -> usize {
        self.for_range(RangeSpec::Score(r), offset, limit, rev, f)
    }

    /// Calls `f` for members with scores in the range, in ascending order, until `f` returns
    /// false (the geo searches stop a box walk once they have found enough points).
    pub fn walk_score_range(&self, r: &ScoreRange, mut f: impl FnMut(&[u8], f64) -> bool) {
        match self {
            ZsetValue::Listpack(l) => {
                let pairs = lp::pairs(l);
                let Some(start) = lp::first_in(&pairs, RangeSpec::Score(r)) else {
                    return;
                };
                for &(_, e, s) in &pairs[start..] {
                    if !r.lte_max(s) || !with_bytes(e, |m| f(m, s)) {
                        break;
                    }
                }
            }
            ZsetValue::Skiplist(z) => {
                let mut node = z.skiplist().first_in_range(r);
                while let Some(x) = node {
                    if !r.lte_max(x.score()) || !f(x.member(), x.score()) {
                        break;
                    }
                    node = x.next();
                }
            }
        }
    }

    /// Like [`Self::for_score_range`] over a lexicographic range.
    pub fn for_lex_range(
        &self,
        r: &LexRange,
        offset: i64,
        limit: i64,
        rev: bool,
        f: impl FnMut(&[u8], f64),
    ) -> usize {
        self.for_range(RangeSpec::Lex(r), offset, limit, rev, f)
    }

    /// Redis' walk for range queries, the same for both encodings: start at the first (or
    /// last) element in range, skip `offset` elements without looking at them, then emit
    /// while the far end of the range holds. Lexicographic ranges over unequal scores give
    /// exactly Redis' answers because the walk is the same.
    fn for_range(
        &self,
        r: RangeSpec,
        mut offset: i64,
        limit: i64,
        rev: bool,
        mut f: impl FnMut(&[u8], f64),
    ) -> usize {
        if offset < 0 || limit == 0 {
            return 0;
        }
        let mut left = if limit < 0 { u64::MAX } else { limit as u64 };
        let mut emitted = 0;
        match self {
            ZsetValue::Listpack(l) => {
                let pairs = lp::pairs(l);
                let start = if rev {
                    lp::last_in(&pairs, r)
                } else {
                    lp::first_in(&pairs, r)
                };
                let Some(start) = start else {
                    return 0;
                };
                let mut i = start as i64 + if rev { -offset } else { offset };
                while i >= 0 && (i as usize) < pairs.len() {
                    let (_, e, s) = pairs[i as usize];
                    let go_on = with_bytes(e, |m| {
                        let inside = if rev { r.gte(m, s) } else { r.lte(m, s) };
                        if inside {
                            f(m, s);
                        }
                        inside
                    });
                    if !go_on {
                        break;
                    }
                    emitted += 1;
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                    i += if rev { -1 } else { 1 };
                }
            }
            ZsetValue::Skiplist(z) => {
                let zsl = z.skiplist();
                let mut node = match (r, rev) {
                    (RangeSpec::Score(r), false) => zsl.first_in_range(r),
                    (RangeSpec::Score(r), true) => zsl.last_in_range(r),
                    (RangeSpec::Lex(r), false) => zsl.first_in_lex(r),
                    (RangeSpec::Lex(r), true) => zsl.last_in_lex(r),
                };
                while let Some(x) = node {
                    if offset == 0 {
                        break;
                    }
                    offset -= 1;
                    node = if rev { x.prev() } else { x.next() };
                }
                while let Some(x) = node {
                    let (m, s) = (x.member(), x.score());
                    let inside = if rev { r.gte(m, s) } else { r.lte(m, s) };
                    if !inside {
                        break;
                    }
                    f(m, s);
                    emitted += 1;
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                    node = if rev { x.prev() } else { x.next() };
                }
            }
        }
        emitted
    }

    fn count_in(&self, r: RangeSpec) -> usize {
        match self {
            ZsetValue::Listpack(l) => {
                let pairs = lp::pairs(l);
                match lp::first_in(&pairs, r) {
                    Some(i) => lp::run_len(&pairs, i, r),
                    None => 0,
                }
            }
            ZsetValue::Skiplist(z) => {
                let zsl = z.skiplist();
                let ends = match r {
                    RangeSpec::Score(r) => (zsl.first_in_range(r), zsl.last_in_range(r)),
                    RangeSpec::Lex(r) => (zsl.first_in_lex(r), zsl.last_in_lex(r)),
                };
                match ends {
                    (Some(a), Some(b)) => {
                        zsl.rank(b.score(), b.member()) + 1 - zsl.rank(a.score(), a.member())
                    }
                    _ => 0,
                }
            }
        }
    }

    /// How many members have scores in the range (ZCOUNT).
    pub fn count_in_score(&self, r: &ScoreRange) -> usize {
        self.count_in(RangeSpec::Score(r))
    }

    /// How many members fall in the lexicographic range (ZLEXCOUNT).
    pub fn count_in_lex(&self, r: &LexRange) -> usize {
        self.count_in(RangeSpec::Lex(r))
    }

    /// Removes 0-based ranks start..=end (both valid).
    pub fn remove_range_by_rank(&mut self, start: usize, end: usize) -> usize {
        match self {
            ZsetValue::Listpack(l) => {
                lp::delete_pairs(l, start, end + 1 - start);
                end + 1 - start
            }
            ZsetValue::Skiplist(z) => z.remove_range_by_rank(start, end),
        }
    }

    /// Listpack range removal: from the first element in range, while the far end holds.
    fn lp_remove_range(l: &mut Listpack, r: RangeSpec) -> usize {
        let pairs = lp::pairs(l);
        let Some(i) = lp::first_in(&pairs, r) else {
            return 0;
        };
        let n = lp::run_len(&pairs, i, r);
        drop(pairs);
        lp::delete_pairs(l, i, n);
        n
    }

    pub fn remove_range_by_score(&mut self, r: &ScoreRange) -> usize {
        match self {
            ZsetValue::Listpack(l) => Self::lp_remove_range(l, RangeSpec::Score(r)),
            ZsetValue::Skiplist(z) => z.remove_range_by_score(r),
        }
    }

    pub fn remove_range_by_lex(&mut self, r: &LexRange) -> usize {
        match self {
            ZsetValue::Listpack(l) => Self::lp_remove_range(l, RangeSpec::Lex(r)),
            ZsetValue::Skiplist(z) => z.remove_range_by_lex(r),
        }
    }

    /// The lowest or (`max`) highest member with its score.
    pub fn peek(&self, max: bool) -> Option<(Vec<u8>, f64)> {
        match self {
            ZsetValue::Listpack(l) => {
                let ep = l.seek(if max { -2 } else { 0 })?;
                let sp = l.next(ep)?;
                Some((l.get(ep).to_vec(), entry_score(l.get(sp))))
            }
            ZsetValue::Skiplist(z) => {
                let zsl = z.skiplist();
                let n = if max { zsl.last() } else { zsl.first() }?;
                Some((n.member().to_vec(), n.score()))
            }
        }
    }

    /// Calls `f` for every member in ascending order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            ZsetValue::Listpack(l) => {
                for (_, e, s) in lp::pairs(l) {
                    with_bytes(e, |m| f(m, s));
                }
            }
            ZsetValue::Skiplist(z) => {
                for n in z.skiplist().iter() {
                    f(n.member(), n.score());
                }
            }
        }
    }

    /// Every member with its score, in ascending order.
    pub fn to_vec(&self) -> Vec<(Vec<u8>, f64)> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(|m, s| v.push((m.to_vec(), s)));
        v
    }

    /// A random member with its score (uniform over a listpack, Redis' fair pick over a
    /// skiplist's index).
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<(Vec<u8>, f64)> {
        match self {
            ZsetValue::Listpack(l) => {
                let n = l.len() / 2;
                if n == 0 {
                    return None;
                }
                let i = rng.gen_range(0..n);
                let ep = l.seek(2 * i as i64)?;
                let sp = l.next(ep)?;
                Some((l.get(ep).to_vec(), entry_score(l.get(sp))))
            }
            ZsetValue::Skiplist(z) => z.random(rng).map(|(m, s)| (m.to_vec(), s)),
        }
    }

    /// A deep copy in the same encoding.
    pub fn duplicate(&self) -> ZsetValue {
        match self {
            ZsetValue::Listpack(l) => ZsetValue::Listpack(l.clone()),
            ZsetValue::Skiplist(z) => {
                let mut n = ZsetSkiplist::new();
                for x in z.skiplist().iter() {
                    n.insert_new(x.score(), x.member());
                }
                ZsetValue::Skiplist(n)
            }
        }
    }
}

/// A score or lexicographic range, for the walks both kinds share.
#[derive(Clone, Copy)]
enum RangeSpec<'a> {
    Score(&'a ScoreRange),
    Lex(&'a LexRange),
}

impl RangeSpec<'_> {
    fn empty_spec(&self) -> bool {
        match self {
            RangeSpec::Score(r) => r.is_empty_spec(),
            RangeSpec::Lex(r) => r.is_empty_spec(),
        }
    }

    fn gte(&self, m: &[u8], s: f64) -> bool {
        match self {
            RangeSpec::Score(r) => r.gte_min(s),
            RangeSpec::Lex(r) => r.gte_min(m),
        }
    }

    fn lte(&self, m: &[u8], s: f64) -> bool {
        match self {
            RangeSpec::Score(r) => r.lte_max(s),
            RangeSpec::Lex(r) => r.lte_max(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const LIM: Limits = Limits {
        entries: 8,
        value: 6,
    };

    #[test]
    fn d2string_as_redis() {
        assert_eq!(d2string(1.0), b"1");
        assert_eq!(d2string(-0.0), b"0");
        assert_eq!(d2string(1.5), b"1.5");
        assert_eq!(d2string(f64::INFINITY), b"inf");
        assert_eq!(d2string(0.1), b"0.10000000000000001");
        assert_eq!(d2string(1e300), b"1.0000000000000001e+300");
    }

    #[test]
    fn range_parsing() {
        let r = ScoreRange::parse(b"(1", b"inf").unwrap();
        assert!(r.minex && !r.maxex && r.max.is_infinite());
        assert!(ScoreRange::parse(b"nan", b"1").is_none());
        assert!(ScoreRange::parse(b"1x", b"1").is_none());
        assert!(ScoreRange::parse(b"(", b" 2").is_some());
        let l = LexRange::parse(b"-", b"(b").unwrap();
        assert!(l.contains(b"a") && !l.contains(b"b"));
        assert!(LexRange::parse(b"a", b"+").is_none());
        assert!(LexRange::parse(b"", b"+").is_none());
        assert!(LexRange::parse(b"+", b"-").unwrap().is_empty_spec());
        assert!(!LexRange::parse(b"-", b"-").unwrap().is_empty_spec());
        assert!(LexRange::parse(b"[a", b"(a").unwrap().is_empty_spec());
    }

    #[test]
    fn listpack_layout_is_redis() {
        let mut z = ZsetValue::new_listpack();
        z.add(1.5, b"b", AddFlags::default(), LIM);
        z.add(1.0, b"a", AddFlags::default(), LIM);
        let ZsetValue::Listpack(l) = &z else { panic!() };
        let items: Vec<Vec<u8>> = l.iter().map(|e| e.to_vec()).collect();
        assert_eq!(
            items,
            vec![b"a".to_vec(), b"1".to_vec(), b"b".to_vec(), b"1.5".to_vec()]
        );
        // "1" is an integer entry (7-bit uint), as Redis stores it.
        assert_eq!(l.get(l.seek(1).unwrap()), Entry::Int(1));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(i8, u8, u8),
        Rem(u8),
        RemScore(i8, i8),
        RemRank(u8, u8),
        RemLex(u8, u8),
        Shrink,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<i8>(), any::<u8>(), 0u8..4).prop_map(|(s, m, f)| Op::Add(s, m, f)),
            2 => any::<u8>().prop_map(Op::Rem),
            1 => (any::<i8>(), any::<i8>()).prop_map(|(a, b)| Op::RemScore(a, b)),
            1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::RemRank(a, b)),
            1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::RemLex(a, b)),
            1 => Just(Op::Shrink),
        ]
    }

    fn name(m: u8) -> Vec<u8> {
        // Some long members (past the value limit) and some integers, to cover conversions
        // and integer listpack entries.
        match m % 4 {
            0 => format!("{}", m % 32).into_bytes(),
            1 => format!("long-member-{}", m % 32).into_bytes(),
            _ => format!("m{}", m % 32).into_bytes(),
        }
    }

    fn sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = model.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
        v
    }

    proptest! {
        #[test]
        fn zset_matches_a_model(ops in proptest::collection::vec(op(), 1..200)) {
            let mut z = ZsetValue::new_listpack();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            for o in ops {
                match o {
                    Op::Add(s, m, fl) => {
                        let m = name(m);
                        let s = s as f64 / 2.0;
                        let flags = AddFlags { incr: fl == 1, gt: fl == 2, lt: fl == 3, ..Default::default() };
                        let out = z.add(s, &m, flags, LIM);
                        let cur = model.get(&m).copied();
                        let want = match cur {
                            None => { model.insert(m.clone(), s); AddOutcome::Added(s) }
                            Some(c) => {
                                let n = if flags.incr { c + s } else { s };
                                if (flags.lt && n >= c) || (flags.gt && n <= c) { AddOutcome::Nop }
                                else if n == c { AddOutcome::Same(n) }
                                else { model.insert(m.clone(), n); AddOutcome::Updated(n) }
                            }
                        };
                        prop_assert_eq!(out, want);
                    }
                    Op::Rem(m) => {
                        let m = name(m);
                        prop_assert_eq!(z.remove(&m), model.remove(&m).is_some());
                    }
                    Op::RemScore(a, b) => {
                        let r = ScoreRange { min: a as f64 / 2.0, max: b as f64 / 2.0, minex: a % 2 == 0, maxex: b % 2 == 0 };
                        let gone: Vec<Vec<u8>> = model.iter().filter(|(_, s)| r.contains(**s)).map(|(k, _)| k.clone()).collect();
                        prop_assert_eq!(z.count_in_score(&r), gone.len());
                        prop_assert_eq!(z.remove_range_by_score(&r), gone.len());
                        for k in gone { model.remove(&k); }
                    }
                    Op::RemRank(a, b) => {
                        let len = model.len();
                        if len > 0 {
                            let (s, e) = ((a as usize) % len, (b as usize) % len);
                            let (s, e) = (s.min(e), s.max(e));
                            let all = sorted(&model);
                            let mut got = vec![];
                            z.for_rank_range(s, e, false, |m, sc| got.push((m.to_vec(), sc)));
                            prop_assert_eq!(&got[..], &all[s..=e]);
                            let mut rev = vec![];
                            z.for_rank_range(s, e, true, |m, sc| rev.push((m.to_vec(), sc)));
                            let want_rev: Vec<_> = all.iter().rev().skip(s).take(e + 1 - s).cloned().collect();
                            prop_assert_eq!(rev, want_rev);
                            prop_assert_eq!(z.remove_range_by_rank(s, e), e + 1 - s);
                            for (k, _) in &all[s..=e] { model.remove(k); }
                        }
                    }
                    Op::RemLex(a, b) => {
                        let r = LexRange { min: LexBound::Incl(name(a)), max: LexBound::Excl(name(b)) };
                        let gone: Vec<Vec<u8>> = model.keys().filter(|k| r.contains(k)).cloned().collect();
                        // Lex ranges are only meaningful with equal scores; counting still
                        // has to agree on whatever is stored.
                        let all = sorted(&model);
                        let mut got = vec![];
                        z.for_lex_range(&r, 0, -1, false, |m, _| got.push(m.to_vec()));
                        let mut want = vec![];
                        if all.iter().all(|p| p.1 == all[0].1) {
                            want = all.iter().filter(|p| r.contains(&p.0)).map(|p| p.0.clone()).collect();
                            prop_assert_eq!(&got, &want);
                            prop_assert_eq!(z.remove_range_by_lex(&r), gone.len());
                            for k in gone { model.remove(&k); }
                        }
                        let _ = want;
                    }
                    Op::Shrink => {
                        let maxlen = model.keys().map(|k| k.len()).max().unwrap_or(0);
                        let tot = model.keys().map(|k| k.len()).sum();
                        z.convert_to_listpack_if_needed(maxlen, tot, LIM);
                        if model.len() <= LIM.entries && maxlen <= LIM.value {
                            prop_assert_eq!(z.encoding_name(), "listpack");
                        }
                    }
                }
                prop_assert_eq!(z.len(), model.len());
                prop_assert_eq!(z.to_vec(), sorted(&model));
                if let ZsetValue::Listpack(_) = z {
                    prop_assert!(model.len() <= LIM.entries);
                    prop_assert!(model.keys().all(|k| k.len() <= LIM.value));
                }
                for (i, (m, s)) in sorted(&model).iter().enumerate() {
                    prop_assert_eq!(z.rank(m, false), Some(i));
                    prop_assert_eq!(z.rank(m, true), Some(model.len() - 1 - i));
                    prop_assert_eq!(z.score(m), Some(*s));
                }
            }
        }
    }
}
