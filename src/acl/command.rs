//! The ACL command and the server-side ACL operations the command path, AUTH/HELLO and modules
//! use: authenticating, checking a command for a client's user (keys found through key specs or
//! the module), logging denials, and closing the clients of a deleted or narrowed user.

use super::log::{context_name, reason_name, LogEntry};
use super::{CommandCheck, Denied, LogContext, User, UserId, DEFAULT_USER};
use crate::client::{flags as cflags, Client};
use crate::commands::keyspec::KeyRef;
use crate::commands::{reply_help, reply_subcommand_syntax_error, CmdId, CmdProc};
use crate::server::Server;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "acl|setuser" => acl_setuser,
        "acl|getuser" => acl_getuser,
        "acl|deluser" => acl_deluser,
        "acl|users" => acl_users,
        "acl|list" => acl_list,
        "acl|whoami" => acl_whoami,
        "acl|cat" => acl_cat,
        "acl|genpass" => acl_genpass,
        "acl|log" => acl_log,
        "acl|dryrun" => acl_dryrun,
        "acl|save" => acl_save,
        "acl|load" => acl_load,
        "acl|help" => acl_help,
        _ => return None,
    })
}

impl Server {
    /// The keys of a command as ACL checks see them (module commands may be asked).
    pub fn acl_command_keys(&mut self, id: CmdId, argv: &[Vec<u8>]) -> Vec<KeyRef> {
        let cmd = &self.commands.cmds[id];
        if !crate::commands::keyspec::does_command_have_keys(cmd.spec)
            && cmd.flags & crate::commands::spec::flags::MODULE_GETKEYS == 0
        {
            return Vec::new();
        }
        if crate::module::getkeys::uses_api(cmd) {
            return crate::module::getkeys::get_keys(self, id, argv).unwrap_or_default();
        }
        crate::commands::keyspec::keys_with_specs(cmd.spec, argv, 0)
    }

    /// The channels of a command as ACL checks see them: the built-in pub/sub commands' by
    /// their arguments, a module command's as its getchannels-api reports them.
    pub fn acl_command_channels(&mut self, id: CmdId, argv: &[Vec<u8>]) -> Vec<(usize, u64)> {
        if crate::module::channels::uses_api(&self.commands.cmds[id]) {
            return crate::module::channels::command_channels(self, id, argv);
        }
        super::command_channels(&self.commands.cmds[id], argv.len())
    }

    /// Checks whether `user` may run command `id` with `argv` (Redis'
    /// `ACLCheckAllUserCommandPerm`). A missing user may run nothing.
    pub fn acl_check_user_command(
        &mut self,
        user: UserId,
        id: CmdId,
        argv: &[Vec<u8>],
    ) -> Result<(), (Denied, usize)> {
        if self.acl.is_open(user) {
            return Ok(());
        }
        let Some(u) = self.acl.get(user) else {
            return Err((Denied::Cmd, 0));
        };
        let (needs_keys, needs_channels) = (u.needs_keys(), u.needs_channels());
        let keys = if needs_keys {
            self.acl_command_keys(id, argv)
        } else {
            Vec::new()
        };
        let channels = if needs_channels {
            self.acl_command_channels(id, argv)
        } else {
            Vec::new()
        };
        let u = self.acl.get(user).expect("checked above");
        u.check_command(&CommandCheck {
            id,
            cmd: &self.commands.cmds[id],
            argv,
            keys: &keys,
            channels: &channels,
        })
    }

    /// Whether the client's user may run its current command with the given access to every
    /// key (Redis' `ACLUserCheckCmdWithUnrestrictedKeyAccess`): SORT's BY and GET need it.
    pub fn acl_user_has_full_key_access(&mut self, c: &Client, access: u64) -> bool {
        if self.acl.is_open(c.user) {
            return true;
        }
        let Some(id) = c.last_cmd else {
            return false;
        };
        let keys = self.acl_command_keys(id, &c.argv);
        let channels = self.acl_command_channels(id, &c.argv);
        let Some(u) = self.acl.get(c.user) else {
            return false;
        };
        u.check_command_with_unrestricted_keys(
            &CommandCheck {
                id,
                cmd: &self.commands.cmds[id],
                argv: &c.argv,
                keys: &keys,
                channels: &channels,
            },
            access,
        )
    }

