//! The key API for streams (StreamAdd/Delete, the stream iterator, trimming) and the stream ID
//! string conversions, with 7.0's errno conventions: EINVAL bad arguments, ENOTSUP empty key or
//! other type, EBADF not writable (or iterator misuse), EDOM bad ID, ENOENT nothing there.
//!
//! Key handles look their value up again on every call, so the iterator holds no pointer into
//! the stream: it keeps its bounds and the ID it returned last, and each step searches from
//! there. That also makes deleting the current entry while iterating (StreamIteratorDelete)
//! safe without re-seeking.

use std::ffi::{c_int, c_long, c_longlong};

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::key::{Key, KeyIter};
use super::set_errno;
use super::string::RmString;
use crate::types::stream::{AppendError, Stream, StreamId, Trim};
use crate::types::Value;

const ADD_AUTOID: c_int = 1 << 0;
const ITERATOR_EXCLUSIVE: c_int = 1 << 0;
const ITERATOR_REVERSE: c_int = 1 << 1;
const TRIM_APPROX: c_int = 1 << 0;

/// `RedisModuleStreamID`.
#[repr(C)]
pub struct RmStreamId {
    pub ms: u64,
    pub seq: u64,
}

/// A started stream iterator.
pub struct StreamIter {
    /// Inclusive bounds (after EXCLUSIVE moved them inwards).
    lower: StreamId,
    upper: StreamId,
    rev: bool,
    /// The last ID NextID returned: the next search starts past it.
    cursor: Option<StreamId>,
    /// The current entry (0-0: none, so Delete and NextField refuse) and its fields.
    current: StreamId,
    fields: Vec<Vec<u8>>,
    next_field: usize,
}

fn stream_of(k: &Key) -> Option<&mut Stream> {
    match k.value().map(|o| &mut o.value) {
        Some(Value::Stream(s)) => Some(s),
        _ => None,
    }
}

fn err(e: c_int) -> c_int {
    set_errno(e);
    REDISMODULE_ERR
}

unsafe extern "C" fn stream_add(
    k: *mut Key,
    flags: c_int,
    id: *mut RmStreamId,
    argv: *mut *mut RmString,
    numfields: c_long,
) -> c_int {
    // SAFETY: NULL or an open key handle.
    let Some(k) = (unsafe { k.as_mut() }) else {
        return err(libc::EINVAL);
    };
    let autoid = flags & ADD_AUTOID != 0;
    if (numfields != 0 && argv.is_null())
        || numfields < 0
        || flags & !ADD_AUTOID != 0
        || (!autoid && id.is_null())
    {
        return err(libc::EINVAL);
    }
    let existing = k.value().map(|o| matches!(o.value, Value::Stream(_)));
    if existing == Some(false) {
        return err(libc::ENOTSUP);
    }
    if !k.writable() {
        return err(libc::EBADF);
    }
    let wanted = if autoid {
        None
    } else {
        // SAFETY: checked non-null above; the module passes a valid ID.
        let id = unsafe { &*id };
        if id.ms == 0 && id.seq == 0 {
            return err(libc::EDOM);
        }
        Some((StreamId::new(id.ms, id.seq), true))
    };
    // SAFETY: `numfields * 2` live strings at argv, as the API requires.
    let fv: Vec<Vec<u8>> = (0..numfields as usize * 2)
        .map(|i| unsafe { RmString::get(*argv.add(i)).to_vec() })
        .collect();
    let srv = k.srv();
    let created = existing.is_none();
    if created {
        // A new key signals blocked readers itself (db_add does, as Redis' dbAdd).
        srv.db_add(k.db, k.name(), Value::Stream(Box::default()));
    }
    let max_bytes = srv.config.stream_node_max_bytes.max(0) as usize;
    let max_entries = srv.config.stream_node_max_entries.max(0) as usize;
    let now = crate::util::mstime().max(0) as u64;
    let s = stream_of(k).expect("a stream");
    if s.last_id == StreamId::MAX {
        return err(libc::EFBIG);
    }
    match s.append(&fv, wanted, now, max_bytes, max_entries) {
        Ok(added) => {
            if !created {
                k.stream_signal_ready = true;
            }
            // SAFETY: NULL or writable.
            if let Some(id) = unsafe { id.as_mut() } {
                id.ms = added.ms;
                id.seq = added.seq;
            }
            REDISMODULE_OK
        }
        Err(AppendError::IdTooSmall) => err(libc::EDOM),
        Err(AppendError::TooLarge) => err(libc::ERANGE),
    }
}

