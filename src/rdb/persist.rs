//! Snapshots on disk: SAVE in the foreground, BGSAVE in a forked child (the child writes
//! `temp-<pid>.rdb` and renames it over `dbfilename`, the parent reaps it in the cron), the
//! `save` points that trigger BGSAVE, loading at start-up and by DEBUG RELOAD, and the state
//! INFO persistence and LASTSAVE report. Behaviour and log lines follow Redis 7.0's rdb.c and
//! server.c, since tests and operators watch them.

use crate::server::fork::{
    ChildInfo, ChildInfoKind, ChildInfoSender, ChildKind, Forked, CHILD_INFO_LEN,
    CHILD_NOERROR_RETVAL,
};
use crate::server::Server;

/// Seconds to wait after a failed BGSAVE before save points may trigger another one.
const BGSAVE_RETRY_DELAY: i64 = 5;

/// Persistence state kept by the server.
#[derive(Debug)]
pub struct PersistState {
    /// The BGSAVE child, while one runs.
    pub child_pid: Option<libc::pid_t>,
    /// When the running BGSAVE started (unix seconds).
    pub save_time_start: i64,
    /// Duration of the last BGSAVE in seconds, -1 before the first.
    pub save_time_last: i64,
    /// Whether the last background save succeeded (INFO rdb_last_bgsave_status, MISCONF).
    pub bgsave_ok: bool,
    /// When the last BGSAVE was attempted (unix seconds).
    pub lastbgsave_try: i64,
    /// `dirty` when the running BGSAVE started: changes made meanwhile stay unsaved.
    pub dirty_before_bgsave: i64,
    /// BGSAVE SCHEDULE (or BGSAVE inside MULTI) waits for the cron.
    pub bgsave_scheduled: bool,
    /// Saves started (INFO rdb_saves).
    pub rdb_saves: u64,
    /// INFO stats `latest_fork_usec` / `total_forks`.
    pub latest_fork_usec: u64,
    pub total_forks: u64,
    pub last_load: crate::rdb::file::LoadStats,
    /// The running child is a module's (RedisModule_Fork).
    pub module_child: bool,
    /// The progress a module child reported (0..1; INFO current_fork_perc).
    pub module_progress: f64,
    /// Peak copy-on-write of the last module child that exited through ExitFromChild.
    pub module_last_cow_size: u64,
    /// Read end of the running child's progress pipe.
    pub child_info_fd: Option<libc::c_int>,
    /// Copy-on-write figures the child reported (bytes), and when (monotonic us).
    pub current_cow_peak: u64,
    pub current_cow_size: u64,
    pub current_cow_updated_us: u64,
    pub current_save_keys_processed: u64,
    /// Keys in the dataset when the child started.
    pub current_save_keys_total: u64,
    /// Peak copy-on-write of the last successful BGSAVE.
    pub rdb_last_cow_size: u64,
    /// Progress of the load in progress (INFO `loading_*`).
    pub loading_start_time: i64,
    pub loading_total_bytes: u64,
    pub loading_loaded_bytes: u64,
    pub loading_rdb_used_mem: u64,
}

impl Default for PersistState {
    fn default() -> Self {
        PersistState {
            child_pid: None,
            save_time_start: -1,
            save_time_last: -1,
            bgsave_ok: true,
            lastbgsave_try: 0,
            dirty_before_bgsave: 0,
            bgsave_scheduled: false,
            rdb_saves: 0,
            latest_fork_usec: 0,
            total_forks: 0,
            last_load: Default::default(),
            module_child: false,
            module_progress: 0.0,
            module_last_cow_size: 0,
            child_info_fd: None,
            current_cow_peak: 0,
            current_cow_size: 0,
            current_cow_updated_us: 0,
            current_save_keys_processed: 0,
            current_save_keys_total: 0,
            rdb_last_cow_size: 0,
            loading_start_time: 0,
            loading_total_bytes: 0,
            loading_loaded_bytes: 0,
            loading_rdb_used_mem: 0,
        }
    }
}

