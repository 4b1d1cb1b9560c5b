//! Scripting (Redis' eval.c and script.c): the script cache, the run of one script, and the
//! checks a command called from a script goes through. One Lua interpreter (`lua.rs`) serves
//! every client; scripts run one at a time on the main thread. A script's commands run on
//! the script client, a fake client, through `Server::call` like any command, after the
//! checks Redis makes for commands called from scripts (`script_call`). What a script writes
//! propagates as the commands it ran (effects replication, 7.0's only mode), which the
//! propagation log wraps in MULTI/EXEC; the EVAL itself never propagates.
//!
//! While a script runs, the server is reachable from the interpreter's callbacks only
//! through the run context (`RunCtx`), published in a thread-local for the length of the
//! run, the way a module context carries the server during a module call.

pub mod eval;
pub mod function;
pub mod libs;
pub mod lua;

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use mlua::Value;

use crate::client::{flags as cflags, Client};
use crate::commands::errors;
use crate::commands::spec::flags;
use crate::replication::target;
use crate::server::Server;

/// Flags a script declares in its shebang (`#!lua flags=...`).
pub mod script_flags {
    /// No shebang: an EVAL script as before 7.0 (its command flags decide).
    pub const EVAL_COMPAT_MODE: u64 = 1 << 0;
    pub const NO_WRITES: u64 = 1 << 1;
    pub const ALLOW_OOM: u64 = 1 << 2;
    pub const ALLOW_STALE: u64 = 1 << 3;
    pub const NO_CLUSTER: u64 = 1 << 4;
    pub const ALLOW_CROSS_SLOT: u64 = 1 << 5;

    /// Names as scripts and FUNCTION LIST spell them.
    pub const NAMES: &[(u64, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];
}

/// State of the running script.
mod run_flags {
    pub const READ_ONLY: u32 = 1 << 0;
    pub const ALLOW_OOM: u32 = 1 << 1;
    /// A write command ran: from here on the script can be neither refused nor killed.
    pub const WRITE_DIRTY: u32 = 1 << 2;
    /// Past busy-reply-threshold: other clients get -BUSY, SCRIPT KILL may stop it.
    pub const TIMED_OUT: u32 = 1 << 3;
    pub const KILLED: u32 = 1 << 4;
    /// EVAL (as opposed to FCALL): picks the texts of errors and logs.
    pub const EVAL_MODE: u32 = 1 << 5;
    /// Cluster mode: commands may touch keys of different slots (old-style EVAL, or the
    /// allow-cross-slot-keys flag).
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 6;
}

/// A cached EVAL script.
pub struct Script {
    pub body: Vec<u8>,
    pub flags: u64,
    /// The compiled body, in the interpreter's registry.
    pub func: mlua::RegistryKey,
}

/// The scripting engine's state, one per server.
pub struct Scripting {
    /// EVAL's interpreter.
    pub engine: Rc<lua::Engine>,
    /// Function libraries and their interpreter.
    pub functions: function::Functions,
    /// EVAL scripts by lower-case SHA1.
    pub scripts: HashMap<String, Script, ahash::RandomState>,
    /// Bytes of cached script bodies and their names (INFO's used_memory_scripts_eval).
    pub scripts_mem: usize,
    /// The client scripts' commands run on; lent to the run context while a script runs.
    client: Option<Box<Client>>,
    /// Script runs since the last incremental garbage collection step.
    runs_since_gc: u32,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may run commands flagged `noscript`.
    pub disable_deny_script: bool,
    /// The last script body hashed, and its SHA1 (`sha_of`).
    last_sha: Option<(Vec<u8>, String)>,
}

/// Runs between two Lua garbage collection steps (Redis' LUA_GC_CYCLE_PERIOD).
const GC_PERIOD: u32 = 50;

impl Default for Scripting {
    fn default() -> Self {
        Scripting::new()
    }
}

impl Scripting {
    pub fn new() -> Scripting {
        Scripting {
            engine: Rc::new(new_engine()),
            functions: function::Functions::new(),
            scripts: HashMap::default(),
            scripts_mem: 0,
            client: None,
            runs_since_gc: 0,
            disable_deny_script: false,
            last_sha: None,
        }
    }

