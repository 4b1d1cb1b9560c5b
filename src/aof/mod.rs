//! Append-only file persistence, Redis 7.0's multi-part AOF: every write leaves the
//! propagation log (`Server::flush_propagation`) as the RESP command Redis would write, is
//! buffered, and written (and fsynced per `appendfsync`) in before-sleep, before any reply
//! goes out. This module owns the AOF state, the buffer, the background fsync thread, turning
//! the AOF on and off, INFO's aof_* fields and the start-up / shutdown steps; `manifest` the
//! manifest file, `load` replaying the files, `rewrite` BGREWRITEAOF.
//!
//! The append-only directory (`appenddirname`, inside `dir`) holds, for `appendfilename`
//! `appendonly.aof`:
//!
//! ```text
//! appendonlydir/
//!   appendonly.aof.manifest          file appendonly.aof.3.base.rdb seq 3 type b
//!                                    file appendonly.aof.2.incr.aof seq 2 type h   (history)
//!                                    file appendonly.aof.5.incr.aof seq 5 type i
//!                                    file appendonly.aof.6.incr.aof seq 6 type i
//!   appendonly.aof.3.base.rdb        a snapshot: RDB (aof-use-rdb-preamble yes) or commands
//!   appendonly.aof.5.incr.aof        commands written since, in order
//!   appendonly.aof.6.incr.aof
//! ```
//!
//! Loading replays the base then each incr file. A rewrite opens a new incr file at once (so
//! the running AOF needs no rewrite buffer), writes a new base in a forked child and, when it
//! succeeds, installs base and manifest atomically; the files it replaced become history and
//! are deleted. A pre-7.0 single `appendonly.aof` in `dir` is moved into the directory as
//! the base (the upgrade Redis 7.0 does).

pub mod load;
pub mod manifest;
pub mod rewrite;

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use crate::replication::{target, PropEntry, SelectedDb};
use crate::server::Server;
use manifest::Manifest;

/// `appendfsync` values as the config table stores them.
pub const FSYNC_NO: i32 = 0;
pub const FSYNC_EVERYSEC: i32 = 1;
pub const FSYNC_ALWAYS: i32 = 2;

/// Whether the AOF is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Off,
    On,
    /// Turned on at run time: the first rewrite must complete before the AOF is usable.
    WaitRewrite,
}

/// An AOF operation failed; what went wrong was logged already, as Redis does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged;

/// Seconds between two logs of the same AOF write error.
const WRITE_LOG_ERROR_RATE: i64 = 30;

/// Everything the server keeps about its AOF (Redis' `server.aof_*`).
pub struct AofState {
    pub status: Status,
    pub manifest: Manifest,
    /// The incr file being appended to (or the temp incr file while waiting for the first
    /// rewrite). Shared with the fsync thread.
    pub file: Option<Arc<File>>,
    /// Commands not yet written.
    pub buf: Vec<u8>,
    pub selected: SelectedDb,
    pub current_size: u64,
    pub rewrite_base_size: u64,
    pub last_incr_size: u64,
    pub last_incr_fsync_offset: u64,
    /// Unix seconds of the last fsync (or fsync job).
    pub last_fsync: i64,
    pub flush_postponed_start: i64,
    pub delayed_fsync: u64,
    pub rewrite_scheduled: bool,
    /// The server's fork child (`persist.child_pid`) is an AOF rewrite.
    pub child_active: bool,
    pub rewrite_time_start: i64,
    pub rewrite_time_last: i64,
    pub lastbgrewrite_ok: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_write_ok: bool,
    pub last_write_errno: i32,
    last_write_error_log: i64,
    last_error_retry: i64,
    /// `DEBUG AOF-FLUSH-SLEEP`: microseconds to sleep before each write (tests).
    pub flush_sleep_us: u64,
    /// Last `#TS:` annotation written.
    pub cur_timestamp: i64,
    pub last_cow_size: u64,
    /// Back-off after repeated rewrite failures.
    next_delay_minutes: i64,
    next_rewrite_time: i64,
    pub fsync: FsyncWorker,
}

