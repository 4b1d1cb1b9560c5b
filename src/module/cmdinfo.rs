//! RedisModule_SetCommandInfo: the documentation, arity, key specs and arguments a module gives
//! its command, read through the versioned `RedisModuleCommandInfo` (element sizes come from
//! the module's `RedisModuleCommandInfoVersion`, so modules built against older or newer
//! layouts are read correctly), validated as Redis 7.0 does, and turned into the command's
//! spec, which COMMAND INFO/DOCS then show like any other.

use std::ffi::{c_char, c_int};

use super::command::CmdHandle;
use super::ctx::{REDISMODULE_ERR, REDISMODULE_OK};
use crate::commands::spec::{flags, Arg, ArgType, BeginSearch, CommandSpec, FindKeys, KeySpec};

#[repr(C)]
struct InfoVersion {
    version: c_int,
    sizeof_historyentry: usize,
    sizeof_keyspec: usize,
    sizeof_arg: usize,
}

#[repr(C)]
struct HistoryEntry {
    since: *const c_char,
    changes: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct BsKeyword {
    keyword: *const c_char,
    startfrom: c_int,
}

#[repr(C)]
union Bs {
    index_pos: c_int,
    keyword: BsKeyword,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Three {
    a: c_int,
    b: c_int,
    c: c_int,
}

#[repr(C)]
struct RawKeySpec {
    notes: *const c_char,
    flags: u64,
    bs_type: c_int,
    bs: Bs,
    fk_type: c_int,
    fk: Three,
}

#[repr(C)]
struct RawArg {
    name: *const c_char,
    kind: c_int,
    key_spec_index: c_int,
    token: *const c_char,
    summary: *const c_char,
    since: *const c_char,
    flags: c_int,
    deprecated_since: *const c_char,
    subargs: *const u8,
}

#[repr(C)]
pub struct RawInfo {
    version: *const InfoVersion,
    summary: *const c_char,
    complexity: *const c_char,
    since: *const c_char,
    history: *const u8,
    tips: *const c_char,
    arity: c_int,
    key_specs: *const u8,
    args: *const u8,
}

const BS_UNKNOWN: c_int = 1;
const BS_INDEX: c_int = 2;
const BS_KEYWORD: c_int = 3;
const FK_OMITTED: c_int = 0;
const FK_UNKNOWN: c_int = 1;
const FK_RANGE: c_int = 2;
const FK_KEYNUM: c_int = 3;
const KEY_ACCESS_FLAGS: u64 = 0b1111; // RO RW OW RM
const KEY_WRITE_FLAGS: u64 = (1 << 5) | (1 << 6) | (1 << 7); // UPDATE INSERT DELETE
const ARG_TYPE_PURE_TOKEN: c_int = 6;
const ARG_TYPE_ONEOF: c_int = 7;
const ARG_TYPE_BLOCK: c_int = 8;

/// Element `i` of a module array whose element size is `size`.
///
/// # Safety
/// `base` points at an array of at least `i + 1` elements of `size` bytes, each starting with
/// the fields of `T` (a struct version may only append fields).
unsafe fn at<'a, T>(base: *const u8, size: usize, i: usize) -> &'a T {
    // SAFETY: per the contract above.
    unsafe { &*(base.add(i * size) as *const T) }
}

fn opt_str(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: a C string from the module's info.
        Some(String::from_utf8_lossy(unsafe { super::cstr(p) }).into_owned())
    }
}

fn leak(s: Option<String>) -> &'static str {
    match s {
        Some(s) => Box::leak(s.into_boxed_str()),
        None => "",
    }
}

fn arg_type(t: c_int) -> Option<ArgType> {
    Some(match t {
        0 => ArgType::String,
        1 => ArgType::Integer,
        2 => ArgType::Double,
        3 => ArgType::Key,
        4 => ArgType::Pattern,
        5 => ArgType::UnixTime,
        6 => ArgType::PureToken,
        7 => ArgType::OneOf,
        8 => ArgType::Block,
        _ => return None,
    })
}

fn invalid(msg: String) -> bool {
    crate::log_warning!("Invalid command info: {}", msg);
    false
}