    /// SCRIPT FLUSH: a fresh interpreter and an empty cache.
    pub fn flush(&mut self) {
        self.scripts.clear();
        self.scripts_mem = 0;
        self.engine = Rc::new(new_engine());
    }

    /// The SHA1 (hex) of a script body. The last one is remembered with its body: the
    /// pre-command checks and EVAL itself both need the SHA1 of the same body (Redis keeps it
    /// on the client as `cur_script`).
    pub fn sha_of(&mut self, body: &[u8]) -> String {
        if let Some((b, sha)) = &self.last_sha {
            if b[..] == *body {
                return sha.clone();
            }
        }
        let sha = crate::sha1::hex(&crate::sha1::sha1(body));
        // Bodies up to a few KB are worth keeping; a huge one is hashed again.
        if body.len() <= 4096 {
            self.last_sha = Some((body.to_vec(), sha.clone()));
        }
        sha
    }

    /// Ends a prepared run that will not start: the script client goes back.
    pub fn give_back(&mut self, run: RunCtx) {
        self.client = Some(run.client);
    }

    /// Memory of the interpreter (INFO's used_memory_lua).
    pub fn lua_memory(&self) -> usize {
        self.engine.lua.used_memory()
    }
}

fn new_engine() -> lua::Engine {
    lua::Engine::new::<ServerHost>().expect("the Lua interpreter starts")
}

/// The numkeys argument of EVAL and FCALL (argv[2]): a count that fits the arguments, or
/// the error replied (`bad` for one that is not a number).
pub fn arg_numkeys(c: &mut Client, bad: &str) -> Option<usize> {
    let Some(n) = crate::util::parse_i64(&c.argv[2]) else {
        c.out.error(bad);
        return None;
    };
    if n > c.argv.len() as i64 - 3 {
        c.out
            .error("Number of keys can't be greater than number of args");
        return None;
    }
    if n < 0 {
        c.out.error("Number of keys can't be negative");
        return None;
    }
    Some(n as usize)
}

/// The run of one script.
pub struct RunCtx {
    srv: *mut Server,
    /// The client whose command runs the script; read for client-side caching only.
    caller: *const Client,
    /// The command running the script (EVAL, FCALL, ...).
    cmd_id: usize,
    client: Box<Client>,
    /// The caller's user: commands are checked against it.
    user: crate::acl::UserId,
    /// The caller is the master link or the AOF loader: no refusals for our own state.
    caller_obeyed: bool,
    flags: u32,
    /// Where the script's commands propagate (redis.set_repl): `target` bits.
    repl: u8,
    start_us: u64,
    /// The SHA1 of an EVAL script, or a function's name.
    funcname: String,
    busy_threshold_ms: u64,
    /// The server was out of memory when the script's command arrived.
    pre_oom: bool,
    /// Cluster mode: the slot the script's keys hash to, once known (declared keys, or the
    /// first command with keys).
    slot: Option<usize>,
}

thread_local! {
    static CURRENT: Cell<*mut RunCtx> = const { Cell::new(std::ptr::null_mut()) };
    /// Set while a script's command runs: a hook must not start another one.
    static IN_COMMAND: Cell<bool> = const { Cell::new(false) };
}

/// The running script, if any.
fn current<'a>() -> Option<&'a mut RunCtx> {
    let p = CURRENT.with(|c| c.get());
    // SAFETY: CURRENT points at the RunCtx of `run_script`'s frame from just before the
    // script starts until just after it ends, and only the interpreter's callbacks (called
    // from inside that frame, on this thread) and commands they trigger read it.
    unsafe { p.as_mut() }
}

/// Whether a script is running (commands may ask: scripts are not allowed some things).
pub fn is_running() -> bool {
    !CURRENT.with(|c| c.get()).is_null()
}

/// A read-only command of the running script ran: a caller tracking keys for client-side
/// caching now caches the keys the script declared (Redis' rule for scripts).
pub fn track_script_read(srv: &mut Server) {
    let Some(run) = current() else {
        return;
    };
    // SAFETY: the caller outlives the run: its command is the one running the script, and
    // nothing else touches it while the script runs.
    let caller = unsafe { &*run.caller };
    srv.tracking_remember_script_keys(caller, run.cmd_id);
}

/// What FUNCTION STATS shows of the running script.
pub struct RunningScript {
    pub name: String,
    /// The command that runs it.
    pub command: Vec<Vec<u8>>,
    pub duration_ms: u64,
    /// An EVAL script (not a function).
    pub eval: bool,
}

pub fn running_script() -> Option<RunningScript> {
    let run = current()?;
    // SAFETY: the caller outlives the run (see `track_script_read`).
    let caller = unsafe { &*run.caller };
    Some(RunningScript {
        name: run.funcname.clone(),
        command: caller.argv.clone(),
        duration_ms: (crate::util::monotonic_us() - run.start_us) / 1000,
        eval: run.flags & run_flags::EVAL_MODE != 0,
    })
}

/// The -BUSY rejection for commands arriving while a script runs past busy-reply-threshold.
pub fn busy_error() -> Option<&'static str> {
    let run = current()?;
    if run.flags & run_flags::TIMED_OUT == 0 {
        return None;
    }
    Some(if run.flags & run_flags::EVAL_MODE != 0 {
        SLOW_EVAL_ERR
    } else {
        SLOW_SCRIPT_ERR
    })
}

