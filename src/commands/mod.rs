//! The command table and the path every command takes: lookup, the checks Redis makes before
//! running a command (in Redis' order), MULTI queueing, `call` with its statistics, and
//! propagation. Command bodies live in one file per group (`string.rs`, `keyspace.rs`, ...);
//! each group exposes `lookup(fullname) -> Option<CmdProc>`, and a spec of the generated table
//! (`table.rs`) becomes a runnable command only when some group implements it.

pub mod keyspec;
pub mod spec;
pub mod table;

pub mod bitops;
pub mod client;
pub mod command;
pub mod connection;
pub mod debug;
pub mod expire;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod info;
pub mod keyspace;
pub mod list;
pub mod memory;
pub mod migrate;
pub mod multi;
pub mod object;
pub mod persist;
pub mod pubsub;
pub mod replication;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
#[cfg(test)]
pub mod test_support;
pub mod zset;

use std::collections::HashMap;

use crate::client::{flags as cflags, Client};
use crate::replication::target;
use crate::server::Server;
use spec::{flags, CommandSpec};

/// A command implementation.
pub type CmdProc = fn(&mut Server, &mut Client);

/// Command names (lower case) to commands; looked up once per request, so hashed with aHash.
pub type NameMap = HashMap<Vec<u8>, CmdId, ahash::RandomState>;

/// Index of a command in `CommandTable::cmds`.
pub type CmdId = usize;

/// Commands the command path treats specially, recognised once when the table is built so the
/// hot path compares an enum instead of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    None,
    Exec,
    Discard,
    Multi,
    Watch,
    Quit,
    Reset,
    Ping,
    /// (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE: allowed in the RESP2 pub/sub context.
    Subscription,
    Debug,
    Module,
    /// EVAL and friends: a script's declared flags replace the command's.
    Script,
    /// EVALSHA and EVALSHA_RO: as Script, the script named by its SHA1.
    ScriptSha,
    /// FCALL and FCALL_RO: the function's declared flags replace the command's.
    Function,
}

impl Special {
    fn of(fullname: &str) -> Special {
        match fullname {
            "exec" => Special::Exec,
            "discard" => Special::Discard,
            "multi" => Special::Multi,
            "watch" => Special::Watch,
            "quit" => Special::Quit,
            "reset" => Special::Reset,
            "ping" => Special::Ping,
            "subscribe" | "ssubscribe" | "psubscribe" | "unsubscribe" | "sunsubscribe"
            | "punsubscribe" => Special::Subscription,
            "debug" => Special::Debug,
            "module" => Special::Module,
            "eval" | "eval_ro" => Special::Script,
            "fcall" | "fcall_ro" => Special::Function,
            "evalsha" | "evalsha_ro" => Special::ScriptSha,
            _ => Special::None,
        }
    }
}

/// A runnable command: its spec, implementation and statistics.
pub struct Command {
    pub special: Special,
    pub spec: &'static CommandSpec,
    /// `get`, or `config|get` for a subcommand.
    pub fullname: String,
    pub proc_: Option<CmdProc>,
    /// Spec flags plus those Redis derives (MOVABLE_KEYS).
    pub flags: u64,
    /// Explicit plus implicit ACL categories.
    pub acl_categories: u64,
    pub parent: Option<CmdId>,
    /// Subcommands by lower-case name.
    pub subcommands: NameMap,
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
    /// Latency histogram for INFO latencystats, created on the first timed call.
    pub latency: Option<Box<info::LatencyHistogram>>,
    /// For a module command: its C function and module (`proc_` is the module dispatcher).
    pub module_cmd: Option<crate::module::ModuleCommand>,
}

pub struct CommandTable {
    pub cmds: Vec<Command>,
    /// Top-level commands by lower-case name (after any rename-command).
    pub by_name: NameMap,
}

