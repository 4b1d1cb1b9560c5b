//! The one `Server` value that owns all state: databases, clients, configuration, command table,
//! pub/sub, statistics and the propagation log. The event loop (`ae`) owns the `Server`; every
//! command receives `&mut Server` plus the calling client.

pub mod crash;
pub mod cron;
pub mod evict;
pub mod fork;
pub mod log;
pub mod proctitle;
pub mod shutdown;
pub mod support;

use std::collections::{HashMap, VecDeque};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::client::{Client, ClientId, ClientMap, ClientSet};
use crate::commands::CommandTable;
use crate::config::Config;
use crate::db::Db;
use crate::pubsub::PubSub;
use crate::replication::PropLog;
use evict::ClockSource;

pub const REDIS_VERSION: &str = "7.0.15";
pub const FERRODIS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Server-wide counters reported by INFO stats.
#[derive(Default, Debug, Clone)]
pub struct Stats {
    pub numcommands: u64,
    pub numconnections: u64,
    pub rejected_conn: u64,
    pub expired_keys: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached_count: u64,
    pub expire_cycle_time_used_us: u64,
    pub evicted_keys: u64,
    pub evicted_clients: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    pub dump_payload_sanitizations: u64,
    pub client_qbuf_limit_disconnections: u64,
    pub client_outbuf_limit_disconnections: u64,
    pub total_eviction_exceeded_time_us: u64,
    /// Monotonic time (us) since when memory has been over `maxmemory`, 0 when it isn't.
    pub eviction_exceeded_since_us: u64,
    pub io_reads_processed: u64,
    pub io_writes_processed: u64,
    pub total_reads_processed: u64,
    pub total_writes_processed: u64,
    pub reply_buffer_shrinks: u64,
    pub reply_buffer_expands: u64,
    /// Error replies by code ("ERR", "WRONGTYPE", ...).
    pub errors: HashMap<String, u64>,
}

/// Why clients are paused (Redis 7.0's pause purposes): each has its own kind and end, and
/// lifting one (CLIENT UNPAUSE, a cancelled shutdown) leaves the others in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausePurpose {
    /// CLIENT PAUSE.
    ClientCommand = 0,
    /// A shutdown waiting for its replicas holds writes.
    Shutdown = 1,
    /// A cluster master holds writes while a replica takes over (CLUSTER FAILOVER).
    Failover = 2,
}

/// CLIENT PAUSE state.
/// Ordered from least to most restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseKind {
    None,
    /// Only writes (and commands that may write) are held.
    Write,
    /// Every command is held.
    All,
}

pub struct Server {
    pub config: Config,
    pub dbs: Vec<Db>,
    pub clients: ClientMap<Box<Client>>,
    pub next_client_id: ClientId,
    pub commands: CommandTable,
    pub pubsub: PubSub,
    pub prop: PropLog,
    pub stats: Stats,
    pub rng: SmallRng,

    /// Cached time of the current event-loop iteration / command (ms), as Redis' `mstime`.
    cached_ms: i64,
    /// Set while a command runs, so every key it touches sees the same "now" (Redis freezes time
    /// within a command for expire consistency).
    pub frozen_ms: Option<i64>,
    pub start_time_ms: i64,
    pub start_monotonic_us: u64,
    pub run_id: String,
    /// Replication id of this server's history (INFO `master_replid`).
    pub replid: String,
    /// Memory in use once the server was set up (INFO `used_memory_startup`).
    pub startup_memory: usize,
    /// Samples for INFO's `instantaneous_*` fields.
    pub inst_metrics: crate::commands::info::InstMetrics,
    pub pid: u32,
    pub executable: String,
    pub config_file: Option<String>,
    /// Arguments the server was started with (INFO server `executable`, CONFIG REWRITE).
    pub exec_argv: Vec<String>,

    /// Changes since the last save (RDB), as Redis' `dirty`.
    pub dirty: i64,
    pub lastsave: i64,

