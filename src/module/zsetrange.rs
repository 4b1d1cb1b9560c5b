//! The sorted set range iterator of the key API (ZsetFirstInScoreRange ... ZsetRangeStop):
//! seek the first or last element of a score or lexicographic range, then step with
//! ZsetRangeNext/Prev until the range's far end, as 7.0 does.
//!
//! Key handles look their value up again on every call, so the iterator keeps the rank of its
//! current element rather than a pointer into the set; a step reads the neighbour rank and
//! checks it against the range.

use std::ffi::c_int;

use super::ctx::{REDISMODULE_ERR, REDISMODULE_OK};
use super::key::{Key, KeyIter};
use super::string::RmString;
use crate::types::zset::{LexRange, ScoreRange, ZsetValue};
use crate::types::Value;

/// The range an iterator walks.
enum Range {
    Score(ScoreRange),
    Lex(LexRange),
}

/// A started range iteration: its range, the rank of the current element (None when the
/// range held nothing) and the end-reached flag.
pub struct ZsetRange {
    range: Option<Range>,
    current: Option<usize>,
    end_reached: bool,
}

/// The handle, or None for NULL (a missing key opened for reading); every function then
/// answers as for an empty key rather than crash.
fn handle<'a>(k: *mut Key) -> Option<&'a mut Key> {
    // SAFETY: NULL or an open key handle, live for the module's call.
    unsafe { k.as_mut() }
}

fn zset_of(k: &Key) -> Option<&ZsetValue> {
    match k.value().map(|o| &o.value) {
        Some(Value::Zset(z)) => Some(z),
        _ => None,
    }
}

/// The element at a 0-based rank.
fn at_rank(z: &ZsetValue, rank: usize) -> Option<(Vec<u8>, f64)> {
    if rank >= z.len() {
        return None;
    }
    let mut out = None;
    z.for_rank_range(rank, rank, false, |m, s| out = Some((m.to_vec(), s)));
    out
}

/// The rank of the first (or last) element of the range, if any.
fn seek(z: &ZsetValue, range: &Range, first: bool) -> Option<usize> {
    let mut hit: Option<Vec<u8>> = None;
    match range {
        Range::Score(r) => {
            if r.is_empty_spec() {
                return None;
            }
            z.for_score_range(r, 0, 1, !first, |m, _| hit = Some(m.to_vec()));
        }
        Range::Lex(r) => {
            if r.is_empty_spec() {
                return None;
            }
            z.for_lex_range(r, 0, 1, !first, |m, _| hit = Some(m.to_vec()));
        }
    }
    z.rank(&hit?, false)
}

/// Starts an iteration (any previous one on the key is stopped first, as in Redis).
fn start(k: *mut Key, range: Option<Range>, first: bool) -> c_int {
    let Some(k) = handle(k) else {
        return REDISMODULE_ERR;
    };
    let Some(z) = zset_of(k) else {
        return REDISMODULE_ERR;
    };
    let Some(range) = range else {
        // An unparsable lex range: the previous iteration is gone and nothing replaces it.
        k.iter = KeyIter::Zset(ZsetRange {
            range: None,
            current: None,
            end_reached: false,
        });
        return REDISMODULE_ERR;
    };
    let current = seek(z, &range, first);
    k.iter = KeyIter::Zset(ZsetRange {
        range: Some(range),
        current,
        end_reached: current.is_none(),
    });
    REDISMODULE_OK
}

/// The score range the API's arguments describe (exclusive flags as C ints).
fn score_range(min: f64, max: f64, minex: c_int, maxex: c_int) -> Range {
    Range::Score(ScoreRange {
        min,
        max,
        minex: minex != 0,
        maxex: maxex != 0,
    })
}

unsafe extern "C" fn first_in_score_range(
    k: *mut Key,
    min: f64,
    max: f64,
    minex: c_int,
    maxex: c_int,
) -> c_int {
    start(k, Some(score_range(min, max, minex, maxex)), true)
}

unsafe extern "C" fn last_in_score_range(
    k: *mut Key,
    min: f64,
    max: f64,
    minex: c_int,
    maxex: c_int,
) -> c_int {
    start(k, Some(score_range(min, max, minex, maxex)), false)
}

fn lex_range(min: *mut RmString, max: *mut RmString) -> Option<Range> {
    // SAFETY: live module strings.
    let (min, max) = unsafe { (RmString::get(min), RmString::get(max)) };
    LexRange::parse(min, max).map(Range::Lex)
}

