//! List values (Redis 7.0's t_list.c type layer). Redis 7.0 keeps every list as a quicklist,
//! whatever its size, so there is one encoding; the enum still names it the way `OBJECT
//! ENCODING` does, like the other types. `Value` boxes it, so the quicklist sits inline here
//! (one pointer from the keyspace entry to the quicklist header, as in Redis).

pub mod quicklist;

use crate::types::listpack::Entry;
pub use quicklist::{set_packed_threshold, Elem, QuickList};

#[derive(Debug, Clone)]
pub enum ListValue {
    Quicklist(QuickList),
}

impl ListValue {
    /// An empty list with the current `list-max-listpack-size` and `list-compress-depth`
    /// (a list keeps the settings it was created with, as in Redis).
    pub fn new(fill: i64, compress: i64) -> ListValue {
        ListValue::Quicklist(QuickList::new(fill, compress))
    }

    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    pub fn ql(&self) -> &QuickList {
        match self {
            ListValue::Quicklist(q) => q,
        }
    }

    pub fn ql_mut(&mut self) -> &mut QuickList {
        match self {
            ListValue::Quicklist(q) => q,
        }
    }

    pub fn len(&self) -> usize {
        self.ql().len()
    }

    pub fn is_empty(&self) -> bool {
        self.ql().is_empty()
    }

    pub fn push(&mut self, v: &[u8], head: bool) {
        self.ql_mut().push(v, head)
    }

    pub fn pop(&mut self, head: bool) -> Option<Elem> {
        self.ql_mut().pop(head)
    }

    /// Calls `f` for the elements from `start` to `end` inclusive (already clamped to the
    /// list), in reverse when `reverse` (then from `end` down to `start`).
    pub fn range(&self, start: usize, end: usize, reverse: bool, mut f: impl FnMut(Entry<'_>)) {
        let mut left = end - start + 1;
        let from = if reverse { end } else { start };
        self.ql().for_each_from(from, !reverse, |e| {
            f(e);
            left -= 1;
            left > 0
        });
    }

    /// Every element as bytes, head first.
    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len());
        self.ql().for_each(|e| {
            out.push(e.to_vec());
            true
        });
        out
    }
}
