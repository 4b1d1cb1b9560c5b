//! SORT and SORT_RO (Redis' sort.c): sort the elements of a list, set or sorted set
//! numerically or lexicographically, directly or by the values of other keys (BY pattern, with
//! `->field` for hash fields), with LIMIT, ASC/DESC and GET patterns (`#` for the element
//! itself); SORT can STORE the result as a list.
//!
//! `BY <constant>` means "don't sort": lists and sorted sets then keep their own order (reversed
//! by DESC, cut by LIMIT directly), while a set, which has no stable order, is sorted
//! lexicographically when the result is stored or produced by a script, so replicas and the
//! AOF reproduce it.

use crate::client::{flags as cflags, Client};
use crate::commands::{errors, CmdProc};
use crate::config::table::notify;
use crate::server::Server;
use crate::types::list::ListValue;
use crate::types::{Value, WRONGTYPE};
use crate::util;
use std::cmp::Ordering;

pub fn lookup(name: &str) -> Option<CmdProc> {
    match name {
        "sort" => Some(sort_command),
        "sort_ro" => Some(sort_ro_command),
        _ => None,
    }
}

struct SortOptions {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    /// The last BY pattern (used only when sorting).
    by: Option<Vec<u8>>,
    /// A BY pattern without '*' was given.
    dontsort: bool,
    gets: Vec<Vec<u8>>,
    /// STORE destination (SORT only).
    store: Option<Vec<u8>>,
}

