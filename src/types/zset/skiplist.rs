//! The `skiplist` encoding of sorted sets: a skiplist ordered by (score, member) for ranges and
//! ranks, plus a dict from member to node for O(1) score lookups, as Redis 7.0 keeps big sorted
//! sets (t_zset.c). Unlike Redis, each member's bytes are stored once, inline at the end of its
//! skiplist node; the dict holds node pointers and hashes/compares them by those bytes. That
//! saves Redis' separate sds allocation per member, which is what keeps a large sorted set at
//! or below Redis' memory use.
//!
//! ```text
//!  header (32 levels)                                                     tail
//!   L3 [*]-------------------------------------------------> NULL          |
//!   L2 [*]----------------------------> [*]-----------------> NULL         v
//!   L1 [*]--------> [*]---------------> [*]-----------------> NULL
//!   L0 [*]--------> [*]-----> [*]-----> [*]-----> [*] ------> NULL
//!                 1.0 "a"   1.0 "b"   2.5 "x"   9.0 "c"
//!            NULL <-back-- <-back--  <-back--  <-back--
//!
//!  node allocation: | score f64 | backward ptr | len u32 | height u32 |
//!                   | (next ptr, span usize) x height | member bytes x len |
//!
//!  dict: member bytes -> node pointer (keys hash and compare as the node's member)
//! ```
//!
//! Each level link carries a span: how many level-0 steps it jumps. Summing spans along a
//! search path gives a node's rank, and walking spans finds the node at a rank, both in
//! O(log n). Node heights are random with p = 1/4, at most 32, as in Redis.
//!
//! All raw-pointer work lives in this file. The invariant that makes it sound: every node
//! reachable from `header` was allocated by `alloc_node` and is owned by the skiplist; every
//! dict key points to a node currently linked in the same [`ZsetSkiplist`], and is removed
//! from the dict before that node is unlinked and freed.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use super::{LexRange, ScoreRange};
use crate::db::Dict;

/// Enough levels for 4^32 elements.
pub const MAX_LEVEL: usize = 32;

#[repr(C)]
struct Level {
    next: *mut Node,
    span: usize,
}

/// Fixed part of a node; its levels and then its member bytes follow in the same allocation.
#[repr(C)]
struct Node {
    score: f64,
    backward: *mut Node,
    len: u32,
    height: u32,
}

const HDR: usize = std::mem::size_of::<Node>();
const LEVEL: usize = std::mem::size_of::<Level>();

fn node_layout(height: usize, len: usize) -> Layout {
    Layout::from_size_align(HDR + LEVEL * height + len, std::mem::align_of::<Node>())
        .expect("skiplist node size overflows")
}

/// Allocates a node with unlinked (null, span 0) levels.
fn alloc_node(height: usize, score: f64, member: &[u8]) -> *mut Node {
    let len = u32::try_from(member.len()).expect("sorted set member larger than 4 GB");
    let layout = node_layout(height, member.len());
    // SAFETY: the layout has a non-zero size (HDR > 0); every field written below lies inside
    // the allocation: the header at 0, `height` levels after it and `len` bytes after those.
    unsafe {
        let p = alloc(layout) as *mut Node;
        if p.is_null() {
            handle_alloc_error(layout);
        }
        ptr::write(
            p,
            Node {
                score,
                backward: ptr::null_mut(),
                len,
                height: height as u32,
            },
        );
        let levels = levels_of(p);
        for i in 0..height {
            ptr::write(
                levels.add(i),
                Level {
                    next: ptr::null_mut(),
                    span: 0,
                },
            );
        }
        ptr::copy_nonoverlapping(
            member.as_ptr(),
            (levels.add(height)) as *mut u8,
            member.len(),
        );
        p
    }
}

/// Frees a node allocated by `alloc_node`.
///
/// # Safety
/// `n` came from `alloc_node`, is not freed yet and is no longer reachable.
unsafe fn free_node(n: *mut Node) {
    let layout = node_layout((*n).height as usize, (*n).len as usize);
    dealloc(n as *mut u8, layout);
}

/// # Safety
/// `n` points to a live node.
#[inline]
unsafe fn levels_of(n: *mut Node) -> *mut Level {
    (n as *mut u8).add(HDR) as *mut Level
}

