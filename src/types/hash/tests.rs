//! Hash values against a `HashMap` model: random operation sequences under small conversion
//! limits, so both encodings and the conversion between them are exercised.

use super::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

fn limits(max_entries: usize, max_value: usize) -> Limits {
    Limits {
        max_entries,
        max_value,
    }
}

fn pairs(h: &HashValue) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
    v.sort();
    v
}

#[derive(Debug, Clone)]
enum Op {
    Set(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// Fields and values that hit the listpack's integer and string encodings: canonical integers,
/// non-canonical ones ("007", "-0"), short and long strings.
fn element() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (-300i64..300).prop_map(|v| v.to_string().into_bytes()),
        Just(b"007".to_vec()),
        Just(b"-0".to_vec()),
        Just(b"9223372036854775807".to_vec()),
        Just(b"9223372036854775808".to_vec()),
        Just(Vec::new()),
        "[a-c]{1,3}".prop_map(|s| s.into_bytes()),
        "[a-z]{10,40}".prop_map(|s| s.into_bytes()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (element(), element()).prop_map(|(f, v)| Op::Set(f, v)),
        1 => element().prop_map(Op::Delete),
    ]
}

proptest! {
    #[test]
    fn behaves_like_a_hashmap(
        ops in proptest::collection::vec(op(), 0..300),
        max_entries in 0usize..12,
        max_value in 0usize..24,
    ) {
        let lim = limits(max_entries, max_value);
        let mut h = HashValue::new();
        let mut m: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut is_listpack = true;
        for op in ops {
            match op {
                Op::Set(f, v) => {
                    let existed = m.insert(f.clone(), v.clone()).is_some();
                    prop_assert_eq!(h.set(&f, &v, lim), existed);
                    // Converted when an element is too long or the hash too big; never back.
                    if f.len() > max_value || v.len() > max_value || m.len() > max_entries {
                        is_listpack = false;
                    }
                    prop_assert_eq!(h.get(&f).map(|e| e.to_vec()), Some(v));
                }
                Op::Delete(f) => {
                    prop_assert_eq!(h.delete(&f), m.remove(&f).is_some());
                    prop_assert!(!h.contains(&f));
                }
            }
            prop_assert_eq!(h.len(), m.len());
            let want = if is_listpack { "listpack" } else { "hashtable" };
            prop_assert_eq!(h.encoding_name(), want);
            if let HashValue::Listpack(lp) = &h {
                prop_assert!(Listpack::validate_integrity(lp.as_bytes(), true));
            }
        }
        let mut want: Vec<_> = m.iter().map(|(f, v)| (f.clone(), v.clone())).collect();
        want.sort();
        prop_assert_eq!(pairs(&h), want.clone());
        for (f, v) in &m {
            prop_assert_eq!(h.value_len(f), v.len());
        }
        prop_assert_eq!(pairs(&h.duplicate()), want.clone());
        prop_assert_eq!(h.duplicate().encoding_name(), h.encoding_name());
        // An explicit conversion keeps every pair.
        h.convert();
        prop_assert_eq!(h.encoding_name(), "hashtable");
        prop_assert_eq!(pairs(&h), want);
    }
}

#[test]
fn try_conversion_checks_every_argument() {
    let lim = limits(128, 4);
    let mut h = HashValue::new();
    h.try_conversion(&[b"abcd".to_vec(), b"1".to_vec()], lim);
    assert_eq!(h.encoding_name(), "listpack");
    h.try_conversion(&[b"a".to_vec(), b"abcde".to_vec()], lim);
    assert_eq!(h.encoding_name(), "hashtable");
}

#[test]
fn integers_are_kept_as_listpack_integers_and_read_back_as_text() {
    let lim = limits(128, 64);
    let mut h = HashValue::new();
    h.set(b"12", b"-5", lim);
    h.set(b"x", b"0012", lim);
    assert_eq!(h.get(b"12"), Some(Entry::Int(-5)));
    assert_eq!(h.get(b"x"), Some(Entry::Str(b"0012")));
    assert_eq!(h.value_len(b"12"), 2);
    assert_eq!(h.value_len(b"nope"), 0);
    // Listpack order is insertion order; an update keeps the place.
    h.set(b"12", b"7", lim);
    let order: Vec<_> = h.iter().map(|(f, _)| f.to_vec()).collect();
    assert_eq!(order, vec![b"12".to_vec(), b"x".to_vec()]);
}

fn sample_hash(n: usize, lim: Limits) -> HashValue {
    let mut h = HashValue::new();
    for i in 0..n {
        h.set(format!("f{i}").as_bytes(), format!("v{i}").as_bytes(), lim);
    }
    h
}

#[test]
fn random_picks_are_members_with_their_values() {
    let mut rng = rand::thread_rng();
    for h in [
        sample_hash(10, limits(128, 64)),
        sample_hash(10, limits(2, 64)),
    ] {
        let all: HashMap<_, _> = pairs(&h).into_iter().collect();
        let mut seen = HashSet::new();
        for _ in 0..500 {
            let (f, v) = h.random_pair(&mut rng).unwrap();
            assert_eq!(all.get(&f.to_vec()), Some(&v.to_vec()));
            seen.insert(f.to_vec());
        }
        assert_eq!(seen.len(), 10);
    }
    assert!(HashValue::new().random_pair(&mut rng).is_none());
}

#[test]
fn listpack_random_pairs_repeat_and_unique_pick_distinct_in_order() {
    let mut rng = rand::thread_rng();
    let h = sample_hash(10, limits(128, 64));
    let picks = h.random_pairs_listpack(1000, &mut rng);
    assert_eq!(picks.len(), 1000);
    let distinct: HashSet<_> = picks.iter().map(|(f, _)| f.to_vec()).collect();
    assert_eq!(distinct.len(), 10);
    let all: HashMap<_, _> = pairs(&h).into_iter().collect();
    for (f, v) in &picks {
        assert_eq!(all.get(&f.to_vec()), Some(&v.to_vec()));
    }
    for count in [0, 1, 3, 9, 10, 20] {
        let u = h.random_pairs_unique_listpack(count, &mut rng);
        assert_eq!(u.len(), count.min(10));
        let idx: Vec<usize> = u
            .iter()
            .map(|(f, _)| String::from_utf8(f.to_vec()).unwrap()[1..].parse().unwrap())
            .collect();
        assert!(
            idx.windows(2).all(|w| w[0] < w[1]),
            "listpack order: {idx:?}"
        );
    }
}
