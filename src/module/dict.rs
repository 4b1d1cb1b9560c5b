//! The module dictionary API (CreateDict, DictSet*, DictGet*, DictDel*, iterators): an
//! ordered map from byte strings to module pointers. Redis uses a radix tree; what modules
//! observe is its order (bytewise) and its seek operators, which a B-tree gives as well.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void};
use std::ops::Bound;

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;

pub struct Dict {
    map: BTreeMap<Vec<u8>, *mut c_void>,
}

/// An iterator: the element a seek found is returned by the first Next or Prev; after that
/// each call moves from the last returned key.
pub struct DictIter {
    dict: *mut Dict,
    pending: Option<Vec<u8>>,
    /// The last key returned (its bytes stay valid until the next call, as in Redis).
    cur: Option<Vec<u8>>,
    eof: bool,
}

fn bytes<'a>(p: *const c_void, len: usize) -> &'a [u8] {
    if len == 0 {
        return b"";
    }
    // SAFETY: the module passes `len` readable bytes at `p`.
    unsafe { std::slice::from_raw_parts(p as *const u8, len) }
}

unsafe extern "C" fn create_dict(_ctx: *mut Ctx) -> *mut Dict {
    Box::into_raw(Box::new(Dict {
        map: BTreeMap::new(),
    }))
}

unsafe extern "C" fn free_dict(_ctx: *mut Ctx, d: *mut Dict) {
    if !d.is_null() {
        // SAFETY: created by create_dict and freed once by its module.
        drop(unsafe { Box::from_raw(d) });
    }
}

unsafe extern "C" fn dict_size(d: *mut Dict) -> u64 {
    // SAFETY: a live dict.
    unsafe { (*d).map.len() as u64 }
}

unsafe extern "C" fn set_c(d: *mut Dict, key: *mut c_void, len: usize, ptr: *mut c_void) -> c_int {
    // SAFETY: a live dict.
    let d = unsafe { &mut *d };
    let k = bytes(key, len);
    if d.map.contains_key(k) {
        return REDISMODULE_ERR;
    }
    d.map.insert(k.to_vec(), ptr);
    REDISMODULE_OK
}

unsafe extern "C" fn replace_c(
    d: *mut Dict,
    key: *mut c_void,
    len: usize,
    ptr: *mut c_void,
) -> c_int {
    // SAFETY: a live dict.
    let d = unsafe { &mut *d };
    // OK for a new key, ERR when an existing value was replaced (the radix tree's answer).
    match d.map.insert(bytes(key, len).to_vec(), ptr) {
        None => REDISMODULE_OK,
        Some(_) => REDISMODULE_ERR,
    }
}

unsafe extern "C" fn set(d: *mut Dict, key: *mut RmString, ptr: *mut c_void) -> c_int {
    let mut len = 0;
    // SAFETY: a live module string.
    let p = unsafe { super::string::RM_StringPtrLen(key, &mut len) };
    // SAFETY: forwarded.
    unsafe { set_c(d, p as *mut c_void, len, ptr) }
}

unsafe extern "C" fn replace(d: *mut Dict, key: *mut RmString, ptr: *mut c_void) -> c_int {
    let mut len = 0;
    // SAFETY: a live module string.
    let p = unsafe { super::string::RM_StringPtrLen(key, &mut len) };
    // SAFETY: forwarded.
    unsafe { replace_c(d, p as *mut c_void, len, ptr) }
}

unsafe extern "C" fn get_c(
    d: *mut Dict,
    key: *mut c_void,
    len: usize,
    nokey: *mut c_int,
) -> *mut c_void {
    // SAFETY: a live dict.
    let d = unsafe { &*d };
    let v = d.map.get(bytes(key, len)).copied();
    // SAFETY: `nokey` is NULL or writable.
    if let Some(n) = unsafe { nokey.as_mut() } {
        *n = v.is_none() as c_int;
    }
    v.unwrap_or(std::ptr::null_mut())
}