impl Default for AofState {
    fn default() -> Self {
        AofState {
            status: Status::Off,
            manifest: Manifest::default(),
            file: None,
            buf: Vec::new(),
            selected: SelectedDb::default(),
            current_size: 0,
            rewrite_base_size: 0,
            last_incr_size: 0,
            last_incr_fsync_offset: 0,
            last_fsync: crate::util::mstime() / 1000,
            flush_postponed_start: 0,
            delayed_fsync: 0,
            rewrite_scheduled: false,
            child_active: false,
            rewrite_time_start: -1,
            rewrite_time_last: -1,
            lastbgrewrite_ok: true,
            rewrites: 0,
            consecutive_failures: 0,
            last_write_ok: true,
            last_write_errno: 0,
            last_write_error_log: 0,
            last_error_retry: 0,
            flush_sleep_us: 0,
            cur_timestamp: 0,
            last_cow_size: 0,
            next_delay_minutes: 0,
            next_rewrite_time: 0,
            fsync: FsyncWorker::default(),
        }
    }
}

enum FsyncJob {
    /// fsync the file (appendfsync everysec).
    Sync(Arc<File>),
    /// fsync a file that was switched away from, then let it close.
    SyncAndClose(Arc<File>),
}

/// The background thread that fsyncs the AOF (Redis' bio AOF_FSYNC jobs), so that a slow
/// disk doesn't stall the event loop under `appendfsync everysec`.
#[derive(Default)]
pub struct FsyncWorker {
    tx: Option<mpsc::Sender<FsyncJob>>,
    pending: Arc<AtomicU64>,
    /// 0 while the last fsync succeeded, else its errno.
    errno: Arc<AtomicI32>,
}

