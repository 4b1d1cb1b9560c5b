//! MEMORY USAGE/STATS/DOCTOR/MALLOC-STATS/PURGE/HELP: memory accounting as Redis reports it.
//! Sizes are computed the way Redis counts its own structures (object header, sds header and
//! the allocator's size class for each allocation, dict entries), using jemalloc's real size
//! classes, so numbers are close to what Redis shows for the same data.

use crate::client::Client;
use crate::commands::{errors, reply_help, CmdProc};
use crate::server::Server;
use crate::types::{HashValue, RStr, SetValue, Value, ZsetValue};
use crate::util;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "memory|usage" => memory_usage_command,
        "memory|stats" => memory_stats_command,
        "memory|doctor" => memory_doctor_command,
        "memory|malloc-stats" => memory_malloc_stats_command,
        "memory|purge" => memory_purge_command,
        "memory|help" => memory_help_command,
        _ => return None,
    })
}

extern "C" {
    /// jemalloc: the usable size an allocation of `size` bytes gets (its size class).
    fn nallocx(size: libc::size_t, flags: libc::c_int) -> libc::size_t;
    /// jemalloc: writes its statistics report through `write_cb`.
    fn malloc_stats_print(
        write_cb: Option<unsafe extern "C" fn(*mut libc::c_void, *const libc::c_char)>,
        cbopaque: *mut libc::c_void,
        opts: *const libc::c_char,
    );
    /// jemalloc's control interface (jemalloc is linked with unprefixed symbols).
    pub(crate) fn mallctl(
        name: *const libc::c_char,
        oldp: *mut libc::c_void,
        oldlenp: *mut libc::size_t,
        newp: *mut libc::c_void,
        newlen: libc::size_t,
    ) -> libc::c_int;
}

/// The allocator's size class for a request of `size` bytes.
pub fn alloc_size(size: usize) -> usize {
    if size == 0 {
        return 0;
    }
    // SAFETY: nallocx only computes a size class; it has no memory effects.
    unsafe { nallocx(size, 0) }
}

/// Redis' object header (`robj`).
const ROBJ: usize = 16;
/// Redis' `dictEntry`.
const DICT_ENTRY: usize = 24;
const PTR: usize = 8;

/// Header bytes of an sds string of `len` bytes (sdsReqType).
fn sds_hdr(len: usize) -> usize {
    if len < 1 << 5 {
        1
    } else if len < 1 << 8 {
        3
    } else if len < 1 << 16 {
        5
    } else if len < 1 << 32 {
        9
    } else {
        17
    }
}

/// Allocated bytes of an sds holding `len` bytes (plus spare capacity).
fn sds_alloc(len: usize, cap: usize) -> usize {
    alloc_size(sds_hdr(cap) + cap.max(len) + 1)
}

/// Samples MEMORY USAGE takes when not told (Redis' `OBJ_COMPUTE_SIZE_DEF_SAMPLES`).
pub const DEFAULT_SAMPLES: usize = 5;

/// `objectComputeSize` for the value types that exist, with Redis' default sampling.
pub fn object_size(v: &Value) -> usize {
    object_size_sampled(v, DEFAULT_SAMPLES)
}

