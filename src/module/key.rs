//! The low-level key API: `OpenKey` gives a handle on one key of the context's database. The
//! keyspace owns values, and a handle must never dangle if the module's own calls change the
//! keyspace meanwhile, so the handle keeps the object it found together with the keyspace's
//! stamp (`db::KeyspaceStamp`): while the stamp is unchanged no object of that keyspace was
//! freed and the pointer is used as is; otherwise the key is looked up again. Strings (set,
//! DMA, truncate), key type and length, delete/unlink and expires live here; lists, hashes,
//! sorted sets and streams in their own files.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_longlong};
use std::ptr::NonNull;

use super::ctx::{flags as ctxflags, AutoEntry, Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;
use crate::db::{lookup, KeyspaceStamp};
use crate::server::Server;
use crate::types::{Obj, RStr, Value};

pub const READ: c_int = 1 << 0;
pub const WRITE: c_int = 1 << 1;
pub const OPEN_KEY_NOTOUCH: c_int = 1 << 16;
const NO_EXPIRE: c_longlong = -1;

pub struct Key {
    pub(super) ctx: *mut Ctx,
    pub(super) db: usize,
    /// The key name: one reference the handle holds (released at close), as Redis keeps the
    /// name object; GetKeyNameFromModuleKey answers it.
    name: *mut RmString,
    pub(super) mode: c_int,
    /// The object last found for the key and the keyspace's stamp then (see the top).
    found: Cell<Option<(NonNull<Obj>, KeyspaceStamp)>>,
    /// The iteration state of the stream or sorted set API (dropped with the handle, as
    /// CloseKey stops iterators in Redis).
    pub(super) iter: KeyIter,
    /// A StreamAdd to an existing stream: blocked readers are signalled at close (one signal
    /// for however many entries were added, as Redis postpones it).
    pub(super) stream_signal_ready: bool,
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: the handle owns one reference to its name (taken in `Key::new`).
        unsafe { RmString::release(self.name) };
    }
}

/// What an open key iterates, if anything.
#[derive(Default)]
pub enum KeyIter {
    #[default]
    None,
    Stream(super::stream::StreamIter),
    Zset(super::zsetrange::ZsetRange),
}

impl Key {
    /// A handle on `name` (one reference is taken) whose object, if any, was just found.
    fn new(
        ctx: *mut Ctx,
        db: usize,
        name: *mut RmString,
        mode: c_int,
        found: Option<NonNull<Obj>>,
    ) -> Key {
        // SAFETY: a live module string; the handle keeps it alive with its own reference.
        unsafe { RmString::retain(name) };
        let k = Key {
            ctx,
            db,
            name,
            mode,
            found: Cell::new(None),
            iter: KeyIter::None,
            stream_signal_ready: false,
        };
        if let Some(obj) = found {
            k.found.set(Some((obj, k.srv().dbs[db].dict.stamp())));
        }
        k
    }

    pub(super) fn db(&self) -> usize {
        self.db
    }

    pub(super) fn name(&self) -> &[u8] {
        // SAFETY: the handle holds a reference to its name.
        unsafe { RmString::get(self.name) }
    }

    #[allow(clippy::mut_from_ref)]
    pub(super) fn srv(&self) -> &mut Server {
        // SAFETY: a key handle lives within its context's call, whose server is live.
        unsafe { (*self.ctx).server() }
    }

    /// The value, without touching statistics or the access clock (done at open). Expiry
    /// was handled at open too, and time stands still while a command runs, so the object
    /// found before, or a plain dict lookup, is enough.
    #[allow(clippy::mut_from_ref)]
    pub(super) fn value(&self) -> Option<&mut Obj> {
        let keyspace = &mut self.srv().dbs[self.db].dict;
        let stamp = keyspace.stamp();
        if let Some((obj, found_at)) = self.found.get() {
            if found_at == stamp {
                // SAFETY: the object was found in this database's keyspace, and the unchanged
                // stamp says that keyspace is still there and freed no object since.
                return Some(unsafe { &mut *obj.as_ptr() });
            }
        }
        let obj = keyspace.get_mut(self.name())?;
        self.found.set(Some((NonNull::from(&mut *obj), stamp)));
        Some(obj)
    }