    /// Adds an ACL LOG entry for a client's denial. `pos` is the argument of a denied key or
    /// channel; `username`/`object` override what the client and reason imply.
    pub fn acl_add_log(
        &mut self,
        c: &Client,
        reason: Denied,
        context: LogContext,
        pos: usize,
        username: Option<&[u8]>,
        object: Option<Vec<u8>>,
    ) {
        let object = object.unwrap_or_else(|| match reason {
            Denied::Cmd => c
                .last_cmd
                .map(|id| self.commands.cmds[id].fullname.as_bytes().to_vec())
                .unwrap_or_default(),
            Denied::Key | Denied::Channel => c.argv.get(pos).cloned().unwrap_or_default(),
            Denied::Auth => c.argv.first().cloned().unwrap_or_default(),
        });
        let username = username
            .map(|u| u.to_vec())
            .unwrap_or_else(|| self.acl.name_of(c.user).to_vec());
        let entry = LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            ctime: crate::util::mstime(),
            client_info: self.client_info_string(c),
        };
        let max = self
            .config
            .other
            .get("acllog-max-len")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(128);
        self.acl.log.add(entry, max);
    }

    /// AUTH / HELLO AUTH: on success the client runs as the user; failures are logged.
    pub fn acl_authenticate(&mut self, c: &mut Client, name: &[u8], pass: &[u8]) -> bool {
        match self.acl.check_credentials(name, pass) {
            Some(id) => {
                crate::module::acl::notify_user_changed(self, c);
                c.user = id;
                c.authenticated = true;
                true
            }
            None => {
                let ctx = if c.has(cflags::MULTI) {
                    LogContext::Multi
                } else {
                    LogContext::Toplevel
                };
                self.acl_add_log(c, Denied::Auth, ctx, 0, Some(name), None);
                false
            }
        }
    }

    /// Closes every client authenticated as `id` (a deleted user): they fall back to the
    /// unauthenticated default user until they are gone. The running client (`me`) is closed
    /// after its reply.
    pub fn acl_kill_clients_of(&mut self, id: UserId, me: &mut Client) {
        let victims: Vec<_> = self
            .clients
            .values()
            .filter(|c| c.user == id)
            .map(|c| c.id)
            .collect();
        for v in victims {
            if let Some(mut c) = self.clients.remove(&v) {
                crate::module::acl::notify_user_changed(self, &mut c);
                c.user = DEFAULT_USER;
                c.authenticated = false;
                self.clients.insert(v, c);
            }
            self.close_client_async(v);
        }
        if me.user == id {
            crate::module::acl::notify_user_changed(self, me);
            me.user = DEFAULT_USER;
            me.authenticated = false;
            me.flags |= cflags::CLOSE_AFTER_REPLY;
        }
    }

    /// After a user's channel rules changed: subscribers of that user holding a subscription
    /// the new rules no longer allow are closed (Redis' `ACLKillPubsubClientsIfNeeded`).
    pub fn acl_kill_pubsub_clients_if_needed(
        &mut self,
        id: UserId,
        new: &User,
        original: &User,
        me: &mut Client,
    ) {
        if new
            .selectors
            .iter()
            .any(|s| s.flags & super::sflags::ALLCHANNELS != 0)
        {
            return;
        }
        let upcoming: Vec<Vec<u8>> = new
            .selectors
            .iter()
            .flat_map(|s| s.channels.iter().cloned())
            .collect();
        let kept = original.selectors.iter().all(|s| {
            s.flags & super::sflags::ALLCHANNELS == 0
                && s.channels.iter().all(|c| upcoming.contains(c))
        });
        if kept {
            return;
        }
        let violates = |c: &Client| {
            if c.user != id || !c.has(cflags::PUBSUB) {
                return false;
            }
            c.patterns
                .iter()
                .any(|p| !super::channel_in_list(&upcoming, p, true))
                || c.channels
                    .iter()
                    .chain(c.shard_channels.iter())
                    .any(|ch| !super::channel_in_list(&upcoming, ch, false))
        };
        let victims: Vec<_> = self
            .clients
            .values()
            .filter(|c| violates(c))
            .map(|c| c.id)
            .collect();
        for v in victims {
            self.kill_client(v);
        }
        if violates(me) {
            me.flags |= cflags::CLOSE_AFTER_REPLY;
        }
    }
}