    /// The client whose command is running, if any, and its protocol version: publications and
    /// other pushes aimed at it are queued in `current_client_pushes`.
    pub current_client: Option<ClientId>,
    pub current_client_resp: u8,
    pub current_client_pushes: Vec<u8>,
    /// Where in the running client's output those pushes go: where its command's output began
    /// (Redis writes a message into the subscriber's buffer at once, so a client publishing to
    /// itself sees the message ahead of the command's reply).
    pub current_client_mark: Option<crate::resp::reply::Mark>,
    /// Clients whose command is suspended while another client's command runs inside it (a
    /// script's or module's fake client): messages and flags for them wait here.
    pub suspended_clients: Vec<crate::pubsub::Suspended>,
    /// Flags raised on the running client by other code paths (e.g. DIRTY_CAS), applied when
    /// its command returns.
    pub current_client_flags: u64,

    /// Clients with output waiting to be written in before-sleep.
    pub pending_writes: Vec<ClientId>,
    pub pending_writes_set: ClientSet,
    /// Clients to close in before-sleep / cron (after their replies were written, if possible).
    pub clients_to_close: Vec<ClientId>,
    /// Key eviction state kept across rounds (candidate pool, time-sliced continuation).
    pub evict: evict::EvictState,
    /// Clients whose peer closed while data was still unread: read again on the next loop
    /// iteration (edge-triggered readiness won't report them again), as a level-triggered
    /// loop would.
    pub pending_rereads: Vec<ClientId>,
    /// Clients registered for MONITOR.
    pub monitors: Vec<ClientId>,
    /// WATCHed keys: (db, key) -> the clients watching it.
    pub watched_keys: HashMap<(usize, Vec<u8>), Vec<crate::commands::multi::WatchEntry>>,
    /// Clients blocked on keys (BLPOP...), their keys, timeouts and the keys made ready.
    pub blocking: crate::blocking::Blocking,

    /// The pause in force (the strictest of `pause_by_purpose`) and its end.
    pub pause: PauseKind,
    pub pause_end_ms: i64,
    /// Each purpose's pause (kind, end ms), `PausePurpose` order.
    pub pause_by_purpose: [Option<(PauseKind, i64)>; 3],
    /// Clients held by a pause, resumed when it ends.
    pub paused_clients: VecDeque<ClientId>,
    /// Set when a pause became less restrictive: held clients are retried in before-sleep.
    pub pause_lifted: bool,