    pub(super) fn writable(&self) -> bool {
        self.mode & WRITE != 0
    }
}

/// A READ handle on `key` of `db` for a callback (SCAN), owned by the caller.
pub fn read_handle(ctx: *mut Ctx, db: usize, key: &[u8]) -> Key {
    let name = RmString::new_raw(key);
    let k = Key::new(ctx, db, name, READ, None);
    // SAFETY: the handle took its own reference; this one was ours.
    unsafe { RmString::release(name) };
    k
}

/// A collection element for ScanKey: field (or member) and value (none for a set member).
pub type Element = (Vec<u8>, Option<Vec<u8>>);

/// The elements of a hash, set or sorted set at an open key, as (field, value) pairs (a set
/// has no values; a sorted set's value is its score as text). None for other types.
pub fn collection_elements(k: &Key) -> Option<Vec<Element>> {
    let obj = k.value()?;
    Some(match &obj.value {
        Value::Hash(h) => h
            .iter()
            .map(|(f, v)| {
                let (mut b1, mut b2) = (itoa::Buffer::new(), itoa::Buffer::new());
                (
                    crate::types::hash::entry_bytes(f, &mut b1).to_vec(),
                    Some(crate::types::hash::entry_bytes(v, &mut b2).to_vec()),
                )
            })
            .collect(),
        Value::Set(s) => s.member_bytes().into_iter().map(|m| (m, None)).collect(),
        Value::Zset(z) => {
            let mut v = Vec::new();
            z.for_each(|m, s| v.push((m.to_vec(), Some(crate::util::f64_g17(s)))));
            v
        }
        _ => return None,
    })
}

unsafe extern "C" fn open_key(ctx: *mut Ctx, name: *mut RmString, mode: c_int) -> *mut Key {
    // SAFETY: a live context and module string.
    let (c, key) = unsafe { (&mut *ctx, RmString::get(name)) };
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
    let found = if mode & WRITE != 0 {
        srv.lookup_key(db, key, lflags | lookup::WRITE)
    } else {
        srv.lookup_key(db, key, lflags)
    }
    .map(NonNull::from);
    if found.is_none() && mode & WRITE == 0 {
        return std::ptr::null_mut();
    }
    let k = srv
        .modules
        .key_handles
        .place(Key::new(ctx, db, name, mode, found));
    if c.flags & ctxflags::AUTO_MEMORY != 0 {
        c.auto.push(AutoEntry::Key(k));
    }
    k
}

/// Allocations for key handles, kept from one CloseKey to the next OpenKey: a module command
/// usually opens and closes a key or two, and this spares each open the allocator.
#[derive(Default)]
pub struct KeyHandles {
    // Boxes, not values: each is a handle's own allocation, whose address the module holds.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<std::mem::MaybeUninit<Key>>>,
}

impl KeyHandles {
    /// How many spare allocations are kept.
    const KEEP: usize = 16;

    /// Moves `key` into an allocation (a spare one if any) and returns it as the handle.
    fn place(&mut self, key: Key) -> *mut Key {
        let slot = self
            .spare
            .pop()
            .unwrap_or_else(|| Box::new(std::mem::MaybeUninit::uninit()));
        let handle = Box::into_raw(slot).cast::<Key>();
        // SAFETY: an allocation sized and aligned for a `Key`, holding none.
        unsafe { handle.write(key) };
        handle
    }

    /// Takes back the allocation of a handle whose `Key` was already moved out.
    ///
    /// # Safety
    /// `k` came from `place` and holds no live `Key` any more.
    unsafe fn recycle(&mut self, k: *mut Key) {
        // SAFETY: per the contract above: an allocation of `place`, now uninitialized.
        let slot = unsafe { Box::from_raw(k.cast::<std::mem::MaybeUninit<Key>>()) };
        if self.spare.len() < Self::KEEP {
            self.spare.push(slot);
        }
    }
}

