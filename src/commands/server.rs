//! Server administration commands: CONFIG (GET/SET/RESETSTAT/REWRITE/HELP), SLOWLOG, LATENCY,
//! TIME, LASTSAVE and SHUTDOWN. The configuration machinery itself (table, parsing, rewrite
//! lines) lives in `crate::config`; this file owns what happens around it at run time: CONFIG
//! SET's all-or-nothing semantics with apply hooks, and rewriting the user's file in place.

use crate::client::{flags as cflags, Client};
use crate::commands::{reply_help, reply_subcommand_syntax_error, CmdProc};
use crate::config::{self, cflags as conf, ConfigDef, CONFIGS};
use crate::server::Server;
use crate::util;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "config|get" => config_get_command,
        "config|set" => config_set_command,
        "config|resetstat" => config_resetstat_command,
        "config|rewrite" => config_rewrite_command,
        "config|help" => config_help_command,
        "slowlog|get" => slowlog_get_command,
        "slowlog|len" => slowlog_len_command,
        "slowlog|reset" => slowlog_reset_command,
        "slowlog|help" => slowlog_help_command,
        "latency|latest" => latency_latest_command,
        "latency|history" => latency_history_command,
        "latency|reset" => latency_reset_command,
        "latency|graph" => latency_graph_command,
        "latency|doctor" => latency_doctor_command,
        "latency|help" => latency_help_command,
        "time" => time_command,
        "lastsave" => lastsave_command,
        "shutdown" => shutdown_command,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// CONFIG

/// Whether a protected action (`enable-protected-configs` and friends) is allowed for `c`:
/// "yes", or "local" from a loopback / unix socket connection.
pub fn protected_action_allowed(setting: i32, c: &Client) -> bool {
    setting == 1 || (setting == 2 && is_local_client(c))
}

fn is_local_client(c: &Client) -> bool {
    if c.has(cflags::UNIX_SOCKET) {
        return true;
    }
    let ip = c.addr.rsplit_once(':').map(|(ip, _)| ip).unwrap_or("");
    ip == "127.0.0.1" || ip == "::1"
}

