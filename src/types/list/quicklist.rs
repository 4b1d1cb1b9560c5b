//! Quicklist: the only list encoding of Redis 7.0 (`OBJECT ENCODING` "quicklist"), a sequence
//! of nodes each holding a listpack of a few KB, so that pushes and pops at both ends stay
//! cheap while the per-element overhead stays that of a listpack. Node sizes, splits, merges
//! and compression follow quicklist.c's rules, because DEBUG OBJECT (`ql_nodes`,
//! `ql_uncompressed_size`), MEMORY USAGE and the tests observe the resulting shape.
//!
//! ```text
//!  QuickList { count, fill, compress }
//!  nodes (VecDeque, head at index 0):
//!
//!   +--------+   +--------+   +--------+   +--------+   +--------+
//!   | node 0 |   | node 1 |   | node 2 |   | node 3 |   | node 4 |
//!   | Packed |-->|  Lzf   |-->| Plain  |-->|  Lzf   |-->| Packed |
//!   +--------+   +--------+   +--------+   +--------+   +--------+
//!    raw: within   compressed   one huge     compressed   raw: within
//!    `compress`    listpack     element      listpack     `compress`
//!    of the head                (>= packed                of the tail
//!                                threshold)
//!
//!  node = { data, count (elements), sz (uncompressed bytes), recompress, dont_compress }
//!  data = Packed(listpack) | Plain(bytes of one element) | Lzf(compressed listpack or plain)
//! ```
//!
//! Fill (`list-max-listpack-size`): negative values -1..-5 limit a node to 4/8/16/32/64 KB;
//! a positive value limits the element count, with an 8 KB safety cap on the bytes.
//! Compression (`list-compress-depth` = d > 0): the d nodes at each end stay raw, inner nodes
//! are LZF-compressed when they are at least 48 bytes and compression saves at least 8 bytes.
//! A node touched by an operation is decompressed "for use" and compressed again afterwards.
//!
//! Nodes live in a `VecDeque` rather than a linked list: finding a node by position is the
//! same walk, inserting a node in the middle moves node headers only (a few dozen bytes each),
//! and the memory cost per node is below Redis' (no prev/next pointers).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::types::listpack::{Entry, Listpack};

/// Elements at least this large get a plain node of their own (`DEBUG
/// QUICKLIST-PACKED-THRESHOLD`); process-wide, as in Redis. Unit tests run in parallel
/// threads, so there each thread has its own.
#[cfg(not(test))]
static PACKED_THRESHOLD: AtomicUsize = AtomicUsize::new(DEFAULT_PACKED_THRESHOLD);
#[cfg(test)]
thread_local! {
    static PACKED_THRESHOLD: AtomicUsize = const { AtomicUsize::new(DEFAULT_PACKED_THRESHOLD) };
}
const DEFAULT_PACKED_THRESHOLD: usize = 1 << 30;

fn with_threshold<R>(f: impl FnOnce(&AtomicUsize) -> R) -> R {
    #[cfg(not(test))]
    {
        f(&PACKED_THRESHOLD)
    }
    #[cfg(test)]
    {
        PACKED_THRESHOLD.with(f)
    }
}

/// Sets the plain-node threshold; 0 restores the default. Refuses values close to 4 GB (a
/// listpack can't hold them). Returns false when refused.
pub fn set_packed_threshold(sz: u64) -> bool {
    if sz > (1u64 << 32) - (1 << 20) {
        return false;
    }
    let v = if sz == 0 {
        DEFAULT_PACKED_THRESHOLD
    } else {
        sz as usize
    };
    with_threshold(|t| t.store(v, Ordering::Relaxed));
    true
}

#[inline]
fn is_large(sz: usize) -> bool {
    sz >= with_threshold(|t| t.load(Ordering::Relaxed))
}

/// A count-limited node still never grows past this many bytes.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Room assumed for an entry's header and back-length when checking whether it fits.
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Nodes smaller than this aren't worth compressing.
const MIN_COMPRESS_BYTES: usize = 48;
/// Compression must save at least this much to be kept.
const MIN_COMPRESS_IMPROVE: usize = 8;
/// Byte limits of the negative fill levels -1..-5.
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Largest positive fill and compress depth (the bit-fields Redis stores them in).
const FILL_MAX: i32 = (1 << 15) - 1;
const COMPRESS_MAX: i32 = (1 << 16) - 1;