pub(crate) const SLOW_EVAL_ERR: &str =
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const SLOW_SCRIPT_ERR: &str =
    "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// The interpreter's way into the server.
struct ServerHost;

impl lua::Host for ServerHost {
    fn command(lua: &mlua::Lua, argv: Vec<Vec<u8>>) -> mlua::Result<(Value, bool)> {
        let Some(run) = current() else {
            return Ok((
                lua::error_table(
                    lua,
                    "redis.call/pcall can only be called inside a script invocation",
                    false,
                )?,
                true,
            ));
        };
        if IN_COMMAND.with(|f| f.replace(true)) {
            let msg = "luaRedisGenericCommand() recursive call detected. Are you doing funny stuff with Lua debug hooks?";
            crate::log_warning!("{}", msg);
            return Ok((lua::error_table(lua, msg, false)?, true));
        }
        let result = script_call(run, argv);
        IN_COMMAND.with(|f| f.set(false));
        match result {
            Ok(proto) => {
                let failed = proto.first() == Some(&b'-');
                Ok((lua::reply_to_lua(lua, &proto, run.client.out.resp)?, failed))
            }
            Err(msg) => Ok((lua::error_table(lua, &msg, true)?, true)),
        }
    }

    fn acl_check(lua: &mlua::Lua, argv: Vec<Vec<u8>>) -> mlua::Result<(Value, bool)> {
        let Some(run) = current() else {
            return Ok((
                lua::error_table(
                    lua,
                    "redis.acl_check_cmd can only be called inside a script invocation",
                    false,
                )?,
                true,
            ));
        };
        // SAFETY: see `current`; the server is not otherwise in use while a callback runs.
        let srv = unsafe { &mut *run.srv };
        match srv.commands.lookup(&argv) {
            None => Ok((
                lua::error_table(
                    lua,
                    "Invalid command passed to redis.acl_check_cmd()",
                    false,
                )?,
                true,
            )),
            Some(id) => {
                let allowed = srv.acl_check_user_command(run.user, id, &argv).is_ok();
                Ok((Value::Boolean(allowed), false))
            }
        }
    }

    fn set_resp(resp: i64) -> Result<(), &'static str> {
        if resp != 2 && resp != 3 {
            return Err("RESP version must be 2 or 3.");
        }
        if let Some(run) = current() {
            run.client.out.resp = resp as u8;
        }
        Ok(())
    }

    fn set_repl(repl: i64) -> Result<(), &'static str> {
        if repl & !3 != 0 {
            return Err(
                "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
            );
        }
        if let Some(run) = current() {
            // Lua's REPL_AOF is 1 and REPL_REPLICA 2.
            run.repl = (if repl & 1 != 0 { target::AOF } else { 0 })
                | (if repl & 2 != 0 { target::REPL } else { 0 });
        }
        Ok(())
    }

    fn in_script() -> bool {
        is_running()
    }
}