fn acl_setuser(srv: &mut Server, c: &mut Client) {
    for j in 2..c.argv.len() {
        c.redact_arg(j);
    }
    let name = c.argv[2].clone();
    if super::has_spaces(&name) {
        c.out
            .error("Usernames can't contain spaces or null characters");
        return;
    }
    let staged = srv.acl.staged_user(&srv.commands, &name, &c.argv[3..]);
    match staged {
        Ok(u) => {
            if let Some(id) = srv.acl.by_name(&name) {
                let original = srv.acl.get(id).cloned().expect("named user exists");
                srv.acl_kill_pubsub_clients_if_needed(id, &u, &original, c);
            }
            srv.acl.put(u);
            c.out.ok();
        }
        Err(e) => c.out.error(&e),
    }
}

fn acl_deluser(srv: &mut Server, c: &mut Client) {
    if c.argv[2..].iter().any(|n| n == b"default") {
        c.out.error("The 'default' user cannot be removed");
        return;
    }
    let mut deleted = 0;
    for j in 2..c.argv.len() {
        if let Some(id) = srv.acl.by_name(&c.argv[j]) {
            srv.acl.remove(id);
            srv.acl_kill_clients_of(id, c);
            deleted += 1;
        }
    }
    c.out.int(deleted);
}

fn reply_selector(srv: &Server, c: &mut Client, s: &super::Selector) {
    c.out.bulk(b"commands");
    c.out.bulk(s.describe_commands(&srv.commands).as_bytes());
    c.out.bulk(b"keys");
    c.out.bulk(s.keys_field().as_bytes());
    c.out.bulk(b"channels");
    c.out.bulk(s.channels_field().as_bytes());
}

