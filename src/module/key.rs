//! The low-level key API: `OpenKey` gives a handle on one key of the context's database; the
//! handle looks the value up again on every operation (the keyspace owns values, and a handle
//! must never dangle if the module's own calls change the key meanwhile). Strings (set, DMA,
//! truncate), key type and length, delete/unlink and expires are implemented so far.

use std::ffi::{c_char, c_int, c_longlong};

use super::ctx::{flags as ctxflags, AutoEntry, Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;
use crate::db::lookup;
use crate::server::Server;
use crate::types::{Obj, RStr, Value};

pub const READ: c_int = 1 << 0;
pub const WRITE: c_int = 1 << 1;
pub const OPEN_KEY_NOTOUCH: c_int = 1 << 16;
const NO_EXPIRE: c_longlong = -1;

pub struct Key {
    ctx: *mut Ctx,
    db: usize,
    key: Vec<u8>,
    mode: c_int,
}

impl Key {
    fn srv(&self) -> &mut Server {
        // SAFETY: a key handle lives within its context's call, whose server is live.
        unsafe { (*self.ctx).server() }
    }

    /// The value, without touching statistics or the access clock (already done at open).
    fn value(&self) -> Option<&mut Obj> {
        let srv = self.srv();
        srv.lookup_key(
            self.db,
            &self.key,
            lookup::NOTOUCH | lookup::NONOTIFY | lookup::NOSTATS,
        )
    }

    fn writable(&self) -> bool {
        self.mode & WRITE != 0
    }
}

unsafe extern "C" fn open_key(ctx: *mut Ctx, name: *mut RmString, mode: c_int) -> *mut Key {
    // SAFETY: a live context and module string.
    let (c, name) = unsafe { (&mut *ctx, RmString::get(name).to_vec()) };
    // SAFETY: a live context.
    let Some(db) = (unsafe { c.client() }).map(|cl| cl.db) else {
        return std::ptr::null_mut();
    };
    // SAFETY: a live context.
    let srv = unsafe { c.server() };
    let mut lflags = 0;
    if mode & OPEN_KEY_NOTOUCH != 0 {
        lflags |= lookup::NOTOUCH;
    }
    if mode & WRITE != 0 {
        srv.lookup_key(db, &name, lflags | lookup::WRITE);
    } else if srv.lookup_key(db, &name, lflags).is_none() {
        return std::ptr::null_mut();
    }
    let k = Box::into_raw(Box::new(Key {
        ctx,
        db,
        key: name,
        mode,
    }));
    if c.flags & ctxflags::AUTO_MEMORY != 0 {
        c.auto.push(AutoEntry::Key(k));
    }
    k
}

/// Closes a key handle: a key opened for writing counts as modified (WATCH), as in Redis.
///
/// # Safety
/// `k` is an open key handle (or NULL).
pub unsafe fn close_key(k: *mut Key) {
    if k.is_null() {
        return;
    }
    // SAFETY: per the contract above; handles are created by Box::into_raw in `open_key`.
    let key = unsafe { Box::from_raw(k) };
    if key.writable() {
        let srv = key.srv();
        srv.signal_modified_key(key.db, &key.key);
    }
}

unsafe extern "C" fn rm_close_key(k: *mut Key) {
    if k.is_null() {
        return;
    }
    // SAFETY: an open handle; its context is live.
    let ctx = unsafe { &mut *(*k).ctx };
    ctx.auto.retain(|e| !matches!(e, AutoEntry::Key(p) if *p == k));
    // SAFETY: an open handle.
    unsafe { close_key(k) };
}

unsafe extern "C" fn key_type(k: *mut Key) -> c_int {
    // SAFETY: an open handle or NULL.
    let Some(k) = (unsafe { k.as_ref() }) else {
        return 0;
    };
    match k.value().map(|o| &o.value) {
        None => 0,
        Some(Value::Str(_)) => 1,
        Some(Value::List(_)) => 2,
        Some(Value::Hash(_)) => 3,
        Some(Value::Set(_)) => 4,
        Some(Value::Zset(_)) => 5,
        Some(Value::Stream(_)) => 7,
    }
}

unsafe extern "C" fn value_length(k: *mut Key) -> usize {
    // SAFETY: an open handle or NULL.
    let Some(k) = (unsafe { k.as_ref() }) else {
        return 0;
    };
    match k.value().map(|o| &o.value) {
        None => 0,
        Some(Value::Str(s)) => s.len(),
        Some(Value::List(l)) => l.len(),
        Some(Value::Hash(h)) => h.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::Zset(z)) => z.len(),
        Some(Value::Stream(s)) => s.length as usize,
    }
}