/// Runs one command for the script (Redis' `scriptCall`): the checks for commands called
/// from scripts, then `Server::call` on the script client. Ok(the reply's protocol) or
/// Err(the refusal), which is already counted in the error statistics.
fn script_call(run: &mut RunCtx, mut argv: Vec<Vec<u8>>) -> Result<Vec<u8>, String> {
    // SAFETY: see `current`; the server is not otherwise in use while a callback runs.
    let srv = unsafe { &mut *run.srv };
    let c = &mut *run.client;
    c.user = run.user;
    crate::module::filter::apply(srv, &mut argv);
    let id = if argv.is_empty() {
        None
    } else {
        srv.commands.lookup(&argv)
    };
    c.argv = argv;
    c.last_cmd = id;
    let Some(id) = id else {
        return Err(reject(
            srv,
            c,
            None,
            "Unknown Redis command called from script",
        ));
    };
    let (arity, cmd_flags) = {
        let cmd = &srv.commands.cmds[id];
        (cmd.spec.arity, cmd.flags)
    };
    let argc = c.argv.len() as i32;
    if (arity > 0 && arity != argc) || argc < -arity {
        return Err(reject(
            srv,
            c,
            Some(id),
            "Wrong number of args calling Redis command from script",
        ));
    }
    if cmd_flags & flags::NOSCRIPT != 0 && !srv.scripting.disable_deny_script {
        return Err(reject(
            srv,
            c,
            Some(id),
            "This Redis command is not allowed from script",
        ));
    }
    if srv.is_replica()
        && srv.repl.link_state != crate::replication::state::LinkState::Connected
        && !srv.config.replica_serve_stale_data
        && cmd_flags & flags::STALE == 0
    {
        return Err(reject(
            srv,
            c,
            Some(id),
            "Can not execute the command on a stale replica",
        ));
    }
    if !srv.acl.is_open(run.user) {
        let argv = std::mem::take(&mut c.argv);
        let checked = srv.acl_check_user_command(run.user, id, &argv);
        c.argv = argv;
        if let Err((reason, pos)) = checked {
            // The entry names what the script tried, and shows the client running it.
            let object = match reason {
                crate::acl::Denied::Cmd => srv.commands.cmds[id].fullname.as_bytes().to_vec(),
                _ => c.argv.get(pos).cloned().unwrap_or_default(),
            };
            // SAFETY: the caller outlives the run (see `track_script_read`).
            let caller = unsafe { &*run.caller };
            srv.acl_add_log(
                caller,
                reason,
                crate::acl::LogContext::Lua,
                pos,
                None,
                Some(object),
            );
            let msg = format!(
                "The user executing the script {}",
                crate::module::acl::denial_message(reason)
            );
            return Err(reject(srv, c, Some(id), &msg));
        }
    }
    if let Some(msg) = write_refusal(srv, run.flags, run.caller_obeyed, cmd_flags) {
        return Err(reject(srv, c, Some(id), &msg));
    }
    if run.flags & (run_flags::ALLOW_OOM | run_flags::WRITE_DIRTY) == 0
        && srv.config.maxmemory > 0
        && !run.caller_obeyed
        && run.pre_oom
        && cmd_flags & flags::DENYOOM != 0
    {
        return Err(reject(srv, c, Some(id), errors::OOM));
    }
    if srv.cluster.is_some() && !run.caller_obeyed {
        // SAFETY: the caller outlives the run (see `track_script_read`).
        let caller = unsafe { &*run.caller };
        c.flags &= !(cflags::READONLY | cflags::ASKING);
        c.flags |= caller.flags & (cflags::READONLY | cflags::ASKING);
        match srv.cluster_check_route(c, id, cmd_flags, false) {
            Err(crate::cluster::Redirect::DownReadOnly) => {
                let msg = "Script attempted to execute a write command while the cluster is down and readonly";
                return Err(reject(srv, c, Some(id), msg));
            }
            Err(crate::cluster::Redirect::DownState) => {
                let msg = "Script attempted to execute a command while the cluster is down";
                return Err(reject(srv, c, Some(id), msg));
            }
            Err(_) => {
                let msg = "Script attempted to access a non local key in a cluster node";
                return Err(reject(srv, c, Some(id), msg));
            }
            Ok(Some(slot)) if run.flags & run_flags::ALLOW_CROSS_SLOT == 0 => match run.slot {
                None => run.slot = Some(slot),
                Some(s) if s != slot => {
                    let msg = "Script attempted to access keys that do not hash to the same slot";
                    return Err(reject(srv, c, Some(id), msg));
                }
                Some(_) => {}
            },
            Ok(_) => {}
        }
    }
    if cmd_flags & flags::WRITE != 0 {
        run.flags |= run_flags::WRITE_DIRTY;
    }
    c.prop_mask = run.repl;
    srv.call(c, id);
    Ok(c.out.take_all())
}