unsafe extern "C" fn stream_delete(k: *mut Key, id: *mut RmStreamId) -> c_int {
    // SAFETY: NULL or an open key handle; NULL or a valid ID.
    let (Some(k), Some(id)) = (unsafe { k.as_mut() }, unsafe { id.as_ref() }) else {
        return err(libc::EINVAL);
    };
    if stream_of(k).is_none() {
        return err(libc::ENOTSUP);
    }
    if !k.writable() || !matches!(k.iter, KeyIter::None) {
        return err(libc::EBADF);
    }
    // Like Redis' streamDeleteItem: the entry is flagged deleted; XDEL's bookkeeping of the
    // first and largest deleted IDs is XDEL's own and not done here.
    if stream_of(k)
        .expect("a stream")
        .delete(StreamId::new(id.ms, id.seq))
    {
        REDISMODULE_OK
    } else {
        err(libc::ENOENT)
    }
}

unsafe extern "C" fn iterator_start(
    k: *mut Key,
    flags: c_int,
    start: *mut RmStreamId,
    end: *mut RmStreamId,
) -> c_int {
    // SAFETY: NULL or an open key handle.
    let Some(k) = (unsafe { k.as_mut() }) else {
        return err(libc::EINVAL);
    };
    if flags & !(ITERATOR_EXCLUSIVE | ITERATOR_REVERSE) != 0 {
        return err(libc::EINVAL);
    }
    if stream_of(k).is_none() {
        return err(libc::ENOTSUP);
    }
    if !matches!(k.iter, KeyIter::None) {
        return err(libc::EBADF);
    }
    // SAFETY: NULL or valid IDs.
    let (start, end) = unsafe { (start.as_ref(), end.as_ref()) };
    let mut lower = start.map_or(StreamId::MIN, |i| StreamId::new(i.ms, i.seq));
    let mut upper = end.map_or(StreamId::MAX, |i| StreamId::new(i.ms, i.seq));
    if flags & ITERATOR_EXCLUSIVE != 0 {
        if start.is_some() {
            match lower.incr() {
                Some(v) => lower = v,
                None => return err(libc::EDOM),
            }
        }
        if end.is_some() {
            match upper.decr() {
                Some(v) => upper = v,
                None => return err(libc::EDOM),
            }
        }
    }
    k.iter = KeyIter::Stream(StreamIter {
        lower,
        upper,
        rev: flags & ITERATOR_REVERSE != 0,
        cursor: None,
        current: StreamId::MIN,
        fields: Vec::new(),
        next_field: 0,
    });
    REDISMODULE_OK
}

/// The checks every iterator call starts with; the iterator when they pass.
fn started(k: *mut Key) -> Result<&'static mut Key, c_int> {
    // SAFETY: NULL or an open key handle, live for the module's call.
    let Some(k) = (unsafe { k.as_mut() }) else {
        return Err(err(libc::EINVAL));
    };
    if stream_of(k).is_none() {
        return Err(err(libc::ENOTSUP));
    }
    if !matches!(k.iter, KeyIter::Stream(_)) {
        return Err(err(libc::EBADF));
    }
    Ok(k)
}

fn iter_of(k: &mut Key) -> &mut StreamIter {
    match &mut k.iter {
        KeyIter::Stream(it) => it,
        _ => unreachable!("checked by started()"),
    }
}

unsafe extern "C" fn iterator_stop(k: *mut Key) -> c_int {
    match started(k) {
        Ok(k) => {
            k.iter = KeyIter::None;
            REDISMODULE_OK
        }
        Err(e) => e,
    }
}