/// Finds the implementation of a command by full name, asking each group in turn.
fn implementation(fullname: &str) -> Option<CmdProc> {
    connection::lookup(fullname)
        .or_else(|| client::lookup(fullname))
        .or_else(|| command::lookup(fullname))
        .or_else(|| info::lookup(fullname))
        .or_else(|| keyspace::lookup(fullname))
        .or_else(|| expire::lookup(fullname))
        .or_else(|| object::lookup(fullname))
        .or_else(|| multi::lookup(fullname))
        .or_else(|| server::lookup(fullname))
        .or_else(|| debug::lookup(fullname))
        .or_else(|| memory::lookup(fullname))
        .or_else(|| pubsub::lookup(fullname))
        .or_else(|| replication::lookup(fullname))
        .or_else(|| string::lookup(fullname))
        .or_else(|| set::lookup(fullname))
        .or_else(|| zset::lookup(fullname))
        .or_else(|| list::lookup(fullname))
        .or_else(|| hll::lookup(fullname))
        .or_else(|| geo::lookup(fullname))
        .or_else(|| hash::lookup(fullname))
        .or_else(|| sort::lookup(fullname))
        .or_else(|| persist::lookup(fullname))
        .or_else(|| migrate::lookup(fullname))
        .or_else(|| stream::lookup(fullname))
        .or_else(|| bitops::lookup(fullname))
        .or_else(|| crate::acl::command::lookup(fullname))
        .or_else(|| crate::scripting::eval::lookup(fullname))
        .or_else(|| crate::scripting::function::lookup(fullname))
        .or_else(|| crate::module::lookup(fullname))
        .or_else(|| crate::cluster::command::lookup(fullname))
}

impl CommandTable {
    /// Builds the table from the generated specs, keeping the commands some group implements
    /// (and containers with at least one implemented subcommand).
    pub fn build() -> CommandTable {
        let mut t = CommandTable {
            cmds: Vec::new(),
            by_name: NameMap::default(),
        };
        for spec in table::COMMANDS.iter() {
            t.add(spec, None);
        }
        t
    }

    fn add(&mut self, spec: &'static CommandSpec, parent: Option<CmdId>) -> Option<CmdId> {
        let fullname = match parent {
            Some(p) => keyspec::command_full_name(&self.cmds[p].fullname, spec.name),
            None => spec.name.to_string(),
        };
        let proc_ = implementation(&fullname);
        if proc_.is_none() && spec.subcommands.is_empty() {
            return None;
        }
        let mut f = spec.flags;
        if keyspec::is_movable_keys(spec) {
            f |= flags::MOVABLE_KEYS;
        }
        let id = self.cmds.len();
        self.cmds.push(Command {
            special: Special::of(&fullname),
            spec,
            fullname,
            proc_,
            flags: f,
            acl_categories: keyspec::implicit_acl_categories(spec.flags, spec.acl_categories),
            parent,
            subcommands: NameMap::default(),
            calls: 0,
            usec: 0,
            rejected_calls: 0,
            failed_calls: 0,
            latency: None,
            module_cmd: None,
        });
        let mut any_sub = false;
        for sub in spec.subcommands.iter() {
            if let Some(sid) = self.add(sub, Some(id)) {
                self.cmds[id]
                    .subcommands
                    .insert(sub.name.as_bytes().to_vec(), sid);
                any_sub = true;
            }
        }
        if proc_.is_none() && !any_sub {
            self.cmds.pop();
            return None;
        }
        if parent.is_none() {
            self.by_name.insert(spec.name.as_bytes().to_vec(), id);
        }
        Some(id)
    }

    /// The top-level command named `name` (any case).
    pub fn lookup_base(&self, name: &[u8]) -> Option<CmdId> {
        if name.len() > 64 {
            return None;
        }
        let mut buf = [0u8; 64];
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&lower[..]).copied()
    }

    /// The command an argv runs: a subcommand when the base is a container.
    pub fn lookup(&self, argv: &[Vec<u8>]) -> Option<CmdId> {
        let base = self.lookup_base(&argv[0])?;
        let c = &self.cmds[base];
        if c.subcommands.is_empty() {
            return Some(base);
        }
        if argv.len() < 2 {
            // The container itself: its arity check reports the missing subcommand.
            return Some(base);
        }
        c.subcommands.get(&argv[1].to_ascii_lowercase()).copied()
    }

    /// Looks up by a full name such as `config|get`.
    pub fn lookup_fullname(&self, name: &[u8]) -> Option<CmdId> {
        let lower = name.to_ascii_lowercase();
        let mut parts = lower.splitn(2, |b| *b == b'|');
        let base = self.by_name.get(parts.next()?).copied()?;
        match parts.next() {
            None => Some(base),
            Some(sub) => self.cmds[base].subcommands.get(sub).copied(),
        }
    }

    /// Applies `rename-command old new` (an empty new name removes the command).
    pub fn rename(&mut self, old: &[u8], new: &[u8]) -> Result<(), &'static str> {
        let id = self
            .by_name
            .remove(&old.to_ascii_lowercase())
            .ok_or("No such command in rename-command")?;
        if !new.is_empty() {
            let key = new.to_ascii_lowercase();
            if self.by_name.contains_key(&key) {
                return Err("Target command name already exists");
            }
            self.by_name.insert(key, id);
        }
        Ok(())
    }

    /// Top-level commands reachable by name.
    pub fn iter_top(&self) -> impl Iterator<Item = CmdId> + '_ {
        self.by_name.values().copied()
    }
}

