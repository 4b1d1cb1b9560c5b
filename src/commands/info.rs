//! INFO: the server report in Redis 7.0's sections, field names and order, plus what only it
//! needs: the per-command latency histograms behind `latencystats`, the instantaneous metrics
//! sampled by the cron (`instantaneous_ops_per_sec` ...), and `Server::reset_stats` (CONFIG
//! RESETSTAT).
//!
//! Fields of subsystems that don't exist yet (persistence, replicas, scripting) report the values
//! a Redis without them reports: nothing loading, no child, no replica, no script.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::client::{flags, Client};
use crate::commands::CmdProc;
use crate::server::Server;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "info" => info_command,
        "latency|histogram" => latency_histogram_command,
        _ => return None,
    })
}

fn info_command(srv: &mut Server, c: &mut Client) {
    // Memory is read before INFO allocates its own temporaries (section set, report text), so
    // `used_memory` shows the server's state rather than this report's construction, and stays
    // comparable with the figure `maxmemory` was just enforced against.
    let used = srv.used_memory();
    let sel = Sections::from_args(&c.argv[1..]);
    let text = srv.gen_info_string(&sel, Some(c), used);
    c.out.verbatim(text.as_bytes(), "txt");
}

/// LATENCY HISTOGRAM [command ...]: the cumulative latency distribution of each command (all
/// commands with data, or the named ones; a container also brings its subcommands).
fn latency_histogram_command(srv: &mut Server, c: &mut Client) {
    let mut ids: Vec<crate::commands::CmdId> = Vec::new();
    if c.argv.len() == 2 {
        ids.extend(srv.sorted_commands_ids());
    } else {
        for i in 2..c.argv.len() {
            let Some(id) = srv.commands.lookup_fullname(&c.argv[i]) else {
                continue;
            };
            ids.push(id);
            let mut subs: Vec<_> = srv.commands.cmds[id]
                .subcommands
                .values()
                .copied()
                .collect();
            subs.sort_by(|a, b| {
                srv.commands.cmds[*a]
                    .fullname
                    .cmp(&srv.commands.cmds[*b].fullname)
            });
            ids.extend(subs);
        }
    }
    let with_data: Vec<_> = ids
        .into_iter()
        .filter(|id| srv.commands.cmds[*id].latency.is_some())
        .collect();
    c.out.map(with_data.len());
    for id in with_data {
        let cmd = &srv.commands.cmds[id];
        let h = cmd.latency.as_ref().expect("filtered on latency data");
        c.out.bulk(cmd.fullname.as_bytes());
        c.out.map(2);
        c.out.bulk(b"calls");
        c.out.int(h.total as i64);
        c.out.bulk(b"histogram_usec");
        let points = h.cumulative_log2();
        c.out.map(points.len());
        for (usec, count) in points {
            c.out.int(usec as i64);
            c.out.int(count as i64);
        }
    }
}

/// Which sections an INFO call asked for.
pub struct Sections {
    names: HashSet<String>,
    all: bool,
    /// `everything`: `all` plus the sections of modules.
    everything: bool,
}

/// Every section the server itself prints (other names may be modules' sections).
const SERVER_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

impl Sections {
    /// INFO's arguments: section names (any case), `default`, `all`, `everything`; none means
    /// the default sections.
    pub fn from_args(args: &[Vec<u8>]) -> Sections {
        let mut s = Sections {
            names: HashSet::new(),
            all: false,
            everything: false,
        };
        if args.is_empty() {
            s.names
                .extend(DEFAULT_SECTIONS.iter().map(|n| n.to_string()));
            return s;
        }
        for a in args {
            let name = String::from_utf8_lossy(a).to_ascii_lowercase();
            match name.as_str() {
                "default" => s
                    .names
                    .extend(DEFAULT_SECTIONS.iter().map(|n| n.to_string())),
                "all" => s.all = true,
                "everything" => {
                    s.all = true;
                    s.everything = true;
                }
                _ => {
                    s.names.insert(name);
                }
            }
        }
        s
    }