/// # Safety
/// `n` points to a live node with more than `i` levels.
#[inline]
unsafe fn lvl<'a>(n: *mut Node, i: usize) -> &'a mut Level {
    &mut *levels_of(n).add(i)
}

/// # Safety
/// `n` points to a live node; the slice must not outlive it.
#[inline]
unsafe fn member_of<'a>(n: *const Node) -> &'a [u8] {
    let base = (n as *const u8).add(HDR + LEVEL * (*n).height as usize);
    std::slice::from_raw_parts(base, (*n).len as usize)
}

/// Orders by score, then by member bytes (Redis' `sdscmp`, a memcmp then length compare,
/// which is exactly byte-slice ordering). True when the node sorts before (score, member).
///
/// # Safety
/// `n` points to a live node.
#[inline]
unsafe fn node_before(n: *mut Node, score: f64, member: &[u8]) -> bool {
    (*n).score < score || ((*n).score == score && member_of(n) < member)
}

thread_local! {
    static LEVEL_RNG: std::cell::Cell<u64> = std::cell::Cell::new(0x9E37_79B9_7F4A_7C15 ^ (std::process::id() as u64));
}

/// A random height: each extra level with probability 1/4 (Redis' `zslRandomLevel`).
fn random_level() -> usize {
    LEVEL_RNG.with(|s| {
        let mut level = 1;
        loop {
            // xorshift64*: cheap, and the height only needs to be unpredictable enough for
            // balance, not for security.
            let mut x = s.get();
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            s.set(x);
            let r = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 48) as u32;
            if r >= 0xFFFF / 4 || level >= MAX_LEVEL {
                return level;
            }
            level += 1;
        }
    })
}

/// The skiplist proper. It owns its nodes.
pub struct Skiplist {
    header: *mut Node,
    tail: *mut Node,
    length: usize,
    level: usize,
}

/// A shared view of a node, valid while the skiplist is borrowed.
#[derive(Clone, Copy)]
pub struct NodeRef<'a> {
    ptr: NonNull<Node>,
    _life: PhantomData<&'a Node>,
}

impl<'a> NodeRef<'a> {
    fn new(p: *mut Node) -> Option<NodeRef<'a>> {
        NonNull::new(p).map(|ptr| NodeRef {
            ptr,
            _life: PhantomData,
        })
    }

    pub fn score(&self) -> f64 {
        // SAFETY: a NodeRef only exists while its skiplist is borrowed, so the node is live.
        unsafe { (*self.ptr.as_ptr()).score }
    }

    pub fn member(&self) -> &'a [u8] {
        // SAFETY: as in `score`; the slice's lifetime is the skiplist borrow.
        unsafe { member_of(self.ptr.as_ptr()) }
    }

    /// The next node in (score, member) order.
    pub fn next(&self) -> Option<NodeRef<'a>> {
        // SAFETY: as in `score`; level 0 always exists.
        NodeRef::new(unsafe { lvl(self.ptr.as_ptr(), 0).next })
    }

    /// The previous node (None at the first one: the header is never handed out).
    pub fn prev(&self) -> Option<NodeRef<'a>> {
        // SAFETY: as in `score`.
        NodeRef::new(unsafe { (*self.ptr.as_ptr()).backward })
    }

    /// Levels of this node, for memory accounting.
    pub fn height(&self) -> usize {
        // SAFETY: as in `score`.
        unsafe { (*self.ptr.as_ptr()).height as usize }
    }
}

impl Default for Skiplist {
    fn default() -> Self {
        Self::new()
    }
}

impl Skiplist {
    pub fn new() -> Self {
        Skiplist {
            header: alloc_node(MAX_LEVEL, 0.0, b""),
            tail: ptr::null_mut(),
            length: 0,
            level: 1,
        }
    }

    pub fn len(&self) -> usize {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn first(&self) -> Option<NodeRef<'_>> {
        // SAFETY: the header is live and has MAX_LEVEL levels.
        NodeRef::new(unsafe { lvl(self.header, 0).next })
    }