/// Error texts shared by many commands, kept in one place so they cannot drift.
pub mod errors {
    pub const SYNTAX: &str = "syntax error";
    pub const NOT_INTEGER: &str = "value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "value is not a valid float";
    pub const NO_SUCH_KEY: &str = "no such key";
    pub const OUT_OF_RANGE: &str = "index out of range";
    pub const INVALID_DB: &str = "DB index is out of range";
    pub const SAME_OBJECT: &str = "source and destination objects are the same";
    pub const NOAUTH: &str = "-NOAUTH Authentication required.";
    pub const OOM: &str = "-OOM command not allowed when used memory > 'maxmemory'.";
    pub const NOREPLICAS: &str = "-NOREPLICAS Not enough good replicas to write.";
    pub const EXECABORT: &str = "-EXECABORT Transaction discarded because of previous errors.";
    pub const INVALID_EXPIRE: &str = "invalid expire time in '{}' command";
    pub const LOADING: &str = "-LOADING Redis is loading the dataset in memory";
    pub const MISCONF: &str = "-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
}

/// Parses an integer argument, replying the standard error on failure.
/// What a key holds, from the point of view of the commands of one type: the type they work
/// on (`Wanted`), another type (they answer WRONGTYPE), or nothing.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Kind {
    Missing,
    Wanted,
    Other,
}

impl Kind {
    pub fn of(o: Option<&mut crate::types::Obj>, wanted: fn(&crate::types::Value) -> bool) -> Kind {
        match o.map(|o| &o.value) {
            None => Kind::Missing,
            Some(v) if wanted(v) => Kind::Wanted,
            Some(_) => Kind::Other,
        }
    }
}

/// A timeout in milliseconds (WAIT, CLIENT PAUSE): an integer, not negative; replies
/// Redis' error otherwise.
pub fn arg_timeout_ms(c: &mut Client, i: usize) -> Option<i64> {
    let Some(t) = crate::util::parse_i64(&c.argv[i]) else {
        c.out.error("timeout is not an integer or out of range");
        return None;
    };
    if t < 0 {
        c.out.error("timeout is negative");
        return None;
    }
    Some(t)
}

pub fn arg_i64(c: &mut Client, i: usize) -> Option<i64> {
    match crate::util::parse_i64(&c.argv[i]) {
        Some(v) => Some(v),
        None => {
            c.out.error(errors::NOT_INTEGER);
            None
        }
    }
}

/// Parses an argument that must fit a C `int` (Redis' `getIntFromObjectOrReply`): DB indexes
/// and similar. `msg` replaces the default error texts when given.
pub fn arg_i32(c: &mut Client, i: usize, msg: Option<&str>) -> Option<i32> {
    let Some(v) = crate::util::parse_i64(&c.argv[i]) else {
        c.out.error(msg.unwrap_or(errors::NOT_INTEGER));
        return None;
    };
    match i32::try_from(v) {
        Ok(v) => Some(v),
        Err(_) => {
            match msg {
                Some(m) => c.out.error(m),
                None => c.out.error(&format!(
                    "value is out of range, value must between {} and {}",
                    i32::MIN,
                    i32::MAX
                )),
            }
            None
        }
    }
}

/// Parses a float argument, replying the standard error on failure.
pub fn arg_f64(c: &mut Client, i: usize) -> Option<f64> {
    match crate::util::parse_f64(&c.argv[i]) {
        Some(v) => Some(v),
        None => {
            c.out.error(errors::NOT_FLOAT);
            None
        }
    }
}