    /// `DEBUG SET-ACTIVE-EXPIRE 0` stops the active expire cycle.
    pub active_expire_enabled: bool,
    /// `DEBUG PAUSE-CRON 1` stops serverCron.
    pub cron_paused: bool,
    /// The background thread big deleted values are freed in.
    pub lazyfree: crate::lazyfree::LazyFree,
    pub cronloops: u64,
    /// A signal asked for a shutdown the cron hasn't started yet.
    pub shutdown_asap: bool,
    pub shutdown_flags: u32,
    /// Deadline (unix ms) of a shutdown waiting for replicas; 0 when none waits.
    pub shutdown_mstime: i64,
    /// Clients blocked in SHUTDOWN while it waits.
    pub shutdown_waiters: Vec<ClientId>,
    /// Set when the loop must stop (after shutdown completed).
    pub exit_code: Option<i32>,
    /// Blocking operations of the current event-loop iteration are served in before-sleep.
    pub loading: bool,
    /// `hz` actually in use (dynamic-hz may raise it with many clients).
    pub hz: i64,
    /// Peak memory seen (INFO memory).
    pub peak_memory: usize,
    /// Listening addresses, for INFO and CLIENT LIST `laddr`.
    pub listen_addrs: Vec<String>,
    pub stat_peak_memory_time: i64,
    /// The event loop's registry, for (re)registering client sockets from command code.
    pub registry: Option<mio::Registry>,
    /// Slow log and latency monitor data.
    pub intro: support::Introspection,
    /// How often (ms) a client's reply-buffer peak is reset; negative: never
    /// (`DEBUG REPLYBUFFER PEAK-RESET-TIME`).
    pub reply_buffer_peak_reset_ms: i64,
    /// `DEBUG REPLYBUFFER RESIZING 0` turns adaptive reply buffers off.
    pub reply_buffer_resizing: bool,
    /// Last measured memory of all clients by class (`ClientClass` order plus the master
    /// link), as Redis' `stat_clients_type_memory`: normal plus pub/sub is what
    /// `maxmemory-clients` limits.
    pub clients_mem_by_class: [usize; 4],
    /// The process's oom_score_adj before we first changed it; Some while we manage it.
    pub oom_score_base: Option<i64>,
    /// `DEBUG SET-SKIP-CHECKSUM-VALIDATION 1`: RDB loading and RESTORE skip payload checksums.
    pub skip_checksum_validation: bool,
    /// Memory in use once start-up finished (MEMORY STATS `startup.allocated`).
    pub initial_memory_usage: usize,
    /// TCP listeners opened by CONFIG SET port/bind, swapped in by the event loop.
    pub pending_tcp_listeners: Option<Vec<crate::ae::Listener>>,
    /// RDB snapshots: the BGSAVE child, save outcomes, load statistics.
    pub persist: crate::rdb::persist::PersistState,
    /// MIGRATE's cached connections to target servers.
    pub migrate: crate::commands::migrate::MigrateCache,
    /// Cluster mode's state; None when `cluster-enabled` is off.
    pub cluster: Option<Box<crate::cluster::ClusterState>>,
    /// Replication: our history, the replicas attached, the link to our master.
    pub repl: crate::replication::state::ReplState,
    /// The command `call` is running (innermost), for procs shared by many commands.
    pub running_cmd: crate::commands::CmdId,
    /// When that command started (monotonic microseconds).
    pub cmd_start_us: u64,
    /// Loaded modules.
    pub modules: crate::module::Modules,
    /// True while EXEC runs a transaction's commands.
    pub in_exec: bool,
    /// Append-only file persistence.
    pub aof: crate::aof::AofState,
    /// Client-side caching: the keys tracking clients read, BCAST prefixes, held messages.
    pub tracking: crate::tracking::Tracking,
    /// EVAL scripts, the Lua interpreter and the script run in progress.
    pub scripting: crate::scripting::Scripting,
    /// The memory limit was exceeded (and eviction could not help) when the running command
    /// arrived (Redis' `pre_command_oom_state`): scripts check it for their writes.
    pub pre_command_oom: bool,
    /// ACL users and the ACL log.
    pub acl: crate::acl::Acl,
}

impl Server {
    pub fn new(config: Config) -> Server {
        let now = crate::util::mstime();
        let dbs = (0..config.databases as usize).map(Db::new).collect();
        let hz = config.hz;
        Server {
            dbs,
            clients: ClientMap::default(),
            next_client_id: 1,
            commands: CommandTable::build(),
            pubsub: PubSub::default(),
            prop: PropLog::new(),
            stats: Stats::default(),
            rng: SmallRng::from_entropy(),
            cached_ms: now,
            frozen_ms: None,
            start_time_ms: now,
            start_monotonic_us: crate::util::monotonic_us(),
            run_id: crate::util::random_hex(40),
            replid: crate::util::random_hex(40),
            startup_memory: crate::server::cron::allocated_bytes(),
            inst_metrics: Default::default(),
            pid: std::process::id(),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            config_file: config.config_file.clone(),
            exec_argv: std::env::args().collect(),
            dirty: 0,
            lastsave: now / 1000,
            current_client: None,
            current_client_resp: 2,
            current_client_pushes: Vec::new(),
            current_client_mark: None,
            suspended_clients: Vec::new(),
            current_client_flags: 0,
            pending_writes: Vec::new(),
            pending_writes_set: ClientSet::default(),
            clients_to_close: Vec::new(),
            evict: Default::default(),
            pending_rereads: Vec::new(),
            monitors: Vec::new(),
            watched_keys: HashMap::new(),
            blocking: Default::default(),
            pause: PauseKind::None,
            pause_end_ms: 0,
            pause_by_purpose: [None; 3],
            paused_clients: VecDeque::new(),
            pause_lifted: false,
            active_expire_enabled: true,
            cron_paused: false,
            lazyfree: Default::default(),
            cronloops: 0,
            shutdown_asap: false,
            shutdown_flags: 0,
            shutdown_mstime: 0,
            shutdown_waiters: Vec::new(),
            exit_code: None,
            loading: false,
            hz,
            peak_memory: 0,
            listen_addrs: Vec::new(),
            stat_peak_memory_time: now,
            registry: None,
            intro: support::Introspection::default(),
            oom_score_base: None,
            reply_buffer_peak_reset_ms: 5000,
            reply_buffer_resizing: true,
            clients_mem_by_class: [0; 4],
            pending_tcp_listeners: None,
            initial_memory_usage: 0,
            skip_checksum_validation: false,
            persist: Default::default(),
            migrate: Default::default(),
            cluster: None,
            repl: Default::default(),
            running_cmd: 0,
            cmd_start_us: 0,
            modules: Default::default(),
            in_exec: false,
            aof: Default::default(),
            tracking: Default::default(),
            scripting: crate::scripting::Scripting::new(),
            pre_command_oom: false,
            acl: Default::default(),
            config,
        }
    }

