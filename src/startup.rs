//! Start-up as redis-server does it: command line (`[config file] [--name value ...] [-]`),
//! config loading with Redis' fatal-error report, daemonizing, the pid file, the banner and log
//! lines tools wait for ("PID:", "Ready to accept connections"), then the event loop.

use std::io::Read;

use crate::config::{self, Config, LoadExtras};
use crate::server::{log, Server, FERRODIS_VERSION, REDIS_VERSION};

fn usage() -> i32 {
    eprintln!("Usage: ./ferrodis-server [/path/to/redis.conf] [options] [-]");
    eprintln!("       ./ferrodis-server - (read config from stdin)");
    eprintln!("       ./ferrodis-server -v or --version");
    eprintln!("       ./ferrodis-server -h or --help");
    eprintln!();
    eprintln!("Examples:");
    eprintln!("       ./ferrodis-server (run the server with default conf)");
    eprintln!("       echo 'maxmemory 128mb' | ./ferrodis-server -");
    eprintln!("       ./ferrodis-server /etc/redis/6379.conf");
    eprintln!("       ./ferrodis-server --port 7777");
    eprintln!("       ./ferrodis-server /etc/myredis.conf --loglevel verbose -");
    1
}

/// Turns the command-line arguments into config-file text, as redis-server's main() does:
/// each `--name` starts a line and the following arguments are its (quoted) values. A `--name`
/// alone in its argument makes the next argument its value even if it starts with `--`
/// (so `--proc-title-template --x` works), except for `--save` followed by another option or
/// last, which means "no save points". `first` is the index of the first option in `args`
/// (after the program and the config file). Returns the text and whether to read stdin.
pub fn options_from_args(args: &[String], first: usize) -> (String, bool) {
    let mut out = String::new();
    let mut from_stdin = false;
    let mut handled_last = true;
    let last = args.len().saturating_sub(1);
    for j in first..args.len() {
        let a = &args[j];
        if a == "-" && (j == 1 || j == last) {
            from_stdin = true;
        } else if handled_last && a.starts_with("--") {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&a[2..]);
            out.push(' ');
            let words = crate::util::split_args(a.as_bytes()).unwrap_or_default();
            if words.len() == 1 {
                handled_last = false;
                let next_is_option = j != last && args[j + 1].starts_with("--");
                if a.eq_ignore_ascii_case("--save") && (next_is_option || j == last) {
                    out.push_str("\"\"");
                    handled_last = next_is_option;
                }
            } else {
                handled_last = true;
            }
        } else {
            let mut quoted = Vec::new();
            crate::util::push_repr(&mut quoted, a.as_bytes());
            out.push_str(&String::from_utf8_lossy(&quoted));
            out.push(' ');
            handled_last = true;
        }
    }
    (out, from_stdin)
}

fn fatal_config_error(e: &config::LoadError) -> i32 {
    eprintln!(
        "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***",
        REDIS_VERSION
    );
    if e.line_no > 0 {
        eprintln!("Reading the configuration file, at line {}", e.line_no);
        eprintln!(">>> '{}'", e.line);
    }
    eprintln!("{}", e.reason);
    1
}

/// Loads the configuration from the command line. Returns the config and the extras (renamed
/// commands, modules), or the exit code.
pub fn load_config(args: &[String]) -> Result<(Config, LoadExtras), i32> {
    let mut cfg = Config::defaults();
    let mut extras = LoadExtras::default();
    let mut text = String::new();
    let mut first = 1;
    let mut config_file = None;
    if let Some(path) = args.get(1).filter(|a| !a.starts_with('-')) {
        match std::fs::read_to_string(path) {
            Ok(body) => text.push_str(&body),
            Err(e) => {
                eprintln!("Fatal error, can't open config file '{}': {}", path, e);
                return Err(1);
            }
        }
        config_file = Some(
            std::fs::canonicalize(path)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| path.clone()),
        );
        first = 2;
    }
    let (options, read_stdin) = options_from_args(args, first);
    if read_stdin {
        let mut s = String::new();
        let _ = std::io::stdin().read_to_string(&mut s);
        text.push_str(&s);
    }
    text.push('\n');
    text.push_str(&options);
    if let Err(e) = config::load_from_string(&mut cfg, &text, &mut extras) {
        return Err(fatal_config_error(&e));
    }
    cfg.config_file = config_file;
    Ok((cfg, extras))
}

