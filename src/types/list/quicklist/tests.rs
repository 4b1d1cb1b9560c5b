//! Quicklist tests: node shapes Redis 7.0 produces (checked against redis-server's DEBUG
//! OBJECT), and random operation sequences against a `VecDeque` model across fill and
//! compression settings.

use super::*;
use proptest::prelude::*;

fn to_vec(ql: &QuickList) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    ql.for_each(|e| {
        out.push(e.to_vec());
        true
    });
    out
}

fn to_vec_rev(ql: &QuickList) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if !ql.is_empty() {
        ql.for_each_from(ql.len() - 1, false, |e| {
            out.push(e.to_vec());
            true
        });
    }
    out
}

#[test]
fn default_fill_packs_8kb_nodes() {
    // RPUSH of 1000 "xxxxxxxxxx" elements (12 bytes each in a listpack) under fill -2 gives
    // nodes of 8 KB at most, as Redis does: DEBUG OBJECT shows ql_nodes:2 there.
    let mut ql = QuickList::new(-2, 0);
    for _ in 0..1000 {
        ql.push_tail(b"xxxxxxxxxx");
    }
    ql.verify();
    assert_eq!(ql.len(), 1000);
    assert_eq!(ql.node_count(), 2);
    assert!(ql.nodes().all(|n| n.sz <= 8192));
}

#[test]
fn count_fill_limits_elements_per_node() {
    let mut ql = QuickList::new(4, 0);
    for i in 0..10 {
        ql.push_tail(i.to_string().as_bytes());
    }
    assert_eq!(ql.node_count(), 3);
    let counts: Vec<usize> = ql.nodes().map(|n| n.count).collect();
    assert_eq!(counts, vec![4, 4, 2]);
}

#[test]
fn compression_keeps_the_ends_raw() {
    let mut ql = QuickList::new(4, 1);
    for i in 0..40 {
        ql.push_tail(format!("element-{:04}-aaaaaaaaaaaaaaaaaaaaaaaa", i).as_bytes());
    }
    ql.verify();
    let shapes: Vec<bool> = ql.nodes().map(|n| n.compressed).collect();
    assert!(!shapes[0] && !shapes[shapes.len() - 1]);
    assert!(shapes[1..shapes.len() - 1].iter().all(|c| *c));
    assert_eq!(
        ql.get(17),
        Some(Elem::Str(b"element-0017-aaaaaaaaaaaaaaaaaaaaaaaa".to_vec()))
    );
}

#[test]
fn plain_nodes_hold_large_elements() {
    set_packed_threshold(100);
    let big = vec![b'z'; 150];
    let mut ql = QuickList::new(-2, 0);
    ql.push_tail(b"a");
    ql.push_tail(&big);
    ql.push_tail(b"b");
    assert_eq!(ql.node_count(), 3);
    assert!(ql.nodes().nth(1).unwrap().plain);
    assert!(ql.replace_at(0, &big));
    assert_eq!(to_vec(&ql), vec![big.clone(), big.clone(), b"b".to_vec()]);
    assert!(ql.replace_at(1, b"small"));
    assert_eq!(
        to_vec(&ql),
        vec![big.clone(), b"small".to_vec(), b"b".to_vec()]
    );
    ql.verify();
    set_packed_threshold(0);
}

#[test]
fn insert_splits_a_full_node_and_merges() {
    let mut ql = QuickList::new(3, 0);
    for v in ["a", "b", "c", "d", "e", "f"] {
        ql.push_tail(v.as_bytes());
    }
    assert!(ql.insert_pivot(b"b", b"X", true));
    ql.verify();
    assert_eq!(
        to_vec(&ql),
        ["a", "b", "X", "c", "d", "e", "f"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect::<Vec<_>>()
    );
    assert!(!ql.insert_pivot(b"nope", b"Y", false));
}

#[test]
fn packed_threshold_limits() {
    assert!(!set_packed_threshold(1 << 32));
    assert!(set_packed_threshold(0));
    assert!(!is_large(1000));
}

#[derive(Debug, Clone)]
enum Op {
    Push(bool, Vec<u8>),
    Pop(bool),
    Insert(usize, bool, Vec<u8>),
    Set(i64, Vec<u8>),
    DelRange(i64, i64),
    Rem(Vec<u8>, i64),
    Index(i64),
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (0u8..6).prop_map(|b| vec![b'a' + b]),
        2 => (-300i64..300).prop_map(|n| n.to_string().into_bytes()),
        1 => proptest::collection::vec(b'a'..b'c', 0..120),
        1 => (0usize..3).prop_map(|n| vec![b'L'; 200 + n]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), value()).prop_map(|(h, v)| Op::Push(h, v)),
        2 => any::<bool>().prop_map(Op::Pop),
        2 => (0usize..64, any::<bool>(), value()).prop_map(|(i, a, v)| Op::Insert(i, a, v)),
        2 => (-70i64..70, value()).prop_map(|(i, v)| Op::Set(i, v)),
        1 => (-70i64..70, 0i64..20).prop_map(|(s, c)| Op::DelRange(s, c)),
        1 => (value(), -3i64..3).prop_map(|(v, c)| Op::Rem(v, c)),
        1 => (-70i64..70).prop_map(Op::Index),
    ]
}

