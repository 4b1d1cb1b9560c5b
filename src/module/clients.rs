//! GetClientInfoById and the cluster functions: in cluster mode they read the node's view of
//! the cluster and send/receive module messages over the bus; without it they answer as a 7.0
//! server with cluster mode disabled does (no node id, size 0, no nodes, messages refused).
//!
//! A client's id finds it in the server's client table, or — while a module command runs —
//! the running client, which is out of that table during its command.

use std::ffi::{c_char, c_int, c_void};

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::Module;
use crate::client::Client;
use crate::server::Server;

/// The client with this id, if connected.
pub(super) fn lookup(srv: &mut Server, id: u64) -> Option<&mut Client> {
    if let Some(c) = super::command::running_client() {
        if c.id == id {
            return Some(c);
        }
    }
    srv.clients.get_mut(&id).map(|b| &mut **b)
}

unsafe extern "C" fn get_client_info_by_id(ci: *mut c_void, id: u64) -> c_int {
    let Some(srv) = super::command::current_server() else {
        return REDISMODULE_ERR;
    };
    let Some(c) = lookup(srv, id) else {
        return REDISMODULE_ERR;
    };
    if ci.is_null() {
        return REDISMODULE_OK;
    }
    // SAFETY: the structure starts with its version (u64), as the API requires.
    let ver = unsafe { *(ci as *const u64) };
    if ver != 1 {
        return REDISMODULE_ERR;
    }
    let info = super::events::client_info(c);
    // SAFETY: a version 1 structure has room for the version 1 fields.
    unsafe { std::ptr::write(ci as *mut super::events::ClientInfoV1, info) };
    REDISMODULE_OK
}

/// `RedisModule_GetClientCertificate(ctx, id)`: the PEM certificate a TLS client presented.
/// This server speaks plain TCP and unix sockets only, so no client has one: NULL, as 7.0
/// answers for a connection without TLS (and for an unknown id).
unsafe extern "C" fn get_client_certificate(
    _ctx: *mut Ctx,
    _id: u64,
) -> *mut super::string::RmString {
    std::ptr::null_mut()
}

type ClusterReceiver = unsafe extern "C" fn(*mut Ctx, *const c_char, u8, *const u8, u32);

thread_local! {
    /// Cluster message receivers: (module, module id on the wire, message type, callback).
    static RECEIVERS: std::cell::RefCell<Vec<(*mut Module, u64, u8, ClusterReceiver)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The id a module's cluster messages carry: its name encoded as a data type name (9
/// characters of the type-name alphabet), or 0 for any other name — so modules whose names
/// are not 9 such characters share id 0, exactly as in Redis.
fn module_wire_id(name: &str) -> u64 {
    super::datatype::encode_id(name.as_bytes(), 0).unwrap_or(0)
}

/// A node id argument: up to REDISMODULE_NODE_ID_LEN (40) bytes, fewer if a NUL comes
/// first. Ids handed out by GetClusterNodesList are exactly 40 bytes without a terminator,
/// and modules pass them back as they are, so nothing past the 40th byte is read.
unsafe fn node_id_arg(p: *const c_char) -> Option<Vec<u8>> {
    if p.is_null() {
        return None;
    }
    let mut id = Vec::with_capacity(crate::cluster::msg::NAMELEN);
    for i in 0..crate::cluster::msg::NAMELEN {
        // SAFETY: a node id is readable up to its terminator or its 40th byte.
        let b = unsafe { *(p as *const u8).add(i) };
        if b == 0 {
            break;
        }
        id.push(b);
    }
    Some(id)
}

unsafe extern "C" fn register_cluster_message_receiver(
    ctx: *mut Ctx,
    msg_type: u8,
    cb: Option<ClusterReceiver>,
) {
    // SAFETY: a live context.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return;
    };
    let module = ctx.module;
    if module.is_null() {
        return;
    }
    // SAFETY: the context's module is loaded.
    let id = module_wire_id(unsafe { &(*module).name });
    RECEIVERS.with(|r| {
        let mut r = r.borrow_mut();
        r.retain(|(m, mid, t, _)| !(*m == module && *mid == id && *t == msg_type));
        if let Some(cb) = cb {
            r.push((module, id, msg_type, cb));
        }
    });
}

