//! COMMAND and its subcommands (COUNT, LIST, INFO, DOCS, GETKEYS, GETKEYSANDFLAGS, HELP):
//! the command table described to clients in Redis 7.0's reply shapes.
//!
//! Only runnable commands are described: the table (`srv.commands`) holds the generated specs
//! that some group implements, so a command ferrodis lacks is as unknown here as when called.

use crate::client::Client;
use crate::commands::keyspec::{self, GetKeysError};
use crate::commands::spec::{acl, argflags, docflags, flags, keyflags, Arg, ArgType};
use crate::commands::spec::{BeginSearch, FindKeys};
use crate::commands::{errors, reply_help, CmdId, CmdProc, Command};
use crate::resp::ReplyBuf;
use crate::server::Server;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "command" => command_command,
        "command|count" => command_count_command,
        "command|list" => command_list_command,
        "command|info" => command_info_command,
        "command|docs" => command_docs_command,
        "command|getkeys" => command_getkeys_command,
        "command|getkeysandflags" => command_getkeysandflags_command,
        "command|help" => command_help_command,
        _ => return None,
    })
}

/// Command flags in the order (and with the names) COMMAND INFO shows them. Flags Redis keeps
/// hidden (may_replicate, sentinel, only_sentinel, protected, touches_arbitrary_keys) are absent.
const COMMAND_FLAG_NAMES: &[(u64, &str)] = &[
    (flags::WRITE, "write"),
    (flags::READONLY, "readonly"),
    (flags::DENYOOM, "denyoom"),
    (flags::MODULE, "module"),
    (flags::ADMIN, "admin"),
    (flags::PUBSUB, "pubsub"),
    (flags::NOSCRIPT, "noscript"),
    (flags::BLOCKING, "blocking"),
    (flags::LOADING, "loading"),
    (flags::STALE, "stale"),
    (flags::SKIP_MONITOR, "skip_monitor"),
    (flags::SKIP_SLOWLOG, "skip_slowlog"),
    (flags::ASKING, "asking"),
    (flags::FAST, "fast"),
    (flags::NO_AUTH, "no_auth"),
    (flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (flags::NO_ASYNC_LOADING, "no_async_loading"),
    (flags::NO_MULTI, "no_multi"),
    (flags::MOVABLE_KEYS, "movablekeys"),
    (flags::ALLOW_BUSY, "allow_busy"),
];

const KEY_FLAG_NAMES: &[(u64, &str)] = &[
    (keyflags::RO, "RO"),
    (keyflags::RW, "RW"),
    (keyflags::OW, "OW"),
    (keyflags::RM, "RM"),
    (keyflags::ACCESS, "access"),
    (keyflags::UPDATE, "update"),
    (keyflags::INSERT, "insert"),
    (keyflags::DELETE, "delete"),
    (keyflags::NOT_KEY, "not_key"),
    (keyflags::INCOMPLETE, "incomplete"),
    (keyflags::VARIABLE_FLAGS, "variable_flags"),
];

const DOC_FLAG_NAMES: &[(u64, &str)] = &[
    (docflags::DEPRECATED as u64, "deprecated"),
    (docflags::SYSCMD as u64, "syscmd"),
];

const ARG_FLAG_NAMES: &[(u64, &str)] = &[
    (argflags::OPTIONAL as u64, "optional"),
    (argflags::MULTIPLE as u64, "multiple"),
    (argflags::MULTIPLE_TOKEN as u64, "multiple_token"),
];

/// ACL categories by name, in Redis' order.
pub const ACL_CATEGORY_NAMES: &[(u64, &str)] = &[
    (acl::KEYSPACE, "keyspace"),
    (acl::READ, "read"),
    (acl::WRITE, "write"),
    (acl::SET, "set"),
    (acl::SORTEDSET, "sortedset"),
    (acl::LIST, "list"),
    (acl::HASH, "hash"),
    (acl::STRING, "string"),
    (acl::BITMAP, "bitmap"),
    (acl::HYPERLOGLOG, "hyperloglog"),
    (acl::GEO, "geo"),
    (acl::STREAM, "stream"),
    (acl::PUBSUB, "pubsub"),
    (acl::ADMIN, "admin"),
    (acl::FAST, "fast"),
    (acl::SLOW, "slow"),
    (acl::BLOCKING, "blocking"),
    (acl::DANGEROUS, "dangerous"),
    (acl::CONNECTION, "connection"),
    (acl::TRANSACTION, "transaction"),
    (acl::SCRIPTING, "scripting"),
];

/// A set of status replies, one per flag present.
fn reply_flags(out: &mut ReplyBuf, bits: u64, names: &[(u64, &str)]) {
    let present: Vec<&str> = names
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(present.len());
    for n in present {
        out.status(n);
    }
}

fn arg_type_name(t: ArgType) -> &'static str {
    match t {
        ArgType::String => "string",
        ArgType::Integer => "integer",
        ArgType::Double => "double",
        ArgType::Key => "key",
        ArgType::Pattern => "pattern",
        ArgType::UnixTime => "unix-time",
        ArgType::PureToken => "pure-token",
        ArgType::OneOf => "oneof",
        ArgType::Block => "block",
    }
}