/// Replies the "unknown subcommand" error for a container's unknown or malformed subcommand.
pub fn reply_subcommand_syntax_error(c: &mut Client) {
    let cmd = String::from_utf8_lossy(&c.argv[0]).to_uppercase();
    let sub = String::from_utf8_lossy(&c.argv[1]).into_owned();
    c.out.error(&format!(
        "unknown subcommand or wrong number of arguments for '{:.128}'. Try {} HELP.",
        sub, cmd
    ));
}

/// Replies a HELP text: the command name line, the given lines, and the HELP line.
pub fn reply_help(c: &mut Client, lines: &[&str]) {
    let cmd = String::from_utf8_lossy(&c.argv[0]).to_uppercase();
    c.out.array(lines.len() + 3);
    c.out.status(&format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        cmd
    ));
    for l in lines {
        c.out.status(l);
    }
    c.out.status("HELP");
    c.out.status("    Prints this help.");
}

pub(crate) fn unknown_command_error(srv: &Server, argv: &[Vec<u8>]) -> String {
    if argv.len() >= 2 && srv.commands.lookup_base(&argv[0]).is_some() {
        let cmd = String::from_utf8_lossy(&argv[0]).to_uppercase();
        let sub = String::from_utf8_lossy(&argv[1]);
        let sub: String = sub.chars().take(128).collect();
        return format!("unknown subcommand '{}'. Try {} HELP.", sub, cmd);
    }
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let s = String::from_utf8_lossy(a);
        let s: String = s.chars().take(room).collect();
        args.push('\'');
        args.push_str(&s);
        args.push_str("' ");
    }
    let name = String::from_utf8_lossy(&argv[0]);
    let name: String = name.chars().take(128).collect();
    format!(
        "unknown command '{}', with args beginning with: {}",
        name, args
    )
}

impl Server {
    /// Rejects the command: the error reply, a dirty transaction, the rejected counter.
    fn reject(&mut self, c: &mut Client, cmd: Option<CmdId>, msg: &str) {
        if c.has(cflags::MULTI) {
            c.flags |= cflags::DIRTY_EXEC;
        }
        if let Some(id) = cmd {
            self.commands.cmds[id].rejected_calls += 1;
            if self.commands.cmds[id].special == Special::Exec {
                // EXEC rejected: the transaction is discarded along with the error.
                let text = msg.strip_prefix('-').unwrap_or(msg);
                c.out.error(&format!(
                    "-EXECABORT Transaction discarded because of: {}",
                    text
                ));
                self.discard_transaction(c);
                self.record_reply_errors(c);
                // Monitors saw the MULTI but none of the queued commands: show the EXEC
                // that ends the transaction.
                let argv = c.argv.clone();
                self.feed_monitors(c, &argv);
                return;
            }
        }
        c.out.error(msg);
        self.record_reply_errors(c);
    }

    /// Moves error replies produced on a client into the server's error statistics.
    pub fn record_reply_errors(&mut self, c: &mut Client) {
        if !c.out.errors.is_empty()
            && (c.has(cflags::MASTER) || (c.has(cflags::SLAVE) && !c.has(cflags::MONITOR)))
        {
            self.repl_log_link_errors(c);
        }
        for line in c.out.errors.drain(..) {
            self.stats.total_error_replies += 1;
            let code = line.split(|b| *b == b' ').next().unwrap_or(b"ERR");
            let code = String::from_utf8_lossy(&code[..code.len().min(32)]).into_owned();
            *self.stats.errors.entry(code).or_insert(0) += 1;
        }
    }

    /// Runs one request from a client, with all of Redis' pre-checks (Redis'
    /// `processCommand`). Returns true when the command was held (client pause) and must be
    /// retried later; the argv is kept for that.
    pub fn process_command(&mut self, c: &mut Client) -> bool {
        // The client is the current one from here on (as in Redis), so that messages raised
        // before `call` (keys evicted to make room for this command) still reach it.
        let ctx = self.enter_client_context(c);
        let replica = c.has(cflags::SLAVE) && !c.has(cflags::MONITOR);
        let added_before = c.out.added_since_flush;
        self.repl.stream_to_current = 0;
        let held = self.process_command_checked(c);
        self.leave_client_context(c, ctx);
        let stream = std::mem::take(&mut self.repl.stream_to_current);
        if replica && c.out.added_since_flush != added_before + stream {
            // The replication link carries no replies: a replica that caused one is dropped.
            self.repl_replica_replied(c);
        }
        held
    }