    fn wants(&self, name: &str) -> bool {
        self.all || self.names.contains(name)
    }
}

/// Latency of one command, kept the way Redis' hdr_histogram keeps it closely enough for the
/// percentiles INFO prints: values in nanoseconds, clamped to [1 ns, 1 s], exact below 256
/// and with 128 linear sub-buckets per power of two above (better than 1% relative error).
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

const HIST_SUB: u64 = 128;
const HIST_MIN_NS: u64 = 1;
const HIST_MAX_NS: u64 = 1_000_000_000;

impl LatencyHistogram {
    fn index_of(v: u64) -> usize {
        if v < 2 * HIST_SUB {
            return v as usize;
        }
        // v >> shift lands in [128, 256): 128 sub-buckets per power of two.
        let shift = 63 - v.leading_zeros() as u64 - 7;
        (2 * HIST_SUB + (shift - 1) * HIST_SUB + ((v >> shift) - HIST_SUB)) as usize
    }

    /// The largest value that falls in the same bucket as index `i`.
    fn highest_of(i: usize) -> u64 {
        let i = i as u64;
        if i < 2 * HIST_SUB {
            return i;
        }
        let shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
        let sub = (i - 2 * HIST_SUB) % HIST_SUB + HIST_SUB;
        (sub << shift) + (1 << shift) - 1
    }

    pub fn record(&mut self, ns: u64) {
        let v = ns.clamp(HIST_MIN_NS, HIST_MAX_NS);
        let i = Self::index_of(v);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.total += 1;
    }

    /// The distribution at power-of-two steps starting at 1024 ns, as hdr_histogram's
    /// logarithmic iteration gives it to LATENCY HISTOGRAM: (step's top value in µs,
    /// samples up to it), for steps that add samples.
    pub fn cumulative_log2(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut seen = 0u64;
        let mut idx = 0usize;
        let mut level: u64 = 1024;
        while seen < self.total {
            let top = Self::index_of(level.min(HIST_MAX_NS * 2));
            let before = seen;
            while idx <= top && idx < self.counts.len() {
                seen += self.counts[idx];
                idx += 1;
            }
            if seen > before {
                out.push((Self::highest_of(top) / 1000, seen));
            }
            level *= 2;
        }
        out
    }

    /// The value below which `p` percent of the samples fall (hdr_histogram's rounding: the
    /// sample rank is rounded to nearest and at least 1, and a bucket reports its top value).
    pub fn value_at_percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let p = p.clamp(0.0, 100.0);
        let rank = ((p / 100.0) * self.total as f64 + 0.5) as u64;
        let rank = rank.max(1);
        let mut seen = 0;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::highest_of(i);
            }
        }
        Self::highest_of(self.counts.len().saturating_sub(1))
    }
}

/// Samples behind the `instantaneous_*` fields: every 100 ms the cron records the rate of
/// change of a counter; the field is the mean of the last 16 samples.
#[derive(Debug, Clone, Default)]
pub struct InstMetrics {
    metrics: [InstMetric; 3],
}

#[derive(Debug, Clone, Default)]
struct InstMetric {
    last_time_ms: i64,
    last_count: u64,
    samples: [u64; 16],
    idx: usize,
}

const METRIC_COMMANDS: usize = 0;
const METRIC_NET_INPUT: usize = 1;
const METRIC_NET_OUTPUT: usize = 2;
const INST_SAMPLE_PERIOD_MS: i64 = 100;

impl InstMetric {
    fn track(&mut self, now_ms: i64, count: u64) {
        if self.last_time_ms != 0 {
            let dt = (now_ms - self.last_time_ms).max(1) as u64;
            let ops = count.saturating_sub(self.last_count);
            self.samples[self.idx] = ops * 1000 / dt;
            self.idx = (self.idx + 1) % self.samples.len();
        }
        self.last_time_ms = now_ms;
        self.last_count = count;
    }

