//! Server events for modules (SubscribeToServerEvent, IsSubEventSupported): one listener per
//! module and event; the core announces what happens through the small `fire_*` functions
//! below (client connected/disconnected, flush start/end, cron tick, module loaded/unloaded,
//! SWAPDB, CONFIG SET, shutdown, RDB loading and saving, and from the replication code: role
//! changes, the master link, replicas coming and going, swapdb loads). Each listener is called in a context
//! of its own, with the event's data in the 7.0 (version 1) structures of `redismodule.h`.
//! Where each event is emitted is listed in docs/DESIGN.md ("Modules: events, configs,
//! filters").

use std::ffi::{c_char, c_int, c_void, CString};

use super::ctx::{flags, Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::Module;
use crate::client::Client;
use crate::server::Server;

/// `RedisModuleEvent`, passed by value.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Event {
    id: u64,
    dataver: u64,
}

pub type EventCallback = unsafe extern "C" fn(*mut Ctx, Event, u64, *mut c_void);

/// Event ids (REDISMODULE_EVENT_*).
pub mod id {
    pub const REPLICATION_ROLE_CHANGED: u64 = 0;
    pub const PERSISTENCE: u64 = 1;
    pub const FLUSHDB: u64 = 2;
    pub const LOADING: u64 = 3;
    pub const CLIENT_CHANGE: u64 = 4;
    pub const SHUTDOWN: u64 = 5;
    pub const REPLICA_CHANGE: u64 = 6;
    pub const MASTER_LINK_CHANGE: u64 = 7;
    pub const CRON_LOOP: u64 = 8;
    pub const MODULE_CHANGE: u64 = 9;
    pub const LOADING_PROGRESS: u64 = 10;
    pub const SWAPDB: u64 = 11;
    pub const REPL_BACKUP: u64 = 12;
    pub const FORK_CHILD: u64 = 13;
    pub const REPL_ASYNC_LOAD: u64 = 14;
    pub const EVENTLOOP: u64 = 15;
    pub const CONFIG: u64 = 16;
    pub const NEXT: u64 = 17;
}

/// Sub-event numbers used by the core.
pub mod sub {
    pub const PERSISTENCE_RDB_START: u64 = 0;
    pub const PERSISTENCE_AOF_START: u64 = 1;
    pub const PERSISTENCE_SYNC_RDB_START: u64 = 2;
    pub const PERSISTENCE_ENDED: u64 = 3;
    pub const PERSISTENCE_FAILED: u64 = 4;
    pub const PERSISTENCE_SYNC_AOF_START: u64 = 5;
    pub const LOADING_RDB_START: u64 = 0;
    pub const LOADING_AOF_START: u64 = 1;
    pub const LOADING_ENDED: u64 = 3;
    pub const LOADING_FAILED: u64 = 4;
    pub const CLIENT_CONNECTED: u64 = 0;
    pub const CLIENT_DISCONNECTED: u64 = 1;
    pub const FLUSHDB_START: u64 = 0;
    pub const FLUSHDB_END: u64 = 1;
    pub const MODULE_LOADED: u64 = 0;
    pub const MODULE_UNLOADED: u64 = 1;
    pub const CONFIG_CHANGE: u64 = 0;
    pub const LOADING_REPL_START: u64 = 2;
    pub const ROLE_NOW_MASTER: u64 = 0;
    pub const ROLE_NOW_REPLICA: u64 = 1;
    pub const MASTER_LINK_UP: u64 = 0;
    pub const MASTER_LINK_DOWN: u64 = 1;
    pub const REPLICA_ONLINE: u64 = 0;
    pub const REPLICA_OFFLINE: u64 = 1;
    pub const ASYNC_LOAD_STARTED: u64 = 0;
    pub const ASYNC_LOAD_ABORTED: u64 = 1;
    pub const ASYNC_LOAD_COMPLETED: u64 = 2;
}

/// The newest data version of each event's structure this server fills (7.0's table).
const EVENT_VERSIONS: [u64; id::NEXT as usize] =
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];

struct Listener {
    module: *mut Module,
    event: Event,
    callback: EventCallback,
}

#[derive(Default)]
pub struct Listeners {
    list: Vec<Listener>,
}

impl Listeners {
    pub fn forget(&mut self, m: *mut Module) {
        self.list.retain(|l| !std::ptr::eq(l.module, m));
    }
}

#[repr(C)]
pub(crate) struct ClientInfoV1 {
    version: u64,
    flags: u64,
    id: u64,
    addr: [c_char; 46],
    port: u16,
    db: u16,
}