unsafe extern "C" fn get(d: *mut Dict, key: *mut RmString, nokey: *mut c_int) -> *mut c_void {
    let mut len = 0;
    // SAFETY: a live module string.
    let p = unsafe { super::string::RM_StringPtrLen(key, &mut len) };
    // SAFETY: forwarded.
    unsafe { get_c(d, p as *mut c_void, len, nokey) }
}

unsafe extern "C" fn del_c(
    d: *mut Dict,
    key: *mut c_void,
    len: usize,
    oldval: *mut c_void,
) -> c_int {
    // SAFETY: a live dict.
    let d = unsafe { &mut *d };
    match d.map.remove(bytes(key, len)) {
        Some(v) => {
            if !oldval.is_null() {
                // SAFETY: `oldval` is a `void **` when given.
                unsafe { *(oldval as *mut *mut c_void) = v };
            }
            REDISMODULE_OK
        }
        None => REDISMODULE_ERR,
    }
}

unsafe extern "C" fn del(d: *mut Dict, key: *mut RmString, oldval: *mut c_void) -> c_int {
    let mut len = 0;
    // SAFETY: a live module string.
    let p = unsafe { super::string::RM_StringPtrLen(key, &mut len) };
    // SAFETY: forwarded.
    unsafe { del_c(d, p as *mut c_void, len, oldval) }
}

/// Finds the element a seek operator selects.
fn seek(map: &BTreeMap<Vec<u8>, *mut c_void>, op: &[u8], key: &[u8]) -> Option<Option<Vec<u8>>> {
    let k = key.to_vec();
    let found = match op {
        b"^" => map.keys().next().cloned(),
        b"$" => map.keys().next_back().cloned(),
        b">" => map
            .range((Bound::Excluded(k), Bound::Unbounded))
            .next()
            .map(|e| e.0.clone()),
        b">=" => map.range(k..).next().map(|e| e.0.clone()),
        b"<" => map.range(..k).next_back().map(|e| e.0.clone()),
        b"<=" => map.range(..=k).next_back().map(|e| e.0.clone()),
        b"=" => map.contains_key(key).then_some(k),
        _ => return None,
    };
    Some(found)
}

fn reseek(it: &mut DictIter, op: &[u8], key: &[u8]) -> c_int {
    // SAFETY: an iterator's dict outlives it (the API contract).
    let map = unsafe { &(*it.dict).map };
    match seek(map, op, key) {
        None => REDISMODULE_ERR,
        Some(found) => {
            it.eof = found.is_none();
            it.pending = found;
            it.cur = None;
            REDISMODULE_OK
        }
    }
}

unsafe extern "C" fn iter_start_c(
    d: *mut Dict,
    op: *const c_char,
    key: *mut c_void,
    len: usize,
) -> *mut DictIter {
    let mut it = DictIter {
        dict: d,
        pending: None,
        cur: None,
        eof: true,
    };
    // SAFETY: a C string.
    reseek(&mut it, unsafe { super::cstr(op) }, bytes(key, len));
    Box::into_raw(Box::new(it))
}

unsafe extern "C" fn iter_start(
    d: *mut Dict,
    op: *const c_char,
    key: *mut RmString,
) -> *mut DictIter {
    let mut len = 0;
    // SAFETY: a live module string.
    let p = unsafe { super::string::RM_StringPtrLen(key, &mut len) };
    // SAFETY: forwarded.
    unsafe { iter_start_c(d, op, p as *mut c_void, len) }
}

unsafe extern "C" fn iter_stop(it: *mut DictIter) {
    if !it.is_null() {
        // SAFETY: created by iter_start and stopped once.
        drop(unsafe { Box::from_raw(it) });
    }
}

unsafe extern "C" fn reseek_c(
    it: *mut DictIter,
    op: *const c_char,
    key: *mut c_void,
    len: usize,
) -> c_int {
    // SAFETY: a live iterator and a C string.
    unsafe { reseek(&mut *it, super::cstr(op), bytes(key, len)) }
}