#[derive(Clone)]
enum Data {
    Packed(Listpack),
    /// One element too big for a listpack.
    Plain(Box<[u8]>),
    /// LZF bytes of a listpack (`packed`) or of a plain element.
    Lzf {
        packed: bool,
        bytes: Box<[u8]>,
    },
}

#[derive(Clone)]
struct Node {
    data: Data,
    count: u32,
    /// Uncompressed size in bytes (listpack bytes, or the plain element's length).
    sz: usize,
    /// Decompressed for an operation: compress it again when done.
    recompress: bool,
    /// Must stay raw for now (a replacement is in progress).
    dont_compress: bool,
}

impl Node {
    fn packed(lp: Listpack) -> Node {
        Node {
            count: lp.len() as u32,
            sz: lp.bytes_len(),
            data: Data::Packed(lp),
            recompress: false,
            dont_compress: false,
        }
    }

    fn plain(v: &[u8]) -> Node {
        Node {
            data: Data::Plain(v.into()),
            count: 1,
            sz: v.len(),
            recompress: false,
            dont_compress: false,
        }
    }

    fn is_plain(&self) -> bool {
        matches!(self.data, Data::Plain(_) | Data::Lzf { packed: false, .. })
    }

    fn is_compressed(&self) -> bool {
        matches!(self.data, Data::Lzf { .. })
    }

    fn lp(&self) -> &Listpack {
        match &self.data {
            Data::Packed(lp) => lp,
            _ => unreachable!("node is not a raw listpack"),
        }
    }

    fn lp_mut(&mut self) -> &mut Listpack {
        match &mut self.data {
            Data::Packed(lp) => lp,
            _ => unreachable!("node is not a raw listpack"),
        }
    }

    fn update_sz(&mut self) {
        if let Data::Packed(lp) = &self.data {
            self.sz = lp.bytes_len();
        }
    }

    /// Compresses a raw node if that is worth it (Redis' `__quicklistCompressNode`).
    fn compress(&mut self) {
        if self.dont_compress || self.is_compressed() {
            return;
        }
        self.recompress = false;
        if self.sz < MIN_COMPRESS_BYTES {
            return;
        }
        let raw: &[u8] = match &self.data {
            Data::Packed(lp) => lp.as_bytes(),
            Data::Plain(b) => b,
            Data::Lzf { .. } => return,
        };
        let Some(c) = crate::lzf::compress(raw, self.sz) else {
            return;
        };
        if c.len() + MIN_COMPRESS_IMPROVE >= self.sz {
            return;
        }
        let packed = matches!(self.data, Data::Packed(_));
        self.data = Data::Lzf {
            packed,
            bytes: c.into_boxed_slice(),
        };
    }

    /// Expands a compressed node (Redis' `__quicklistDecompressNode`).
    fn decompress(&mut self) {
        self.recompress = false;
        let Data::Lzf { packed, bytes } = &self.data else {
            return;
        };
        let raw = crate::lzf::decompress(bytes, self.sz).expect("corrupt compressed node");
        self.data = if *packed {
            Data::Packed(Listpack::from_trusted(raw, self.count as usize))
        } else {
            Data::Plain(raw.into_boxed_slice())
        };
    }

    /// A raw view of the node's listpack for reading, expanding a compressed one into
    /// `scratch` (the node itself stays compressed). None for a plain node.
    fn read_lp<'a>(&'a self, scratch: &'a mut Option<Listpack>) -> Option<&'a Listpack> {
        match &self.data {
            Data::Packed(lp) => Some(lp),
            Data::Lzf {
                packed: true,
                bytes,
            } => {
                let raw = crate::lzf::decompress(bytes, self.sz).expect("corrupt compressed node");
                *scratch = Some(Listpack::from_trusted(raw, self.count as usize));
                scratch.as_ref()
            }
            _ => None,
        }
    }

    /// The element of a plain node (expanded if compressed).
    fn plain_value(&self) -> std::borrow::Cow<'_, [u8]> {
        match &self.data {
            Data::Plain(b) => std::borrow::Cow::Borrowed(&b[..]),
            Data::Lzf {
                packed: false,
                bytes,
            } => std::borrow::Cow::Owned(
                crate::lzf::decompress(bytes, self.sz).expect("corrupt compressed node"),
            ),
            _ => unreachable!("not a plain node"),
        }
    }
}