/// A directive CONFIG GET/SET names: one of the server's own or a module config.
#[derive(Clone, Copy)]
enum ConfTarget {
    Core(&'static ConfigDef),
    Module(usize),
}

fn target_value(srv: &mut Server, t: ConfTarget) -> Vec<u8> {
    match t {
        ConfTarget::Core(def) => config::get_directive(&srv.config, def).into_bytes(),
        ConfTarget::Module(i) => crate::module::config::get_value(srv, i),
    }
}

fn config_get_command(srv: &mut Server, c: &mut Client) {
    let mut found: Vec<(Vec<u8>, ConfTarget)> = Vec::new();
    for arg in &c.argv[2..] {
        let is_pattern = arg.iter().any(|b| matches!(b, b'[' | b'*' | b'?'));
        if !is_pattern {
            // Names are matched case-insensitively, so each config appears once.
            if found.iter().any(|(k, _)| k.eq_ignore_ascii_case(arg)) {
                continue;
            }
            if let Some(def) = config::lookup(arg) {
                found.push((arg.clone(), ConfTarget::Core(def)));
            } else if let Some(i) = srv.modules.configs.find(arg) {
                found.push((arg.clone(), ConfTarget::Module(i)));
            }
            continue;
        }
        for def in CONFIGS.iter() {
            // Hidden directives are only returned when asked for by exact name.
            if def.flags & conf::HIDDEN != 0 {
                continue;
            }
            for name in std::iter::once(def.name).chain(def.alias) {
                if found
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
                {
                    continue;
                }
                if util::glob_match(arg, name.as_bytes(), true) {
                    found.push((name.as_bytes().to_vec(), ConfTarget::Core(def)));
                }
            }
        }
        for (name, i) in srv.modules.configs.matching(arg) {
            if !found
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            {
                found.push((name.into_bytes(), ConfTarget::Module(i)));
            }
        }
    }
    c.out.map(found.len());
    for (name, t) in found {
        c.out.bulk(&name);
        let v = target_value(srv, t);
        c.out.bulk(&v);
    }
}

/// What to run after directives changed so the server follows the new values. Directives that
/// share a hook run it once.
type ApplyFn = fn(&mut Server) -> Result<(), String>;

fn apply_hook(name: &str) -> Option<ApplyFn> {
    Some(match name {
        "port" => apply_port,
        "bind" => apply_bind,
        "maxmemory" => apply_maxmemory,
        "maxmemory-clients" => apply_maxmemory_clients,
        "loglevel" => apply_loglevel,
        "hz" => apply_hz,
        "oom-score-adj" | "oom-score-adj-values" => apply_oom_score_adj,
        "appendonly" => apply_appendonly,
        "aof-disable-auto-gc" => apply_aof_auto_gc,
        "maxclients" => apply_maxclients,
        "jemalloc-bg-thread" => apply_jemalloc_bg_thread,
        "requirepass" => apply_requirepass,
        "acl-pubsub-default" => apply_acl_pubsub_default,
        "proc-title-template" => apply_proc_title,
        "cluster-announce-ip"
        | "cluster-announce-port"
        | "cluster-announce-bus-port"
        | "cluster-announce-tls-port"
        | "cluster-announce-hostname"
        | "cluster-node-timeout"
        | "cluster-replica-no-failover"
        | "cluster-allow-reads-when-down"
        | "cluster-allow-pubsubshard-when-down" => apply_cluster_announced,
        _ => return None,
    })
}

/// What a cluster node announces about itself changes at once (the others learn it from
/// its next ping), and so do the cluster settings it keeps at hand for routing.
fn apply_cluster_announced(srv: &mut Server) -> Result<(), String> {
    if let Some(cl) = srv.cluster.as_deref_mut() {
        cl.update_myself_announced(&srv.config);
        cl.todo |= crate::cluster::todo::SAVE_CONFIG;
    }
    Ok(())
}

/// A new title template shows at once.
fn apply_proc_title(srv: &mut Server) -> Result<(), String> {
    crate::server::proctitle::set(srv, None);
    Ok(())
}

/// `requirepass` is the default user's password (empty: nopass).
pub fn apply_requirepass(srv: &mut Server) -> Result<(), String> {
    let pass = srv.config.requirepass.clone();
    srv.acl.set_default_password(&srv.commands, pass.as_deref());
    Ok(())
}

/// Users and selectors created from now on start with or without all channels.
pub fn apply_acl_pubsub_default(srv: &mut Server) -> Result<(), String> {
    srv.acl.pubsub_default_all = srv
        .config
        .other
        .get("acl-pubsub-default")
        .is_some_and(|v| v == "allchannels");
    Ok(())
}

fn apply_port(srv: &mut Server) -> Result<(), String> {
    srv.rebind_listeners().map_err(|e| {
        crate::log_warning!("{}", e);
        "Unable to listen on this port. Check server logs.".to_string()
    })
}

fn apply_bind(srv: &mut Server) -> Result<(), String> {
    srv.rebind_listeners().map_err(|e| {
        crate::log_warning!("{}", e);
        "Failed to bind to specified addresses.".to_string()
    })
}

fn apply_maxmemory(srv: &mut Server) -> Result<(), String> {
    srv.publish_maxmemory();
    if srv.config.maxmemory > 0 {
        let used = srv.used_memory();
        if (srv.config.maxmemory as usize) < used {
            crate::log_warning!("WARNING: the new maxmemory value set via CONFIG SET ({}) is smaller than the current memory usage ({}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.", srv.config.maxmemory, used);
        }
        // Evicting starts from the event loop, after this reply (as Redis' eviction time proc).
        srv.evict.proc_running = true;
    }
    Ok(())
}

/// Client eviction turned on (or changed): measure every client now, so the next eviction
/// check sees their current memory; turned off: forget the measurements.
fn apply_maxmemory_clients(srv: &mut Server) -> Result<(), String> {
    srv.remeasure_all_clients();
    Ok(())
}

fn apply_loglevel(srv: &mut Server) -> Result<(), String> {
    crate::server::log::set_level(srv.config.loglevel);
    Ok(())
}

fn apply_hz(srv: &mut Server) -> Result<(), String> {
    // hz is a hint: out-of-range values are accepted and capped.
    srv.config.hz = srv.config.hz.clamp(1, 500);
    srv.hz = srv.config.hz;
    Ok(())
}

fn apply_oom_score_adj(srv: &mut Server) -> Result<(), String> {
    srv.set_oom_score_adj(None).map_err(|e| {
        crate::log_warning!("{}", e);
        "Failed to set current oom_score_adj. Check server logs.".to_string()
    })
}

fn apply_jemalloc_bg_thread(srv: &mut Server) -> Result<(), String> {
    set_jemalloc_bg_thread(&srv.config);
    Ok(())
}

/// Turns jemalloc's background purging thread on or off per `jemalloc-bg-thread` (Redis does
/// this at start-up and on CONFIG SET; a failure only means the allocator can't do it).
pub fn set_jemalloc_bg_thread(cfg: &config::Config) {
    let on = config::lookup(b"jemalloc-bg-thread")
        .map(|d| config::get_directive(cfg, d) == "yes")
        .unwrap_or(true);
    let _ = tikv_jemalloc_ctl::background_thread::write(on);
}

fn apply_maxclients(srv: &mut Server) -> Result<(), String> {
    let wanted = srv.config.maxclients;
    crate::startup::adjust_open_files_limit(&mut srv.config);
    if srv.config.maxclients != wanted {
        return Err(format!(
            "The operating system is not able to handle the specified number of clients, try with {}",
            srv.config.maxclients
        ));
    }
    Ok(())
}

fn apply_appendonly(srv: &mut Server) -> Result<(), String> {
    srv.aof_apply_config()
}

fn apply_aof_auto_gc(srv: &mut Server) -> Result<(), String> {
    if crate::rdb::file::stored_config(&srv.config, "aof-disable-auto-gc") != "yes" {
        srv.aof_del_history_files();
    }
    Ok(())
}

fn config_set_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() % 2 == 1 {
        c.out.error(crate::commands::errors::SYNTAX);
        return;
    }
    let count = (c.argv.len() - 2) / 2;
    let mut targets: Vec<ConfTarget> = Vec::with_capacity(count);
    // The name each argument used (lowercased): an alias is a config of its own for Redis (it
    // may be set next to its primary name, and errors name it).
    let mut used: Vec<String> = Vec::with_capacity(count);
    let mut values: Vec<Vec<u8>> = Vec::with_capacity(count);
    let mut unknown: Option<Vec<u8>> = None;
    let mut failure: Option<(String, &'static str)> = None;
    let mut loading_error = false;
    for i in 0..count {
        let name = c.argv[2 + i * 2].clone();
        let target = match config::lookup(&name) {
            Some(def) => ConfTarget::Core(def),
            None => match srv.modules.configs.find(&name) {
                Some(m) => ConfTarget::Module(m),
                None => {
                    if unknown.is_none() && failure.is_none() && !loading_error {
                        unknown = Some(name);
                    }
                    continue;
                }
            },
        };
        values.push(c.argv[3 + i * 2].clone());
        // Every sensitive value is hidden from the slow log even when the command fails.
        if let ConfTarget::Core(def) = target {
            if def.flags & conf::SENSITIVE != 0 {
                c.redact_arg(3 + i * 2);
            }
        }
        if unknown.is_some() || failure.is_some() || loading_error {
            continue;
        }
        let shown = String::from_utf8_lossy(&name).into_owned();
        let (immutable, protected, deny_loading) = match target {
            ConfTarget::Core(def) => (
                def.flags & conf::IMMUTABLE != 0,
                def.flags & conf::PROTECTED != 0,
                def.flags & conf::DENY_LOADING != 0,
            ),
            ConfTarget::Module(m) => (
                srv.modules.configs.is_immutable(m),
                srv.modules.configs.is_protected(m),
                srv.modules.configs.denies_loading(m),
            ),
        };
        if immutable {
            failure = Some((shown, "can't set immutable config"));
            continue;
        }
        if protected && !protected_action_allowed(srv.config.enable_protected_configs, c) {
            failure = Some((shown, "can't set protected config"));
            continue;
        }
        if srv.loading && deny_loading {
            loading_error = true;
            continue;
        }
        let used_name = match target {
            ConfTarget::Core(def) => match def.alias {
                Some(a) if util::eq_ic(&name, a) => a.to_string(),
                _ => def.name.to_string(),
            },
            ConfTarget::Module(m) => srv.modules.configs.full_name(m).to_string(),
        };
        if used.contains(&used_name) {
            failure = Some((shown, "duplicate parameter"));
            continue;
        }
        targets.push(target);
        used.push(used_name);
    }
    if loading_error {
        c.out
            .error("-LOADING Redis is loading the dataset in memory");
        return;
    }
    if let Some(name) = unknown {
        c.out.error(&format!(
            "Unknown option or number of arguments for CONFIG SET - '{}'",
            String::from_utf8_lossy(&name)
        ));
        return;
    }
    if let Some((name, why)) = failure {
        c.out.error(&format!(
            "CONFIG SET failed (possibly related to argument '{}') - {}",
            name, why
        ));
        return;
    }
    let old: Vec<Vec<u8>> = targets.iter().map(|t| target_value(srv, *t)).collect();
    let mut hooks: Vec<(ApplyFn, String)> = Vec::new();
    // Module configs whose value changed: their apply callbacks run after the server's hooks.
    let mut module_changed: Vec<usize> = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let res = match *t {
            ConfTarget::Core(def) => config::set_from_string(&mut srv.config, def, &values[i])
                .map(|()| config::get_directive(&srv.config, def).into_bytes() != old[i]),
            ConfTarget::Module(m) => crate::module::config::set_value(srv, m, &values[i]),
        };
        let changed = match res {
            Ok(changed) => changed,
            Err(e) => {
                restore_configs(srv, &targets[..=i], &old[..=i]);
                c.out.error(&format!(
                    "CONFIG SET failed (possibly related to argument '{}') - {}",
                    used[i], e
                ));
                return;
            }
        };
        if !changed {
            continue;
        }
        match *t {
            ConfTarget::Core(def) => {
                if let Some(h) = apply_hook(def.name) {
                    if !hooks.iter().any(|(f, _)| *f as usize == h as usize) {
                        hooks.push((h, used[i].clone()));
                    }
                }
            }
            ConfTarget::Module(m) => module_changed.push(m),
        }
    }
    for (i, (hook, name)) in hooks.iter().enumerate() {
        if let Err(e) = hook(srv) {
            crate::log_warning!("Failed applying new configuration. Possibly related to new {} setting. Restoring previous settings.", name);
            restore_configs(srv, &targets, &old);
            // Listeners opened for the new values are dropped: the old ones never closed.
            srv.pending_tcp_listeners = None;
            // Re-run the hooks that already ran so the server follows the restored values.
            rerun_hooks(srv, &hooks[..i]);
            c.out.error(&format!(
                "CONFIG SET failed (possibly related to argument '{}') - {}",
                name, e
            ));
            return;
        }
    }
    if let Err((name, e)) = crate::module::config::apply(srv, &module_changed) {
        crate::log_warning!(
            "Failed applying new module configuration. Restoring previous settings."
        );
        restore_configs(srv, &targets, &old);
        srv.pending_tcp_listeners = None;
        rerun_hooks(srv, &hooks);
        if let Err((_, e)) = crate::module::config::apply(srv, &module_changed) {
            crate::log_warning!("Failed applying restored failed CONFIG SET command: {}", e);
        }
        c.out.error(&format!(
            "CONFIG SET failed (possibly related to argument '{}') - {}",
            name, e
        ));
        return;
    }
    crate::module::events::fire_config_change(srv, &used);
    c.out.ok();
}

