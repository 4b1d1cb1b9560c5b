//! Deterministic fuzz loops over everything that parses untrusted bytes into values: DUMP
//! payloads through RESTORE, whole snapshots through the loader and the checker, and the
//! compact-blob validators (listpack, intset, ziplist, zipmap). They run under plain
//! `cargo test` (no nightly, no cargo-fuzz) so CI exercises them on every change: each loop
//! starts from real, valid inputs, mutates them with a seeded generator (bit flips, byte
//! overwrites, insertions, deletions, truncations, splices) and checks that nothing panics,
//! and that whatever is accepted is internally consistent. A failure prints the input, which
//! becomes a regular test. The RESP request parser has its own loop beside it in
//! `resp/request.rs`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::decode::Reader;
use super::object::{self, LoadOptions};
use super::*;
use crate::client::Client;
use crate::commands::test_support;
use crate::server::Server;
use crate::types::listpack::Listpack;
use crate::types::set::IntSet;

/// Longer or different runs without editing the tests: `FERRODIS_FUZZ_SCALE` multiplies
/// every loop's iterations, `FERRODIS_FUZZ_SEED` shifts every seed. Both default to the
/// deterministic CI run (scale 1, seed offset 0).
pub(crate) fn scale() -> usize {
    std::env::var("FERRODIS_FUZZ_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// The seeded generator of one loop.
pub(crate) fn rng(seed: u64) -> SmallRng {
    let shift = std::env::var("FERRODIS_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    SmallRng::seed_from_u64(seed.wrapping_add(shift))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{:02x}", x)).collect()
}

/// One to three random edits of `input` (bytes from `donor` may be spliced in).
pub(crate) fn mutate(rng: &mut SmallRng, input: &[u8], donor: &[u8]) -> Vec<u8> {
    const INTERESTING: [u8; 9] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x40, 0xc0, 0xf0];
    let mut v = input.to_vec();
    for _ in 0..rng.gen_range(1..=3) {
        let len = v.len();
        match rng.gen_range(0..8) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] = rng.gen();
            }
            2 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] = INTERESTING[rng.gen_range(0..INTERESTING.len())];
            }
            3 => {
                let i = rng.gen_range(0..=len);
                let n = rng.gen_range(1..=4);
                let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                v.splice(i..i, bytes);
            }
            4 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=4.min(len - i));
                v.drain(i..i + n);
            }
            5 => v.truncate(rng.gen_range(0..=len)),
            6 if !donor.is_empty() && len > 0 => {
                // Overwrite a span with bytes of another valid input (structurally plausible
                // garbage: real headers and lengths in the wrong place).
                let from = rng.gen_range(0..donor.len());
                let n = rng.gen_range(1..=16.min(donor.len() - from));
                let at = rng.gen_range(0..len);
                let end = (at + n).min(len);
                v.splice(at..end, donor[from..from + n].iter().copied());
            }
            7 if len >= 2 => {
                // A little-endian 16- or 32-bit field set to an edge value.
                let i = rng.gen_range(0..len - 1);
                let val: u32 = [0, 1, 0xffff, 0x7fff_ffff, 0xffff_ffff][rng.gen_range(0..5)];
                for (k, b) in val.to_le_bytes().iter().enumerate().take(len - i) {
                    v[i + k] = *b;
                }
            }
            _ => {}
        }
    }
    v
}

/// Runs a command with binary arguments on the harness server; the raw reply.
fn call(srv: &mut Server, c: &mut Client, args: &[&[u8]]) -> Vec<u8> {
    c.argv = args.iter().map(|a| a.to_vec()).collect();
    let id = srv
        .commands
        .lookup(&c.argv)
        .unwrap_or_else(|| panic!("command {:?} implemented", String::from_utf8_lossy(args[0])));
    srv.call(c, id);
    srv.prop.flush();
    c.out.take_all()
}

fn cmd(srv: &mut Server, c: &mut Client, args: &[&str]) -> Vec<u8> {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    call(srv, c, &a)
}