fn acl_getuser(srv: &mut Server, c: &mut Client) {
    let Some(u) = srv.acl.user_by_name(&c.argv[2]).cloned() else {
        c.out.null();
        return;
    };
    c.out.map(6);
    c.out.bulk(b"flags");
    let flags: Vec<&str> = super::USER_FLAG_NAMES
        .iter()
        .filter(|(f, _)| u.flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    c.out.set(flags.len());
    for f in flags {
        c.out.bulk(f.as_bytes());
    }
    c.out.bulk(b"passwords");
    c.out.array(u.passwords.len());
    for p in &u.passwords {
        c.out.bulk(p);
    }
    reply_selector(srv, c, &u.selectors[0]);
    c.out.bulk(b"selectors");
    c.out.array(u.selectors.len() - 1);
    for s in &u.selectors[1..] {
        c.out.map(3);
        reply_selector(srv, c, s);
    }
}

fn acl_users(srv: &mut Server, c: &mut Client) {
    let names: Vec<Vec<u8>> = srv.acl.users().map(|(_, u)| u.name.clone()).collect();
    c.out.array(names.len());
    for n in names {
        c.out.bulk(&n);
    }
}

/// `user <name> <rules>` lines, as ACL LIST and the ACL file show them.
pub fn user_lines(srv: &Server) -> Vec<String> {
    srv.acl
        .users()
        .map(|(_, u)| {
            format!(
                "user {} {}",
                String::from_utf8_lossy(&u.name),
                u.describe(&srv.commands)
            )
        })
        .collect()
}

fn acl_list(srv: &mut Server, c: &mut Client) {
    let lines = user_lines(srv);
    c.out.array(lines.len());
    for l in lines {
        c.out.bulk(l.as_bytes());
    }
}

fn acl_whoami(srv: &mut Server, c: &mut Client) {
    if c.user == super::SUPERUSER {
        c.out.null();
        return;
    }
    let name = srv.acl.name_of(c.user).to_vec();
    c.out.bulk(&name);
}

fn acl_cat(srv: &mut Server, c: &mut Client) {
    if c.argv.len() == 2 {
        let names = crate::commands::command::ACL_CATEGORY_NAMES;
        c.out.array(names.len());
        for (_, n) in names {
            c.out.bulk(n.as_bytes());
        }
        return;
    }
    if c.argv.len() != 3 {
        reply_subcommand_syntax_error(c);
        return;
    }
    let cat = super::category_by_name(&c.argv[2]);
    if cat == 0 {
        let name: String = String::from_utf8_lossy(&c.argv[2])
            .chars()
            .take(128)
            .collect();
        c.out.error(&format!("Unknown category '{}'", name));
        return;
    }
    let names: Vec<String> = srv
        .commands
        .cmds
        .iter()
        .filter(|cmd| {
            cmd.flags & crate::commands::spec::flags::MODULE == 0 && cmd.acl_categories & cat != 0
        })
        .map(|cmd| cmd.fullname.clone())
        .collect();
    c.out.array(names.len());
    for n in names {
        c.out.bulk(n.as_bytes());
    }
}

fn acl_genpass(_srv: &mut Server, c: &mut Client) {
    if c.argv.len() > 3 {
        reply_subcommand_syntax_error(c);
        return;
    }
    let mut bits = 256i64;
    if c.argv.len() == 3 {
        match crate::commands::arg_i64(c, 2) {
            Some(b) => bits = b,
            None => return,
        }
    }
    if bits <= 0 || bits > 4096 {
        c.out.error("ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
        return;
    }
    let chars = ((bits + 3) / 4) as usize;
    c.out.bulk(crate::util::random_hex(chars).as_bytes());
}

fn acl_log(srv: &mut Server, c: &mut Client) {
    if c.argv.len() > 3 {
        reply_subcommand_syntax_error(c);
        return;
    }
    let mut count = 10i64;
    if c.argv.len() == 3 {
        if c.argv[2].eq_ignore_ascii_case(b"reset") {
            srv.acl.log.reset();
            c.out.ok();
            return;
        }
        match crate::commands::arg_i64(c, 2) {
            Some(n) => count = n.max(0),
            None => return,
        }
    }
    let n = (count as usize).min(srv.acl.log.entries.len());
    let now = crate::util::mstime();
    c.out.array(n);
    for e in srv.acl.log.entries.iter().take(n) {
        c.out.map(7);
        c.out.bulk(b"count");
        c.out.int(e.count as i64);
        c.out.bulk(b"reason");
        c.out.bulk(reason_name(e.reason).as_bytes());
        c.out.bulk(b"context");
        c.out.bulk(context_name(e.context).as_bytes());
        c.out.bulk(b"object");
        c.out.bulk(&e.object);
        c.out.bulk(b"username");
        c.out.bulk(&e.username);
        c.out.bulk(b"age-seconds");
        c.out.double((now - e.ctime) as f64 / 1000.0);
        c.out.bulk(b"client-info");
        c.out.bulk(e.client_info.as_bytes());
    }
}

fn acl_dryrun(srv: &mut Server, c: &mut Client) {
    let Some(user) = srv.acl.by_name(&c.argv[2]) else {
        c.out.error(&format!(
            "User '{}' not found",
            String::from_utf8_lossy(&c.argv[2])
        ));
        return;
    };
    let argv: Vec<Vec<u8>> = c.argv[3..].to_vec();
    let Some(id) = srv.commands.lookup(&argv) else {
        c.out.error(&format!(
            "Command '{}' not found",
            String::from_utf8_lossy(&argv[0])
        ));
        return;
    };
    let (arity, fullname) = {
        let cmd = &srv.commands.cmds[id];
        (cmd.spec.arity, cmd.fullname.clone())
    };
    let argc = argv.len() as i32;
    if (arity > 0 && arity != argc) || argc < -arity {
        c.out.error(&format!(
            "wrong number of arguments for '{}' command",
            fullname
        ));
        return;
    }
    // An unrestricted user still goes through the full check here.
    let result = match srv.acl.get(user) {
        Some(_) if srv.acl.is_open(user) => Ok(()),
        _ => srv.acl_check_user_command(user, id, &argv),
    };
    match result {
        Ok(()) => c.out.ok(),
        Err((reason, idx)) => {
            let text = match reason {
                Denied::Cmd => format!(
                    "This user has no permissions to run the '{}' command",
                    fullname
                ),
                Denied::Key => format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(&argv[idx])
                ),
                _ => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(&argv[idx])
                ),
            };
            c.out.bulk(text.as_bytes());
        }
    }
}

const NO_ACLFILE: &str = "This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn aclfile(srv: &Server) -> String {
    srv.config.other.get("aclfile").cloned().unwrap_or_default()
}

fn acl_save(srv: &mut Server, c: &mut Client) {
    let path = aclfile(srv);
    if path.is_empty() {
        c.out.error(NO_ACLFILE);
        return;
    }
    match super::file::save(srv, &path) {
        Ok(()) => c.out.ok(),
        Err(e) => {
            crate::log_warning!("{}", e);
            c.out.error("There was an error trying to save the ACLs. Please check the server logs for more information");
        }
    }
}

fn acl_load(srv: &mut Server, c: &mut Client) {
    let path = aclfile(srv);
    if path.is_empty() {
        c.out.error(NO_ACLFILE);
        return;
    }
    match super::file::load(srv, &path, Some(c)) {
        Ok(()) => c.out.ok(),
        Err(e) => c.out.error(&e),
    }
}

fn acl_help(_srv: &mut Server, c: &mut Client) {
    reply_help(
        c,
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
}