    pub fn last(&self) -> Option<NodeRef<'_>> {
        NodeRef::new(self.tail)
    }

    /// Links a fresh node; (score, member) must not be present. Returns the node.
    fn insert(&mut self, score: f64, member: &[u8]) -> *mut Node {
        let n = alloc_node(random_level(), score, member);
        // SAFETY: `n` is a fresh, unlinked node.
        unsafe { self.link(n) };
        n
    }

    /// Links an unlinked node at the place its (score, member) sorts to (Redis' `zslInsert`,
    /// with the node's height already chosen).
    ///
    /// # Safety
    /// `n` is a live node owned by this skiplist and not currently linked.
    unsafe fn link(&mut self, n: *mut Node) {
        let score = (*n).score;
        let member = member_of(n);
        let mut update = [ptr::null_mut::<Node>(); MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = self.header;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let next = lvl(x, i).next;
                if next.is_null() || !node_before(next, score, member) {
                    break;
                }
                rank[i] += lvl(x, i).span;
                x = next;
            }
            update[i] = x;
        }
        let height = (*n).height as usize;
        if height > self.level {
            for i in self.level..height {
                rank[i] = 0;
                update[i] = self.header;
                lvl(self.header, i).span = self.length;
            }
            self.level = height;
        }
        for i in 0..height {
            let u = lvl(update[i], i);
            let l = lvl(n, i);
            l.next = u.next;
            u.next = n;
            l.span = u.span - (rank[0] - rank[i]);
            u.span = rank[0] - rank[i] + 1;
        }
        for (i, u) in update.iter().enumerate().take(self.level).skip(height) {
            lvl(*u, i).span += 1;
        }
        (*n).backward = if update[0] == self.header {
            ptr::null_mut()
        } else {
            update[0]
        };
        let next = lvl(n, 0).next;
        if next.is_null() {
            self.tail = n;
        } else {
            (*next).backward = n;
        }
        self.length += 1;
    }

    /// Unlinks `x` given the rightmost node before it at every level (Redis' `zslDeleteNode`).
    ///
    /// # Safety
    /// `x` is linked in this skiplist and `update[i]` is its predecessor at level i for every
    /// level below `self.level`.
    unsafe fn unlink(&mut self, x: *mut Node, update: &[*mut Node; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = lvl(u, i);
            if ul.next == x {
                ul.span += lvl(x, i).span;
                ul.span -= 1;
                ul.next = lvl(x, i).next;
            } else {
                ul.span -= 1;
            }
        }
        let next = lvl(x, 0).next;
        if next.is_null() {
            self.tail = (*x).backward;
        } else {
            (*next).backward = (*x).backward;
        }
        while self.level > 1 && lvl(self.header, self.level - 1).next.is_null() {
            self.level -= 1;
        }
        self.length -= 1;
    }

    /// The predecessors of (score, member) at every level.
    fn predecessors(&self, score: f64, member: &[u8]) -> [*mut Node; MAX_LEVEL] {
        let mut update = [ptr::null_mut::<Node>(); MAX_LEVEL];
        let mut x = self.header;
        for i in (0..self.level).rev() {
            // SAFETY: every node reached through links is live (module invariant).
            unsafe {
                loop {
                    let next = lvl(x, i).next;
                    if next.is_null() || !node_before(next, score, member) {
                        break;
                    }
                    x = next;
                }
            }
            update[i] = x;
        }
        update
    }

    /// Unlinks the node holding exactly (score, member) and returns it, still allocated.
    fn detach(&mut self, score: f64, member: &[u8]) -> Option<*mut Node> {
        let update = self.predecessors(score, member);
        // SAFETY: update[0] is live; its successor, if any, too.
        unsafe {
            let x = lvl(update[0], 0).next;
            if !x.is_null() && (*x).score == score && member_of(x) == member {
                self.unlink(x, &update);
                Some(x)
            } else {
                None
            }
        }
    }

    /// 1-based rank of (score, member), 0 when absent (Redis' `zslGetRank`).
    pub fn rank(&self, score: f64, member: &[u8]) -> usize {
        let mut rank = 0;
        let mut x = self.header;
        for i in (0..self.level).rev() {
            // SAFETY: nodes reached through links are live.
            unsafe {
                loop {
                    let next = lvl(x, i).next;
                    if next.is_null()
                        || !((*next).score < score
                            || ((*next).score == score && member_of(next) <= member))
                    {
                        break;
                    }
                    rank += lvl(x, i).span;
                    x = next;
                }
                if x != self.header && (*x).score == score && member_of(x) == member {
                    return rank;
                }
            }
        }
        0
    }

    /// The node at 1-based `rank` (Redis' `zslGetElementByRank`).
    pub fn by_rank(&self, rank: usize) -> Option<NodeRef<'_>> {
        let mut traversed = 0;
        let mut x = self.header;
        for i in (0..self.level).rev() {
            // SAFETY: nodes reached through links are live.
            unsafe {
                loop {
                    let l = lvl(x, i);
                    if l.next.is_null() || traversed + l.span > rank {
                        break;
                    }
                    traversed += l.span;
                    x = l.next;
                }
            }
            if traversed == rank {
                return NodeRef::new(x).filter(|_| x != self.header);
            }
        }
        None
    }

    /// Whether some element may fall in the range: a quick rejection on the extremes.
    fn may_hold(&self, r: &ScoreRange) -> bool {
        if r.is_empty_spec() {
            return false;
        }
        match (self.last(), self.first()) {
            (Some(l), Some(f)) => r.gte_min(l.score()) && r.lte_max(f.score()),
            _ => false,
        }
    }

    /// The first node whose score is in the range.
    pub fn first_in_range(&self, r: &ScoreRange) -> Option<NodeRef<'_>> {
        if !self.may_hold(r) {
            return None;
        }
        let mut x = self.header;
        for i in (0..self.level).rev() {
            // SAFETY: nodes reached through links are live.
            unsafe {
                loop {
                    let next = lvl(x, i).next;
                    if next.is_null() || r.gte_min((*next).score) {
                        break;
                    }
                    x = next;
                }
            }
        }
        // SAFETY: as above; `may_hold` guarantees a successor exists.
        let x = NodeRef::new(unsafe { lvl(x, 0).next })?;
        r.lte_max(x.score()).then_some(x)
    }

    /// The last node whose score is in the range.
    pub fn last_in_range(&self, r: &ScoreRange) -> Option<NodeRef<'_>> {
        if !self.may_hold(r) {
            return None;
        }
        let mut x = self.header;
        for i in (0..self.level).rev() {
            // SAFETY: nodes reached through links are live.
            unsafe {
                loop {
                    let next = lvl(x, i).next;
                    if next.is_null() || !r.lte_max((*next).score) {
                        break;
                    }
                    x = next;
                }
            }
        }
        if x == self.header {
            return None;
        }
        let x = NodeRef::new(x)?;
        r.gte_min(x.score()).then_some(x)
    }

    fn may_hold_lex(&self, r: &LexRange) -> bool {
        if r.is_empty_spec() {
            return false;
        }
        match (self.last(), self.first()) {
            (Some(l), Some(f)) => r.gte_min(l.member()) && r.lte_max(f.member()),
            _ => false,
        }
    }

    /// The first node whose member is in the lexicographic range.
    pub fn first_in_lex(&self, r: &LexRange) -> Option<NodeRef<'_>> {
        if !self.may_hold_lex(r) {
            return None;
        }
        let mut x = self.header;
        for i in (0..self.level).rev() {
            // SAFETY: nodes reached through links are live.
            unsafe {
                loop {
                    let next = lvl(x, i).next;
                    if next.is_null() || r.gte_min(member_of(next)) {
                        break;
                    }
                    x = next;
                }
            }
        }
        // SAFETY: as above.
        let x = NodeRef::new(unsafe { lvl(x, 0).next })?;
        r.lte_max(x.member()).then_some(x)
    }

    /// The last node whose member is in the lexicographic range.
    pub fn last_in_lex(&self, r: &LexRange) -> Option<NodeRef<'_>> {
        if !self.may_hold_lex(r) {
            return None;
        }
        let mut x = self.header;
        for i in (0..self.level).rev() {
            // SAFETY: nodes reached through links are live.
            unsafe {
                loop {
                    let next = lvl(x, i).next;
                    if next.is_null() || !r.lte_max(member_of(next)) {
                        break;
                    }
                    x = next;
                }
            }
        }
        if x == self.header {
            return None;
        }
        let x = NodeRef::new(x)?;
        r.gte_min(x.member()).then_some(x)
    }

    /// Unlinks consecutive nodes starting after `update[0]` while `keep_going` accepts them
    /// and at most `limit` of them, handing each to `gone` before freeing it.
    ///
    /// # Safety
    /// `update` holds the predecessors at every level of the first node considered.
    unsafe fn remove_run(
        &mut self,
        update: &[*mut Node; MAX_LEVEL],
        limit: usize,
        mut keep_going: impl FnMut(*mut Node) -> bool,
        mut gone: impl FnMut(&[u8]),
    ) -> usize {
        let mut removed = 0;
        let mut x = lvl(update[0], 0).next;
        while !x.is_null() && removed < limit && keep_going(x) {
            let next = lvl(x, 0).next;
            self.unlink(x, update);
            gone(member_of(x));
            free_node(x);
            removed += 1;
            x = next;
        }
        removed
    }

    /// Removes every node whose score is in the range (Redis' `zslDeleteRangeByScore`).
    fn remove_range_by_score(&mut self, r: &ScoreRange, gone: impl FnMut(&[u8])) -> usize {
        let mut update = [ptr::null_mut::<Node>(); MAX_LEVEL];
        let mut x = self.header;
        for i in (0..self.level).rev() {
            // SAFETY: nodes reached through links are live.
            unsafe {
                loop {
                    let next = lvl(x, i).next;
                    if next.is_null() || r.gte_min((*next).score) {
                        break;
                    }
                    x = next;
                }
            }
            update[i] = x;
        }
        // SAFETY: `update` was just computed for the first node >= min.
        unsafe { self.remove_run(&update, usize::MAX, |n| r.lte_max((*n).score), gone) }
    }

    fn remove_range_by_lex(&mut self, r: &LexRange, gone: impl FnMut(&[u8])) -> usize {
        let mut update = [ptr::null_mut::<Node>(); MAX_LEVEL];
        let mut x = self.header;
        for i in (0..self.level).rev() {
            // SAFETY: nodes reached through links are live.
            unsafe {
                loop {
                    let next = lvl(x, i).next;
                    if next.is_null() || r.gte_min(member_of(next)) {
                        break;
                    }
                    x = next;
                }
            }
            update[i] = x;
        }
        // SAFETY: `update` was just computed for the first node >= min.
        unsafe { self.remove_run(&update, usize::MAX, |n| r.lte_max(member_of(n)), gone) }
    }

    /// Removes the nodes of 1-based ranks start..=end (Redis' `zslDeleteRangeByRank`).
    fn remove_range_by_rank(&mut self, start: usize, end: usize, gone: impl FnMut(&[u8])) -> usize {
        if start == 0 || end < start {
            return 0;
        }
        let mut update = [ptr::null_mut::<Node>(); MAX_LEVEL];
        let mut traversed = 0;
        let mut x = self.header;
        for i in (0..self.level).rev() {
            // SAFETY: nodes reached through links are live.
            unsafe {
                loop {
                    let l = lvl(x, i);
                    if l.next.is_null() || traversed + l.span >= start {
                        break;
                    }
                    traversed += l.span;
                    x = l.next;
                }
            }
            update[i] = x;
        }
        // SAFETY: `update` was just computed for the node of rank `start`.
        unsafe { self.remove_run(&update, end - start + 1, |_| true, gone) }
    }

    /// Iterates from the first node.
    pub fn iter(&self) -> Iter<'_> {
        Iter { cur: self.first() }
    }
}