/// Parses the options from argv[2] on, in Redis' order and with its errors; None once an error
/// was replied.
/// `full_key_access`: the client's user may read every key with this command; BY and GET
/// patterns read keys no ACL check saw, so they need it.
fn parse_options(c: &mut Client, readonly: bool, full_key_access: bool) -> Option<SortOptions> {
    let mut o = SortOptions {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        by: None,
        dontsort: false,
        gets: Vec::new(),
        store: None,
    };
    let argc = c.argv.len();
    let mut j = 2;
    while j < argc {
        let left = argc - j - 1;
        let opt = &c.argv[j];
        if util::eq_ic(opt, "asc") {
            o.desc = false;
        } else if util::eq_ic(opt, "desc") {
            o.desc = true;
        } else if util::eq_ic(opt, "alpha") {
            o.alpha = true;
        } else if util::eq_ic(opt, "limit") && left >= 2 {
            o.limit_start = crate::commands::arg_i64(c, j + 1)?;
            o.limit_count = crate::commands::arg_i64(c, j + 2)?;
            j += 2;
        } else if !readonly && util::eq_ic(opt, "store") && left >= 1 {
            o.store = Some(c.argv[j + 1].clone());
            j += 1;
        } else if util::eq_ic(opt, "by") && left >= 1 {
            let p = c.argv[j + 1].clone();
            // A pattern without '*' names one key for every element: nothing to sort by (and
            // that sticks, whatever BY comes later, as in Redis).
            if !p.contains(&b'*') {
                o.dontsort = true;
            } else if !full_key_access {
                c.out
                    .error("BY option of SORT denied due to insufficient ACL permissions.");
                return None;
            }
            o.by = Some(p);
            j += 1;
        } else if util::eq_ic(opt, "get") && left >= 1 {
            if !full_key_access {
                c.out
                    .error("GET option of SORT denied due to insufficient ACL permissions.");
                return None;
            }
            o.gets.push(c.argv[j + 1].clone());
            j += 1;
        } else {
            c.out.error(errors::SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// The kinds of value SORT reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Missing,
    List,
    Set,
    Zset,
}

fn source_of(v: Option<&Value>) -> Option<Source> {
    match v {
        None => Some(Source::Missing),
        Some(Value::List(_)) => Some(Source::List),
        Some(Value::Set(_)) => Some(Source::Set),
        Some(Value::Zset(_)) => Some(Source::Zset),
        Some(_) => None,
    }
}

/// The elements to sort. With `range` (lists and sorted sets under "don't sort"), only the
/// ranks start..=end, taken from the end when `desc`; otherwise all of them in the order Redis
/// collects them.
fn collect(v: Option<&Value>, range: Option<(usize, usize)>, desc: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    match (v, range) {
        (None, _) => {}
        (Some(Value::List(l)), Some((start, end))) => {
            let len = l.len();
            let (from, to) = if desc {
                (len - 1 - end, len - 1 - start)
            } else {
                (start, end)
            };
            l.range(from, to, desc, |e| out.push(e.to_vec()));
        }
        (Some(Value::List(l)), None) => out = l.to_vecs(),
        (Some(Value::Set(s)), _) => out = s.member_bytes(),
        (Some(Value::Zset(z)), Some((start, end))) => {
            z.for_rank_range(start, end, desc, |m, _| out.push(m.to_vec()))
        }
        (Some(Value::Zset(z)), None) => z.for_each(|m, _| out.push(m.to_vec())),
        (Some(_), _) => unreachable!("type checked by the caller"),
    }
    out
}

/// Redis' `lookupKeyByPattern`: "#" is the element itself; otherwise the first '*' of the
/// pattern is replaced by the element to name a key, whose string value is returned, or, when
/// the pattern continues with "->field" after the '*', that field of the hash at the key.
/// None when the pattern has no '*' or the key/field doesn't exist or has another type.
fn lookup_by_pattern(srv: &mut Server, db: usize, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let rest = &pattern[star + 1..];
    let arrow = rest
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&a| a + 2 < rest.len());
    let (postfix, field) = match arrow {
        Some(a) => (&rest[..a], Some(&rest[a + 2..])),
        None => (rest, None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + postfix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(postfix);
    let o = srv.lookup_read(db, &key)?;
    match (&mut o.value, field) {
        (Value::Hash(h), Some(f)) => h.get(f).map(|e| e.to_vec()),
        (Value::Str(s), None) => Some(s.to_vec()),
        _ => None,
    }
}

/// C's `strtod` on a value as SORT uses it: the whole string must be consumed (parsing stops at
/// a NUL byte, as on a C string), without overflow and not NaN. An empty string is 0.
fn sort_score(b: &[u8]) -> Option<f64> {
    let b = &b[..b.iter().position(|&x| x == 0).unwrap_or(b.len())];
    let s = std::ffi::CString::new(b).expect("cut at the first NUL");
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `s` is a valid NUL-terminated string that outlives the call; errno is this
    // thread's.
    let (v, erange, rest) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(s.as_ptr(), &mut end);
        (v, *libc::__errno_location() == libc::ERANGE, *end)
    };
    (rest == 0 && !erange && !v.is_nan()).then_some(v)
}

/// `strcoll` in the C locale, which is how the server runs: bytes compared up to the first NUL.
fn collate(a: &[u8], b: &[u8]) -> Ordering {
    let cut = |x: &[u8]| x.iter().position(|&c| c == 0).unwrap_or(x.len());
    a[..cut(a)].cmp(&b[..cut(b)])
}

struct Item {
    elem: Vec<u8>,
    score: f64,
    /// The BY value an ALPHA sort compares (None when its key is missing).
    cmp: Option<Vec<u8>>,
}

fn sort_command(srv: &mut Server, c: &mut Client) {
    sort_generic(srv, c, false)
}

fn sort_ro_command(srv: &mut Server, c: &mut Client) {
    sort_generic(srv, c, true)
}

fn sort_generic(srv: &mut Server, c: &mut Client, readonly: bool) {
    let full_key_access =
        srv.acl_user_has_full_key_access(c, crate::commands::spec::keyflags::ACCESS);
    let Some(mut o) = parse_options(c, readonly, full_key_access) else {
        return;
    };
    let db = c.db;
    let key = c.argv[1].clone();
    let source = {
        let obj = srv.lookup_read(db, &key);
        let Some(source) = source_of(obj.as_deref().map(|o| &o.value)) else {
            c.out.error(WRONGTYPE);
            return;
        };
        // Redis sorts sorted sets through their skiplist form and leaves them converted.
        if let Some(Value::Zset(z)) = obj.map(|o| &mut o.value) {
            z.convert_to_skiplist();
        }
        source
    };
    // A set has no order of its own: an unsorted result stored or produced by a script would
    // make replicas diverge, so it is sorted lexicographically then.
    if o.dontsort && source == Source::Set && (o.store.is_some() || c.has(cflags::SCRIPT)) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }

    let len = match srv.dbs[db].dict.get(&key[..]).map(|o| &o.value) {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::Zset(z)) => z.len(),
        _ => 0,
    } as i64;
    let mut start = o.limit_start.max(0).min(len);
    let count = o.limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }

    // Lists and sorted sets left in their own order are read for the requested range only.
    let ordered = matches!(source, Source::List | Source::Zset) && o.dontsort;
    let elems = {
        let v = srv.dbs[db].dict.get(&key[..]).map(|o| &o.value);
        if ordered {
            let range = (end >= start).then_some((start as usize, end as usize));
            let e = match range {
                Some(r) => collect(v, Some(r), o.desc),
                None => Vec::new(),
            };
            end -= start;
            start = 0;
            e
        } else {
            collect(v, None, o.desc)
        }
    };

    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            cmp: None,
        })
        .collect();
    let mut conversion_error = false;
    if !o.dontsort {
        for it in items.iter_mut() {
            let byval = match &o.by {
                Some(p) => match lookup_by_pattern(srv, db, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.elem.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    it.cmp = Some(byval);
                }
            } else {
                match sort_score(&byval) {
                    Some(s) => it.score = s,
                    None => conversion_error = true,
                }
            }
        }
        let by = o.by.is_some();
        // A stored result is compared as binary strings, a replied one with the C locale's
        // collation (Redis' `sort_store` switch); the two only differ past a NUL byte.
        let store = o.store.is_some();
        let text_cmp = |x: &[u8], y: &[u8]| if store { x.cmp(y) } else { collate(x, y) };
        let cmp = |a: &Item, b: &Item| -> Ordering {
            let ord = if !o.alpha {
                // Equal scores fall back to the elements, so the result is deterministic.
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if by {
                match (&a.cmp, &b.cmp) {
                    (Some(x), Some(y)) => text_cmp(x, y),
                    (x, y) => x.is_some().cmp(&y.is_some()),
                }
            } else {
                text_cmp(&a.elem, &b.elem)
            };
            if o.desc {
                ord.reverse()
            } else {
                ord
            }
        };
        items.sort_by(cmp);
    }

    let range = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &items[..0]
    };
    if conversion_error {
        c.out
            .error("One or more scores can't be converted into double");
        return;
    }
    let per = o.gets.len().max(1);
    let Some(dst) = o.store.take() else {
        c.out.array(range.len() * per);
        for it in range {
            if o.gets.is_empty() {
                c.out.bulk(&it.elem);
            }
            for g in &o.gets {
                match lookup_by_pattern(srv, db, g, &it.elem) {
                    Some(v) => c.out.bulk(&v),
                    None => c.out.null(),
                }
            }
        }
        return;
    };
    // STORE: the result becomes a list (a missing GET value is stored as an empty string);
    // an empty result deletes the destination.
    let mut list = ListValue::new(
        srv.config.list_max_listpack_size,
        srv.config.list_compress_depth,
    );
    for it in range {
        if o.gets.is_empty() {
            list.push(&it.elem, false);
        }
        for g in &o.gets {
            let v = lookup_by_pattern(srv, db, g, &it.elem).unwrap_or_default();
            list.push(&v, false);
        }
    }
    let stored = list.len();
    if stored > 0 {
        srv.set_key(db, &dst, Value::List(Box::new(list)), false);
        srv.notify_keyspace_event(notify::LIST, "sortstore", &dst, db);
        srv.dirty += stored as i64;
    } else if srv.db_delete(db, &dst) {
        srv.signal_modified_key(db, &dst);
        srv.notify_keyspace_event(notify::GENERIC, "del", &dst, db);
        srv.dirty += 1;
    }
    c.out.int(stored as i64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_support::{run, setup};

    fn reply(srv: &mut Server, c: &mut Client, args: &[&str]) -> String {
        String::from_utf8_lossy(&run(srv, c, args).0).into_owned()
    }

    #[test]
    fn numeric_alpha_desc_and_limit_on_a_set() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SADD", "s", "10", "9", "-1", "2.5"]);
        assert_eq!(
            reply(&mut srv, &mut c, &["SORT_RO", "s"]),
            "*4\r\n$2\r\n-1\r\n$3\r\n2.5\r\n$1\r\n9\r\n$2\r\n10\r\n"
        );
        assert_eq!(
            reply(
                &mut srv,
                &mut c,
                &["SORT_RO", "s", "ALPHA", "DESC", "LIMIT", "1", "2"]
            ),
            "*2\r\n$3\r\n2.5\r\n$2\r\n10\r\n"
        );
        run(&mut srv, &mut c, &["SADD", "s", "x"]);
        assert_eq!(
            reply(&mut srv, &mut c, &["SORT_RO", "s"]),
            "-ERR One or more scores can't be converted into double\r\n"
        );
        assert_eq!(
            reply(&mut srv, &mut c, &["SORT_RO", "s", "STORE", "d"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(reply(&mut srv, &mut c, &["SORT_RO", "nokey"]), "*0\r\n");
        run(&mut srv, &mut c, &["SET", "str", "1"]);
        assert!(reply(&mut srv, &mut c, &["SORT_RO", "str"]).starts_with("-WRONGTYPE"));
    }

    #[test]
    fn by_and_get_patterns_with_strings_and_hash_fields() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, &["SADD", "s", "a", "b", "c"]);
        run(
            &mut srv,
            &mut c,
            &["MSET", "w_a", "3", "w_b", "1", "w_c", "2"],
        );
        run(&mut srv, &mut c, &["HSET", "h_a", "f", "x"]);
        run(&mut srv, &mut c, &["HSET", "h_b", "f", "y"]);
        assert_eq!(
            reply(
                &mut srv,
                &mut c,
                &["SORT_RO", "s", "BY", "w_*", "GET", "#", "GET", "h_*->f"]
            ),
            "*6\r\n$1\r\nb\r\n$1\r\ny\r\n$1\r\nc\r\n$-1\r\n$1\r\na\r\n$1\r\nx\r\n"
        );
        // BY a hash field; a pattern ending in "->" names a key, not a field.
        assert_eq!(
            reply(
                &mut srv,
                &mut c,
                &["SORT_RO", "s", "BY", "h_*->f", "ALPHA", "DESC"]
            ),
            "*3\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nc\r\n"
        );
        assert_eq!(
            reply(
                &mut srv,
                &mut c,
                &["SORT_RO", "s", "BY", "w_*", "GET", "h_*->"]
            ),
            "*3\r\n$-1\r\n$-1\r\n$-1\r\n"
        );
        // A constant BY doesn't sort; GET without '*' finds nothing.
        let r = reply(
            &mut srv,
            &mut c,
            &["SORT_RO", "s", "BY", "nosort", "GET", "k"],
        );
        assert_eq!(r, "*3\r\n$-1\r\n$-1\r\n$-1\r\n");
    }

    #[test]
    fn scores_parse_like_strtod() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b" 1"), Some(1.0));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
        assert_eq!(sort_score(b"1\0junk"), Some(1.0));
        assert_eq!(sort_score(b"1x"), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"1e999"), None);
    }
}