    fn value(&self) -> u64 {
        self.samples.iter().sum::<u64>() / self.samples.len() as u64
    }
}

impl InstMetrics {
    /// Called from the cron: samples the counters when a sample period has passed.
    pub fn track(&mut self, now_ms: i64, commands: u64, net_in: u64, net_out: u64) {
        let m = &self.metrics[METRIC_COMMANDS];
        if m.last_time_ms != 0 && now_ms - m.last_time_ms < INST_SAMPLE_PERIOD_MS {
            return;
        }
        self.metrics[METRIC_COMMANDS].track(now_ms, commands);
        self.metrics[METRIC_NET_INPUT].track(now_ms, net_in);
        self.metrics[METRIC_NET_OUTPUT].track(now_ms, net_out);
    }
}

/// `bytesToHuman`: B, then K/M/G/T/P with two decimals.
pub fn bytes_to_human(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{}B", n);
    }
    let mut d = n as f64 / 1024.0;
    for u in UNITS {
        if d < 1024.0 {
            return format!("{:.2}{}", d, u);
        }
        d /= 1024.0;
    }
    format!("{}B", n)
}

/// Replaces the characters that would break INFO's line format.
fn safe_info_string(s: &str) -> String {
    s.chars()
        .map(|ch| {
            if matches!(ch, '#' | ':' | '\n' | '\r') {
                '_'
            } else {
                ch
            }
        })
        .collect()
}

/// `%f` then trailing zeros (and a trailing dot) removed, as the percentile names are printed.
fn percentile_name(p: f64) -> String {
    let s = format!("{:.6}", p);
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

fn rusage(who: i32) -> (libc::timeval, libc::timeval) {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        (ru.ru_stime, ru.ru_utime)
    }
}

fn uname() -> (String, String, String) {
    // SAFETY: uname fills the zeroed struct; its fields are NUL-terminated C strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return Default::default();
        }
        let f = |a: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(a.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        (f(&u.sysname), f(&u.release), f(&u.machine))
    }
}

/// Resident set size of the process, from /proc.
pub fn process_rss() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    pages * page
}

fn total_system_memory() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/meminfo") else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// The allocator's view: (allocated, active, resident).
fn allocator_stats() -> (u64, u64, u64) {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    (
        stats::allocated::read().unwrap_or(0) as u64,
        stats::active::read().unwrap_or(0) as u64,
        stats::resident::read().unwrap_or(0) as u64,
    )
}

