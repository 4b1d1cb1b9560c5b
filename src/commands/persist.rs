//! Commands of persistence: SAVE, BGSAVE [SCHEDULE], BGREWRITEAOF, DUMP and RESTORE. The file
//! formats and the children live in `crate::rdb` and `crate::aof`; this is the command surface
//! with Redis 7.0's replies.

use crate::client::{flags as cflags, Client};
use crate::commands::{errors, CmdProc};
use crate::config::table::notify;
use crate::rdb::decode::Reader;
use crate::rdb::encode::Writer;
use crate::rdb::{crc64, object, types, RDB_VERSION};
use crate::server::Server;
use crate::types::Obj;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "save" => save_command,
        "bgsave" => bgsave_command,
        "bgrewriteaof" => bgrewriteaof_command,
        "dump" => dump_command,
        "restore" => restore_command,
        "restore-asking" => restore_command,
        _ => return None,
    })
}

fn save_command(srv: &mut Server, c: &mut Client) {
    if srv.rdb_child_active() {
        c.out.error("Background save already in progress");
        return;
    }
    srv.persist.rdb_saves += 1;
    if srv.rdb_save() {
        c.out.ok();
    } else {
        c.out.error("-ERR");
    }
}

fn bgsave_command(srv: &mut Server, c: &mut Client) {
    // SCHEDULE: while another kind of child (an AOF rewrite) runs, wait for it.
    let schedule = c.argv.len() == 2 && c.argv[1].eq_ignore_ascii_case(b"schedule");
    if c.argv.len() > 1 && !schedule {
        c.out.error(errors::SYNTAX);
        return;
    }
    // Inside EXEC a fork would snapshot a half-applied transaction: it waits for the cron.
    let in_exec = c.has(cflags::MULTI);
    if srv.rdb_child_active() {
        c.out.error("Background save already in progress");
    } else if srv.fork_child_active() || in_exec {
        if schedule || in_exec {
            srv.persist.bgsave_scheduled = true;
            c.out.status("Background saving scheduled");
        } else {
            c.out.error("Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.");
        }
    } else if srv.rdb_save_background() {
        c.out.status("Background saving started");
    } else {
        c.out.error("-ERR");
    }
}

fn bgrewriteaof_command(srv: &mut Server, c: &mut Client) {
    if srv.aof.child_active {
        c.out
            .error("Background append only file rewriting already in progress");
    } else if srv.fork_child_active() || c.has(cflags::MULTI) {
        srv.aof.rewrite_scheduled = true;
        // Asked for by hand: the back-off after failures doesn't apply.
        srv.aof.consecutive_failures = 0;
        c.out
            .status("Background append only file rewriting scheduled");
    } else if srv.aof_rewrite_background().is_ok() {
        c.out
            .status("Background append only file rewriting started");
    } else {
        c.out.error("Can't execute an AOF background rewriting. Please check the server logs for more information.");
    }
}

/// The DUMP payload of a value: type, body, RDB version (2 bytes LE) and the CRC-64 of all
/// that (8 bytes LE). Strings are LZF-compressed per `rdbcompression`, as in files.
pub fn dump_payload(v: &crate::types::Value, compression: bool) -> Vec<u8> {
    dump_payload_for(v, compression, None, -1)
}

/// `dump_payload` of a key's value (a module type's rdb_save may ask for the key and db).
pub fn dump_payload_for(
    v: &crate::types::Value,
    compression: bool,
    key: Option<&[u8]>,
    db: i32,
) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), false, compression);
    // Writing to a Vec can't fail (a module's save can: its value is then cut short, and
    // RESTORE will refuse it, as Redis' would).
    let _ = w.byte(object::save_type(v));
    let _ = object::save_value_for(&mut w, v, key, db);
    let mut buf = w.into_inner();
    buf.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::update(0, &buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf
}

fn dump_command(srv: &mut Server, c: &mut Client) {
    let db = c.db;
    let compression = srv.config.rdbcompression;
    let Some(o) = srv.lookup_read(db, &c.argv[1]) else {
        c.out.null();
        return;
    };
    let payload = dump_payload_for(&o.value, compression, Some(&c.argv[1]), db as i32);
    c.out.bulk(&payload);
}

/// Checks the payload's footer: a version this build reads and, unless checksums are being
/// skipped (`DEBUG SET-SKIP-CHECKSUM-VALIDATION`), a matching CRC.
pub(crate) fn verify_payload(p: &[u8], skip_crc: bool) -> bool {
    if p.len() < 10 {
        return false;
    }
    let footer = &p[p.len() - 10..];
    let ver = u16::from_le_bytes([footer[0], footer[1]]);
    if ver > RDB_VERSION {
        return false;
    }
    skip_crc || crc64::update(0, &p[..p.len() - 8]).to_le_bytes() == footer[2..10]
}