unsafe extern "C" fn first_in_lex_range(
    k: *mut Key,
    min: *mut RmString,
    max: *mut RmString,
) -> c_int {
    if handle(k).and_then(|k| zset_of(k)).is_none() {
        return REDISMODULE_ERR;
    }
    start(k, lex_range(min, max), true)
}

unsafe extern "C" fn last_in_lex_range(
    k: *mut Key,
    min: *mut RmString,
    max: *mut RmString,
) -> c_int {
    if handle(k).and_then(|k| zset_of(k)).is_none() {
        return REDISMODULE_ERR;
    }
    start(k, lex_range(min, max), false)
}

unsafe extern "C" fn range_stop(k: *mut Key) {
    let Some(k) = handle(k) else {
        return;
    };
    if zset_of(k).is_some() && matches!(k.iter, KeyIter::Zset(_)) {
        k.iter = KeyIter::None;
    }
}

unsafe extern "C" fn range_end_reached(k: *mut Key) -> c_int {
    let Some(k) = handle(k) else {
        return 1;
    };
    if zset_of(k).is_none() {
        return 1;
    }
    match &k.iter {
        KeyIter::Zset(it) => it.end_reached as c_int,
        // No iteration started (or stopped): Redis' reset state says the end is reached.
        _ => 1,
    }
}

unsafe extern "C" fn range_current_element(k: *mut Key, score: *mut f64) -> *mut RmString {
    let Some(k) = handle(k) else {
        return std::ptr::null_mut();
    };
    let Some(z) = zset_of(k) else {
        return std::ptr::null_mut();
    };
    let KeyIter::Zset(ZsetRange {
        current: Some(rank),
        ..
    }) = &k.iter
    else {
        return std::ptr::null_mut();
    };
    let Some((member, s)) = at_rank(z, *rank) else {
        return std::ptr::null_mut();
    };
    // SAFETY: NULL or writable.
    if let Some(out) = unsafe { score.as_mut() } {
        *out = s;
    }
    super::string::create(k.ctx, &member)
}

/// One step forwards or backwards: 1 if the neighbour is still in the range.
fn step(k: *mut Key, forward: bool) -> c_int {
    let Some(k) = handle(k) else {
        return 0;
    };
    let Some(z) = zset_of(k) else {
        return 0;
    };
    let z: *const ZsetValue = z;
    let KeyIter::Zset(it) = &mut k.iter else {
        return 0;
    };
    let (Some(range), Some(rank)) = (&it.range, it.current) else {
        return 0;
    };
    let next = if forward {
        rank.checked_add(1)
    } else {
        rank.checked_sub(1)
    };
    // SAFETY: the set lives in the keyspace for the whole call and is only read here.
    let elem = next.and_then(|n| at_rank(unsafe { &*z }, n));
    let inside = elem.as_ref().is_some_and(|(m, s)| match (range, forward) {
        (Range::Score(r), true) => r.lte_max(*s),
        (Range::Score(r), false) => r.gte_min(*s),
        (Range::Lex(r), true) => r.lte_max(m),
        (Range::Lex(r), false) => r.gte_min(m),
    });
    if inside {
        it.current = next;
        1
    } else {
        it.end_reached = true;
        0
    }
}

unsafe extern "C" fn range_next(k: *mut Key) -> c_int {
    step(k, true)
}

unsafe extern "C" fn range_prev(k: *mut Key) -> c_int {
    step(k, false)
}

pub fn entries() -> Vec<(&'static str, usize)> {
    type ScoreFn = unsafe extern "C" fn(*mut Key, f64, f64, c_int, c_int) -> c_int;
    type LexFn = unsafe extern "C" fn(*mut Key, *mut RmString, *mut RmString) -> c_int;
    super::api_entries! {
        "ZsetFirstInScoreRange" => first_in_score_range as ScoreFn,
        "ZsetLastInScoreRange" => last_in_score_range as ScoreFn,
        "ZsetFirstInLexRange" => first_in_lex_range as LexFn,
        "ZsetLastInLexRange" => last_in_lex_range as LexFn,
        "ZsetRangeStop" => range_stop as unsafe extern "C" fn(*mut Key),
        "ZsetRangeEndReached" => range_end_reached as unsafe extern "C" fn(*mut Key) -> c_int,
        "ZsetRangeCurrentElement" => range_current_element as unsafe extern "C" fn(*mut Key, *mut f64) -> *mut RmString,
        "ZsetRangeNext" => range_next as unsafe extern "C" fn(*mut Key) -> c_int,
        "ZsetRangePrev" => range_prev as unsafe extern "C" fn(*mut Key) -> c_int,
    }
}