fn config_string(srv: &Server, name: &str) -> String {
    crate::config::lookup(name.as_bytes())
        .map(|d| crate::config::get_directive(&srv.config, d))
        .unwrap_or_default()
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl Server {
    /// Records a command's duration in its latency histogram (when latency tracking is on).
    pub fn record_command_latency(&mut self, id: crate::commands::CmdId, duration_us: u64) {
        if !self.config.latency_tracking {
            return;
        }
        self.commands.cmds[id]
            .latency
            .get_or_insert_with(Default::default)
            .record(duration_us.saturating_mul(1000));
    }

    /// CONFIG RESETSTAT: the server counters, the per-command statistics (calls, time,
    /// rejections, failures, latency histograms) and the error counters go back to zero.
    pub fn reset_stats(&mut self) {
        self.stats = Default::default();
        self.inst_metrics = Default::default();
        self.lazyfree.reset_stats();
        // The counters kept with their subsystems, as Redis' resetServerStats clears them.
        let repl = &mut self.repl;
        repl.sync_full = 0;
        repl.sync_partial_ok = 0;
        repl.sync_partial_err = 0;
        repl.net_repl_input_bytes = 0;
        repl.net_repl_output_bytes = 0;
        self.persist.rdb_saves = 0;
        self.persist.total_forks = 0;
        self.persist.latest_fork_usec = 0;
        self.aof.rewrites = 0;
        self.aof.consecutive_failures = 0;
        self.aof.delayed_fsync = 0;
        for cmd in self.commands.cmds.iter_mut() {
            cmd.calls = 0;
            cmd.usec = 0;
            cmd.rejected_calls = 0;
            cmd.failed_calls = 0;
            cmd.latency = None;
        }
    }

    /// Samples the instantaneous metrics (from the cron).
    pub fn track_instantaneous_metrics(&mut self) {
        let now = crate::util::mstime();
        let (cmds, net_in, net_out) = (
            self.stats.numcommands,
            self.stats.net_input_bytes,
            self.stats.net_output_bytes,
        );
        self.inst_metrics.track(now, cmds, net_in, net_out);
    }

    /// Clients blocked on keys or held by CLIENT PAUSE, as INFO `blocked_clients` counts them.
    pub fn blocked_clients_count(&self) -> usize {
        self.clients
            .values()
            .filter(|c| c.has(flags::BLOCKED))
            .count()
    }

    /// The INFO text for the chosen sections. `me` is the calling client, which is out of
    /// `self.clients` while its command runs but is still a connected client. `used` is the
    /// `used_memory` figure to report.
    pub fn gen_info_string(&mut self, sel: &Sections, me: Option<&Client>, used: usize) -> String {
        let mut out = String::with_capacity(4096);
        let mut sections = 0;
        let mut begin = |out: &mut String, title: &str| {
            if sections > 0 {
                out.push_str("\r\n");
            }
            sections += 1;
            out.push_str("# ");
            out.push_str(title);
            out.push_str("\r\n");
        };
        let now_ms = crate::util::mstime();
        let unix = now_ms / 1000;
        let uptime = unix - self.start_time_ms / 1000;
        let me_extra = me.is_some_and(|c| !self.clients.contains_key(&c.id)) as usize;

        if sel.wants("server") {
            begin(&mut out, "Server");
            let (sys, rel, mach) = uname();
            let _ = write!(
                out,
                "redis_version:{}\r\nferrodis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {} {}\r\narch_bits:{}\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
                crate::server::REDIS_VERSION,
                crate::server::FERRODIS_VERSION,
                sys,
                rel,
                mach,
                usize::BITS,
                self.pid,
                self.run_id,
                self.config.port,
                crate::util::ustime(),
                uptime,
                uptime / (3600 * 24),
                self.hz,
                self.config.hz,
                crate::server::evict::lru_clock(now_ms),
                self.executable,
                self.config_file.as_deref().unwrap_or(""),
            );
            if let Some(ms) = self.shutdown_in_ms() {
                let _ = write!(out, "shutdown_in_milliseconds:{}\r\n", ms);
            }
        }

        if sel.wants("clients") {
            begin(&mut out, "Clients");
            let mut max_in = 0;
            let mut max_out = 0;
            for c in self.clients.values().map(|b| &**b).chain(me) {
                max_in = max_in.max(c.querybuf.capacity().max(c.querybuf_peak));
                max_out = max_out.max(c.output_memory());
            }
            let replicas = self
                .clients
                .values()
                .filter(|c| c.has(flags::SLAVE) && !c.has(flags::MONITOR))
                .count();
            let _ = write!(
                out,
                "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:{}\r\n",
                self.clients.len() + me_extra - replicas,
                self.config.maxclients,
                max_in,
                max_out,
                self.blocked_clients_count(),
                self.tracking.clients.len(),
                self.blocking.timeouts.len(),
            );
        }

        if sel.wants("memory") {
            begin(&mut out, "Memory");
            let (allocated, active, resident) = allocator_stats();
            // The same figure `maxmemory` is enforced against.
            let used = used as u64;
            if used as usize > self.peak_memory {
                self.peak_memory = used as usize;
            }
            let peak = self.peak_memory as u64;
            let rss = process_rss();
            let system = total_system_memory();
            let startup = self.startup_memory as u64;
            let is_replica_client = |c: &Client| c.has(flags::SLAVE) && !c.has(flags::MONITOR);
            let clients_normal: u64 = self
                .clients
                .values()
                .map(|b| &**b)
                .chain(me)
                .filter(|c| !is_replica_client(c))
                .map(|c| c.total_memory() as u64)
                .sum();
            let clients_slaves: u64 = self
                .clients
                .values()
                .map(|b| &**b)
                .chain(me)
                .filter(|c| is_replica_client(c))
                .map(|c| c.total_memory() as u64)
                .sum::<u64>()
                + self.repl_held_bytes() as u64;
            let not_counted = self.repl_mem_not_counted() as u64;
            let backlog_mem = self.repl.backlog.as_ref().map_or(0, |b| b.size()) as u64;
            let db_overhead: u64 = self
                .dbs
                .iter()
                .map(|d| {
                    ((d.dict.buckets() + d.expires.buckets()) * 8
                        + (d.dict.len() + d.expires.len()) * 24) as u64
                })
                .sum();
            let total_repl = backlog_mem + not_counted;
            let overhead =
                (startup + clients_normal + clients_slaves + backlog_mem + db_overhead).min(used);
            let dataset = used - overhead;
            let net = used.saturating_sub(startup);
            let maxmemory = self.config.maxmemory.max(0) as u64;
            let _ = write!(
                out,
                "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{overhead}\r\nused_memory_startup:{startup}\r\nused_memory_dataset:{dataset}\r\nused_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{allocated}\r\nallocator_active:{active}\r\nallocator_resident:{resident}\r\ntotal_system_memory:{system}\r\ntotal_system_memory_human:{}\r\n",
                bytes_to_human(used),
                bytes_to_human(rss),
                bytes_to_human(peak),
                ratio(used, peak) * 100.0,
                ratio(dataset, net) * 100.0,
                bytes_to_human(system),
            );
            // EVAL's interpreter and cache, and the functions' interpreter and libraries.
            let lua_vm = self.scripting.lua_memory() as u64;
            let scripts_eval = self.scripting.scripts_mem as u64;
            let f = &self.scripting.functions;
            let (vm_functions, functions_mem) = (f.lua_memory() as u64, f.code_memory() as u64);
            let (n_functions, n_libraries) = (f.function_count(), f.libraries.len());
            let _ = write!(
                out,
                "used_memory_lua:{lua_vm}\r\nused_memory_vm_eval:{lua_vm}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{scripts_eval}\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{n_functions}\r\nnumber_of_libraries:{n_libraries}\r\nused_memory_vm_functions:{vm_functions}\r\nused_memory_vm_total:{}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{functions_mem}\r\nused_memory_scripts:{}\r\nused_memory_scripts_human:{}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n",
                bytes_to_human(lua_vm),
                self.scripting.scripts.len(),
                lua_vm + vm_functions,
                bytes_to_human(lua_vm + vm_functions),
                scripts_eval + functions_mem,
                bytes_to_human(scripts_eval + functions_mem),
                bytes_to_human(maxmemory),
                config_string(self, "maxmemory-policy"),
            );
            let _ = write!(
                out,
                "allocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\nallocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:{not_counted}\r\nmem_replication_backlog:{backlog_mem}\r\nmem_total_replication_buffers:{total_repl}\r\nmem_clients_slaves:{clients_slaves}\r\nmem_clients_normal:{clients_normal}\r\nmem_cluster_links:{cluster_links}\r\nmem_aof_buffer:{aof_buffer}\r\nmem_allocator:jemalloc-5.3.0\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:{lazy_pending}\r\nlazyfreed_objects:{lazy_freed}\r\n",
                ratio(active, allocated),
                active.saturating_sub(allocated),
                ratio(resident, active),
                resident as i64 - active as i64,
                ratio(rss, resident),
                rss as i64 - resident as i64,
                ratio(rss, used),
                rss as i64 - used as i64,
                lazy_pending = self.lazyfree.pending_objects(),
                lazy_freed = self.lazyfree.freed_objects(),
                aof_buffer = self.aof.buf.capacity(),
                cluster_links = self.cluster.as_deref().map_or(0, |cl| cl.bus.links_mem()),
            );
        }

        if sel.wants("persistence") {
            begin(&mut out, "Persistence");
            let _ = write!(
                out,
                "loading:{}\r\nasync_loading:{}\r\n{}{}",
                (self.loading && !self.repl.async_loading) as i32,
                self.repl.async_loading as i32,
                self.rdb_info_fields(),
                self.aof_info_fields(),
            );
            if self.loading {
                out.push_str(&self.loading_info_fields());
            }
        }

        if sel.wants("stats") {
            begin(&mut out, "Stats");
            let st = &self.stats;
            // Time over maxmemory so far in the current episode (counted in the total too).
            let current_eviction_exceeded_us = if st.eviction_exceeded_since_us != 0 {
                crate::util::monotonic_us() - st.eviction_exceeded_since_us
            } else {
                0
            };
            let m = &self.inst_metrics.metrics;
            let _ = write!(
                out,
                "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:{}\r\ntotal_net_repl_output_bytes:{}\r\ninstantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:{:.2}\r\nexpired_time_cap_reached_count:{}\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:{}\r\ntotal_eviction_exceeded_time:{}\r\ncurrent_eviction_exceeded_time:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:{}\r\ntotal_forks:{}\r\nmigrate_cached_sockets:{}\r\nslave_expires_tracked_keys:{}\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nunexpected_error_replies:{}\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:{}\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\nio_threaded_reads_processed:{}\r\nio_threaded_writes_processed:{}\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
                st.numconnections,
                st.numcommands,
                m[METRIC_COMMANDS].value(),
                st.net_input_bytes,
                st.net_output_bytes,
                self.repl.net_repl_input_bytes,
                self.repl.net_repl_output_bytes,
                m[METRIC_NET_INPUT].value() as f64 / 1024.0,
                m[METRIC_NET_OUTPUT].value() as f64 / 1024.0,
                st.rejected_conn,
                self.repl.sync_full,
                self.repl.sync_partial_ok,
                self.repl.sync_partial_err,
                st.expired_keys,
                st.expired_stale_perc * 100.0,
                st.expired_time_cap_reached_count,
                st.expire_cycle_time_used_us / 1000,
                st.evicted_keys,
                st.evicted_clients,
                (st.total_eviction_exceeded_time_us + current_eviction_exceeded_us) / 1000,
                current_eviction_exceeded_us / 1000,
                st.keyspace_hits,
                st.keyspace_misses,
                self.pubsub.channels.len(),
                self.pubsub.patterns.len(),
                self.pubsub.shard_channels.len(),
                self.persist.latest_fork_usec,
                self.persist.total_forks,
                self.migrate.len(),
                self.repl.replica_keys_with_expire.len(),
                self.tracking.total_keys(),
                self.tracking.total_items(),
                self.tracking.total_prefixes(),
                st.unexpected_error_replies,
                st.total_error_replies,
                st.dump_payload_sanitizations,
                st.total_reads_processed,
                st.total_writes_processed,
                st.io_reads_processed,
                st.io_writes_processed,
            );
        }

        if sel.wants("replication") {
            begin(&mut out, "Replication");
            out.push_str(if self.is_replica() {
                "role:slave\r\n"
            } else {
                "role:master\r\n"
            });
            if self.is_replica() {
                self.repl_replica_info(&mut out);
            }
            let _ = write!(
                out,
                "connected_slaves:{}\r\n",
                self.repl_connected_replicas()
            );
            let min_replicas: i64 = config_string(self, "min-replicas-to-write")
                .parse()
                .unwrap_or(0);
            let max_lag: i64 = config_string(self, "min-replicas-max-lag")
                .parse()
                .unwrap_or(0);
            if min_replicas > 0 && max_lag > 0 {
                let _ = write!(
                    out,
                    "min_slaves_good_slaves:{}\r\n",
                    self.repl.good_replicas
                );
            }
            self.repl_replica_info_lines(&mut out);
            let _ = write!(
                out,
                "master_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
                self.replid,
                self.repl.replid2,
                self.repl.master_repl_offset,
                self.repl.second_replid_offset,
                self.repl.backlog.is_some() as i32,
                config_string(self, "repl-backlog-size"),
                self.repl.backlog.as_ref().map_or(0, |b| b.first_offset),
                self.repl.backlog.as_ref().map_or(0, |b| b.histlen),
            );
        }

        if sel.wants("cpu") {
            begin(&mut out, "CPU");
            let (ss, su) = rusage(libc::RUSAGE_SELF);
            let (cs, cu) = rusage(libc::RUSAGE_CHILDREN);
            let (ts, tu) = rusage(libc::RUSAGE_THREAD);
            let tv = |t: libc::timeval| format!("{}.{:06}", t.tv_sec, t.tv_usec);
            let _ = write!(
                out,
                "used_cpu_sys:{}\r\nused_cpu_user:{}\r\nused_cpu_sys_children:{}\r\nused_cpu_user_children:{}\r\nused_cpu_sys_main_thread:{}\r\nused_cpu_user_main_thread:{}\r\n",
                tv(ss),
                tv(su),
                tv(cs),
                tv(cu),
                tv(ts),
                tv(tu),
            );
        }

        if sel.wants("module_list") || sel.wants("modules") {
            begin(&mut out, "Modules");
            crate::module::info::module_list(self, &mut out);
        }

        if sel.wants("commandstats") {
            begin(&mut out, "Commandstats");
            for cmd in self.sorted_commands() {
                if cmd.calls == 0 && cmd.failed_calls == 0 && cmd.rejected_calls == 0 {
                    continue;
                }
                let per_call = if cmd.calls == 0 {
                    0.0
                } else {
                    cmd.usec as f32 / cmd.calls as f32
                };
                let _ = write!(
                    out,
                    "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
                    safe_info_string(&cmd.fullname),
                    cmd.calls,
                    cmd.usec,
                    per_call,
                    cmd.rejected_calls,
                    cmd.failed_calls,
                );
            }
        }

        if sel.wants("errorstats") {
            begin(&mut out, "Errorstats");
            let mut errs: Vec<(&String, &u64)> = self.stats.errors.iter().collect();
            errs.sort();
            for (code, n) in errs {
                let _ = write!(out, "errorstat_{}:count={}\r\n", safe_info_string(code), n);
            }
        }

        if sel.wants("latencystats") {
            begin(&mut out, "Latencystats");
            if self.config.latency_tracking {
                let pcts = self.config.latency_tracking_info_percentiles.clone();
                for cmd in self.sorted_commands() {
                    let Some(h) = &cmd.latency else { continue };
                    let _ = write!(
                        out,
                        "latency_percentiles_usec_{}:",
                        safe_info_string(&cmd.fullname)
                    );
                    for (j, p) in pcts.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        let _ = write!(
                            out,
                            "p{}={:.3}",
                            percentile_name(*p),
                            h.value_at_percentile(*p) as f64 / 1000.0
                        );
                    }
                    out.push_str("\r\n");
                }
            }
        }

        if sel.wants("cluster") {
            begin(&mut out, "Cluster");
            out.push_str(if self.cluster.is_some() {
                "cluster_enabled:1\r\n"
            } else {
                "cluster_enabled:0\r\n"
            });
        }

        if sel.wants("keyspace") {
            begin(&mut out, "Keyspace");
            for (j, db) in self.dbs.iter().enumerate() {
                let keys = db.dict.len();
                let vkeys = db.expires.len();
                if keys > 0 || vkeys > 0 {
                    let _ = write!(
                        out,
                        "db{}:keys={},expires={},avg_ttl={}\r\n",
                        j, keys, vkeys, db.avg_ttl
                    );
                }
            }
        }
        // Sections of modules: all of them for `everything` and `modules`, otherwise those
        // named (a name no server section has may be a module's).
        if !self.modules.list.is_empty() {
            if sel.everything || sel.names.contains("modules") {
                crate::module::info::collect(self, &mut out, sections, None);
            } else if sel
                .names
                .iter()
                .any(|n| !SERVER_SECTIONS.contains(&n.as_str()))
            {
                let names = sel.names.clone();
                crate::module::info::collect(self, &mut out, sections, Some(&names));
            }
        }
        out
    }

    fn sorted_commands_ids(&self) -> Vec<crate::commands::CmdId> {
        let mut v: Vec<crate::commands::CmdId> = (0..self.commands.cmds.len()).collect();
        v.sort_by(|a, b| {
            self.commands.cmds[*a]
                .fullname
                .cmp(&self.commands.cmds[*b].fullname)
        });
        v
    }

    /// Commands and subcommands in name order (parents before their subcommands).
    fn sorted_commands(&self) -> Vec<&crate::commands::Command> {
        let mut v: Vec<&crate::commands::Command> = self.commands.cmds.iter().collect();
        v.sort_by(|a, b| a.fullname.cmp(&b.fullname));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_exact_below_256_and_close_above() {
        let mut h = LatencyHistogram::default();
        for v in 1..=100u64 {
            h.record(v);
        }
        assert_eq!(h.value_at_percentile(50.0), 50);
        assert_eq!(h.value_at_percentile(100.0), 100);
        let mut h = LatencyHistogram::default();
        h.record(1_234_567);
        let v = h.value_at_percentile(50.0);
        assert!(
            (1_234_567..=1_234_567 + 1_234_567 / 100).contains(&v),
            "{v}"
        );
        // Values beyond a second are clamped, as hdr_histogram's range is.
        let mut h = LatencyHistogram::default();
        h.record(5_000_000_000);
        assert!(h.value_at_percentile(99.9) <= HIST_MAX_NS + HIST_MAX_NS / 100);
    }

    #[test]
    fn log2_steps_report_cumulative_counts() {
        let mut h = LatencyHistogram::default();
        h.record(500);
        h.record(1500);
        h.record(40_000);
        // 1024 ns and 2048 ns steps, then the 65536 ns one (its bucket tops out at 66047 ns).
        assert_eq!(h.cumulative_log2(), vec![(1, 1), (2, 2), (66, 3)]);
    }

    #[test]
    fn bucket_bounds_are_contiguous() {
        for i in 1..3000usize {
            let lo_of_next = LatencyHistogram::highest_of(i - 1) + 1;
            assert_eq!(LatencyHistogram::index_of(lo_of_next), i);
        }
    }

    #[test]
    fn percentile_names_drop_trailing_zeros() {
        assert_eq!(percentile_name(50.0), "50");
        assert_eq!(percentile_name(99.9), "99.9");
        assert_eq!(percentile_name(0.0), "0");
    }

    #[test]
    fn human_bytes() {
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1024), "1.00K");
        assert_eq!(bytes_to_human(1536 * 1024), "1.50M");
    }

    #[test]
    fn section_selection() {
        let s = Sections::from_args(&[]);
        assert!(s.wants("server") && !s.wants("commandstats"));
        let s = Sections::from_args(&[b"commandSTATS".to_vec()]);
        assert!(s.wants("commandstats") && !s.wants("server"));
        let s = Sections::from_args(&[b"cpu".to_vec(), b"all".to_vec()]);
        assert!(s.wants("latencystats") && s.wants("cpu"));
    }
}
