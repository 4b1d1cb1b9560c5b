//! The shutdown sequence (Redis 7.0's prepareForShutdown / isReadyToShutdown / finishShutdown /
//! abortShutdown). It lives apart from the command so that its three entry points — SHUTDOWN,
//! a SIGTERM/SIGINT noticed by the cron, and a signal during loading — share one state machine:
//!
//! - `prepare_for_shutdown` starts it. Unless NOW is given or `shutdown-timeout` is 0, a
//!   server with replicas that haven't acknowledged our whole stream doesn't exit at once:
//!   it pauses writes (so the offset stops moving), asks the replicas for an ACK, and
//!   records a deadline (`shutdown_mstime`, shown by INFO as `shutdown_in_milliseconds`).
//! - `shutdown_cron` (every cron tick) finishes once every replica acked our offset or the
//!   deadline passed. The loop keeps serving meanwhile: replicas' ACKs, reads, SHUTDOWN ABORT.
//! - `finish_shutdown` does the work (logs lagging replicas, kills children, flushes the AOF,
//!   saves, fires the module event). Failing it cancels the shutdown: the clients blocked in
//!   SHUTDOWN get the error, writes resume.

use crate::client::{flags, ClientId};
use crate::commands::server::shutdown_flags::*;
use crate::replication::state::SyncState;
use crate::server::{PauseKind, PausePurpose, Server};

/// The error clients blocked in SHUTDOWN get when it fails or is aborted.
pub const SHUTDOWN_ERR: &str = "Errors trying to SHUTDOWN. Check logs.";

/// Where a shutdown attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Done: the process may exit now.
    Exit,
    /// Waiting for replicas (or already in progress): the cron finishes it.
    Waiting,
    /// Refused (an error was logged, the shutdown cancelled).
    Failed,
}

impl Server {
    /// True while a shutdown waits for its replicas.
    pub fn shutdown_initiated(&self) -> bool {
        self.shutdown_mstime != 0
    }

    /// Starts a shutdown with SHUTDOWN's `flags`.
    pub fn prepare_for_shutdown(&mut self, mut flags: u32) -> Shutdown {
        if self.shutdown_initiated() {
            return Shutdown::Waiting;
        }
        // Saving a half-loaded dataset would overwrite the good file with less.
        if self.loading {
            flags = (flags & !SAVE) | NOSAVE;
        }
        self.shutdown_flags = flags;
        crate::log_warning!("User requested shutdown...");
        let timeout = crate::replication::primary::cfg_int(self, "shutdown-timeout");
        if flags & NOW == 0 && timeout != 0 && !self.ready_to_shutdown() {
            self.shutdown_mstime =
                crate::util::mstime().saturating_add(timeout.saturating_mul(1000));
            // While another pause holds the stream still the ACK request would only grow it.
            if self.pause == PauseKind::None {
                self.repl_send_getack();
            }
            self.pause_clients(PausePurpose::Shutdown, PauseKind::Write, i64::MAX);
            crate::log_notice!("Waiting for replicas before shutting down.");
            return Shutdown::Waiting;
        }
        self.finish_shutdown()
    }

    /// Whether every replica acknowledged our whole stream (or there are none).
    fn ready_to_shutdown(&self) -> bool {
        let offset = self.repl.master_repl_offset;
        self.repl
            .replicas
            .iter()
            .filter(|r| r.state != SyncState::Handshake)
            .all(|r| r.ack_off == offset)
    }

    /// Every cron tick: a signal's shutdown starts here (never in the handler), and a shutdown
    /// waiting for replicas finishes once they caught up or its time is up.
    pub fn shutdown_cron(&mut self) {
        if self.exit_code.is_some() {
            return;
        }
        let outcome = if self.shutdown_asap && !self.shutdown_initiated() {
            // Mid-load (a replica loading its master's snapshot from the link) the dataset
            // is half there: as in Redis, the process ends without saving it.
            let flags = if self.loading && !self.repl.async_loading {
                NOSAVE
            } else {
                self.shutdown_flags
            };
            self.prepare_for_shutdown(flags)
        } else if self.shutdown_initiated()
            && (crate::util::mstime() >= self.shutdown_mstime || self.ready_to_shutdown())
        {
            self.finish_shutdown()
        } else {
            return;
        };
        if outcome == Shutdown::Exit {
            self.exit_code = Some(0);
        }
    }

