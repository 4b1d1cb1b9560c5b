//! Replication. For now: the propagation log, the single path by which every write leaves a
//! command — native writes, expirations and evictions (as DEL/UNLINK), and later module
//! `Replicate` calls and script effects. At the end of the outermost call the log is flushed as
//! one unit: several entries are wrapped in MULTI/EXEC. Each entry says which consumers it is
//! for (the AOF, the replication stream or both, as Redis' PROPAGATE_AOF / PROPAGATE_REPL), and
//! each consumer keeps its own idea of the selected database (`SelectedDb`), because in Redis
//! the AOF and the replicas see different streams: a command kept from one still goes to the
//! other. The consumers attach in `Server::flush_propagation`.

pub mod backlog;
pub mod primary;
pub mod replica;
pub mod state;

/// Which consumers a propagated command is for.
pub mod target {
    pub const AOF: u8 = 1;
    pub const REPL: u8 = 2;
    pub const ALL: u8 = AOF | REPL;
}

/// One propagated command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropEntry {
    pub db: usize,
    pub argv: Vec<Vec<u8>>,
    /// `target::AOF`, `target::REPL` or both.
    pub targets: u8,
}

#[derive(Debug, Default)]
pub struct PropLog {
    /// True while something consumes the stream (an AOF or replicas). Without consumers, as in
    /// Redis, writes are not copied into the log at all.
    pub enabled: bool,
    pending: Vec<PropEntry>,
    /// Nesting depth of `call`s; the log is flushed when the outermost one ends.
    pub depth: usize,
    /// Commands emitted so far, MULTI/EXEC included (for tests).
    pub emitted: u64,
    /// Set around a flush whose entries must not be wrapped in MULTI/EXEC.
    pub no_multi: bool,
    /// Set while a module's RedisModule_Call without `!` runs: nothing the called command
    /// does (its own nested calls, RedisModule_Replicate, notification handlers) propagates
    /// (Redis' `replication_allowed`), except deletions of expired or evicted keys.
    pub suppressed: bool,
    /// Module contexts open outside thread-safe ones (Redis' `module_ctx_nesting`): writes of
    /// a module callback run outside any command (timers, events) are propagated together
    /// when the outermost context ends, not after each of its calls.
    pub module_nesting: usize,
}

impl PropLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a write to propagate to every consumer.
    pub fn push(&mut self, db: usize, argv: Vec<Vec<u8>>) {
        self.push_to(db, argv, target::ALL);
    }

    /// Records a write for some consumers only.
    pub fn push_to(&mut self, db: usize, argv: Vec<Vec<u8>>, targets: u8) {
        if targets != 0 && !self.suppressed {
            self.pending.push(PropEntry { db, argv, targets });
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Hands out the pending entries as the unit to emit: wrapped in MULTI/EXEC when there is
    /// more than one. MULTI carries the first entry's database, so a consumer that must switch
    /// databases does it before the transaction starts.
    pub fn flush(&mut self) -> Vec<PropEntry> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let entries = std::mem::take(&mut self.pending);
        let wrap = entries.len() > 1 && !self.no_multi;
        if !wrap {
            self.emitted += entries.len() as u64;
            return entries;
        }
        let first_db = entries[0].db;
        let last_db = entries[entries.len() - 1].db;
        let mut out = Vec::with_capacity(entries.len() + 2);
        out.push(PropEntry {
            db: first_db,
            argv: vec![b"MULTI".to_vec()],
            targets: target::ALL,
        });
        out.extend(entries);
        out.push(PropEntry {
            db: last_db,
            argv: vec![b"EXEC".to_vec()],
            targets: target::ALL,
        });
        self.emitted += out.len() as u64;
        out
    }
}

/// The database a consumer's command stream is in, so that it emits SELECT exactly when the
/// next command belongs to another one.
#[derive(Debug, Default, Clone, Copy)]
pub struct SelectedDb(Option<usize>);

impl SelectedDb {
    /// The SELECT to emit before a command of database `db`, if one is needed.
    pub fn select_for(&mut self, db: usize) -> Option<Vec<Vec<u8>>> {
        if self.0 == Some(db) {
            return None;
        }
        self.0 = Some(db);
        Some(vec![b"SELECT".to_vec(), db.to_string().into_bytes()])
    }

    /// The database the stream is in, if known.
    pub fn current(&self) -> Option<usize> {
        self.0
    }

    /// Forgets the database, so the next command starts with SELECT (a new replica or a new
    /// AOF file needs this).
    pub fn reset(&mut self) {
        self.0 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    fn argvs(entries: &[PropEntry]) -> Vec<Vec<Vec<u8>>> {
        entries.iter().map(|e| e.argv.clone()).collect()
    }

    #[test]
    fn single_write_is_emitted_alone() {
        let mut log = PropLog::new();
        log.push(0, argv(&["SET", "a", "1"]));
        let out = log.flush();
        assert_eq!(argvs(&out), vec![argv(&["SET", "a", "1"])]);
        assert_eq!(out[0].targets, target::ALL);
        assert_eq!(log.emitted, 1);
    }

    #[test]
    fn several_writes_are_wrapped_in_multi_exec() {
        let mut log = PropLog::new();
        log.push(3, argv(&["DEL", "expired"]));
        log.push_to(3, argv(&["SET", "a", "1"]), target::AOF);
        let out = log.flush();
        assert_eq!(
            argvs(&out),
            vec![
                argv(&["MULTI"]),
                argv(&["DEL", "expired"]),
                argv(&["SET", "a", "1"]),
                argv(&["EXEC"])
            ]
        );
        assert_eq!(out[0].db, 3);
        assert_eq!(out[2].targets, target::AOF);
        assert_eq!(out[3].targets, target::ALL);
    }

    #[test]
    fn no_multi_leaves_several_writes_unwrapped() {
        let mut log = PropLog::new();
        log.no_multi = true;
        log.push(0, argv(&["DEL", "foo1"]));
        log.push(0, argv(&["DEL", "foo2"]));
        assert_eq!(
            argvs(&log.flush()),
            vec![argv(&["DEL", "foo1"]), argv(&["DEL", "foo2"])]
        );
    }

    #[test]
    fn an_entry_for_no_consumer_is_dropped() {
        let mut log = PropLog::new();
        log.push_to(0, argv(&["SET", "a", "1"]), 0);
        assert!(!log.has_pending());
    }

    #[test]
    fn select_is_needed_on_first_use_on_switch_and_after_reset() {
        let mut sel = SelectedDb::default();
        assert_eq!(sel.select_for(2), Some(argv(&["SELECT", "2"])));
        assert_eq!(sel.select_for(2), None);
        assert_eq!(sel.select_for(0), Some(argv(&["SELECT", "0"])));
        sel.reset();
        assert_eq!(sel.select_for(0), Some(argv(&["SELECT", "0"])));
    }

    #[test]
    fn empty_flush_emits_nothing() {
        let mut log = PropLog::new();
        assert!(log.flush().is_empty());
        assert_eq!(log.emitted, 0);
    }
}
