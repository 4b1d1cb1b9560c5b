//! Replication. For now: the propagation log, the single path by which every write leaves a
//! command — native writes, expirations and evictions (as DEL/UNLINK), and later module
//! `Replicate` calls and script effects. At the end of the outermost call the log is flushed as
//! one unit: several entries are wrapped in MULTI/EXEC, and a SELECT is emitted whenever the
//! target database differs from the last one emitted. The AOF and the replication stream consume
//! these batches; both attach in later work, through `PropLog::flush`.

/// One propagated command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropEntry {
    pub db: usize,
    pub argv: Vec<Vec<u8>>,
}

#[derive(Debug, Default)]
pub struct PropLog {
    /// True while something consumes the stream (an AOF or replicas). Without consumers, as in
    /// Redis, writes are not copied into the log at all.
    pub enabled: bool,
    pending: Vec<PropEntry>,
    /// Database of the last command emitted to the stream (None: a SELECT is needed first).
    last_db: Option<usize>,
    /// Nesting depth of `call`s; the log is flushed when the outermost one ends.
    pub depth: usize,
    /// Commands emitted so far (for INFO / tests).
    pub emitted: u64,
    /// Set around a flush whose entries must not be wrapped in MULTI/EXEC.
    pub no_multi: bool,
}

impl PropLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a write to propagate.
    pub fn push(&mut self, db: usize, argv: Vec<Vec<u8>>) {
        self.pending.push(PropEntry { db, argv });
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Forgets which database the stream is in, so the next batch starts with SELECT (a new
    /// replica or a new AOF needs this).
    pub fn reset_selected_db(&mut self) {
        self.last_db = None;
    }

    /// Turns the pending entries into the command stream to emit: SELECTs where the database
    /// changes, and MULTI/EXEC around more than one entry.
    pub fn flush(&mut self) -> Vec<Vec<Vec<u8>>> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let entries = std::mem::take(&mut self.pending);
        let wrap = entries.len() > 1 && !self.no_multi;
        let mut out = Vec::with_capacity(entries.len() + 3);
        for (i, e) in entries.into_iter().enumerate() {
            if self.last_db != Some(e.db) {
                out.push(vec![b"SELECT".to_vec(), e.db.to_string().into_bytes()]);
                self.last_db = Some(e.db);
            }
            if wrap && i == 0 {
                out.push(vec![b"MULTI".to_vec()]);
            }
            out.push(e.argv);
        }
        if wrap {
            out.push(vec![b"EXEC".to_vec()]);
        }
        self.emitted += out.len() as u64;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    #[test]
    fn single_write_is_emitted_after_select() {
        let mut log = PropLog::new();
        log.push(0, argv(&["SET", "a", "1"]));
        assert_eq!(
            log.flush(),
            vec![argv(&["SELECT", "0"]), argv(&["SET", "a", "1"])]
        );
        log.push(0, argv(&["DEL", "a"]));
        assert_eq!(log.flush(), vec![argv(&["DEL", "a"])]);
    }

    #[test]
    fn several_writes_are_wrapped_in_multi_exec() {
        let mut log = PropLog::new();
        log.push(0, argv(&["DEL", "expired"]));
        log.push(0, argv(&["SET", "a", "1"]));
        let out = log.flush();
        assert_eq!(
            out,
            vec![
                argv(&["SELECT", "0"]),
                argv(&["MULTI"]),
                argv(&["DEL", "expired"]),
                argv(&["SET", "a", "1"]),
                argv(&["EXEC"])
            ]
        );
    }

    #[test]
    fn no_multi_leaves_several_writes_unwrapped() {
        let mut log = PropLog::new();
        log.no_multi = true;
        log.push(0, argv(&["DEL", "foo1"]));
        log.push(0, argv(&["DEL", "foo2"]));
        assert_eq!(
            log.flush(),
            vec![
                argv(&["SELECT", "0"]),
                argv(&["DEL", "foo1"]),
                argv(&["DEL", "foo2"])
            ]
        );
    }

    #[test]
    fn database_switch_emits_select() {
        let mut log = PropLog::new();
        log.push(1, argv(&["SET", "a", "1"]));
        log.flush();
        log.push(2, argv(&["SET", "b", "1"]));
        assert_eq!(
            log.flush(),
            vec![argv(&["SELECT", "2"]), argv(&["SET", "b", "1"])]
        );
        log.reset_selected_db();
        log.push(2, argv(&["SET", "c", "1"]));
        assert_eq!(log.flush()[0], argv(&["SELECT", "2"]));
    }

    #[test]
    fn empty_flush_emits_nothing() {
        let mut log = PropLog::new();
        assert!(log.flush().is_empty());
        assert_eq!(log.emitted, 0);
    }
}