/// Top-level commands in name order (Redis lists them in its hash table's order, which
/// clients cannot rely on; a stable order is friendlier).
fn top_level(srv: &Server) -> Vec<CmdId> {
    let mut ids: Vec<CmdId> = srv.commands.iter_top().collect();
    ids.sort_by(|a, b| {
        srv.commands.cmds[*a]
            .fullname
            .cmp(&srv.commands.cmds[*b].fullname)
    });
    ids
}

fn subcommands(cmd: &Command, srv: &Server) -> Vec<CmdId> {
    let mut ids: Vec<CmdId> = cmd.subcommands.values().copied().collect();
    ids.sort_by(|a, b| {
        srv.commands.cmds[*a]
            .fullname
            .cmp(&srv.commands.cmds[*b].fullname)
    });
    ids
}

/// One COMMAND INFO entry: name, arity, flags, first/last/step, ACL categories, tips, key
/// specs, subcommands.
fn reply_command_info(srv: &Server, out: &mut ReplyBuf, id: CmdId) {
    let cmd = &srv.commands.cmds[id];
    let spec = cmd.spec;
    let (first, last, step) = keyspec::legacy_range(spec);
    out.array(10);
    out.bulk(cmd.fullname.as_bytes());
    out.int(spec.arity as i64);
    reply_flags(out, cmd.flags, COMMAND_FLAG_NAMES);
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    let cats: Vec<&str> = ACL_CATEGORY_NAMES
        .iter()
        .filter(|(b, _)| cmd.acl_categories & b != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(cats.len());
    for n in cats {
        out.status(&format!("@{}", n));
    }
    out.set(spec.tips.len());
    for t in spec.tips {
        out.bulk(t.as_bytes());
    }
    reply_key_specs(out, spec);
    let subs = subcommands(cmd, srv);
    if subs.is_empty() {
        out.set(0);
    } else {
        out.array(subs.len());
        for s in subs {
            reply_command_info(srv, out, s);
        }
    }
}

fn reply_key_specs(out: &mut ReplyBuf, spec: &crate::commands::spec::CommandSpec) {
    out.set(spec.key_specs.len());
    for ks in spec.key_specs {
        let has_notes = !ks.notes.is_empty();
        out.map(3 + has_notes as usize);
        if has_notes {
            out.bulk(b"notes");
            out.bulk(ks.notes.as_bytes());
        }
        out.bulk(b"flags");
        reply_flags(out, ks.flags, KEY_FLAG_NAMES);
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        match ks.begin_search {
            BeginSearch::Unknown => {
                out.bulk(b"unknown");
                out.bulk(b"spec");
                out.map(0);
            }
            BeginSearch::Index(pos) => {
                out.bulk(b"index");
                out.bulk(b"spec");
                out.map(1);
                out.bulk(b"index");
                out.int(pos as i64);
            }
            BeginSearch::Keyword { keyword, startfrom } => {
                out.bulk(b"keyword");
                out.bulk(b"spec");
                out.map(2);
                out.bulk(b"keyword");
                out.bulk(keyword.as_bytes());
                out.bulk(b"startfrom");
                out.int(startfrom as i64);
            }
        }
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        match ks.find_keys {
            FindKeys::Unknown => {
                out.bulk(b"unknown");
                out.bulk(b"spec");
                out.map(0);
            }
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                out.bulk(b"range");
                out.bulk(b"spec");
                out.map(3);
                out.bulk(b"lastkey");
                out.int(lastkey as i64);
                out.bulk(b"keystep");
                out.int(keystep as i64);
                out.bulk(b"limit");
                out.int(limit as i64);
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                out.bulk(b"keynum");
                out.bulk(b"spec");
                out.map(3);
                out.bulk(b"keynumidx");
                out.int(keynumidx as i64);
                out.bulk(b"firstkey");
                out.int(firstkey as i64);
                out.bulk(b"keystep");
                out.int(keystep as i64);
            }
        }
    }
}