/// Redis' moduleValidateCommandArgs.
///
/// # Safety
/// `args` is NULL or a NULL-name-terminated array of `v.sizeof_arg`-sized elements.
unsafe fn validate_args(args: *const u8, v: &InfoVersion) -> bool {
    if args.is_null() {
        return true;
    }
    let mut j = 0;
    loop {
        // SAFETY: per the contract above.
        let a: &RawArg = unsafe { at(args, v.sizeof_arg, j) };
        if a.name.is_null() {
            return true;
        }
        let name = opt_str(a.name).unwrap_or_default();
        if arg_type(a.kind).is_none() {
            return invalid(format!("Argument \"{}\": Undefined type {}", name, a.kind));
        }
        if a.kind == ARG_TYPE_PURE_TOKEN && a.token.is_null() {
            return invalid(format!(
                "Argument \"{}\": token required when type is PURE_TOKEN",
                name
            ));
        }
        let container = a.kind == ARG_TYPE_ONEOF || a.kind == ARG_TYPE_BLOCK;
        if container {
            // SAFETY: subargs follow the same layout.
            if a.subargs.is_null()
                || unsafe { at::<RawArg>(a.subargs, v.sizeof_arg, 0) }
                    .name
                    .is_null()
            {
                return invalid(format!(
                    "Argument \"{}\": at least one sub-argument required when type is ONEOF or BLOCK",
                    name
                ));
            }
            // SAFETY: as above.
            if !unsafe { validate_args(a.subargs, v) } {
                return false;
            }
        } else if !a.subargs.is_null() {
            return invalid(format!(
                "Argument \"{}\": subargs can only be used with type ONEOF or BLOCK",
                name
            ));
        }
        if a.flags & !0b111 != 0 {
            return invalid(format!("Argument \"{}\": Invalid flags", name));
        }
        j += 1;
    }
}

/// Redis' moduleValidateCommandInfo.
///
/// # Safety
/// `info` points at a module's command info, its arrays terminated as the API requires.
unsafe fn validate(info: &RawInfo) -> bool {
    if info.version.is_null() {
        return invalid("version missing".into());
    }
    // SAFETY: checked non-null; the module's version struct.
    let v = unsafe { &*info.version };
    if !info.history.is_null() {
        let mut j = 0;
        loop {
            // SAFETY: a since-NULL-terminated array.
            let h: &HistoryEntry = unsafe { at(info.history, v.sizeof_historyentry, j) };
            if h.since.is_null() {
                break;
            }
            if h.changes.is_null() {
                return invalid(format!("history[{}].changes missing", j));
            }
            j += 1;
        }
    }
    if !info.key_specs.is_null() {
        let mut j = 0;
        loop {
            // SAFETY: a begin_search_type-0-terminated array.
            let s: &RawKeySpec = unsafe { at(info.key_specs, v.sizeof_keyspec, j) };
            if s.bs_type == 0 {
                break;
            }
            if !(s.flags & KEY_ACCESS_FLAGS).is_power_of_two() {
                return invalid(format!(
                    "key_specs[{}].flags: Exactly one of the flags RO, RW, OW, RM required",
                    j
                ));
            }
            let w = s.flags & KEY_WRITE_FLAGS;
            if w != 0 && !w.is_power_of_two() {
                return invalid(format!(
                    "key_specs[{}].flags: INSERT, DELETE and UPDATE are mutually exclusive",
                    j
                ));
            }
            match s.bs_type {
                BS_UNKNOWN | BS_INDEX => {}
                // SAFETY: the keyword variant is the one in use for KEYWORD.
                BS_KEYWORD if unsafe { s.bs.keyword.keyword }.is_null() => {
                    return invalid(format!(
                        "key_specs[{}].bs.keyword.keyword required when begin_search_type is KEYWORD",
                        j
                    ));
                }
                BS_KEYWORD => {}
                t => {
                    return invalid(format!(
                        "key_specs[{}].begin_search_type: Invalid value {}",
                        j, t
                    ))
                }
            }
            if !matches!(s.fk_type, FK_OMITTED | FK_UNKNOWN | FK_RANGE | FK_KEYNUM) {
                return invalid(format!(
                    "key_specs[{}].find_keys_type: Invalid value {}",
                    j, s.fk_type
                ));
            }
            j += 1;
        }
    }
    // SAFETY: per the contract above.
    unsafe { validate_args(info.args, v) }
}

/// Copies module arguments into spec arguments (leaked: specs are `'static`).
///
/// # Safety
/// As for `validate_args`, after validation.
unsafe fn copy_args(args: *const u8, v: &InfoVersion) -> &'static [Arg] {
    let mut out = Vec::new();
    let mut j = 0;
    loop {
        // SAFETY: per the contract above.
        let a: &RawArg = unsafe { at(args, v.sizeof_arg, j) };
        if a.name.is_null() {
            break;
        }
        let subargs = if a.subargs.is_null() {
            &[][..]
        } else {
            // SAFETY: validated sub-arguments.
            unsafe { copy_args(a.subargs, v) }
        };
        out.push(Arg {
            name: leak(opt_str(a.name)),
            kind: arg_type(a.kind).unwrap_or(ArgType::String),
            key_spec_index: if a.kind == 3 { a.key_spec_index } else { -1 },
            token: leak(opt_str(a.token)),
            summary: leak(opt_str(a.summary)),
            since: leak(opt_str(a.since)),
            flags: a.flags as u32,
            deprecated_since: leak(opt_str(a.deprecated_since)),
            display_text: "",
            subargs,
        });
        j += 1;
    }
    Box::leak(out.into_boxed_slice())
}