/// A server holding one value of every type and encoding (small and big forms, compressed
/// and plain list nodes, streams with deletions, groups, consumers and pending entries).
fn seeded_server() -> (Server, Client) {
    let (mut srv, mut c) = test_support::setup();
    srv.config.enable_debug_command = 1;
    for (k, v) in [
        ("list-max-listpack-size", "4"),
        ("list-compress-depth", "1"),
        ("stream-node-max-entries", "5"),
    ] {
        cmd(&mut srv, &mut c, &["CONFIG", "SET", k, v]);
    }
    let long = "x".repeat(100);
    let comp = "ab".repeat(200);
    cmd(&mut srv, &mut c, &["SET", "s_int", "12345"]);
    cmd(&mut srv, &mut c, &["SET", "s_emb", "hello"]);
    cmd(&mut srv, &mut c, &["SET", "s_raw", &long]);
    cmd(&mut srv, &mut c, &["SET", "s_lzf", &comp]);
    cmd(&mut srv, &mut c, &["RPUSH", "l_small", "1", "2", "a", "-7"]);
    cmd(&mut srv, &mut c, &["RPUSH", "l_single", "only"]);
    for i in 0..40 {
        let v = if i % 3 == 0 {
            i.to_string()
        } else {
            format!("{}{}", comp, i)
        };
        cmd(&mut srv, &mut c, &["RPUSH", "l_big", &v]);
    }
    // A plain node: an element above the packed threshold.
    cmd(
        &mut srv,
        &mut c,
        &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "200"],
    );
    cmd(
        &mut srv,
        &mut c,
        &["RPUSH", "l_plain", "a", &"p".repeat(300), "b"],
    );
    cmd(
        &mut srv,
        &mut c,
        &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1073741824"],
    );
    cmd(
        &mut srv,
        &mut c,
        &["HSET", "h_lp", "f1", "v1", "n", "12", "e", ""],
    );
    for i in 0..150 {
        cmd(
            &mut srv,
            &mut c,
            &["HSET", "h_ht", &format!("f{i}"), &i.to_string()],
        );
    }
    cmd(
        &mut srv,
        &mut c,
        &["SADD", "set_int", "1", "2", "-5", "100000", "9999999999"],
    );
    cmd(&mut srv, &mut c, &["SADD", "set_ht", "a", "b", "1", ""]);
    cmd(
        &mut srv,
        &mut c,
        &["ZADD", "z_lp", "1", "a", "2.5", "b", "-3", "c"],
    );
    for i in 0..150 {
        cmd(
            &mut srv,
            &mut c,
            &["ZADD", "z_sl", &format!("{i}.5"), &format!("m{i}")],
        );
    }
    for i in 1..=12 {
        let fields: Vec<String> = if i % 4 == 0 {
            vec!["other".into(), i.to_string(), "x".into(), "y".into()]
        } else {
            vec!["f".into(), i.to_string()]
        };
        let mut args = vec!["XADD".to_string(), "st".into(), format!("{i}-1")];
        args.extend(fields);
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        cmd(&mut srv, &mut c, &a);
    }
    cmd(&mut srv, &mut c, &["XDEL", "st", "3-1"]);
    cmd(&mut srv, &mut c, &["XGROUP", "CREATE", "st", "g1", "0"]);
    cmd(&mut srv, &mut c, &["XGROUP", "CREATE", "st", "g2", "$"]);
    cmd(
        &mut srv,
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "alice",
            "COUNT",
            "4",
            "STREAMS",
            "st",
            ">",
        ],
    );
    cmd(
        &mut srv,
        &mut c,
        &["XGROUP", "CREATECONSUMER", "st", "g1", "bob"],
    );
    cmd(&mut srv, &mut c, &["XACK", "st", "g1", "2-1"]);
    cmd(&mut srv, &mut c, &["XADD", "st_small", "5-5", "a", "1"]);
    (srv, c)
}