#[repr(C)]
struct FlushInfoV1 {
    version: u64,
    sync: i32,
    dbnum: i32,
}

#[repr(C)]
struct ModuleChangeV1 {
    version: u64,
    module_name: *const c_char,
    module_version: i32,
}

#[repr(C)]
struct ConfigChangeV1 {
    version: u64,
    num_changes: u32,
    config_names: *const *const c_char,
}

#[repr(C)]
struct CronLoopV1 {
    version: u64,
    hz: i32,
}

#[repr(C)]
struct LoadingProgressV1 {
    version: u64,
    hz: i32,
    progress: i32,
}

#[repr(C)]
struct SwapDbInfoV1 {
    version: u64,
    dbnum_first: i32,
    dbnum_second: i32,
}

/// `RedisModuleReplicationInfoV1`: the role and replication history at the time of a role
/// change. The strings point into buffers `fire` keeps alive across the callbacks.
#[repr(C)]
struct ReplicationInfoV1 {
    version: u64,
    master: c_int,
    masterhost: *const c_char,
    masterport: c_int,
    replid1: *const c_char,
    replid2: *const c_char,
    repl1_offset: u64,
    repl2_offset: u64,
}

/// What an event carries.
enum Data<'a> {
    None,
    /// The role and history, read from the server when the event fires.
    Replication,
    Client(*mut Client),
    Flush {
        sync: bool,
        db: i32,
    },
    Module(*const Module),
    Config(&'a [String]),
    Cron(i32),
    Swap(i32, i32),
    Progress(i32, i32),
}

/// `REDISMODULE_CLIENTINFO_FLAG_*` of a client, and its peer split as Redis prints it.
pub(crate) fn client_info(c: &Client) -> ClientInfoV1 {
    use crate::client::flags as cf;
    let mut f = 0u64;
    if c.has(cf::PUBSUB) {
        f |= 1 << 1;
    }
    if c.has(cf::BLOCKED) {
        f |= 1 << 2;
    }
    if c.has(cf::TRACKING) {
        f |= 1 << 3;
    }
    if c.has(cf::UNIX_SOCKET) {
        f |= 1 << 4;
    }
    if c.has(cf::MULTI) {
        f |= 1 << 5;
    }
    let mut info = ClientInfoV1 {
        version: 1,
        flags: f,
        id: c.id,
        addr: [0; 46],
        port: 0,
        db: c.db as u16,
    };
    let (host, port) = match c.addr.rfind(':') {
        Some(p) if !c.has(cf::UNIX_SOCKET) => (&c.addr[..p], c.addr[p + 1..].parse().unwrap_or(0)),
        _ => (c.addr.as_str(), 0),
    };
    for (i, b) in host.bytes().take(45).enumerate() {
        info.addr[i] = b as c_char;
    }
    info.port = port;
    info
}