/// Runs apply hooks again after a failed CONFIG SET restored the old values.
fn rerun_hooks(srv: &mut Server, hooks: &[(ApplyFn, String)]) {
    for (h, hname) in hooks {
        if matches!(hname.as_str(), "port" | "bind") {
            continue;
        }
        if let Err(e) = h(srv) {
            crate::log_warning!("Failed applying restored failed CONFIG SET command: {}", e);
        }
    }
}

fn restore_configs(srv: &mut Server, targets: &[ConfTarget], old: &[Vec<u8>]) {
    for (t, value) in targets.iter().zip(old) {
        let (name, res) = match *t {
            ConfTarget::Core(def) => (
                def.name.to_string(),
                config::set_from_string(&mut srv.config, def, value),
            ),
            ConfTarget::Module(m) => (
                srv.modules.configs.full_name(m).to_string(),
                crate::module::config::set_value(srv, m, value).map(|_| ()),
            ),
        };
        if let Err(e) = res {
            crate::log_warning!(
                "Failed restoring failed CONFIG SET command. Error setting {} to '{}': {}",
                name,
                String::from_utf8_lossy(value),
                e
            );
        }
    }
}

/// The slow log and latency samples are kept, as in Redis; `reset_stats` (INFO) resets the
/// counters, per-command statistics and latency histograms.
fn config_resetstat_command(srv: &mut Server, c: &mut Client) {
    srv.reset_stats();
    c.out.ok();
}