/// DUMP payloads (without their footer) of everything in the seeded server, plus payloads
/// of the older encodings Redis 7.0 still loads.
fn seed_payloads(srv: &mut Server, c: &mut Client) -> Vec<(String, Vec<u8>)> {
    let mut keys: Vec<Vec<u8>> = srv.dbs[0].dict.iter().map(|(k, _)| k.to_vec()).collect();
    keys.sort();
    let mut out = Vec::new();
    for k in keys {
        let p = call(srv, c, &[b"DUMP", &k]);
        // A bulk reply: "$<len>\r\n<payload>\r\n".
        let start = p.iter().position(|&b| b == b'\n').unwrap() + 1;
        let payload = &p[start..p.len() - 2];
        out.push((
            String::from_utf8_lossy(&k).into_owned(),
            payload[..payload.len() - 10].to_vec(),
        ));
    }
    let build = |f: &dyn Fn(&mut encode::Writer<Vec<u8>>) -> std::io::Result<()>| {
        let mut w = encode::Writer::new(Vec::new(), false, false);
        f(&mut w).unwrap();
        w.into_inner()
    };
    let zl = ziplist::build(&[b"a", b"1", b"bb", b"-300", b"c", b"70000"]);
    for t in [
        types::LIST_ZIPLIST,
        types::HASH_ZIPLIST,
        types::ZSET_ZIPLIST,
    ] {
        out.push((
            format!("old-{t}"),
            build(&|w| {
                w.byte(t)?;
                w.string(&zl)
            }),
        ));
    }
    out.push((
        "old-quicklist".into(),
        build(&|w| {
            w.byte(types::LIST_QUICKLIST)?;
            w.len(2)?;
            w.string(&zl)?;
            w.string(&ziplist::build(&[b"tail"]))
        }),
    ));
    let zm = [2u8, 1, b'a', 1, 1, b'1', 0, 2, b'b', b'b', 0, 0, 0xFF];
    out.push((
        "old-zipmap".into(),
        build(&|w| {
            w.byte(types::HASH_ZIPMAP)?;
            w.string(&zm)
        }),
    ));
    out.push((
        "old-zset".into(),
        build(&|w| {
            w.byte(types::ZSET)?;
            w.len(2)?;
            for (m, s) in [(&b"m1"[..], &b"1.5"[..]), (b"m2", b"inf")] {
                w.string(m)?;
                w.byte(s.len() as u8)?;
                w.raw(s)?;
            }
            Ok(())
        }),
    ));
    for t in [types::LIST, types::SET] {
        out.push((
            format!("old-{t}"),
            build(&|w| {
                w.byte(t)?;
                w.len(3)?;
                for m in [&b"1"[..], b"x", b"-2"] {
                    w.string(m)?;
                }
                Ok(())
            }),
        ));
    }
    out
}