/// Closes a key handle: a key opened for writing counts as modified (WATCH), as in Redis.
///
/// # Safety
/// `k` is an open key handle (or NULL).
pub unsafe fn close_key(k: *mut Key) {
    if k.is_null() {
        return;
    }
    // SAFETY: per the contract above, `k` holds a handle placed by `open_key`; it is moved
    // out here and its allocation goes back to the server's spare handles below.
    let key = unsafe { k.read() };
    // SAFETY: the handle's context (and so its server) is live.
    unsafe { (*key.ctx).server() }
        .modules
        .key_handles
        .recycle(k);
    // SAFETY: the handle's context is live; its module (if any) is registered.
    let implicit = unsafe { (*key.ctx).module.as_ref() }
        .is_none_or(|m| m.options & super::io::OPTIONS_NO_IMPLICIT_SIGNAL_MODIFIED == 0);
    if key.writable() && implicit {
        let srv = key.srv();
        srv.signal_modified_key(key.db, key.name());
    }
    if key.stream_signal_ready && matches!(key.value().map(|o| &o.value), Some(Value::Stream(_))) {
        key.srv()
            .signal_key_as_ready(key.db, key.name(), crate::blocking::BlockType::Stream);
    }
}

unsafe extern "C" fn rm_close_key(k: *mut Key) {
    if k.is_null() {
        return;
    }
    // SAFETY: an open handle; its context is live.
    let ctx = unsafe { &mut *(*k).ctx };
    ctx.auto
        .retain(|e| !matches!(e, AutoEntry::Key(p) if *p == k));
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
        Some(Value::Module(_)) => 6,
    }
}

unsafe extern "C" fn get_key_name_from_module_key(k: *mut Key) -> *const RmString {
    // SAFETY: an open handle or NULL.
    unsafe { k.as_ref() }.map_or(std::ptr::null(), |k| k.name as *const RmString)
}

unsafe extern "C" fn get_db_id_from_module_key(k: *mut Key) -> c_int {
    // SAFETY: an open handle or NULL.
    unsafe { k.as_ref() }.map_or(-1, |k| k.db as c_int)
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
        // Redis answers 0 for module values.
        Some(Value::Module(_)) => 0,
    }
}

unsafe extern "C" fn delete_key(k: *mut Key) -> c_int {
    // SAFETY: an open handle.
    let k = unsafe { &*k };
    if !k.writable() {
        return REDISMODULE_ERR;
    }
    if k.value().is_some() {
        k.srv().db_delete(k.db, k.name());
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
        k.srv().db_async_delete(k.db, k.name());
    }
    REDISMODULE_OK
}

unsafe extern "C" fn string_set(k: *mut Key, s: *mut RmString) -> c_int {
    // SAFETY: an open handle and a live string.
    let (k, s) = unsafe { (&*k, RmString::get(s)) };
    if !k.writable() || !matches!(k.iter, KeyIter::None) {
        return REDISMODULE_ERR;
    }
    // As Redis: the old value is deleted and the string added as a new key (a `new` keyspace
    // event), stored as the module string is, without trying the `int` encoding. WATCHers
    // and trackers hear of the change when the handle closes.
    k.srv()
        .db_replace_as_new(k.db, k.name(), Value::Str(RStr::plain(s)));
    REDISMODULE_OK
}