/// Why a write (or may-replicate) command of the script is refused, if it is.
fn write_refusal(srv: &mut Server, run: u32, obeyed: bool, cmd_flags: u64) -> Option<String> {
    if run & run_flags::READ_ONLY != 0 && cmd_flags & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        return Some("Write commands are not allowed from read-only scripts.".into());
    }
    // Once the script wrote, it must be allowed to finish what it started.
    if cmd_flags & flags::WRITE == 0 || run & run_flags::WRITE_DIRTY != 0 {
        return None;
    }
    if srv.is_replica() && srv.config.replica_read_only && !obeyed {
        return Some("-READONLY You can't write against a read only replica.".into());
    }
    if srv.writes_denied_by_disk_error() {
        return Some(errors::MISCONF.into());
    }
    if let Some(msg) = srv.aof_write_error_message() {
        return Some(msg);
    }
    if !srv.good_replicas_status() {
        return Some(errors::NOREPLICAS.into());
    }
    None
}

/// Counts a refused command as Redis does (error statistics, the command's rejected calls)
/// and returns the error for the script.
fn reject(srv: &mut Server, c: &mut Client, id: Option<usize>, msg: &str) -> String {
    c.out.errors.push(lua::normalize_error(msg).into_bytes());
    srv.record_reply_errors(c);
    if let Some(id) = id {
        srv.commands.cmds[id].rejected_calls += 1;
    }
    msg.to_string()
}

