//! Streams (Redis 7.0's stream.h and the data half of t_stream.c): entries packed into
//! listpack nodes laid out byte for byte as Redis lays them out (master entry, delta-encoded
//! IDs, same-fields flag, back-pointing entry counts), indexed by each node's master ID, plus
//! the consumer groups with their pending entries lists.
//!
//! The node bytes must be Redis' own because RDB (`RDB_TYPE_STREAM_LISTPACKS*`) and DUMP
//! carry them verbatim. The index is an ordered map instead of a radix tree: a stream holds
//! one node per ~100 entries, so the index is a small fraction of the data either way.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::listpack::{Entry, Listpack, Pos};

#[cfg(test)]
mod tests;

/// An entry ID: milliseconds and sequence, ordered as the 128-bit number Redis uses as the
/// radix tree key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// The next ID, or None past the last one.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                return None;
            }
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, or None before the first one.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                return None;
            }
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    pub fn is_zero(self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// "ms-seq", the form IDs are replied and propagated in.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut ms = itoa::Buffer::new();
        let mut seq = itoa::Buffer::new();
        let (ms, seq) = (
            ms.format(self.ms).as_bytes(),
            seq.format(self.seq).as_bytes(),
        );
        let mut out = Vec::with_capacity(ms.len() + 1 + seq.len());
        out.extend_from_slice(ms);
        out.push(b'-');
        out.extend_from_slice(seq);
        out
    }

    /// Parses a client-given ID. `missing_seq` is used when only the ms part is given;
    /// `strict` rejects "-" and "+"; `seq_star` accepts "ms-*" (XADD). Returns the ID and
    /// whether the sequence was given (false only for "ms-*").
    pub fn parse(s: &[u8], missing_seq: u64, strict: bool, seq_star: bool) -> Option<(Self, bool)> {
        if s.len() > 127 {
            return None;
        }
        if s == b"-" || s == b"+" {
            if strict {
                return None;
            }
            return Some((if s == b"-" { Self::MIN } else { Self::MAX }, true));
        }
        let (ms_part, seq_part) = match s.iter().position(|&b| b == b'-') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let ms = parse_u64(ms_part)?;
        let (seq, given) = match seq_part {
            Some(b"*") if seq_star => (0, false),
            Some(p) => (parse_u64(p)?, true),
            None => (missing_seq, true),
        };
        Some((StreamId::new(ms, seq), given))
    }
}