/// Direct access to a string value's bytes; valid until the key is modified or closed.
unsafe extern "C" fn string_dma(k: *mut Key, len: *mut usize, _mode: c_int) -> *mut c_char {
    // SAFETY: an open handle.
    let k = unsafe { &*k };
    let Some(obj) = k.value() else {
        // As Redis: an empty key (opened for writing) is not created; the module gets an
        // empty string in read-only memory, where a write faults.
        static EMPTY: &[u8] = b"<dma-empty-string>\0";
        // SAFETY: `len` is writable.
        unsafe { *len = 0 };
        return EMPTY.as_ptr() as *mut c_char;
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
            .db_add(k.db, k.name(), Value::Str(RStr::raw(Vec::new())));
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
    match srv.dbs[k.db].expire_of(k.name()) {
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
    k.srv().dbs[k.db].expire_of(k.name()).unwrap_or(NO_EXPIRE)
}

fn set_expire_at(k: &Key, when: Option<i64>) -> c_int {
    if !k.writable() || k.value().is_none() {
        return REDISMODULE_ERR;
    }
    let srv = k.srv();
    match when {
        Some(t) => srv.set_expire(k.db, k.name(), t),
        None => {
            srv.remove_expire(k.db, k.name());
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
        k.srv().db_delete(k.db, k.name());
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
        srv.db_add(k.db, k.name(), Value::List(Box::new(l)));
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
            if index == -1 || (missing && index == 0) || (!missing && index == len) {
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

// ---- Sorted sets ----

const ZADD_XX: c_int = 1 << 0;
const ZADD_NX: c_int = 1 << 1;
const ZADD_ADDED: c_int = 1 << 2;
const ZADD_UPDATED: c_int = 1 << 3;
const ZADD_NOP: c_int = 1 << 4;
const ZADD_GT: c_int = 1 << 5;
const ZADD_LT: c_int = 1 << 6;

fn zset_add(k: &Key, score: f64, ele: &[u8], flagsptr: *mut c_int, incr: bool) -> Option<f64> {
    use crate::types::zset::{AddFlags, AddOutcome};
    if !k.writable() {
        return None;
    }
    match k.value().map(|o| &o.value) {
        None => {
            k.srv().db_add(
                k.db,
                k.name(),
                Value::Zset(Box::new(crate::types::ZsetValue::new_listpack())),
            );
        }
        Some(Value::Zset(_)) => {}
        Some(_) => return None,
    }
    // SAFETY: `flagsptr` is NULL or writable.
    let in_flags = unsafe { flagsptr.as_ref() }.copied().unwrap_or(0);
    let f = AddFlags {
        incr,
        nx: in_flags & ZADD_NX != 0,
        xx: in_flags & ZADD_XX != 0,
        gt: in_flags & ZADD_GT != 0,
        lt: in_flags & ZADD_LT != 0,
    };
    let lim = crate::commands::zset::limits(k.srv());
    let outcome = match k.value().map(|o| &mut o.value) {
        Some(Value::Zset(z)) => z.add(score, ele, f, lim),
        _ => return None,
    };
    let (out, result) = match outcome {
        AddOutcome::Nan => (0, None),
        AddOutcome::Nop => (ZADD_NOP, Some(score)),
        AddOutcome::Added(s) => (ZADD_ADDED, Some(s)),
        AddOutcome::Updated(s) => (ZADD_UPDATED, Some(s)),
        AddOutcome::Same(s) => (0, Some(s)),
    };
    // SAFETY: `flagsptr` is NULL or writable.
    if let Some(p) = unsafe { flagsptr.as_mut() } {
        *p = out;
    }
    delete_if_empty(k);
    result
}

/// Deletes the key when its collection became empty (Redis' moduleDelKeyIfEmpty).
fn delete_if_empty(k: &Key) {
    let empty = match k.value().map(|o| &o.value) {
        Some(Value::List(l)) => l.is_empty(),
        Some(Value::Zset(z)) => z.is_empty(),
        Some(Value::Hash(h)) => h.is_empty(),
        Some(Value::Set(s)) => s.is_empty(),
        _ => false,
    };
    if empty {
        k.srv().db_delete(k.db, k.name());
    }
}

unsafe extern "C" fn zset_add_api(
    k: *mut Key,
    score: f64,
    ele: *mut RmString,
    flagsptr: *mut c_int,
) -> c_int {
    // SAFETY: an open handle and a live string.
    let (k, ele) = unsafe { (&*k, RmString::get(ele)) };
    match zset_add(k, score, ele, flagsptr, false) {
        Some(_) => REDISMODULE_OK,
        None => REDISMODULE_ERR,
    }
}

unsafe extern "C" fn zset_incrby(
    k: *mut Key,
    score: f64,
    ele: *mut RmString,
    flagsptr: *mut c_int,
    newscore: *mut f64,
) -> c_int {
    // SAFETY: an open handle and a live string.
    let (k, ele) = unsafe { (&*k, RmString::get(ele)) };
    match zset_add(k, score, ele, flagsptr, true) {
        Some(s) => {
            // SAFETY: `newscore` is NULL or writable.
            if let Some(p) = unsafe { newscore.as_mut() } {
                *p = s;
            }
            REDISMODULE_OK
        }
        None => REDISMODULE_ERR,
    }
}

unsafe extern "C" fn zset_rem(k: *mut Key, ele: *mut RmString, deleted: *mut c_int) -> c_int {
    // SAFETY: an open handle and a live string.
    let (k, ele) = unsafe { (&*k, RmString::get(ele)) };
    if !k.writable() {
        return REDISMODULE_ERR;
    }
    let removed = match k.value().map(|o| &mut o.value) {
        None => false,
        Some(Value::Zset(z)) => z.remove(ele),
        Some(_) => return REDISMODULE_ERR,
    };
    if removed {
        delete_if_empty(k);
    }
    // SAFETY: `deleted` is NULL or writable.
    if let Some(p) = unsafe { deleted.as_mut() } {
        *p = removed as c_int;
    }
    REDISMODULE_OK
}

unsafe extern "C" fn zset_score(k: *mut Key, ele: *mut RmString, score: *mut f64) -> c_int {
    // SAFETY: an open handle and a live string.
    let (k, ele) = unsafe { (&*k, RmString::get(ele)) };
    match k.value().map(|o| &o.value) {
        Some(Value::Zset(z)) => match z.score(ele) {
            Some(s) => {
                // SAFETY: `score` is writable.
                unsafe { *score = s };
                REDISMODULE_OK
            }
            None => REDISMODULE_ERR,
        },
        _ => REDISMODULE_ERR,
    }
}

// ---- Hashes (the variadic entry points are in the C shim) ----

const HASH_NX: c_int = 1 << 0;
const HASH_XX: c_int = 1 << 1;
const HASH_CFIELDS: c_int = 1 << 2;
const HASH_EXISTS: c_int = 1 << 3;
const HASH_COUNT_ALL: c_int = 1 << 4;
/// `REDISMODULE_HASH_DELETE`: the value that deletes a field.
const HASH_DELETE: usize = 1;

/// Validates a HashSet/HashGet call and creates the hash HashSet writes to. False (with
/// errno) when the call must fail.
///
/// # Safety
/// `k` is NULL or an open key handle (called by the C shim).
#[no_mangle]
pub unsafe extern "C" fn ferrodis_hash_begin(k: *mut Key, flags: c_int, write: c_int) -> c_int {
    // SAFETY: an open handle or NULL.
    let Some(k) = (unsafe { k.as_ref() }) else {
        super::set_errno(libc::EINVAL);
        return 0;
    };
    let allowed = if write != 0 {
        HASH_NX | HASH_XX | HASH_CFIELDS | HASH_COUNT_ALL
    } else {
        HASH_CFIELDS | HASH_EXISTS
    };
    if flags & !allowed != 0 {
        super::set_errno(libc::EINVAL);
        return 0;
    }
    let exists = match k.value().map(|o| &o.value) {
        None => false,
        Some(Value::Hash(_)) => true,
        Some(_) => {
            super::set_errno(libc::ENOTSUP);
            return 0;
        }
    };
    if write != 0 {
        if !k.writable() {
            super::set_errno(libc::EBADF);
            return 0;
        }
        if !exists {
            k.srv().db_add(k.db, k.name(), Value::Hash(Box::default()));
        }
    }
    1
}

fn with_hash<R>(k: &Key, f: impl FnOnce(&mut crate::types::HashValue) -> R) -> Option<R> {
    match k.value().map(|o| &mut o.value) {
        Some(Value::Hash(h)) => Some(f(h)),
        _ => None,
    }
}

/// One (field, value) pair of HashSet; returns what it adds to the count.
///
/// # Safety
/// `k` is an open key handle validated by `ferrodis_hash_begin`; `flen` bytes at `field`;
/// `value` is a live string or REDISMODULE_HASH_DELETE.
#[no_mangle]
pub unsafe extern "C" fn ferrodis_hash_set_one(
    k: *mut Key,
    flags: c_int,
    field: *const c_char,
    flen: usize,
    value: *mut RmString,
) -> c_int {
    // SAFETY: an open handle (validated by ferrodis_hash_begin); `flen` bytes at `field`.
    let (k, field) = unsafe {
        (
            &*k,
            if flen == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(field as *const u8, flen)
            },
        )
    };
    let limits = crate::types::hash::Limits::from_config(&k.srv().config);
    with_hash(k, |h| {
        if flags & (HASH_XX | HASH_NX) != 0 {
            let exists = h.contains(field);
            if (flags & HASH_XX != 0 && !exists) || (flags & HASH_NX != 0 && exists) {
                return 0;
            }
        }
        if value as usize == HASH_DELETE {
            return h.delete(field) as c_int;
        }
        // SAFETY: a live module string.
        let v = unsafe { RmString::get(value) };
        // Without COUNT_ALL only updates of existing fields count.
        let updated = h.set(field, v, limits);
        if flags & HASH_COUNT_ALL != 0 {
            1
        } else {
            updated as c_int
        }
    })
    .unwrap_or(0)
}

/// Ends HashSet: deletes an emptied hash, sets errno when nothing changed.
///
/// # Safety
/// `k` is an open key handle.
#[no_mangle]
pub unsafe extern "C" fn ferrodis_hash_set_end(k: *mut Key, count: c_int) -> c_int {
    // SAFETY: an open handle.
    let k = unsafe { &*k };
    delete_if_empty(k);
    if count == 0 {
        super::set_errno(libc::ENOENT);
    }
    count
}

/// One field of HashGet: stores its value (a new string, or NULL) or whether it exists.
///
/// # Safety
/// `k` is an open key handle; `flen` bytes at `field`; `out` is an `int *` with
/// REDISMODULE_HASH_EXISTS, a `RedisModuleString **` otherwise.
#[no_mangle]
pub unsafe extern "C" fn ferrodis_hash_get_one(
    k: *mut Key,
    flags: c_int,
    field: *const c_char,
    flen: usize,
    out: *mut std::ffi::c_void,
) {
    // SAFETY: an open handle (validated by ferrodis_hash_begin); `flen` bytes at `field`.
    let (k, field) = unsafe {
        (
            &*k,
            if flen == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(field as *const u8, flen)
            },
        )
    };
    if flags & HASH_EXISTS != 0 {
        let exists = with_hash(k, |h| h.contains(field)).unwrap_or(false);
        // SAFETY: with EXISTS the out argument is an `int *`.
        unsafe { *(out as *mut c_int) = exists as c_int };
    } else {
        let v = with_hash(k, |h| {
            h.get(field).map(|e| {
                let mut b = itoa::Buffer::new();
                crate::types::hash::entry_bytes(e, &mut b).to_vec()
            })
        })
        .flatten();
        let s = match v {
            Some(v) => returned_string(k, &v),
            None => std::ptr::null_mut(),
        };
        // SAFETY: without EXISTS the out argument is a `RedisModuleString **`.
        unsafe { *(out as *mut *mut RmString) = s };
    }
}

pub fn entries() -> Vec<(&'static str, usize)> {
    type KeyInt = unsafe extern "C" fn(*mut Key) -> c_int;
    type KeyLL = unsafe extern "C" fn(*mut Key) -> c_longlong;
    type KeySetLL = unsafe extern "C" fn(*mut Key, c_longlong) -> c_int;
    super::api_entries![
        "GetKeyNameFromModuleKey" => get_key_name_from_module_key as unsafe extern "C" fn(*mut Key) -> *const RmString,
        "GetDbIdFromModuleKey" => get_db_id_from_module_key as unsafe extern "C" fn(*mut Key) -> c_int,
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
        "ZsetAdd" => zset_add_api as unsafe extern "C" fn(*mut Key, f64, *mut RmString, *mut c_int) -> c_int,
        "ZsetIncrby" => zset_incrby as unsafe extern "C" fn(*mut Key, f64, *mut RmString, *mut c_int, *mut f64) -> c_int,
        "ZsetRem" => zset_rem as unsafe extern "C" fn(*mut Key, *mut RmString, *mut c_int) -> c_int,
        "ZsetScore" => zset_score as unsafe extern "C" fn(*mut Key, *mut RmString, *mut f64) -> c_int,
        "HashSet" => ferrodis_shim_HashSet as unsafe extern "C" fn(),
        "HashGet" => ferrodis_shim_HashGet as unsafe extern "C" fn(),
    ]
}

// The C shim's variadic entry points (csrc/module_shim.c). Only their addresses are used
// here, so they are declared without parameters.
extern "C" {
    fn ferrodis_shim_HashSet();
    fn ferrodis_shim_HashGet();
}
