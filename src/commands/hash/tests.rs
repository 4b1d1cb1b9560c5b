//! Hash commands through the command path: replies, encodings, propagation.

use crate::commands::test_support::{encoding, run, setup};

fn reply(r: &(Vec<u8>, Vec<Vec<String>>)) -> String {
    String::from_utf8_lossy(&r.0).into_owned()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn hset_and_hmset_replies_arity_and_propagation() {
    let (mut srv, mut c) = setup();
    let r = run(&mut srv, &mut c, &["HSET", "h", "a", "1", "b", "2"]);
    assert_eq!(reply(&r), ":2\r\n");
    assert_eq!(r.1, vec![strs(&["HSET", "h", "a", "1", "b", "2"])]);
    let r = run(&mut srv, &mut c, &["HSET", "h", "a", "3", "c", "4"]);
    assert_eq!(reply(&r), ":1\r\n");
    let r = run(&mut srv, &mut c, &["HMSET", "h", "a", "5"]);
    assert_eq!(reply(&r), "+OK\r\n");
    let r = run(&mut srv, &mut c, &["HMSET", "h", "a", "5", "b"]);
    assert_eq!(
        reply(&r),
        "-ERR wrong number of arguments for 'hmset' command\r\n"
    );
    assert!(r.1.is_empty());
    let r = run(&mut srv, &mut c, &["HSET", "h", "a", "5", "b"]);
    assert_eq!(
        reply(&r),
        "-ERR wrong number of arguments for 'hset' command\r\n"
    );
    let r = run(&mut srv, &mut c, &["HGETALL", "h"]);
    assert_eq!(
        reply(&r),
        "*6\r\n$1\r\na\r\n$1\r\n5\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n4\r\n"
    );
}

#[test]
fn encoding_follows_both_limits_and_never_goes_back() {
    let (mut srv, mut c) = setup();
    srv.config.hash_max_listpack_entries = 2;
    srv.config.hash_max_listpack_value = 4;
    run(&mut srv, &mut c, &["HSET", "h", "a", "1", "b", "1234"]);
    assert_eq!(encoding(&srv, "h"), "listpack");
    run(&mut srv, &mut c, &["HSET", "h", "c", "1"]);
    assert_eq!(encoding(&srv, "h"), "hashtable");
    run(&mut srv, &mut c, &["HDEL", "h", "a", "b"]);
    assert_eq!(encoding(&srv, "h"), "hashtable");
    // A long value converts, whether it arrives by HSET or as an HINCRBYFLOAT result.
    run(&mut srv, &mut c, &["HSET", "v", "a", "12345"]);
    assert_eq!(encoding(&srv, "v"), "hashtable");
    run(&mut srv, &mut c, &["HINCRBYFLOAT", "w", "a", "1.5"]);
    assert_eq!(encoding(&srv, "w"), "listpack");
    run(&mut srv, &mut c, &["HINCRBYFLOAT", "w", "a", "0.125"]);
    assert_eq!(encoding(&srv, "w"), "hashtable");
    let r = run(&mut srv, &mut c, &["HGET", "w", "a"]);
    assert_eq!(reply(&r), "$5\r\n1.625\r\n");
}

#[test]
fn hincrbyfloat_propagates_hset_with_the_result() {
    let (mut srv, mut c) = setup();
    let r = run(&mut srv, &mut c, &["HINCRBYFLOAT", "h", "f", "10.5"]);
    assert_eq!(reply(&r), "$4\r\n10.5\r\n");
    assert_eq!(r.1, vec![strs(&["HSET", "h", "f", "10.5"])]);
    let r = run(&mut srv, &mut c, &["HINCRBYFLOAT", "h", "f", "0.1"]);
    assert_eq!(reply(&r), "$4\r\n10.6\r\n");
    assert_eq!(r.1, vec![strs(&["HSET", "h", "f", "10.6"])]);
    // Errors: the increment is checked before the stored value.
    let r = run(&mut srv, &mut c, &["HINCRBYFLOAT", "h", "f", "x"]);
    assert_eq!(reply(&r), "-ERR value is not a valid float\r\n");
    let r = run(&mut srv, &mut c, &["HINCRBYFLOAT", "h", "f", "+inf"]);
    assert_eq!(reply(&r), "-ERR value is NaN or Infinity\r\n");
    run(&mut srv, &mut c, &["HSET", "h", "s", "abc"]);
    let r = run(&mut srv, &mut c, &["HINCRBYFLOAT", "h", "s", "1"]);
    assert_eq!(reply(&r), "-ERR hash value is not a float\r\n");
    assert!(r.1.is_empty());
    // Missing key, failed command: nothing created.
    let r = run(&mut srv, &mut c, &["HINCRBYFLOAT", "nokey", "f", "inf"]);
    assert!(reply(&r).starts_with("-ERR"));
    assert!(srv.dbs[0].dict.get(&b"nokey"[..]).is_none());
}

#[test]
fn hincrby_errors_and_overflow() {
    let (mut srv, mut c) = setup();
    let r = run(&mut srv, &mut c, &["HINCRBY", "h", "n", "5"]);
    assert_eq!(reply(&r), ":5\r\n");
    assert_eq!(r.1, vec![strs(&["HINCRBY", "h", "n", "5"])]);
    let r = run(
        &mut srv,
        &mut c,
        &["HINCRBY", "h", "n", "9223372036854775807"],
    );
    assert_eq!(reply(&r), "-ERR increment or decrement would overflow\r\n");
    run(&mut srv, &mut c, &["HSET", "h", "s", " 1"]);
    let r = run(&mut srv, &mut c, &["HINCRBY", "h", "s", "1"]);
    assert_eq!(reply(&r), "-ERR hash value is not an integer\r\n");
    let r = run(&mut srv, &mut c, &["HINCRBY", "h", "n", "1.5"]);
    assert_eq!(
        reply(&r),
        "-ERR value is not an integer or out of range\r\n"
    );
}

#[test]
fn hdel_of_the_last_field_deletes_the_key() {
    let (mut srv, mut c) = setup();
    run(&mut srv, &mut c, &["HSET", "h", "a", "1", "b", "2"]);
    let r = run(&mut srv, &mut c, &["HDEL", "h", "a", "zz", "b", "a"]);
    assert_eq!(reply(&r), ":2\r\n");
    assert!(srv.dbs[0].dict.get(&b"h"[..]).is_none());
    let r = run(&mut srv, &mut c, &["HDEL", "h", "a"]);
    assert_eq!(reply(&r), ":0\r\n");
    assert!(r.1.is_empty());
}

#[test]
fn wrong_type_everywhere() {
    let (mut srv, mut c) = setup();
    run(&mut srv, &mut c, &["SET", "s", "x"]);
    for cmd in [
        &["HSET", "s", "a", "1"][..],
        &["HSETNX", "s", "a", "1"],
        &["HGET", "s", "a"],
        &["HMGET", "s", "a"],
        &["HDEL", "s", "a"],
        &["HLEN", "s"],
        &["HGETALL", "s"],
        &["HINCRBY", "s", "a", "1"],
        &["HINCRBYFLOAT", "s", "a", "1"],
        &["HRANDFIELD", "s"],
        &["HRANDFIELD", "s", "2"],
        &["HSCAN", "s", "0"],
    ] {
        let r = run(&mut srv, &mut c, cmd);
        assert!(reply(&r).starts_with("-WRONGTYPE"), "{cmd:?}");
    }
    let r = run(&mut srv, &mut c, &["GET", "s"]);
    assert_eq!(reply(&r), "$1\r\nx\r\n");
}

#[test]
fn hrandfield_shapes_in_resp2_and_resp3() {
    let (mut srv, mut c) = setup();
    run(&mut srv, &mut c, &["HSET", "h", "a", "1"]);
    let r = run(&mut srv, &mut c, &["HRANDFIELD", "h", "-2", "WITHVALUES"]);
    assert_eq!(
        reply(&r),
        "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    c.out.resp = 3;
    let r = run(&mut srv, &mut c, &["HRANDFIELD", "h", "1", "WITHVALUES"]);
    assert_eq!(reply(&r), "*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    let r = run(&mut srv, &mut c, &["HRANDFIELD", "h", "5"]);
    assert_eq!(reply(&r), "*1\r\n$1\r\na\r\n");
    let r = run(&mut srv, &mut c, &["HGETALL", "nokey"]);
    assert_eq!(reply(&r), "%0\r\n");
    let r = run(&mut srv, &mut c, &["HRANDFIELD", "nokey"]);
    assert_eq!(reply(&r), "_\r\n");
    let r = run(&mut srv, &mut c, &["HRANDFIELD", "h", "1", "WITHVALUE"]);
    assert_eq!(reply(&r), "-ERR syntax error\r\n");
    let r = run(
        &mut srv,
        &mut c,
        &["HRANDFIELD", "h", "-9223372036854770000", "WITHVALUES"],
    );
    assert_eq!(reply(&r), "-ERR value is out of range\r\n");
}

#[test]
fn hscan_listpack_whole_and_hashtable_by_cursor() {
    let (mut srv, mut c) = setup();
    run(&mut srv, &mut c, &["HSET", "h", "foo", "1", "bar", "2"]);
    let r = run(&mut srv, &mut c, &["HSCAN", "h", "123", "MATCH", "f*"]);
    assert_eq!(reply(&r), "*2\r\n$1\r\n0\r\n*2\r\n$3\r\nfoo\r\n$1\r\n1\r\n");
    srv.config.hash_max_listpack_entries = 4;
    let mut args = vec!["HSET".to_string(), "big".into()];
    for i in 0..100 {
        args.push(format!("f{i}"));
        args.push(format!("{i}"));
    }
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    run(&mut srv, &mut c, &args);
    assert_eq!(encoding(&srv, "big"), "hashtable");
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let r = run(&mut srv, &mut c, &["HSCAN", "big", &cursor, "COUNT", "7"]);
        let text = reply(&r);
        let lines: Vec<&str> = text.split("\r\n").collect();
        cursor = lines[2].to_string();
        // Pairs: field then its value.
        let items: Vec<&str> = lines[5..].iter().step_by(2).copied().collect();
        for pair in items.chunks(2).filter(|p| p.len() == 2 && !p[0].is_empty()) {
            assert_eq!(pair[0], format!("f{}", pair[1]));
            seen.insert(pair[0].to_string());
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 100);
}