fn restore_command(srv: &mut Server, c: &mut Client) {
    let (mut replace, mut absttl) = (false, false);
    let (mut lru_idle, mut lfu_freq) = (None::<i64>, None::<i64>);
    let mut j = 4;
    while j < c.argv.len() {
        let more = c.argv.len() - j - 1;
        let a = &c.argv[j];
        if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if a.eq_ignore_ascii_case(b"absttl") {
            absttl = true;
        } else if a.eq_ignore_ascii_case(b"idletime") && more >= 1 && lfu_freq.is_none() {
            let Some(v) = crate::commands::arg_i64(c, j + 1) else {
                return;
            };
            if v < 0 {
                c.out.error("Invalid IDLETIME value, must be >= 0");
                return;
            }
            lru_idle = Some(v);
            j += 1;
        } else if a.eq_ignore_ascii_case(b"freq") && more >= 1 && lru_idle.is_none() {
            let Some(v) = crate::commands::arg_i64(c, j + 1) else {
                return;
            };
            if !(0..=255).contains(&v) {
                c.out.error("Invalid FREQ value, must be >= 0 and <= 255");
                return;
            }
            lfu_freq = Some(v);
            j += 1;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    let db = c.db;
    let key = c.argv[1].clone();
    if !replace && srv.lookup_write(db, &key).is_some() {
        c.out.error("-BUSYKEY Target key name already exists.");
        return;
    }
    let Some(mut ttl) = crate::commands::arg_i64(c, 2) else {
        return;
    };
    if ttl < 0 {
        c.out.error("Invalid TTL value, must be >= 0");
        return;
    }
    let payload = &c.argv[3];
    if !verify_payload(payload, srv.skip_checksum_validation) {
        c.out.error("DUMP payload version or checksum are wrong");
        return;
    }
    let sanitize = crate::rdb::file::stored_config(&srv.config, "sanitize-dump-payload");
    // `clients` sanitizes what clients send, trusting the master's stream and users with the
    // skip-sanitize-payload ACL flag.
    let trusted = c.has(crate::client::flags::MASTER)
        || srv
            .acl
            .get(c.user)
            .is_some_and(|u| u.flags & crate::acl::uflags::SKIP_SANITIZE != 0);
    let deep = sanitize == "yes" || (sanitize == "clients" && !trusted);
    let opts = object::LoadOptions::from_config(&srv.config, deep);
    let body = &payload[..payload.len() - 10];
    let mut r = Reader::new(body);
    let loaded = r
        .byte()
        .ok()
        .filter(|t| types::is_object_type(*t))
        .and_then(|t| {
            match object::load_value_for(&mut r, t, &opts, Some(&key), db as i32) {
                Ok(v) => Some(v),
                Err(e) => {
                    // Redis logs what was wrong with a rejected payload at verbose level.
                    crate::log_verbose!(
                        "Internal error in RDB reading offset {}, function at rdb.rs -> {}",
                        r.pos(),
                        e
                    );
                    None
                }
            }
        });
    srv.stats.dump_payload_sanitizations += opts.sanitized.get();
    let Some(value) = loaded else {
        c.out.error("Bad data format");
        return;
    };
    let deleted = replace && srv.db_delete(db, &key);
    let now = srv.now_ms();
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(now);
    }
    if ttl != 0 && ttl <= now && !srv.loading {
        // Already expired: nothing is added; a replaced key is gone, which replicas learn as
        // a DEL.
        if deleted {
            c.propagate_argv = Some(vec![b"DEL".to_vec(), key.clone()]);
            srv.signal_modified_key(db, &key);
            srv.notify_keyspace_event(notify::GENERIC, "del", &key, db);
            srv.dirty += 1;
        }
        c.out.ok();
        return;
    }
    let mut lru = srv.new_object_clock();
    let lfu_policy = srv.config.policy_is_lfu();
    let lru_policy = matches!(
        srv.config.maxmemory_policy,
        crate::config::table::POLICY_ALLKEYS_LRU | crate::config::table::POLICY_VOLATILE_LRU
    );
    if let Some(f) = lfu_freq {
        if lfu_policy {
            let minutes = ((now / 1000 / 60) & 0xffff) as u32;
            lru = (minutes << 8) | f as u32;
        }
    } else if let Some(idle) = lru_idle {
        if lru_policy {
            let clock = crate::server::evict::lru_clock(now) as i64;
            let mut abs = clock - idle;
            if abs < 0 {
                abs += crate::server::evict::LRU_CLOCK_MAX as i64;
            }
            lru = (abs.max(0) as u32) & crate::server::evict::LRU_CLOCK_MAX;
        }
    }
    srv.db_add_obj(db, &key, Obj::new(value, lru));
    if ttl != 0 {
        srv.set_expire(db, &key, ttl);
        if !absttl {
            // Replicas get the absolute time, so they expire the key at the same moment.
            let mut argv = c.argv.clone();
            argv[2] = ttl.to_string().into_bytes();
            argv.push(b"ABSTTL".to_vec());
            c.propagate_argv = Some(argv);
        }
    }
    srv.signal_modified_key(db, &key);
    srv.notify_keyspace_event(notify::GENERIC, "restore", &key, db);
    c.out.ok();
    srv.dirty += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{RStr, Value};

    #[test]
    fn dump_payload_matches_redis_bytes() {
        // redis-cli DUMP of SET k 1 / SET k hello on Redis 7.0.15.
        assert_eq!(
            dump_payload(&Value::Str(RStr::Int(1)), true),
            b"\x00\xc0\x01\x0a\x00&x\xe7\xb6\xd1\x01\x11\xfc"
        );
        assert_eq!(
            dump_payload(&Value::Str(RStr::from_bytes(b"hello".to_vec())), true),
            b"\x00\x05hello\x0a\x00cr\xdfve4 \x0a"
        );
    }

    #[test]
    fn payload_footer_is_checked() {
        let p = dump_payload(&Value::Str(RStr::Int(7)), true);
        assert!(verify_payload(&p, false));
        let mut bad = p.clone();
        bad[1] ^= 1;
        assert!(!verify_payload(&bad, false));
        assert!(verify_payload(&bad, true));
        let mut newer = p.clone();
        let n = newer.len();
        newer[n - 10] = 11;
        assert!(!verify_payload(&newer, true));
        assert!(!verify_payload(&p[..9], true));
    }
}