impl Server {
    /// Opens TCP listeners for the current `port`/`bind` now (so a failure is reported to
    /// CONFIG SET); the event loop swaps them in for the old ones before it next waits.
    pub fn rebind_listeners(&mut self) -> Result<(), String> {
        let new = crate::ae::open_tcp_listeners(
            &self.config.bind,
            self.config.port,
            self.config.tcp_backlog as i32,
        )?;
        self.pending_tcp_listeners = Some(new);
        Ok(())
    }
}

fn config_rewrite_command(srv: &mut Server, c: &mut Client) {
    let Some(path) = srv.config.config_file.clone() else {
        c.out.error("The server is running without a config file");
        return;
    };
    match rewrite_config(srv, &path, false) {
        Ok(()) => {
            crate::log_warning!("CONFIG REWRITE executed with success.");
            c.out.ok();
        }
        Err(e) => {
            crate::log_warning!("CONFIG REWRITE failed: {}", e);
            c.out.error(&format!("Rewriting config file: {}", e));
        }
    }
}

const REWRITE_SIGNATURE: &str = "# Generated by CONFIG REWRITE";

/// Directives the file may hold that are not in the directive table.
const FILE_ONLY_DIRECTIVES: &[&str] = &[
    "include",
    "rename-command",
    "user",
    "loadmodule",
    "sentinel",
];