/// `objectComputeSize`: aggregates are estimated from the first `samples` elements (0 means
/// all) scaled to their count, as Redis does.
pub fn object_size_sampled(v: &Value, samples: usize) -> usize {
    match v {
        // Without its key (only MEMORY USAGE has one), the type's mem_usage2 gets none.
        Value::Module(mv) => mv.mem_usage(None, samples, 0),
        Value::Set(s) => match &**s {
            SetValue::Intset(s) => ROBJ + alloc_size(s.blob_len()),
            SetValue::Hashtable(d) => {
                sampled_dict_size(d, samples, |k, _| DICT_ENTRY + sds_alloc(k.len(), k.len()))
            }
        },
        Value::Zset(z) => match &**z {
            ZsetValue::Listpack(l) => ROBJ + alloc_size(l.bytes_len()),
            ZsetValue::Skiplist(z) => {
                // Object header, Redis' zset struct (dict and skiplist pointers: 16 bytes), its
                // skiplist struct (32), the dict struct (56), the buckets and the 32-level
                // header node; then per member Redis' node (element pointer, score, backward
                // pointer, 16 bytes per level), sds and dict entry, sampled and scaled as
                // Redis does.
                let zsl = z.skiplist();
                let mut size =
                    ROBJ + 16 + 32 + 56 + PTR * z.dict_buckets() + alloc_size(24 + 16 * 32);
                let limit = if samples == 0 { usize::MAX } else { samples };
                let mut elesize = 0usize;
                let mut n = 0usize;
                for x in zsl.iter().take(limit) {
                    elesize += sds_alloc(x.member().len(), x.member().len())
                        + DICT_ENTRY
                        + alloc_size(24 + 16 * x.height());
                    n += 1;
                }
                if n > 0 {
                    size += (elesize as f64 / n as f64 * z.len() as f64) as usize;
                }
                size
            }
        },
        Value::Hash(h) => match &**h {
            HashValue::Listpack(lp) => ROBJ + alloc_size(lp.bytes_len()),
            HashValue::Hashtable(d) => sampled_dict_size(d, samples, |e, _| {
                let (f, v) = (e.field().len(), e.value().len());
                DICT_ENTRY + sds_alloc(f, f) + sds_alloc(v, v)
            }),
        },
        Value::List(l) => {
            // Object header and the quicklist struct (head, tail, count, len, packed
            // fill/compress/bookmarks: 40 bytes), then sampled nodes (a 32-byte node header
            // plus its data allocation) scaled to the node count.
            let ql = l.ql();
            let mut size = ROBJ + 40;
            let limit = if samples == 0 { usize::MAX } else { samples };
            let mut elesize = 0usize;
            let mut n = 0usize;
            for node in ql.nodes().take(limit) {
                let data = if node.compressed {
                    // The compressed form carries its 4-byte length.
                    alloc_size(4 + node.stored.len())
                } else {
                    alloc_size(node.alloc)
                };
                elesize += 32 + data;
                n += 1;
            }
            if n > 0 {
                size += (elesize as f64 / n as f64 * ql.node_count() as f64) as usize;
            }
            size
        }
        Value::Stream(st) => stream_size(st, samples),
        Value::Str(s) => match s {
            RStr::Int(_) => ROBJ,
            // embstr: object header, sds header (type 8) and bytes in one allocation.
            RStr::Emb(b) => alloc_size(ROBJ + 3 + b.len() + 1),
            RStr::Raw(b) => ROBJ + sds_alloc(b.len(), b.capacity()),
        },
    }
}

/// A dict-encoded value: object header, the 7.0 dict struct (type, two table pointers, two used
/// counts, rehash index, pause counter and two size exponents: 56 bytes), the buckets, and the
/// average of the first `samples` elements' sizes (0 means all) times the element count.
fn sampled_dict_size<K: std::hash::Hash + Eq, V>(
    d: &crate::db::Dict<K, V>,
    samples: usize,
    elem_size: impl Fn(&K, &V) -> usize,
) -> usize {
    let mut size = ROBJ + 56 + PTR * d.buckets();
    let limit = if samples == 0 { usize::MAX } else { samples };
    let mut elesize = 0usize;
    let mut n = 0usize;
    for (k, v) in d.iter().take(limit) {
        elesize += elem_size(k, v);
        n += 1;
    }
    if n > 0 {
        size += (elesize as f64 / n as f64 * d.len() as f64) as usize;
    }
    size
}