fn reply_args(out: &mut ReplyBuf, args: &[Arg]) {
    out.array(args.len());
    for a in args {
        let nested = matches!(a.kind, ArgType::OneOf | ArgType::Block);
        let len = 2
            + (a.key_spec_index != -1) as usize
            + !a.token.is_empty() as usize
            + !a.summary.is_empty() as usize
            + !a.since.is_empty() as usize
            + !a.deprecated_since.is_empty() as usize
            + (a.flags != 0) as usize
            + nested as usize;
        out.map(len);
        out.bulk(b"name");
        out.bulk(a.name.as_bytes());
        out.bulk(b"type");
        out.bulk(arg_type_name(a.kind).as_bytes());
        if a.key_spec_index != -1 {
            out.bulk(b"key_spec_index");
            out.int(a.key_spec_index as i64);
        }
        for (field, v) in [
            ("token", a.token),
            ("summary", a.summary),
            ("since", a.since),
            ("deprecated_since", a.deprecated_since),
        ] {
            if !v.is_empty() {
                out.bulk(field.as_bytes());
                out.bulk(v.as_bytes());
            }
        }
        if a.flags != 0 {
            out.bulk(b"flags");
            reply_flags(out, a.flags as u64, ARG_FLAG_NAMES);
        }
        if nested {
            out.bulk(b"arguments");
            reply_args(out, a.subargs);
        }
    }
}

/// One COMMAND DOCS entry (the map after the name).
fn reply_command_docs(srv: &Server, out: &mut ReplyBuf, id: CmdId) {
    let cmd = &srv.commands.cmds[id];
    let spec = cmd.spec;
    let has_subs = !cmd.subcommands.is_empty();
    let len = 1
        + !spec.summary.is_empty() as usize
        + !spec.since.is_empty() as usize
        + !spec.complexity.is_empty() as usize
        + (spec.doc_flags != 0) as usize
        + !spec.deprecated_since.is_empty() as usize
        + !spec.replaced_by.is_empty() as usize
        + !spec.history.is_empty() as usize
        + !spec.args.is_empty() as usize
        + has_subs as usize
        + cmd.module_cmd.is_some() as usize;
    out.map(len);
    if !spec.summary.is_empty() {
        out.bulk(b"summary");
        out.bulk(spec.summary.as_bytes());
    }
    if !spec.since.is_empty() {
        out.bulk(b"since");
        out.bulk(spec.since.as_bytes());
    }
    out.bulk(b"group");
    out.bulk(spec.group.as_bytes());
    if !spec.complexity.is_empty() {
        out.bulk(b"complexity");
        out.bulk(spec.complexity.as_bytes());
    }
    if let Some(mc) = cmd.module_cmd {
        out.bulk(b"module");
        // SAFETY: a command in the table belongs to a loaded module.
        out.bulk(unsafe { (*mc.module).name.as_bytes() });
    }
    if spec.doc_flags != 0 {
        out.bulk(b"doc_flags");
        reply_flags(out, spec.doc_flags as u64, DOC_FLAG_NAMES);
    }
    if !spec.deprecated_since.is_empty() {
        out.bulk(b"deprecated_since");
        out.bulk(spec.deprecated_since.as_bytes());
    }
    if !spec.replaced_by.is_empty() {
        out.bulk(b"replaced_by");
        out.bulk(spec.replaced_by.as_bytes());
    }
    if !spec.history.is_empty() {
        out.bulk(b"history");
        out.set(spec.history.len());
        for (since, change) in spec.history {
            out.array(2);
            out.bulk(since.as_bytes());
            out.bulk(change.as_bytes());
        }
    }
    if !spec.args.is_empty() {
        out.bulk(b"arguments");
        reply_args(out, spec.args);
    }
    if has_subs {
        out.bulk(b"subcommands");
        let subs = subcommands(cmd, srv);
        out.map(subs.len());
        for s in subs {
            out.bulk(srv.commands.cmds[s].fullname.as_bytes());
            reply_command_docs(srv, out, s);
        }
    }
}

fn command_command(srv: &mut Server, c: &mut Client) {
    let ids = top_level(srv);
    c.out.array(ids.len());
    for id in ids {
        reply_command_info(srv, &mut c.out, id);
    }
}

fn command_count_command(srv: &mut Server, c: &mut Client) {
    c.out.int(srv.commands.by_name.len() as i64);
}