/// Rewrites the config file: lines of directives the server knows are replaced in place by
/// their current values, directives that differ from their defaults and weren't in the file
/// are appended after a signature comment, and leftover lines of rewritten directives are
/// removed. Unknown lines are kept as comments. `force_all` writes every directive.
pub fn rewrite_config(srv: &mut Server, path: &str, force_all: bool) -> Result<(), String> {
    // Module configs and loaded modules (their values come from the modules themselves).
    let module_lines = crate::module::config::rewrite_lines(srv);
    let loadmodule_lines = crate::module::config::loadmodule_lines(srv);
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(util_os_error(&e)),
    };
    let mut lines: Vec<String> = Vec::new();
    let mut option_lines: std::collections::HashMap<String, std::collections::VecDeque<usize>> =
        Default::default();
    let mut needs_signature = true;
    if !old.is_empty() {
        for raw in old.split('\n') {
            let line = raw.trim_matches(|c| matches!(c, '\r' | '\n' | '\t' | ' '));
            if line.is_empty() || line.starts_with('#') {
                if needs_signature && line == REWRITE_SIGNATURE {
                    needs_signature = false;
                }
                lines.push(line.to_string());
                continue;
            }
            let argv = util::split_args(line.as_bytes());
            let name = argv
                .as_ref()
                .and_then(|a| a.first())
                .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase());
            let canonical = name.as_deref().and_then(|n| {
                if let Some(def) = config::lookup(n.as_bytes()) {
                    Some(def.name.to_string())
                } else if FILE_ONLY_DIRECTIVES.contains(&n)
                    || srv.modules.configs.find(n.as_bytes()).is_some()
                {
                    Some(n.to_string())
                } else {
                    None
                }
            });
            match canonical {
                Some(opt) => {
                    option_lines.entry(opt).or_default().push_back(lines.len());
                    lines.push(line.to_string());
                }
                None => lines.push(format!("# ??? {}", line)),
            }
        }
    }
    let mut processed: std::collections::HashSet<String> = Default::default();
    let mut rewrite_line = |lines: &mut Vec<String>,
                            processed: &mut std::collections::HashSet<String>,
                            option: &str,
                            line: String,
                            force: bool| {
        processed.insert(option.to_string());
        let slot = option_lines.get_mut(option).and_then(|l| l.pop_front());
        match slot {
            Some(n) => lines[n] = line,
            None if force || force_all => {
                if needs_signature {
                    lines.push(REWRITE_SIGNATURE.to_string());
                    needs_signature = false;
                }
                lines.push(line);
            }
            None => {}
        }
    };
    for def in CONFIGS.iter() {
        processed.insert(def.name.to_string());
        for (line, force) in config::rewrite_directive(&srv.config, def) {
            rewrite_line(&mut lines, &mut processed, def.name, line, force);
        }
    }
    for (opt, line, force) in module_lines {
        rewrite_line(&mut lines, &mut processed, &opt, line, force);
    }
    // Every loaded module gets its `loadmodule` line; lines of modules no longer loaded go.
    for line in loadmodule_lines {
        rewrite_line(&mut lines, &mut processed, "loadmodule", line, true);
    }
    processed.insert("loadmodule".to_string());
    // Users are written from the ACL state (none when an ACL file holds them); renamed
    // commands have no run-time state to render from: their lines stay untouched.
    for line in crate::acl::file::rewrite_lines(srv) {
        rewrite_line(&mut lines, &mut processed, "user", line, true);
    }
    processed.insert("user".to_string());
    // Remove lines of rewritten directives that weren't reused.
    let leftover: Vec<usize> = {
        let mut v = Vec::new();
        for (opt, slots) in &option_lines {
            if processed.contains(opt) {
                v.extend(slots.iter().copied());
            }
        }
        v
    };
    for n in leftover {
        lines[n].clear();
    }
    let mut content = String::new();
    let mut was_empty = false;
    for l in &lines {
        if l.is_empty() {
            if was_empty {
                continue;
            }
            was_empty = true;
        } else {
            was_empty = false;
        }
        content.push_str(l);
        content.push('\n');
    }
    write_file_atomically(path, &content)
}

fn util_os_error(e: &std::io::Error) -> String {
    // Redis reports strerror() text, without Rust's " (os error N)" suffix.
    let s = e.to_string();
    match s.find(" (os error") {
        Some(p) => s[..p].to_string(),
        None => s,
    }
}

fn write_file_atomically(path: &str, content: &str) -> Result<(), String> {
    use std::io::Write;
    let tmp = format!("{}.{}.tmp", path, std::process::id());
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(util_os_error(&e));
    }
    Ok(())
}

