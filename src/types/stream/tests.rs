//! Stream node layout and operations checked against a plain ordered-map model.

use super::*;
use proptest::prelude::*;

fn fv(fields: &[&str]) -> Vec<Vec<u8>> {
    fields.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn node_layout_matches_redis() {
    // XADD s 1-1 a 1 b 2 ; XADD s 1-2 a 3 b 4 ; XADD s 2-0 c 5 on a fresh stream gives this
    // listpack in redis-server 7.0 (master entry, then delta-encoded entries).
    let mut s = Stream::new();
    s.append(
        &fv(&["a", "1", "b", "2"]),
        Some((StreamId::new(1, 1), true)),
        0,
        4096,
        100,
    )
    .unwrap();
    s.append(
        &fv(&["a", "3", "b", "4"]),
        Some((StreamId::new(1, 2), true)),
        0,
        4096,
        100,
    )
    .unwrap();
    s.append(
        &fv(&["c", "5"]),
        Some((StreamId::new(2, 0), true)),
        0,
        4096,
        100,
    )
    .unwrap();
    let (master, lp) = s.nodes().next().unwrap();
    assert_eq!(*master, StreamId::new(1, 1));
    let got: Vec<Vec<u8>> = lp.iter().map(|e| e.to_vec()).collect();
    let want = fv(&[
        "3", "0", "2", "a", "b", "0", // master: count, deleted, fields, terminator
        "2", "0", "0", "1", "2", "5", // same fields: flags, ms, seq, values, lp-count
        "2", "0", "1", "3", "4", "5", //
        "0", "1", "-1", "1", "c", "5", "6", // own fields: num-fields then pairs
    ]);
    assert_eq!(got, want);
}

#[derive(Debug, Clone)]
enum Op {
    Add(u8),
    Del(usize),
    TrimLen(u8, bool),
    TrimId(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3).prop_map(Op::Add),
        1 => (0usize..64).prop_map(Op::Del),
        1 => (0u8..40, any::<bool>()).prop_map(|(n, a)| Op::TrimLen(n, a)),
        1 => (0usize..64, any::<bool>()).prop_map(|(n, a)| Op::TrimId(n, a)),
    ]
}

proptest! {
    #[test]
    fn stream_matches_model(ops in proptest::collection::vec(op(), 1..120), max_entries in 1usize..6) {
        let mut s = Stream::new();
        let mut model: BTreeMap<StreamId, Vec<Vec<u8>>> = BTreeMap::new();
        let mut ids: Vec<StreamId> = Vec::new();
        let mut clock = 1u64;
        for o in ops {
            match o {
                Op::Add(shape) => {
                    let f = match shape {
                        0 => fv(&["a", "1"]),
                        1 => fv(&["a", "x", "b", "12345"]),
                        _ => fv(&["zz", "-7"]),
                    };
                    clock += (shape as u64) % 2;
                    let id = s.append(&f, None, clock, 0, max_entries).unwrap();
                    model.insert(id, f);
                    ids.push(id);
                }
                Op::Del(i) => {
                    if let Some(id) = ids.get(i % ids.len().max(1)).copied() {
                        prop_assert_eq!(s.delete(id), model.remove(&id).is_some());
                    }
                }
                Op::TrimLen(n, approx) => {
                    let removed = s.trim(Trim::MaxLen(n as u64), approx, 0);
                    let before = model.len();
                    if !approx {
                        while model.len() > n as usize {
                            let k = *model.keys().next().unwrap();
                            model.remove(&k);
                        }
                        prop_assert_eq!(removed as usize, before - model.len());
                    } else {
                        // Whole nodes only: what is left must be a suffix of the model.
                        let keep: Vec<StreamId> = model.keys().copied().collect();
                        let live = s.length as usize;
                        for k in &keep[..keep.len() - live] {
                            model.remove(k);
                        }
                        prop_assert!(s.length >= (n as u64).min(before as u64));
                    }
                }
                Op::TrimId(i, approx) => {
                    if let Some(min) = ids.get(i % ids.len().max(1)).copied() {
                        s.trim(Trim::MinId(min), approx, 0);
                        if !approx {
                            model.retain(|k, _| *k >= min);
                        } else {
                            let keep: Vec<StreamId> = model.keys().copied().collect();
                            let live = s.length as usize;
                            for k in &keep[..keep.len() - live] {
                                model.remove(k);
                            }
                        }
                    }
                }
            }
            prop_assert_eq!(s.length as usize, model.len());
            let mut got = Vec::new();
            s.for_range(StreamId::MIN, StreamId::MAX, false, false, true, |e| {
                got.push((e.id, e.fields.clone()));
                true
            });
            let want: Vec<_> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
            prop_assert_eq!(&got, &want);
            let mut rev = Vec::new();
            s.for_range(StreamId::MIN, StreamId::MAX, true, false, true, |e| {
                rev.push((e.id, e.fields.clone()));
                true
            });
            let want_rev: Vec<_> = want.iter().rev().cloned().collect();
            prop_assert_eq!(rev, want_rev);
            // With tombstones, backward is exactly forward reversed.
            let (mut fwd_all, mut rev_all) = (Vec::new(), Vec::new());
            s.for_range(StreamId::MIN, StreamId::MAX, false, true, false, |e| {
                fwd_all.push((e.id, e.flags));
                true
            });
            s.for_range(StreamId::MIN, StreamId::MAX, true, true, false, |e| {
                rev_all.push((e.id, e.flags));
                true
            });
            fwd_all.reverse();
            prop_assert_eq!(rev_all, fwd_all);
            prop_assert_eq!(
                s.last_valid_id(),
                model.keys().next_back().copied().unwrap_or(StreamId::MIN)
            );
            // Every node's counters agree with its entries, and no node exceeds the limit.
            for (m, lp) in s.nodes() {
                let es = decode_node(*m, lp, false);
                let live = es.iter().filter(|e| !e.deleted()).count() as i64;
                let first = lp.first().unwrap();
                prop_assert_eq!(lp_int(lp.get(first)), live);
                prop_assert_eq!(lp_int(lp.get(lp.next(first).unwrap())), es.len() as i64 - live);
                prop_assert!(es.len() <= max_entries);
                // (A node may be left with no live entry: an exact MINID trim stops at a
                // deleted last entry, as in Redis.)
            }
        }
    }
}

#[test]
fn id_parsing_follows_redis() {
    assert_eq!(
        StreamId::parse(b"5", 7, true, false),
        Some((StreamId::new(5, 7), true))
    );
    assert_eq!(
        StreamId::parse(b"5-*", 0, true, true),
        Some((StreamId::new(5, 0), false))
    );
    assert_eq!(StreamId::parse(b"5-*", 0, true, false), None);
    assert_eq!(StreamId::parse(b"-", 0, true, false), None);
    assert_eq!(
        StreamId::parse(b"+", 0, false, false),
        Some((StreamId::MAX, true))
    );
    assert_eq!(StreamId::parse(b"1--1", 0, false, false), None);
    assert_eq!(
        StreamId::parse(b"18446744073709551615-18446744073709551615", 0, true, false),
        Some((StreamId::MAX, true))
    );
    assert_eq!(
        StreamId::parse(b"18446744073709551616", 0, true, false),
        None
    );
}