/// Redis' `string2ull`: a canonical signed integer must be non-negative; anything else goes
/// through C's `strtoull` (leading blanks, a sign, base 10, no trailing bytes, no overflow).
fn parse_u64(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::util::parse_i64(s) {
        return (v >= 0).then_some(v as u64);
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    if i >= s.len() || s.iter().skip(i).any(|b| !b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for &b in &s[i..] {
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Entry flags stored in each entry's first listpack element.
pub const FLAG_DELETED: i64 = 1;
pub const FLAG_SAMEFIELDS: i64 = 2;

/// Largest listpack a node may grow to (Redis' `STREAM_LISTPACK_MAX_SIZE`).
pub const NODE_MAX_SIZE: usize = 1 << 30;
/// Bytes reserved for a new tail node (Redis' `STREAM_LISTPACK_MAX_PRE_ALLOCATE`).
const NODE_PREALLOC: usize = 4096;

/// The integer an element holds (stream metadata is always stored as integers).
fn lp_int(e: Entry<'_>) -> i64 {
    match e {
        Entry::Int(v) => v,
        Entry::Str(s) => crate::util::parse_i64(s).unwrap_or(0),
    }
}

/// One decoded entry of a node.
#[derive(Debug, Clone)]
pub struct NodeEntry {
    pub id: StreamId,
    pub flags: i64,
    /// Position of the flags element, to mark the entry deleted in place.
    pub flags_pos: Pos,
    /// Position of the element after the ID (num-fields, or the first value).
    body: Pos,
    /// Field, value, field, value... (filled only where fields were asked for).
    pub fields: Vec<Vec<u8>>,
}

impl NodeEntry {
    pub fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }
}

/// A node's master fields.
fn master_fields(lp: &Listpack) -> Vec<Vec<u8>> {
    let next = |p: Pos| lp.next(p).expect("well-formed stream node");
    let mut p = next(next(lp.first().expect("stream node")));
    let n = lp_int(lp.get(p)) as usize;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        p = next(p);
        out.push(lp.get(p).to_vec());
    }
    out
}

/// The field/value pairs of one entry of the node.
fn entry_fields(lp: &Listpack, master: &[Vec<u8>], e: &NodeEntry) -> Vec<Vec<u8>> {
    let next = |p: Pos| lp.next(p).expect("well-formed stream node");
    let mut out;
    if e.flags & FLAG_SAMEFIELDS != 0 {
        out = Vec::with_capacity(master.len() * 2);
        let mut p = e.body;
        for (i, f) in master.iter().enumerate() {
            if i > 0 {
                p = next(p);
            }
            out.push(f.clone());
            out.push(lp.get(p).to_vec());
        }
    } else {
        let n = lp_int(lp.get(e.body)) as usize;
        out = Vec::with_capacity(n * 2);
        let mut p = e.body;
        for _ in 0..n * 2 {
            p = next(p);
            out.push(lp.get(p).to_vec());
        }
    }
    out
}

/// Walks a node's entries in order without decoding their fields.
struct NodeIter<'a> {
    lp: &'a Listpack,
    master: StreamId,
    nfields: usize,
    cur: Option<Pos>,
}

impl<'a> NodeIter<'a> {
    fn new(master: StreamId, lp: &'a Listpack) -> Self {
        let next = |p: Pos| lp.next(p).expect("well-formed stream node");
        let Some(mut p) = lp.first() else {
            return NodeIter {
                lp,
                master,
                nfields: 0,
                cur: None,
            };
        };
        p = next(p); // deleted count
        p = next(p); // master field count
        let nfields = lp_int(lp.get(p)) as usize;
        for _ in 0..nfields {
            p = next(p);
        }
        // Past the master terminator.
        NodeIter {
            lp,
            master,
            nfields,
            cur: lp.next(next(p)),
        }
    }
}

impl Iterator for NodeIter<'_> {
    type Item = NodeEntry;

    fn next(&mut self) -> Option<NodeEntry> {
        let lp = self.lp;
        let next = |p: Pos| lp.next(p).expect("well-formed stream node");
        let fp = self.cur?;
        let flags = lp_int(lp.get(fp));
        let mut p = next(fp);
        let ms_delta = lp_int(lp.get(p)) as u64;
        p = next(p);
        let seq_delta = lp_int(lp.get(p)) as u64;
        let id = StreamId::new(
            self.master.ms.wrapping_add(ms_delta),
            self.master.seq.wrapping_add(seq_delta),
        );
        let body = next(p);
        // The body (values, or num-fields and pairs), then lp-count.
        let skip = if flags & FLAG_SAMEFIELDS != 0 {
            self.nfields
        } else {
            1 + 2 * lp_int(lp.get(body)) as usize
        };
        for _ in 0..skip + 1 {
            p = next(p);
        }
        self.cur = lp.next(p);
        Some(NodeEntry {
            id,
            flags,
            flags_pos: fp,
            body,
            fields: Vec::new(),
        })
    }
}

/// Walks a node's entries from the last one back, without decoding their fields. Every entry
/// ends with its lp-count (how many elements precede it within the entry), which is what makes
/// the backward step possible; the master entry ends with a 0 there, so reaching it ends the walk.
struct NodeRevIter<'a> {
    lp: &'a Listpack,
    master: StreamId,
    /// The lp-count element of the next entry to return.
    cur: Option<Pos>,
}

impl<'a> NodeRevIter<'a> {
    fn new(master: StreamId, lp: &'a Listpack) -> Self {
        NodeRevIter {
            lp,
            master,
            cur: lp.last(),
        }
    }
}

impl Iterator for NodeRevIter<'_> {
    type Item = NodeEntry;

    fn next(&mut self) -> Option<NodeEntry> {
        let lp = self.lp;
        let prev = |p: Pos| lp.prev(p).expect("well-formed stream node");
        let next = |p: Pos| lp.next(p).expect("well-formed stream node");
        let count_pos = self.cur?;
        let count = lp_int(lp.get(count_pos));
        if count <= 0 {
            // The master entry's terminator.
            self.cur = None;
            return None;
        }
        let mut fp = count_pos;
        for _ in 0..count {
            fp = prev(fp);
        }
        self.cur = lp.prev(fp);
        let flags = lp_int(lp.get(fp));
        let mut p = next(fp);
        let ms_delta = lp_int(lp.get(p)) as u64;
        p = next(p);
        let seq_delta = lp_int(lp.get(p)) as u64;
        Some(NodeEntry {
            id: StreamId::new(
                self.master.ms.wrapping_add(ms_delta),
                self.master.seq.wrapping_add(seq_delta),
            ),
            flags,
            flags_pos: fp,
            body: next(p),
            fields: Vec::new(),
        })
    }
}

