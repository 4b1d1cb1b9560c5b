//! The module ACL API: module users, authenticating clients as them, and checking permissions
//! from modules. Also the per-client "user changed" callbacks modules register when they
//! authenticate a client.

use crate::acl::UserId;
use crate::client::Client;
use crate::server::Server;

/// A client's user is about to change (AUTH, RESET, deletion): the module that authenticated
/// it is told once, and forgets the client.
pub fn notify_user_changed(srv: &mut Server, c: &mut Client) {
    let _ = (srv, c);
}

/// A user was deleted: nothing of it may stay reachable from modules.
pub fn user_gone(srv: &mut Server, id: UserId) {
    let _ = (srv, id);
}
