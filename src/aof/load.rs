//! Loading the AOF: the files the manifest lists (base, then incr files in order), each either
//! an RDB image followed by commands or commands only, replayed by a client of the server's
//! own that runs commands without replies or propagation (Redis' AOF client). A file cut short
//! is truncated to its last complete command when `aof-load-truncated` allows (and only the
//! last file may be); a format error or an unknown command stops the server. The log lines
//! are Redis 7.0's, which tests and operators look for. A pre-7.0 `appendonly.aof` is first
//! moved into the directory as the base.

use super::{aof_path, Status};
use crate::client::{flags, Client};
use crate::commands::Special;
use crate::server::Server;

/// How loading one file, or all of them, went (Redis' AOF_* load results).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    NotExist,
    Empty,
    OpenErr,
    Failed,
    Truncated,
}

/// The id of the loading client (Redis' CLIENT_ID_AOF), so code can tell it apart.
pub const AOF_CLIENT_ID: u64 = u64::MAX;

/// Longest line `fgets` reads at once while loading (Redis' AOF_ANNOTATION_LINE_MAX_LEN).
const LINE_MAX: usize = 1024;

/// A reader over a file's bytes with C stdio's semantics where loading depends on them.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// `fgets`: up to and including a newline, at most LINE_MAX-1 bytes; None at the end.
    fn line(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let lim = rest.len().min(LINE_MAX - 1);
        let n = rest[..lim]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(lim, |i| i + 1);
        self.pos += n;
        Some(&rest[..n])
    }

    /// `fread` of exactly `n` bytes; None (at the end of the data) when fewer remain.
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let rest = self.data.len() - self.pos;
        if n > rest {
            self.pos = self.data.len();
            return None;
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Some(s)
    }
}

/// `atoi`/`strtol` on a line: optional sign then digits; None when it overflows.
fn parse_num(b: &[u8]) -> Option<i64> {
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut n: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        n = n.checked_mul(10)?.checked_add((b[i] - b'0') as i64)?;
        i += 1;
    }
    Some(if neg { -n } else { n })
}

/// Why the command loop stopped early.
enum Stop {
    /// The data ended inside a command.
    Eof,
    Format,
    /// Already reported (unknown command).
    Failed,
}

impl Server {
    /// Loads every file of the manifest (Redis' `loadAppendOnlyFiles`), upgrading an old
    /// single-file AOF first.
    pub fn aof_load_files(&mut self, mut events: Option<&mut crate::ae::EventLoop>) -> Outcome {
        let filename = self.config.appendfilename.clone();
        let dirname = self.config.appenddirname.clone();
        if std::path::Path::new(&filename).is_file() {
            let am = &self.aof.manifest;
            let upgrade = !std::path::Path::new(&dirname).is_dir()
                || (am.base.is_none() && am.incr.is_empty())
                || (am.incr.is_empty()
                    && am.base.as_ref().is_some_and(|b| b.name == filename)
                    && !aof_path(&dirname, &filename).exists());
            if upgrade {
                self.aof_upgrade_prepare();
            }
        }
        if self.aof.manifest.base.is_none() && self.aof.manifest.incr.is_empty() {
            return Outcome::NotExist;
        }
        let files: Vec<String> = self
            .aof
            .manifest
            .base
            .iter()
            .chain(&self.aof.manifest.incr)
            .map(|a| a.name.clone())
            .collect();
        let mut total_size = 0u64;
        for name in &files {
            match self.aof_file_size(name) {
                Ok(n) => total_size += n,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Outcome::Failed,
                Err(_) => return Outcome::OpenErr,
            }
        }
        if total_size == 0 {
            return Outcome::Empty;
        }
        self.aof_start_loading(total_size);
        let total = files.len();
        let has_base = self.aof.manifest.base.is_some();
        let mut base_size = 0;
        let mut ret = Outcome::Ok;
        for (i, name) in files.iter().enumerate() {
            let is_base = has_base && i == 0;
            if is_base {
                base_size = self.aof_file_size(name).unwrap_or(0);
            }
            let last = i + 1 == total;
            let start = crate::util::monotonic_us();
            ret = self.aof_load_single(name, events.as_deref_mut());
            if ret == Outcome::Ok || (ret == Outcome::Truncated && last) {
                crate::log_notice!(
                    "DB loaded from {} file {}: {:.3} seconds",
                    if is_base { "base" } else { "incr" },
                    name,
                    (crate::util::monotonic_us() - start) as f64 / 1e6
                );
            }
            if ret == Outcome::Empty && !is_base {
                ret = Outcome::Ok;
            }
            if ret == Outcome::Truncated && !last {
                ret = Outcome::Failed;
                crate::log_warning!("Fatal error: the truncated file is not the last file");
            }
            if matches!(ret, Outcome::OpenErr | Outcome::Failed) {
                break;
            }
        }
        if !matches!(ret, Outcome::OpenErr | Outcome::Failed) {
            self.aof.current_size = total_size;
            self.aof.rewrite_base_size = base_size;
        }
        self.aof_stop_loading();
        // Module listeners: the load succeeded if it read everything (or a truncated tail).
        crate::module::events::fire_loading(
            self,
            if matches!(ret, Outcome::Ok | Outcome::Truncated) {
                crate::module::events::sub::LOADING_ENDED
            } else {
                crate::module::events::sub::LOADING_FAILED
            },
        );
        ret
    }

