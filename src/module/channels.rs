//! The getchannels-api: a module command flagged `getchannels-api` is asked which of its
//! arguments are pub/sub channels (and how it uses them) by calling it with a context in which
//! IsChannelsPositionRequest is true; it answers with ChannelAtPosWithFlags instead of running.
//! In 7.0 only ACL checks ask (`Server::acl_command_channels`), to apply channel permissions
//! before the command runs.

use std::ffi::c_int;

use super::ctx::{flags, Ctx};
use crate::acl::chflags;
use crate::commands::keyspec::KeyRef;
use crate::commands::spec::flags as cmdflags;
use crate::commands::{CmdId, Command};
use crate::server::Server;

/// How a command uses a channel as a module reports it (REDISMODULE_CMD_CHANNEL_*).
mod channel {
    pub const PATTERN: u32 = 1 << 0;
    pub const PUBLISH: u32 = 1 << 1;
    pub const SUBSCRIBE: u32 = 1 << 2;
    pub const UNSUBSCRIBE: u32 = 1 << 3;
}

/// A module's channel flags in the ACL's terms (`acl::chflags`).
fn acl_channel_flags(module_flags: u32) -> u64 {
    [
        (channel::PATTERN, chflags::PATTERN),
        (channel::PUBLISH, chflags::PUBLISH),
        (channel::SUBSCRIBE, chflags::SUBSCRIBE),
        (channel::UNSUBSCRIBE, chflags::UNSUBSCRIBE),
    ]
    .iter()
    .filter(|(m, _)| module_flags & m != 0)
    .fold(0, |acc, (_, a)| acc | a)
}

/// Whether a command's channels come from its module (flagged `getchannels-api`).
pub fn uses_api(cmd: &Command) -> bool {
    cmd.flags & cmdflags::MODULE_GETCHANNELS != 0
        && cmd.module_cmd.is_some_and(|mc| mc.func.is_some())
}

/// The channels of a module command's argv as the module reports them, as (argument index,
/// `acl::chflags`); empty for commands not flagged `getchannels-api`.
pub fn command_channels(srv: &mut Server, id: CmdId, argv: &[Vec<u8>]) -> Vec<(usize, u64)> {
    let cmd = &srv.commands.cmds[id];
    if !uses_api(cmd) {
        return Vec::new();
    }
    let mc = cmd.module_cmd.expect("checked by uses_api");
    let func = mc.func.expect("checked by uses_api");
    let found = super::getkeys::position_request(srv, mc, func, flags::CHANNELS_POS_REQUEST, argv);
    found
        .into_iter()
        .filter(|k| k.pos < argv.len())
        .map(|k| (k.pos, acl_channel_flags(k.flags as u32)))
        .collect()
}

unsafe extern "C" fn is_channels_position_request(ctx: *mut Ctx) -> c_int {
    // SAFETY: a live context.
    (unsafe { (*ctx).flags } & flags::CHANNELS_POS_REQUEST != 0) as c_int
}

unsafe extern "C" fn channel_at_pos_with_flags(ctx: *mut Ctx, pos: c_int, cflags: c_int) {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    if ctx.flags & flags::CHANNELS_POS_REQUEST == 0 || pos <= 0 {
        return;
    }
    ctx.keys.push(KeyRef {
        pos: pos as usize,
        flags: cflags as u32 as u64,
    });
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "IsChannelsPositionRequest" => is_channels_position_request as unsafe extern "C" fn(*mut Ctx) -> c_int,
        "ChannelAtPosWithFlags" => channel_at_pos_with_flags as unsafe extern "C" fn(*mut Ctx, c_int, c_int),
    ]
}