fn fire(srv: &mut Server, eid: u64, subid: u64, data: Data) {
    if srv.modules.events.list.is_empty() {
        return;
    }
    let todo: Vec<(usize, *mut Module, Event, EventCallback)> = srv
        .modules
        .events
        .list
        .iter()
        .enumerate()
        .filter(|(_, l)| l.event.id == eid)
        .map(|(i, l)| (i, l.module, l.event, l.callback))
        .collect();
    let config_names: Vec<CString> = match &data {
        Data::Config(names) => names
            .iter()
            .map(|n| CString::new(n.as_str()).unwrap_or_default())
            .collect(),
        _ => Vec::new(),
    };
    let config_ptrs: Vec<*const c_char> = config_names.iter().map(|n| n.as_ptr()).collect();
    // Role-change data: the same for every listener, as the server was when it fired.
    let repl_strings = match data {
        Data::Replication => Some((
            CString::new(srv.repl.master_host.clone().unwrap_or_default()).unwrap_or_default(),
            CString::new(srv.replid.clone()).unwrap_or_default(),
            CString::new(srv.repl.replid2.clone()).unwrap_or_default(),
        )),
        _ => None,
    };
    let repl_numbers = (
        srv.repl.master_host.is_none(),
        srv.repl.master_port as c_int,
        srv.repl.master_repl_offset as u64,
        srv.repl.second_replid_offset as u64,
    );
    for (_, module, event, cb) in todo {
        // A module does not hear about its own loading or unloading.
        if let Data::Module(m) = data {
            if std::ptr::eq(m, module) {
                continue;
            }
        }
        let mut ctx = match data {
            // The real client, so the listener may act on it.
            Data::Client(c) => {
                let mut ctx = Ctx::new(srv, module, flags::NONE);
                ctx.client = c;
                ctx
            }
            _ => Ctx::new(srv, module, flags::TEMP_CLIENT),
        };
        let mut ci;
        let mut fi;
        let mut mc;
        let mut cc;
        let mut cl;
        let mut si;
        let mut lp;
        let mut ri;
        let ptr: *mut c_void = match data {
            Data::None => std::ptr::null_mut(),
            Data::Replication => {
                let (host, id1, id2) = repl_strings.as_ref().expect("built above");
                let (master, port, off1, off2) = repl_numbers;
                ri = ReplicationInfoV1 {
                    version: 1,
                    master: master as c_int,
                    masterhost: host.as_ptr(),
                    masterport: port,
                    replid1: id1.as_ptr(),
                    replid2: id2.as_ptr(),
                    repl1_offset: off1,
                    repl2_offset: off2,
                };
                &mut ri as *mut _ as *mut c_void
            }
            Data::Client(c) => {
                // SAFETY: the client outlives the event (it is being set up or torn down).
                ci = client_info(unsafe { &*c });
                &mut ci as *mut _ as *mut c_void
            }
            Data::Flush { sync, db } => {
                if db >= 0 {
                    // SAFETY: TEMP_CLIENT contexts own a live client.
                    if let Some(c) = unsafe { ctx.client() } {
                        c.db = db as usize;
                    }
                }
                fi = FlushInfoV1 {
                    version: 1,
                    sync: sync as i32,
                    dbnum: db,
                };
                &mut fi as *mut _ as *mut c_void
            }
            Data::Module(m) => {
                // SAFETY: the module is registered while its events fire.
                let (name, ver) = unsafe { (&(*m).name, (*m).ver) };
                let cname = CString::new(name.as_str()).unwrap_or_default();
                mc = (
                    ModuleChangeV1 {
                        version: 1,
                        module_name: std::ptr::null(),
                        module_version: ver,
                    },
                    cname,
                );
                mc.0.module_name = mc.1.as_ptr();
                &mut mc.0 as *mut _ as *mut c_void
            }
            Data::Config(_) => {
                cc = ConfigChangeV1 {
                    version: 1,
                    num_changes: config_ptrs.len() as u32,
                    config_names: config_ptrs.as_ptr(),
                };
                &mut cc as *mut _ as *mut c_void
            }
            Data::Cron(hz) => {
                cl = CronLoopV1 { version: 1, hz };
                &mut cl as *mut _ as *mut c_void
            }
            Data::Progress(hz, progress) => {
                lp = LoadingProgressV1 {
                    version: 1,
                    hz,
                    progress,
                };
                &mut lp as *mut _ as *mut c_void
            }
            Data::Swap(a, b) => {
                si = SwapDbInfoV1 {
                    version: 1,
                    dbnum_first: a,
                    dbnum_second: b,
                };
                &mut si as *mut _ as *mut c_void
            }
        };
        // SAFETY: the module registered this callback; the context and data live across it.
        unsafe { cb(&mut ctx, event, subid, ptr) };
        ctx.finish();
        drop(ctx);
    }
}

/// A client connected (after it was accepted).
pub fn fire_client_connected(srv: &mut Server, c: &mut Client) {
    fire(
        srv,
        id::CLIENT_CHANGE,
        sub::CLIENT_CONNECTED,
        Data::Client(c),
    );
}

/// A connected client is being freed.
pub fn fire_client_disconnected(srv: &mut Server, c: &mut Client) {
    fire(
        srv,
        id::CLIENT_CHANGE,
        sub::CLIENT_DISCONNECTED,
        Data::Client(c),
    );
}

/// A flush of one database (`db`) or all (None) starts or ended.
pub fn fire_flush(srv: &mut Server, end: bool, db: Option<usize>, lazy: bool) {
    let s = if end {
        sub::FLUSHDB_END
    } else {
        sub::FLUSHDB_START
    };
    let db = db.map(|d| d as i32).unwrap_or(-1);
    fire(srv, id::FLUSHDB, s, Data::Flush { sync: !lazy, db });
}

/// The end of every server cron run.
pub fn fire_cron(srv: &mut Server) {
    let hz = srv.hz as i32;
    fire(srv, id::CRON_LOOP, 0, Data::Cron(hz));
}

