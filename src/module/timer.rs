//! Module timers (CreateTimer, StopTimer, GetTimerInfo). As in Redis, a timer's id is its
//! deadline in microseconds (bumped by one until unique), so the map ordered by id is also the
//! firing order; the event loop wakes up for the first one and fires the due ones after
//! serving clients.

use std::collections::BTreeMap;
use std::ffi::{c_int, c_longlong, c_void};

use super::ctx::{flags, Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::Module;
use crate::server::Server;

pub type TimerProc = unsafe extern "C" fn(*mut Ctx, *mut c_void);

pub struct Timer {
    pub module: *mut Module,
    callback: TimerProc,
    data: *mut c_void,
    dbid: usize,
}

#[derive(Default)]
pub struct Timers {
    pub by_id: BTreeMap<u64, Timer>,
}

impl Timers {
    /// Milliseconds (Unix time) of the earliest deadline.
    pub fn next_deadline_us(&self) -> Option<u64> {
        self.by_id.keys().next().copied()
    }

    pub fn holds_module(&self, m: *const Module) -> bool {
        self.by_id.values().any(|t| std::ptr::eq(t.module, m))
    }
}

/// Fires every timer whose deadline passed.
pub fn fire_due(srv: &mut Server) {
    loop {
        let now = crate::util::ustime() as u64;
        let Some((&id, _)) = srv.modules.timers.by_id.iter().next() else {
            return;
        };
        if id > now {
            return;
        }
        let t = srv.modules.timers.by_id.remove(&id).expect("just seen");
        let mut ctx = Ctx::new(srv, t.module, flags::TEMP_CLIENT);
        // SAFETY: TEMP_CLIENT contexts own a live client.
        if let Some(c) = unsafe { ctx.client() } {
            c.db = t.dbid;
        }
        // SAFETY: the module registered this callback with this data; it is still loaded
        // (a module holding timers cannot be unloaded).
        unsafe { (t.callback)(&mut ctx, t.data) };
        ctx.finish();
        drop(ctx);
        // Writes the callback propagated go out now, as after a command.
        if srv.prop.depth == 0 {
            srv.flush_propagation();
        }
    }
}

unsafe extern "C" fn create_timer(
    ctx: *mut Ctx,
    period: c_longlong,
    callback: TimerProc,
    data: *mut c_void,
) -> u64 {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: a live context.
    let dbid = unsafe { ctx.client() }.map(|c| c.db).unwrap_or(0);
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    let mut id = (crate::util::ustime() + period.max(0).saturating_mul(1000)) as u64;
    while srv.modules.timers.by_id.contains_key(&id) {
        id += 1;
    }
    srv.modules.timers.by_id.insert(
        id,
        Timer {
            module: ctx.module,
            callback,
            data,
            dbid,
        },
    );
    id
}

unsafe extern "C" fn stop_timer(ctx: *mut Ctx, id: u64, data: *mut *mut c_void) -> c_int {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    match srv.modules.timers.by_id.get(&id) {
        Some(t) if std::ptr::eq(t.module, ctx.module) => {}
        _ => return REDISMODULE_ERR,
    }
    let t = srv.modules.timers.by_id.remove(&id).expect("just seen");
    // SAFETY: `data` is NULL or writable.
    if let Some(d) = unsafe { data.as_mut() } {
        *d = t.data;
    }
    REDISMODULE_OK
}

unsafe extern "C" fn get_timer_info(
    ctx: *mut Ctx,
    id: u64,
    remaining: *mut u64,
    data: *mut *mut c_void,
) -> c_int {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    let Some(t) = srv.modules.timers.by_id.get(&id) else {
        return REDISMODULE_ERR;
    };
    if !std::ptr::eq(t.module, ctx.module) {
        return REDISMODULE_ERR;
    }
    // SAFETY: out pointers are NULL or writable.
    unsafe {
        if let Some(r) = remaining.as_mut() {
            let rem = (id as i64 - crate::util::ustime()).max(0);
            *r = (rem / 1000) as u64;
        }
        if let Some(d) = data.as_mut() {
            *d = t.data;
        }
    }
    REDISMODULE_OK
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "CreateTimer" => create_timer as unsafe extern "C" fn(*mut Ctx, c_longlong, TimerProc, *mut c_void) -> u64,
        "StopTimer" => stop_timer as unsafe extern "C" fn(*mut Ctx, u64, *mut *mut c_void) -> c_int,
        "GetTimerInfo" => get_timer_info as unsafe extern "C" fn(*mut Ctx, u64, *mut u64, *mut *mut c_void) -> c_int,
    ]
}
