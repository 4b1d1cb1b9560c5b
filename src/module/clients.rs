//! GetClientInfoById and the cluster functions, which answer as a 7.0 server with cluster mode
//! disabled does (no node id, size 0, no nodes, messages refused).
//!
//! A client's id finds it in the server's client table, or — while a module command runs —
//! the running client, which is out of that table during its command.

use std::ffi::{c_char, c_int, c_void};

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
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

unsafe extern "C" fn register_cluster_message_receiver(
    _ctx: *mut Ctx,
    _type: u8,
    _cb: Option<ClusterReceiver>,
) {
    // Without cluster mode no message can arrive: nothing to register, as in 7.0.
}

unsafe extern "C" fn send_cluster_message(
    _ctx: *mut Ctx,
    _target: *const c_char,
    _type: u8,
    _msg: *const c_char,
    _len: u32,
) -> c_int {
    REDISMODULE_ERR
}

unsafe extern "C" fn get_cluster_node_info(
    _ctx: *mut Ctx,
    _id: *const c_char,
    _ip: *mut c_char,
    _master_id: *mut c_char,
    _port: *mut c_int,
    _flags: *mut c_int,
) -> c_int {
    REDISMODULE_ERR
}

unsafe extern "C" fn get_cluster_nodes_list(
    _ctx: *mut Ctx,
    numnodes: *mut usize,
) -> *mut *mut c_char {
    // SAFETY: NULL or writable.
    if let Some(n) = unsafe { numnodes.as_mut() } {
        *n = 0;
    }
    std::ptr::null_mut()
}

unsafe extern "C" fn free_cluster_nodes_list(ids: *mut *mut c_char) {
    if ids.is_null() {
        return;
    }
    // SAFETY: a NULL-terminated array of malloc'ed ids in one malloc'ed block (none are
    // handed out without cluster mode, but a NULL-terminated list is freed correctly).
    unsafe {
        let mut i = 0;
        while !(*ids.add(i)).is_null() {
            libc::free(*ids.add(i) as *mut c_void);
            i += 1;
        }
        libc::free(ids as *mut c_void);
    }
}

unsafe extern "C" fn get_my_cluster_id() -> *const c_char {
    std::ptr::null()
}

unsafe extern "C" fn get_cluster_size() -> usize {
    0
}

unsafe extern "C" fn set_cluster_flags(_ctx: *mut Ctx, _flags: u64) {
    // The flags only change how a cluster node fails over and redirects; with cluster mode
    // disabled they have no effect.
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
