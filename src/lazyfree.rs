//! Freeing big values off the event loop (Redis' lazyfree.c and its BIO_LAZY_FREE thread).
//!
//! UNLINK, FLUSHDB/FLUSHALL ASYNC and the `lazyfree-lazy-*` options hand what they remove to a
//! background thread instead of dropping it in the command: freeing a million-element set takes
//! long enough to stall every client. As in Redis, only values whose "free effort" (roughly
//! their number of allocations) passes [`LAZYFREE_THRESHOLD`] go there: for small values the
//! hand-off costs more than the free. `INFO memory` reports `lazyfree_pending_objects` (handed
//! off, not yet freed) and `lazyfreed_objects` (freed in the background since the last
//! CONFIG RESETSTAT).
//!
//! The values are plain owned Rust data (`Send`), so the thread just drops them; the allocator
//! (jemalloc) is thread-safe and `used_memory` sees the memory come back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use crate::types::{HashValue, SetValue, Value, ZsetValue};

/// Values needing more allocations than this to free are freed in the background.
pub const LAZYFREE_THRESHOLD: usize = 64;

/// Bytes the lazy-free thread has freed net of what it allocated. `used_memory` is computed
/// from the main thread's allocation counters (cheap, exact), and memory freed here must be
/// taken off it.
static NET_FREED_BYTES: AtomicUsize = AtomicUsize::new(0);

pub fn net_freed_bytes() -> usize {
    NET_FREED_BYTES.load(Ordering::Relaxed)
}

/// Something to drop in the background, with the number of objects it counts for.
type Job = (Box<dyn Send>, usize);

#[derive(Default)]
pub struct LazyFree {
    /// Started on first use, so a server that never frees lazily has no extra thread (and a
    /// forked child never needs one).
    sender: Option<mpsc::Sender<Job>>,
    pending: Arc<AtomicUsize>,
    freed: Arc<AtomicUsize>,
}

impl LazyFree {
    /// Queues `garbage` (counting as `objects` objects) to be dropped by the background thread.
    pub fn free_later(&mut self, garbage: Box<dyn Send>, objects: usize) {
        self.pending.fetch_add(objects, Ordering::Relaxed);
        let job = (garbage, objects);
        let job = match &self.sender {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                // The thread is gone (it never exits on its own): free here instead.
                Err(mpsc::SendError(job)) => job,
            },
            None => match self.start() {
                Some(tx) => match tx.send(job) {
                    Ok(()) => return,
                    Err(mpsc::SendError(job)) => job,
                },
                None => job,
            },
        };
        drop(job.0);
        self.pending.fetch_sub(objects, Ordering::Relaxed);
        self.freed.fetch_add(objects, Ordering::Relaxed);
    }

    fn start(&mut self) -> Option<&mpsc::Sender<Job>> {
        let (tx, rx) = mpsc::channel::<Job>();
        let pending = Arc::clone(&self.pending);
        let freed = Arc::clone(&self.freed);
        let spawned = std::thread::Builder::new()
            .name("lazy_free".into())
            .spawn(move || {
                use tikv_jemalloc_ctl::thread;
                let counters = thread::allocatedp::read()
                    .ok()
                    .zip(thread::deallocatedp::read().ok());
                for (garbage, objects) in rx {
                    drop(garbage);
                    if let Some((alloc, dealloc)) = &counters {
                        let net = dealloc.get().saturating_sub(alloc.get());
                        NET_FREED_BYTES.store(net as usize, Ordering::Relaxed);
                    }
                    pending.fetch_sub(objects, Ordering::Relaxed);
                    freed.fetch_add(objects, Ordering::Relaxed);
                }
            });
        if spawned.is_err() {
            return None;
        }
        self.sender = Some(tx);
        self.sender.as_ref()
    }

    pub fn pending_objects(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub fn freed_objects(&self) -> usize {
        self.freed.load(Ordering::Relaxed)
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&self) {
        self.freed.store(0, Ordering::Relaxed);
    }
}

/// Roughly how many allocations freeing `v` takes (Redis' `lazyfreeGetFreeEffort`): one for
/// compact encodings, the element count for dict- and skiplist-based ones, the node count for
/// lists, and for streams their index nodes plus the consumer groups' pending entries
/// (estimated from the first group, as Redis does).
pub fn free_effort(v: &Value) -> usize {
    match v {
        Value::List(l) => l.ql().node_count(),
        Value::Set(s) => match &**s {
            SetValue::Hashtable(d) => d.len(),
            SetValue::Intset(_) => 1,
        },
        Value::Hash(h) => match &**h {
            HashValue::Hashtable(d) => d.len(),
            HashValue::Listpack(_) => 1,
        },
        Value::Zset(z) => match &**z {
            ZsetValue::Skiplist(_) => z.len(),
            ZsetValue::Listpack(_) => 1,
        },
        Value::Stream(s) => {
            let mut effort = s.rax_nodes();
            if let Some(first) = s.groups.values().next() {
                effort += s.groups.len() * (1 + first.pel.len());
            }
            effort
        }
        Value::Str(_) => 1,
        Value::Module(mv) => module_effort(mv.free_effort(None, 0)),
    }
}

/// A module's free effort of 0 means "always free in the background", as in Redis.
fn module_effort(e: usize) -> usize {
    if e == 0 {
        usize::MAX
    } else {
        e
    }
}

/// `free_effort` of a key's value: a module type's free_effort2 gets the key and database.
pub fn free_effort_of(v: &Value, key: &[u8], db: usize) -> usize {
    match v {
        Value::Module(mv) => module_effort(mv.free_effort(Some(key), db)),
        v => free_effort(v),
    }
}