    fn aof_start_loading(&mut self, total: u64) {
        self.loading = true;
        crate::module::events::fire_loading(self, crate::module::events::sub::LOADING_AOF_START);
        let p = &mut self.persist;
        p.loading_start_time = crate::util::mstime() / 1000;
        p.loading_total_bytes = total;
        p.loading_loaded_bytes = 0;
        p.loading_rdb_used_mem = 0;
    }

    fn aof_stop_loading(&mut self) {
        self.loading = false;
    }

    /// Moves a pre-7.0 `appendonly.aof` from `dir` into the AOF directory as its base, the
    /// manifest written first so an interrupted upgrade resumes (Redis' `aofUpgradePrepare`).
    fn aof_upgrade_prepare(&mut self) {
        let filename = self.config.appendfilename.clone();
        let dirname = self.config.appenddirname.clone();
        if let Err(e) = super::dir_create_if_missing(&dirname) {
            crate::log_warning!(
                "Can't open or create append-only dir {}: {}",
                dirname,
                crate::rdb::persist::strerror(&e)
            );
            std::process::exit(1);
        }
        let am = &mut self.aof.manifest;
        am.base = Some(super::manifest::AofInfo {
            name: filename.clone(),
            seq: 1,
            kind: super::manifest::FileType::Base,
        });
        am.curr_base_seq = 1;
        am.dirty = true;
        if self.aof_persist_manifest().is_err() {
            std::process::exit(1);
        }
        if let Err(e) = std::fs::rename(&filename, aof_path(&dirname, &filename)) {
            crate::log_warning!(
                "Error trying to move the old AOF file {} into dir {}: {}",
                filename,
                dirname,
                crate::rdb::persist::strerror(&e)
            );
            std::process::exit(1);
        }
        crate::log_notice!(
            "Successfully migrated an old-style AOF file ({}) into the AOF directory ({}).",
            filename,
            dirname
        );
    }