    /// The last step: refuses (and cancels) on persistence errors unless FORCE was given.
    pub fn finish_shutdown(&mut self) -> Shutdown {
        let flags = self.shutdown_flags;
        let (save, nosave, force) = (flags & SAVE != 0, flags & NOSAVE != 0, flags & FORCE != 0);
        let offset = self.repl.master_repl_offset;
        let now = self.unix_time();
        let mut lagging = Vec::new();
        let mut total = 0;
        for r in self.repl.replicas.iter() {
            if r.state == SyncState::Handshake {
                continue;
            }
            total += 1;
            if r.ack_off != offset {
                let lag = if r.state == SyncState::Online {
                    now - r.ack_time
                } else {
                    0
                };
                lagging.push((r.id, offset - r.ack_off, lag, r.state.name()));
            }
        }
        for (id, behind, lag, state) in &lagging {
            crate::log_warning!(
                "Lagging replica {} reported offset {} behind master, lag={}, state={}.",
                self.replica_name(*id, None),
                behind,
                lag,
                state
            );
        }
        if total > 0 {
            crate::log_notice!(
                "{} of {} replicas are in sync when shutting down.",
                total - lagging.len(),
                total
            );
        }
        // Our own save below must not race with a background one writing the same file.
        if self.rdb_child_active() {
            crate::log_warning!("There is a child saving an .rdb. Killing it!");
            self.kill_rdb_child();
            self.wait_rdb_child();
        }
        if let Some(pid) = self.persist.child_pid.filter(|_| self.persist.module_child) {
            crate::log_warning!("There is a module fork child. Killing it!");
            crate::module::fork::terminate_child(self, pid, false);
        }
        if self.aof_prepare_for_shutdown(force).is_err() {
            return self.shutdown_failed();
        }
        if ((!self.config.save_params.is_empty() && !nosave) || save) && !self.loading {
            crate::log_notice!("Saving the final RDB snapshot before exiting.");
            if !self.rdb_save() {
                if force {
                    crate::log_warning!("Error trying to save the DB. Exit anyway.");
                } else {
                    crate::log_warning!("Error trying to save the DB, can't exit.");
                    return self.shutdown_failed();
                }
            }
        }
        crate::module::events::fire_shutdown(self);
        if !self.config.pidfile.is_empty() {
            crate::log_notice!("Removing the pid file.");
            let _ = std::fs::remove_file(&self.config.pidfile);
        }
        if !self.config.unixsocket.is_empty() {
            let _ = std::fs::remove_file(&self.config.unixsocket);
        }
        crate::log_warning!("Redis is now ready to exit, bye bye...");
        Shutdown::Exit
    }

    fn shutdown_failed(&mut self) -> Shutdown {
        crate::log_warning!(
            "Errors trying to shut down the server. Check the logs for more information."
        );
        self.cancel_shutdown();
        Shutdown::Failed
    }

    /// Back to normal service: the signal is forgotten, SHUTDOWN's waiters get the error,
    /// writes are no longer held.
    fn cancel_shutdown(&mut self) {
        self.shutdown_asap = false;
        self.shutdown_flags = 0;
        self.shutdown_mstime = 0;
        crate::ae::clear_shutdown_pending();
        self.reply_to_shutdown_waiters();
        self.unpause_clients(PausePurpose::Shutdown);
    }

    /// SHUTDOWN ABORT. False when no shutdown was in progress or scheduled.
    pub fn abort_shutdown(&mut self) -> bool {
        if self.shutdown_initiated() {
            self.cancel_shutdown();
        } else if self.shutdown_asap {
            // A signal asked for it but the cron hasn't started it yet.
            self.shutdown_asap = false;
            crate::ae::clear_shutdown_pending();
        } else {
            return false;
        }
        crate::log_notice!("Shutdown manually aborted.");
        true
    }

    /// Blocks the running SHUTDOWN's client until the shutdown ends (it never hears back if
    /// the process exits).
    pub fn block_on_shutdown(&mut self, c: &mut crate::client::Client) {
        c.flags |= flags::BLOCKED;
        self.shutdown_waiters.push(c.id);
    }

    /// Answers every client blocked in SHUTDOWN with the error and lets it go on.
    fn reply_to_shutdown_waiters(&mut self) {
        let waiters: Vec<ClientId> = std::mem::take(&mut self.shutdown_waiters);
        for id in waiters {
            if Some(id) == self.current_client {
                // The SHUTDOWN that failed right away answers its own client.
                self.shutdown_waiters.push(id);
                continue;
            }
            let Some(mut c) = self.clients.remove(&id) else {
                continue;
            };
            if c.has(flags::BLOCKED) {
                c.out.error(SHUTDOWN_ERR);
                self.finish_unblock_external(&mut c);
                self.mark_pending_write(id);
            }
            self.clients.insert(id, c);
        }
    }

    /// INFO server's `shutdown_in_milliseconds`, while a shutdown waits.
    pub fn shutdown_in_ms(&self) -> Option<i64> {
        self.shutdown_initiated()
            .then(|| self.shutdown_mstime - crate::util::mstime())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        crate::commands::test_support::test_server()
    }

    #[test]
    fn pauses_are_kept_per_purpose() {
        let mut srv = server();
        let later = crate::util::mstime() + 60_000;
        srv.pause_clients(PausePurpose::ClientCommand, PauseKind::All, later);
        srv.pause_clients(PausePurpose::Shutdown, PauseKind::Write, i64::MAX);
        // The strictest kind is in force, until the end of that kind's pause.
        assert_eq!((srv.pause, srv.pause_end_ms), (PauseKind::All, later));
        srv.pause_lifted = false;
        // CLIENT UNPAUSE leaves the shutdown's write pause.
        srv.unpause_clients(PausePurpose::ClientCommand);
        assert_eq!((srv.pause, srv.pause_end_ms), (PauseKind::Write, i64::MAX));
        assert!(
            srv.pause_lifted,
            "held clients are retried when the pause relaxes"
        );
        srv.unpause_clients(PausePurpose::Shutdown);
        assert_eq!((srv.pause, srv.pause_end_ms), (PauseKind::None, 0));
        // A pause whose end passed is gone at the next update.
        srv.pause_clients(PausePurpose::ClientCommand, PauseKind::Write, 1);
        assert_eq!(srv.pause, PauseKind::None);
    }

    #[test]
    fn shutdown_without_replicas_finishes_at_once() {
        let mut srv = server();
        srv.config.save_params.clear();
        assert_eq!(srv.prepare_for_shutdown(NOSAVE), Shutdown::Exit);
        assert!(!srv.shutdown_initiated());
        assert!(!srv.abort_shutdown());
    }
}