fn config_help_command(_srv: &mut Server, c: &mut Client) {
    reply_help(
        c,
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// SLOWLOG

fn slowlog_get_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() > 3 {
        reply_subcommand_syntax_error(c);
        return;
    }
    let mut count: usize = 10;
    if c.argv.len() == 3 {
        match util::parse_i64(&c.argv[2]).filter(|v| *v >= -1) {
            Some(-1) => count = srv.intro.slowlog.len(),
            Some(v) => count = v as usize,
            None => {
                c.out.error("count should be greater than or equal to -1");
                return;
            }
        }
    }
    let n = count.min(srv.intro.slowlog.len());
    c.out.array(n);
    for e in srv.intro.slowlog.iter().take(n) {
        c.out.array(6);
        c.out.int(e.id as i64);
        c.out.int(e.time);
        c.out.int(e.duration_us as i64);
        c.out.array(e.argv.len());
        for a in &e.argv {
            c.out.bulk(a);
        }
        c.out.bulk(e.peer.as_bytes());
        c.out.bulk(&e.name);
    }
}

fn slowlog_len_command(srv: &mut Server, c: &mut Client) {
    c.out.int(srv.intro.slowlog.len() as i64);
}

fn slowlog_reset_command(srv: &mut Server, c: &mut Client) {
    srv.intro.slowlog.clear();
    c.out.ok();
}

fn slowlog_help_command(_srv: &mut Server, c: &mut Client) {
    reply_help(
        c,
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// LATENCY

fn latency_latest_command(srv: &mut Server, c: &mut Client) {
    c.out.array(srv.intro.latency.len());
    for (event, series) in &srv.intro.latency {
        let (time, latency) = series.samples.back().copied().unwrap_or((0, 0));
        c.out.array(4);
        c.out.bulk(event.as_bytes());
        c.out.int(time);
        c.out.int(latency as i64);
        c.out.int(series.max as i64);
    }
}

fn latency_history_command(srv: &mut Server, c: &mut Client) {
    let event = String::from_utf8_lossy(&c.argv[2]).into_owned();
    let Some(series) = srv.intro.latency.get(&event) else {
        c.out.array(0);
        return;
    };
    c.out.array(series.samples.len());
    for (time, latency) in &series.samples {
        c.out.array(2);
        c.out.int(*time);
        c.out.int(*latency as i64);
    }
}

fn latency_reset_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() == 2 {
        let n = srv.intro.latency.len();
        srv.intro.latency.clear();
        c.out.int(n as i64);
        return;
    }
    let mut resets = 0;
    for a in &c.argv[2..] {
        if srv
            .intro
            .latency
            .remove(String::from_utf8_lossy(a).as_ref())
            .is_some()
        {
            resets += 1;
        }
    }
    c.out.int(resets);
}

/// Summary statistics of one event's samples (LATENCY DOCTOR).
struct LatencyStats {
    samples: u64,
    avg: u64,
    mad: u64,
    period: i64,
}

fn analyze_latency(series: &crate::server::support::LatencySeries, now: i64) -> LatencyStats {
    let n = series.samples.len() as u64;
    if n == 0 {
        return LatencyStats {
            samples: 0,
            avg: 0,
            mad: 0,
            period: 0,
        };
    }
    let sum: u64 = series.samples.iter().map(|s| s.1).sum();
    let avg = sum / n;
    let oldest = series.samples.iter().map(|s| s.0).min().unwrap_or(now);
    let period = (now - oldest).max(1);
    let dev: u64 = series.samples.iter().map(|s| s.1.abs_diff(avg)).sum();
    LatencyStats {
        samples: n,
        avg,
        mad: dev / n,
        period,
    }
}

fn latency_doctor_command(srv: &mut Server, c: &mut Client) {
    let report = latency_report(srv);
    c.out.verbatim(report.as_bytes(), "txt");
}

fn latency_report(srv: &Server) -> String {
    if srv.intro.latency.is_empty() && srv.config.latency_monitor_threshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let now = util::mstime() / 1000;
    let mut report = String::new();
    let mut advices = 0;
    let (mut slowlog_enabled, mut slowlog_tuning, mut slowlog_inspect) = (false, false, false);
    let (mut scheduler, mut hz, mut large_objects, mut mass_eviction) =
        (false, false, false, false);
    for (n, (event, series)) in srv.intro.latency.iter().enumerate() {
        if n == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let ls = analyze_latency(series, now);
        report.push_str(&format!(
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            n + 1,
            event,
            ls.samples,
            ls.avg,
            ls.mad,
            ls.period as f64 / ls.samples.max(1) as f64,
            series.max
        ));
        report.push('\n');
        match event.as_str() {
            "command" => {
                if srv.config.slowlog_log_slower_than < 0 {
                    slowlog_enabled = true;
                    advices += 1;
                } else if srv.config.slowlog_log_slower_than / 1000
                    > srv.config.latency_monitor_threshold
                {
                    slowlog_tuning = true;
                    advices += 1;
                }
                slowlog_inspect = true;
                large_objects = true;
                advices += 2;
            }
            "fast-command" => {
                scheduler = true;
                advices += 1;
            }
            "expire-cycle" => {
                hz = true;
                large_objects = true;
                advices += 2;
            }
            "eviction-del" => {
                large_objects = true;
                advices += 1;
            }
            "eviction-cycle" => {
                mass_eviction = true;
                advices += 1;
            }
            _ => {}
        }
    }
    let events = srv.intro.latency.len();
    if events == 0 && advices == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else if advices == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    } else {
        let threshold_us = srv.config.latency_monitor_threshold.max(0) as u64 * 1000;
        report.push_str("\nI have a few advices for you:\n\n");
        if slowlog_enabled {
            report.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", threshold_us));
        }
        if slowlog_tuning {
            report.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold_us));
        }
        if slowlog_inspect {
            report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if scheduler {
            report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if hz && srv.hz < 100 {
            report.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
        }
        if large_objects {
            report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        if mass_eviction {
            report.push_str("- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n");
        }
    }
    report
}

/// Renders an event's samples as Redis' sparkline: 80 columns, 4 rows of `_o#|` ramp
/// characters, with the sample ages written vertically below.
fn latency_graph_command(srv: &mut Server, c: &mut Client) {
    let event = String::from_utf8_lossy(&c.argv[2]).into_owned();
    let Some(series) = srv.intro.latency.get(&event) else {
        c.out
            .error(&format!("No samples available for event '{}'", event));
        return;
    };
    let now = util::mstime() / 1000;
    let samples: Vec<(u64, String)> = series
        .samples
        .iter()
        .map(|(t, l)| {
            let elapsed = now - t;
            let label = if elapsed < 60 {
                format!("{}s", elapsed)
            } else if elapsed < 3600 {
                format!("{}m", elapsed / 60)
            } else if elapsed < 86400 {
                format!("{}h", elapsed / 3600)
            } else {
                format!("{}d", elapsed / 86400)
            };
            (*l, label)
        })
        .collect();
    let min = samples.iter().map(|s| s.0).min().unwrap_or(0);
    let max = samples.iter().map(|s| s.0).max().unwrap_or(0);
    let mut graph = format!(
        "{} - high {} ms, low {} ms (all time high {} ms)\n",
        event, max, min, series.max
    );
    graph.push_str(&"-".repeat(80));
    graph.push('\n');
    graph.push_str(&sparkline(&samples, min, max, 80, 4));
    c.out.verbatim(graph.as_bytes(), "txt");
}

/// The sparkline renderer of Redis' sparkline.c (fill mode), in our own code: for each chunk
/// of `columns` samples, `rows` lines of ramp characters (`_o#`, with `|` filling below a
/// sample's own row), a blank margin line, then the labels written vertically.
fn sparkline(samples: &[(u64, String)], min: u64, max: u64, columns: usize, rows: usize) -> String {
    const FILL: &[u8] = b"_o#";
    let mut out = String::new();
    let relmax = match max.saturating_sub(min) {
        0 => 1.0,
        r => r as f64,
    };
    let steps = (FILL.len() * rows) as i64;
    for (n, chunk) in samples.chunks(columns).enumerate() {
        if n != 0 {
            out.push('\n');
        }
        let step_of = |v: u64| -> i64 {
            let rel = (v - min) as f64;
            let step = ((rel * steps as f64) as i64 as f64 / relmax) as i64;
            step.clamp(0, steps - 1)
        };
        for row in 0..rows {
            let line: String = chunk
                .iter()
                .map(|(v, _)| {
                    let idx = step_of(*v) - ((rows - row - 1) * FILL.len()) as i64;
                    if (0..FILL.len() as i64).contains(&idx) {
                        FILL[idx as usize] as char
                    } else if idx >= FILL.len() as i64 {
                        '|'
                    } else {
                        ' '
                    }
                })
                .collect();
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(&" ".repeat(chunk.len()));
        out.push('\n');
        let longest = chunk.iter().map(|s| s.1.len()).max().unwrap_or(0);
        for l in 0..longest {
            let line: String = chunk
                .iter()
                .map(|s| s.1.as_bytes().get(l).map(|b| *b as char).unwrap_or(' '))
                .collect();
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn latency_help_command(_srv: &mut Server, c: &mut Client) {
    reply_help(
        c,
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// TIME, LASTSAVE, SHUTDOWN

fn time_command(_srv: &mut Server, c: &mut Client) {
    let us = util::ustime();
    c.out.array(2);
    c.out.bulk(format!("{}", us / 1_000_000).as_bytes());
    c.out.bulk(format!("{}", us % 1_000_000).as_bytes());
}

fn lastsave_command(srv: &mut Server, c: &mut Client) {
    c.out.int(srv.lastsave);
}

/// SHUTDOWN flags, as Redis numbers them (also used by `shutdown-on-sig*`).
pub mod shutdown_flags {
    pub const SAVE: u32 = 1;
    pub const NOSAVE: u32 = 2;
    pub const NOW: u32 = 4;
    pub const FORCE: u32 = 8;
}

fn shutdown_command(srv: &mut Server, c: &mut Client) {
    use crate::server::shutdown::Shutdown;
    use shutdown_flags::*;
    let mut f = 0u32;
    let mut abort = false;
    for a in &c.argv[1..] {
        if util::eq_ic(a, "nosave") {
            f |= NOSAVE;
        } else if util::eq_ic(a, "save") {
            f |= SAVE;
        } else if util::eq_ic(a, "now") {
            f |= NOW;
        } else if util::eq_ic(a, "force") {
            f |= FORCE;
        } else if util::eq_ic(a, "abort") {
            abort = true;
        } else {
            c.out.error(crate::commands::errors::SYNTAX);
            return;
        }
    }
    if (abort && f != 0) || (f & NOSAVE != 0 && f & SAVE != 0) {
        c.out.error(crate::commands::errors::SYNTAX);
        return;
    }
    if abort {
        if srv.abort_shutdown() {
            c.out.ok();
        } else {
            c.out.error("No shutdown in progress.");
        }
        return;
    }
    if f & NOW == 0 && c.has(crate::client::flags::DENY_BLOCKING) {
        c.out
            .error("SHUTDOWN without NOW or ABORT isn't allowed for DENY BLOCKING client");
        return;
    }
    // While a module yields from a long operation, only a shutdown that doesn't save may
    // run (saving would snapshot a dataset in the middle of that operation).
    if f & NOSAVE == 0 {
        if let Some(msg) = crate::module::threads::busy_error() {
            c.out.error(&msg);
            return;
        }
        if let Some(msg) = crate::scripting::busy_error() {
            c.out.error(msg);
            return;
        }
    }
    // Blocked until the shutdown ends: the process exits (no reply), or the shutdown fails
    // or is aborted (the error).
    srv.block_on_shutdown(c);
    match srv.prepare_for_shutdown(f) {
        Shutdown::Exit => srv.exit_code = Some(0),
        Shutdown::Waiting => {}
        Shutdown::Failed => {
            srv.shutdown_waiters.retain(|id| *id != c.id);
            c.flags &= !crate::client::flags::BLOCKED;
            c.out.error(crate::server::shutdown::SHUTDOWN_ERR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_with_file(body: &str) -> (Server, String) {
        let dir = std::env::temp_dir().join(format!(
            "ferrodis-rewrite-{}-{}",
            std::process::id(),
            util::random_hex(8)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.conf").display().to_string();
        std::fs::write(&path, body).unwrap();
        let mut cfg = config::Config::defaults();
        let mut extras = config::LoadExtras::default();
        config::load_from_string(&mut cfg, body, &mut extras).unwrap();
        cfg.config_file = Some(path.clone());
        (Server::new(cfg), path)
    }

    #[test]
    fn rewrite_keeps_layout_and_appends_changes() {
        let (mut srv, path) = server_with_file(
            "# my comment\nport 7000\n\nhash-max-ziplist-entries 21\nsave 900 1\nsave 300 10\nrename-command flushdb badger\n",
        );
        let set = |srv: &mut Server, n: &str, v: &str| {
            let def = config::lookup(n.as_bytes()).unwrap();
            config::set_from_string(&mut srv.config, def, v.as_bytes()).unwrap();
        };
        set(&mut srv, "hash-max-listpack-entries", "100");
        set(&mut srv, "save", "60 5");
        set(&mut srv, "maxmemory", "3mb");
        set(&mut srv, "port", "6379");
        rewrite_config(&mut srv, &path, false).unwrap();
        let out = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "# my comment");
        // The alias line is rewritten in place under the canonical name.
        assert!(lines.contains(&"hash-max-listpack-entries 100"));
        // The default port is still written where it was, since the file had it.
        assert_eq!(lines[1], "port 6379");
        // First save line reused, the second removed.
        assert!(lines.contains(&"save 60 5"));
        assert!(!out.contains("save 300 10"));
        // Directives the file lacked are appended after the signature.
        let sig = lines.iter().position(|l| *l == REWRITE_SIGNATURE).unwrap();
        assert!(lines[sig + 1..].contains(&"maxmemory 3mb"));
        // Lines for things without run-time state are kept verbatim.
        assert!(lines.contains(&"rename-command flushdb badger"));
        // Re-reading the result gives the same values.
        let mut cfg = config::Config::defaults();
        config::load_from_string(&mut cfg, &out, &mut config::LoadExtras::default()).unwrap();
        assert_eq!(cfg.hash_max_listpack_entries, 100);
        assert_eq!(cfg.save_params, vec![(60, 5)]);
        assert_eq!(cfg.maxmemory, 3 << 20);
        let _ = std::fs::remove_dir_all(std::path::Path::new(&path).parent().unwrap());
    }

    #[test]
    fn force_all_rewrite_round_trips_every_directive() {
        let (mut srv, path) = server_with_file("");
        rewrite_config(&mut srv, &path, true).unwrap();
        let out = std::fs::read_to_string(&path).unwrap();
        let mut cfg = config::Config::defaults();
        config::load_from_string(&mut cfg, &out, &mut config::LoadExtras::default())
            .unwrap_or_else(|e| panic!("{:?}", e));
        for def in CONFIGS.iter() {
            assert_eq!(
                config::get_directive(&cfg, def),
                config::get_directive(&srv.config, def),
                "{}",
                def.name
            );
        }
        let _ = std::fs::remove_dir_all(std::path::Path::new(&path).parent().unwrap());
    }
}
