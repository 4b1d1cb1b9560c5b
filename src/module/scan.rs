//! SCAN for modules: RedisModule_Scan walks the selected database with a cursor (one dict
//! scan step per call, the callback getting each key with a read handle), and ScanKey walks
//! the elements of a hash, set or sorted set. A step's keys are collected before the callbacks
//! run, so a callback may change the keyspace (deleting the key it is given included).

use std::ffi::{c_int, c_void};

use super::ctx::Ctx;
use super::key::Key;
use super::string::RmString;

pub struct Cursor {
    cursor: u64,
    done: bool,
}

type ScanCb = unsafe extern "C" fn(*mut Ctx, *mut RmString, *mut Key, *mut c_void);
type ScanKeyCb = unsafe extern "C" fn(*mut Key, *mut RmString, *mut RmString, *mut c_void);

unsafe extern "C" fn cursor_create() -> *mut Cursor {
    Box::into_raw(Box::new(Cursor {
        cursor: 0,
        done: false,
    }))
}

unsafe extern "C" fn cursor_restart(c: *mut Cursor) {
    // SAFETY: a live cursor.
    unsafe {
        (*c).cursor = 0;
        (*c).done = false;
    }
}

unsafe extern "C" fn cursor_destroy(c: *mut Cursor) {
    if !c.is_null() {
        // SAFETY: created by cursor_create, destroyed once.
        drop(unsafe { Box::from_raw(c) });
    }
}

unsafe extern "C" fn scan(
    ctx: *mut Ctx,
    c: *mut Cursor,
    cb: ScanCb,
    privdata: *mut c_void,
) -> c_int {
    // SAFETY: a live cursor and context.
    let (cur, cx) = unsafe { (&mut *c, &mut *ctx) };
    if cur.done {
        super::set_errno(libc::ENOENT);
        return 0;
    }
    // SAFETY: a live context.
    let db = unsafe { cx.client() }.map(|cl| cl.db).unwrap_or(0);
    // SAFETY: a live context.
    let srv = unsafe { cx.server() };
    let mut keys: Vec<Vec<u8>> = Vec::new();
    cur.cursor = srv.dbs[db]
        .dict
        .scan(cur.cursor, |k, _| keys.push(k.to_vec()));
    for k in keys {
        // SAFETY: a live context.
        if !srv.dbs[db].dict.contains_key(&k[..]) {
            continue;
        }
        let name = RmString::new_raw(&k);
        let mut handle = super::key::read_handle(ctx, db, &k);
        // SAFETY: the module's callback with a live context, key name and handle.
        unsafe { cb(ctx, name, &mut handle, privdata) };
        // SAFETY: created above with one reference.
        unsafe { RmString::release(name) };
    }
    super::set_errno(0);
    if cur.cursor == 0 {
        cur.done = true;
        return 0;
    }
    1
}

unsafe extern "C" fn scan_key(
    k: *mut Key,
    c: *mut Cursor,
    cb: ScanKeyCb,
    privdata: *mut c_void,
) -> c_int {
    // SAFETY: an open handle (or NULL) and a live cursor.
    let (Some(key), cur) = (unsafe { k.as_ref() }, unsafe { &mut *c }) else {
        super::set_errno(libc::EINVAL);
        return 0;
    };
    let Some(elements) = super::key::collection_elements(key) else {
        super::set_errno(libc::EINVAL);
        return 0;
    };
    if cur.done {
        super::set_errno(libc::ENOENT);
        return 0;
    }
    // One call visits every element (as Redis does for small encodings): the cursor is done.
    for (f, v) in elements {
        let field = RmString::new_raw(&f);
        let value = v
            .map(|v| RmString::new_raw(&v))
            .unwrap_or(std::ptr::null_mut());
        // SAFETY: the module's callback with live strings (value NULL for sets).
        unsafe { cb(k, field, value, privdata) };
        // SAFETY: created above with one reference each.
        unsafe {
            RmString::release(field);
            if !value.is_null() {
                RmString::release(value);
            }
        }
    }
    cur.done = true;
    super::set_errno(0);
    0
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "ScanCursorCreate" => cursor_create as unsafe extern "C" fn() -> *mut Cursor,
        "ScanCursorRestart" => cursor_restart as unsafe extern "C" fn(*mut Cursor),
        "ScanCursorDestroy" => cursor_destroy as unsafe extern "C" fn(*mut Cursor),
        "Scan" => scan as unsafe extern "C" fn(*mut Ctx, *mut Cursor, ScanCb, *mut c_void) -> c_int,
        "ScanKey" => scan_key as unsafe extern "C" fn(*mut Key, *mut Cursor, ScanKeyCb, *mut c_void) -> c_int,
    ]
}