    /// "Now" in ms for expiry decisions: frozen during a command, otherwise the cached loop time.
    #[inline]
    pub fn now_ms(&self) -> i64 {
        self.frozen_ms.unwrap_or(self.cached_ms)
    }

    /// Refreshes the cached time (once per event-loop iteration and per command).
    pub fn update_cached_time(&mut self) {
        self.cached_ms = crate::util::mstime();
    }

    pub fn unix_time(&self) -> i64 {
        self.cached_ms / 1000
    }

    /// True when this server replicates from a master.
    pub fn is_replica(&self) -> bool {
        self.repl.master_host.is_some()
    }

    /// Whether this server owns its dataset (Redis' `iAmMaster`): outside cluster mode, no
    /// master is configured; in cluster mode, our node is a master. The two differ at start-up,
    /// where a cluster replica knows its role from `nodes.conf` before the cluster cron
    /// connects it to its master: until then it must still keep expired keys (its master
    /// sends their deletions) and its snapshot's replication history.
    pub fn i_am_master(&self) -> bool {
        match self.cluster.as_deref() {
            Some(cl) => cl.me().is_master(),
            None => self.repl.master_host.is_none(),
        }
    }

    /// Number of online replicas whose last acknowledgement is recent enough for
    /// `min-replicas-max-lag` (counted when asked, so a CONFIG SET applies at once).
    pub fn good_replicas_count(&self) -> i64 {
        self.repl_count_good_replicas()
    }

    /// Whether writes are accepted under `min-replicas-to-write` / `min-replicas-max-lag`
    /// (Redis' `checkGoodReplicasStatus`): always on a replica or when either is 0.
    pub fn good_replicas_status(&self) -> bool {
        let min_to_write = self.config.min_replicas_to_write;
        min_to_write == 0
            || self.config.min_replicas_max_lag == 0
            || self.is_replica()
            || self.good_replicas_count() >= min_to_write
    }

    /// Expiry (lazy and active) is held while clients are paused for writes, so that a paused
    /// dataset stays unchanged, as Redis 7.0 does. A pause past its end no longer counts, even
    /// before the cron has lifted it.
    pub fn expire_paused(&self) -> bool {
        self.pause != PauseKind::None && self.pause_end_ms >= self.cached_ms
    }

    /// True while a forked child writes a snapshot (access clocks stay untouched then to limit
    /// copy-on-write).
    pub fn fork_child_active(&self) -> bool {
        self.persist.child_pid.is_some()
    }

    /// How an access updates object clocks under the current policy.
    pub fn access_clock_update_source(&mut self) -> ClockSource {
        if self.config.policy_is_lfu() {
            ClockSource::Lfu {
                minutes: ((self.cached_ms / 1000 / 60) & 0xffff) as u16,
                log_factor: self.config.lfu_log_factor,
                decay_time: self.config.lfu_decay_time,
                random: self.rng.gen::<f64>(),
            }
        } else {
            ClockSource::Lru(evict::lru_clock(self.cached_ms))
        }
    }