    /// Replays one file (Redis' `loadSingleAppendOnlyFile`).
    pub fn aof_load_single(
        &mut self,
        name: &str,
        events: Option<&mut crate::ae::EventLoop>,
    ) -> Outcome {
        let path = aof_path(&self.config.appenddirname, name);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::log_warning!(
                    "The append log file {} doesn't exist: {}",
                    name,
                    crate::rdb::persist::strerror(&e)
                );
                return Outcome::NotExist;
            }
            Err(e) => {
                crate::log_warning!(
                    "Fatal error: can't open the append log file {} for reading: {}",
                    name,
                    crate::rdb::persist::strerror(&e)
                );
                return Outcome::OpenErr;
            }
        };
        if data.is_empty() {
            return Outcome::Empty;
        }
        let old_status = self.aof.status;
        let old_prop = self.prop.enabled;
        // Nothing replayed is written anywhere: the commands are already in these files.
        self.aof.status = Status::Off;
        self.prop.enabled = false;
        let truncate_ok =
            crate::rdb::file::stored_config(&self.config, "aof-load-truncated") == "yes";
        let ret = self.aof_replay(name, &path, &data, truncate_ok, events);
        self.aof.status = old_status;
        self.prop.enabled = old_prop;
        ret
    }

    fn aof_replay(
        &mut self,
        name: &str,
        path: &std::path::Path,
        data: &[u8],
        truncate_ok: bool,
        mut events: Option<&mut crate::ae::EventLoop>,
    ) -> Outcome {
        let base_loaded = self.persist.loading_loaded_bytes;
        let mut cur = Cursor { data, pos: 0 };
        if data.starts_with(b"REDIS") {
            let old_style = name == self.config.appendfilename;
            if old_style {
                crate::log_notice!("Reading RDB preamble from AOF file...");
            } else {
                crate::log_notice!("Reading RDB base file on AOF loading...");
            }
            // Clients are served (mostly with -LOADING) while a big base loads, as for an RDB.
            let interval = crate::rdb::file::stored_config(
                &self.config,
                "loading-process-events-interval-bytes",
            )
            .parse::<u64>()
            .unwrap_or(2 * 1024 * 1024)
            .max(1024);
            let mut last_events = 0u64;
            let ev = &mut events;
            let mut hook = |srv: &mut Server, pos: u64| {
                srv.persist.loading_loaded_bytes = base_loaded + pos;
                if pos - last_events >= interval {
                    last_events = pos;
                    if let Some(el) = ev.as_deref_mut() {
                        el.process_events_while_blocked(srv);
                    }
                    // The base of an AOF is reported as RDB progress, as in Redis.
                    crate::module::events::fire_loading_progress(srv, false);
                }
            };
            let loaded = crate::rdb::file::load_ext(self, data, false, true, &mut hook);
            match loaded {
                Ok(stats) => {
                    cur.pos = stats.consumed as usize;
                    if old_style {
                        crate::log_notice!("Reading the remaining AOF tail...");
                    }
                }
                Err(_) => {
                    if old_style {
                        crate::log_warning!("Error reading the RDB preamble of the AOF file {}, AOF loading aborted", name);
                    } else {
                        crate::log_warning!(
                            "Error reading the RDB base file {}, AOF loading aborted",
                            name
                        );
                    }
                    return Outcome::Failed;
                }
            }
        }
        let mut fake = Client::fake(AOF_CLIENT_ID, crate::util::mstime());
        fake.flags |= flags::DENY_BLOCKING;
        fake.out.enabled = false;
        let load_delay = crate::rdb::file::stored_config(&self.config, "key-load-delay")
            .parse::<i64>()
            .unwrap_or(0);
        let mut rng = rand::thread_rng();
        let mut valid_up_to = 0usize;
        let mut valid_before_multi = 0usize;
        let mut loops = 0u64;
        let stop: Option<Stop> = loop {
            if loops.is_multiple_of(1024) {
                self.persist.loading_loaded_bytes = base_loaded + cur.pos as u64;
                if let Some(el) = events.as_deref_mut() {
                    el.process_events_while_blocked(self);
                }
                crate::module::events::fire_loading_progress(self, true);
            }
            loops += 1;
            let Some(line) = cur.line() else {
                break None;
            };
            if line[0] == b'#' {
                continue;
            }
            if line[0] != b'*' {
                break Some(Stop::Format);
            }
            if line.len() == 1 {
                break Some(Stop::Eof);
            }
            let argc = parse_num(&line[1..]).unwrap_or(0);
            if argc < 1 {
                break Some(Stop::Format);
            }
            let mut argv: Vec<Vec<u8>> = Vec::with_capacity((argc as usize).min(1024));
            let mut bad: Option<Stop> = None;
            for _ in 0..argc {
                let Some(l) = cur.line() else {
                    bad = Some(Stop::Eof);
                    break;
                };
                if l[0] != b'$' {
                    bad = Some(Stop::Format);
                    break;
                }
                let len = match parse_num(&l[1..]) {
                    Some(n) if n >= 0 => n as usize,
                    // strtol into an unsigned length: no read of that size can succeed.
                    _ => {
                        bad = Some(Stop::Eof);
                        cur.pos = data.len();
                        break;
                    }
                };
                let Some(arg) = cur.take(len) else {
                    bad = Some(Stop::Eof);
                    break;
                };
                argv.push(arg.to_vec());
                if cur.take(2).is_none() {
                    bad = Some(Stop::Eof);
                    break;
                }
            }
            if let Some(b) = bad {
                break Some(b);
            }
            let Some(id) = self.commands.lookup(&argv) else {
                crate::log_warning!(
                    "Unknown command '{}' reading the append only file {}",
                    String::from_utf8_lossy(&argv[0]),
                    name
                );
                break Some(Stop::Failed);
            };
            let (arity, special) = {
                let cmd = &self.commands.cmds[id];
                (cmd.spec.arity, cmd.special)
            };
            let n = argv.len() as i32;
            if (arity > 0 && arity != n) || n < -arity {
                break Some(Stop::Format);
            }
            if special == Special::Multi {
                valid_before_multi = valid_up_to;
            }
            fake.argv = argv;
            fake.last_cmd = Some(id);
            if fake.has(flags::MULTI) && special != Special::Exec {
                self.queue_multi_command(&mut fake, id);
            } else {
                self.aof_run_command(&mut fake, id);
            }
            fake.argv.clear();
            fake.out.clear();
            fake.out.errors.clear();
            if truncate_ok {
                valid_up_to = cur.pos;
            }
            if load_delay != 0 {
                crate::rdb::file::debug_delay(load_delay, &mut rng);
            }
        };
        let stop = match stop {
            None if fake.has(flags::MULTI) => {
                crate::log_warning!(
                    "Revert incomplete MULTI/EXEC transaction in AOF file {}",
                    name
                );
                valid_up_to = valid_before_multi;
                Some(Stop::Eof)
            }
            s => s,
        };
        if fake.has(flags::MULTI) {
            self.discard_transaction(&mut fake);
        }
        self.persist.loading_loaded_bytes = base_loaded + cur.pos as u64;
        match stop {
            None => Outcome::Ok,
            Some(Stop::Failed) => Outcome::Failed,
            Some(Stop::Format) => {
                crate::log_warning!("Bad file format reading the append only file {}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>", name);
                Outcome::Failed
            }
            Some(Stop::Eof) => {
                if truncate_ok {
                    crate::log_warning!(
                        "!!! Warning: short read while loading the AOF file {}!!!",
                        name
                    );
                    crate::log_warning!(
                        "!!! Truncating the AOF {} at offset {} !!!",
                        name,
                        valid_up_to
                    );
                    let truncated = std::fs::OpenOptions::new()
                        .write(true)
                        .open(path)
                        .and_then(|f| f.set_len(valid_up_to as u64));
                    match truncated {
                        Ok(()) => {
                            crate::log_warning!(
                                "AOF {} loaded anyway because aof-load-truncated is enabled",
                                name
                            );
                            return Outcome::Truncated;
                        }
                        Err(e) => crate::log_warning!(
                            "Error truncating the AOF file {}: {}",
                            name,
                            crate::rdb::persist::strerror(&e)
                        ),
                    }
                }
                crate::log_warning!("Unexpected end of file reading the append only file {}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.", name);
                Outcome::Failed
            }
        }
    }

    /// Runs one replayed command the way Redis' loader does: its implementation directly
    /// (no statistics, slow log or propagation), time frozen as in any command.
    fn aof_run_command(&mut self, c: &mut Client, id: crate::commands::CmdId) {
        let Some(proc_) = self.commands.cmds[id].proc_ else {
            return;
        };
        self.prop.depth += 1;
        let ctx = self.enter_client_context(c);
        let outer_frozen = self.frozen_ms;
        self.frozen_ms = Some(crate::util::mstime());
        // Module commands share one proc, which finds its command here.
        let prev_running = std::mem::replace(&mut self.running_cmd, id);
        proc_(self, c);
        self.running_cmd = prev_running;
        self.leave_client_context(c, ctx);
        self.frozen_ms = outer_frozen;
        self.prop.depth -= 1;
        // Whatever the command queued for propagation is dropped: loading propagates nothing.
        let _ = self.prop.flush();
        c.flags &= !(flags::FORCE_AOF | flags::FORCE_REPL | flags::PREVENT_PROP);
        c.propagate_argv = None;
    }

    /// Start-up loading (Redis' `loadDataFromDisk` with the AOF on): exits on failure.
    pub fn aof_load_at_startup(&mut self, events: Option<&mut crate::ae::EventLoop>) {
        let start = crate::util::monotonic_us();
        let ret = self.aof_load_files(events);
        if matches!(ret, Outcome::Failed | Outcome::OpenErr) {
            std::process::exit(1);
        }
        if ret != Outcome::NotExist {
            crate::log_notice!(
                "DB loaded from append only file: {:.3} seconds",
                (crate::util::monotonic_us() - start) as f64 / 1e6
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A server whose AOF directory is a fresh temp directory.
    fn server(tag: &str, truncated_ok: bool) -> (Server, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("ferrodis-aof-test-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut srv = crate::commands::test_support::test_server();
        srv.config.appenddirname = dir.display().to_string();
        srv.config.other.insert(
            "aof-load-truncated",
            if truncated_ok { "yes" } else { "no" }.into(),
        );
        (srv, dir)
    }

    fn cmd(args: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        crate::aof::cat_command(&mut out, &argv);
        out
    }

    fn get(srv: &mut Server, key: &str) -> Option<Vec<u8>> {
        let o = srv.dbs[0].dict.get(key.as_bytes())?;
        match &o.value {
            crate::types::Value::Str(s) => Some(s.with_bytes(|b| b.to_vec())),
            _ => None,
        }
    }

    #[test]
    fn truncated_file_loads_up_to_the_last_whole_command() {
        let (mut srv, dir) = server("trunc", true);
        let mut data = cmd(&["SET", "foo", "hello"]);
        let good = data.len();
        let second = cmd(&["SET", "bar", "world"]);
        data.extend_from_slice(&second[..second.len() - 1]);
        std::fs::write(dir.join("a.aof"), &data).unwrap();
        assert_eq!(srv.aof_load_single("a.aof", None), Outcome::Truncated);
        assert_eq!(get(&mut srv, "foo"), Some(b"hello".to_vec()));
        assert_eq!(get(&mut srv, "bar"), None);
        assert_eq!(
            std::fs::metadata(dir.join("a.aof")).unwrap().len(),
            good as u64
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn truncated_file_fails_without_aof_load_truncated() {
        let (mut srv, dir) = server("trunc-no", false);
        let mut data = cmd(&["SET", "foo", "hello"]);
        data.extend_from_slice(b"*3\r\n$3\r\nSET");
        std::fs::write(dir.join("a.aof"), &data).unwrap();
        assert_eq!(srv.aof_load_single("a.aof", None), Outcome::Failed);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unfinished_multi_is_reverted() {
        let (mut srv, dir) = server("multi", true);
        let mut data = cmd(&["SET", "foo", "hello"]);
        let good = data.len();
        data.extend(cmd(&["MULTI"]));
        data.extend(cmd(&["SET", "bar", "world"]));
        std::fs::write(dir.join("a.aof"), &data).unwrap();
        assert_eq!(srv.aof_load_single("a.aof", None), Outcome::Truncated);
        assert_eq!(get(&mut srv, "bar"), None);
        assert_eq!(
            std::fs::metadata(dir.join("a.aof")).unwrap().len(),
            good as u64
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn format_errors_and_unknown_commands_fail() {
        let (mut srv, dir) = server("fmt", true);
        let mut data = cmd(&["SET", "foo", "hello"]);
        data.extend_from_slice(b"!!!");
        std::fs::write(dir.join("a.aof"), &data).unwrap();
        assert_eq!(srv.aof_load_single("a.aof", None), Outcome::Failed);
        std::fs::write(dir.join("b.aof"), cmd(&["NOSUCHCMD", "x"])).unwrap();
        assert_eq!(srv.aof_load_single("b.aof", None), Outcome::Failed);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Random and cut-short input must end in an outcome, never a panic.
    #[test]
    fn loader_survives_random_and_truncated_input() {
        let (mut srv, dir) = server("fuzz", false);
        let mut valid = Vec::new();
        valid.extend(cmd(&["SELECT", "1"]));
        valid.extend(cmd(&["SET", "k", "v"]));
        valid.extend(cmd(&["RPUSH", "l", "a", "b", "c"]));
        valid.extend(cmd(&["MULTI"]));
        valid.extend(cmd(&["HSET", "h", "f", "v"]));
        valid.extend(cmd(&["EXEC"]));
        valid.extend(b"#TS:1628217470\r\n");
        valid.extend(cmd(&["PEXPIREAT", "k", "1000"]));
        valid.extend(cmd(&["ZADD", "z", "1", "m"]));
        let path = dir.join("f.aof");
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut inputs: Vec<Vec<u8>> = (1..valid.len()).map(|n| valid[..n].to_vec()).collect();
        for _ in 0..300 {
            let mut v = valid.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..v.len());
                v[i] = *b"*$\r\n0123456789-#"
                    .get(rng.gen_range(0..16))
                    .unwrap_or(&b'x');
            }
            inputs.push(v);
        }
        for _ in 0..100 {
            let n = rng.gen_range(1..200);
            inputs.push((0..n).map(|_| rng.gen()).collect());
        }
        for input in inputs {
            std::fs::write(&path, &input).unwrap();
            let _ = srv.aof_load_single("f.aof", None);
            srv.empty_data(None);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cursor_reads_lines_like_fgets() {
        let mut c = Cursor {
            data: b"*1\r\n$4\r\nPING\r\n",
            pos: 0,
        };
        assert_eq!(c.line(), Some(&b"*1\r\n"[..]));
        assert_eq!(c.line(), Some(&b"$4\r\n"[..]));
        assert_eq!(c.take(4), Some(&b"PING"[..]));
        assert_eq!(c.take(2), Some(&b"\r\n"[..]));
        assert_eq!(c.line(), None);
        let mut c = Cursor {
            data: b"$3\r\nab",
            pos: 4,
        };
        assert_eq!(c.take(3), None);
        assert_eq!(c.pos, 6);
    }

    #[test]
    fn numbers_parse_like_atoi() {
        assert_eq!(parse_num(b"3\r\n"), Some(3));
        assert_eq!(parse_num(b"-1\r\n"), Some(-1));
        assert_eq!(parse_num(b"x"), Some(0));
        assert_eq!(parse_num(b"99999999999999999999999"), None);
    }
}