unsafe extern "C" fn delete_key(k: *mut Key) -> c_int {
    // SAFETY: an open handle.
    let k = unsafe { &*k };
    if !k.writable() {
        return REDISMODULE_ERR;
    }
    if k.value().is_some() {
        k.srv().db_delete(k.db, &k.key);
    }
    REDISMODULE_OK
}

unsafe extern "C" fn unlink_key(k: *mut Key) -> c_int {
    // SAFETY: an open handle.
    let k = unsafe { &*k };
    if !k.writable() {
        return REDISMODULE_ERR;
    }
    if k.value().is_some() {
        k.srv().db_async_delete(k.db, &k.key);
    }
    REDISMODULE_OK
}

unsafe extern "C" fn string_set(k: *mut Key, s: *mut RmString) -> c_int {
    // SAFETY: an open handle and a live string.
    let (k, s) = unsafe { (&*k, RmString::get(s)) };
    if !k.writable() {
        return REDISMODULE_ERR;
    }
    let v = Value::Str(RStr::from_bytes(s.to_vec()));
    k.srv().set_key(k.db, &k.key, v, false);
    REDISMODULE_OK
}

/// Direct access to a string value's bytes; valid until the key is modified or closed.
unsafe extern "C" fn string_dma(k: *mut Key, len: *mut usize, mode: c_int) -> *mut c_char {
    // SAFETY: an open handle.
    let k = unsafe { &*k };
    if k.value().is_none() {
        if mode & WRITE == 0 || !k.writable() {
            return std::ptr::null_mut();
        }
        k.srv()
            .db_add(k.db, &k.key, Value::Str(RStr::raw(Vec::new())));
    }
    let Some(obj) = k.value() else {
        return std::ptr::null_mut();
    };
    let Value::Str(s) = &mut obj.value else {
        return std::ptr::null_mut();
    };
    // The bytes must be addressable in place (an `int` encoding has none).
    let raw = s.make_raw();
    // SAFETY: `len` is writable.
    unsafe { *len = raw.len() };
    raw.as_mut_slice().as_mut_ptr() as *mut c_char
}

unsafe extern "C" fn string_truncate(k: *mut Key, newlen: usize) -> c_int {
    // SAFETY: an open handle.
    let k = unsafe { &*k };
    if !k.writable() {
        return REDISMODULE_ERR;
    }
    if newlen > 512 * 1024 * 1024 {
        return REDISMODULE_ERR;
    }
    if k.value().is_none() {
        if newlen == 0 {
            return REDISMODULE_OK;
        }
        k.srv()
            .db_add(k.db, &k.key, Value::Str(RStr::raw(Vec::new())));
    }
    let Some(obj) = k.value() else {
        return REDISMODULE_ERR;
    };
    let Value::Str(s) = &mut obj.value else {
        return REDISMODULE_ERR;
    };
    s.make_raw().resize(newlen, 0);
    REDISMODULE_OK
}

unsafe extern "C" fn get_expire(k: *mut Key) -> c_longlong {
    // SAFETY: an open handle.
    let k = unsafe { &*k };
    if k.value().is_none() {
        return NO_EXPIRE;
    }
    let srv = k.srv();
    match srv.dbs[k.db].expire_of(&k.key) {
        Some(when) => (when - srv.now_ms()).max(0),
        None => NO_EXPIRE,
    }
}

unsafe extern "C" fn get_abs_expire(k: *mut Key) -> c_longlong {
    // SAFETY: an open handle.
    let k = unsafe { &*k };
    if k.value().is_none() {
        return NO_EXPIRE;
    }
    k.srv().dbs[k.db].expire_of(&k.key).unwrap_or(NO_EXPIRE)
}

fn set_expire_at(k: &Key, when: Option<i64>) -> c_int {
    if !k.writable() || k.value().is_none() {
        return REDISMODULE_ERR;
    }
    let srv = k.srv();
    match when {
        Some(t) => srv.set_expire(k.db, &k.key, t),
        None => {
            srv.remove_expire(k.db, &k.key);
        }
    }
    REDISMODULE_OK
}

unsafe extern "C" fn set_expire(k: *mut Key, ms: c_longlong) -> c_int {
    // SAFETY: an open handle.
    let k = unsafe { &*k };
    if ms != NO_EXPIRE && ms < 0 {
        return REDISMODULE_ERR;
    }
    let when = (ms != NO_EXPIRE).then(|| k.srv().now_ms().saturating_add(ms));
    set_expire_at(k, when)
}

unsafe extern "C" fn set_abs_expire(k: *mut Key, when: c_longlong) -> c_int {
    // SAFETY: an open handle.
    let k = unsafe { &*k };
    if when != NO_EXPIRE && when < 0 {
        return REDISMODULE_ERR;
    }
    set_expire_at(k, (when != NO_EXPIRE).then_some(when))
}