fn model_index(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn behaves_like_a_vecdeque(
        fill in prop_oneof![Just(-1i64), Just(-2), Just(1), Just(2), Just(3), Just(5)],
        depth in 0i64..3,
        plain_at in prop_oneof![Just(0u64), Just(150)],
        ops in proptest::collection::vec(op(), 0..300),
    ) {
        // The threshold is process-wide: only tests in this module change it, and they all
        // restore the default, so a run with 150 only affects this case.
        set_packed_threshold(plain_at);
        let mut ql = QuickList::new(fill, depth);
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        for op in ops {
            match op {
                Op::Push(head, v) => {
                    ql.push(&v, head);
                    if head { model.push_front(v) } else { model.push_back(v) }
                }
                Op::Pop(head) => {
                    let got = ql.pop(head).map(Elem::into_bytes);
                    let want = if head { model.pop_front() } else { model.pop_back() };
                    prop_assert_eq!(got, want);
                }
                Op::Insert(i, after, v) => {
                    if model.is_empty() { continue; }
                    let pivot = model[i % model.len()].clone();
                    let at = model.iter().position(|x| *x == pivot).unwrap();
                    prop_assert!(ql.insert_pivot(&pivot, &v, after));
                    model.insert(if after { at + 1 } else { at }, v);
                }
                Op::Set(i, v) => {
                    let ok = ql.replace_at(i, &v);
                    match model_index(model.len(), i) {
                        Some(j) => { prop_assert!(ok); model[j] = v; }
                        None => prop_assert!(!ok),
                    }
                }
                Op::DelRange(start, count) => {
                    let ok = ql.del_range(start, count);
                    if count > 0 {
                        if let Some(s) = model_index(model.len(), start) {
                            prop_assert!(ok);
                            let e = (s + count as usize).min(model.len());
                            model.drain(s..e);
                        } else {
                            prop_assert!(!ok);
                        }
                    }
                }
                Op::Rem(v, count) => {
                    let limit = count.unsigned_abs() as usize;
                    let got = ql.remove_matching(&v, limit, count < 0);
                    let mut removed = 0;
                    if count < 0 {
                        let mut j = model.len();
                        while j > 0 && (limit == 0 || removed < limit) {
                            j -= 1;
                            if model[j] == v { model.remove(j); removed += 1; }
                        }
                    } else {
                        let mut j = 0;
                        while j < model.len() && (limit == 0 || removed < limit) {
                            if model[j] == v { model.remove(j); removed += 1; } else { j += 1; }
                        }
                    }
                    prop_assert_eq!(got, removed);
                }
                Op::Index(i) => {
                    let got = ql.get(i).map(Elem::into_bytes);
                    let want = model_index(model.len(), i).map(|j| model[j].clone());
                    prop_assert_eq!(got, want);
                }
            }
            ql.verify();
            prop_assert_eq!(ql.len(), model.len());
        }
        let fwd = to_vec(&ql);
        prop_assert_eq!(&fwd, &model.iter().cloned().collect::<Vec<_>>());
        let mut rev = to_vec_rev(&ql);
        rev.reverse();
        prop_assert_eq!(rev, fwd);
        // Ranges from any start, both ways.
        for start in 0..model.len() {
            let mut got = Vec::new();
            ql.for_each_from(start, true, |e| { got.push(e.to_vec()); got.len() < 5 });
            let want: Vec<Vec<u8>> = model.iter().skip(start).take(5).cloned().collect();
            prop_assert_eq!(got, want);
        }
        let dup = ql.clone();
        prop_assert_eq!(to_vec(&dup), to_vec(&ql));
        set_packed_threshold(0);
    }
}