/// Decodes the entries of a node in order; `want_fields` copies the field/value data.
pub fn decode_node(master: StreamId, lp: &Listpack, want_fields: bool) -> Vec<NodeEntry> {
    let mut out: Vec<NodeEntry> = NodeIter::new(master, lp).collect();
    if want_fields {
        let mf = master_fields(lp);
        for e in out.iter_mut() {
            e.fields = entry_fields(lp, &mf, e);
        }
    }
    out
}

/// A pending entry: delivered to `consumer` and not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    pub delivery_time: i64,
    pub delivery_count: u64,
    /// Owner's name (empty only transiently, for an XCLAIM FORCE entry being created).
    pub consumer: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub seen_time: i64,
    /// IDs this consumer owns in the group's PEL.
    pub pel: BTreeSet<StreamId>,
}

/// `entries_read` value meaning "unknown" (Redis' `SCG_INVALID_ENTRIES_READ`).
pub const INVALID_ENTRIES_READ: i64 = -1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Self {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Removes a PEL entry from the group and its owner.
    pub fn remove_nack(&mut self, id: StreamId) -> Option<Nack> {
        let nack = self.pel.remove(&id)?;
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pel.remove(&id);
        }
        Some(nack)
    }
}

/// Why an append was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The ID is not greater than the last one (or the sequence is exhausted).
    IdTooSmall,
    /// The entry is larger than a node may hold.
    TooLarge,
}

/// How XADD/XTRIM trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    None,
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Listpack>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_entry_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Vec<u8>, Group>,
}

impl Stream {
    pub fn new() -> Self {
        Self::default()
    }

    /// The nodes in ID order: (master ID, listpack), what RDB saves.
    pub fn nodes(&self) -> impl DoubleEndedIterator<Item = (&StreamId, &Listpack)> {
        self.nodes.iter()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Adds a node as loaded from RDB (bytes already validated by the caller).
    pub fn insert_node(&mut self, master: StreamId, lp: Listpack) {
        self.nodes.insert(master, lp);
    }

    /// Bytes allocated for node data (for MEMORY USAGE).
    pub fn node_alloc_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes.values().map(|lp| lp.capacity())
    }

    /// Appends an entry (`fv` = field, value, ...). `use_id` is an explicit ID and whether
    /// its sequence was given; otherwise the ID is generated from `now_ms`.
    pub fn append(
        &mut self,
        fv: &[Vec<u8>],
        use_id: Option<(StreamId, bool)>,
        now_ms: u64,
        node_max_bytes: usize,
        node_max_entries: usize,
    ) -> Result<StreamId, AppendError> {
        let id = match use_id {
            Some((id, true)) => id,
            Some((id, false)) => {
                if self.last_id.ms == id.ms {
                    if self.last_id.seq == u64::MAX {
                        return Err(AppendError::IdTooSmall);
                    }
                    StreamId::new(id.ms, self.last_id.seq + 1)
                } else {
                    id
                }
            }
            None => {
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    self.last_id.incr().unwrap_or(StreamId::MIN)
                }
            }
        };
        if id <= self.last_id {
            return Err(AppendError::IdTooSmall);
        }
        let totlen: usize = fv.iter().map(|v| v.len()).sum();
        if totlen > NODE_MAX_SIZE {
            return Err(AppendError::TooLarge);
        }
        let numfields = fv.len() / 2;

        // Close the tail node when it is full by bytes or by entries (live + deleted).
        let mut tail = self.nodes.iter_mut().next_back().map(|(k, lp)| (*k, lp));
        if let Some((_, lp)) = &mut tail {
            let max_bytes = if node_max_bytes == 0 || node_max_bytes > NODE_MAX_SIZE {
                NODE_MAX_SIZE
            } else {
                node_max_bytes
            };
            let full = if lp.bytes_len() + totlen >= max_bytes {
                true
            } else if node_max_entries != 0 {
                let p = lp.first().expect("stream node");
                let count = lp_int(lp.get(p)) + lp_int(lp.get(lp.next(p).expect("stream node")));
                count >= node_max_entries as i64
            } else {
                false
            };
            if full {
                lp.shrink_to_fit();
                tail = None;
            }
        }