unsafe extern "C" fn key_exists(ctx: *mut Ctx, name: *mut RmString) -> c_int {
    // SAFETY: a live context and module string.
    let (c, name) = unsafe { (&mut *ctx, RmString::get(name)) };
    // SAFETY: a live context.
    let Some(db) = (unsafe { c.client() }).map(|cl| cl.db) else {
        return 0;
    };
    // SAFETY: a live context.
    let srv = unsafe { c.server() };
    srv.lookup_key(db, name, lookup::NOTOUCH).is_some() as c_int
}

// ---- Lists ----

const LIST_HEAD: c_int = 0;
const LIST_TAIL: c_int = 1;

/// Auto-memory tracks strings the list API returns, as Redis does.
fn returned_string(k: &Key, bytes: &[u8]) -> *mut RmString {
    super::string::create(k.ctx, bytes)
}

/// Deletes the key when the last element went (Redis' moduleDelKeyIfEmpty).
fn delete_if_empty_list(k: &Key) {
    let empty = matches!(k.value().map(|o| &o.value), Some(Value::List(l)) if l.is_empty());
    if empty {
        k.srv().db_delete(k.db, &k.key);
    }
}

/// The list at an open key for an indexed operation, with Redis' errno on failure.
fn seek_list(k: *mut Key, index: i64, mode: c_int) -> Option<(&'static Key, i64)> {
    // SAFETY: an open handle or NULL.
    let Some(k) = (unsafe { k.as_ref() }) else {
        super::set_errno(libc::EINVAL);
        return None;
    };
    let len = match k.value().map(|o| &o.value) {
        Some(Value::List(l)) => l.len() as i64,
        _ => {
            super::set_errno(libc::ENOTSUP);
            return None;
        }
    };
    if k.mode & mode == 0 {
        super::set_errno(libc::EBADF);
        return None;
    }
    if index < -len || index >= len {
        super::set_errno(libc::EDOM);
        return None;
    }
    Some((k, if index < 0 { len + index } else { index }))
}

fn with_list<R>(k: &Key, f: impl FnOnce(&mut crate::types::ListValue) -> R) -> Option<R> {
    match k.value().map(|o| &mut o.value) {
        Some(Value::List(l)) => Some(f(l)),
        _ => None,
    }
}

unsafe extern "C" fn list_push(k: *mut Key, place: c_int, ele: *mut RmString) -> c_int {
    // SAFETY: an open handle or NULL.
    let Some(k) = (unsafe { k.as_ref() }) else {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    };
    if ele.is_null() || (place != LIST_HEAD && place != LIST_TAIL) {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    }
    let exists = match k.value().map(|o| &o.value) {
        None => false,
        Some(Value::List(_)) => true,
        Some(_) => {
            super::set_errno(libc::ENOTSUP);
            return REDISMODULE_ERR;
        }
    };
    if !k.writable() {
        super::set_errno(libc::EBADF);
        return REDISMODULE_ERR;
    }
    if !exists {
        let srv = k.srv();
        let l = crate::types::ListValue::new(
            srv.config.list_max_listpack_size,
            srv.config.list_compress_depth,
        );
        srv.db_add(k.db, &k.key, Value::List(Box::new(l)));
    }
    // SAFETY: a live module string.
    let v = unsafe { RmString::get(ele) };
    with_list(k, |l| l.push(v, place == LIST_HEAD));
    REDISMODULE_OK
}