fn memory_usage_command(srv: &mut Server, c: &mut Client) {
    let mut samples = DEFAULT_SAMPLES;
    let mut j = 3;
    while j < c.argv.len() {
        if util::eq_ic(&c.argv[j], "samples") && j + 1 < c.argv.len() {
            match util::parse_i64(&c.argv[j + 1]) {
                None => {
                    c.out.error(errors::NOT_INTEGER);
                    return;
                }
                Some(v) if v < 0 => {
                    c.out.error(errors::SYNTAX);
                    return;
                }
                Some(v) => samples = v as usize,
            }
            j += 2;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
    }
    let key = &c.argv[2];
    let Some(o) = srv.dbs[c.db].dict.get(&key[..]) else {
        c.out.null();
        return;
    };
    // A module value's size is what its type says (no object header added, as in Redis).
    let value_size = match &o.value {
        Value::Module(mv) => mv.mem_usage(Some(key), samples, c.db),
        v => object_size_sampled(v, samples),
    };
    let usage = value_size + sds_alloc(key.len(), key.len()) + DICT_ENTRY;
    c.out.int(usage as i64);
}

/// Allocator and process memory figures (Redis' `cron_malloc_stats` plus RSS).
struct MallocStats {
    allocated: usize,
    active: usize,
    resident: usize,
    rss: usize,
}

fn malloc_stats() -> MallocStats {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    let page = {
        // SAFETY: sysconf has no memory effects.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 {
            p as usize
        } else {
            4096
        }
    };
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<usize>().ok())
        })
        .map(|pages| pages * page)
        .unwrap_or(0);
    MallocStats {
        allocated: stats::allocated::read().unwrap_or(0),
        active: stats::active::read().unwrap_or(0),
        resident: stats::resident::read().unwrap_or(0),
        rss,
    }
}

/// Redis' `redisMemOverhead`: where the memory goes.
struct Overhead {
    total: usize,
    startup: usize,
    peak: usize,
    clients_normal: usize,
    dbs: Vec<(usize, usize, usize)>,
    overhead_total: usize,
    keys: usize,
    bytes_per_key: usize,
    dataset: usize,
    dataset_perc: f64,
    peak_perc: f64,
    ms: MallocStats,
}