unsafe extern "C" fn reseek_s(it: *mut DictIter, op: *const c_char, key: *mut RmString) -> c_int {
    let mut len = 0;
    // SAFETY: a live module string.
    let p = unsafe { super::string::RM_StringPtrLen(key, &mut len) };
    // SAFETY: forwarded.
    unsafe { reseek_c(it, op, p as *mut c_void, len) }
}

/// Moves the iterator; returns the key now current.
fn step(it: &mut DictIter, forward: bool) -> Option<(&[u8], *mut c_void)> {
    if it.eof {
        return None;
    }
    // SAFETY: an iterator's dict outlives it.
    let map = unsafe { &(*it.dict).map };
    let next = match it.pending.take() {
        Some(k) => Some(k),
        None => {
            let cur = it.cur.clone()?;
            if forward {
                map.range((Bound::Excluded(cur), Bound::Unbounded))
                    .next()
                    .map(|e| e.0.clone())
            } else {
                map.range(..cur).next_back().map(|e| e.0.clone())
            }
        }
    };
    let Some(k) = next else {
        it.eof = true;
        return None;
    };
    let v = map.get(&k).copied().unwrap_or(std::ptr::null_mut());
    it.cur = Some(k);
    Some((it.cur.as_deref().unwrap(), v))
}

unsafe fn next_c_generic(
    it: *mut DictIter,
    keylen: *mut usize,
    data: *mut *mut c_void,
    forward: bool,
) -> *mut c_void {
    // SAFETY: a live iterator.
    let it = unsafe { &mut *it };
    match step(it, forward) {
        Some((k, v)) => {
            // SAFETY: out pointers are NULL or writable.
            unsafe {
                if let Some(l) = keylen.as_mut() {
                    *l = k.len();
                }
                if let Some(d) = data.as_mut() {
                    *d = v;
                }
            }
            k.as_ptr() as *mut c_void
        }
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn next_c(
    it: *mut DictIter,
    keylen: *mut usize,
    data: *mut *mut c_void,
) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { next_c_generic(it, keylen, data, true) }
}

unsafe extern "C" fn prev_c(
    it: *mut DictIter,
    keylen: *mut usize,
    data: *mut *mut c_void,
) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { next_c_generic(it, keylen, data, false) }
}