/// Each pass of the event loop, around its wait for events: before-sleep (`after` false)
/// and after-sleep. Not fired by the passes run while a long operation blocks the loop
/// (loading), as in Redis.
pub fn fire_eventloop(srv: &mut Server, after: bool) {
    fire(srv, id::EVENTLOOP, after as u64, Data::None);
}

/// The dataset child (BGSAVE, AOF rewrite, diskless transfer, module fork) was forked
/// (`born`) or is gone, in the parent.
pub fn fire_fork_child(srv: &mut Server, born: bool) {
    fire(srv, id::FORK_CHILD, if born { 0 } else { 1 }, Data::None);
}

/// A module was loaded or is unloaded (it is still registered while this runs).
pub fn fire_module_change(srv: &mut Server, m: *const Module, unloaded: bool) {
    let s = if unloaded {
        sub::MODULE_UNLOADED
    } else {
        sub::MODULE_LOADED
    };
    fire(srv, id::MODULE_CHANGE, s, Data::Module(m));
}

/// SWAPDB swapped two databases.
pub fn fire_swapdb(srv: &mut Server, a: usize, b: usize) {
    fire(srv, id::SWAPDB, 0, Data::Swap(a as i32, b as i32));
}

/// CONFIG SET changed these directives.
pub fn fire_config_change(srv: &mut Server, names: &[String]) {
    fire(srv, id::CONFIG, sub::CONFIG_CHANGE, Data::Config(names));
}

/// The server is shutting down (after the decision is final).
pub fn fire_shutdown(srv: &mut Server) {
    fire(srv, id::SHUTDOWN, 0, Data::None);
}

/// An RDB load started, ended or failed.
pub fn fire_loading(srv: &mut Server, subid: u64) {
    fire(srv, id::LOADING, subid, Data::None);
}

thread_local! {
    /// When the next loading-progress event may fire (microseconds).
    static NEXT_PROGRESS_US: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// A load (RDB, or AOF when `is_aof`) is making progress: at most `hz` events a second, with
/// the progress in 1/1024ths of the input (-1 when its size is unknown).
pub fn fire_loading_progress(srv: &mut Server, is_aof: bool) {
    let now = crate::util::ustime();
    if now < NEXT_PROGRESS_US.with(|n| n.get()) {
        return;
    }
    let p = &srv.persist;
    let progress = (p.loading_loaded_bytes << 10)
        .checked_div(p.loading_total_bytes)
        .map_or(-1, |v| v as i32);
    let hz = srv.hz as i32;
    let s = if is_aof { 1 } else { 0 };
    fire(srv, id::LOADING_PROGRESS, s, Data::Progress(hz, progress));
    NEXT_PROGRESS_US.with(|n| n.set(now + 1_000_000 / (hz.max(1) as i64)));
}

/// We became a master (REPLICAOF NO ONE) or a replica (REPLICAOF host port), after the
/// switch: listeners get the new role, master and history.
pub fn fire_role_changed(srv: &mut Server, now_master: bool) {
    let s = if now_master {
        sub::ROLE_NOW_MASTER
    } else {
        sub::ROLE_NOW_REPLICA
    };
    fire(srv, id::REPLICATION_ROLE_CHANGED, s, Data::Replication);
}

/// The link to our master came up (streaming) or went down.
pub fn fire_master_link(srv: &mut Server, up: bool) {
    let s = if up {
        sub::MASTER_LINK_UP
    } else {
        sub::MASTER_LINK_DOWN
    };
    fire(srv, id::MASTER_LINK_CHANGE, s, Data::None);
}

/// One of our replicas came online or an online one went away.
pub fn fire_replica_change(srv: &mut Server, online: bool) {
    let s = if online {
        sub::REPLICA_ONLINE
    } else {
        sub::REPLICA_OFFLINE
    };
    fire(srv, id::REPLICA_CHANGE, s, Data::None);
}

/// A `repl-diskless-load swapdb` load started, was discarded, or replaced the dataset.
pub fn fire_repl_async_load(srv: &mut Server, subid: u64) {
    fire(srv, id::REPL_ASYNC_LOAD, subid, Data::None);
}

/// A synchronous RDB save started, or a save ended or failed.
pub fn fire_persistence(srv: &mut Server, subid: u64) {
    fire(srv, id::PERSISTENCE, subid, Data::None);
}

/// Runs a forked child's persistence job between its start event (`start`) and its end or
/// failure event, as Redis' children announce them; a panic in the job is a failure.
/// Returns whether the job succeeded.
pub fn persistence_job(
    srv: &mut Server,
    start: u64,
    job: impl FnOnce(&mut Server) -> bool,
) -> bool {
    fire_persistence(srv, start);
    let ok =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut *srv))).unwrap_or(false);
    fire_persistence(
        srv,
        if ok {
            sub::PERSISTENCE_ENDED
        } else {
            sub::PERSISTENCE_FAILED
        },
    );
    ok
}