    /// The clock of a newly created object.
    pub fn new_object_clock(&self) -> u32 {
        evict::initial_clock(self.config.policy_is_lfu(), self.cached_ms)
    }

    pub fn next_client_id(&mut self) -> ClientId {
        let id = self.next_client_id;
        self.next_client_id += 1;
        id
    }

    /// Queues a client for writing in before-sleep.
    #[inline]
    pub fn mark_pending_write(&mut self, id: ClientId) {
        if self.pending_writes_set.insert(id) {
            self.pending_writes.push(id);
        }
    }

    /// A key changed: marks its WATCHers dirty and invalidates it for the clients caching it
    /// (Redis' `signalModifiedKey`), the running client being the one that changed it.
    pub fn signal_modified_key(&mut self, db: usize, key: &[u8]) {
        self.touch_watched_key(db, key);
        if self.tracking.active {
            self.tracking_invalidate_key(key, self.current_client, true);
        }
    }

    /// The same for a change the server makes on its own (expiry, eviction): no client did
    /// it, so even the running one hears about it in BCAST NOLOOP mode.
    pub fn signal_modified_key_by_server(&mut self, db: usize, key: &[u8]) {
        self.touch_watched_key(db, key);
        if self.tracking.active {
            self.tracking_invalidate_key(key, None, true);
        }
    }

    /// Makes FLUSHDB/FLUSHALL (`db` None) fail the transactions that WATCH a key the flush
    /// removes (Redis' `signalFlushedDb`). Must run while the keys are still there.
    pub fn signal_flushed_db(&mut self, db: Option<usize>) {
        self.signal_flushed_db_lazy(db, false);
    }

    /// The same for a flush whose memory goes to the lazy-free thread (FLUSHDB/FLUSHALL ASYNC):
    /// a big client-side-caching table is freed there too.
    pub fn signal_flushed_db_lazy(&mut self, db: Option<usize>, lazy: bool) {
        let range = match db {
            Some(d) => d..d + 1,
            None => 0..self.dbs.len(),
        };
        for d in range {
            self.touch_all_watched_keys_in_db(d, None);
        }
        self.tracking_invalidate_keys_on_flush(lazy);
    }

    /// Sets a flag on a client wherever it is (map, or the one running right now).
    pub fn set_client_flag(&mut self, id: ClientId, flag: u64) {
        if Some(id) == self.current_client {
            self.current_client_flags |= flag;
        } else if let Some(c) = self.clients.get_mut(&id) {
            c.flags |= flag;
        } else if let Some(s) = self.suspended_clients.iter_mut().find(|s| s.id == id) {
            s.flags |= flag;
        }
    }

    /// Records a write for propagation (replicas and AOF).
    pub fn propagate(&mut self, db: usize, argv: Vec<Vec<u8>>) {
        if self.prop.enabled {
            self.prop.push(db, argv);
        }
    }

    /// Propagates the deletion of a key (expired or evicted) as DEL or UNLINK.
    pub fn propagate_deletion(&mut self, db: usize, key: &[u8], lazy: bool) {
        if !self.prop.enabled {
            return;
        }
        let cmd: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
        // A key deleted for expiry or eviction must reach replicas and the AOF even inside
        // a module call that propagates nothing else.
        let suppressed = std::mem::replace(&mut self.prop.suppressed, false);
        self.propagate(db, vec![cmd.to_vec(), key.to_vec()]);
        self.prop.suppressed = suppressed;
        if self.prop.depth == 0 {
            self.flush_propagation();
        }
    }

    /// Emits what the propagation log collected: each entry goes to the consumers its
    /// `targets` name (`replication::target`): the AOF here; the replication stream
    /// attaches beside it.
    pub fn flush_propagation(&mut self) {
        let batch = self.prop.flush();
        if batch.is_empty() {
            return;
        }
        self.aof_feed(&batch);
        self.repl_feed_propagated(&batch);
    }

    /// Memory in use (Redis' `used_memory`).
    pub fn used_memory(&self) -> usize {
        cron::used_memory()
    }
}
