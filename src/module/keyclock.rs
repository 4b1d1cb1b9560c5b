//! The access clock of an open key (GetLRU/SetLRU/GetLFU/SetLFU): the LRU idle time or the
//! LFU counter each object carries for eviction, readable and settable by modules with 7.0's
//! rules — only the clock the current maxmemory-policy keeps is visible or settable.

use std::ffi::{c_int, c_longlong};

use super::ctx::{REDISMODULE_ERR, REDISMODULE_OK};
use super::key::Key;
use crate::server::evict;

/// LFU time stamps are minutes, 16 bits.
fn lfu_minutes(now_ms: i64) -> u16 {
    ((now_ms / 1000 / 60) & 0xffff) as u16
}

/// `RedisModule_SetLRU(key, idle_ms)`: backdates the key's last access by `idle_ms`
/// milliseconds (second resolution, like the LRU clock). Refused under an LFU policy or for
/// a negative idle time.
unsafe extern "C" fn set_lru(k: *mut Key, idle_ms: c_longlong) -> c_int {
    // SAFETY: an open key handle.
    let k = unsafe { &*k };
    let srv = k.srv();
    let lfu = srv.config.policy_is_lfu();
    let now = evict::lru_clock(srv.now_ms());
    let Some(obj) = k.value() else {
        return REDISMODULE_ERR;
    };
    if lfu || idle_ms < 0 {
        return REDISMODULE_ERR;
    }
    // The clock wraps at 24 bits: an idle time reaching before its zero wraps around too
    // (idle_seconds undoes it).
    let mut abs = now as i64 - idle_ms / 1000;
    if abs < 0 {
        abs += evict::LRU_CLOCK_MAX as i64;
    }
    obj.lru = abs as u32;
    REDISMODULE_OK
}

/// `RedisModule_GetLRU(key, &idle_ms)`: milliseconds since the last access, -1 under an LFU
/// policy.
unsafe extern "C" fn get_lru(k: *mut Key, out: *mut c_longlong) -> c_int {
    // SAFETY: an open key handle and a writable result.
    let (k, out) = unsafe { (&*k, &mut *out) };
    *out = -1;
    let srv = k.srv();
    let lfu = srv.config.policy_is_lfu();
    let now = evict::lru_clock(srv.now_ms());
    let Some(obj) = k.value() else {
        return REDISMODULE_ERR;
    };
    if !lfu {
        *out = (evict::idle_seconds(obj.lru, now) * 1000) as c_longlong;
    }
    REDISMODULE_OK
}

/// `RedisModule_SetLFU(key, freq)`: sets the logarithmic access counter (0..=255), stamped
/// now. Refused unless an LFU policy is selected.
unsafe extern "C" fn set_lfu(k: *mut Key, freq: c_longlong) -> c_int {
    // SAFETY: an open key handle.
    let k = unsafe { &*k };
    let srv = k.srv();
    let lfu = srv.config.policy_is_lfu();
    let minutes = lfu_minutes(srv.now_ms());
    let Some(obj) = k.value() else {
        return REDISMODULE_ERR;
    };
    if !lfu || freq < 0 {
        return REDISMODULE_ERR;
    }
    // Redis asserts the counter fits its 8 bits; a larger value is a module bug, and the
    // server stops with the same kind of report.
    assert!(
        freq <= 255,
        "RedisModule_SetLFU: frequency {} above 255",
        freq
    );
    obj.lru = ((minutes as u32) << 8) | freq as u32;
    REDISMODULE_OK
}

/// `RedisModule_GetLFU(key, &freq)`: the decayed access counter, -1 unless an LFU policy is
/// selected.
unsafe extern "C" fn get_lfu(k: *mut Key, out: *mut c_longlong) -> c_int {
    // SAFETY: an open key handle and a writable result.
    let (k, out) = unsafe { (&*k, &mut *out) };
    *out = -1;
    let srv = k.srv();
    let lfu = srv.config.policy_is_lfu();
    let minutes = lfu_minutes(srv.now_ms());
    let decay = srv.config.lfu_decay_time;
    let Some(obj) = k.value() else {
        return REDISMODULE_ERR;
    };
    if lfu {
        *out = evict::lfu_decayed_counter(obj.lru, minutes, decay) as c_longlong;
    }
    REDISMODULE_OK
}

pub fn entries() -> Vec<(&'static str, usize)> {
    type Set = unsafe extern "C" fn(*mut Key, c_longlong) -> c_int;
    type Get = unsafe extern "C" fn(*mut Key, *mut c_longlong) -> c_int;
    super::api_entries! {
        "SetLRU" => set_lru as Set,
        "GetLRU" => get_lru as Get,
        "SetLFU" => set_lfu as Set,
        "GetLFU" => get_lfu as Get,
    }
}