impl FsyncWorker {
    fn submit(&mut self, job: FsyncJob) {
        if self.tx.is_none() {
            let (tx, rx) = mpsc::channel::<FsyncJob>();
            let pending = self.pending.clone();
            let errno = self.errno.clone();
            let spawned = std::thread::Builder::new()
                .name("bio_aof".into())
                .spawn(move || {
                    for job in rx {
                        let f = match &job {
                            FsyncJob::Sync(f) | FsyncJob::SyncAndClose(f) => f,
                        };
                        match f.sync_data() {
                            Err(e)
                                if !matches!(
                                    e.raw_os_error(),
                                    Some(libc::EBADF) | Some(libc::EINVAL)
                                ) =>
                            {
                                errno.store(e.raw_os_error().unwrap_or(libc::EIO), Ordering::SeqCst)
                            }
                            _ => errno.store(0, Ordering::SeqCst),
                        }
                        drop(job);
                        pending.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            match spawned {
                Ok(_) => self.tx = Some(tx),
                Err(_) => {
                    // Without a thread, do the job here.
                    let f = match &job {
                        FsyncJob::Sync(f) | FsyncJob::SyncAndClose(f) => f,
                    };
                    let _ = f.sync_data();
                    return;
                }
            }
        }
        self.pending.fetch_add(1, Ordering::SeqCst);
        if let Some(tx) = &self.tx {
            if tx.send(job).is_err() {
                self.pending.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Jobs queued or running (INFO aof_pending_bio_fsync).
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    /// The errno of a failed background fsync, if the last one failed.
    pub fn error(&self) -> Option<i32> {
        match self.errno.load(Ordering::SeqCst) {
            0 => None,
            e => Some(e),
        }
    }

    fn clear_error(&self) {
        self.errno.store(0, Ordering::SeqCst);
    }
}

/// Appends one command in RESP multibulk form, as Redis writes it to the AOF.
pub fn cat_command(dst: &mut Vec<u8>, argv: &[Vec<u8>]) {
    let _ = write!(dst, "*{}\r\n", argv.len());
    for a in argv {
        let _ = write!(dst, "${}\r\n", a.len());
        dst.extend_from_slice(a);
        dst.extend_from_slice(b"\r\n");
    }
}

/// A path inside the append-only directory.
pub fn aof_path(dirname: &str, file: &str) -> std::path::PathBuf {
    std::path::Path::new(dirname).join(file)
}

/// A boolean directive kept as text by the config table. Read on every write batch, so the
/// stored value is compared in place rather than copied out.
fn stored_bool(srv: &Server, name: &str) -> bool {
    match srv.config.other.get(name) {
        Some(v) => v == "yes",
        None => crate::rdb::file::stored_config(&srv.config, name) == "yes",
    }
}

fn stored_i64(srv: &Server, name: &str) -> i64 {
    crate::rdb::file::stored_config(&srv.config, name)
        .parse()
        .unwrap_or(0)
}

/// Creates the directory unless it exists.
fn dir_create_if_missing(dir: &str) -> std::io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn strerror_code(code: i32) -> String {
    crate::rdb::persist::strerror(&std::io::Error::from_raw_os_error(code))
}

impl Server {
    /// The AOF's consumer of the propagation log: the entries meant for it, with SELECT
    /// (and `#TS:` annotations) where needed, into the AOF buffer (Redis'
    /// `feedAppendOnlyFile`).
    pub fn aof_feed(&mut self, batch: &[PropEntry]) {
        if self.aof.status == Status::Off || self.loading {
            return;
        }
        let timestamps = stored_bool(self, "aof-timestamp-enabled");
        let keep = self.aof.status == Status::On || self.aof.child_active;
        for e in batch.iter().filter(|e| e.targets & target::AOF != 0) {
            let mut buf = Vec::new();
            if timestamps {
                let now = self.unix_time();
                if self.aof.cur_timestamp < now {
                    self.aof.cur_timestamp = now;
                    let _ = write!(buf, "#TS:{}\r\n", now);
                }
            }
            if let Some(sel) = self.aof.selected.select_for(e.db) {
                cat_command(&mut buf, &sel);
            }
            cat_command(&mut buf, &e.argv);
            if keep {
                self.aof.buf.extend_from_slice(&buf);
            }
        }
    }

    /// Whether a background fsync is queued or running.
    fn aof_fsync_in_progress(&self) -> bool {
        self.aof.fsync.pending() != 0
    }

    /// Writes the AOF buffer to the file and fsyncs per `appendfsync` (Redis'
    /// `flushAppendOnlyFile`). Under `everysec`, a write waits (up to two seconds) while a
    /// background fsync is still running, unless `force`.
    pub fn aof_flush(&mut self, force: bool) {
        let Some(file) = self.aof.file.clone() else {
            return;
        };
        let policy = self.config.appendfsync;
        let now = self.unix_time();
        let mut sync_in_progress = false;
        if self.aof.buf.is_empty() {
            let unsynced = self.aof.last_incr_fsync_offset != self.aof.last_incr_size;
            if policy == FSYNC_EVERYSEC && unsynced && now > self.aof.last_fsync {
                sync_in_progress = self.aof_fsync_in_progress();
                if sync_in_progress {
                    return;
                }
            } else if !(policy == FSYNC_ALWAYS && unsynced) {
                return;
            }
            self.aof_try_fsync(&file, sync_in_progress);
            return;
        }
        if policy == FSYNC_EVERYSEC {
            sync_in_progress = self.aof_fsync_in_progress();
        }
        if policy == FSYNC_EVERYSEC && !force && sync_in_progress {
            if self.aof.flush_postponed_start == 0 {
                self.aof.flush_postponed_start = now;
                return;
            } else if now - self.aof.flush_postponed_start < 2 {
                return;
            }
            self.aof.delayed_fsync += 1;
            crate::log_notice!("Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis.");
        }
        if self.aof.flush_sleep_us > 0 {
            std::thread::sleep(std::time::Duration::from_micros(self.aof.flush_sleep_us));
        }
        let start = crate::util::monotonic_us();
        let (written, err) = write_all(&file, &self.aof.buf);
        let latency_ms = (crate::util::monotonic_us() - start) / 1000;
        let event = if sync_in_progress {
            "aof-write-pending-fsync"
        } else if self.fork_child_active() {
            "aof-write-active-child"
        } else {
            "aof-write-alone"
        };
        self.latency_add_sample_if_needed(event, latency_ms);
        self.latency_add_sample_if_needed("aof-write", latency_ms);
        self.aof.flush_postponed_start = 0;
        if written != self.aof.buf.len() {
            let can_log = now - self.aof.last_write_error_log > WRITE_LOG_ERROR_RATE;
            if can_log {
                self.aof.last_write_error_log = now;
            }
            let mut written = written;
            if written == 0 {
                let code = err.unwrap_or(libc::EIO);
                if can_log {
                    crate::log_warning!("Error writing to the AOF file: {}", strerror_code(code));
                }
                self.aof.last_write_errno = code;
            } else {
                if can_log {
                    crate::log_warning!(
                        "Short write while writing to the AOF file: (nwritten={}, expected={})",
                        written,
                        self.aof.buf.len()
                    );
                }
                // Take the partial command back out, so the file stays loadable.
                match file.set_len(self.aof.last_incr_size) {
                    Ok(()) => written = 0,
                    Err(e) => {
                        if can_log {
                            crate::log_warning!("Could not remove short write from the append-only file.  Redis may refuse to load the AOF the next time it starts.  ftruncate: {}", crate::rdb::persist::strerror(&e));
                        }
                    }
                }
                self.aof.last_write_errno = libc::ENOSPC;
            }
            if policy == FSYNC_ALWAYS {
                crate::log_warning!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                std::process::exit(1);
            }
            self.aof.last_write_ok = false;
            if written > 0 {
                self.aof.current_size += written as u64;
                self.aof.last_incr_size += written as u64;
                self.aof.buf.drain(..written);
            }
            return;
        }
        if !self.aof.last_write_ok {
            crate::log_warning!("AOF write error looks solved, Redis can write again.");
            self.aof.last_write_ok = true;
        }
        self.aof.current_size += written as u64;
        self.aof.last_incr_size += written as u64;
        if self.aof.buf.capacity() < 4000 {
            self.aof.buf.clear();
        } else {
            self.aof.buf = Vec::new();
        }
        self.aof_try_fsync(&file, sync_in_progress);
    }

    fn aof_try_fsync(&mut self, file: &Arc<File>, sync_in_progress: bool) {
        // `no-appendfsync-on-rewrite`: a child is already loading the disk.
        if stored_bool(self, "no-appendfsync-on-rewrite") && self.fork_child_active() {
            return;
        }
        let now = self.unix_time();
        match self.config.appendfsync {
            FSYNC_ALWAYS => {
                let start = crate::util::monotonic_us();
                if let Err(e) = file.sync_data() {
                    crate::log_warning!("Can't persist AOF for fsync error when the AOF fsync policy is 'always': {}. Exiting...", crate::rdb::persist::strerror(&e));
                    std::process::exit(1);
                }
                let ms = (crate::util::monotonic_us() - start) / 1000;
                self.latency_add_sample_if_needed("aof-fsync-always", ms);
                self.aof.last_incr_fsync_offset = self.aof.last_incr_size;
                self.aof.last_fsync = now;
            }
            FSYNC_EVERYSEC if now > self.aof.last_fsync => {
                if !sync_in_progress {
                    self.aof.fsync.submit(FsyncJob::Sync(file.clone()));
                    self.aof.last_incr_fsync_offset = self.aof.last_incr_size;
                }
                self.aof.last_fsync = now;
            }
            _ => {}
        }
    }

    /// Flushes and fsyncs synchronously (shutdown, turning the AOF off).
    pub fn aof_flush_and_fsync(&mut self) -> Result<(), String> {
        self.aof_flush(true);
        if let Some(f) = &self.aof.file {
            f.sync_data()
                .map_err(|e| crate::rdb::persist::strerror(&e))?;
            self.aof.last_fsync = self.unix_time();
        }
        Ok(())
    }

    /// Sets whether the propagation log collects writes: it must while the AOF is on.
    pub fn aof_update_propagation(&mut self) {
        if self.aof.status != Status::Off {
            self.prop.enabled = true;
        }
    }

    /// Turns the AOF off at run time (CONFIG SET appendonly no; Redis' `stopAppendOnly`).
    pub fn aof_stop(&mut self) {
        if let Err(e) = self.aof_flush_and_fsync() {
            crate::log_warning!("Fail to fsync the AOF file: {}", e);
        }
        self.aof.file = None;
        self.aof.selected.reset();
        self.aof.status = Status::Off;
        self.aof.rewrite_scheduled = false;
        self.aof.last_incr_size = 0;
        self.aof.last_incr_fsync_offset = 0;
        self.kill_aof_child();
        self.aof.buf = Vec::new();
    }

    /// Turns the AOF on at run time: a rewrite writes the first base, and the AOF counts as
    /// on once it completes (Redis' `startAppendOnly`). `in_exec`: inside a transaction,
    /// where forking would snapshot half of it.
    pub fn aof_start(&mut self, in_exec: bool) -> Result<(), Logged> {
        self.aof.status = Status::WaitRewrite;
        self.aof_update_propagation();
        if self.fork_child_active() && !self.aof.child_active {
            self.aof.rewrite_scheduled = true;
            crate::log_warning!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        } else if in_exec {
            self.aof.rewrite_scheduled = true;
            crate::log_warning!("AOF was enabled during a transaction. An AOF background was scheduled to start when possible.");
        } else {
            if self.aof.child_active {
                crate::log_warning!("AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now.");
                self.kill_aof_child();
            }
            if self.aof_rewrite_background().is_err() {
                self.aof.status = Status::Off;
                crate::log_warning!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.");
                return Err(Logged);
            }
        }
        self.aof.last_fsync = self.unix_time();
        if self.aof.fsync.error().is_some() {
            crate::log_warning!("AOF reopen, just ignore the AOF fsync error in bio job");
            self.aof.fsync.clear_error();
        }
        if !self.aof.last_write_ok {
            crate::log_warning!("AOF reopen, just ignore the last error.");
            self.aof.last_write_ok = true;
        }
        Ok(())
    }

    /// Why writes are refused because of the AOF, if they are (the MISCONF text).
    pub fn aof_write_error_message(&mut self) -> Option<String> {
        if self.aof.status == Status::Off {
            return None;
        }
        if let Some(code) = self.aof.fsync.error() {
            self.aof.last_write_errno = code;
        } else if self.aof.last_write_ok {
            return None;
        }
        Some(format!(
            "-MISCONF Errors writing to the AOF file: {}",
            strerror_code(self.aof.last_write_errno)
        ))
    }

    /// The cron's AOF steps that don't involve children: retry a postponed write, and once a
    /// second a failed one.
    pub fn aof_cron_flush(&mut self) {
        if self.aof.status == Status::Off {
            return;
        }
        if self.aof.flush_postponed_start != 0 {
            self.aof_flush(false);
        }
        let now_ms = crate::util::mstime();
        if now_ms - self.aof.last_error_retry >= 1000 {
            self.aof.last_error_retry = now_ms;
            if !self.aof.last_write_ok {
                self.aof_flush(false);
            }
        }
    }

    /// After repeated rewrite failures, rewrites wait: 1 minute, then doubling up to an hour
    /// (Redis' `aofRewriteLimited`). True when a rewrite must wait now.
    pub fn aof_rewrite_limited(&mut self) -> bool {
        const THRESHOLD: u64 = 3;
        const MAX_MINUTES: i64 = 60;
        if self.aof.consecutive_failures < THRESHOLD {
            self.aof.next_delay_minutes = 0;
            self.aof.next_rewrite_time = 0;
            return false;
        }
        let now = self.unix_time();
        if self.aof.next_rewrite_time != 0 {
            if now < self.aof.next_rewrite_time {
                return true;
            }
            self.aof.next_rewrite_time = 0;
            return false;
        }
        self.aof.next_delay_minutes = if self.aof.next_delay_minutes == 0 {
            1
        } else {
            (self.aof.next_delay_minutes * 2).min(MAX_MINUTES)
        };
        self.aof.next_rewrite_time = now + self.aof.next_delay_minutes * 60;
        crate::log_warning!(
            "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
            self.aof.next_delay_minutes
        );
        true
    }

    /// A rewrite asked for while another child ran starts as soon as there is none.
    pub fn aof_cron_start_scheduled(&mut self) {
        if !self.fork_child_active() && self.aof.rewrite_scheduled && !self.aof_rewrite_limited() {
            let _ = self.aof_rewrite_background();
        }
    }

    /// Automatic rewrite when the AOF grew by `auto-aof-rewrite-percentage` over its size
    /// after the last rewrite, and is above `auto-aof-rewrite-min-size`.
    pub fn aof_cron_auto_rewrite(&mut self) {
        if self.aof.status != Status::On || self.fork_child_active() {
            return;
        }
        let perc = stored_i64(self, "auto-aof-rewrite-percentage");
        let min_size = stored_i64(self, "auto-aof-rewrite-min-size");
        if perc == 0 || self.aof.current_size as i64 <= min_size {
            return;
        }
        let base = self.aof.rewrite_base_size.max(1) as i64;
        let growth = (self.aof.current_size as i64 * 100 / base) - 100;
        if growth >= perc && !self.aof_rewrite_limited() {
            crate::log_notice!("Starting automatic rewriting of AOF on {}% growth", growth);
            let _ = self.aof_rewrite_background();
        }
    }

    /// Shutdown's AOF steps (Redis' `prepareForShutdown`): a rewrite child is killed (unless
    /// it writes the very first AOF and this isn't forced), the buffer flushed and fsynced.
    pub fn aof_prepare_for_shutdown(&mut self, force: bool) -> Result<(), Logged> {
        if self.aof.child_active {
            if self.aof.status == Status::WaitRewrite {
                if force {
                    crate::log_warning!("Writing initial AOF. Exit anyway.");
                } else {
                    crate::log_warning!("Writing initial AOF, can't exit.");
                    return Err(Logged);
                }
            }
            crate::log_warning!("There is a child rewriting the AOF. Killing it!");
            self.kill_aof_child();
        }
        if self.aof.status != Status::Off {
            crate::log_notice!("Calling fsync() on the AOF file.");
            if let Err(e) = self.aof_flush_and_fsync() {
                crate::log_warning!("Fail to fsync the AOF file: {}.", e);
            }
        }
        Ok(())
    }

    /// INFO persistence's AOF fields after the RDB ones.
    pub fn aof_info_fields(&self) -> String {
        let a = &self.aof;
        let write_ok = a.last_write_ok && a.fsync.error().is_none();
        let mut s = format!(
            "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:{}\r\nmodule_fork_in_progress:{}\r\nmodule_fork_last_cow_size:{}\r\n",
            (a.status != Status::Off) as i32,
            a.child_active as i32,
            a.rewrite_scheduled as i32,
            a.rewrite_time_last,
            if a.child_active {
                crate::util::mstime() / 1000 - a.rewrite_time_start
            } else {
                -1
            },
            if a.lastbgrewrite_ok { "ok" } else { "err" },
            a.rewrites,
            a.consecutive_failures,
            if write_ok { "ok" } else { "err" },
            a.last_cow_size,
            self.persist.module_child as i32,
            self.persist.module_last_cow_size,
        );
        if self.config.appendonly {
            s.push_str(&format!(
                "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:{}\r\naof_delayed_fsync:{}\r\n",
                a.current_size,
                a.rewrite_base_size,
                a.rewrite_scheduled as i32,
                a.buf.len(),
                a.fsync.pending(),
                a.delayed_fsync
            ));
        }
        s
    }

    /// Start-up (Redis' main after loading): with the AOF on, make sure there is a base
    /// (an empty dataset gets one written now) and an incr file to append to, and persist the
    /// manifest. Exits on failure, as Redis.
    pub fn aof_open_on_server_start(&mut self) {
        if self.aof.status != Status::On {
            return;
        }
        let dirname = self.config.appenddirname.clone();
        let filename = self.config.appendfilename.clone();
        if let Err(e) = dir_create_if_missing(&dirname) {
            crate::log_warning!(
                "Can't open or create append-only dir {}: {}",
                dirname,
                crate::rdb::persist::strerror(&e)
            );
            std::process::exit(1);
        }
        let incr_len = self.aof.manifest.incr.len();
        if self.aof.manifest.base.is_none() && incr_len == 0 {
            let preamble = stored_bool(self, "aof-use-rdb-preamble");
            let base = self.aof.manifest.new_base_name(&filename, preamble);
            use crate::module::events::{fire_persistence, sub};
            fire_persistence(self, sub::PERSISTENCE_SYNC_AOF_START);
            if self
                .aof_rewrite_to_file(&aof_path(&dirname, &base))
                .is_err()
            {
                fire_persistence(self, sub::PERSISTENCE_FAILED);
                std::process::exit(1);
            }
            fire_persistence(self, sub::PERSISTENCE_ENDED);
            crate::log_notice!("Creating AOF base file {} on server start", base);
        }
        let name = self.aof.manifest.last_incr_name(&filename);
        let path = aof_path(&dirname, &name);
        let file = match std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) => {
                crate::log_warning!(
                    "Can't open the append-only file {}: {}",
                    name,
                    crate::rdb::persist::strerror(&e)
                );
                std::process::exit(1);
            }
        };
        self.aof.file = Some(Arc::new(file));
        if self.aof_persist_manifest().is_err() {
            std::process::exit(1);
        }
        self.aof.last_incr_size = self.aof_file_size(&name).unwrap_or(0);
        self.aof.last_incr_fsync_offset = self.aof.last_incr_size;
        if incr_len > 0 {
            crate::log_notice!("Opening AOF incr file {} on server start", name);
        } else {
            crate::log_notice!("Creating AOF incr file {} on server start", name);
        }
    }

    /// Size of a file of the AOF directory; logged when it can't be read.
    pub fn aof_file_size(&mut self, name: &str) -> Result<u64, std::io::Error> {
        let start = crate::util::monotonic_us();
        let r = std::fs::metadata(aof_path(&self.config.appenddirname, name)).map(|m| m.len());
        let ms = (crate::util::monotonic_us() - start) / 1000;
        self.latency_add_sample_if_needed("aof-fstat", ms);
        if let Err(e) = &r {
            crate::log_warning!(
                "Unable to obtain the AOF file {} length. stat: {}",
                name,
                crate::rdb::persist::strerror(e)
            );
        }
        r
    }

    /// Writes the manifest if it changed (temp file, fsync, rename, fsync of the directory).
    pub fn aof_persist_manifest(&mut self) -> Result<(), Logged> {
        if !self.aof.manifest.dirty {
            return Ok(());
        }
        let text = self.aof.manifest.format();
        write_manifest_file(
            &self.config.appenddirname,
            &self.config.appendfilename,
            &text,
        )?;
        self.aof.manifest.dirty = false;
        Ok(())
    }

    /// Deletes history files (unless `aof-disable-auto-gc`) and drops them from the manifest.
    pub fn aof_del_history_files(&mut self) {
        if stored_bool(self, "aof-disable-auto-gc") || self.aof.manifest.history.is_empty() {
            return;
        }
        for ai in std::mem::take(&mut self.aof.manifest.history) {
            crate::log_notice!("Removing the history file {} in the background", ai.name);
            bg_unlink(aof_path(&self.config.appenddirname, &ai.name));
        }
        self.aof.manifest.dirty = true;
        let _ = self.aof_persist_manifest();
    }

    /// Reads the manifest at start-up or for DEBUG LOADAOF (missing directory or manifest:
    /// an empty one). A bad manifest ends the process with Redis' report.
    pub fn aof_load_manifest_from_disk(&mut self) {
        self.aof.manifest = Manifest::default();
        let dirname = &self.config.appenddirname;
        if !std::path::Path::new(dirname).is_dir() {
            crate::log_debug!("The AOF directory {} doesn't exist", dirname);
            return;
        }
        let name = format!("{}.manifest", self.config.appendfilename);
        let path = aof_path(dirname, &name);
        if !path.exists() {
            crate::log_debug!("The AOF manifest file {} doesn't exist", name);
            return;
        }
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) => {
                crate::log_warning!(
                    "Fatal error: can't open the AOF manifest file {} for reading: {}",
                    path.display(),
                    crate::rdb::persist::strerror(&e)
                );
                std::process::exit(1);
            }
        };
        match Manifest::parse(&text) {
            Ok(m) => self.aof.manifest = m,
            Err(e) => {
                crate::log_warning!("\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
                if let Some((n, line)) = &e.line {
                    crate::log_warning!("Reading the manifest file, at line {}\n", n);
                    crate::log_warning!(">>> '{}'\n", line);
                }
                crate::log_warning!("{}\n", e.reason);
                std::process::exit(1);
            }
        }
    }

    /// CONFIG SET appendonly: start or stop the AOF to match.
    pub fn aof_apply_config(&mut self) -> Result<(), String> {
        let in_exec = self.prop.depth > 1;
        if !self.config.appendonly && self.aof.status != Status::Off {
            self.aof_stop();
        } else if self.config.appendonly
            && self.aof.status == Status::Off
            && self.aof_start(in_exec).is_err()
        {
            return Err("Unable to turn on AOF. Check server logs.".into());
        }
        Ok(())
    }
}

/// Writes everything it can; returns the bytes written and the error that stopped it.
fn write_all(file: &File, mut buf: &[u8]) -> (usize, Option<i32>) {
    let mut total = 0;
    let mut f = file;
    while !buf.is_empty() {
        match f.write(buf) {
            Ok(0) => return (total, Some(libc::ENOSPC)),
            Ok(n) => {
                total += n;
                buf = &buf[n..];
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return (total, Some(errno_of(&e))),
        }
    }
    (total, None)
}

/// Deletes a file without blocking the event loop on a big unlink (Redis' `bg_unlink`).
pub fn bg_unlink(path: std::path::PathBuf) {
    let _ = std::thread::Builder::new()
        .name("bio_unlink".into())
        .spawn(move || {
            let _ = std::fs::remove_file(path);
        });
}

/// Writes a manifest atomically: a temp file renamed over the real one.
pub fn write_manifest_file(dirname: &str, filename: &str, text: &str) -> Result<(), Logged> {
    let name = format!("{}.manifest", filename);
    let tmp_name = format!("temp-{}.manifest", filename);
    let path = aof_path(dirname, &name);
    let tmp = aof_path(dirname, &tmp_name);
    let mut f = match File::create(&tmp) {
        Ok(f) => f,
        Err(e) => {
            crate::log_warning!(
                "Can't open the AOF manifest file {}: {}",
                tmp_name,
                crate::rdb::persist::strerror(&e)
            );
            return Err(Logged);
        }
    };
    if let Err(e) = f.write_all(text.as_bytes()) {
        crate::log_warning!(
            "Error trying to write the temporary AOF manifest file {}: {}",
            tmp_name,
            crate::rdb::persist::strerror(&e)
        );
        return Err(Logged);
    }
    if let Err(e) = f.sync_data() {
        crate::log_warning!(
            "Fail to fsync the temp AOF file {}: {}.",
            tmp_name,
            crate::rdb::persist::strerror(&e)
        );
        return Err(Logged);
    }
    if let Err(e) = std::fs::rename(&tmp, &path) {
        crate::log_warning!(
            "Error trying to rename the temporary AOF manifest file {} into {}: {}",
            tmp_name,
            name,
            crate::rdb::persist::strerror(&e)
        );
        return Err(Logged);
    }
    fsync_dir(dirname);
    Ok(())
}

/// Makes a rename inside `dir` durable.
pub fn fsync_dir(dir: &str) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