unsafe fn next_s_generic(
    ctx: *mut Ctx,
    it: *mut DictIter,
    data: *mut *mut c_void,
    forward: bool,
) -> *mut RmString {
    // SAFETY: a live iterator.
    let it = unsafe { &mut *it };
    match step(it, forward) {
        Some((k, v)) => {
            // SAFETY: `data` is NULL or writable.
            if let Some(d) = unsafe { data.as_mut() } {
                *d = v;
            }
            super::string::create(ctx, k)
        }
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn next_s(
    ctx: *mut Ctx,
    it: *mut DictIter,
    data: *mut *mut c_void,
) -> *mut RmString {
    // SAFETY: forwarded.
    unsafe { next_s_generic(ctx, it, data, true) }
}

unsafe extern "C" fn prev_s(
    ctx: *mut Ctx,
    it: *mut DictIter,
    data: *mut *mut c_void,
) -> *mut RmString {
    // SAFETY: forwarded.
    unsafe { next_s_generic(ctx, it, data, false) }
}

unsafe extern "C" fn compare_c(
    it: *mut DictIter,
    op: *const c_char,
    key: *mut c_void,
    len: usize,
) -> c_int {
    // SAFETY: a live iterator and a C string.
    let (it, op) = unsafe { (&*it, super::cstr(op)) };
    if it.eof {
        return REDISMODULE_ERR;
    }
    let Some(cur) = it.cur.as_deref().or(it.pending.as_deref()) else {
        return REDISMODULE_ERR;
    };
    let ord = cur.cmp(bytes(key, len));
    use std::cmp::Ordering::*;
    let ok = match op {
        b">" => ord == Greater,
        b">=" => ord != Less,
        b"<" => ord == Less,
        b"<=" => ord != Greater,
        b"=" | b"==" => ord == Equal,
        _ => false,
    };
    if ok {
        REDISMODULE_OK
    } else {
        REDISMODULE_ERR
    }
}

unsafe extern "C" fn compare_s(it: *mut DictIter, op: *const c_char, key: *mut RmString) -> c_int {
    let mut len = 0;
    // SAFETY: a live module string.
    let p = unsafe { super::string::RM_StringPtrLen(key, &mut len) };
    // SAFETY: forwarded.
    unsafe { compare_c(it, op, p as *mut c_void, len) }
}

/// RedisModule_MallocSizeDict: an estimate of the dict's memory (Redis' is an estimate of its
/// radix tree's nodes too): the structure, and per entry its key's allocation, the key and
/// value slots and a share of the B-tree node holding them (nodes hold up to 11 entries and
/// are about half full on average, so two slots' worth of node header per entry).
unsafe extern "C" fn malloc_size_dict(d: *mut Dict) -> usize {
    // SAFETY: a live dict or NULL.
    let Some(d) = (unsafe { d.as_ref() }) else {
        return 0;
    };
    let slot = std::mem::size_of::<Vec<u8>>() + std::mem::size_of::<*mut c_void>();
    std::mem::size_of::<Dict>() + d.map.keys().map(|k| k.capacity() + 2 * slot).sum::<usize>()
}

pub fn entries() -> Vec<(&'static str, usize)> {
    type SetC = unsafe extern "C" fn(*mut Dict, *mut c_void, usize, *mut c_void) -> c_int;
    type SetS = unsafe extern "C" fn(*mut Dict, *mut RmString, *mut c_void) -> c_int;
    type NextC = unsafe extern "C" fn(*mut DictIter, *mut usize, *mut *mut c_void) -> *mut c_void;
    type NextS = unsafe extern "C" fn(*mut Ctx, *mut DictIter, *mut *mut c_void) -> *mut RmString;
    super::api_entries![
        "CreateDict" => create_dict as unsafe extern "C" fn(*mut Ctx) -> *mut Dict,
        "FreeDict" => free_dict as unsafe extern "C" fn(*mut Ctx, *mut Dict),
        "DictSize" => dict_size as unsafe extern "C" fn(*mut Dict) -> u64,
        "MallocSizeDict" => malloc_size_dict as unsafe extern "C" fn(*mut Dict) -> usize,
        "DictSetC" => set_c as SetC,
        "DictReplaceC" => replace_c as SetC,
        "DictSet" => set as SetS,
        "DictReplace" => replace as SetS,
        "DictGetC" => get_c as unsafe extern "C" fn(*mut Dict, *mut c_void, usize, *mut c_int) -> *mut c_void,
        "DictGet" => get as unsafe extern "C" fn(*mut Dict, *mut RmString, *mut c_int) -> *mut c_void,
        "DictDelC" => del_c as SetC,
        "DictDel" => del as SetS,
        "DictIteratorStartC" => iter_start_c as unsafe extern "C" fn(*mut Dict, *const c_char, *mut c_void, usize) -> *mut DictIter,
        "DictIteratorStart" => iter_start as unsafe extern "C" fn(*mut Dict, *const c_char, *mut RmString) -> *mut DictIter,
        "DictIteratorStop" => iter_stop as unsafe extern "C" fn(*mut DictIter),
        "DictIteratorReseekC" => reseek_c as unsafe extern "C" fn(*mut DictIter, *const c_char, *mut c_void, usize) -> c_int,
        "DictIteratorReseek" => reseek_s as unsafe extern "C" fn(*mut DictIter, *const c_char, *mut RmString) -> c_int,
        "DictNextC" => next_c as NextC,
        "DictPrevC" => prev_c as NextC,
        "DictNext" => next_s as NextS,
        "DictPrev" => prev_s as NextS,
        "DictCompareC" => compare_c as unsafe extern "C" fn(*mut DictIter, *const c_char, *mut c_void, usize) -> c_int,
        "DictCompare" => compare_s as unsafe extern "C" fn(*mut DictIter, *const c_char, *mut RmString) -> c_int,
    ]
}