unsafe extern "C" fn subscribe(
    ctx: *mut Ctx,
    event: Event,
    callback: Option<EventCallback>,
) -> c_int {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    let module = ctx.module;
    if module.is_null() || event.id >= id::NEXT {
        return REDISMODULE_ERR;
    }
    if event.dataver > EVENT_VERSIONS[event.id as usize] {
        return REDISMODULE_ERR;
    }
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    let list = &mut srv.modules.events.list;
    if let Some(i) = list
        .iter()
        .position(|l| std::ptr::eq(l.module, module) && l.event.id == event.id)
    {
        match callback {
            None => {
                list.remove(i);
            }
            Some(cb) => list[i].callback = cb,
        }
        return REDISMODULE_OK;
    }
    if let Some(cb) = callback {
        list.push(Listener {
            module,
            event,
            callback: cb,
        });
    }
    REDISMODULE_OK
}

unsafe extern "C" fn is_sub_event_supported(event: Event, subevent: i64) -> c_int {
    // Sub-events per event in 7.0 (REPLICA_CHANGE is checked against the role-change count,
    // as 7.0 does; both are 2).
    let n: i64 = match event.id {
        id::REPLICATION_ROLE_CHANGED => 2,
        id::PERSISTENCE => 6,
        id::FLUSHDB => 2,
        id::LOADING => 5,
        id::CLIENT_CHANGE => 2,
        id::SHUTDOWN => 0,
        id::REPLICA_CHANGE => 2,
        id::MASTER_LINK_CHANGE => 2,
        id::CRON_LOOP => 0,
        id::MODULE_CHANGE => 2,
        id::LOADING_PROGRESS => 2,
        id::SWAPDB => 0,
        id::REPL_ASYNC_LOAD => 3,
        id::FORK_CHILD => 2,
        id::EVENTLOOP => 2,
        id::CONFIG => 1,
        _ => return 0,
    };
    (subevent < n) as c_int
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "SubscribeToServerEvent" => subscribe as unsafe extern "C" fn(*mut Ctx, Event, Option<EventCallback>) -> c_int,
        "IsSubEventSupported" => is_sub_event_supported as unsafe extern "C" fn(Event, i64) -> c_int,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_events_follow_7_0() {
        let ev = |id| Event { id, dataver: 1 };
        // SAFETY: plain functions of their arguments.
        unsafe {
            assert_eq!(is_sub_event_supported(ev(id::FLUSHDB), 1), 1);
            assert_eq!(is_sub_event_supported(ev(id::FLUSHDB), 2), 0);
            assert_eq!(is_sub_event_supported(ev(id::CRON_LOOP), 0), 0);
            assert_eq!(is_sub_event_supported(ev(id::PERSISTENCE), 5), 1);
            assert_eq!(is_sub_event_supported(ev(99), 0), 0);
        }
    }

    #[test]
    fn replication_info_layout_is_7_0s() {
        assert_eq!(std::mem::offset_of!(ReplicationInfoV1, master), 8);
        assert_eq!(std::mem::offset_of!(ReplicationInfoV1, masterhost), 16);
        assert_eq!(std::mem::offset_of!(ReplicationInfoV1, masterport), 24);
        assert_eq!(std::mem::offset_of!(ReplicationInfoV1, replid1), 32);
        assert_eq!(std::mem::offset_of!(ReplicationInfoV1, repl2_offset), 56);
        assert_eq!(std::mem::size_of::<ReplicationInfoV1>(), 64);
    }

    #[test]
    fn client_info_layout_is_7_0s() {
        // C lays it out the same way: the address at 24, the port right after it, the db,
        // then padding to the 8-byte alignment.
        assert_eq!(std::mem::offset_of!(ClientInfoV1, addr), 24);
        assert_eq!(std::mem::offset_of!(ClientInfoV1, port), 70);
        assert_eq!(std::mem::offset_of!(ClientInfoV1, db), 72);
        assert_eq!(std::mem::size_of::<ClientInfoV1>(), 80);
    }
}