fn daemonize() {
    // SAFETY: called before any thread is started; fork/setsid/dup2 on the process's own fds.
    unsafe {
        match libc::fork() {
            -1 => return,
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd != -1 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}

fn banner(srv: &Server) -> String {
    let mode = if srv.cluster.is_some() {
        "cluster"
    } else {
        "standalone"
    };
    format!(
        "\n\
         \x20  ferrodis {fv} (Redis {rv} compatible)  64 bit\n\
         \x20  Running in {mode} mode\n\
         \x20  Port: {port}\n\
         \x20  PID: {pid}\n\n",
        fv = FERRODIS_VERSION,
        rv = REDIS_VERSION,
        mode = mode,
        port = srv.config.port,
        pid = srv.pid
    )
}

/// File descriptors kept for purposes other than clients (listeners, logs, persistence).
const MIN_RESERVED_FDS: u64 = 32;

/// Raises the open-files limit to what `maxclients` needs, or lowers `maxclients` to what the
/// system allows (Redis' `adjustOpenFilesLimit`).
pub fn adjust_open_files_limit(cfg: &mut Config) {
    let wanted = cfg.maxclients as u64 + MIN_RESERVED_FDS;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        crate::log_warning!("Unable to obtain the current NOFILE limit, assuming 1024 and setting the max clients configuration accordingly.");
        cfg.maxclients = (1024 - MIN_RESERVED_FDS) as i64;
        return;
    }
    let old = lim.rlim_cur;
    if old >= wanted {
        return;
    }
    let mut best = wanted;
    let mut last_err = None;
    while best > old {
        let l = libc::rlimit {
            rlim_cur: best,
            rlim_max: best.max(lim.rlim_max),
        };
        // SAFETY: see above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) } == 0 {
            break;
        }
        last_err = Some(std::io::Error::last_os_error());
        best = best.saturating_sub(16);
    }
    if best < old {
        best = old;
    }
    if best < wanted {
        let before = cfg.maxclients;
        if best <= MIN_RESERVED_FDS {
            crate::log_warning!(
                "Your current 'ulimit -n' of {} is not enough for the server to start. Please increase your open file limit to at least {}. Exiting.",
                old,
                wanted
            );
            std::process::exit(1);
        }
        cfg.maxclients = (best - MIN_RESERVED_FDS) as i64;
        crate::log_warning!(
            "You requested maxclients of {} requiring at least {} max file descriptors.",
            before,
            wanted
        );
        crate::log_warning!(
            "Server can't set maximum open files to {} because of OS error: {}.",
            wanted,
            last_err.map(|e| e.to_string()).unwrap_or_default()
        );
        crate::log_warning!(
            "Current maximum open files is {}. maxclients has been reduced to {} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
            best,
            cfg.maxclients
        );
    } else {
        crate::log_notice!(
            "Increased maximum number of open files to {} (it was originally set to {}).",
            wanted,
            old
        );
    }
}

/// Loads the dataset at start-up (Redis' `loadDataFromDisk`): from the AOF when it is on
/// (it is the more complete copy), else from `dir`/`dbfilename`. A missing file starts
/// empty; an unreadable or refused file stops start-up; a corrupt one ends the process inside
/// the loader, as in Redis.
fn load_data_from_disk(srv: &mut Server, el: &mut crate::ae::EventLoop) -> Result<(), ()> {
    if srv.aof.status == crate::aof::Status::On {
        srv.aof_load_at_startup(Some(el));
        return Ok(());
    }
    let start = crate::util::monotonic_us();
    // A master starts its backlog before loading: keys found expired go there as deletions,
    // and if the snapshot names our replication history, replicas continue it after the
    // restart (`repl_after_startup_load`).
    let master = srv.i_am_master();
    if master {
        srv.repl_create_backlog();
    }
    match srv.rdb_load_file(false, master, Some(el)) {
        Ok(true) => {
            crate::log_notice!(
                "DB loaded from disk: {:.3} seconds",
                (crate::util::monotonic_us() - start) as f64 / 1e6
            );
            Ok(())
        }
        Ok(false) => Ok(()),
        Err(e) => {
            crate::log_warning!("Fatal error loading the DB: {}. Exiting.", e);
            Err(())
        }
    }
}