        let mut flags = 0i64;
        let master = match tail {
            None => {
                let prealloc = if node_max_bytes > 0 && node_max_bytes < NODE_PREALLOC {
                    node_max_bytes
                } else {
                    NODE_PREALLOC
                };
                let mut lp = Listpack::with_capacity(prealloc);
                lp.append(b"1");
                lp.append(b"0");
                lp.append(numfields.to_string().as_bytes());
                for i in 0..numfields {
                    lp.append(&fv[i * 2]);
                }
                lp.append(b"0");
                self.nodes.insert(id, lp);
                flags |= FLAG_SAMEFIELDS;
                id
            }
            Some((master, lp)) => {
                let p = lp.first().expect("stream node");
                let count = lp_int(lp.get(p));
                let p = lp.replace(p, (count + 1).to_string().as_bytes());
                let p = lp.next(p).expect("stream node"); // deleted
                let mut p = lp.next(p).expect("stream node"); // master field count
                let mcount = lp_int(lp.get(p)) as usize;
                if mcount == numfields {
                    let mut same = true;
                    for i in 0..mcount {
                        p = lp.next(p).expect("stream node");
                        if lp.get(p).to_vec() != fv[i * 2] {
                            same = false;
                            break;
                        }
                    }
                    if same {
                        flags |= FLAG_SAMEFIELDS;
                    }
                }
                master
            }
        };
        let lp = self.nodes.get_mut(&master).expect("tail node");
        lp.append(flags.to_string().as_bytes());
        lp.append(
            (id.ms.wrapping_sub(master.ms) as i64)
                .to_string()
                .as_bytes(),
        );
        lp.append(
            (id.seq.wrapping_sub(master.seq) as i64)
                .to_string()
                .as_bytes(),
        );
        let same = flags & FLAG_SAMEFIELDS != 0;
        if !same {
            lp.append(numfields.to_string().as_bytes());
        }
        for i in 0..numfields {
            if !same {
                lp.append(&fv[i * 2]);
            }
            lp.append(&fv[i * 2 + 1]);
        }
        let mut lp_count = numfields + 3;
        if !same {
            lp_count += numfields + 1;
        }
        lp.append(lp_count.to_string().as_bytes());

        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Visits the entries with `start <= id <= end` in order (reversed with `rev`), live ones
    /// only unless `tombstones`; stops when `f` returns false. Field data is decoded only
    /// with `want_fields`.
    pub fn for_range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        tombstones: bool,
        want_fields: bool,
        mut f: impl FnMut(&mut NodeEntry) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            let from = self
                .nodes
                .range(..=start)
                .next_back()
                .map(|(k, _)| *k)
                .unwrap_or(StreamId::MIN);
            for (k, lp) in self.nodes.range(from..) {
                if *k > end {
                    return;
                }
                let mf = if want_fields {
                    master_fields(lp)
                } else {
                    Vec::new()
                };
                for mut e in NodeIter::new(*k, lp) {
                    if e.id < start || (!tombstones && e.deleted()) {
                        continue;
                    }
                    if e.id > end {
                        return;
                    }
                    if want_fields {
                        e.fields = entry_fields(lp, &mf, &e);
                    }
                    if !f(&mut e) {
                        return;
                    }
                }
            }
        } else {
            for (k, lp) in self.nodes.range(..=end).rev() {
                let mf = if want_fields {
                    master_fields(lp)
                } else {
                    Vec::new()
                };
                for mut e in NodeRevIter::new(*k, lp) {
                    if e.id > end || (!tombstones && e.deleted()) {
                        continue;
                    }
                    if e.id < start {
                        return;
                    }
                    if want_fields {
                        e.fields = entry_fields(lp, &mf, &e);
                    }
                    if !f(&mut e) {
                        return;
                    }
                }
            }
        }
    }

    /// The fields of one live entry.
    pub fn get(&self, id: StreamId) -> Option<Vec<Vec<u8>>> {
        let mut out = None;
        self.for_range(id, id, false, false, true, |e| {
            out = Some(e.fields.clone());
            false
        });
        out
    }

    pub fn entry_exists(&self, id: StreamId) -> bool {
        let mut found = false;
        self.for_range(id, id, false, false, false, |_| {
            found = true;
            false
        });
        found
    }

    /// First or last entry ID (including tombstones unless `skip_tombstones`); when there is
    /// none, MAX for the first and MIN for the last, as Redis answers.
    pub fn edge_id(&self, first: bool, skip_tombstones: bool) -> StreamId {
        let mut out = None;
        self.for_range(
            StreamId::MIN,
            StreamId::MAX,
            !first,
            !skip_tombstones,
            false,
            |e| {
                out = Some(e.id);
                false
            },
        );
        out.unwrap_or(if first { StreamId::MAX } else { StreamId::MIN })
    }

    /// The last live entry's ID (0-0 when empty).
    pub fn last_valid_id(&self) -> StreamId {
        if self.length == 0 {
            return StreamId::MIN;
        }
        self.edge_id(false, true)
    }

    /// Marks one live entry deleted (removing its node when it was the node's last live
    /// entry). Returns whether it existed.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, lp)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(e) = decode_node(master, lp, false)
            .into_iter()
            .find(|e| e.id == id && !e.deleted())
        else {
            return false;
        };
        let p = lp.first().expect("stream node");
        let count = lp_int(lp.get(p));
        if count == 1 {
            self.nodes.remove(&master);
        } else {
            lp.replace(e.flags_pos, (e.flags | FLAG_DELETED).to_string().as_bytes());
            Self::add_counts(lp, -1, 1);
        }
        self.length -= 1;
        true
    }

    /// Adjusts a node's live and deleted counters in its master entry.
    fn add_counts(lp: &mut Listpack, live: i64, deleted: i64) {
        let p = lp.first().expect("stream node");
        let count = lp_int(lp.get(p));
        let p = lp.replace(p, (count + live).to_string().as_bytes());
        let p = lp.next(p).expect("stream node");
        let del = lp_int(lp.get(p));
        lp.replace(p, (del + deleted).to_string().as_bytes());
    }

    /// Trims from the head (Redis' `streamTrim`): whole nodes first; with `approx` only whole
    /// nodes; `limit` (0 = none) caps the entries removed. Returns the number removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        if how == Trim::None {
            return 0;
        }
        let mut deleted: u64 = 0;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, lp)) = self.nodes.iter_mut().next() else {
                break;
            };
            let entries = lp_int(lp.get(lp.first().expect("stream node"))) as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => {
                    let last = decode_node(master, lp, false)
                        .last()
                        .map(|e| e.id)
                        .unwrap_or(master);
                    last < min
                }
                Trim::None => unreachable!(),
            };
            if remove_node {
                self.nodes.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            // Mark entries deleted one by one inside this node.
            let mut from_node = 0i64;
            for e in decode_node(master, lp, false) {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => e.id >= min,
                    Trim::None => true,
                };
                if stop {
                    break;
                }
                if !e.deleted() {
                    lp.replace(e.flags_pos, (e.flags | FLAG_DELETED).to_string().as_bytes());
                    from_node += 1;
                    self.length -= 1;
                }
            }
            deleted += from_node as u64;
            Self::add_counts(lp, -from_node, from_node);
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted != 0 {
            self.first_id = self.edge_id(true, true);
        }
        deleted
    }

    /// Whether `[start, end]` may contain a deleted entry (Redis' `streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted_entry_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_entry_id {
            return false;
        }
        let s = start.unwrap_or(StreamId::MIN);
        let e = end.unwrap_or(StreamId::MAX);
        s <= self.max_deleted_entry_id && self.max_deleted_entry_id <= e
    }

    /// The logical read counter of `id`, when it can be known (Redis'
    /// `streamEstimateDistanceFromFirstEverEntry`); None when not.
    /// The counters come from RESTORE payloads too and may disagree with each other, so the
    /// arithmetic wraps as Redis' unsigned counters do instead of trapping.
    pub fn estimate_distance(&self, id: StreamId) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added as i64);
        }
        if id == self.last_id {
            return Some(self.entries_added as i64);
        } else if id > self.last_id {
            return None;
        }
        if self.max_deleted_entry_id.is_zero() || self.max_deleted_entry_id < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added.wrapping_sub(self.length) as i64);
            } else if id == self.first_id {
                return Some(self.entries_added.wrapping_sub(self.length).wrapping_add(1) as i64);
            }
        }
        None
    }

    /// A group's lag, when it can be known.
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(Some(g.last_id), None)
        {
            return Some((self.entries_added as i64).wrapping_sub(g.entries_read));
        }
        self.estimate_distance(g.last_id)
            .map(|r| (self.entries_added as i64).wrapping_sub(r))
    }
}