/// An OS error as C's strerror words it (Redis' log lines print that, without Rust's
/// " (os error N)" suffix).
pub fn strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            // SAFETY: strerror returns a pointer to a NUL-terminated static or thread-local
            // message, copied out at once.
            unsafe { std::ffi::CStr::from_ptr(libc::strerror(code)) }
                .to_string_lossy()
                .into_owned()
        }
        None => e.to_string(),
    }
}

fn errno_text() -> String {
    strerror(&std::io::Error::last_os_error())
}

fn cwd() -> String {
    std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Writes the snapshot to `temp-<pid>.rdb`, syncs it and renames it over `filename`, logging
/// failures as Redis does. Used by the foreground SAVE and by the BGSAVE child.
fn write_snapshot(srv: &Server, filename: &str, on_key: &mut dyn FnMut(u64)) -> Result<(), ()> {
    use std::io::Write;
    let tmp = format!("temp-{}.rdb", std::process::id());
    let file = match std::fs::File::create(&tmp) {
        Ok(f) => f,
        Err(e) => {
            crate::log_warning!(
                "Failed opening the temp RDB file {} (in server root dir {}) for saving: {}",
                tmp,
                cwd(),
                strerror(&e)
            );
            return Err(());
        }
    };
    let fail = |op: &str, e: std::io::Error| {
        crate::log_warning!("Write error saving DB on disk({}): {}", op, strerror(&e));
        let _ = std::fs::remove_file(&tmp);
        Err(())
    };
    let out = std::io::BufWriter::with_capacity(64 * 1024, file);
    let file = match crate::rdb::file::save(srv, out, on_key) {
        Ok(mut w) => match w.flush() {
            Ok(()) => w.into_inner().map_err(|e| e.into_error()),
            Err(e) => return fail("fflush", e),
        },
        Err(e) => return fail("rdbSaveRio", e),
    };
    let file = match file {
        Ok(f) => f,
        Err(e) => return fail("fflush", e),
    };
    if let Err(e) = file.sync_all() {
        return fail("fsync", e);
    }
    drop(file);
    if let Err(e) = std::fs::rename(&tmp, filename) {
        crate::log_warning!(
            "Error moving temp DB file {} on the final destination {} (in server root dir {}): {}",
            tmp,
            filename,
            cwd(),
            strerror(&e)
        );
        let _ = std::fs::remove_file(&tmp);
        return Err(());
    }
    // The rename itself must reach the disk too.
    let dir = std::path::Path::new(filename)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| ".".into());
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    crate::log_notice!("DB saved on disk");
    Ok(())
}

impl Server {
    /// A synchronous save (SAVE, SHUTDOWN, FLUSHALL, DEBUG RELOAD): on success the dataset
    /// counts as saved. False on failure (logged).
    pub fn rdb_save(&mut self) -> bool {
        let name = self.config.dbfilename.clone();
        use crate::module::events::{fire_persistence, sub};
        fire_persistence(self, sub::PERSISTENCE_SYNC_RDB_START);
        if write_snapshot(self, &name, &mut |_| {}).is_err() {
            fire_persistence(self, sub::PERSISTENCE_FAILED);
            return false;
        }
        fire_persistence(self, sub::PERSISTENCE_ENDED);
        self.dirty = 0;
        self.lastsave = crate::util::mstime() / 1000;
        self.persist.bgsave_ok = true;
        true
    }

    /// Starts a BGSAVE child. False when a child already runs or fork fails.
    pub fn rdb_save_background(&mut self) -> bool {
        if self.persist.child_pid.is_some() {
            return false;
        }
        self.persist.rdb_saves += 1;
        self.persist.dirty_before_bgsave = self.dirty;
        self.persist.lastbgsave_try = crate::util::mstime() / 1000;
        let pid = match self.fork_child(ChildKind::Rdb) {
            Ok(Forked::Child { info_fd }) => child_main(self, info_fd),
            Ok(Forked::Parent { pid }) => pid,
            Err(e) => {
                self.persist.bgsave_ok = false;
                crate::log_warning!("Can't save in background: fork: {}", strerror(&e));
                return false;
            }
        };
        crate::log_notice!("Background saving started by pid {}", pid);
        self.persist.save_time_start = crate::util::mstime() / 1000;
        true
    }