/// An element handed out of a list: the listpack's integer or string form, or a plain node's
/// bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elem {
    Int(i64),
    Str(Vec<u8>),
}

impl Elem {
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Elem::Int(v) => crate::util::i64_bytes(v),
            Elem::Str(s) => s,
        }
    }

    fn from_entry(e: Entry<'_>) -> Elem {
        match e {
            Entry::Int(v) => Elem::Int(v),
            Entry::Str(s) => Elem::Str(s.to_vec()),
        }
    }
}

/// Whether a listpack entry equals `v` given as bytes (an integer entry matches its canonical
/// decimal form only, as Redis' `lpCompare`).
pub fn entry_eq(e: Entry<'_>, v: &[u8]) -> bool {
    match e {
        Entry::Str(s) => s == v,
        Entry::Int(n) => {
            let mut buf = itoa::Buffer::new();
            buf.format(n).as_bytes() == v
        }
    }
}

/// Shape of one node, for DEBUG and RDB-size reporting.
pub struct NodeInfo<'a> {
    pub plain: bool,
    pub compressed: bool,
    pub count: usize,
    /// Uncompressed size.
    pub sz: usize,
    /// Bytes as stored now (compressed or not).
    pub stored: &'a [u8],
    /// Bytes allocated for the node's data.
    pub alloc: usize,
}

#[derive(Clone)]
pub struct QuickList {
    nodes: VecDeque<Node>,
    count: usize,
    fill: i32,
    compress: u16,
}

impl std::fmt::Debug for QuickList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "QuickList({} elements in {} nodes)",
            self.count,
            self.nodes.len()
        )
    }
}

/// Whether a node may take one more element of `sz` bytes (Redis' `_quicklistNodeAllowInsert`).
fn allow_insert(node: Option<&Node>, fill: i32, sz: usize) -> bool {
    let Some(node) = node else {
        return false;
    };
    if node.is_plain() || is_large(sz) {
        return false;
    }
    let new_sz = node.sz + sz + SIZE_ESTIMATE_OVERHEAD;
    if size_meets_optimization(new_sz, fill) {
        true
    } else if new_sz > SIZE_SAFETY_LIMIT {
        false
    } else {
        (node.count as i64) < fill as i64
    }
}

/// Whether two neighbours may become one node (Redis' `_quicklistNodeAllowMerge`).
fn allow_merge(a: Option<&Node>, b: Option<&Node>, fill: i32) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return false;
    };
    if a.is_plain() || b.is_plain() {
        return false;
    }
    // One header and terminator go away in the merge.
    let merge_sz = (a.sz + b.sz).saturating_sub(11);
    if size_meets_optimization(merge_sz, fill) {
        true
    } else if merge_sz > SIZE_SAFETY_LIMIT {
        false
    } else {
        (a.count + b.count) as i64 <= fill as i64
    }
}

fn size_meets_optimization(sz: usize, fill: i32) -> bool {
    if fill >= 0 {
        return false;
    }
    match OPTIMIZATION_LEVEL.get((-fill - 1) as usize) {
        Some(limit) => sz <= *limit,
        None => false,
    }
}