/// Hands a module message that arrived on the cluster bus to the receivers of its module id
/// and type (Redis' moduleCallClusterReceivers).
pub fn deliver_cluster_message(
    srv: &mut Server,
    sender: &[u8; 40],
    module_id: u64,
    msg_type: u8,
    payload: &[u8],
) {
    let targets: Vec<(*mut Module, ClusterReceiver)> = RECEIVERS.with(|r| {
        r.borrow()
            .iter()
            .filter(|(_, mid, t, _)| *mid == module_id && *t == msg_type)
            .map(|(m, _, _, cb)| (*m, *cb))
            .collect()
    });
    for (module, cb) in targets {
        // A receiver of an unloaded module is gone with it.
        if !srv.modules.list.iter().any(|m| std::ptr::eq(&**m, module)) {
            continue;
        }
        let mut ctx = Ctx::new(srv, module, super::ctx::flags::NONE);
        // SAFETY: a live context; sender and payload outlive the call.
        unsafe {
            cb(
                &mut ctx,
                sender.as_ptr() as *const c_char,
                msg_type,
                payload.as_ptr(),
                payload.len() as u32,
            )
        };
        ctx.finish();
    }
}

unsafe extern "C" fn send_cluster_message(
    ctx: *mut Ctx,
    target: *const c_char,
    msg_type: u8,
    msg: *const c_char,
    len: u32,
) -> c_int {
    let Some(srv) = super::command::current_server() else {
        return REDISMODULE_ERR;
    };
    // SAFETY: a live context.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return REDISMODULE_ERR;
    };
    if ctx.module.is_null() {
        return REDISMODULE_ERR;
    }
    // SAFETY: the context's module is loaded.
    let module_id = module_wire_id(unsafe { &(*ctx.module).name });
    let payload = if msg.is_null() || len == 0 {
        Vec::new()
    } else {
        // SAFETY: `len` readable bytes at `msg`, per the API.
        unsafe { std::slice::from_raw_parts(msg as *const u8, len as usize) }.to_vec()
    };
    // SAFETY: NULL or a node id.
    let target = unsafe { node_id_arg(target) };
    if srv.cluster_send_module_message(target.as_deref(), module_id, msg_type, payload) {
        REDISMODULE_OK
    } else {
        REDISMODULE_ERR
    }
}

/// Node flags as the module API reports them.
const NODE_MYSELF: c_int = 1 << 0;
const NODE_MASTER: c_int = 1 << 1;
const NODE_SLAVE: c_int = 1 << 2;
const NODE_PFAIL: c_int = 1 << 3;
const NODE_FAIL: c_int = 1 << 4;
const NODE_NOFAILOVER: c_int = 1 << 5;

unsafe extern "C" fn get_cluster_node_info(
    _ctx: *mut Ctx,
    id: *const c_char,
    ip: *mut c_char,
    master_id: *mut c_char,
    port: *mut c_int,
    flags: *mut c_int,
) -> c_int {
    use crate::cluster::msg::node_flags as nf;
    let Some(srv) = super::command::current_server() else {
        return REDISMODULE_ERR;
    };
    let Some(cl) = srv.cluster.as_deref() else {
        return REDISMODULE_ERR;
    };
    // SAFETY: a node id argument.
    let Some(name) = (unsafe { node_id_arg(id) }) else {
        return REDISMODULE_ERR;
    };
    let Some(n) = cl.lookup(&name) else {
        return REDISMODULE_ERR;
    };
    let node = cl.node(n);
    if node.flags & nf::NOADDR != 0 || node.in_handshake() {
        return REDISMODULE_ERR;
    }
    // SAFETY: each out pointer is NULL or has room for what the API says (an IP string of
    // 46 bytes, a 40-byte id, an int).
    unsafe {
        if !ip.is_null() {
            let b = node.ip.as_bytes();
            let n = b.len().min(45);
            std::ptr::copy_nonoverlapping(b.as_ptr(), ip as *mut u8, n);
            *ip.add(n) = 0;
        }
        if !master_id.is_null() {
            if node.is_replica() && node.replicaof != crate::cluster::NO_NODE {
                let m = &cl.node(node.replicaof).name;
                std::ptr::copy_nonoverlapping(m.as_ptr(), master_id as *mut u8, m.len());
            } else {
                std::ptr::write_bytes(master_id as *mut u8, 0, crate::cluster::msg::NAMELEN);
            }
        }
        if !port.is_null() {
            *port = c_int::from(node.port);
        }
        if !flags.is_null() {
            let mut f = 0;
            if n == cl.myself {
                f |= NODE_MYSELF;
            }
            if node.is_master() {
                f |= NODE_MASTER;
            }
            if node.is_replica() {
                f |= NODE_SLAVE;
            }
            if node.timed_out() {
                f |= NODE_PFAIL;
            }
            if node.failed() {
                f |= NODE_FAIL;
            }
            if node.flags & nf::NOFAILOVER != 0 {
                f |= NODE_NOFAILOVER;
            }
            *flags = f;
        }
    }
    REDISMODULE_OK
}