    fn process_command_checked(&mut self, c: &mut Client) -> bool {
        self.update_cached_time();
        // Module command filters see (and may rewrite) every command before the lookup.
        crate::module::filter::apply(self, &mut c.argv);
        if c.argv.is_empty() {
            return false;
        }
        let argv0 = &c.argv[0];
        if argv0.eq_ignore_ascii_case(b"host:") || argv0.eq_ignore_ascii_case(b"post") {
            crate::log_warning!("Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection aborted.");
            c.flags |= cflags::CLOSE_AFTER_REPLY;
            return false;
        }
        // A module yielding without letting clients run: the command waits (7.0's
        // BLOCKED_POSTPONE), retried when the module's long operation ends.
        if crate::module::threads::postpone_commands() {
            c.flags |= cflags::BLOCKED;
            self.hold_paused_client(c.id);
            return true;
        }
        let Some(id) = self.commands.lookup(&c.argv) else {
            let err = unknown_command_error(self, &c.argv);
            c.last_cmd = None;
            self.reject(c, None, &err);
            return false;
        };
        let (arity, cmd_flags, special) = {
            let cmd = &self.commands.cmds[id];
            (cmd.spec.arity, cmd.flags, cmd.special)
        };
        let is_exec = special == Special::Exec;
        let cmd_flags = match special {
            Special::Script | Special::ScriptSha => crate::scripting::command_flags(
                self,
                &c.argv,
                special == Special::ScriptSha,
                cmd_flags,
            ),
            Special::Function => {
                crate::scripting::function::command_flags(self, &c.argv, cmd_flags)
            }
            _ => cmd_flags,
        };
        c.last_cmd = Some(id);
        let argc = c.argv.len() as i32;
        if (arity > 0 && arity != argc) || argc < -arity {
            let msg = format!(
                "wrong number of arguments for '{}' command",
                self.commands.cmds[id].fullname
            );
            self.reject(c, Some(id), &msg);
            return false;
        }
        if cmd_flags & flags::PROTECTED != 0 {
            let (setting, name, opt) = if special == Special::Debug {
                (
                    self.config.enable_debug_command,
                    "DEBUG",
                    "enable-debug-command",
                )
            } else {
                (
                    self.config.enable_module_command,
                    "MODULE",
                    "enable-module-command",
                )
            };
            let local = c.has(cflags::UNIX_SOCKET)
                || c.addr.starts_with("127.0.0.1:")
                || c.addr.starts_with("::1:");
            if setting == 0 || (setting == 2 && !local) {
                let msg = format!("{} command not allowed. If the {} option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.", name, opt);
                self.reject(c, Some(id), &msg);
                return false;
            }
        }
        if !c.authenticated && self.acl.default_needs_auth && cmd_flags & flags::NO_AUTH == 0 {
            self.reject(c, Some(id), errors::NOAUTH);
            return false;
        }
        if c.has(cflags::MULTI) && cmd_flags & flags::NO_MULTI != 0 {
            self.reject(c, Some(id), "Command not allowed inside a transaction");
            return false;
        }
        // ACLs: a user allowed everything (the usual default user) costs one indexed load.
        if !self.acl.is_open(c.user) {
            let argv = std::mem::take(&mut c.argv);
            let checked = self.acl_check_user_command(c.user, id, &argv);
            c.argv = argv;
            if let Err((reason, pos)) = checked {
                let ctx = if c.has(cflags::MULTI) {
                    crate::acl::LogContext::Multi
                } else {
                    crate::acl::LogContext::Toplevel
                };
                self.acl_add_log(c, reason, ctx, pos, None, None);
                let msg = match reason {
                    crate::acl::Denied::Cmd => format!(
                        "-NOPERM this user has no permissions to run the '{}' command",
                        self.commands.cmds[id].fullname
                    ),
                    crate::acl::Denied::Key => "-NOPERM this user has no permissions to access one of the keys used as arguments".to_string(),
                    crate::acl::Denied::Channel => "-NOPERM this user has no permissions to access one of the channels used as arguments".to_string(),
                    crate::acl::Denied::Auth => "no permission".to_string(),
                };
                self.reject(c, Some(id), &msg);
                return false;
            }
        }
        // Cluster mode: the keys must hash to a slot served here.
        if self.cluster.is_some() {
            c.cluster_slot = None;
            match self.cluster_check_route(c, id, cmd_flags, is_exec) {
                Ok(slot) => c.cluster_slot = slot,
                Err(redirect) => {
                    let msg = self.cluster_redirect_error(redirect);
                    if is_exec {
                        // The transaction goes, and the answer is the plain redirection.
                        self.discard_transaction(c);
                        self.commands.cmds[id].rejected_calls += 1;
                        self.reject(c, None, &msg);
                    } else {
                        self.reject(c, Some(id), &msg);
                    }
                    return false;
                }
            }
        }
        let (is_write, is_denyoom, may_replicate) = if is_exec {
            let f = self.queued_flags(c);
            (
                f & flags::WRITE != 0,
                f & flags::DENYOOM != 0,
                f & (flags::WRITE | flags::MAY_REPLICATE) != 0,
            )
        } else {
            (
                cmd_flags & flags::WRITE != 0,
                cmd_flags & flags::DENYOOM != 0,
                cmd_flags & (flags::WRITE | flags::MAY_REPLICATE) != 0,
            )
        };
        // Clients using too much memory go first (the last command may have grown some output
        // buffer), before keys are evicted for the same memory, as Redis orders it.
        if self.config.maxmemory_clients != 0 {
            self.update_client_mem(c);
            if self.evict_clients(Some(c)) {
                return false;
            }
        }
        self.pre_command_oom = false;
        if self.config.maxmemory > 0 {
            let oom = !self.evict_if_needed();
            self.pre_command_oom = oom;
            let reject_on_oom = is_denyoom
                || (c.has(cflags::MULTI)
                    && !matches!(
                        special,
                        Special::Exec | Special::Discard | Special::Quit | Special::Reset
                    ));
            if oom && reject_on_oom {
                self.reject(c, Some(id), errors::OOM);
                return false;
            }
        }
        // Client-side caching keeps its table within tracking-table-max-keys (also in the cron,
        // for a limit lowered with nothing else running).
        if !self.tracking.clients.is_empty() {
            self.tracking_limit_used_slots();
        }
        // After a failed background save, writes (and PING, which monitoring uses to notice)
        // are refused while the data can't be persisted.
        if is_write || special == Special::Ping {
            let denied = if self.writes_denied_by_disk_error() {
                Some(errors::MISCONF.to_string())
            } else {
                self.aof_write_error_message()
            };
            if let Some(msg) = denied {
                self.reject(c, Some(id), &msg);
                return false;
            }
        }
        // min-replicas-to-write: writes need enough replicas with a small enough lag.
        if is_write && !self.good_replicas_status() {
            self.reject(c, Some(id), errors::NOREPLICAS);
            return false;
        }
        // A read-only replica takes writes from its master only.
        if is_write && self.is_replica() && self.config.replica_read_only && !c.must_obey() {
            self.reject(
                c,
                Some(id),
                "-READONLY You can't write against a read only replica.",
            );
            return false;
        }
        // Replicas only stream: keyspace commands from them are refused.
        if c.has(cflags::SLAVE) && !c.has(cflags::MONITOR) {
            let f = if is_exec {
                self.queued_flags(c)
            } else {
                cmd_flags
            };
            if f & (flags::WRITE | flags::READONLY | flags::MAY_REPLICATE) != 0 {
                self.reject(c, Some(id), "Replica can't interact with the keyspace");
                return false;
            }
        }
        let allowed_in_pubsub = matches!(
            special,
            Special::Ping | Special::Subscription | Special::Quit | Special::Reset
        );
        if c.has(cflags::PUBSUB) && c.out.resp == 2 && !allowed_in_pubsub {
            let msg = format!(
                "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                self.commands.cmds[id].fullname
            );
            self.reject(c, Some(id), &msg);
            return false;
        }
        // A replica whose link is down serves only commands flagged for stale data, unless
        // `replica-serve-stale-data` lets it answer from what it has.
        let deny_stale = cmd_flags & flags::STALE == 0
            || (is_exec
                && c.multi.iter().any(|q| {
                    self.commands
                        .lookup(&q.argv)
                        .is_some_and(|i| self.commands.cmds[i].flags & flags::STALE == 0)
                }));
        if self.is_replica()
            && self.repl.link_state != crate::replication::state::LinkState::Connected
            && !self.config.replica_serve_stale_data
            && deny_stale
        {
            self.reject(
                c,
                Some(id),
                "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            );
            return false;
        }
        // While a dataset loads, only commands flagged for it run (INFO, CONFIG, ...).
        if self.loading && !self.repl.async_loading && cmd_flags & flags::LOADING == 0 {
            self.reject(c, Some(id), errors::LOADING);
            return false;
        }
        // While a swapdb load keeps the old dataset served, commands that would act on the
        // server's state rather than read data wait for it to end.
        if self.repl.async_loading && cmd_flags & flags::NO_ASYNC_LOADING != 0 {
            self.reject(c, Some(id), errors::LOADING);
            return false;
        }
        // While a module yields from a long operation, or a script runs past
        // busy-reply-threshold, only allow-busy commands run.
        if cmd_flags & flags::ALLOW_BUSY == 0 {
            if let Some(msg) = crate::module::threads::busy_error() {
                self.reject(c, Some(id), &msg);
                return false;
            }
            if let Some(msg) = crate::scripting::busy_error() {
                self.reject(c, Some(id), msg);
                return false;
            }
        }
        if !c.has(cflags::SLAVE)
            && (self.pause == crate::server::PauseKind::All
                || (self.pause == crate::server::PauseKind::Write && may_replicate))
        {
            c.flags |= cflags::BLOCKED;
            self.hold_paused_client(c.id);
            return true;
        }
        if c.has(cflags::MULTI)
            && !matches!(
                special,
                Special::Exec
                    | Special::Discard
                    | Special::Multi
                    | Special::Watch
                    | Special::Quit
                    | Special::Reset
            )
        {
            self.queue_multi_command(c, id);
            c.out.raw(b"+QUEUED\r\n");
            return false;
        }
        self.call(c, id);
        // Keys the command made ready serve their blocked clients right after it (after the
        // whole transaction for EXEC), as Redis' processCommand does; not while a busy script
        // or module command lets other clients in (what it made ready waits for its end).
        if self.blocking.has_pending_work()
            && !crate::scripting::is_running()
            && !crate::module::threads::is_busy()
        {
            self.handle_clients_blocked_on_keys();
        }
        false
    }

    /// Runs a command and does the bookkeeping around it: timing, statistics, slow log,
    /// monitors, error counters and propagation (Redis' `call`).
    pub fn call(&mut self, c: &mut Client, id: CmdId) {
        let Some(proc_) = self.commands.cmds[id].proc_ else {
            reply_subcommand_syntax_error(c);
            return;
        };
        let outermost = self.prop.depth == 0;
        self.prop.depth += 1;
        let ctx = self.enter_client_context(c);
        if outermost {
            self.frozen_ms = Some(crate::util::mstime());
        }
        let dirty_before = self.dirty;
        // Forced propagation is per call (EXEC runs calls inside its own).
        let per_call = cflags::FORCE_REPL | cflags::FORCE_AOF | cflags::PREVENT_PROP;
        let saved_force = c.flags & per_call;
        c.flags &= !per_call;
        let errors_before = c.out.errors.len();
        let uncounted_before = c.out.uncounted_errors;
        let monitor_argv = if !self.monitors.is_empty() {
            Some(c.argv.clone())
        } else {
            None
        };
        c.propagate_argv = None;
        let start = crate::util::monotonic_us();
        let outer_start = std::mem::replace(&mut self.cmd_start_us, start);
        // Which command runs, for procs shared by many commands (module commands).
        let prev_running = std::mem::replace(&mut self.running_cmd, id);
        let outer_command = crate::server::crash::enter_command(&self.commands.cmds[id].fullname);
        proc_(self, c);
        crate::server::crash::leave_command(outer_command);
        self.running_cmd = prev_running;
        self.cmd_start_us = outer_start;
        let duration = crate::util::monotonic_us() - start;
        // Messages and flags aimed at this client while it ran.
        self.leave_client_context(c, ctx);
        let failed =
            c.out.errors.len() > errors_before || c.out.uncounted_errors > uncounted_before;
        if !c.has(cflags::MODULE) {
            self.record_reply_errors(c);
        }
        // Arguments the command marked secret are hidden from the slow log and monitors.
        let mut monitor_argv = monitor_argv;
        if !c.redacted.is_empty() {
            for i in std::mem::take(&mut c.redacted) {
                if let Some(a) = c.argv.get_mut(i) {
                    *a = b"(redacted)".to_vec();
                }
                if let Some(a) = monitor_argv.as_mut().and_then(|m| m.get_mut(i)) {
                    *a = b"(redacted)".to_vec();
                }
            }
        }
        {
            let cmd = &mut self.commands.cmds[id];
            cmd.calls += 1;
            cmd.usec += duration;
            if failed {
                cmd.failed_calls += 1;
            }
        }
        if !c.has(cflags::BLOCKED) {
            self.record_command_latency(id, duration);
        }
        self.stats.numcommands += 1;
        c.commands_processed += 1;
        let cmd_flags = self.commands.cmds[id].flags;
        // A command that blocked gets its slow log entry (and the rest of its time) when it
        // completes.
        if c.has(cflags::BLOCKED) && self.is_blocked_on_keys(c.id) {
            self.note_blocking_call_time(c.id, duration);
        } else if cmd_flags & flags::SKIP_SLOWLOG == 0 {
            self.slowlog_push_if_needed(c, duration);
        }
        self.latency_add_sample_if_needed(
            if cmd_flags & flags::FAST != 0 {
                "fast-command"
            } else {
                "command"
            },
            duration / 1000,
        );
        if let Some(argv) = monitor_argv {
            if cmd_flags & (flags::SKIP_MONITOR | flags::ADMIN) == 0 {
                self.feed_monitors(c, &argv);
            }
        }
        // A command that changed data goes to every consumer; one may force its own propagation
        // to some (Redis' `forceCommandPropagation`: FLUSHALL on empty databases, PUBLISH to
        // replicas only), keep itself from some (SPOP with a count propagated its effects), or
        // replace what is propagated (`propagate_argv`). Without consumers (no AOF, no
        // replicas) nothing is copied, as in Redis.
        let mut targets = 0u8;
        // Module commands propagate only what they replicate themselves (Replicate,
        // ReplicateVerbatim, Call with '!'), as in Redis 7.0.
        if self.dirty != dirty_before
            && cmd_flags & (flags::WRITE | flags::MAY_REPLICATE) != 0
            && cmd_flags & flags::MODULE == 0
        {
            targets = target::ALL;
        }
        if c.has(cflags::FORCE_AOF) {
            targets |= target::AOF;
        }
        if c.has(cflags::FORCE_REPL) {
            targets |= target::REPL;
        }
        let replacement = c.propagate_argv.take();
        if replacement.is_some() && targets == 0 {
            targets = target::ALL;
        }
        if c.has(cflags::PREVENT_AOF_PROP) {
            targets &= !target::AOF;
        }
        if c.has(cflags::PREVENT_REPL_PROP) {
            targets &= !target::REPL;
        }
        // Commands a module runs through RedisModule_Call reach only the consumers it asked for.
        targets &= c.prop_mask;
        c.flags = (c.flags & !per_call) | saved_force;
        if self.prop.enabled && targets != 0 {
            let argv = replacement.unwrap_or_else(|| c.argv.clone());
            self.prop.push_to(c.db, argv, targets);
        }
        c.propagate_argv = None;
        // Client-side caching: the keys a tracking client just read may be in its cache now.
        if c.flags & cflags::TRACKING != 0 {
            self.tracking_remember_keys(c, id);
        } else if c.has(cflags::SCRIPT) && cmd_flags & flags::READONLY != 0 {
            crate::scripting::track_script_read(self);
        }
        self.prop.depth -= 1;
        if outermost {
            self.frozen_ms = None;
            // The lazy-expire DELs of a command run directly that may touch any key (SCAN,
            // RANDOMKEY, KEYS) are independent deletions, not a transaction: no MULTI/EXEC.
            // Inside a module callback run outside any command, the callback's end flushes.
            if self.prop.module_nesting == 0 {
                self.prop.no_multi = cmd_flags & flags::TOUCHES_ARBITRARY_KEYS != 0;
                self.flush_propagation();
                self.prop.no_multi = false;
            }
            // Invalidations of keys this client caches, raised by its own command (or
            // transaction), follow the reply instead of landing inside it.
            if self.tracking.has_pending() {
                self.tracking_flush_pending(c);
            }
        }
        if c.out.has_pending() {
            self.check_output_buffer_limits(c);
        }
    }
}