/// A script about to run (Redis' `scriptPrepareForRun`): the refusals that depend on its
/// flags and the server's state, then the run context with the script client set up for the
/// caller. Err is the caller's error reply.
pub fn prepare_run(
    srv: &mut Server,
    caller: &Client,
    funcname: String,
    script: u64,
    ro: bool,
    eval_mode: bool,
) -> Result<RunCtx, String> {
    use script_flags as sf;
    let running_stale = srv.is_replica()
        && srv.repl.link_state != crate::replication::state::LinkState::Connected
        && !srv.config.replica_serve_stale_data;
    let obeyed = caller.must_obey();
    if script & sf::EVAL_COMPAT_MODE == 0 {
        if script & sf::NO_CLUSTER != 0 && srv.cluster.is_some() {
            return Err("Can not run script on cluster, 'no-cluster' flag is set.".into());
        }
        if running_stale && script & sf::ALLOW_STALE == 0 {
            return Err("-MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and 'allow-stale' flag is not set on the script.".into());
        }
        if script & sf::NO_WRITES == 0 {
            if srv.is_replica() && srv.config.replica_read_only && !obeyed {
                return Err(
                    "-READONLY Can not run script with write flag on readonly replica".into(),
                );
            }
            if !obeyed {
                if srv.writes_denied_by_disk_error() {
                    return Err("-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.".into());
                }
                if let Some(msg) = srv.aof_write_error_message() {
                    let cause = msg
                        .strip_prefix("-MISCONF Errors writing to the AOF file: ")
                        .unwrap_or(&msg);
                    return Err(format!("-MISCONF Redis is configured to persist data to AOF, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts. AOF error: {}", cause));
                }
            }
            if ro {
                return Err("Can not execute a script with write flag using *_ro command.".into());
            }
            if !srv.is_replica() && !srv.good_replicas_status() {
                return Err(errors::NOREPLICAS.into());
            }
        }
        if srv.pre_command_oom
            && srv.config.maxmemory > 0
            && script & (sf::ALLOW_OOM | sf::NO_WRITES) == 0
        {
            return Err("-OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'".into());
        }
    } else if running_stale {
        return Err(
            "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
                .into(),
        );
    }
    let mut client = match srv.scripting.client.take() {
        Some(c) => c,
        None => {
            let mut c = Box::new(Client::fake(srv.next_client_id(), srv.now_ms()));
            // Scripts may not block: blocking commands answer as if their timeout expired.
            c.flags |= cflags::SCRIPT | cflags::DENY_BLOCKING;
            c
        }
    };
    client.db = caller.db;
    client.out.resp = 2;
    if caller.has(cflags::MULTI) {
        client.flags |= cflags::MULTI;
    }
    let mut flags = if eval_mode { run_flags::EVAL_MODE } else { 0 };
    let compat = script & sf::EVAL_COMPAT_MODE != 0;
    if ro || (!compat && script & sf::NO_WRITES != 0) {
        flags |= run_flags::READ_ONLY;
    }
    if !compat && script & sf::ALLOW_OOM != 0 {
        flags |= run_flags::ALLOW_OOM;
    }
    if compat || script & sf::ALLOW_CROSS_SLOT != 0 {
        flags |= run_flags::ALLOW_CROSS_SLOT;
    }
    let busy_threshold_ms = crate::rdb::file::stored_config(&srv.config, "busy-reply-threshold")
        .parse::<u64>()
        .unwrap_or(5000);
    Ok(RunCtx {
        srv,
        caller,
        cmd_id: srv.running_cmd,
        client,
        user: caller.user,
        caller_obeyed: obeyed,
        flags,
        repl: target::ALL,
        start_us: crate::util::monotonic_us(),
        funcname,
        busy_threshold_ms,
        pre_oom: srv.pre_command_oom,
        slot: caller.cluster_slot,
    })
}

/// Runs a prepared script and writes its reply to the caller: the EVAL body with KEYS and
/// ARGV set (a run prepared in eval mode), or a function with the keys and arguments as its
/// two parameters: the `numkeys` arguments after the script's name or body are its keys,
/// the rest its arguments.
pub fn run_script(
    srv: &mut Server,
    caller: &mut Client,
    mut run: RunCtx,
    engine: &Rc<lua::Engine>,
    func: &mlua::Function,
    numkeys: usize,
) {
    let eval_mode = run.flags & run_flags::EVAL_MODE != 0;
    // The caller keeps its argv while the script runs (client-side caching reads the keys).
    let split = 3 + numkeys;
    let (keys, args) = match (
        engine.array(&caller.argv[3..split]),
        engine.array(&caller.argv[split..]),
    ) {
        (Ok(k), Ok(a)) => (k, a),
        (Err(e), _) | (_, Err(e)) => {
            srv.scripting.give_back(run);
            caller.out.error(&format!("Error running script: {}", e));
            return;
        }
    };
    if run.busy_threshold_ms > 0 {
        engine.ensure_count_hook(busy_hook);
    }
    run.srv = srv;
    run.caller = caller;
    CURRENT.with(|c| c.set(&mut run));
    let result = engine.run(func, keys, args, eval_mode);
    CURRENT.with(|c| c.set(std::ptr::null_mut()));
    if run.flags & run_flags::KILLED != 0 {
        // The kill left a line hook behind.
        engine.clear_hook();
    }
    srv.scripting.runs_since_gc += 1;
    if srv.scripting.runs_since_gc >= GC_PERIOD {
        srv.scripting.runs_since_gc = 0;
        let _ = engine.lua.gc_step_kbytes(GC_PERIOD as i32);
    }
    match result {
        Ok(Ok(v)) => lua::lua_to_reply(&engine.lua, &mut caller.out, &v, run.client.out.resp),
        Ok(Err(e)) => {
            let info = lua::error_info(&engine.lua, &e);
            let mut msg = format!("-{}", info.msg);
            if let (Some(source), Some(line)) = (&info.source, &info.line) {
                msg.push_str(&format!(
                    " script: {}, on {}:{}.",
                    run.funcname, source, line
                ));
            }
            if info.counted {
                caller.out.error_counted_elsewhere(&msg);
            } else {
                caller.out.error(&msg);
            }
        }
        Err(e) => {
            let text: String = e.to_string().chars().take(100).collect();
            caller
                .out
                .error(&format!("Error running script {}, {}", run.funcname, text));
        }
    }
    run.client.flags &= !cflags::MULTI;
    if run.flags & run_flags::TIMED_OUT != 0 {
        crate::log_warning!("Script ended after being reported as busy; accepting commands again.");
    }
    srv.scripting.client = Some(run.client);
    // What the script ran propagated on its own; the script itself never does.
    caller.flags |= cflags::PREVENT_PROP;
}