/// A 16-byte radix tree key: the ID in big endian, as Redis keys its rax trees.
pub fn id_key(id: StreamId) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&id.ms.to_be_bytes());
    b[8..].copy_from_slice(&id.seq.to_be_bytes());
    b
}

/// How many nodes Redis' radix tree has over these sorted 16-byte keys (its compressed
/// shape: one node per run of bytes the keys below share, one per branching byte, one leaf
/// per key, and the root), for XINFO's `radix-tree-nodes` and MEMORY USAGE.
pub fn rax_node_count(keys: &[[u8; 16]]) -> usize {
    fn count(keys: &[[u8; 16]], depth: usize) -> usize {
        if depth == 16 {
            return 1;
        }
        let mut d = depth;
        while d < 16 && keys.iter().all(|k| k[d] == keys[0][d]) {
            d += 1;
        }
        if d > depth {
            return 1 + count(keys, d);
        }
        let mut n = 1;
        let mut i = 0;
        while i < keys.len() {
            let b = keys[i][d];
            let mut j = i;
            while j < keys.len() && keys[j][d] == b {
                j += 1;
            }
            n += count(&keys[i..j], d + 1);
            i = j;
        }
        n
    }
    if keys.is_empty() {
        1
    } else {
        count(keys, 0)
    }
}

