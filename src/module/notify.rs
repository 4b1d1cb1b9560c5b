//! Keyspace notifications for modules: SubscribeToKeyspaceEvents registers a callback for
//! event classes; every notification the server raises reaches matching subscribers first
//! (whatever `notify-keyspace-events` says, as in Redis), each in a context of its own with the
//! event's database selected. A subscriber is not re-entered by events its own callback
//! raises.

use std::ffi::{c_char, c_int};

use super::ctx::{flags, Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;
use super::Module;
use crate::config::table::notify;
use crate::server::Server;

pub type NotifyFn = unsafe extern "C" fn(*mut Ctx, c_int, *const c_char, *mut RmString) -> c_int;

pub struct Subscriber {
    pub module: *mut Module,
    mask: c_int,
    callback: NotifyFn,
    active: bool,
}

/// Calls the subscribers of an event.
pub fn fire(srv: &mut Server, class: i32, event: &str, key: &[u8], db: usize) {
    let class = class & !(notify::KEYSPACE | notify::KEYEVENT);
    let cevent = std::ffi::CString::new(event).unwrap_or_default();
    let mut i = 0;
    while i < srv.modules.subscribers.len() {
        let s = &mut srv.modules.subscribers[i];
        if s.mask & class == 0 || s.active {
            i += 1;
            continue;
        }
        s.active = true;
        let (module, cb) = (s.module, s.callback);
        let mut ctx = Ctx::new(srv, module, flags::TEMP_CLIENT);
        // SAFETY: TEMP_CLIENT contexts own a live client.
        if let Some(c) = unsafe { ctx.client() } {
            c.db = db;
        }
        let k = RmString::new_raw(key);
        // SAFETY: the module registered this callback; the context and key are live.
        unsafe { cb(&mut ctx, class, cevent.as_ptr(), k) };
        ctx.finish();
        drop(ctx);
        // SAFETY: the string was created above with one reference.
        unsafe { RmString::release(k) };
        if let Some(s) = srv.modules.subscribers.get_mut(i) {
            s.active = false;
        }
        i += 1;
    }
}

unsafe extern "C" fn subscribe(ctx: *mut Ctx, types: c_int, callback: NotifyFn) -> c_int {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    srv.modules.subscribers.push(Subscriber {
        module: ctx.module,
        mask: types,
        callback,
        active: false,
    });
    REDISMODULE_OK
}

unsafe extern "C" fn notify_event(
    ctx: *mut Ctx,
    types: c_int,
    event: *const c_char,
    key: *mut RmString,
) -> c_int {
    // SAFETY: NULL or a live context.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return REDISMODULE_ERR;
    };
    // SAFETY: a live context.
    let Some(db) = unsafe { ctx.client() }.map(|c| c.db) else {
        return REDISMODULE_ERR;
    };
    // SAFETY: a C string and a live module string.
    let (event, key) = unsafe { (super::cstr(event), RmString::get(key).to_vec()) };
    let event = String::from_utf8_lossy(event).into_owned();
    // SAFETY: a live context.
    unsafe { ctx.server() }.notify_keyspace_event(types, &event, &key, db);
    REDISMODULE_OK
}

unsafe extern "C" fn get_notify_keyspace_events() -> c_int {
    super::command::current_server()
        .map(|s| s.config.notify_keyspace_events)
        .unwrap_or(0)
}

unsafe extern "C" fn get_keyspace_notification_flags_all() -> c_int {
    // Every class 7.0 defines (bits below _REDISMODULE_NOTIFY_NEXT).
    (1 << 15) - 1
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "SubscribeToKeyspaceEvents" => subscribe as unsafe extern "C" fn(*mut Ctx, c_int, NotifyFn) -> c_int,
        "NotifyKeyspaceEvent" => notify_event as unsafe extern "C" fn(*mut Ctx, c_int, *const c_char, *mut RmString) -> c_int,
        "GetNotifyKeyspaceEvents" => get_notify_keyspace_events as unsafe extern "C" fn() -> c_int,
        "GetKeyspaceNotificationFlagsAll" => get_keyspace_notification_flags_all as unsafe extern "C" fn() -> c_int,
    ]
}