impl QuickList {
    /// An empty list with the given `list-max-listpack-size` and `list-compress-depth`,
    /// clamped as Redis clamps them.
    pub fn new(fill: i64, compress: i64) -> QuickList {
        let fill = fill.clamp(-5, FILL_MAX as i64) as i32;
        let compress = compress.clamp(0, COMPRESS_MAX as i64) as u16;
        QuickList {
            nodes: VecDeque::new(),
            count: 0,
            fill,
            compress,
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn fill(&self) -> i32 {
        self.fill
    }

    pub fn compress_depth(&self) -> u16 {
        self.compress
    }

    /// Sum of the nodes' uncompressed sizes (DEBUG OBJECT `ql_uncompressed_size`).
    pub fn uncompressed_size(&self) -> usize {
        self.nodes.iter().map(|n| n.sz).sum()
    }

    /// The nodes' shapes, head first.
    pub fn nodes(&self) -> impl Iterator<Item = NodeInfo<'_>> {
        self.nodes.iter().map(|n| {
            let (stored, alloc): (&[u8], usize) = match &n.data {
                Data::Packed(lp) => (lp.as_bytes(), lp.capacity()),
                Data::Plain(b) => (b, b.len()),
                Data::Lzf { bytes, .. } => (bytes, bytes.len()),
            };
            NodeInfo {
                plain: n.is_plain(),
                compressed: n.is_compressed(),
                count: n.count as usize,
                sz: n.sz,
                stored,
                alloc,
            }
        })
    }

    // ---- compression ---------------------------------------------------------------------

    fn decompress_for_use(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if n.is_compressed() {
            n.decompress();
            n.recompress = true;
        }
    }

    fn recompress_only(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if n.recompress {
            n.compress();
        }
    }

    /// Keeps the `compress` nodes at each end raw and compresses `node` (when given and not
    /// among them) plus the first node past each raw zone (Redis' `__quicklistCompress`).
    fn compress_around(&mut self, node: Option<usize>) {
        let len = self.nodes.len();
        if len == 0 || self.compress == 0 || len < self.compress as usize * 2 {
            return;
        }
        let mut fwd = 0usize;
        let mut rev = len - 1;
        let mut in_depth = false;
        for _ in 0..self.compress {
            self.nodes[fwd].decompress();
            self.nodes[rev].decompress();
            if node == Some(fwd) || node == Some(rev) {
                in_depth = true;
            }
            if fwd == rev || fwd + 1 == rev {
                return;
            }
            fwd += 1;
            rev -= 1;
        }
        if !in_depth {
            if let Some(n) = node {
                self.nodes[n].compress();
            }
        }
        self.nodes[fwd].compress();
        self.nodes[rev].compress();
    }

    /// Redis' `quicklistCompress`: a node decompressed for use goes back to compressed, any
    /// other change re-establishes the depth rule around it.
    fn compress_node(&mut self, i: usize) {
        if self.nodes[i].recompress {
            self.nodes[i].compress();
        } else {
            self.compress_around(Some(i));
        }
    }

    // ---- nodes ---------------------------------------------------------------------------

    /// Inserts `new` next to node `old` (or as the only node) and returns its index.
    fn insert_node(&mut self, old: Option<usize>, new: Node, after: bool) -> usize {
        let (idx, old_idx) = match old {
            None => (0, None),
            Some(o) if after => (o + 1, Some(o)),
            Some(o) => (o, Some(o + 1)),
        };
        self.nodes.insert(idx, new);
        if let Some(o) = old_idx {
            self.compress_node(o);
        }
        self.compress_node(idx);
        idx
    }

    fn del_node(&mut self, i: usize) {
        let n = self.nodes.remove(i).expect("node index");
        self.count -= n.count as usize;
        self.compress_around(None);
    }

    /// Deletes the element at `off` of node `i`; true when the node went away with it.
    fn del_index(&mut self, i: usize, off: usize) -> bool {
        if self.nodes[i].is_plain() {
            self.del_node(i);
            return true;
        }
        let n = &mut self.nodes[i];
        let lp = n.lp_mut();
        let p = lp.seek(off as i64).expect("offset inside node");
        lp.delete(p);
        n.count -= 1;
        self.count -= 1;
        if n.count == 0 {
            let _ = self.nodes.remove(i);
            self.compress_around(None);
            true
        } else {
            n.update_sz();
            false
        }
    }

    // ---- pushes and pops -----------------------------------------------------------------

    pub fn push_head(&mut self, v: &[u8]) {
        if is_large(v.len()) {
            let old = (!self.nodes.is_empty()).then_some(0);
            self.insert_node(old, Node::plain(v), false);
            self.count += 1;
            return;
        }
        if allow_insert(self.nodes.front(), self.fill, v.len()) {
            let n = &mut self.nodes[0];
            n.lp_mut().prepend(v);
            n.count += 1;
            n.update_sz();
        } else {
            let mut lp = Listpack::new();
            lp.prepend(v);
            let old = (!self.nodes.is_empty()).then_some(0);
            self.insert_node(old, Node::packed(lp), false);
        }
        self.count += 1;
    }

    pub fn push_tail(&mut self, v: &[u8]) {
        let last = self.nodes.len().checked_sub(1);
        if is_large(v.len()) {
            self.insert_node(last, Node::plain(v), true);
            self.count += 1;
            return;
        }
        if allow_insert(self.nodes.back(), self.fill, v.len()) {
            let n = self.nodes.back_mut().expect("a tail node");
            n.lp_mut().append(v);
            n.count += 1;
            n.update_sz();
        } else {
            let mut lp = Listpack::new();
            lp.append(v);
            self.insert_node(last, Node::packed(lp), true);
        }
        self.count += 1;
    }

    pub fn push(&mut self, v: &[u8], head: bool) {
        if head {
            self.push_head(v)
        } else {
            self.push_tail(v)
        }
    }

    /// Removes and returns the first (`head`) or last element.
    pub fn pop(&mut self, head: bool) -> Option<Elem> {
        if self.count == 0 {
            return None;
        }
        let i = if head { 0 } else { self.nodes.len() - 1 };
        // The end nodes are never compressed.
        let n = &self.nodes[i];
        if n.is_plain() {
            let v = n.plain_value().into_owned();
            self.del_node(i);
            return Some(Elem::Str(v));
        }
        let lp = n.lp();
        let off = if head { 0 } else { n.count as usize - 1 };
        let p = if head { lp.first() } else { lp.last() }.expect("non-empty node");
        let v = Elem::from_entry(lp.get(p));
        self.del_index(i, off);
        Some(v)
    }

    // ---- positions -----------------------------------------------------------------------

    /// The node holding element `index` (negative: from the tail) and the element's offset
    /// inside it, walking from the closer end (Redis' `quicklistGetIteratorAtIdx`).
    fn locate(&self, index: i64) -> Option<(usize, usize)> {
        let count = self.count as i64;
        let abs = if index < 0 { count + index } else { index };
        if abs < 0 || abs >= count {
            return None;
        }
        let abs = abs as usize;
        if abs <= (self.count - 1) / 2 {
            let mut accum = 0usize;
            for (i, n) in self.nodes.iter().enumerate() {
                if accum + n.count as usize > abs {
                    return Some((i, abs - accum));
                }
                accum += n.count as usize;
            }
        } else {
            let mut accum = self.count;
            for (i, n) in self.nodes.iter().enumerate().rev() {
                accum -= n.count as usize;
                if accum <= abs {
                    return Some((i, abs - accum));
                }
            }
        }
        None
    }

    /// The element at `index` (negative counts from the tail).
    pub fn get(&self, index: i64) -> Option<Elem> {
        let (i, off) = self.locate(index)?;
        let n = &self.nodes[i];
        if n.is_plain() {
            return Some(Elem::Str(n.plain_value().into_owned()));
        }
        let mut scratch = None;
        let lp = n.read_lp(&mut scratch)?;
        Some(Elem::from_entry(lp.get(lp.seek(off as i64)?)))
    }

    /// Visits elements from `start` (a valid index from the head) towards the tail
    /// (`forward`) or the head, while `f` returns true.
    pub fn for_each_from(&self, start: usize, forward: bool, mut f: impl FnMut(Entry<'_>) -> bool) {
        let Some((mut i, off)) = self.locate(start as i64) else {
            return;
        };
        let mut off = Some(off);
        loop {
            let n = &self.nodes[i];
            if n.is_plain() {
                let v = n.plain_value();
                if !f(Entry::Str(&v)) {
                    return;
                }
            } else {
                let mut scratch = None;
                let lp = n.read_lp(&mut scratch).expect("listpack node");
                let mut p = match off {
                    Some(o) => lp.seek(o as i64),
                    None if forward => lp.first(),
                    None => lp.last(),
                };
                while let Some(q) = p {
                    if !f(lp.get(q)) {
                        return;
                    }
                    p = if forward { lp.next(q) } else { lp.prev(q) };
                }
            }
            off = None;
            if forward {
                i += 1;
                if i >= self.nodes.len() {
                    return;
                }
            } else {
                if i == 0 {
                    return;
                }
                i -= 1;
            }
        }
    }

    /// Visits every element head to tail.
    pub fn for_each(&self, f: impl FnMut(Entry<'_>) -> bool) {
        if self.count > 0 {
            self.for_each_from(0, true, f);
        }
    }

    // ---- insertion and replacement -------------------------------------------------------

    /// Splits node `i` at `off`: with `after`, the elements after `off` move to the returned
    /// node, otherwise the elements from `off` on (Redis' `_quicklistSplitNode`).
    fn split_node(&mut self, i: usize, off: usize, after: bool) -> Node {
        let n = &mut self.nodes[i];
        let lp = n.lp_mut();
        let total = lp.len();
        let mut other = lp.clone();
        let (orig_start, orig_extent, new_start, new_extent) = if after {
            (off + 1, total, 0, off + 1)
        } else {
            (0, off, off, total)
        };
        if let Some(p) = lp.seek(orig_start as i64) {
            lp.delete_range(p, orig_extent);
        }
        if let Some(p) = other.seek(new_start as i64) {
            other.delete_range(p, new_extent);
        }
        n.count = lp.len() as u32;
        n.update_sz();
        Node::packed(other)
    }

    /// Joins two neighbouring nodes `a` and `a + 1`; returns the index of the result.
    fn merge_pair(&mut self, a: usize) -> usize {
        self.nodes[a].decompress();
        self.nodes[a + 1].decompress();
        let b = self.nodes.remove(a + 1).expect("node");
        let n = &mut self.nodes[a];
        n.lp_mut().merge_from(b.lp());
        n.count = n.lp().len() as u32;
        n.update_sz();
        // The merged-away node's elements stay counted: they now live in `a`.
        self.compress_around(None);
        self.compress_node(a);
        a
    }

    /// After a split, merges the nodes around `center` that fit together (Redis'
    /// `_quicklistMergeNodes`).
    fn merge_nodes(&mut self, mut center: usize) {
        let fill = self.fill;
        if center >= 2 && allow_merge(self.nodes.get(center - 1), self.nodes.get(center - 2), fill)
        {
            self.merge_pair(center - 2);
            center -= 1;
        }
        if allow_merge(self.nodes.get(center + 1), self.nodes.get(center + 2), fill) {
            self.merge_pair(center + 1);
        }
        let target = if center >= 1
            && allow_merge(self.nodes.get(center), self.nodes.get(center - 1), fill)
        {
            self.merge_pair(center - 1)
        } else {
            center
        };
        if allow_merge(self.nodes.get(target), self.nodes.get(target + 1), fill) {
            self.merge_pair(target);
        }
    }

    /// Inserts `v` before or `after` the element at offset `off` of node `i` (Redis'
    /// `_quicklistInsert`).
    fn insert_at(&mut self, i: usize, off: usize, v: &[u8], after: bool) {
        let fill = self.fill;
        let sz = v.len();
        let node_count = self.nodes[i].count as usize;
        let full = !allow_insert(self.nodes.get(i), fill, sz);
        let mut at_tail = false;
        let mut at_head = false;
        let mut avail_next = false;
        let mut avail_prev = false;
        if after && off == node_count - 1 {
            at_tail = true;
            avail_next = allow_insert(self.nodes.get(i + 1), fill, sz);
        }
        if !after && off == 0 {
            at_head = true;
            avail_prev = i > 0 && allow_insert(self.nodes.get(i - 1), fill, sz);
        }
        if is_large(sz) {
            if self.nodes[i].is_plain() || at_tail || at_head {
                self.insert_node(Some(i), Node::plain(v), after);
            } else {
                self.decompress_for_use(i);
                let rest = self.split_node(i, off, after);
                let pi = self.insert_node(Some(i), Node::plain(v), after);
                self.insert_node(Some(pi), rest, after);
            }
            self.count += 1;
            return;
        }
        if !full {
            self.decompress_for_use(i);
            let n = &mut self.nodes[i];
            let lp = n.lp_mut();
            let p = lp.seek(off as i64).expect("offset inside node");
            if after {
                lp.insert_after(p, v);
            } else {
                lp.insert_before(p, v);
            }
            n.count += 1;
            n.update_sz();
            self.recompress_only(i);
        } else if at_tail && avail_next {
            let j = i + 1;
            self.decompress_for_use(j);
            let n = &mut self.nodes[j];
            n.lp_mut().prepend(v);
            n.count += 1;
            n.update_sz();
            self.recompress_only(j);
            self.recompress_only(i);
        } else if at_head && avail_prev {
            let j = i - 1;
            self.decompress_for_use(j);
            let n = &mut self.nodes[j];
            n.lp_mut().append(v);
            n.count += 1;
            n.update_sz();
            self.recompress_only(j);
            self.recompress_only(i);
        } else if at_tail || at_head {
            let mut lp = Listpack::new();
            lp.prepend(v);
            self.insert_node(Some(i), Node::packed(lp), after);
        } else {
            self.decompress_for_use(i);
            let mut rest = self.split_node(i, off, after);
            {
                let lp = rest.lp_mut();
                if after {
                    lp.prepend(v);
                } else {
                    lp.append(v);
                }
                rest.count += 1;
                rest.update_sz();
            }
            let ni = self.insert_node(Some(i), rest, after);
            let center = if after { i } else { ni + 1 };
            self.merge_nodes(center);
        }
        self.count += 1;
    }

    /// LINSERT: inserts `v` before or after the first element equal to `pivot`. Returns
    /// false when there is no such element.
    pub fn insert_pivot(&mut self, pivot: &[u8], v: &[u8], after: bool) -> bool {
        let mut found = None;
        'nodes: for (i, n) in self.nodes.iter().enumerate() {
            if n.is_plain() {
                if n.plain_value().as_ref() == pivot {
                    found = Some((i, 0));
                    break;
                }
                continue;
            }
            let mut scratch = None;
            let lp = n.read_lp(&mut scratch).expect("listpack node");
            for (off, e) in lp.iter().enumerate() {
                if entry_eq(e, pivot) {
                    found = Some((i, off));
                    break 'nodes;
                }
            }
        }
        match found {
            Some((i, off)) => {
                self.insert_at(i, off, v, after);
                true
            }
            None => false,
        }
    }

    /// LSET: replaces the element at `index`. False when out of range.
    pub fn replace_at(&mut self, index: i64, v: &[u8]) -> bool {
        let Some((i, off)) = self.locate(index) else {
            return false;
        };
        let large = is_large(v.len());
        if !self.nodes[i].is_plain() && !large {
            self.decompress_for_use(i);
            let n = &mut self.nodes[i];
            let lp = n.lp_mut();
            let p = lp.seek(off as i64).expect("offset inside node");
            lp.replace(p, v);
            n.update_sz();
            self.compress_node(i);
        } else if self.nodes[i].is_plain() {
            if large {
                let n = &mut self.nodes[i];
                n.data = Data::Plain(v.into());
                n.sz = v.len();
                n.recompress = false;
                self.compress_node(i);
            } else {
                self.insert_at(i, 0, v, true);
                // The plain node is still at `i`: the new element went after it.
                self.del_node(i);
            }
        } else {
            // A large value replacing a packed element: it goes after the element in a plain
            // node of its own, then the old element is removed.
            // After the insertion the replaced element is the last one of node `i` (the node
            // was split right after it, or it already was the last).
            self.nodes[i].dont_compress = true;
            self.insert_at(i, off, v, true);
            if self.nodes[i].count == 1 {
                self.del_node(i);
            } else {
                self.decompress_for_use(i);
                let last = self.nodes[i].count as usize - 1;
                self.del_index(i, last);
                self.nodes[i].dont_compress = false;
                self.compress_node(i);
                if i + 1 < self.nodes.len() {
                    self.compress_node(i + 1);
                }
            }
        }
        true
    }

    // ---- deletion ------------------------------------------------------------------------

    /// Deletes `count` elements from `start` (negative counts from the tail), clamped to the
    /// list (Redis' `quicklistDelRange`). False when `start` is out of range.
    pub fn del_range(&mut self, start: i64, count: i64) -> bool {
        if count <= 0 {
            return false;
        }
        let mut extent = count as usize;
        if start >= 0 && extent > self.count.saturating_sub(start as usize) {
            extent = self.count.saturating_sub(start as usize);
        } else if start < 0 && extent > (-start) as usize {
            extent = (-start) as usize;
        }
        let Some((mut i, mut off)) = self.locate(start) else {
            return false;
        };
        while extent > 0 {
            let ncount = self.nodes[i].count as usize;
            let entire = off == 0 && extent >= ncount;
            let del = if entire {
                ncount
            } else if extent + off >= ncount {
                ncount - off
            } else {
                extent
            };
            if entire || self.nodes[i].is_plain() {
                self.del_node(i);
            } else {
                self.decompress_for_use(i);
                let n = &mut self.nodes[i];
                let lp = n.lp_mut();
                let p = lp.seek(off as i64).expect("offset inside node");
                lp.delete_range(p, del);
                n.update_sz();
                n.count -= del as u32;
                self.count -= del;
                if self.nodes[i].count == 0 {
                    let _ = self.nodes.remove(i);
                    self.compress_around(None);
                } else {
                    self.recompress_only(i);
                    i += 1;
                }
            }
            extent -= del;
            off = 0;
            if i >= self.nodes.len() {
                break;
            }
        }
        true
    }

    /// LREM: removes up to `limit` elements equal to `v` (0: all), scanning from the tail when
    /// `from_tail`. Returns how many went.
    pub fn remove_matching(&mut self, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0usize;
        let mut i: isize = if from_tail {
            self.nodes.len() as isize - 1
        } else {
            0
        };
        while i >= 0 && (i as usize) < self.nodes.len() {
            let idx = i as usize;
            if self.nodes[idx].is_plain() {
                if self.nodes[idx].plain_value().as_ref() == v {
                    self.del_node(idx);
                    removed += 1;
                    if limit != 0 && removed == limit {
                        return removed;
                    }
                    if from_tail {
                        i -= 1;
                    }
                    continue;
                }
                i += if from_tail { -1 } else { 1 };
                continue;
            }
            // Find the matching offsets of this node first (reading a compressed node needs no
            // change to it), then delete them.
            let mut hits: Vec<usize> = Vec::new();
            {
                let n = &self.nodes[idx];
                let mut scratch = None;
                let lp = n.read_lp(&mut scratch).expect("listpack node");
                let want = if limit == 0 {
                    usize::MAX
                } else {
                    limit - removed
                };
                if from_tail {
                    let mut p = lp.last();
                    let mut off = n.count as usize;
                    while let Some(q) = p {
                        off -= 1;
                        if entry_eq(lp.get(q), v) {
                            hits.push(off);
                            if hits.len() == want {
                                break;
                            }
                        }
                        p = lp.prev(q);
                    }
                } else {
                    for (off, e) in lp.iter().enumerate() {
                        if entry_eq(e, v) {
                            hits.push(off);
                            if hits.len() == want {
                                break;
                            }
                        }
                    }
                    hits.reverse();
                }
            }
            if hits.is_empty() {
                i += if from_tail { -1 } else { 1 };
                continue;
            }
            // Offsets are in decreasing order: deleting one doesn't move the others.
            self.decompress_for_use(idx);
            let mut gone = false;
            for off in &hits {
                removed += 1;
                if self.del_index(idx, *off) {
                    gone = true;
                    break;
                }
            }
            if !gone {
                self.recompress_only(idx);
            }
            if limit != 0 && removed == limit {
                return removed;
            }
            if from_tail {
                i -= 1;
            } else if !gone {
                i += 1;
            }
        }
        removed
    }

    // ---- checks --------------------------------------------------------------------------

    /// Checks the internal invariants (counts, sizes, compression depth); for tests.
    #[cfg(test)]
    fn verify(&self) {
        let mut total = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            assert!(n.count > 0, "empty node {}", i);
            total += n.count as usize;
            match &n.data {
                Data::Packed(lp) => {
                    assert_eq!(lp.len(), n.count as usize);
                    assert_eq!(lp.bytes_len(), n.sz);
                }
                Data::Plain(b) => {
                    assert_eq!(n.count, 1);
                    assert_eq!(b.len(), n.sz);
                }
                Data::Lzf { .. } => {
                    let d = self.compress as usize;
                    assert!(
                        i >= d && i + d < self.nodes.len(),
                        "node {} of {} compressed within depth {}",
                        i,
                        self.nodes.len(),
                        d
                    );
                }
            }
        }
        assert_eq!(total, self.count);
    }
}

#[cfg(test)]
mod tests;