fn overhead(srv: &Server, current: &Client) -> Overhead {
    let total = srv.used_memory();
    let startup = srv.initial_memory_usage;
    let peak = srv.peak_memory.max(total);
    let clients_normal: usize = srv
        .clients
        .values()
        .map(|c| c.total_memory())
        .sum::<usize>()
        + current.total_memory();
    let mut mem_total = startup + clients_normal;
    let mut dbs = Vec::new();
    let mut keys = 0;
    for db in &srv.dbs {
        let n = db.dict.len();
        if n == 0 {
            continue;
        }
        keys += n;
        let main = n * DICT_ENTRY + db.dict.buckets() * PTR + n * ROBJ;
        let expires = db.expires.len() * DICT_ENTRY + db.expires.buckets() * PTR;
        mem_total += main + expires;
        dbs.push((db.id, main, expires));
    }
    let net = if total > startup { total - startup } else { 1 };
    let dataset = total.saturating_sub(mem_total);
    Overhead {
        total,
        startup,
        peak,
        clients_normal,
        dbs,
        overhead_total: mem_total,
        keys,
        bytes_per_key: net.checked_div(keys).unwrap_or(0),
        dataset,
        dataset_perc: dataset as f64 * 100.0 / net as f64,
        peak_perc: total as f64 * 100.0 / peak.max(1) as f64,
        ms: malloc_stats(),
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    a as f64 / b.max(1) as f64
}

fn memory_stats_command(srv: &mut Server, c: &mut Client) {
    let mh = overhead(srv, c);
    let ms = &mh.ms;
    c.out.map(27 + mh.dbs.len());
    let int = |c: &mut Client, k: &str, v: i64| {
        c.out.bulk(k.as_bytes());
        c.out.int(v);
    };
    int(c, "peak.allocated", mh.peak as i64);
    int(c, "total.allocated", mh.total as i64);
    int(c, "startup.allocated", mh.startup as i64);
    int(c, "replication.backlog", 0);
    int(c, "clients.slaves", 0);
    int(c, "clients.normal", mh.clients_normal as i64);
    int(c, "cluster.links", 0);
    int(c, "aof.buffer", 0);
    int(c, "lua.caches", 0);
    int(c, "functions.caches", 0);
    for (id, main, expires) in &mh.dbs {
        c.out.bulk(format!("db.{}", id).as_bytes());
        c.out.map(3);
        int(c, "overhead.hashtable.main", *main as i64);
        int(c, "overhead.hashtable.expires", *expires as i64);
        int(c, "overhead.hashtable.slot-to-keys", 0);
    }
    int(c, "overhead.total", mh.overhead_total as i64);
    int(c, "keys.count", mh.keys as i64);
    int(c, "keys.bytes-per-key", mh.bytes_per_key as i64);
    int(c, "dataset.bytes", mh.dataset as i64);
    c.out.bulk(b"dataset.percentage");
    c.out.double(mh.dataset_perc);
    c.out.bulk(b"peak.percentage");
    c.out.double(mh.peak_perc);
    int(c, "allocator.allocated", ms.allocated as i64);
    int(c, "allocator.active", ms.active as i64);
    int(c, "allocator.resident", ms.resident as i64);
    c.out.bulk(b"allocator-fragmentation.ratio");
    c.out.double(ratio(ms.active, ms.allocated));
    int(
        c,
        "allocator-fragmentation.bytes",
        ms.active as i64 - ms.allocated as i64,
    );
    c.out.bulk(b"allocator-rss.ratio");
    c.out.double(ratio(ms.resident, ms.active));
    int(
        c,
        "allocator-rss.bytes",
        ms.resident as i64 - ms.active as i64,
    );
    c.out.bulk(b"rss-overhead.ratio");
    c.out.double(ratio(ms.rss, ms.resident));
    int(c, "rss-overhead.bytes", ms.rss as i64 - ms.resident as i64);
    c.out.bulk(b"fragmentation");
    c.out.double(ratio(ms.rss, mh.total));
    int(c, "fragmentation.bytes", ms.rss as i64 - mh.total as i64);
}

fn memory_doctor_command(srv: &mut Server, c: &mut Client) {
    let report = doctor_report(srv, c);
    c.out.verbatim(report.as_bytes(), "txt");
}

fn doctor_report(srv: &Server, current: &Client) -> String {
    let mh = overhead(srv, current);
    let ms = &mh.ms;
    let mut reports = 0;
    let empty = mh.total < 5 * 1024 * 1024;
    let (mut big_peak, mut high_frag, mut high_alloc_frag, mut high_alloc_rss, mut high_proc_rss) =
        (false, false, false, false, false);
    let mut big_client_buf = false;
    if empty {
        reports += 1;
    } else {
        let ten_mb = 10usize << 20;
        if mh.peak as f64 / mh.total as f64 > 1.5 {
            big_peak = true;
            reports += 1;
        }
        if ratio(ms.rss, mh.total) > 1.4 && ms.rss.saturating_sub(mh.total) > ten_mb {
            high_frag = true;
            reports += 1;
        }
        if ratio(ms.active, ms.allocated) > 1.1 && ms.active.saturating_sub(ms.allocated) > ten_mb {
            high_alloc_frag = true;
            reports += 1;
        }
        if ratio(ms.resident, ms.active) > 1.1 && ms.resident.saturating_sub(ms.active) > ten_mb {
            high_alloc_rss = true;
            reports += 1;
        }
        if ratio(ms.rss, ms.resident) > 1.1 && ms.rss.saturating_sub(ms.resident) > ten_mb {
            high_proc_rss = true;
            reports += 1;
        }
        let nclients = srv.clients.len() + 1;
        if mh.clients_normal / nclients > 1024 * 200 {
            big_client_buf = true;
            reports += 1;
        }
    }
    if reports == 0 {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    if empty {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let mut s =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    if big_peak {
        s.push_str(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
    }
    if high_frag {
        s.push_str(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"jemalloc-5.3.0\".\n\n");
    }
    if high_alloc_frag {
        s.push_str(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n");
    }
    if high_alloc_rss {
        s.push_str(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n");
    }
    if high_proc_rss {
        s.push_str(" * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n");
    }
    if big_client_buf {
        s.push_str(" * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n");
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

unsafe extern "C" fn collect_stats(opaque: *mut libc::c_void, text: *const libc::c_char) {
    // SAFETY: `opaque` is the `Vec<u8>` passed by memory_malloc_stats_command for the
    // duration of the call, and jemalloc passes a NUL-terminated string.
    let out = unsafe { &mut *(opaque as *mut Vec<u8>) };
    let s = unsafe { std::ffi::CStr::from_ptr(text) };
    out.extend_from_slice(s.to_bytes());
}

fn memory_malloc_stats_command(_srv: &mut Server, c: &mut Client) {
    let mut out: Vec<u8> = Vec::new();
    // SAFETY: the callback only appends to `out`, which outlives the call.
    unsafe {
        malloc_stats_print(
            Some(collect_stats),
            &mut out as *mut Vec<u8> as *mut libc::c_void,
            std::ptr::null(),
        );
    }
    c.out.verbatim(&out, "txt");
}

fn memory_purge_command(_srv: &mut Server, c: &mut Client) {
    // "arena.<MALLCTL_ARENAS_ALL>.purge" releases dirty pages of every arena.
    let name = c"arena.4096.purge";
    // SAFETY: a control with no input or output buffers.
    let ret = unsafe {
        mallctl(
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if ret == 0 {
        c.out.ok();
    } else {
        c.out.error("Error purging dirty pages");
    }
}

fn memory_help_command(_srv: &mut Server, c: &mut Client) {
    reply_help(
        c,
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
}

/// MEMORY USAGE of a stream, as Redis 7.0 estimates it: object and stream structs, the
/// radix tree (its own per-node estimate), the node listpacks (sampled ones averaged, plus
/// the real tail, whose buffer is preallocated), and per group its struct, PEL tree and
/// entries and per consumer its struct, name and PEL tree.
fn stream_size(st: &crate::types::stream::Stream, samples: usize) -> usize {
    use crate::types::stream::{id_key, rax_node_count};
    // Redis' estimate of a rax: 16 bytes per key and, per node, its 4-byte header plus a
    // fixed 30 words for children and aux pointers.
    let rax = |keys: &[[u8; 16]]| keys.len() * 16 + rax_node_count(keys) * (4 + 8 * 30);
    let node_keys: Vec<[u8; 16]> = st.nodes().map(|(k, _)| id_key(*k)).collect();
    let mut size = ROBJ + 80 + rax(&node_keys);
    let limit = if samples == 0 { usize::MAX } else { samples };
    let sizes: Vec<usize> = st.node_alloc_sizes().take(limit).map(alloc_size).collect();
    let n = st.node_count();
    if n <= sizes.len() {
        size += sizes.iter().sum::<usize>();
    } else {
        let avg = sizes.iter().sum::<usize>() / sizes.len().max(1);
        size += avg * (n - 1);
        size += st.node_alloc_sizes().last().map(alloc_size).unwrap_or(0);
    }
    for g in st.groups.values() {
        let pel: Vec<[u8; 16]> = g.pel.keys().map(|k| id_key(*k)).collect();
        size += 40 + rax(&pel) + 24 * g.pel.len();
        for (name, cons) in &g.consumers {
            let cpel: Vec<[u8; 16]> = cons.pel.iter().map(|k| id_key(*k)).collect();
            size += 24 + name.len() + rax(&cpel);
        }
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_allocator_classes() {
        assert_eq!(alloc_size(1), 8);
        assert_eq!(alloc_size(17), 32);
        assert_eq!(object_size(&Value::Str(RStr::Int(5))), 16);
        // 16 + 3 + 3 + 1 = 23 bytes -> jemalloc's 32-byte class (16-byte quantum), which
        // makes MEMORY USAGE of `foo`="bar" 64 as in Redis (32 + 8 for the key + 24 entry).
        assert_eq!(object_size(&Value::Str(RStr::plain(b"bar"))), 32);
    }
}