/// The count hook of a script that may run long: past busy-reply-threshold the server
/// serves other clients between instructions (they get -BUSY for most commands), and SCRIPT
/// KILL / FUNCTION KILL can stop the script.
fn busy_hook(lua: &mlua::Lua) -> mlua::Result<mlua::VmState> {
    let Some(run) = current() else {
        return Ok(mlua::VmState::Continue);
    };
    if run.busy_threshold_ms == 0 {
        return Ok(mlua::VmState::Continue);
    }
    if run.flags & run_flags::TIMED_OUT == 0 {
        let elapsed_ms = (crate::util::monotonic_us() - run.start_us) / 1000;
        if elapsed_ms < run.busy_threshold_ms {
            return Ok(mlua::VmState::Continue);
        }
        crate::log_warning!(
            "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
            elapsed_ms,
            if run.flags & run_flags::EVAL_MODE != 0 { "SCRIPT KILL" } else { "FUNCTION KILL" },
            run.funcname
        );
        run.flags |= run_flags::TIMED_OUT;
    }
    let srv = run.srv;
    // SAFETY: see `current`; the script is between two instructions, nothing else holds the
    // server.
    crate::module::threads::process_events_while_blocked(unsafe { &mut *srv });
    // SAFETY: as above.
    if let Some(code) = unsafe { (*srv).exit_code } {
        // SHUTDOWN NOSAVE ran meanwhile and prepared the exit: the script ends with us.
        std::process::exit(code);
    }
    // Re-read: a SCRIPT KILL served just now changed the flags.
    let run = current().expect("still running");
    if run.flags & run_flags::KILLED != 0 {
        crate::log_warning!("Lua script killed by user with SCRIPT KILL.");
        // From now on every line fails, so a script catching the error with pcall cannot
        // go on running.
        let _ = lua.set_hook(mlua::HookTriggers::EVERY_LINE, |_, _| {
            if is_running() {
                Err(killed_error())
            } else {
                Ok(mlua::VmState::Continue)
            }
        });
        return Err(killed_error());
    }
    Ok(mlua::VmState::Continue)
}

fn killed_error() -> mlua::Error {
    mlua::Error::RuntimeError("ERR Script killed by user with SCRIPT KILL...".into())
}

