//! Server-wide services used by the command path: client pause, the slow log, latency samples,
//! MONITOR feeds, the client description line (CLIENT LIST / logs).

use std::collections::VecDeque;

use crate::client::{flags, Client, ClientId};
use crate::server::{PauseKind, PausePurpose, Server};

/// One slow log entry.
#[derive(Debug, Clone)]
pub struct SlowlogEntry {
    pub id: u64,
    pub time: i64,
    pub duration_us: u64,
    pub argv: Vec<Vec<u8>>,
    pub peer: String,
    pub name: Vec<u8>,
}

/// Latency samples of one event (LATENCY LATEST/HISTORY).
#[derive(Debug, Clone, Default)]
pub struct LatencySeries {
    /// (unix time, latency ms), at most 160 entries, one per second.
    pub samples: VecDeque<(i64, u64)>,
    pub max: u64,
}

#[derive(Default)]
pub struct Introspection {
    pub slowlog: VecDeque<SlowlogEntry>,
    pub slowlog_next_id: u64,
    pub latency: std::collections::BTreeMap<String, LatencySeries>,
}

/// Slow log arguments are capped in count and length, as in Redis.
const SLOWLOG_ENTRY_MAX_ARGC: usize = 32;
const SLOWLOG_ENTRY_MAX_STRING: usize = 128;
const LATENCY_TS_LEN: usize = 160;