impl Stream {
    /// Nodes of the radix tree Redis would hold this stream's node index in.
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| id_key(*k)).collect();
        rax_node_count(&keys)
    }
}

/// Whether a node loaded from outside (RDB, RESTORE) has the stream layout (Redis'
/// `streamValidateListpackIntegrity` deep checks): master entry, entries whose flags, IDs,
/// field counts and lp-count agree, IDs not below the master, and counters that match.
pub fn node_is_well_formed(master: StreamId, lp: &Listpack) -> bool {
    fn int(lp: &Listpack, p: Pos) -> Option<i64> {
        match lp.get(p) {
            Entry::Int(v) => Some(v),
            Entry::Str(_) => None,
        }
    }
    let check = || -> Option<bool> {
        let mut p = lp.first()?;
        let count = int(lp, p)?;
        p = lp.next(p)?;
        let deleted = int(lp, p)?;
        p = lp.next(p)?;
        let nfields = int(lp, p)?;
        if nfields < 0 {
            return Some(false);
        }
        for _ in 0..nfields {
            p = lp.next(p)?;
        }
        p = lp.next(p)?;
        if int(lp, p)? != 0 {
            return Some(false);
        }
        let (mut live, mut dead) = (0i64, 0i64);
        let mut cur = lp.next(p);
        while let Some(fp) = cur {
            let flags = int(lp, fp)?;
            let mut p = lp.next(fp)?;
            let ms = int(lp, p)? as u64;
            p = lp.next(p)?;
            let seq = int(lp, p)? as u64;
            let id = StreamId::new(master.ms.wrapping_add(ms), master.seq.wrapping_add(seq));
            if id < master {
                return Some(false);
            }
            let n = if flags & FLAG_SAMEFIELDS != 0 {
                for _ in 0..nfields {
                    p = lp.next(p)?;
                }
                nfields + 3
            } else {
                p = lp.next(p)?;
                let n = int(lp, p)?;
                if n < 0 {
                    return Some(false);
                }
                for _ in 0..2 * n {
                    p = lp.next(p)?;
                }
                2 * n + 4
            };
            p = lp.next(p)?;
            if int(lp, p)? != n {
                return Some(false);
            }
            if flags & FLAG_DELETED != 0 {
                dead += 1;
            } else {
                live += 1;
            }
            cur = lp.next(p);
        }
        Some(live == count && dead == deleted)
    };
    check().unwrap_or(false)
}
