//! Memory and latency figures for modules: LatencyAddSample feeds the latency monitor
//! (LATENCY HISTORY/LATEST show the module's events), GetUsedMemoryRatio tells how close the
//! server is to `maxmemory`.

use std::ffi::{c_char, c_longlong};

/// `RedisModule_LatencyAddSample(event, ms)`: recorded when it reaches
/// `latency-monitor-threshold` — with the threshold at 0 (monitor off for the server's own
/// events) every non-negative sample is, as in 7.0.
unsafe extern "C" fn latency_add_sample(event: *const c_char, latency: c_longlong) {
    let Some(srv) = super::command::current_server() else {
        return;
    };
    if latency < srv.config.latency_monitor_threshold {
        return;
    }
    // SAFETY: a NUL-terminated event name.
    let name = String::from_utf8_lossy(unsafe { super::cstr(event) }).into_owned();
    srv.latency_add_sample(&name, latency as u64);
}

/// `RedisModule_GetUsedMemoryRatio()`: memory counted against `maxmemory` over the limit
/// (0 without a limit; above 1 when over it).
unsafe extern "C" fn get_used_memory_ratio() -> f32 {
    let Some(srv) = super::command::current_server() else {
        return 0.0;
    };
    let limit = srv.config.maxmemory;
    if limit <= 0 {
        return 0.0;
    }
    srv.memory_for_maxmemory() as f32 / limit as f32
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries! {
        "LatencyAddSample" => latency_add_sample as unsafe extern "C" fn(*const c_char, c_longlong),
        "GetUsedMemoryRatio" => get_used_memory_ratio as unsafe extern "C" fn() -> f32,
    }
}
