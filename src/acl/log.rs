//! The ACL LOG: recent denials (commands, keys, channels, failed AUTH), newest first, similar
//! events within a minute folded into one entry with a count, trimmed to `acllog-max-len`.

use std::collections::VecDeque;

use super::{Denied, LogContext};

/// Entries closer in time than this (ms) and otherwise equal are folded together.
const GROUPING_MAX_DELTA_MS: i64 = 60_000;
/// How many recent entries are searched for one to fold into.
const SCAN_DEPTH: usize = 10;

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub count: u64,
    pub reason: Denied,
    pub context: LogContext,
    /// The command, key, channel or (for auth) the command name.
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Unix ms of the latest occurrence.
    pub ctime: i64,
    /// CLIENT LIST line of the latest client.
    pub client_info: String,
}

impl LogEntry {
    fn similar(&self, other: &LogEntry) -> bool {
        self.reason == other.reason
            && self.context == other.context
            && (self.ctime - other.ctime).abs() <= GROUPING_MAX_DELTA_MS
            && self.object == other.object
            && self.username == other.username
    }
}

#[derive(Default)]
pub struct AclLog {
    pub entries: VecDeque<LogEntry>,
}

impl AclLog {
    /// Records a denial; `max_len` is `acllog-max-len`.
    pub fn add(&mut self, e: LogEntry, max_len: usize) {
        let found = self
            .entries
            .iter()
            .take(SCAN_DEPTH)
            .position(|old| old.similar(&e));
        if let Some(i) = found {
            let mut old = self.entries.remove(i).expect("index from position");
            old.client_info = e.client_info;
            old.ctime = e.ctime;
            old.count += 1;
            self.entries.push_front(old);
            return;
        }
        self.entries.push_front(e);
        while self.entries.len() > max_len {
            self.entries.pop_back();
        }
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }
}

pub fn reason_name(r: Denied) -> &'static str {
    match r {
        Denied::Cmd => "command",
        Denied::Key => "key",
        Denied::Channel => "channel",
        Denied::Auth => "auth",
    }
}

pub fn context_name(c: LogContext) -> &'static str {
    match c {
        LogContext::Toplevel => "toplevel",
        LogContext::Multi => "multi",
        LogContext::Lua => "lua",
        LogContext::Module => "module",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(obj: &str, t: i64) -> LogEntry {
        LogEntry {
            count: 1,
            reason: Denied::Cmd,
            context: LogContext::Toplevel,
            object: obj.as_bytes().to_vec(),
            username: b"u".to_vec(),
            ctime: t,
            client_info: String::new(),
        }
    }

    #[test]
    fn similar_entries_fold_and_the_log_is_trimmed() {
        let mut log = AclLog::default();
        log.add(entry("get", 0), 3);
        log.add(entry("get", 1000), 3);
        assert_eq!(log.entries.len(), 1);
        assert_eq!(log.entries[0].count, 2);
        log.add(entry("get", 1000 + GROUPING_MAX_DELTA_MS + 1), 3);
        assert_eq!(log.entries.len(), 2);
        log.add(entry("set", 0), 3);
        log.add(entry("del", 0), 3);
        assert_eq!(log.entries.len(), 3);
        assert_eq!(log.entries[0].object, b"del");
    }
}