impl Drop for Skiplist {
    fn drop(&mut self) {
        // SAFETY: every linked node and the header were allocated by `alloc_node` and are
        // owned here; each is freed once, after reading its successor.
        unsafe {
            let mut x = lvl(self.header, 0).next;
            free_node(self.header);
            while !x.is_null() {
                let next = lvl(x, 0).next;
                free_node(x);
                x = next;
            }
        }
    }
}

pub struct Iter<'a> {
    cur: Option<NodeRef<'a>>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = NodeRef<'a>;
    fn next(&mut self) -> Option<NodeRef<'a>> {
        let c = self.cur?;
        self.cur = c.next();
        Some(c)
    }
}

/// A dict key standing for a skiplist node: it hashes and compares as the node's member, so
/// the dict can be probed with plain member bytes.
struct MemberKey(NonNull<Node>);

impl MemberKey {
    fn member(&self) -> &[u8] {
        // SAFETY: a MemberKey only lives in the dict of the ZsetSkiplist whose skiplist owns
        // the node, and is removed before the node is freed (module invariant).
        unsafe { member_of(self.0.as_ptr()) }
    }
    fn node(&self) -> *mut Node {
        self.0.as_ptr()
    }
}

impl Hash for MemberKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must match `<[u8] as Hash>` so that lookups by `&[u8]` find the entry.
        self.member().hash(state)
    }
}