fn footer(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::update(0, &p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// The read commands of each type (key `k`), and a few writes after them: a RESTOREd value
/// must survive all of them.
fn commands_for(kind: &[u8]) -> Vec<Vec<&'static str>> {
    let v: &[&[&str]] = match kind {
        b"string" => &[
            &["GET", "k"],
            &["STRLEN", "k"],
            &["GETRANGE", "k", "0", "-1"],
            &["GETRANGE", "k", "-5", "3"],
            &["GETBIT", "k", "7"],
            &["BITCOUNT", "k"],
            &["BITPOS", "k", "1"],
            &["BITFIELD_RO", "k", "GET", "u8", "0"],
            &["LCS", "k", "k"],
            &["MGET", "k", "k"],
            &["APPEND", "k", "z"],
            &["INCR", "k"],
        ],
        b"list" => &[
            &["LLEN", "k"],
            &["LRANGE", "k", "0", "-1"],
            &["LRANGE", "k", "-3", "-1"],
            &["LINDEX", "k", "0"],
            &["LINDEX", "k", "-1"],
            &["LINDEX", "k", "2"],
            &["LPOS", "k", "a"],
            &["LPOS", "k", "1", "RANK", "-1", "COUNT", "0"],
            &["SORT", "k", "ALPHA", "LIMIT", "0", "5"],
            &["SORT_RO", "k", "ALPHA"],
            &["LSET", "k", "1", "new"],
            &["LINSERT", "k", "BEFORE", "a", "ins"],
            &["LTRIM", "k", "1", "-2"],
            &["RPOP", "k"],
            &["LPOP", "k", "2"],
            &["LRANGE", "k", "0", "-1"],
        ],
        b"hash" => &[
            &["HGETALL", "k"],
            &["HKEYS", "k"],
            &["HVALS", "k"],
            &["HLEN", "k"],
            &["HGET", "k", "f1"],
            &["HMGET", "k", "f1", "a", "n"],
            &["HEXISTS", "k", "e"],
            &["HSTRLEN", "k", "n"],
            &["HRANDFIELD", "k", "3"],
            &["HRANDFIELD", "k", "-5", "WITHVALUES"],
            &["HSCAN", "k", "0", "COUNT", "1000"],
            &["HSET", "k", "new", "1"],
            &["HINCRBY", "k", "n", "1"],
            &["HDEL", "k", "f1"],
            &["HGETALL", "k"],
        ],
        b"set" => &[
            &["SMEMBERS", "k"],
            &["SCARD", "k"],
            &["SISMEMBER", "k", "1"],
            &["SMISMEMBER", "k", "1", "a"],
            &["SRANDMEMBER", "k", "-5"],
            &["SRANDMEMBER", "k", "5"],
            &["SSCAN", "k", "0", "COUNT", "1000"],
            &["SINTER", "k", "k"],
            &["SUNION", "k"],
            &["SDIFF", "k", "nokey"],
            &["SINTERCARD", "1", "k"],
            &["SORT", "k", "ALPHA"],
            &["SADD", "k", "2", "zz"],
            &["SPOP", "k"],
            &["SMEMBERS", "k"],
        ],
        b"zset" => &[
            &["ZRANGE", "k", "0", "-1", "WITHSCORES"],
            &[
                "ZRANGE", "k", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "0", "3",
            ],
            &["ZRANGEBYSCORE", "k", "-inf", "+inf"],
            &["ZREVRANGEBYSCORE", "k", "+inf", "-inf", "WITHSCORES"],
            &["ZRANGEBYLEX", "k", "-", "+"],
            &["ZREVRANGEBYLEX", "k", "+", "-"],
            &["ZCOUNT", "k", "-inf", "+inf"],
            &["ZLEXCOUNT", "k", "-", "+"],
            &["ZSCORE", "k", "a"],
            &["ZMSCORE", "k", "a", "m1"],
            &["ZRANK", "k", "a"],
            &["ZREVRANK", "k", "m3"],
            &["ZCARD", "k"],
            &["ZRANDMEMBER", "k", "-5", "WITHSCORES"],
            &["ZSCAN", "k", "0", "COUNT", "1000"],
            &["ZUNION", "1", "k", "WITHSCORES"],
            &["ZINTER", "2", "k", "k"],
            &["ZDIFF", "1", "k"],
            &["ZADD", "k", "7", "new"],
            &["ZINCRBY", "k", "1", "a"],
            &["ZPOPMIN", "k"],
            &["ZREMRANGEBYRANK", "k", "0", "0"],
            &["ZRANGE", "k", "0", "-1"],
        ],
        b"stream" => &[
            &["XLEN", "k"],
            &["XRANGE", "k", "-", "+"],
            &["XREVRANGE", "k", "+", "-"],
            &["XRANGE", "k", "-", "+", "COUNT", "2"],
            &["XREVRANGE", "k", "+", "-", "COUNT", "2"],
            &["XREAD", "COUNT", "10", "STREAMS", "k", "0"],
            &["XINFO", "STREAM", "k"],
            &["XINFO", "STREAM", "k", "FULL"],
            &["XINFO", "GROUPS", "k"],
            &["XINFO", "CONSUMERS", "k", "g1"],
            &["XPENDING", "k", "g1"],
            &["XPENDING", "k", "g1", "-", "+", "10"],
            &["XADD", "k", "*", "a", "1"],
            &["XREADGROUP", "GROUP", "g1", "carol", "STREAMS", "k", ">"],
            &["XAUTOCLAIM", "k", "g1", "dave", "0", "0"],
            &["XTRIM", "k", "MAXLEN", "2"],
            &["XDEL", "k", "1-1"],
            &["XRANGE", "k", "-", "+"],
        ],
        _ => &[],
    };
    let mut all: Vec<Vec<&str>> = vec![
        vec!["TYPE", "k"],
        vec!["OBJECT", "ENCODING", "k"],
        vec!["DEBUG", "DIGEST-VALUE", "k"],
        vec!["DEBUG", "OBJECT", "k"],
        vec!["MEMORY", "USAGE", "k"],
        vec!["DUMP", "k"],
        vec!["COPY", "k", "kcopy", "REPLACE"],
    ];
    all.extend(v.iter().map(|c| c.to_vec()));
    all
}

/// The type name a TYPE reply carries ("+list\r\n" -> "list").
fn type_of(srv: &mut Server, c: &mut Client, key: &[u8]) -> Vec<u8> {
    let r = call(srv, c, &[b"TYPE", key]);
    r[1..r.len() - 2].to_vec()
}

fn bulk(r: &[u8]) -> Vec<u8> {
    let start = r.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    r[start..r.len().saturating_sub(2).max(start)].to_vec()
}

/// What a sanitized RESTORE accepted must be consistent: its DUMP restores again, to a
/// value of the same type, encoding and digest (the digest ignores the order hash tables
/// happen to iter in, which the bytes of a DUMP don't).
fn check_consistent(srv: &mut Server, c: &mut Client) {
    let d1 = bulk(&call(srv, c, &[b"DUMP", b"k"]));
    let r = call(srv, c, &[b"RESTORE", b"k2", b"0", &d1, b"REPLACE"]);
    assert_eq!(r, b"+OK\r\n", "re-RESTORE of a re-DUMP failed");
    for probe in [
        &[&b"DEBUG"[..], b"DIGEST-VALUE"][..],
        &[b"OBJECT", b"ENCODING"],
    ] {
        let a = call(srv, c, &[probe[0], probe[1], b"k"]);
        let b = call(srv, c, &[probe[0], probe[1], b"k2"]);
        assert_eq!(
            a,
            b,
            "{:?} changed across DUMP/RESTORE",
            String::from_utf8_lossy(probe[1])
        );
    }
}

/// RESTOREs a payload under both sanitization modes; whatever is accepted must survive
/// every read command of its type (and a few writes), and when sanitized be consistent.
/// Returns how many times it was accepted.
fn restore_and_exercise(srv: &mut Server, c: &mut Client, payload: &[u8]) -> usize {
    let mut accepted = 0;
    for sanitize in ["yes", "no"] {
        cmd(
            srv,
            c,
            &["CONFIG", "SET", "sanitize-dump-payload", sanitize],
        );
        let res = catch_unwind(AssertUnwindSafe(|| {
            let r = call(srv, c, &[b"RESTORE", b"k", b"0", payload, b"REPLACE"]);
            if r != b"+OK\r\n" {
                assert!(
                    r.starts_with(b"-ERR Bad data format") || r.starts_with(b"-ERR DUMP payload"),
                    "unexpected RESTORE reply {:?}",
                    String::from_utf8_lossy(&r)
                );
                return 0;
            }
            if sanitize == "yes" {
                check_consistent(srv, c);
            }
            let kind = type_of(srv, c, b"k");
            for args in commands_for(&kind) {
                cmd(srv, c, &args);
            }
            1
        }));
        match res {
            Ok(n) => accepted += n,
            Err(_) => panic!(
                "panic with sanitize-dump-payload {sanitize} on payload {}",
                hex(payload)
            ),
        }
        cmd(srv, c, &["DEL", "k", "k2", "kcopy"]);
    }
    accepted
}

#[test]
fn every_seed_payload_restores_and_survives_its_commands() {
    let (mut srv, mut c) = seeded_server();
    srv.skip_checksum_validation = false;
    let seeds = seed_payloads(&mut srv, &mut c);
    assert!(seeds.len() >= 20, "{} seeds", seeds.len());
    for (name, body) in &seeds {
        let n = restore_and_exercise(&mut srv, &mut c, &footer(body));
        assert_eq!(n, 2, "seed {name} was refused");
    }
}

#[test]
fn mutated_restore_payloads_never_panic_and_accepted_values_are_consistent() {
    let (mut srv, mut c) = seeded_server();
    let seeds = seed_payloads(&mut srv, &mut c);
    // The footer is rebuilt after mutating, so the checksum never hides a body mutation.
    let mut rng = rng(0x5eed_0001);
    let (mut tried, mut accepted) = (0, 0);
    for round in 0..120 * scale() {
        for (i, (_, body)) in seeds.iter().enumerate() {
            let donor = &seeds[(i + round + 1) % seeds.len()].1;
            let m = mutate(&mut rng, body, donor);
            tried += 1;
            accepted += restore_and_exercise(&mut srv, &mut c, &footer(&m));
        }
    }
    // The loop must reach past the parsers into the commands some of the time.
    assert!(accepted > tried / 20, "only {accepted} of {tried} accepted");
}

#[test]
fn mutated_values_load_or_fail_cleanly_in_both_modes() {
    // The loader alone, many more iterations than the command-level loop: both
    // sanitization modes, and a value accepted by the deep check must save back to a
    // payload that loads to an equal value (same digest and encoding).
    let (mut srv, mut c) = seeded_server();
    let seeds = seed_payloads(&mut srv, &mut c);
    let mut rng = rng(0x5eed_0002);
    let mut opts = LoadOptions::from_config(&srv.config, true);
    for round in 0..1500 * scale() {
        for (i, (_, body)) in seeds.iter().enumerate() {
            let donor = &seeds[(i + round + 1) % seeds.len()].1;
            let m = mutate(&mut rng, body, donor);
            for deep in [true, false] {
                opts.deep_sanitize = deep;
                let res = catch_unwind(AssertUnwindSafe(|| {
                    let mut r = Reader::new(&m);
                    let t = r.byte().ok()?;
                    object::load_value(&mut r, t, &opts).ok()
                }));
                let Ok(v) = res else {
                    panic!("loader panicked (deep {deep}) on {}", hex(&m));
                };
                if let (Some(v), true) = (v, deep) {
                    let mut w = encode::Writer::new(Vec::new(), false, true);
                    w.byte(object::save_type(&v)).unwrap();
                    object::save_value(&mut w, &v).unwrap();
                    let saved = w.into_inner();
                    let mut r = Reader::new(&saved);
                    let t = r.byte().unwrap();
                    let again = object::load_value(&mut r, t, &opts)
                        .unwrap_or_else(|e| panic!("{e}: saved form of {} reloads", hex(&m)));
                    assert_eq!(r.remaining(), 0);
                    assert_eq!(
                        crate::commands::debug::value_digest(&v),
                        crate::commands::debug::value_digest(&again),
                        "from {}",
                        hex(&m)
                    );
                    assert_eq!(v.encoding_name(), again.encoding_name());
                }
            }
        }
    }
}

#[test]
fn mutated_snapshots_never_panic_the_loader_or_the_checker() {
    // The loader logs what it refuses; keep that out of the test output.
    crate::server::log::configure(crate::server::log::WARNING, "/dev/null");
    let (srv, _c) = seeded_server();
    let file = file::save(&srv, Vec::new(), &mut |_| {}).unwrap();
    let opts = LoadOptions::from_config(&srv.config, true);
    let mut rng = rng(0x5eed_0003);
    let mut target = crate::commands::test_support::test_server();
    // The unmutated file loads whole.
    let stats = file::load(&mut target, &file, false, &mut |_, _| {}).unwrap();
    assert_eq!(stats.loaded as usize, srv.dbs[0].len());
    assert!(check::check("f", &file, &opts, true).0);
    // Mutations: the checksum is turned off (zeroed) half of the time so the body is parsed.
    for i in 0..400 * scale() {
        let mut m = mutate(&mut rng, &file, &file);
        if i % 2 == 0 && m.len() >= 8 {
            let n = m.len();
            m[n - 8..].fill(0);
        }
        for deep in [true, false] {
            let res = catch_unwind(AssertUnwindSafe(|| {
                let mut t = crate::commands::test_support::test_server();
                if deep {
                    t.config.other.insert("sanitize-dump-payload", "yes".into());
                }
                let loaded = file::load(&mut t, &m, false, &mut |_, _| {});
                let o = LoadOptions {
                    deep_sanitize: deep,
                    ..opts.clone()
                };
                let (ok, report) = check::check("f", &m, &o, true);
                // What the checker finds broken the loader refuses too (the loader checks
                // more: duplicate keys, database numbers, so not the other way round).
                assert!(ok || loaded.is_err(), "{report}");
            }));
            if res.is_err() {
                panic!("snapshot loading panicked (deep {deep}) on {}", hex(&m));
            }
        }
    }
    drop(target);
}

#[test]
fn mutated_compact_blobs_validate_consistently() {
    let mut rng = rng(0x5eed_0004);
    // Real blobs of each kind.
    let mut lp = Listpack::new();
    for e in [
        &b"a"[..],
        b"12",
        b"-1",
        b"70000",
        &[b'q'; 200],
        b"",
        b"9223372036854775807",
    ] {
        lp.append(e);
    }
    let mut is = IntSet::new();
    for v in [5i64, -3, 70000, 1 << 40] {
        is.insert(v);
    }
    let zl = ziplist::build(&[b"a", b"1", b"bb", b"-300", &[b'z'; 300], b"70000"]);
    let zm = [2u8, 1, b'a', 1, 1, b'1', 0, 2, b'b', b'b', 0, 0, 0xFF];
    let lpb = lp.as_bytes().to_vec();
    let isb = is.as_bytes().to_vec();
    for _ in 0..20000 * scale() {
        let m = mutate(&mut rng, &lpb, &isb);
        for deep in [true, false] {
            if Listpack::validate_integrity(&m, deep) && deep {
                let l = Listpack::from_bytes(m.clone()).expect("validated listpack loads");
                let fwd: Vec<Vec<u8>> = l.iter().map(|e| e.to_vec()).collect();
                assert_eq!(fwd.len(), l.len());
                // Walking back from the last entry meets the same entries.
                let mut back = Vec::new();
                let mut p = l.last();
                while let Some(pos) = p {
                    back.push(l.get(pos).to_vec());
                    p = l.prev(pos);
                }
                back.reverse();
                assert_eq!(fwd, back, "{}", hex(&m));
                for (i, e) in fwd.iter().enumerate() {
                    assert_eq!(&l.get(l.seek(i as i64).unwrap()).to_vec(), e);
                }
            }
        }
        let m = mutate(&mut rng, &isb, &lpb);
        for deep in [true, false] {
            if let Some(s) = IntSet::from_bytes(m.clone(), deep) {
                let vals: Vec<i64> = s.iter().collect();
                assert_eq!(vals.len(), s.len());
                if deep {
                    assert!(vals.windows(2).all(|w| w[0] < w[1]), "{}", hex(&m));
                    assert!(vals.iter().all(|v| s.contains(*v)));
                }
            }
        }
        let m = mutate(&mut rng, &zl, &lpb);
        if let Some(entries) = ziplist::ziplist_entries(&m) {
            let header = u16::from_le_bytes([m[8], m[9]]) as usize;
            assert!(header == u16::MAX as usize || header == entries.len());
            ziplist::to_listpack(&entries);
        }
        let m = mutate(&mut rng, &zm, &zl);
        if let Some(pairs) = ziplist::zipmap_pairs(&m) {
            assert!(!pairs.is_empty());
            let mut seen = std::collections::HashSet::new();
            assert!(pairs.iter().all(|(k, _)| seen.insert(k.clone())));
        }
    }
}

#[test]
fn a_snapshot_fed_in_pieces_loads_as_it_does_whole() {
    // What a diskless replica does with its master's payload: feed what arrived, keep what
    // the loader did not take, feed it again with the next piece; `last` only at the end.
    crate::server::log::configure(crate::server::log::WARNING, "/dev/null");
    let (srv, _c) = seeded_server();
    let file = file::save(&srv, Vec::new(), &mut |_| {}).unwrap();
    let mut whole = crate::commands::test_support::test_server();
    let expected = file::load(&mut whole, &file, false, &mut |_, _| {}).unwrap();
    let want = crate::commands::debug::dataset_digest(&whole);
    let mut rng = rng(0x5eed_0004);
    for round in 0..20 {
        let mut t = crate::commands::test_support::test_server();
        let mut loader = file::Loader::new(&t, false, false);
        let (mut pending, mut at, mut feeds) = (Vec::new(), 0, 0);
        let done = loop {
            let piece = if round == 0 {
                1
            } else {
                rng.gen_range(1..file.len() / 4)
            };
            let end = (at + piece).min(file.len());
            pending.extend_from_slice(&file[at..end]);
            at = end;
            let last = at == file.len();
            let fed = loader
                .feed(&mut t, &pending, last, &mut |_, _| true)
                .unwrap();
            feeds += 1;
            pending.drain(..fed.consumed);
            if fed.done || last {
                break fed.done;
            }
        };
        assert!(done && pending.is_empty(), "round {round}");
        assert!(feeds > 1);
        assert_eq!(loader.stats.loaded, expected.loaded);
        assert_eq!(
            crate::commands::debug::dataset_digest(&t),
            want,
            "round {round}"
        );
    }
    // A payload cut short fails once it is known to be the end, not before.
    let mut t = crate::commands::test_support::test_server();
    let mut loader = file::Loader::new(&t, false, false);
    let cut = &file[..file.len() / 2];
    let fed = loader.feed(&mut t, cut, false, &mut |_, _| true).unwrap();
    assert!(!fed.done);
    assert!(loader
        .feed(&mut t, &cut[fed.consumed..], true, &mut |_, _| true)
        .is_err());
}