pub fn main(args: Vec<String>) -> i32 {
    if args.len() >= 2 {
        match args[1].as_str() {
            "-v" | "--version" => {
                println!(
                    "Redis server v={} sha=00000000:0 malloc=jemalloc bits=64 build=ferrodis-{}",
                    REDIS_VERSION, FERRODIS_VERSION
                );
                return 0;
            }
            "-h" | "--help" => return usage(),
            _ => {}
        }
    }
    let (cfg, extras) = match load_config(&args) {
        Ok(v) => v,
        Err(code) => return code,
    };
    if cfg.daemonize {
        daemonize();
    }
    log::configure(cfg.loglevel, &cfg.logfile);
    if cfg.syslog_enabled {
        log::enable_syslog(&cfg.syslog_ident, cfg.syslog_facility);
    }
    crate::server::crash::install_panic_hook();
    crate::server::crash::set_exit_on_panic(cfg.use_exit_on_panic);
    if cfg.crash_log_enabled {
        crate::server::crash::install_crash_handlers();
    }
    crate::log_warning!("oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo");
    crate::log_warning!(
        "Redis version={}, bits=64, commit=00000000, modified=0, pid={}, just started (ferrodis {})",
        REDIS_VERSION,
        std::process::id(),
        FERRODIS_VERSION
    );
    if args.len() == 1 {
        crate::log_warning!("Warning: no config file specified, using the default config. In order to specify a config file use ./ferrodis-server /path/to/redis.conf");
    } else {
        crate::log_warning!("Configuration loaded");
    }
    let mut cfg = cfg;
    adjust_open_files_limit(&mut cfg);
    let mut srv = Server::new(cfg);
    crate::server::proctitle::set(&srv, None);
    srv.publish_maxmemory();
    for (old, new) in &extras.rename_commands {
        if let Err(e) = srv.commands.rename(old, new) {
            eprintln!(
                "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\n{}",
                REDIS_VERSION, e
            );
            return 1;
        }
    }
    // Cluster mode: the node's identity and view come from its config file before anything
    // (modules, the dataset) needs them.
    if srv.config.value("cluster-enabled") == "yes" {
        crate::db::enable_slot_index();
        if let Err(e) = srv.cluster_init() {
            crate::log_warning!("{}", e);
            return 1;
        }
    }
    // The main thread holds the modules' GIL from before any module (and its threads)
    // exists; the event loop releases it only while waiting.
    crate::module::threads::main_thread_init(&mut srv);
    let listeners = match crate::ae::open_listeners(&mut srv) {
        Ok(l) => l,
        Err(e) => {
            crate::log_warning!("{}", e);
            return 1;
        }
    };
    if srv.config.daemonize || !srv.config.pidfile.is_empty() {
        let path = if srv.config.pidfile.is_empty() {
            "/var/run/redis.pid".to_string()
        } else {
            srv.config.pidfile.clone()
        };
        let _ = std::fs::write(&path, format!("{}\n", std::process::id()));
    }
    if srv.config.always_show_logo || log::enabled(log::NOTICE) {
        if srv.config.always_show_logo {
            log::raw(&banner(&srv));
        } else {
            let mode = if srv.cluster.is_some() {
                "cluster"
            } else {
                "standalone"
            };
            crate::log_notice!("Running mode={}, port={}.", mode, srv.config.port);
        }
    }
    if let Err(e) = srv.set_oom_score_adj(None) {
        crate::log_warning!("{}", e);
    }
    crate::commands::server::set_jemalloc_bg_thread(&srv.config);
    srv.initial_memory_usage = srv.used_memory();
    crate::log_notice!("Server initialized");
    // Modules load after the banner (tools wait for its PID line) and before the dataset, as
    // in Redis: their data types must exist to load it.
    for (name, value) in &extras.module_configs {
        srv.modules.configs.queue(name, value);
    }
    crate::module::load_from_config(&mut srv, &extras.load_modules);
    // Users load once modules exist (their commands may be named in rules), as in Redis.
    let _ = crate::commands::server::apply_acl_pubsub_default(&mut srv);
    let _ = crate::commands::server::apply_requirepass(&mut srv);
    srv.acl.to_load = extras.users.clone();
    if let Err(e) = crate::acl::file::load_at_startup(&mut srv) {
        crate::log_warning!("{}", e);
        return 1;
    }
    let mut el = match crate::ae::EventLoop::new(&mut srv, listeners) {
        Ok(el) => el,
        Err(code) => return code,
    };
    if let Err(e) = srv.cluster_register() {
        crate::log_warning!("Failed registering the cluster bus listeners: {}", e);
        return 1;
    }
    if let Some((host, port)) = srv.config.replicaof.clone() {
        srv.repl_configure_master_at_startup(&host, port);
    }
    if srv.config.appendonly {
        srv.aof.status = crate::aof::Status::On;
        srv.aof_update_propagation();
    }
    srv.aof_load_manifest_from_disk();
    if load_data_from_disk(&mut srv, &mut el).is_err() {
        return 1;
    }
    srv.aof_open_on_server_start();
    srv.aof_del_history_files();
    if !srv.cluster_verify_config_with_data() {
        crate::log_warning!(
            "You can't have keys in a DB different than DB 0 when in Cluster mode. Exiting."
        );
        return 1;
    }
    srv.repl_after_startup_load();
    crate::log_notice!("Ready to accept connections");
    el.run(&mut srv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_options_become_config_lines() {
        let args: Vec<String> = [
            "prog",
            "--port",
            "7777",
            "--save",
            "--loglevel",
            "verbose",
            "--proc-title-template",
            "--x",
            "--maxmemory 1mb",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (text, stdin) = options_from_args(&args, 1);
        assert!(!stdin);
        assert_eq!(
            text,
            "port \"7777\" \nsave \"\"\nloglevel \"verbose\" \nproc-title-template \"--x\" \nmaxmemory 1mb "
        );
        let args: Vec<String> = ["prog", "--port", "--bla", "--loglevel", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            options_from_args(&args, 1).0,
            "port \"--bla\" \nloglevel \"x\" "
        );
    }
}