impl PartialEq for MemberKey {
    fn eq(&self, other: &Self) -> bool {
        self.member() == other.member()
    }
}

impl Eq for MemberKey {}

impl Borrow<[u8]> for MemberKey {
    fn borrow(&self) -> &[u8] {
        self.member()
    }
}

/// Skiplist plus member index: the whole `skiplist` encoding.
pub struct ZsetSkiplist {
    dict: Dict<MemberKey, ()>,
    zsl: Skiplist,
}

// SAFETY: a ZsetSkiplist exclusively owns every node of its skiplist, and the dict's
// `MemberKey` pointers point only into those nodes; no pointer into them exists outside the
// structure (readers borrow it). Moving the whole structure to another thread (to free it in
// the background) moves that ownership with it, like a `Box` of the nodes would.
unsafe impl Send for ZsetSkiplist {}

impl Default for ZsetSkiplist {
    fn default() -> Self {
        Self::new()
    }
}

impl ZsetSkiplist {
    pub fn new() -> Self {
        ZsetSkiplist {
            dict: Dict::new(),
            zsl: Skiplist::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.zsl.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zsl.is_empty()
    }

    pub fn skiplist(&self) -> &Skiplist {
        &self.zsl
    }

    /// Buckets of the member index, for memory accounting.
    pub fn dict_buckets(&self) -> usize {
        self.dict.buckets()
    }

    fn node(&self, member: &[u8]) -> Option<*mut Node> {
        self.dict.get_key_value(member).map(|(k, _)| k.node())
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        // SAFETY: dict keys point to live nodes.
        self.node(member).map(|n| unsafe { (*n).score })
    }

    /// Adds a member known to be absent.
    pub fn insert_new(&mut self, score: f64, member: &[u8]) {
        let n = self.zsl.insert(score, member);
        self.dict
            .insert_new(MemberKey(NonNull::new(n).expect("allocated")), ());
    }

    /// Changes an existing member's score; false when the member is absent.
    pub fn set_score(&mut self, member: &[u8], score: f64) -> bool {
        self.modify(member, |_| (Some(score), ())).is_some()
    }

    /// Looks a member up once and lets `decide` choose its new score from the current one
    /// (None leaves it). None when the member is absent. A moved node keeps its height and is
    /// relinked only when its order changes (Redis' `zslUpdateScore`).
    pub fn modify<R>(
        &mut self,
        member: &[u8],
        decide: impl FnOnce(f64) -> (Option<f64>, R),
    ) -> Option<R> {
        let n = self.node(member)?;
        // SAFETY: `n` is a live, linked node; the predecessors are computed for its current
        // (score, member); after unlinking, `link` receives it unlinked.
        unsafe {
            let cur = (*n).score;
            let (new, r) = decide(cur);
            let Some(score) = new else {
                return Some(r);
            };
            if cur == score {
                return Some(r);
            }
            let back = (*n).backward;
            let next = lvl(n, 0).next;
            // Still between its neighbours: update in place.
            if (back.is_null() || (*back).score < score)
                && (next.is_null() || (*next).score > score)
            {
                (*n).score = score;
                return Some(r);
            }
            let update = self.zsl.predecessors(cur, member_of(n));
            self.zsl.unlink(n, &update);
            (*n).score = score;
            self.zsl.link(n);
            Some(r)
        }
    }

    /// Removes a member, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let n = self.node(member)?;
        // SAFETY: `n` is live until freed below.
        let score = unsafe { (*n).score };
        self.dict.remove(member);
        let x = self
            .zsl
            .detach(score, member)
            .expect("index and skiplist agree");
        // SAFETY: `x` is unlinked and no dict key points to it any more.
        unsafe { free_node(x) };
        self.shrink_if_sparse();
        Some(score)
    }