    /// While a child shares the dataset's pages, resizing dicts would copy them: resizing is
    /// held back (unless a dict gets badly out of proportion), as Redis does.
    pub fn update_dict_resize_policy(&mut self) {
        crate::db::dict::set_resize_avoid(self.persist.child_pid.is_some());
    }

    /// Asks the BGSAVE child to stop (FLUSHALL, SHUTDOWN); the cron reaps it and removes its
    /// temp file. SIGUSR1 marks the stop as intended, so it isn't counted as a failure.
    pub fn kill_rdb_child(&mut self) {
        if !self.rdb_child_active() {
            return;
        }
        if let Some(pid) = self.persist.child_pid {
            // SAFETY: signals our own child process.
            unsafe {
                libc::kill(pid, libc::SIGUSR1);
            }
        }
    }

    /// Waits for the BGSAVE child to end, synchronously (shutdown after killing it).
    pub fn wait_rdb_child(&mut self) {
        if !self.rdb_child_active() {
            return;
        }
        if let Some(pid) = self.persist.child_pid {
            let mut status = 0;
            // SAFETY: waits for our own child.
            unsafe {
                libc::waitpid(pid, &mut status, 0);
            }
            let _ = std::fs::remove_file(format!("temp-{}.rdb", pid));
            self.persist.save_time_start = -1;
            self.reset_child_state();
        }
    }

    /// Forgets the child and its progress figures, and lets dicts resize again.
    pub(crate) fn reset_child_state(&mut self) {
        let p = &mut self.persist;
        p.child_pid = None;
        p.module_child = false;
        p.module_progress = 0.0;
        p.current_cow_peak = 0;
        p.current_cow_size = 0;
        p.current_cow_updated_us = 0;
        p.current_save_keys_processed = 0;
        p.current_save_keys_total = 0;
        if let Some(fd) = p.child_info_fd.take() {
            // SAFETY: closes the read end of the finished child's info pipe.
            unsafe {
                libc::close(fd);
            }
        }
        self.update_dict_resize_policy();
        crate::module::events::fire_fork_child(self, false);
    }

    /// Reads the progress reports the child sent (Redis' `receiveChildInfo`).
    pub(crate) fn receive_child_info(&mut self) {
        let Some(fd) = self.persist.child_info_fd else {
            return;
        };
        let mut msg = [0u8; CHILD_INFO_LEN];
        loop {
            // SAFETY: reads at most the buffer's length from our non-blocking pipe.
            let n = unsafe { libc::read(fd, msg.as_mut_ptr().cast(), CHILD_INFO_LEN) };
            if n != CHILD_INFO_LEN as isize {
                return;
            }
            let info = ChildInfo::decode(&msg);
            let p = &mut self.persist;
            p.current_cow_peak = p.current_cow_peak.max(info.cow);
            if info.kind == ChildInfoKind::CurrentInfo as u64 {
                p.current_cow_size = info.cow;
                p.current_cow_updated_us = info.cow_updated_us;
                p.current_save_keys_processed = info.keys;
                if info.progress != -1.0 {
                    p.module_progress = info.progress;
                }
            } else if info.kind == ChildInfoKind::RdbCowSize as u64 {
                p.rdb_last_cow_size = p.current_cow_peak;
            } else if info.kind == ChildInfoKind::ModuleCowSize as u64 {
                p.module_last_cow_size = p.current_cow_peak;
            }
        }
    }