/// SCRIPT KILL (`is_eval`) and FUNCTION KILL: stops the running script at its next hook,
/// if it may be stopped.
pub fn kill(c: &mut Client, is_eval: bool) {
    let Some(run) = current() else {
        c.out.error("-NOTBUSY No scripts in execution right now.");
        return;
    };
    if run.caller_obeyed {
        c.out.error("-UNKILLABLE The busy script was sent by a master instance in the context of replication and cannot be killed.");
        return;
    }
    if run.flags & run_flags::WRITE_DIRTY != 0 {
        c.out.error("-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
        return;
    }
    let eval_running = run.flags & run_flags::EVAL_MODE != 0;
    if is_eval && !eval_running {
        c.out.error(SLOW_SCRIPT_ERR);
        return;
    }
    if !is_eval && eval_running {
        c.out.error(SLOW_EVAL_ERR);
        return;
    }
    run.flags |= run_flags::KILLED;
    c.out.ok();
}

/// Parses a script's shebang line (`#!lua flags=a,b`): the flags and the line's length (the
/// body compiles without it, keeping its line feed so line numbers stay right).
pub fn parse_shebang(body: &[u8]) -> Result<(u64, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((script_flags::EVAL_COMPAT_MODE, 0));
    }
    let Some(end) = memchr::memchr(b'\n', body) else {
        return Err("Invalid script shebang".into());
    };
    let parts = match crate::util::split_args(&body[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid engine in script shebang".into()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!(
            "Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    let mut flags = 0;
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!(
                "Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        };
        for name in list.split(|b| *b == b',') {
            if list.is_empty() {
                break;
            }
            match script_flags::NAMES
                .iter()
                .find(|(_, n)| n.as_bytes() == name)
            {
                Some((f, _)) => flags |= f,
                None => {
                    return Err(format!(
                        "Unexpected flag in script shebang: {}",
                        String::from_utf8_lossy(name)
                    ))
                }
            }
        }
    }
    Ok((flags, end))
}

/// The flags a script's command runs with (Redis' `evalGetCommandFlags`): a script that
/// declared its flags replaces the command's write, deny-oom and stale flags with what it
/// declared, so the usual pre-command checks apply to what the script says it does.
pub fn command_flags(srv: &mut Server, argv: &[Vec<u8>], evalsha: bool, cmd_flags: u64) -> u64 {
    if argv.len() < 2 || (evalsha && argv[1].len() != 40) {
        return cmd_flags;
    }
    let sha = if evalsha {
        String::from_utf8_lossy(&argv[1]).to_ascii_lowercase()
    } else {
        srv.scripting.sha_of(&argv[1])
    };
    let script = match srv.scripting.scripts.get(&sha) {
        Some(s) => s.flags,
        None if evalsha => return cmd_flags,
        None => match parse_shebang(&argv[1]) {
            Ok((f, _)) => f,
            Err(_) => return cmd_flags,
        },
    };
    if script & script_flags::EVAL_COMPAT_MODE != 0 {
        return cmd_flags;
    }
    script_to_command_flags(cmd_flags, script)
}

/// A declared script's flags as command flags (Redis' `scriptFlagsToCmdFlags`).
pub fn script_to_command_flags(cmd_flags: u64, script: u64) -> u64 {
    use script_flags as sf;
    let mut f = cmd_flags & !(flags::STALE | flags::DENYOOM | flags::WRITE | flags::MAY_REPLICATE);
    if script & (sf::ALLOW_OOM | sf::NO_WRITES) == 0 {
        f |= flags::DENYOOM;
    }
    if script & sf::NO_WRITES == 0 {
        f |= flags::WRITE;
    }
    if script & sf::ALLOW_STALE != 0 {
        f |= flags::STALE;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_flags_parse_and_unknown_ones_are_refused() {
        assert_eq!(
            parse_shebang(b"return 1").unwrap(),
            (script_flags::EVAL_COMPAT_MODE, 0)
        );
        let (f, len) = parse_shebang(b"#!lua flags=no-writes,allow-stale\nreturn 1").unwrap();
        assert_eq!(f, script_flags::NO_WRITES | script_flags::ALLOW_STALE);
        assert_eq!(len, 33);
        assert_eq!(parse_shebang(b"#!lua\nreturn 1").unwrap().0, 0);
        assert_eq!(
            parse_shebang(b"#!lua flags=bad\n").unwrap_err(),
            "Unexpected flag in script shebang: bad"
        );
        assert_eq!(
            parse_shebang(b"#!python\n").unwrap_err(),
            "Unexpected engine in script shebang: #!python"
        );
        assert_eq!(
            parse_shebang(b"#!lua").unwrap_err(),
            "Invalid script shebang"
        );
    }

    #[test]
    fn declared_flags_replace_the_commands_write_flags() {
        let eval = flags::NOSCRIPT | flags::MAY_REPLICATE | flags::STALE;
        let f = script_to_command_flags(eval, script_flags::NO_WRITES);
        assert_eq!(
            f & (flags::WRITE | flags::DENYOOM | flags::STALE | flags::MAY_REPLICATE),
            0
        );
        let f = script_to_command_flags(eval, 0);
        assert_ne!(f & flags::WRITE, 0);
        assert_ne!(f & flags::DENYOOM, 0);
    }
}