enum ListFilter {
    /// Commands of the module of that name (any case).
    Module(Vec<u8>),
    AclCat(u64),
    Pattern(Vec<u8>),
}

fn command_list_command(srv: &mut Server, c: &mut Client) {
    let mut filter: Option<ListFilter> = None;
    let argc = c.argv.len();
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        if c.argv[i].eq_ignore_ascii_case(b"filterby") && more == 2 {
            let kind = c.argv[i + 1].to_ascii_lowercase();
            let arg = c.argv[i + 2].clone();
            filter = Some(match &kind[..] {
                b"module" => ListFilter::Module(arg),
                b"aclcat" => ListFilter::AclCat(
                    ACL_CATEGORY_NAMES
                        .iter()
                        .find(|(_, n)| arg.eq_ignore_ascii_case(n.as_bytes()))
                        .map_or(0, |(b, _)| *b),
                ),
                b"pattern" => ListFilter::Pattern(arg),
                _ => {
                    c.out.error(errors::SYNTAX);
                    return;
                }
            });
            i += 3;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for id in top_level(srv) {
        let cmd = &srv.commands.cmds[id];
        let mut ids = vec![id];
        ids.extend(subcommands(cmd, srv));
        for x in ids {
            let cmd = &srv.commands.cmds[x];
            let keep = match &filter {
                None => true,
                Some(ListFilter::Module(name)) => cmd.module_cmd.is_some_and(|mc| {
                    // SAFETY: a command in the table belongs to a loaded module.
                    unsafe { (*mc.module).name.as_bytes().eq_ignore_ascii_case(name) }
                }),
                Some(ListFilter::AclCat(cat)) => *cat != 0 && cmd.acl_categories & cat != 0,
                Some(ListFilter::Pattern(p)) => {
                    crate::util::glob_match(p, cmd.fullname.as_bytes(), true)
                }
            };
            if keep {
                names.push(&cmd.fullname);
            }
        }
    }
    c.out.array(names.len());
    for n in names {
        c.out.bulk(n.as_bytes());
    }
}

fn command_info_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() == 2 {
        let ids = top_level(srv);
        c.out.array(ids.len());
        for id in ids {
            reply_command_info(srv, &mut c.out, id);
        }
        return;
    }
    c.out.array(c.argv.len() - 2);
    for i in 2..c.argv.len() {
        match srv.commands.lookup_fullname(&c.argv[i]) {
            Some(id) => reply_command_info(srv, &mut c.out, id),
            None => c.out.null(),
        }
    }
}

fn command_docs_command(srv: &mut Server, c: &mut Client) {
    let ids: Vec<CmdId> = if c.argv.len() == 2 {
        top_level(srv)
    } else {
        (2..c.argv.len())
            .filter_map(|i| srv.commands.lookup_fullname(&c.argv[i]))
            .collect()
    };
    c.out.map(ids.len());
    for id in ids {
        c.out.bulk(srv.commands.cmds[id].fullname.as_bytes());
        reply_command_docs(srv, &mut c.out, id);
    }
}

fn getkeys(srv: &mut Server, c: &mut Client, with_flags: bool) {
    let argv = &c.argv[2..];
    let Some(id) = srv.commands.lookup(argv) else {
        c.out.error(GetKeysError::InvalidCommand.message());
        return;
    };
    let spec = srv.commands.cmds[id].spec;
    let found = if crate::module::getkeys::uses_api(&srv.commands.cmds[id]) {
        let argv = argv.to_vec();
        crate::module::getkeys::get_keys(srv, id, &argv)
    } else {
        keyspec::get_keys(spec, argv)
    };
    match found {
        Err(e) => c.out.error(e.message()),
        Ok(keys) => {
            let argv = c.argv[2..].to_vec();
            c.out.array(keys.len());
            for k in keys {
                if with_flags {
                    c.out.array(2);
                    c.out.bulk(&argv[k.pos]);
                    reply_flags(&mut c.out, k.flags, KEY_FLAG_NAMES);
                } else {
                    c.out.bulk(&argv[k.pos]);
                }
            }
        }
    }
}

fn command_getkeys_command(srv: &mut Server, c: &mut Client) {
    getkeys(srv, c, false);
}

fn command_getkeysandflags_command(srv: &mut Server, c: &mut Client) {
    getkeys(srv, c, true);
}

fn command_help_command(_srv: &mut Server, c: &mut Client) {
    reply_help(
        c,
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
}