unsafe extern "C" fn iterator_next_id(
    k: *mut Key,
    id: *mut RmStreamId,
    numfields: *mut c_long,
) -> c_int {
    let k = match started(k) {
        Ok(k) => k,
        Err(e) => return e,
    };
    let s: *const Stream = stream_of(k).expect("a stream");
    let it = iter_of(k);
    // Continue past the entry returned last; an exhausted ID space ends the iteration.
    let (from, to) = match (it.cursor, it.rev) {
        (None, _) => (Some(it.lower), Some(it.upper)),
        (Some(c), false) => (c.incr(), Some(it.upper)),
        (Some(c), true) => (Some(it.lower), c.decr()),
    };
    let mut found = None;
    if let (Some(from), Some(to)) = (from, to) {
        // SAFETY: the stream lives in the keyspace for the whole call; nothing else
        // touches it while it is read here.
        unsafe { &*s }.for_range(from, to, it.rev, false, true, |e| {
            found = Some((e.id, std::mem::take(&mut e.fields)));
            false
        });
    }
    match found {
        Some((eid, fields)) => {
            it.cursor = Some(eid);
            it.current = eid;
            it.fields = fields;
            it.next_field = 0;
            // SAFETY: NULL or writable.
            if let Some(id) = unsafe { id.as_mut() } {
                id.ms = eid.ms;
                id.seq = eid.seq;
            }
            // SAFETY: NULL or writable.
            if let Some(n) = unsafe { numfields.as_mut() } {
                *n = (it.fields.len() / 2) as c_long;
            }
            REDISMODULE_OK
        }
        None => {
            it.current = StreamId::MIN;
            it.fields.clear();
            it.next_field = 0;
            err(libc::ENOENT)
        }
    }
}

unsafe extern "C" fn iterator_next_field(
    k: *mut Key,
    field: *mut *mut RmString,
    value: *mut *mut RmString,
) -> c_int {
    let k = match started(k) {
        Ok(k) => k,
        Err(e) => return e,
    };
    let ctx = k.ctx;
    let it = iter_of(k);
    if it.next_field + 1 >= it.fields.len() {
        return err(libc::ENOENT);
    }
    let i = it.next_field;
    it.next_field += 2;
    // SAFETY: NULL or writable result pointers; the strings go to the context's
    // auto-memory when it is on, as in Redis.
    unsafe {
        if let Some(f) = field.as_mut() {
            *f = super::string::create(ctx, &it.fields[i]);
        }
        if let Some(v) = value.as_mut() {
            *v = super::string::create(ctx, &it.fields[i + 1]);
        }
    }
    REDISMODULE_OK
}

unsafe extern "C" fn iterator_delete(k: *mut Key) -> c_int {
    // SAFETY: NULL or an open key handle.
    let Some(kr) = (unsafe { k.as_mut() }) else {
        return err(libc::EINVAL);
    };
    if stream_of(kr).is_none() {
        return err(libc::ENOTSUP);
    }
    if !kr.writable() || !matches!(kr.iter, KeyIter::Stream(_)) {
        return err(libc::EBADF);
    }
    let it = iter_of(kr);
    if it.current.is_zero() {
        return err(libc::ENOENT);
    }
    let id = it.current;
    it.current = StreamId::MIN;
    it.fields.clear();
    it.next_field = 0;
    stream_of(kr).expect("a stream").delete(id);
    REDISMODULE_OK
}

/// The checks both trims start with.
fn trimmable(k: *mut Key, flags: c_int) -> Result<&'static mut Key, c_longlong> {
    // SAFETY: NULL or an open key handle, live for the module's call.
    let Some(k) = (unsafe { k.as_mut() }) else {
        set_errno(libc::EINVAL);
        return Err(-1);
    };
    if flags & !TRIM_APPROX != 0 {
        set_errno(libc::EINVAL);
        return Err(-1);
    }
    if stream_of(k).is_none() {
        set_errno(libc::ENOTSUP);
        return Err(-1);
    }
    if !k.writable() {
        set_errno(libc::EBADF);
        return Err(-1);
    }
    Ok(k)
}