    fn shrink_if_sparse(&mut self) {
        if self.dict.needs_shrink() {
            self.dict.shrink_to_fit();
        }
    }

    /// 0-based rank of a member in ascending order, with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        let n = self.node(member)?;
        // SAFETY: dict keys point to live nodes.
        let (score, m) = unsafe { ((*n).score, member_of(n)) };
        let r = self.zsl.rank(score, m);
        debug_assert!(r > 0);
        Some((r - 1, score))
    }

    /// Removes members whose score is in the range; returns how many.
    pub fn remove_range_by_score(&mut self, r: &ScoreRange) -> usize {
        let dict = &mut self.dict;
        let n = self.zsl.remove_range_by_score(r, |m| {
            dict.remove(m);
        });
        self.shrink_if_sparse();
        n
    }

    pub fn remove_range_by_lex(&mut self, r: &LexRange) -> usize {
        let dict = &mut self.dict;
        let n = self.zsl.remove_range_by_lex(r, |m| {
            dict.remove(m);
        });
        self.shrink_if_sparse();
        n
    }

    /// Removes 0-based ranks start..=end.
    pub fn remove_range_by_rank(&mut self, start: usize, end: usize) -> usize {
        let dict = &mut self.dict;
        let n = self.zsl.remove_range_by_rank(start + 1, end + 1, |m| {
            dict.remove(m);
        });
        self.shrink_if_sparse();
        n
    }

    /// One SCAN step over the member index: calls `f` with each member and score of the
    /// buckets at `cursor` and returns the next cursor.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], f64)) -> u64 {
        self.dict.scan(cursor, |k, _| {
            // SAFETY: dict keys point to live nodes.
            f(k.member(), unsafe { (*k.node()).score })
        })
    }

    /// A random member with its score, fairly chosen over the index (Redis'
    /// `dictGetFairRandomKey`).
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<(&[u8], f64)> {
        let k = crate::types::set::fair_random(&self.dict, rng)?;
        // SAFETY: dict keys point to live nodes.
        Some((k.member(), unsafe { (*k.node()).score }))
    }

    /// Members with scores in dict order (for digests and memory sampling).
    pub fn dict_iter(&self) -> impl Iterator<Item = (&[u8], f64)> {
        self.dict.iter().map(|(k, _)| {
            // SAFETY: dict keys point to live nodes.
            (k.member(), unsafe { (*k.node()).score })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// A total order on (score, member) like the skiplist's (scores are never NaN here).
    #[derive(Clone, Debug, PartialEq)]
    struct K(f64, Vec<u8>);
    impl Eq for K {}
    impl PartialOrd for K {
        fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for K {
        fn cmp(&self, o: &Self) -> std::cmp::Ordering {
            self.0
                .partial_cmp(&o.0)
                .unwrap()
                .then_with(|| self.1.cmp(&o.1))
        }
    }

    /// Checks spans, backward links and the tail against a plain walk.
    fn check(z: &Skiplist) {
        let nodes: Vec<NodeRef> = z.iter().collect();
        assert_eq!(nodes.len(), z.len());
        for (i, n) in nodes.iter().enumerate() {
            assert_eq!(z.rank(n.score(), n.member()), i + 1);
            assert_eq!(z.by_rank(i + 1).unwrap().ptr, n.ptr);
            match n.prev() {
                None => assert_eq!(i, 0),
                Some(p) => assert_eq!(p.ptr, nodes[i - 1].ptr),
            }
        }
        assert_eq!(z.last().map(|n| n.ptr), nodes.last().map(|n| n.ptr));
        assert!(z.by_rank(z.len() + 1).is_none());
        assert!(z.by_rank(0).is_none());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(i8, u8),
        Del(u8),
        Score(u8, i8),
        DelScore(i8, i8),
        DelRank(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<i8>(), any::<u8>()).prop_map(|(s, m)| Op::Add(s, m)),
            2 => any::<u8>().prop_map(Op::Del),
            2 => (any::<u8>(), any::<i8>()).prop_map(|(m, s)| Op::Score(m, s)),
            1 => (any::<i8>(), any::<i8>()).prop_map(|(a, b)| Op::DelScore(a, b)),
            1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::DelRank(a, b)),
        ]
    }

    proptest! {
        #[test]
        fn matches_a_sorted_model(ops in proptest::collection::vec(op(), 1..300)) {
            let mut z = ZsetSkiplist::new();
            let mut model: BTreeSet<K> = BTreeSet::new();
            let mut scores: std::collections::HashMap<Vec<u8>, f64> = Default::default();
            for o in ops {
                match o {
                    Op::Add(s, m) => {
                        let m = format!("m{}", m % 64).into_bytes();
                        let s = s as f64 / 4.0;
                        if let Some(old) = scores.get(&m).copied() {
                            model.remove(&K(old, m.clone()));
                            prop_assert!(z.set_score(&m, s));
                        } else {
                            z.insert_new(s, &m);
                        }
                        model.insert(K(s, m.clone()));
                        scores.insert(m, s);
                    }
                    Op::Del(m) => {
                        let m = format!("m{}", m % 64).into_bytes();
                        let got = z.remove(&m);
                        let want = scores.remove(&m);
                        prop_assert_eq!(got, want);
                        if let Some(s) = want {
                            model.remove(&K(s, m));
                        }
                    }
                    Op::Score(m, s) => {
                        let m = format!("m{}", m % 64).into_bytes();
                        prop_assert_eq!(z.score(&m), scores.get(&m).copied());
                        let want = model.iter().position(|k| k.1 == m);
                        prop_assert_eq!(z.rank(&m).map(|r| r.0), want);
                        let r = ScoreRange { min: s as f64 / 4.0, max: s as f64 / 4.0 + 8.0, minex: s % 2 == 0, maxex: s % 3 == 0 };
                        let inr: Vec<&K> = model.iter().filter(|k| r.gte_min(k.0) && r.lte_max(k.0)).collect();
                        prop_assert_eq!(z.skiplist().first_in_range(&r).map(|n| n.member().to_vec()), inr.first().map(|k| k.1.clone()));
                        prop_assert_eq!(z.skiplist().last_in_range(&r).map(|n| n.member().to_vec()), inr.last().map(|k| k.1.clone()));
                    }
                    Op::DelScore(a, b) => {
                        let r = ScoreRange { min: a as f64 / 4.0, max: b as f64 / 4.0, minex: a % 2 == 0, maxex: false };
                        let gone: Vec<K> = model.iter().filter(|k| r.gte_min(k.0) && r.lte_max(k.0)).cloned().collect();
                        prop_assert_eq!(z.remove_range_by_score(&r), gone.len());
                        for k in gone {
                            scores.remove(&k.1);
                            model.remove(&k);
                        }
                    }
                    Op::DelRank(a, b) => {
                        let (s, e) = ((a % 40) as usize, (b % 40) as usize);
                        let gone: Vec<K> = model.iter().enumerate().filter(|(i, _)| *i >= s && *i <= e).map(|(_, k)| k.clone()).collect();
                        prop_assert_eq!(z.remove_range_by_rank(s, e), gone.len());
                        for k in gone {
                            scores.remove(&k.1);
                            model.remove(&k);
                        }
                    }
                }
                check(z.skiplist());
                let got: Vec<(f64, Vec<u8>)> = z.skiplist().iter().map(|n| (n.score(), n.member().to_vec())).collect();
                let want: Vec<(f64, Vec<u8>)> = model.iter().map(|k| (k.0, k.1.clone())).collect();
                prop_assert_eq!(got, want);
                prop_assert_eq!(z.dict.len(), model.len());
            }
        }
    }

    #[test]
    fn heights_follow_p_one_quarter() {
        let n = 100_000;
        let mut total = 0;
        for _ in 0..n {
            let l = random_level();
            assert!((1..=MAX_LEVEL).contains(&l));
            total += l;
        }
        // Expected mean 1/(1-p) = 4/3.
        let mean = total as f64 / n as f64;
        assert!((1.30..1.37).contains(&mean), "mean height {mean}");
    }
}