impl Server {
    /// Records a command in the slow log if it took longer than the threshold.
    pub fn slowlog_push_if_needed(&mut self, c: &Client, duration_us: u64) {
        let threshold = self.config.slowlog_log_slower_than;
        if threshold < 0 || (duration_us as i64) < threshold {
            return;
        }
        let argc = c.argv.len();
        let shown = argc.min(SLOWLOG_ENTRY_MAX_ARGC);
        let mut argv = Vec::with_capacity(shown);
        for (i, a) in c.argv.iter().take(shown).enumerate() {
            if shown != argc && i == shown - 1 {
                argv.push(format!("... ({} more arguments)", argc - shown + 1).into_bytes());
            } else if a.len() > SLOWLOG_ENTRY_MAX_STRING {
                let mut s = a[..SLOWLOG_ENTRY_MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - SLOWLOG_ENTRY_MAX_STRING).as_bytes(),
                );
                argv.push(s);
            } else {
                argv.push(a.clone());
            }
        }
        let id = self.intro.slowlog_next_id;
        self.intro.slowlog_next_id += 1;
        self.intro.slowlog.push_front(SlowlogEntry {
            id,
            time: self.unix_time(),
            duration_us,
            argv,
            peer: c.addr.clone(),
            name: c.name.clone().unwrap_or_default(),
        });
        while self.intro.slowlog.len() > self.config.slowlog_max_len.max(0) as usize {
            self.intro.slowlog.pop_back();
        }
    }

    /// Adds a latency sample (ms) for `event` when it reaches `latency-monitor-threshold`.
    pub fn latency_add_sample_if_needed(&mut self, event: &str, latency_ms: u64) {
        let threshold = self.config.latency_monitor_threshold;
        if threshold <= 0 || (latency_ms as i64) < threshold {
            return;
        }
        self.latency_add_sample(event, latency_ms);
    }

    /// Adds a latency sample (ms) for `event` to its time series (LATENCY), whatever the
    /// threshold: one entry per second, keeping that second's highest.
    pub fn latency_add_sample(&mut self, event: &str, latency_ms: u64) {
        let now = self.unix_time();
        let series = self.intro.latency.entry(event.to_string()).or_default();
        series.max = series.max.max(latency_ms);
        if let Some(last) = series.samples.back_mut() {
            if last.0 == now {
                last.1 = last.1.max(latency_ms);
                return;
            }
        }
        series.samples.push_back((now, latency_ms));
        if series.samples.len() > LATENCY_TS_LEN {
            series.samples.pop_front();
        }
    }

    /// Sends an executed command to every MONITOR client, in Redis' format:
    /// `+<unix time>.<us> [<db> <addr>] "arg" "arg"`.
    pub fn feed_monitors(&mut self, c: &Client, argv: &[Vec<u8>]) {
        if self.monitors.is_empty() {
            return;
        }
        let now = crate::util::ustime();
        let mut line =
            format!("+{}.{:06} [{} ", now / 1_000_000, now % 1_000_000, c.db).into_bytes();
        if c.has(flags::SCRIPT) {
            line.extend_from_slice(b"lua");
        } else if c.has(flags::UNIX_SOCKET) {
            line.extend_from_slice(format!("unix:{}", self.config.unixsocket).as_bytes());
        } else {
            line.extend_from_slice(c.addr.as_bytes());
        }
        line.push(b']');
        for a in argv {
            line.push(b' ');
            crate::util::push_repr(&mut line, a);
        }
        line.extend_from_slice(b"\r\n");
        for id in self.monitors.clone() {
            self.send_to_client(id, &line);
        }
    }

    /// The description of a client used by CLIENT LIST / CLIENT INFO and log lines.
    pub fn client_info_string(&self, c: &Client) -> String {
        let mut fl = String::new();
        if c.has(flags::SLAVE) {
            fl.push(if c.has(flags::MONITOR) { 'O' } else { 'S' });
        }
        for (bit, ch) in [
            (flags::MASTER, 'M'),
            (flags::PUBSUB, 'P'),
            (flags::MULTI, 'x'),
            (flags::BLOCKED, 'b'),
            (flags::TRACKING, 't'),
            (flags::TRACKING_BROKEN_REDIR, 'R'),
            (flags::TRACKING_BCAST, 'B'),
            (flags::DIRTY_CAS, 'd'),
            (flags::CLOSE_AFTER_REPLY, 'c'),
            (flags::UNBLOCKED, 'u'),
            (flags::CLOSE_ASAP, 'A'),
            (flags::UNIX_SOCKET, 'U'),
            (flags::READONLY, 'r'),
            (flags::NO_EVICT, 'e'),
        ] {
            if c.has(bit) {
                fl.push(ch);
            }
        }
        if fl.is_empty() {
            fl.push('N');
        }
        let events = if matches!(c.conn, crate::client::Conn::None) {
            ""
        } else if c.write_registered {
            "rw"
        } else {
            "r"
        };
        let now = self.unix_time();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll={} omem={} tot-mem={} events={} cmd={} user={} redir={} resp={}",
            c.id,
            c.addr,
            c.laddr,
            c.conn.fd(),
            c.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
            now - c.ctime_ms / 1000,
            now - c.last_interaction_ms / 1000,
            fl,
            c.db,
            c.channels.len(),
            c.patterns.len(),
            c.shard_channels.len(),
            if c.has(flags::MULTI) { c.multi.len() as i64 } else { -1 },
            // Like Redis, the whole buffer counts, including the part of a running command
            // already parsed.
            c.querybuf.len(),
            c.querybuf.capacity() - c.querybuf.len(),
            c.argv.iter().map(|a| a.len()).sum::<usize>(),
            c.multi.iter().map(|q| q.argv.iter().map(|a| a.len()).sum::<usize>()).sum::<usize>(),
            c.out.buf_usable,
            c.out.buf_peak,
            c.out.buf_len(),
            c.out.list_len(),
            c.output_memory(),
            c.total_memory(),
            events,
            c.last_cmd.map_or("NULL", |id| self.commands.cmds[id].fullname.as_str()),
            if c.user == crate::acl::SUPERUSER {
                std::borrow::Cow::Borrowed("(superuser)")
            } else {
                String::from_utf8_lossy(self.acl.name_of(c.user))
            },
            if c.has(flags::TRACKING) { c.tracking_redirection as i64 } else { -1 },
            c.out.resp,
        )
    }

    /// Holds a client until the pause ends; its pending command runs then.
    pub fn hold_paused_client(&mut self, id: ClientId) {
        if !self.paused_clients.contains(&id) {
            self.paused_clients.push_back(id);
        }
    }

    /// Starts (or extends) a pause for one purpose: within a purpose the stricter kind and the
    /// later end win; the pause in force is the strictest of all purposes (Redis 7.0's
    /// `pauseClients`), so a SHUTDOWN waiting for replicas and a CLIENT PAUSE don't undo
    /// each other.
    pub fn pause_clients(&mut self, purpose: PausePurpose, kind: PauseKind, end_ms: i64) {
        let slot = &mut self.pause_by_purpose[purpose as usize];
        *slot = Some(match *slot {
            None => (kind, end_ms),
            Some((k, e)) => (k.max(kind), e.max(end_ms)),
        });
        self.update_pause();
    }

    /// Ends one purpose's pause; held clients are retried in the next before-sleep if what
    /// remains is less strict.
    pub fn unpause_clients(&mut self, purpose: PausePurpose) {
        if self.pause_by_purpose[purpose as usize].take().is_some() {
            self.update_pause();
        }
    }

    /// Recomputes the pause in force from the purposes, dropping expired ones: the strictest
    /// kind, and the furthest end among the purposes of that kind.
    pub fn update_pause(&mut self) {
        let now = crate::util::mstime();
        let old = self.pause;
        let mut kind = PauseKind::None;
        for slot in self.pause_by_purpose.iter_mut() {
            match *slot {
                Some((_, end)) if end < now => *slot = None,
                Some((k, _)) => kind = kind.max(k),
                None => {}
            }
        }
        let end = self
            .pause_by_purpose
            .iter()
            .flatten()
            .filter(|(k, _)| *k == kind)
            .map(|(_, e)| *e)
            .max()
            .unwrap_or(0);
        self.pause = kind;
        self.pause_end_ms = if kind == PauseKind::None { 0 } else { end };
        if kind < old {
            self.pause_lifted = true;
        }
    }

    /// Retries the held clients once the pause is over or lifted (before-sleep). A client
    /// whose command is still not allowed (a write under a WRITE pause) is held again.
    pub fn resume_unpaused_clients(&mut self, registry: &mio::Registry) {
        self.check_pause_timeout();
        if !self.pause_lifted {
            return;
        }
        self.pause_lifted = false;
        let held: Vec<ClientId> = self.paused_clients.drain(..).collect();
        for id in held {
            let Some(mut c) = self.clients.remove(&id) else {
                continue;
            };
            c.flags &= !flags::BLOCKED;
            if !c.argv.is_empty() {
                if self.process_command(&mut c) {
                    self.clients.insert(id, c);
                    continue;
                }
                if c.has(flags::MASTER) {
                    // The held command of the master's stream is applied now.
                    self.repl_master_consumed(&[], true);
                }
                // A command that blocked on keys keeps its request until unblocked.
                if !c.has(flags::BLOCKED) {
                    c.argv.clear();
                    self.command_done(&mut c);
                }
            }
            self.process_input(&mut c);
            self.put_back_client(registry, c, false);
        }
    }

    /// Per-request cleanup after a command ran or was rejected (Redis' `resetClient`): a
    /// CLIENT REPLY SKIP silences exactly the next command.
    pub fn command_done(&mut self, c: &mut Client) {
        c.redacted.clear();
        // ASKING lets only the next command (or transaction) into an importing slot.
        if c.flags & flags::ASKING != 0 && !c.has(flags::MULTI) {
            let asking = c
                .last_cmd
                .is_some_and(|id| self.commands.cmds[id].fullname == "asking");
            if !asking {
                c.flags &= !flags::ASKING;
            }
        }
        // CLIENT CACHING applies to the next command (or transaction) only: it is dropped
        // after any command but a CLIENT one, outside MULTI.
        if c.flags & flags::TRACKING_CACHING != 0 && !c.has(flags::MULTI) {
            let client_cmd = self.commands.lookup_base(b"client");
            let was_client = c.last_cmd.is_some_and(|id| {
                Some(id) == client_cmd || self.commands.cmds[id].parent == client_cmd
            });
            if !was_client {
                c.flags &= !flags::TRACKING_CACHING;
            }
        }
        if c.has(flags::REPLY_SKIP) {
            c.flags &= !flags::REPLY_SKIP;
            if !c.has(flags::REPLY_OFF | flags::CLOSE_ASAP) {
                c.out.enabled = true;
            }
        }
        if c.has(flags::REPLY_SKIP_NEXT) {
            c.flags &= !flags::REPLY_SKIP_NEXT;
            c.flags |= flags::REPLY_SKIP;
            c.out.enabled = false;
        }
    }

    /// Applies `oom-score-adj` to this process for a class (0 master, 1 replica, 2 background
    /// child; None: this server's role), as Redis' `setOOMScoreAdj`. The score found before we
    /// first changed it is kept, so `relative` adds to it and turning the option off restores it.
    pub fn set_oom_score_adj(&mut self, class: Option<usize>) -> Result<(), String> {
        const PATH: &str = "/proc/self/oom_score_adj";
        let class = class.unwrap_or(if self.is_replica() { 1 } else { 0 });
        let val = if self.config.oom_score_adj != 0 {
            let base = match self.oom_score_base {
                Some(b) => b,
                None => {
                    let text = std::fs::read_to_string(PATH)
                        .map_err(|e| format!("Unable to read oom_score_adj: {}", e))?;
                    let b = text.trim().parse::<i64>().unwrap_or(0);
                    self.oom_score_base = Some(b);
                    b
                }
            };
            let mut v = self.config.oom_score_adj_values[class];
            if self.config.oom_score_adj == 1 {
                v += base;
            }
            v.clamp(-1000, 1000)
        } else if let Some(base) = self.oom_score_base.take() {
            base
        } else {
            return Ok(());
        };
        std::fs::write(PATH, format!("{}\n", val)).map_err(|e| {
            let msg = format!("Unable to write oom_score_adj: {}", e);
            crate::log_warning!("{}", msg);
            msg
        })
    }
}