    /// Reaps a finished BGSAVE child and records the outcome (Redis' `checkChildrenDone` and
    /// `backgroundSaveDoneHandlerDisk`).
    pub fn check_child_done(&mut self) {
        let Some(pid) = self.persist.child_pid else {
            return;
        };
        let mut status = 0;
        // SAFETY: polls our own child without blocking.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == 0 {
            return;
        }
        if r == -1 {
            crate::log_warning!(
                "waitpid() returned an error: {}. child_type: RDB, child_pid = {}",
                errno_text(),
                pid
            );
            return;
        }
        let exited = libc::WIFEXITED(status);
        let exitcode = if exited {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        let bysignal = if libc::WIFSIGNALED(status) {
            libc::WTERMSIG(status)
        } else {
            0
        };
        if self.persist.module_child {
            // A module child stopped by SIGUSR1 exits through its handler: an intended stop.
            let (exitcode, bysignal) = if bysignal == 0 && exitcode == CHILD_NOERROR_RETVAL {
                (1, libc::SIGUSR1)
            } else {
                (exitcode, bysignal)
            };
            if bysignal == 0 && exitcode == 0 {
                self.receive_child_info();
            }
            crate::module::fork::child_done(self, pid, exitcode, bysignal);
            self.reset_child_state();
            return;
        }
        if self.aof.child_active {
            self.aof_rewrite_done(pid, exitcode, bysignal);
            self.reset_child_state();
            return;
        }
        let now = crate::util::mstime() / 1000;
        if self.repl.child_to_sockets {
            // A diskless transfer to replicas: no file was written, the saved state stays.
            let ok = bysignal == 0 && exitcode == 0;
            if ok {
                crate::log_notice!("Background RDB transfer terminated with success");
            } else if bysignal == 0 {
                crate::log_warning!("Background transfer error");
            } else {
                crate::log_warning!("Background transfer terminated by signal {}", bysignal);
            }
            self.persist.save_time_last = now - self.persist.save_time_start;
            self.persist.save_time_start = -1;
            self.reset_child_state();
            self.repl_bgsave_done(ok, true);
            return;
        }
        let ok = bysignal == 0 && exitcode == 0;
        if bysignal == 0 && exitcode == 0 {
            self.receive_child_info();
            crate::log_notice!("Background saving terminated with success");
            self.dirty -= self.persist.dirty_before_bgsave;
            self.lastsave = now;
            self.persist.bgsave_ok = true;
        } else if bysignal == 0 {
            crate::log_warning!("Background saving error");
            self.persist.bgsave_ok = false;
        } else {
            crate::log_warning!("Background saving terminated by signal {}", bysignal);
            let _ = std::fs::remove_file(format!("temp-{}.rdb", pid));
            if bysignal != libc::SIGUSR1 {
                self.persist.bgsave_ok = false;
            }
        }
        self.persist.save_time_last = now - self.persist.save_time_start;
        self.persist.save_time_start = -1;
        self.reset_child_state();
        self.repl_bgsave_done(ok, false);
    }

    /// The cron's persistence step: reap the child, or start a BGSAVE when a save point is
    /// reached or one was scheduled.
    pub fn persistence_cron(&mut self) {
        self.aof_cron_start_scheduled();
        if self.persist.child_pid.is_some() {
            self.receive_child_info();
            self.check_child_done();
            return;
        }
        let now = crate::util::mstime() / 1000;
        let retry_ok =
            now - self.persist.lastbgsave_try > BGSAVE_RETRY_DELAY || self.persist.bgsave_ok;
        let due = self
            .config
            .save_params
            .iter()
            .find(|(secs, changes)| self.dirty >= *changes && now - self.lastsave > *secs)
            .copied();
        if let Some((secs, changes)) = due.filter(|_| retry_ok) {
            crate::log_notice!("{} changes in {} seconds. Saving...", changes, secs);
            self.rdb_save_background();
            return;
        }
        self.aof_cron_auto_rewrite();
        if self.persist.child_pid.is_some() {
            return;
        }
        if self.persist.bgsave_scheduled && retry_ok && self.rdb_save_background() {
            self.persist.bgsave_scheduled = false;
        }
    }

