//! Users from configuration: the `user` directives of redis.conf (applied at start-up and
//! written back by CONFIG REWRITE) and the `aclfile` (loaded at start-up, ACL LOAD / ACL SAVE).
//! The file format is one `user <name> <rules...>` line per user, as ACL LIST prints them, so
//! files move between us and Redis unchanged.

use super::{merge_selector_args, User, UserId};
use crate::client::Client;
use crate::server::Server;

/// Writes every user to `path` through a temporary file renamed into place.
pub fn save(srv: &Server, path: &str) -> Result<(), String> {
    let mut text = String::new();
    for line in super::command::user_lines(srv) {
        text.push_str(&line);
        text.push('\n');
    }
    let tmp = format!(
        "{}.tmp-{}-{}",
        path,
        std::process::id(),
        crate::util::mstime()
    );
    if let Err(e) = std::fs::write(&tmp, text.as_bytes()) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("Writing ACL file for ACL SAVE: {}", e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("Renaming ACL file for ACL SAVE: {}", e));
    }
    Ok(())
}

/// Parses an ACL file into users. All lines are checked; any error leaves nothing applied,
/// and the message lists every problem found, in Redis' words.
/// Trims the given bytes from both ends.
fn trim<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|b| !set.contains(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !set.contains(b))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

pub fn parse(srv: &Server, text: &[u8]) -> Result<Vec<User>, String> {
    let shown = srv.config.other.get("aclfile").cloned().unwrap_or_default();
    let pubsub = srv.acl.pubsub_default_all;
    let mut errors = String::new();
    let mut users: Vec<User> = Vec::new();
    // Bytes throughout: patterns and names need not be UTF-8. Arguments are split on single
    // spaces, as Redis splits ACL file lines.
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let linenum = i + 1;
        let line = trim(raw, b" \t\r\n");
        if line.is_empty() {
            continue;
        }
        let argv: Vec<Vec<u8>> = line.split(|&b| b == b' ').map(|a| a.to_vec()).collect();
        if argv[0] != b"user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{}:{} should start with user keyword followed by the username. ",
                shown, linenum
            ));
            continue;
        }
        let name = &argv[1];
        if super::has_spaces(name) {
            errors.push_str(&format!(
                "'{}:{}: username '{}' contains invalid characters. ",
                shown,
                linenum,
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        if users.iter().any(|u| &u.name == name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {}. ",
                String::from_utf8_lossy(name),
                linenum
            ));
            continue;
        }
        let mut u = User::new(name, pubsub);
        let rules = match merge_selector_args(&argv[2..]) {
            Ok(r) => r,
            Err(_) => {
                errors.push_str(&format!(
                    "{}:{}: Unmatched parenthesis in selector definition.",
                    shown, linenum
                ));
                Vec::new()
            }
        };
        let mut syntax_error = false;
        for op in &rules {
            let op = trim(op, b"\t\r\n");
            if let Err(e) = u.apply(&srv.commands, op, pubsub) {
                if e == super::RuleError::UnknownCommand {
                    errors.push_str(&format!(
                        "{}:{}: Error in applying operation '{}': {}. ",
                        shown,
                        linenum,
                        String::from_utf8_lossy(op),
                        e.message()
                    ));
                } else if !syntax_error {
                    errors.push_str(&format!("{}:{}: {}. ", shown, linenum, e.message()));
                    syntax_error = true;
                }
            }
        }
        users.push(u);
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        Err(errors)
    }
}

/// Loads the ACL file (ACL LOAD, start-up). On success every previous user but `default` is
/// gone and their clients are closed; `default` keeps its identity with the file's rules.
pub fn load(srv: &mut Server, path: &str, me: Option<&mut Client>) -> Result<(), String> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) => {
            return Err(format!(
                "Error loading ACLs, opening file '{}': {}",
                path,
                crate::rdb::persist::strerror(&e)
            ))
        }
    };
    let users = parse(srv, &text)?;
    let gone: Vec<UserId> = srv.acl.replace_all(users);
    let mut fake;
    let me = match me {
        Some(c) => c,
        None => {
            fake = Client::fake(0, 0);
            &mut fake
        }
    };
    for id in gone {
        srv.acl_kill_clients_of(id, me);
    }
    Ok(())
}

/// Start-up: the `user` directives, then the ACL file. Mixing both, or any error, is fatal,
/// as in Redis. Returns the message to log before exiting.
pub fn load_at_startup(srv: &mut Server) -> Result<(), String> {
    let aclfile = srv.config.other.get("aclfile").cloned().unwrap_or_default();
    let configured = std::mem::take(&mut srv.acl.to_load);
    if !aclfile.is_empty() && !configured.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    let pubsub = srv.acl.pubsub_default_all;
    for def in &configured {
        let name = &def[0];
        if super::has_spaces(name) {
            return Err(
                "Spaces not allowed in ACL usernames\nCritical error while loading ACLs. Exiting."
                    .into(),
            );
        }
        let mut u = match srv.acl.user_by_name(name) {
            Some(existing) => {
                let mut u = existing.clone();
                let _ = u.apply(&srv.commands, b"reset", pubsub);
                u
            }
            None => User::new(name, pubsub),
        };
        let rules = merge_selector_args(&def[1..]).map_err(|i| {
            format!(
                "Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(&def[1 + i])
            )
        })?;
        for op in &rules {
            if let Err(e) = u.apply(&srv.commands, op, pubsub) {
                return Err(format!(
                    "Error loading ACL rule '{}' for the user named '{}': {}\nCritical error while loading ACLs. Exiting.",
                    String::from_utf8_lossy(op),
                    String::from_utf8_lossy(name),
                    e.message()
                ));
            }
        }
        if u.flags & super::uflags::DISABLED != 0 {
            crate::log_notice!("The user '{}' is disabled (there is no 'on' modifier in the user description). Make sure this is not a configuration error.", String::from_utf8_lossy(name));
        }
        srv.acl.put(u);
    }
    if !aclfile.is_empty() {
        load(srv, &aclfile, None)
            .map_err(|e| format!("Aborting Redis startup because of ACL errors: {}", e))?;
    }
    Ok(())
}

/// CONFIG REWRITE's `user` lines: every user, unless an ACL file holds them.
pub fn rewrite_lines(srv: &Server) -> Vec<String> {
    let aclfile = srv.config.other.get("aclfile").cloned().unwrap_or_default();
    if !aclfile.is_empty() {
        return Vec::new();
    }
    super::command::user_lines(srv)
}
