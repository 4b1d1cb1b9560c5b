//! Forking the one child that works on a copy of the dataset (BGSAVE to disk or to replicas'
//! sockets, AOF rewrite, a module's RedisModule_Fork), as Redis' `redisFork` does for every such child: refuse while another
//! runs (EEXIST), open the progress pipe, fork, set the child up (log role, signal handlers,
//! OOM score) and, in the parent, record the fork and reset the progress figures INFO shows.
//! The child's side of the progress pipe (`ChildInfoSender`) lives here too, shared by all
//! kinds of children.

use std::io;

use crate::server::Server;

/// What the child is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    Rdb,
    Aof,
    Module,
}

/// Where `fork_child` returned.
pub enum Forked {
    /// In the child, with the write end of the progress pipe (-1 without one).
    Child {
        info_fd: libc::c_int,
    },
    Parent {
        pid: libc::pid_t,
    },
}

/// Exit status of a child that stopped on SIGUSR1 by its own handler (module children):
/// the parent reads it as "killed on purpose", like Redis' `SERVER_CHILD_NOERROR_RETVAL`.
pub const CHILD_NOERROR_RETVAL: i32 = 255;

extern "C" fn child_sigusr1(_sig: libc::c_int) {
    crate::server::log::raw_from_handler(&format!(
        "{}:signal-handler ({}) Received SIGUSR1 in child, exiting now.\n",
        std::process::id(),
        crate::util::mstime() / 1000
    ));
    // SAFETY: leaves the child at once, without the parent's exit handlers.
    unsafe { libc::_exit(CHILD_NOERROR_RETVAL) };
}

impl Server {
    /// Forks a child of `kind`. Fails with EEXIST while another child runs; a failed fork
    /// leaves nothing behind (the caller logs it with its own words).
    pub fn fork_child(&mut self, kind: ChildKind) -> io::Result<Forked> {
        if self.fork_child_active() {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let mut fds = [-1; 2];
        // SAFETY: pipe fills the two-element array.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } == -1 {
            fds = [-1, -1];
        }
        let started = crate::util::monotonic_us();
        // SAFETY: fork is called from the single event-loop thread; each kind of child only
        // works on its copy of the dataset and leaves with _exit, never returning into the
        // event loop.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            crate::server::log::set_role(b'C');
            // SAFETY: resetting signal dispositions in the freshly forked child, before any
            // other work, and keeping only the write end of the info pipe.
            unsafe {
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                // A module's child can't know it is asked to stop: it says so in the log and
                // exits with the status the parent reads as an intended stop.
                let usr1 = if kind == ChildKind::Module {
                    child_sigusr1 as extern "C" fn(libc::c_int) as libc::sighandler_t
                } else {
                    libc::SIG_DFL
                };
                libc::signal(libc::SIGUSR1, usr1);
                if fds[0] != -1 {
                    libc::close(fds[0]);
                }
            }
            // Under memory pressure the kernel should pick the child before the server.
            let _ = self.set_oom_score_adj(Some(2));
            return Ok(Forked::Child { info_fd: fds[1] });
        }
        if pid == -1 {
            let e = io::Error::last_os_error();
            for fd in fds {
                if fd != -1 {
                    // SAFETY: closing the pipe this failed fork would have used.
                    unsafe { libc::close(fd) };
                }
            }
            return Err(e);
        }
        // SAFETY: the parent keeps only the read end, non-blocking (read in the cron).
        unsafe {
            if fds[1] != -1 {
                libc::close(fds[1]);
            }
            if fds[0] != -1 {
                libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK);
            }
        }
        let total_keys = self.dbs.iter().map(|d| d.len() as u64).sum();
        let p = &mut self.persist;
        p.latest_fork_usec = crate::util::monotonic_us() - started;
        p.total_forks += 1;
        p.child_pid = Some(pid);
        p.module_child = kind == ChildKind::Module;
        p.child_info_fd = (fds[0] != -1).then_some(fds[0]);
        p.current_cow_peak = 0;
        p.current_cow_size = 0;
        p.current_cow_updated_us = 0;
        p.current_save_keys_processed = 0;
        p.module_progress = 0.0;
        p.current_save_keys_total = total_keys;
        self.update_dict_resize_policy();
        crate::module::events::fire_fork_child(self, true);
        Ok(Forked::Parent { pid })
    }

    /// The running child is a BGSAVE (to disk or to replicas' sockets).
    pub fn rdb_child_active(&self) -> bool {
        self.persist.child_pid.is_some() && !self.aof.child_active && !self.persist.module_child
    }
}