    /// Writes are refused (MISCONF) after a failed background save when save points exist
    /// and `stop-writes-on-bgsave-error` is on.
    pub fn writes_denied_by_disk_error(&self) -> bool {
        !self.persist.bgsave_ok
            && !self.config.save_params.is_empty()
            && crate::rdb::file::stored_config(&self.config, "stop-writes-on-bgsave-error") == "yes"
    }

    /// Neither RDB snapshots (`save` points) nor the AOF: the server keeps nothing on disk
    /// of its own accord (Redis' `allPersistenceDisabled`).
    pub fn all_persistence_disabled(&self) -> bool {
        self.config.save_params.is_empty() && self.aof.status == crate::aof::Status::Off
    }

    /// Reads and loads `dbfilename`. Ok(false) when there is no such file. Errors are logged;
    /// a corrupt file ends the process as in Redis (see `LoadFailure`).
    /// With an event loop, clients are served (mostly with `-LOADING`) every
    /// `loading-process-events-interval-bytes` of input, as Redis does during long loads.
    /// `feed_repl`: a master's start-up load, whose expired keys go to the backlog as
    /// deletions (`rdb::file::Loader`).
    pub fn rdb_load_file(
        &mut self,
        allow_dup: bool,
        feed_repl: bool,
        mut events: Option<&mut crate::ae::EventLoop>,
    ) -> Result<bool, String> {
        let name = self.config.dbfilename.clone();
        let file = match std::fs::File::open(&name) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(strerror(&e)),
        };
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut input = std::io::BufReader::with_capacity(64 * 1024, file);
        self.loading = true;
        crate::module::events::fire_loading(self, crate::module::events::sub::LOADING_RDB_START);
        let p = &mut self.persist;
        p.loading_start_time = crate::util::mstime() / 1000;
        p.loading_total_bytes = size;
        p.loading_loaded_bytes = 0;
        p.loading_rdb_used_mem = 0;
        let interval =
            crate::rdb::file::stored_config(&self.config, "loading-process-events-interval-bytes")
                .parse::<u64>()
                .unwrap_or(2 * 1024 * 1024)
                .max(1024);
        let mut last_events = 0u64;
        let mut hook = |srv: &mut Server, pos: u64| {
            srv.persist.loading_loaded_bytes = pos;
            if let Some(el) = events.as_deref_mut() {
                if pos - last_events >= interval {
                    last_events = pos;
                    el.process_events_while_blocked(srv);
                    crate::module::events::fire_loading_progress(srv, false);
                }
            }
        };
        let r = crate::rdb::file::load_from(self, &mut input, allow_dup, feed_repl, &mut hook);
        self.loading = false;
        crate::module::events::fire_loading(
            self,
            if r.is_ok() {
                crate::module::events::sub::LOADING_ENDED
            } else {
                crate::module::events::sub::LOADING_FAILED
            },
        );
        match r {
            Ok(stats) => {
                self.persist.last_load = stats;
                Ok(true)
            }
            Err(f) if f.corrupt => {
                // As Redis does, walk the file again with the checker and print its report
                // (to standard output, where redis-check-rdb writes it) before exiting.
                let sanitize =
                    crate::rdb::file::stored_config(&self.config, "sanitize-dump-payload");
                let opts =
                    crate::rdb::object::LoadOptions::from_config(&self.config, sanitize == "yes");
                let buf = std::fs::read(&name).unwrap_or_default();
                let (_, report) =
                    crate::rdb::check::check(&name, &buf, &opts, self.config.rdbchecksum);
                {
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(report.as_bytes());
                    let _ = out.flush();
                }
                crate::log_warning!("Terminating server after rdb file reading failure.");
                std::process::exit(1);
            }
            Err(_) => Err("Invalid argument".into()),
        }
    }

    /// INFO persistence's `loading_*` fields, shown while a load runs.
    pub fn loading_info_fields(&self) -> String {
        let p = &self.persist;
        let (mut perc, mut remaining) = (0.0, 0u64);
        if p.loading_total_bytes != 0 {
            perc = p.loading_loaded_bytes as f64 / p.loading_total_bytes as f64 * 100.0;
            remaining = p.loading_total_bytes.saturating_sub(p.loading_loaded_bytes);
        } else if p.loading_rdb_used_mem != 0 {
            perc =
                (p.loading_loaded_bytes as f64 / p.loading_rdb_used_mem as f64 * 100.0).min(99.99);
            remaining = p
                .loading_rdb_used_mem
                .saturating_sub(p.loading_loaded_bytes)
                .max(1);
        }
        let elapsed = (crate::util::mstime() / 1000 - p.loading_start_time).max(0) as u64;
        let eta = if elapsed == 0 {
            1
        } else {
            elapsed * remaining / (p.loading_loaded_bytes + 1)
        };
        format!(
            "loading_start_time:{}\r\nloading_total_bytes:{}\r\nloading_rdb_used_mem:{}\r\nloading_loaded_bytes:{}\r\nloading_loaded_perc:{:.2}\r\nloading_eta_seconds:{}\r\n",
            p.loading_start_time,
            p.loading_total_bytes,
            p.loading_rdb_used_mem,
            p.loading_loaded_bytes,
            perc,
            eta
        )
    }

    /// INFO persistence's fork progress and RDB fields (after `loading`, which the caller
    /// writes).
    pub fn rdb_info_fields(&self) -> String {
        let now = crate::util::mstime() / 1000;
        let p = &self.persist;
        let in_progress = self.rdb_child_active();
        let cow_age = if p.current_cow_updated_us != 0 {
            crate::util::monotonic_us().saturating_sub(p.current_cow_updated_us) / 1_000_000
        } else {
            0
        };
        // A module child reports its own progress; other children count keys.
        let fork_perc = if p.module_progress != 0.0 {
            p.module_progress * 100.0
        } else if p.current_save_keys_total != 0 {
            p.current_save_keys_processed as f64 / p.current_save_keys_total as f64 * 100.0
        } else {
            0.0
        };
        format!(
            "current_cow_peak:{}\r\ncurrent_cow_size:{}\r\ncurrent_cow_size_age:{}\r\ncurrent_fork_perc:{:.2}\r\ncurrent_save_keys_processed:{}\r\ncurrent_save_keys_total:{}\r\n",
            p.current_cow_peak,
            p.current_cow_size,
            cow_age,
            fork_perc,
            p.current_save_keys_processed,
            p.current_save_keys_total,
        ) + &format!(
            "rdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:{}\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n",
            self.dirty,
            in_progress as i32,
            self.lastsave,
            if self.persist.bgsave_ok { "ok" } else { "err" },
            self.persist.save_time_last,
            if in_progress {
                now - self.persist.save_time_start
            } else {
                -1
            },
            self.persist.rdb_saves,
            self.persist.rdb_last_cow_size,
            self.persist.last_load.expired,
            self.persist.last_load.loaded,
        )
    }
}

/// The BGSAVE child: writes the snapshot from its copy of the dataset and exits with 0 on
/// success, 1 on failure. Never returns.
fn child_main(srv: &mut Server, info_fd: libc::c_int) -> ! {
    let name = srv.config.dbfilename.clone();
    let mut info = ChildInfoSender::new(info_fd, "RDB");
    // Module listeners hear about the save from the child, as in Redis.
    use crate::module::events::{persistence_job, sub};
    let ok = persistence_job(srv, sub::PERSISTENCE_RDB_START, |srv| {
        write_snapshot(srv, &name, &mut |keys| info.progress(keys)).is_ok()
    });
    if ok {
        info.send(ChildInfoKind::RdbCowSize, info.keys, -1.0);
    }
    // SAFETY: leaves the child without running the parent's exit handlers or destructors.
    unsafe { libc::_exit(if ok { 0 } else { 1 }) }
}