/// Approximate trims stop after this many entries, as XTRIM's default LIMIT.
fn approx_limit(k: &Key, approx: bool) -> u64 {
    if approx {
        100 * k.srv().config.stream_node_max_entries.max(0) as u64
    } else {
        0
    }
}

unsafe extern "C" fn trim_by_length(k: *mut Key, flags: c_int, length: c_longlong) -> c_longlong {
    if !k.is_null() && length < 0 {
        set_errno(libc::EINVAL);
        return -1;
    }
    let k = match trimmable(k, flags) {
        Ok(k) => k,
        Err(e) => return e,
    };
    let approx = flags & TRIM_APPROX != 0;
    let limit = approx_limit(k, approx);
    let s = stream_of(k).expect("a stream");
    s.trim(Trim::MaxLen(length as u64), approx, limit) as c_longlong
}

unsafe extern "C" fn trim_by_id(k: *mut Key, flags: c_int, id: *mut RmStreamId) -> c_longlong {
    if id.is_null() {
        set_errno(libc::EINVAL);
        return -1;
    }
    let k = match trimmable(k, flags) {
        Ok(k) => k,
        Err(e) => return e,
    };
    // SAFETY: checked non-null; the module passes a valid ID.
    let id = unsafe { &*id };
    let approx = flags & TRIM_APPROX != 0;
    let limit = approx_limit(k, approx);
    let s = stream_of(k).expect("a stream");
    s.trim(Trim::MinId(StreamId::new(id.ms, id.seq)), approx, limit) as c_longlong
}

/// `RedisModule_StringToStreamID`: "ms-seq", "ms" (sequence 0), "-" and "+".
unsafe extern "C" fn string_to_stream_id(s: *const RmString, id: *mut RmStreamId) -> c_int {
    // SAFETY: a live string.
    let bytes = unsafe { RmString::get(s as *mut RmString) };
    match StreamId::parse(bytes, 0, false, false) {
        Some((v, _)) => {
            // SAFETY: writable.
            unsafe {
                (*id).ms = v.ms;
                (*id).seq = v.seq;
            }
            REDISMODULE_OK
        }
        None => REDISMODULE_ERR,
    }
}

/// `RedisModule_CreateStringFromStreamID`: "ms-seq".
unsafe extern "C" fn create_string_from_stream_id(
    ctx: *mut Ctx,
    id: *const RmStreamId,
) -> *mut RmString {
    // SAFETY: a valid ID.
    let id = unsafe { &*id };
    super::string::create(ctx, &StreamId::new(id.ms, id.seq).to_bytes())
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries! {
        "StreamAdd" => stream_add as unsafe extern "C" fn(*mut Key, c_int, *mut RmStreamId, *mut *mut RmString, c_long) -> c_int,
        "StreamDelete" => stream_delete as unsafe extern "C" fn(*mut Key, *mut RmStreamId) -> c_int,
        "StreamIteratorStart" => iterator_start as unsafe extern "C" fn(*mut Key, c_int, *mut RmStreamId, *mut RmStreamId) -> c_int,
        "StreamIteratorStop" => iterator_stop as unsafe extern "C" fn(*mut Key) -> c_int,
        "StreamIteratorNextID" => iterator_next_id as unsafe extern "C" fn(*mut Key, *mut RmStreamId, *mut c_long) -> c_int,
        "StreamIteratorNextField" => iterator_next_field as unsafe extern "C" fn(*mut Key, *mut *mut RmString, *mut *mut RmString) -> c_int,
        "StreamIteratorDelete" => iterator_delete as unsafe extern "C" fn(*mut Key) -> c_int,
        "StreamTrimByLength" => trim_by_length as unsafe extern "C" fn(*mut Key, c_int, c_longlong) -> c_longlong,
        "StreamTrimByID" => trim_by_id as unsafe extern "C" fn(*mut Key, c_int, *mut RmStreamId) -> c_longlong,
        "StringToStreamID" => string_to_stream_id as unsafe extern "C" fn(*const RmString, *mut RmStreamId) -> c_int,
        "CreateStringFromStreamID" => create_string_from_stream_id as unsafe extern "C" fn(*mut Ctx, *const RmStreamId) -> *mut RmString,
    }
}