unsafe extern "C" fn list_pop(k: *mut Key, place: c_int) -> *mut RmString {
    // SAFETY: an open handle or NULL.
    let Some(k) = (unsafe { k.as_ref() }) else {
        super::set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    };
    if place != LIST_HEAD && place != LIST_TAIL {
        super::set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    if !matches!(k.value().map(|o| &o.value), Some(Value::List(_))) {
        super::set_errno(libc::ENOTSUP);
        return std::ptr::null_mut();
    }
    if !k.writable() {
        super::set_errno(libc::EBADF);
        return std::ptr::null_mut();
    }
    let Some(Some(e)) = with_list(k, |l| l.pop(place == LIST_HEAD)) else {
        return std::ptr::null_mut();
    };
    delete_if_empty_list(k);
    returned_string(k, &e.into_bytes())
}

unsafe extern "C" fn list_get(k: *mut Key, index: std::ffi::c_long) -> *mut RmString {
    let Some((k, i)) = seek_list(k, index, READ | WRITE) else {
        return std::ptr::null_mut();
    };
    match with_list(k, |l| l.ql().get(i)) {
        Some(Some(e)) => returned_string(k, &e.into_bytes()),
        _ => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn list_set(k: *mut Key, index: std::ffi::c_long, v: *mut RmString) -> c_int {
    if v.is_null() {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    }
    let Some((k, i)) = seek_list(k, index, WRITE) else {
        return REDISMODULE_ERR;
    };
    // SAFETY: a live module string.
    let v = unsafe { RmString::get(v) };
    with_list(k, |l| l.ql_mut().replace_at(i, v));
    REDISMODULE_OK
}

unsafe extern "C" fn list_insert(k: *mut Key, index: std::ffi::c_long, v: *mut RmString) -> c_int {
    if v.is_null() {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    }
    // Inserting at either end is a push (also into a missing key).
    // SAFETY: an open handle or NULL.
    if let Some(kr) = unsafe { k.as_ref() } {
        let len = match kr.value().map(|o| &o.value) {
            None => Some(0),
            Some(Value::List(l)) => Some(l.len() as i64),
            Some(_) => None,
        };
        if let Some(len) = len {
            let missing = kr.value().is_none();
            if (missing && (index == 0 || index == -1)) || (!missing && (index == len || index == -1)) {
                // SAFETY: forwarded.
                return unsafe { list_push(k, LIST_TAIL, v) };
            }
            if !missing && (index == 0 || index == -len - 1) {
                // SAFETY: forwarded.
                return unsafe { list_push(k, LIST_HEAD, v) };
            }
        }
    }
    let Some((k, i)) = seek_list(k, index, WRITE) else {
        return REDISMODULE_ERR;
    };
    // A non-negative index inserts before that element, a negative one after it.
    let pos = if index < 0 { i + 1 } else { i } as usize;
    // SAFETY: a live module string.
    let v = unsafe { RmString::get(v) };
    with_list(k, |l| {
        // The quicklist inserts next to a value, not at a position: rebuild around the
        // position (linear, like walking to it).
        let mut items = l.to_vecs();
        items.insert(pos, v.to_vec());
        let (fill, compress) = (l.ql().fill() as i64, l.ql().compress_depth() as i64);
        let mut nl = crate::types::ListValue::new(fill, compress);
        for it in &items {
            nl.push(it, false);
        }
        *l = nl;
    });
    REDISMODULE_OK
}

unsafe extern "C" fn list_delete(k: *mut Key, index: std::ffi::c_long) -> c_int {
    let Some((k, i)) = seek_list(k, index, WRITE) else {
        return REDISMODULE_ERR;
    };
    with_list(k, |l| l.ql_mut().del_range(i, 1));
    delete_if_empty_list(k);
    REDISMODULE_OK
}

pub fn entries() -> Vec<(&'static str, usize)> {
    type KeyInt = unsafe extern "C" fn(*mut Key) -> c_int;
    type KeyLL = unsafe extern "C" fn(*mut Key) -> c_longlong;
    type KeySetLL = unsafe extern "C" fn(*mut Key, c_longlong) -> c_int;
    super::api_entries![
        "OpenKey" => open_key as unsafe extern "C" fn(*mut Ctx, *mut RmString, c_int) -> *mut Key,
        "CloseKey" => rm_close_key as unsafe extern "C" fn(*mut Key),
        "KeyType" => key_type as KeyInt,
        "ValueLength" => value_length as unsafe extern "C" fn(*mut Key) -> usize,
        "DeleteKey" => delete_key as KeyInt,
        "UnlinkKey" => unlink_key as KeyInt,
        "StringSet" => string_set as unsafe extern "C" fn(*mut Key, *mut RmString) -> c_int,
        "StringDMA" => string_dma as unsafe extern "C" fn(*mut Key, *mut usize, c_int) -> *mut c_char,
        "StringTruncate" => string_truncate as unsafe extern "C" fn(*mut Key, usize) -> c_int,
        "GetExpire" => get_expire as KeyLL,
        "GetAbsExpire" => get_abs_expire as KeyLL,
        "SetExpire" => set_expire as KeySetLL,
        "SetAbsExpire" => set_abs_expire as KeySetLL,
        "KeyExists" => key_exists as unsafe extern "C" fn(*mut Ctx, *mut RmString) -> c_int,
        "ListPush" => list_push as unsafe extern "C" fn(*mut Key, c_int, *mut RmString) -> c_int,
        "ListPop" => list_pop as unsafe extern "C" fn(*mut Key, c_int) -> *mut RmString,
        "ListGet" => list_get as unsafe extern "C" fn(*mut Key, std::ffi::c_long) -> *mut RmString,
        "ListSet" => list_set as unsafe extern "C" fn(*mut Key, std::ffi::c_long, *mut RmString) -> c_int,
        "ListInsert" => list_insert as unsafe extern "C" fn(*mut Key, std::ffi::c_long, *mut RmString) -> c_int,
        "ListDelete" => list_delete as unsafe extern "C" fn(*mut Key, std::ffi::c_long) -> c_int,
    ]
}