/// Size of one progress message: kind, keys written, copy-on-write bytes, time of that
/// reading, module progress (f64 bits).
pub(crate) const CHILD_INFO_LEN: usize = 40;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildInfoKind {
    CurrentInfo = 0,
    RdbCowSize = 1,
    ModuleCowSize = 2,
}

/// One progress message as the parent reads it.
pub(crate) struct ChildInfo {
    pub kind: u64,
    pub keys: u64,
    pub cow: u64,
    pub cow_updated_us: u64,
    /// A module child's own progress (0..1), -1 when not given.
    pub progress: f64,
}

impl ChildInfo {
    pub fn decode(msg: &[u8; CHILD_INFO_LEN]) -> ChildInfo {
        let field = |i: usize| u64::from_le_bytes(msg[i * 8..i * 8 + 8].try_into().unwrap());
        ChildInfo {
            kind: field(0),
            keys: field(1),
            cow: field(2),
            cow_updated_us: field(3),
            progress: f64::from_bits(field(4)),
        }
    }
}

/// Bytes of this process's memory that are private and dirty: for a forked child, the pages
/// copied because the parent (or the child) wrote to them since the fork.
fn private_dirty_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup")
        .or_else(|_| std::fs::read_to_string("/proc/self/smaps"))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("Private_Dirty:"))
        .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// The child's side of the progress pipe: every 1024 keys, at most once a second, reports the
/// keys written and the copy-on-write size (measuring it costs, so readings are spaced by at
/// least ten times what the previous one took), as Redis' `sendChildInfoGeneric` does.
pub(crate) struct ChildInfoSender {
    fd: libc::c_int,
    /// How the CoW log lines name the child ("RDB", "Module fork").
    pname: &'static str,
    pub keys: u64,
    last_report_us: u64,
    cow: u64,
    cow_updated_us: u64,
    cow_cost_us: u64,
    peak: u64,
    sum: u64,
    readings: u64,
}

impl ChildInfoSender {
    pub fn new(fd: libc::c_int, pname: &'static str) -> Self {
        ChildInfoSender {
            fd,
            pname,
            keys: 0,
            last_report_us: 0,
            cow: 0,
            cow_updated_us: 0,
            cow_cost_us: 0,
            peak: 0,
            sum: 0,
            readings: 0,
        }
    }

    pub fn progress(&mut self, keys: u64) {
        self.keys = keys;
        if keys & 1023 == 1 {
            let now = crate::util::monotonic_us();
            if now - self.last_report_us >= 1_000_000 {
                self.last_report_us = now;
                self.send(ChildInfoKind::CurrentInfo, keys, -1.0);
            }
        }
    }

    /// The last report of a successful save (its copy-on-write size).
    pub fn finish(&mut self) {
        self.send(ChildInfoKind::RdbCowSize, self.keys, -1.0);
    }

    pub fn send(&mut self, kind: ChildInfoKind, keys: u64, progress: f64) {
        if self.fd == -1 {
            return;
        }
        let now = crate::util::monotonic_us();
        let final_report = kind != ChildInfoKind::CurrentInfo;
        if final_report
            || self.cow_updated_us == 0
            || now - self.cow_updated_us > self.cow_cost_us * 10
        {
            self.cow = private_dirty_bytes();
            self.cow_updated_us = crate::util::monotonic_us();
            self.cow_cost_us = self.cow_updated_us - now;
            self.peak = self.peak.max(self.cow);
            self.sum += self.cow;
            self.readings += 1;
            if self.cow != 0 || final_report {
                let line = format!(
                    "Fork CoW for {}: current {} MB, peak {} MB, average {} MB",
                    self.pname,
                    self.cow >> 20,
                    self.peak >> 20,
                    (self.sum / self.readings) >> 20
                );
                if final_report {
                    crate::log_notice!("{}", line);
                } else {
                    crate::log_verbose!("{}", line);
                }
            }
        }
        let mut msg = [0u8; CHILD_INFO_LEN];
        for (i, v) in [
            kind as u64,
            keys,
            self.cow,
            self.cow_updated_us,
            progress.to_bits(),
        ]
        .into_iter()
        .enumerate()
        {
            msg[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        // SAFETY: writes our local buffer to the pipe; a message below PIPE_BUF is atomic.
        let n = unsafe { libc::write(self.fd, msg.as_ptr().cast(), CHILD_INFO_LEN) };
        if n != CHILD_INFO_LEN as isize {
            // The parent is gone (killed): nobody will use this work.
            crate::log_warning!(
                "Child failed reporting info to parent, exiting. {}",
                crate::rdb::persist::strerror(&io::Error::last_os_error())
            );
            // SAFETY: leaves the child without the parent's exit handlers.
            unsafe { libc::_exit(1) };
        }
    }
}