unsafe extern "C" fn set_command_info(cmd: *mut CmdHandle, info: *const RawInfo) -> c_int {
    if cmd.is_null() || info.is_null() {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    }
    // SAFETY: a module's command info.
    let info = unsafe { &*info };
    // SAFETY: per the API contract (terminated arrays).
    if !unsafe { validate(info) } {
        super::set_errno(libc::EINVAL);
        return REDISMODULE_ERR;
    }
    // SAFETY: validated non-null.
    let v = unsafe { &*info.version };
    let Some(srv) = super::command::current_server() else {
        return REDISMODULE_ERR;
    };
    // SAFETY: handles live as long as their module.
    let id = unsafe { (*cmd).id };
    let old = srv.commands.cmds[id].spec;
    // Info may be set once, over the key spec CreateCommand derived from first/last/step.
    let legacy_only = old.key_specs.is_empty()
        || (old.key_specs.len() == 1
            && matches!(old.key_specs[0].begin_search, BeginSearch::Index(_))
            && matches!(old.key_specs[0].find_keys, FindKeys::Range { .. }));
    if !old.summary.is_empty()
        || !old.complexity.is_empty()
        || !old.since.is_empty()
        || !old.history.is_empty()
        || !old.tips.is_empty()
        || !old.args.is_empty()
        || !legacy_only
    {
        super::set_errno(libc::EEXIST);
        return REDISMODULE_ERR;
    }
    let mut history = Vec::new();
    if !info.history.is_null() {
        let mut j = 0;
        loop {
            // SAFETY: validated array.
            let h: &HistoryEntry = unsafe { at(info.history, v.sizeof_historyentry, j) };
            if h.since.is_null() {
                break;
            }
            history.push((leak(opt_str(h.since)), leak(opt_str(h.changes))));
            j += 1;
        }
    }
    let tips: Vec<&'static str> = opt_str(info.tips)
        .map(|t| t.split(' ').map(|s| leak(Some(s.to_string()))).collect())
        .unwrap_or_default();
    let key_specs: &'static [KeySpec] = if info.key_specs.is_null() {
        old.key_specs
    } else {
        let mut specs = Vec::new();
        let mut j = 0;
        loop {
            // SAFETY: validated array.
            let s: &RawKeySpec = unsafe { at(info.key_specs, v.sizeof_keyspec, j) };
            if s.bs_type == 0 {
                break;
            }
            // SAFETY: the union variant follows the type, as validated.
            let begin_search = unsafe {
                match s.bs_type {
                    BS_INDEX => BeginSearch::Index(s.bs.index_pos),
                    BS_KEYWORD => BeginSearch::Keyword {
                        keyword: leak(opt_str(s.bs.keyword.keyword)),
                        startfrom: s.bs.keyword.startfrom,
                    },
                    _ => BeginSearch::Unknown,
                }
            };
            let find_keys = match s.fk_type {
                // Omitted means a single key: range {0, 1, 0}.
                FK_OMITTED => FindKeys::Range {
                    lastkey: 0,
                    keystep: 1,
                    limit: 0,
                },
                FK_RANGE => FindKeys::Range {
                    lastkey: s.fk.a,
                    keystep: s.fk.b,
                    limit: s.fk.c,
                },
                FK_KEYNUM => FindKeys::Keynum {
                    keynumidx: s.fk.a,
                    firstkey: s.fk.b,
                    keystep: s.fk.c,
                },
                _ => FindKeys::Unknown,
            };
            specs.push(KeySpec {
                notes: leak(opt_str(s.notes)),
                // The API's key-spec bits are the server's.
                flags: s.flags & ((1 << 11) - 1),
                begin_search,
                find_keys,
            });
            j += 1;
        }
        Box::leak(specs.into_boxed_slice())
    };
    let args = if info.args.is_null() {
        old.args
    } else {
        // SAFETY: validated.
        unsafe { copy_args(info.args, v) }
    };
    let spec: &'static CommandSpec = Box::leak(Box::new(CommandSpec {
        name: old.name,
        summary: leak(opt_str(info.summary)),
        since: leak(opt_str(info.since)),
        group: old.group,
        complexity: leak(opt_str(info.complexity)),
        doc_flags: old.doc_flags,
        deprecated_since: old.deprecated_since,
        replaced_by: old.replaced_by,
        history: Box::leak(history.into_boxed_slice()),
        tips: Box::leak(tips.into_boxed_slice()),
        arity: if info.arity != 0 {
            info.arity
        } else {
            old.arity
        },
        flags: old.flags,
        acl_categories: old.acl_categories,
        key_specs,
        get_keys: old.get_keys,
        args,
        subcommands: old.subcommands,
    }));
    let c = &mut srv.commands.cmds[id];
    c.spec = spec;
    c.flags &= !flags::MOVABLE_KEYS;
    if crate::commands::keyspec::is_movable_keys(spec) || c.flags & flags::MODULE_GETKEYS != 0 {
        c.flags |= flags::MOVABLE_KEYS;
    }
    REDISMODULE_OK
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "SetCommandInfo" => set_command_info as unsafe extern "C" fn(*mut CmdHandle, *const RawInfo) -> c_int,
    ]
}
