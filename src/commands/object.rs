//! OBJECT ENCODING / FREQ / IDLETIME / REFCOUNT / HELP: introspection of the value behind a
//! key (Redis' object.c). Lookups here don't touch the access clock, so inspecting a key
//! doesn't change what is being inspected.

use crate::client::Client;
use crate::commands::{reply_help, CmdProc};
use crate::config::table::{
    POLICY_ALLKEYS_LFU, POLICY_ALLKEYS_LRU, POLICY_VOLATILE_LFU, POLICY_VOLATILE_LRU,
};
use crate::db::lookup;
use crate::server::{evict, Server};
use crate::types::{Obj, RStr, Value};

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "object|encoding" => object_encoding_command,
        "object|freq" => object_freq_command,
        "object|idletime" => object_idletime_command,
        "object|refcount" => object_refcount_command,
        "object|help" => object_help_command,
        _ => return None,
    })
}

/// Integers Redis keeps as shared objects (0..OBJ_SHARED_INTEGERS).
const SHARED_INTEGERS: i64 = 10000;
/// The reference count Redis reports for a shared object (`OBJ_SHARED_REFCOUNT`).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// Runs `f` on the key's object, or replies null when there is no such key.
fn with_object(srv: &mut Server, c: &mut Client, f: impl FnOnce(&Server, &Obj, &mut Client)) {
    let key = std::mem::take(&mut c.argv[2]);
    let found = srv
        .lookup_key(c.db, &key, lookup::NOTOUCH | lookup::NONOTIFY)
        .is_some();
    if found {
        if let Some(obj) = srv.dbs[c.db].dict.get(&key[..]) {
            f(srv, obj, c);
        }
    } else {
        c.out.null();
    }
    c.argv[2] = key;
}

fn object_encoding_command(srv: &mut Server, c: &mut Client) {
    with_object(srv, c, |_, o, c| c.out.bulk_str(o.value.encoding_name()));
}

fn object_freq_command(srv: &mut Server, c: &mut Client) {
    with_object(srv, c, |srv, o, c| {
        if !srv.config.policy_is_lfu() {
            c.out.error("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
            return;
        }
        // Decay is applied on read: a key not accessed for a while reports its decayed count.
        let minutes = ((srv.unix_time() / 60) & 0xffff) as u16;
        let freq = evict::lfu_decayed_counter(o.lru, minutes, srv.config.lfu_decay_time);
        c.out.int(freq as i64);
    });
}

fn object_idletime_command(srv: &mut Server, c: &mut Client) {
    with_object(srv, c, |srv, o, c| {
        if srv.config.policy_is_lfu() {
            c.out.error("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
            return;
        }
        let now = evict::lru_clock(srv.now_ms());
        c.out.int(evict::idle_seconds(o.lru, now) as i64);
    });
}

/// Redis shares the objects of small non-negative integers, unless maxmemory is set with an
/// LRU or LFU policy (each key then needs its own object to carry its access clock). We don't
/// share objects, so the count Redis would report is derived from the value and the config.
fn object_refcount_command(srv: &mut Server, c: &mut Client) {
    with_object(srv, c, |srv, o, c| {
        let per_key_clock = srv.config.maxmemory != 0
            && matches!(
                srv.config.maxmemory_policy,
                POLICY_VOLATILE_LRU | POLICY_ALLKEYS_LRU | POLICY_VOLATILE_LFU | POLICY_ALLKEYS_LFU
            );
        let shared = match &o.value {
            Value::Str(RStr::Int(n)) => (0..SHARED_INTEGERS).contains(n) && !per_key_clock,
            _ => false,
        };
        c.out.int(if shared { SHARED_REFCOUNT } else { 1 });
    });
}

fn object_help_command(_srv: &mut Server, c: &mut Client) {
    reply_help(
        c,
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
}