unsafe extern "C" fn get_cluster_nodes_list(
    _ctx: *mut Ctx,
    numnodes: *mut usize,
) -> *mut *mut c_char {
    use crate::cluster::msg::node_flags as nf;
    let names: Vec<[u8; 40]> = super::command::current_server()
        .and_then(|srv| srv.cluster.as_deref())
        .map(|cl| {
            cl.node_ids()
                .into_iter()
                .map(|id| cl.node(id))
                .filter(|n| n.flags & (nf::NOADDR | nf::HANDSHAKE) == 0)
                .map(|n| n.name)
                .collect()
        })
        .unwrap_or_default();
    // SAFETY: NULL or writable.
    if let Some(n) = unsafe { numnodes.as_mut() } {
        *n = names.len();
    }
    if names.is_empty() {
        return std::ptr::null_mut();
    }
    // SAFETY: malloc'ed blocks (freed by FreeClusterNodesList); each id is 40 bytes, as
    // Redis hands them out, plus a terminator; the array ends with NULL.
    unsafe {
        let ids = libc::malloc((names.len() + 1) * std::mem::size_of::<*mut c_char>())
            as *mut *mut c_char;
        for (i, name) in names.iter().enumerate() {
            // One byte more, zeroed: a module treating the id as a C string finds its end.
            let p = libc::calloc(1, name.len() + 1) as *mut u8;
            std::ptr::copy_nonoverlapping(name.as_ptr(), p, name.len());
            *ids.add(i) = p as *mut c_char;
        }
        *ids.add(names.len()) = std::ptr::null_mut();
        ids
    }
}

unsafe extern "C" fn free_cluster_nodes_list(ids: *mut *mut c_char) {
    if ids.is_null() {
        return;
    }
    // SAFETY: a NULL-terminated array of malloc'ed ids in one malloc'ed block, as
    // GetClusterNodesList hands out.
    unsafe {
        let mut i = 0;
        while !(*ids.add(i)).is_null() {
            libc::free(*ids.add(i) as *mut c_void);
            i += 1;
        }
        libc::free(ids as *mut c_void);
    }
}

thread_local! {
    /// This node's id as GetMyClusterID hands it out: a buffer that lives as long as the
    /// process (replaced, never freed, when a hard reset renames the node).
    static MY_ID: std::cell::Cell<*const [u8; 41]> = const { std::cell::Cell::new(std::ptr::null()) };
}

unsafe extern "C" fn get_my_cluster_id() -> *const c_char {
    let Some(name) = super::command::current_server()
        .and_then(|srv| srv.cluster.as_deref())
        .map(|cl| cl.me().name)
    else {
        return std::ptr::null();
    };
    MY_ID.with(|cell| {
        let cur = cell.get();
        // SAFETY: a leaked buffer, never freed.
        if cur.is_null() || unsafe { (&(*cur))[..40] != name[..] } {
            let mut buf = [0u8; 41];
            buf[..40].copy_from_slice(&name);
            cell.set(Box::leak(Box::new(buf)));
        }
        cell.get() as *const c_char
    })
}

unsafe extern "C" fn get_cluster_size() -> usize {
    super::command::current_server()
        .and_then(|srv| srv.cluster.as_deref())
        .map_or(0, |cl| cl.size)
}

unsafe extern "C" fn set_cluster_flags(_ctx: *mut Ctx, flags: u64) {
    if let Some(cl) = super::command::current_server().and_then(|srv| srv.cluster.as_deref_mut()) {
        cl.module_flags = flags as u32;
    }
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "GetClientInfoById" => get_client_info_by_id as unsafe extern "C" fn(*mut c_void, u64) -> c_int,
        "RegisterClusterMessageReceiver" => register_cluster_message_receiver as unsafe extern "C" fn(*mut Ctx, u8, Option<ClusterReceiver>),
        "SendClusterMessage" => send_cluster_message as unsafe extern "C" fn(*mut Ctx, *const c_char, u8, *const c_char, u32) -> c_int,
        "GetClusterNodeInfo" => get_cluster_node_info as unsafe extern "C" fn(*mut Ctx, *const c_char, *mut c_char, *mut c_char, *mut c_int, *mut c_int) -> c_int,
        "GetClusterNodesList" => get_cluster_nodes_list as unsafe extern "C" fn(*mut Ctx, *mut usize) -> *mut *mut c_char,
        "FreeClusterNodesList" => free_cluster_nodes_list as unsafe extern "C" fn(*mut *mut c_char),
        "GetMyClusterID" => get_my_cluster_id as unsafe extern "C" fn() -> *const c_char,
        "GetClusterSize" => get_cluster_size as unsafe extern "C" fn() -> usize,
        "SetClusterFlags" => set_cluster_flags as unsafe extern "C" fn(*mut Ctx, u64),
        "GetClientCertificate" => get_client_certificate as unsafe extern "C" fn(*mut Ctx, u64) -> *mut super::string::RmString,
    ]
}
