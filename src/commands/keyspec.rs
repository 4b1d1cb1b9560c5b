//! Key-position logic derived from a command's [`CommandSpec`]: where the keys of a concrete
//! argument vector are, the legacy `(first, last, step)` triple and `movablekeys` flag that
//! `COMMAND INFO` reports, and the implicit ACL categories a command gets from its flags.
//!
//! Everything here is pure: it looks only at the spec and the arguments, never at server state.
//! The behaviour follows Redis 7.0 (`server.c` / `db.c`) closely, including its quirks, because
//! clients (cluster routers in particular) rely on `COMMAND GETKEYS` matching the real server.
//!
//! Argument vectors are the whole command line: `argv[0]` is the command name (and `argv[1]` the
//! subcommand name for container commands); key positions are indexes into that vector.

use super::spec::{acl, flags, keyflags, BeginSearch, CommandSpec, FindKeys, GetKeysProc, KeySpec};

/// One key found in an argument vector: its index in `argv` and the key-spec flags
/// (`keyflags::*`) that describe how the command uses it. Some extractors cannot tell and
/// report `0`, as Redis does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    pub pos: usize,
    pub flags: u64,
}

/// Why `COMMAND GETKEYS` / `COMMAND GETKEYSANDFLAGS` cannot list the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetKeysError {
    /// The named command does not exist. [`get_keys`] never returns this (it receives an already
    /// resolved spec); it is here so the caller's lookup failure maps to the right text too.
    InvalidCommand,
    /// The command never takes keys.
    NoKeyArguments,
    /// The argument count does not satisfy the command's arity.
    WrongArity,
    /// The arguments do not parse into any key (e.g. a bad `numkeys`).
    InvalidArguments,
}

impl GetKeysError {
    /// The error text Redis replies with (without the leading `ERR `).
    pub fn message(self) -> &'static str {
        match self {
            GetKeysError::InvalidCommand => "Invalid command specified",
            GetKeysError::NoKeyArguments => "The command has no key arguments",
            GetKeysError::WrongArity => "Invalid number of arguments specified for command",
            GetKeysError::InvalidArguments => "Invalid arguments specified for command",
        }
    }
}

/// Search flag for [`keys_from_specs`]: also report the "fake" keys of specs flagged
/// `NOT_KEY` (e.g. the shard channel of SPUBLISH).
pub const SEARCH_INCLUDE_NOT_KEYS: u32 = 1 << 0;
/// Search flag for [`keys_from_specs`]: skip specs that cannot be resolved (unknown, malformed,
/// incomplete) instead of failing, and return whatever the other specs found.
pub const SEARCH_RETURN_PARTIAL: u32 = 1 << 1;

/// The name ACL rules, `COMMAND INFO` and error messages use for a subcommand: `parent|sub`.
pub fn command_full_name(parent: &str, sub: &str) -> String {
    let mut s = String::with_capacity(parent.len() + 1 + sub.len());
    s.push_str(parent);
    s.push('|');
    s.push_str(sub);
    s
}

/// The ACL categories a command ends up in: the explicit ones plus those implied by its flags.
/// Every command that is not `@fast` is `@slow`.
pub fn implicit_acl_categories(cmd_flags: u64, explicit: u64) -> u64 {
    let mut cats = explicit;
    if cmd_flags & flags::WRITE != 0 {
        cats |= acl::WRITE;
    }
    // Scripting commands that only read are still not put in @read.
    if cmd_flags & flags::READONLY != 0 && explicit & acl::SCRIPTING == 0 {
        cats |= acl::READ;
    }
    if cmd_flags & flags::ADMIN != 0 {
        cats |= acl::ADMIN | acl::DANGEROUS;
    }
    if cmd_flags & flags::PUBSUB != 0 {
        cats |= acl::PUBSUB;
    }
    if cmd_flags & flags::FAST != 0 {
        cats |= acl::FAST;
    }
    if cmd_flags & flags::BLOCKING != 0 {
        cats |= acl::BLOCKING;
    }
    if cats & acl::FAST == 0 {
        cats |= acl::SLOW;
    }
    cats
}

/// A plain "keys from `first` to `lastkey` every `step`" description (the pre-7.0 model).
/// `lastkey` is relative to `first` when non-negative, and counts from the end of `argv` when
/// negative (`-1` = last argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LegacyRange {
    first: i32,
    lastkey: i32,
    step: i32,
}

/// `(pos, lastkey, keystep)` of a spec that starts at a fixed index and takes a range of keys
/// from there: the only kind the legacy model can express.
fn index_range(ks: &KeySpec) -> Option<(i32, i32, i32)> {
    let BeginSearch::Index(pos) = ks.begin_search else {
        return None;
    };
    match ks.find_keys {
        FindKeys::Range {
            lastkey, keystep, ..
        } => Some((pos, lastkey, keystep)),
        _ => None,
    }
}

/// Folds a command's key specs into one legacy range where possible, and decides whether the
/// command has "movable" keys, i.e. keys the legacy range cannot describe.
///
/// Only index-begin / range-find specs qualify. A single such spec is taken as is (whatever its
/// step). Several are glued together when each has step 1 and starts right after the previous
/// one ended; anything skipped makes the keys movable, as does an INCOMPLETE spec.
fn fold_legacy_range(spec: &CommandSpec) -> (Option<LegacyRange>, bool) {
    let mut movable = spec.flags & flags::MODULE_GETKEYS != 0;
    let specs = spec.key_specs;
    if specs.is_empty() {
        return (None, movable);
    }

    if specs.len() == 1 {
        if let Some((pos, lastkey, keystep)) = index_range(&specs[0]) {
            if specs[0].flags & keyflags::INCOMPLETE != 0 {
                movable = true;
            }
            let range = LegacyRange {
                first: pos,
                lastkey,
                step: keystep,
            };
            return (Some(range), movable);
        }
    }

    let mut first = i32::MAX;
    // The furthest key seen so far, as an absolute index, or negative when counted from the
    // end. Compared as unsigned so that a from-the-end position wins over any absolute one.
    let mut last: i32 = 0;
    let mut prev_last: i32 = 0;
    for ks in specs {
        let Some((pos, lastkey, keystep)) = index_range(ks) else {
            movable = true;
            continue;
        };
        if keystep != 1 || (prev_last != 0 && prev_last != pos.wrapping_sub(1)) {
            movable = true;
            continue;
        }
        if ks.flags & keyflags::INCOMPLETE != 0 {
            movable = true;
        }
        first = first.min(pos);
        let abs_last = if lastkey >= 0 {
            lastkey.wrapping_add(pos)
        } else {
            lastkey
        };
        if (abs_last as u32) > (last as u32) {
            last = abs_last;
        }
        prev_last = last;
    }

    if first == i32::MAX {
        return (None, true);
    }
    let range = LegacyRange {
        first,
        lastkey: if last < 0 { last } else { last - first },
        step: 1,
    };
    (Some(range), movable)
}

/// The `(first key, last key, step)` triple of `COMMAND INFO`. `last` is absolute, or negative
/// when counted from the end of the arguments. `(0, 0, 0)` when no legacy range exists.
pub fn legacy_range(spec: &CommandSpec) -> (i32, i32, i32) {
    match fold_legacy_range(spec).0 {
        None => (0, 0, 0),
        Some(r) => {
            let last = if r.lastkey >= 0 {
                r.lastkey + r.first
            } else {
                r.lastkey
            };
            (r.first, last, r.step)
        }
    }
}

/// Whether the command's keys cannot all be found from the legacy range alone
/// (`movablekeys` in `COMMAND INFO`).
pub fn is_movable_keys(spec: &CommandSpec) -> bool {
    fold_legacy_range(spec).1
}

/// The union of the flags of all key specs; with `inverted`, the union of their complements,
/// i.e. every flag that at least one spec lacks.
pub fn all_key_specs_flags(spec: &CommandSpec, inverted: bool) -> u64 {
    spec.key_specs.iter().fold(0, |acc, ks| {
        acc | if inverted { !ks.flags } else { ks.flags }
    })
}

/// Whether the command may take keys at all: it has its own extractor, a module key callback,
/// or at least one key spec that is not a fake (NOT_KEY) one.
pub fn does_command_have_keys(spec: &CommandSpec) -> bool {
    spec.get_keys.is_some()
        || spec.flags & flags::MODULE_GETKEYS != 0
        || all_key_specs_flags(spec, true) & keyflags::NOT_KEY != 0
}

/// `strcasecmp(arg, word) == 0` on a C string: the argument is read up to its first NUL byte.
fn c_eq_ignore_case(arg: &[u8], word: &str) -> bool {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    arg[..end].eq_ignore_ascii_case(word.as_bytes())
}

/// Strict integer parsing (no spaces, no `+`, no leading zeros), as Redis parses `numkeys`
/// arguments described by key specs.
fn parse_strict_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || neg) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

/// C `atoi` as glibc does it: leading white space, an optional sign, then digits up to the first
/// non-digit (or NUL); out-of-range values saturate to the `long` range before being truncated
/// to `int`. Garbage yields 0.
fn c_atoi(s: &[u8]) -> i32 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        let d = i64::from(s[i] - b'0');
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
        i += 1;
    }
    v as i32
}

/// Keys described by the command's key specs, like Redis's key-spec search.
///
/// Returns `None` when a spec cannot be resolved against these arguments (unknown spec, keyword
/// or count out of range, unparsable `numkeys`, or an INCOMPLETE spec) unless
/// [`SEARCH_RETURN_PARTIAL`] is given, in which case such specs are skipped. Specs flagged
/// NOT_KEY are skipped unless [`SEARCH_INCLUDE_NOT_KEYS`] is given.
pub fn keys_from_specs<A: AsRef<[u8]>>(
    spec: &CommandSpec,
    argv: &[A],
    search_flags: u32,
) -> Option<Vec<KeyRef>> {
    let argc = argv.len() as i64;
    let partial = search_flags & SEARCH_RETURN_PARTIAL != 0;
    let mut keys = Vec::new();

    for ks in spec.key_specs {
        if ks.flags & keyflags::NOT_KEY != 0 && search_flags & SEARCH_INCLUDE_NOT_KEYS == 0 {
            continue;
        }
        match resolve_spec(ks, argv, argc) {
            Some(None) => continue,
            Some(Some((first, last, step))) => {
                let mut i = first;
                while i <= last {
                    keys.push(KeyRef {
                        pos: i as usize,
                        flags: ks.flags,
                    });
                    i += step;
                }
                // An incomplete spec still contributes its keys to a partial search.
                if ks.flags & keyflags::INCOMPLETE != 0 && !partial {
                    return None;
                }
            }
            None if partial => continue,
            None => return None,
        }
    }
    Some(keys)
}

/// The `(first, last, step)` key positions one spec designates in `argv`: `None` if the spec
/// cannot be applied to these arguments, `Some(None)` if its keyword is absent (which is not an
/// error: the spec simply designates no key).
fn resolve_spec<A: AsRef<[u8]>>(
    ks: &KeySpec,
    argv: &[A],
    argc: i64,
) -> Option<Option<(i64, i64, i64)>> {
    let first: i64 = match ks.begin_search {
        BeginSearch::Index(pos) => i64::from(pos),
        BeginSearch::Keyword { keyword, startfrom } => {
            // Scan forwards from `startfrom` up to (not including) the last argument, or
            // backwards from `argc + startfrom` down to (not including) argument 1.
            let startfrom = i64::from(startfrom);
            let (start, end) = if startfrom > 0 {
                (startfrom, argc - 1)
            } else {
                (argc + startfrom, 1)
            };
            let mut found = 0;
            let mut i = start;
            while i != end {
                if i >= argc || i < 1 {
                    break;
                }
                if c_eq_ignore_case(argv[i as usize].as_ref(), keyword) {
                    found = i + 1;
                    break;
                }
                i += if start <= end { 1 } else { -1 };
            }
            if found == 0 {
                return Some(None);
            }
            found
        }
        BeginSearch::Unknown => return None,
    };

    let (first, last, step) = match ks.find_keys {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            let lastkey = i64::from(lastkey);
            let last = if lastkey >= 0 {
                first + lastkey
            } else if limit == 0 {
                argc + lastkey
            } else {
                // Only "-1 with a limit" is meaningful: the remaining arguments are split in
                // `limit` equal parts and the keys are the first part.
                first + ((argc - first) / i64::from(limit) + lastkey)
            };
            (first, last, i64::from(keystep))
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            let idx = first + i64::from(keynumidx);
            if i64::from(keynumidx) >= argc || idx < 0 || idx >= argc {
                return None;
            }
            let numkeys = parse_strict_i64(argv[idx as usize].as_ref())?;
            if numkeys < 0 {
                return None;
            }
            // Redis narrows the count to an int; a count beyond that range wraps.
            let numkeys = i64::from(numkeys as i32);
            let first = first + i64::from(firstkey);
            (first, first + numkeys - 1, i64::from(keystep))
        }
        FindKeys::Unknown => return None,
    };

    if last >= argc || last < first || first >= argc || first < 0 || step <= 0 {
        return None;
    }
    Some(Some((first, last, step)))
}

/// The keys of a command as Redis's spec-aware lookup finds them (used for ACL key checks and
/// `COMMAND GETKEYS`): the key specs when they are complete and their flags fixed, otherwise
/// the command's own extractor. An empty result means "no keys found".
///
/// Module commands with their own key callback (`MODULE_GETKEYS`) are not handled here; the
/// caller has to ask the module.
pub fn keys_with_specs<A: AsRef<[u8]>>(
    spec: &CommandSpec,
    argv: &[A],
    search_flags: u32,
) -> Vec<KeyRef> {
    let has_real_spec = all_key_specs_flags(spec, true) & keyflags::NOT_KEY != 0;
    let has_variable_flags = all_key_specs_flags(spec, false) & keyflags::VARIABLE_FLAGS != 0;
    if has_real_spec && !has_variable_flags {
        if let Some(keys) = keys_from_specs(spec, argv, search_flags) {
            return keys;
        }
    }
    match spec.get_keys {
        Some(p) => run_get_keys_proc(p, argv),
        None => Vec::new(),
    }
}

/// The keys of a command the pre-7.0 way (used by cluster routing and client tracking): the
/// command's own extractor if it has one, otherwise the legacy `(first, last, step)` range,
/// with no key flags. If the arguments are too few for the range, no keys are returned.
pub fn keys_legacy<A: AsRef<[u8]>>(spec: &CommandSpec, argv: &[A]) -> Vec<KeyRef> {
    if let Some(p) = spec.get_keys {
        return run_get_keys_proc(p, argv);
    }
    let r = match fold_legacy_range(spec).0 {
        Some(r) => r,
        None => return Vec::new(),
    };
    let argc = argv.len() as i64;
    let first = i64::from(r.first);
    let mut last = i64::from(r.lastkey);
    if last >= 0 {
        last += first;
    } else {
        last += argc;
    }
    let step = i64::from(r.step);
    if step <= 0 {
        return Vec::new();
    }
    let mut keys = Vec::new();
    let mut j = first;
    while j <= last {
        if j >= argc || j < first {
            // Too few arguments: the command itself will report the arity/syntax error.
            return Vec::new();
        }
        keys.push(KeyRef {
            pos: j as usize,
            flags: 0,
        });
        j += step;
    }
    keys
}

/// `COMMAND GETKEYS` semantics: the keys of `argv` for an already resolved command `spec`,
/// or the reason none can be given.
pub fn get_keys<A: AsRef<[u8]>>(
    spec: &CommandSpec,
    argv: &[A],
) -> Result<Vec<KeyRef>, GetKeysError> {
    if !does_command_have_keys(spec) {
        return Err(GetKeysError::NoKeyArguments);
    }
    let argc = argv.len() as i64;
    let arity = i64::from(spec.arity);
    if (arity > 0 && arity != argc) || argc < -arity {
        return Err(GetKeysError::WrongArity);
    }
    let keys = keys_with_specs(spec, argv, 0);
    if keys.is_empty() && spec.flags & flags::NO_MANDATORY_KEYS == 0 {
        return Err(GetKeysError::InvalidArguments);
    }
    Ok(keys)
}

/// Runs one of the hand-written key extractors. These never fail; arguments they cannot make
/// sense of give no keys, leaving the error to the command itself.
pub fn run_get_keys_proc<A: AsRef<[u8]>>(proc_: GetKeysProc, argv: &[A]) -> Vec<KeyRef> {
    match proc_ {
        GetKeysProc::Set => set_keys(argv),
        GetKeysProc::Bitfield => bitfield_keys(argv),
        GetKeysProc::Sort => sort_keys(argv),
        GetKeysProc::SortRo => vec![KeyRef {
            pos: 1,
            flags: keyflags::RO | keyflags::ACCESS,
        }],
        GetKeysProc::Migrate => migrate_keys(argv),
        GetKeysProc::Georadius => georadius_keys(argv),
        GetKeysProc::Xread => xread_keys(argv),
        // EVAL script numkeys key... / FCALL function numkeys key...
        GetKeysProc::Eval | GetKeysProc::Function => numkeys_keys(argv, None, 2, 3),
        // SINTERCARD / ZINTER / ZUNION / ZDIFF / ZINTERCARD numkeys key...
        GetKeysProc::Sintercard | GetKeysProc::ZunionInterDiff => numkeys_keys(argv, None, 1, 2),
        // ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE dest numkeys key...
        GetKeysProc::ZunionInterDiffStore => numkeys_keys(argv, Some(1), 2, 3),
        // LMPOP / ZMPOP numkeys key...
        GetKeysProc::Lmpop | GetKeysProc::Zmpop => numkeys_keys(argv, None, 1, 2),
        // BLMPOP / BZMPOP timeout numkeys key... (the reference uses one extractor for both)
        GetKeysProc::Blmpop => numkeys_keys(argv, None, 2, 3),
    }
}

/// `[dest] numkeys key [key ...]`: `count_at` holds the count (read leniently, like `atoi`),
/// keys start at `first_at`, the optional destination key comes last in the result. A count
/// below 1 or beyond the arguments gives no keys at all.
fn numkeys_keys<A: AsRef<[u8]>>(
    argv: &[A],
    dest_at: Option<usize>,
    count_at: usize,
    first_at: usize,
) -> Vec<KeyRef> {
    let argc = argv.len() as i64;
    let Some(count_arg) = argv.get(count_at) else {
        return Vec::new();
    };
    let num = i64::from(c_atoi(count_arg.as_ref()));
    if num < 1 || num > (argc - first_at as i64) {
        return Vec::new();
    }
    let mut keys: Vec<KeyRef> = (0..num as usize)
        .map(|i| KeyRef {
            pos: first_at + i,
            flags: 0,
        })
        .collect();
    if let Some(d) = dest_at {
        keys.push(KeyRef { pos: d, flags: 0 });
    }
    keys
}

/// SET key value [... GET ...]: the key is read as well as overwritten when GET is present.
fn set_keys<A: AsRef<[u8]>>(argv: &[A]) -> Vec<KeyRef> {
    let has_get = argv
        .iter()
        .skip(3)
        .any(|a| c_eq_ignore_case(a.as_ref(), "get"));
    let flags = if has_get {
        keyflags::RW | keyflags::ACCESS | keyflags::UPDATE
    } else {
        keyflags::OW | keyflags::UPDATE
    };
    vec![KeyRef { pos: 1, flags }]
}

/// BITFIELD key [GET ...] [SET ...] [INCRBY ...] [OVERFLOW ...]: read-only when it only has
/// complete GET (and OVERFLOW) operations; anything else, even a syntax error, counts as a write.
fn bitfield_keys<A: AsRef<[u8]>>(argv: &[A]) -> Vec<KeyRef> {
    let argc = argv.len();
    let mut readonly = true;
    let mut i = 2;
    while i < argc {
        let remaining = argc - i - 1;
        let arg = argv[i].as_ref();
        if c_eq_ignore_case(arg, "get") && remaining >= 2 {
            i += 2;
        } else if (c_eq_ignore_case(arg, "set") || c_eq_ignore_case(arg, "incrby"))
            && remaining >= 3
        {
            readonly = false;
            break;
        } else if c_eq_ignore_case(arg, "overflow") && remaining >= 1 {
            i += 1;
        } else {
            readonly = false;
            break;
        }
        i += 1;
    }
    let flags = if readonly {
        keyflags::RO | keyflags::ACCESS
    } else {
        keyflags::RW | keyflags::ACCESS | keyflags::UPDATE
    };
    vec![KeyRef { pos: 1, flags }]
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// [STORE destination]: the sorted key, plus the last STORE destination if any. Options are
/// skipped with their arguments so that an option value spelled "store" is not mistaken for
/// the keyword. (Keys read through BY/GET patterns cannot be known from the arguments.)
fn sort_keys<A: AsRef<[u8]>>(argv: &[A]) -> Vec<KeyRef> {
    let argc = argv.len();
    let mut keys = vec![KeyRef {
        pos: 1,
        flags: keyflags::RO | keyflags::ACCESS,
    }];
    let mut store = None;
    let mut i = 2;
    while i < argc {
        let arg = argv[i].as_ref();
        if c_eq_ignore_case(arg, "limit") {
            i += 2;
        } else if c_eq_ignore_case(arg, "store") && i + 1 < argc {
            store = Some(i + 1);
        } else if c_eq_ignore_case(arg, "get") || c_eq_ignore_case(arg, "by") {
            i += 1;
        }
        i += 1;
    }
    if let Some(pos) = store {
        keys.push(KeyRef {
            pos,
            flags: keyflags::OW | keyflags::UPDATE,
        });
    }
    keys
}

/// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw]
/// [KEYS key ...]: either the single key argument, or (when it is empty) every argument after
/// KEYS. A non-empty key together with KEYS is a syntax error and gives no keys.
fn migrate_keys<A: AsRef<[u8]>>(argv: &[A]) -> Vec<KeyRef> {
    let argc = argv.len();
    let mut first = 3;
    let mut num = 1;
    if argc > 6 {
        let mut i = 6;
        while i < argc {
            let arg = argv[i].as_ref();
            if c_eq_ignore_case(arg, "keys") {
                if !argv[3].as_ref().is_empty() {
                    num = 0;
                } else {
                    first = i + 1;
                    num = argc - first;
                }
                break;
            }
            if c_eq_ignore_case(arg, "auth") {
                i += 1;
            } else if c_eq_ignore_case(arg, "auth2") {
                i += 2;
            }
            i += 1;
        }
    }
    (first..first + num)
        .map(|pos| KeyRef {
            pos,
            flags: keyflags::RW | keyflags::ACCESS | keyflags::DELETE,
        })
        .collect()
}

/// GEORADIUS key lon lat radius unit ... / GEORADIUSBYMEMBER key member radius unit ...:
/// the source key plus the destination of the last STORE or STOREDIST option.
fn georadius_keys<A: AsRef<[u8]>>(argv: &[A]) -> Vec<KeyRef> {
    let argc = argv.len();
    let mut stored = None;
    let mut i = 5;
    while i < argc {
        let arg = argv[i].as_ref();
        if (c_eq_ignore_case(arg, "store") || c_eq_ignore_case(arg, "storedist")) && i + 1 < argc {
            stored = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    let mut keys = vec![KeyRef { pos: 1, flags: 0 }];
    if let Some(pos) = stored {
        keys.push(KeyRef { pos, flags: 0 });
    }
    keys
}

/// XREAD [COUNT n] [BLOCK ms] STREAMS key... id... / XREADGROUP GROUP g c [COUNT n] [BLOCK ms]
/// [NOACK] STREAMS key... id...: the first half of what follows STREAMS. Options are skipped
/// with their arguments, so a group or consumer named "streams" is not taken for the keyword.
fn xread_keys<A: AsRef<[u8]>>(argv: &[A]) -> Vec<KeyRef> {
    let argc = argv.len();
    let mut streams_pos = None;
    let mut i = 1;
    while i < argc {
        let arg = argv[i].as_ref();
        if c_eq_ignore_case(arg, "block") || c_eq_ignore_case(arg, "count") {
            i += 1;
        } else if c_eq_ignore_case(arg, "group") {
            i += 2;
        } else if c_eq_ignore_case(arg, "noack") {
            // no argument
        } else if c_eq_ignore_case(arg, "streams") {
            streams_pos = Some(i);
            break;
        } else {
            break;
        }
        i += 1;
    }
    let Some(sp) = streams_pos else {
        return Vec::new();
    };
    let rest = argc - sp - 1;
    if rest == 0 || !rest.is_multiple_of(2) {
        return Vec::new();
    }
    (sp + 1..sp + 1 + rest / 2)
        .map(|pos| KeyRef { pos, flags: 0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::spec::{FindKeys, GetKeysProc};
    use super::super::table::COMMANDS;
    use super::*;

    fn cmd(name: &str) -> &'static CommandSpec {
        let mut parts = name.split('|');
        let top = parts.next().unwrap();
        let mut c = COMMANDS
            .iter()
            .find(|c| c.name == top)
            .unwrap_or_else(|| panic!("no command {top}"));
        if let Some(sub) = parts.next() {
            c = c
                .subcommands
                .iter()
                .find(|c| c.name == sub)
                .unwrap_or_else(|| panic!("no subcommand {name}"));
        }
        c
    }

    fn positions(keys: &[KeyRef]) -> Vec<usize> {
        keys.iter().map(|k| k.pos).collect()
    }

    fn getkeys(line: &str) -> Result<Vec<usize>, GetKeysError> {
        let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let name = std::str::from_utf8(argv[0]).unwrap().to_ascii_lowercase();
        let mut spec = cmd(&name);
        if !spec.subcommands.is_empty() && argv.len() > 1 {
            let sub = std::str::from_utf8(argv[1]).unwrap().to_ascii_lowercase();
            spec = cmd(&command_full_name(&name, &sub));
        }
        get_keys(spec, &argv).map(|k| positions(&k))
    }

    fn getkeys_flags(line: &str) -> Vec<(usize, u64)> {
        let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let name = std::str::from_utf8(argv[0]).unwrap().to_ascii_lowercase();
        get_keys(cmd(&name), &argv)
            .unwrap()
            .iter()
            .map(|k| (k.pos, k.flags))
            .collect()
    }

    #[test]
    fn table_shape() {
        assert!(COMMANDS.windows(2).all(|w| w[0].name < w[1].name));
        for c in COMMANDS {
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert!(c.subcommands.windows(2).all(|w| w[0].name < w[1].name));
            assert!(c.flags & flags::ONLY_SENTINEL == 0, "{}", c.name);
        }
        assert!(COMMANDS.iter().all(|c| c.name != "sentinel"));
        let config = cmd("config");
        assert_eq!(cmd("config|get").group, config.group);
        assert_eq!(cmd("get").arity, 2);
        assert_eq!(cmd("set").get_keys, Some(GetKeysProc::Set));
        assert_eq!(
            cmd("keys").tips,
            &["request_policy:all_shards", "nondeterministic_output_order"]
        );
    }

    #[test]
    fn full_name() {
        assert_eq!(command_full_name("config", "get"), "config|get");
        assert_eq!(command_full_name("client", "no-evict"), "client|no-evict");
    }

    #[test]
    fn legacy_ranges_match_redis() {
        let cases: &[(&str, (i32, i32, i32), bool)] = &[
            ("get", (1, 1, 1), false),
            ("set", (1, 1, 1), false),
            ("mset", (1, -1, 2), false),
            ("msetnx", (1, -1, 2), false),
            ("del", (1, -1, 1), false),
            ("blpop", (1, -2, 1), false),
            ("smove", (1, 2, 1), false),
            ("rename", (1, 2, 1), false),
            ("lmove", (1, 2, 1), false),
            ("zunionstore", (1, 1, 1), true),
            ("zunion", (0, 0, 0), true),
            ("xread", (0, 0, 0), true),
            ("xreadgroup", (0, 0, 0), true),
            ("sort", (1, 1, 1), true),
            ("sort_ro", (1, 1, 1), true),
            ("eval", (0, 0, 0), true),
            ("fcall", (0, 0, 0), true),
            ("migrate", (3, 3, 1), true),
            ("georadius", (1, 1, 1), true),
            ("lmpop", (0, 0, 0), true),
            ("ping", (0, 0, 0), false),
            ("object|encoding", (2, 2, 1), false),
            ("memory|usage", (2, 2, 1), false),
            ("config|get", (0, 0, 0), false),
            ("spublish", (1, 1, 1), false),
            ("bitop", (2, -1, 1), false),
        ];
        for &(name, range, movable) in cases {
            let c = cmd(name);
            assert_eq!(legacy_range(c), range, "{name}");
            assert_eq!(is_movable_keys(c), movable, "{name}");
        }
    }

    #[test]
    fn implicit_categories() {
        let cats = |n: &str| {
            let c = cmd(n);
            implicit_acl_categories(c.flags, c.acl_categories)
        };
        assert_eq!(cats("get"), acl::STRING | acl::READ | acl::FAST);
        assert_eq!(cats("set"), acl::STRING | acl::WRITE | acl::SLOW);
        assert_eq!(cats("eval_ro"), acl::SCRIPTING | acl::SLOW);
        assert_eq!(
            cats("blpop"),
            acl::LIST | acl::WRITE | acl::BLOCKING | acl::SLOW
        );
        assert_eq!(cats("config|set"), acl::ADMIN | acl::DANGEROUS | acl::SLOW);
        assert_eq!(cats("publish"), acl::PUBSUB | acl::FAST);
        assert_eq!(implicit_acl_categories(0, 0), acl::SLOW);
    }

    #[test]
    fn simple_and_ranged_keys() {
        assert_eq!(getkeys("get k"), Ok(vec![1]));
        assert_eq!(getkeys("mset a 1 b 2"), Ok(vec![1, 3]));
        assert_eq!(getkeys("del a b c"), Ok(vec![1, 2, 3]));
        assert_eq!(getkeys("blpop a b 0"), Ok(vec![1, 2]));
        assert_eq!(getkeys("smove a b m"), Ok(vec![1, 2]));
        assert_eq!(getkeys("object encoding k"), Ok(vec![2]));
        assert_eq!(getkeys("memory usage k samples 5"), Ok(vec![2]));
    }

    #[test]
    fn getkeys_errors() {
        assert_eq!(getkeys("ping"), Err(GetKeysError::NoKeyArguments));
        assert_eq!(getkeys("config get x"), Err(GetKeysError::NoKeyArguments));
        // Only a NOT_KEY spec: the shard channel is not a key.
        assert_eq!(
            getkeys("spublish ch msg"),
            Err(GetKeysError::NoKeyArguments)
        );
        assert_eq!(getkeys("get a b"), Err(GetKeysError::WrongArity));
        assert_eq!(getkeys("zunionstore d 1"), Err(GetKeysError::WrongArity));
        assert_eq!(
            getkeys("zunionstore d 0 a"),
            Err(GetKeysError::InvalidArguments)
        );
        assert_eq!(
            getkeys("zunionstore d x a"),
            Err(GetKeysError::InvalidArguments)
        );
        assert_eq!(
            getkeys("zunionstore d 3 a b"),
            Err(GetKeysError::InvalidArguments)
        );
        assert_eq!(
            getkeys("lmpop 0 a left"),
            Err(GetKeysError::InvalidArguments)
        );
        assert_eq!(getkeys("xread streams"), Err(GetKeysError::WrongArity));
        assert_eq!(
            getkeys("xread count 1 a b"),
            Err(GetKeysError::InvalidArguments)
        );
        assert_eq!(
            GetKeysError::InvalidArguments.message(),
            "Invalid arguments specified for command"
        );
        assert_eq!(
            GetKeysError::NoKeyArguments.message(),
            "The command has no key arguments"
        );
    }

    #[test]
    fn set_flags_depend_on_get() {
        let ow = keyflags::OW | keyflags::UPDATE;
        let rw = keyflags::RW | keyflags::ACCESS | keyflags::UPDATE;
        assert_eq!(getkeys_flags("set k v"), vec![(1, ow)]);
        assert_eq!(getkeys_flags("set k v ex 10"), vec![(1, ow)]);
        assert_eq!(getkeys_flags("set k v nx GeT"), vec![(1, rw)]);
        // The value itself is not an option.
        assert_eq!(getkeys_flags("set k get"), vec![(1, ow)]);
    }

    #[test]
    fn bitfield_flags() {
        let ro = keyflags::RO | keyflags::ACCESS;
        let rw = keyflags::RW | keyflags::ACCESS | keyflags::UPDATE;
        assert_eq!(getkeys_flags("bitfield k get u8 0"), vec![(1, ro)]);
        assert_eq!(
            getkeys_flags("bitfield k overflow sat get u8 0"),
            vec![(1, ro)]
        );
        assert_eq!(
            getkeys_flags("bitfield k get u8 0 set u8 0 1"),
            vec![(1, rw)]
        );
        assert_eq!(getkeys_flags("bitfield k get u8"), vec![(1, rw)]);
        assert_eq!(getkeys_flags("bitfield k"), vec![(1, ro)]);
    }

    #[test]
    fn numkeys_commands() {
        assert_eq!(
            getkeys("zunionstore d 2 a b weights 1 2"),
            Ok(vec![1, 3, 4])
        );
        assert_eq!(getkeys("zinterstore d 1 a"), Ok(vec![1, 3]));
        assert_eq!(getkeys("zunion 2 a b withscores"), Ok(vec![2, 3]));
        assert_eq!(getkeys("zdiff 1 a"), Ok(vec![2]));
        assert_eq!(getkeys("sintercard 2 a b limit 1"), Ok(vec![2, 3]));
        assert_eq!(getkeys("zintercard 2 a b"), Ok(vec![2, 3]));
        assert_eq!(getkeys("lmpop 2 a b left count 1"), Ok(vec![2, 3]));
        assert_eq!(getkeys("blmpop 0 2 a b left"), Ok(vec![3, 4]));
        assert_eq!(getkeys("zmpop 1 a min"), Ok(vec![2]));
        assert_eq!(getkeys("bzmpop 1.5 1 a max"), Ok(vec![3]));
        // The specs parse numkeys strictly; the fallback extractor reads it like atoi and lists
        // the destination last.
        assert_eq!(getkeys("zunionstore d 1abc a"), Ok(vec![3, 1]));
        assert_eq!(getkeys("zunionstore d +1 a"), Ok(vec![3, 1]));
    }

    #[test]
    fn eval_and_fcall() {
        assert_eq!(getkeys("eval s 2 a b c"), Ok(vec![3, 4]));
        assert_eq!(getkeys("evalsha_ro sha 1 a"), Ok(vec![3]));
        assert_eq!(getkeys("fcall f 1 a x"), Ok(vec![3]));
        assert_eq!(getkeys("fcall_ro f 2 a b"), Ok(vec![3, 4]));
        // No keys is fine for scripts (NO_MANDATORY_KEYS), even with a bogus count.
        assert_eq!(getkeys("eval s 0"), Ok(vec![]));
        assert_eq!(getkeys("eval s 3 a"), Ok(vec![]));
        assert_eq!(getkeys("eval s -1 a"), Ok(vec![]));
        let flags = getkeys_flags("eval s 1 a");
        assert_eq!(
            flags,
            vec![(3, keyflags::RW | keyflags::ACCESS | keyflags::UPDATE)]
        );
    }

    #[test]
    fn xread_keys_and_limit() {
        assert_eq!(getkeys("xread count 2 streams a b 0 0"), Ok(vec![4, 5]));
        assert_eq!(getkeys("xread streams a 0"), Ok(vec![2]));
        assert_eq!(
            getkeys("xread block 0 streams a b c 1 2 3"),
            Ok(vec![4, 5, 6])
        );
        // A stream named like the keyword: the spec takes the first STREAMS after index 1.
        assert_eq!(getkeys("xread streams streams x 0 0"), Ok(vec![2, 3]));
        assert_eq!(
            getkeys("xreadgroup group g c count 1 streams s 0"),
            Ok(vec![7])
        );
        assert_eq!(
            getkeys("xreadgroup group g c streams a b > >"),
            Ok(vec![5, 6])
        );
        // Unbalanced ids: the spec rounds down, like Redis.
        assert_eq!(getkeys("xread streams a b 0"), Ok(vec![2]));
        // The extractor on its own (used when a command lacks usable specs).
        let argv: Vec<&[u8]> = ["xread", "count", "streams", "streams", "a", "0"]
            .iter()
            .map(|s| s.as_bytes())
            .collect();
        assert_eq!(
            positions(&run_get_keys_proc(GetKeysProc::Xread, &argv)),
            vec![4]
        );
        let argv: Vec<&[u8]> = ["xread", "streams", "a", "b", "0"]
            .iter()
            .map(|s| s.as_bytes())
            .collect();
        assert!(run_get_keys_proc(GetKeysProc::Xread, &argv).is_empty());
    }

    #[test]
    fn sort_store() {
        let ro = keyflags::RO | keyflags::ACCESS;
        let ow = keyflags::OW | keyflags::UPDATE;
        assert_eq!(getkeys_flags("sort k"), vec![(1, ro)]);
        assert_eq!(
            getkeys_flags("sort k by w_* get o_* store d limit 0 1"),
            vec![(1, ro), (7, ow)]
        );
        // The last STORE wins; an option value named "store" is skipped over.
        assert_eq!(getkeys("sort k store a store b"), Ok(vec![1, 5]));
        assert_eq!(getkeys("sort k get store"), Ok(vec![1]));
        assert_eq!(getkeys("sort k limit store store 1"), Ok(vec![1]));
        assert_eq!(getkeys("sort k store"), Ok(vec![1]));
        assert_eq!(getkeys_flags("sort_ro k by x get y"), vec![(1, ro)]);
    }

    #[test]
    fn migrate_forms() {
        let f = keyflags::RW | keyflags::ACCESS | keyflags::DELETE;
        assert_eq!(getkeys_flags("migrate h 6379 k 0 100"), vec![(3, f)]);
        assert_eq!(getkeys("migrate h 6379 k 0 100 copy replace"), Ok(vec![3]));
        let argv: Vec<&[u8]> = vec![
            b"migrate", b"h", b"6379", b"", b"0", b"100", b"auth", b"keys", b"keys", b"a", b"b",
        ];
        // AUTH's password ("keys") is skipped; the real KEYS follows it.
        assert_eq!(
            positions(&get_keys(cmd("migrate"), &argv).unwrap()),
            vec![9, 10]
        );
        let argv: Vec<&[u8]> = vec![
            b"migrate", b"h", b"6379", b"", b"0", b"100", b"auth2", b"u", b"p", b"keys", b"a",
        ];
        assert_eq!(
            positions(&get_keys(cmd("migrate"), &argv).unwrap()),
            vec![10]
        );
        // A key and KEYS together is a syntax error: no keys.
        assert_eq!(
            getkeys("migrate h 6379 k 0 100 keys a"),
            Err(GetKeysError::InvalidArguments)
        );
        // A partial spec search keeps what the complete specs and the incomplete one found.
        let argv: Vec<&[u8]> = vec![b"migrate", b"h", b"6379", b"", b"0", b"100", b"keys", b"a"];
        assert_eq!(keys_from_specs(cmd("migrate"), &argv, 0), None);
        let partial = keys_from_specs(cmd("migrate"), &argv, SEARCH_RETURN_PARTIAL).unwrap();
        assert_eq!(positions(&partial), vec![3, 7]);
    }

    #[test]
    fn georadius_store() {
        assert_eq!(getkeys("georadius k 1 2 3 m"), Ok(vec![1]));
        let ro = keyflags::RO | keyflags::ACCESS;
        let ow = keyflags::OW | keyflags::UPDATE;
        assert_eq!(
            getkeys_flags("georadius k 1 2 3 m store d"),
            vec![(1, ro), (7, ow)]
        );
        assert_eq!(
            getkeys("georadiusbymember k m 3 km count 1 storedist d"),
            Ok(vec![1, 8])
        );
        // The extractor keeps only the last destination.
        let argv: Vec<&[u8]> = "georadius k 1 2 3 m store a storedist b"
            .split(' ')
            .map(str::as_bytes)
            .collect();
        assert_eq!(
            positions(&run_get_keys_proc(GetKeysProc::Georadius, &argv)),
            vec![1, 9]
        );
    }

    #[test]
    fn not_key_specs() {
        let argv: Vec<&[u8]> = vec![b"spublish", b"ch", b"msg"];
        let spec = cmd("spublish");
        assert_eq!(keys_from_specs(spec, &argv, 0), Some(vec![]));
        let fake = keys_from_specs(spec, &argv, SEARCH_INCLUDE_NOT_KEYS).unwrap();
        assert_eq!(positions(&fake), vec![1]);
        assert!(!does_command_have_keys(spec));
    }

    #[test]
    fn legacy_key_lookup() {
        let argv: Vec<&[u8]> = vec![b"mset", b"a", b"1", b"b", b"2"];
        assert_eq!(positions(&keys_legacy(cmd("mset"), &argv)), vec![1, 3]);
        let argv: Vec<&[u8]> = vec![b"blpop", b"a", b"b", b"0"];
        assert_eq!(positions(&keys_legacy(cmd("blpop"), &argv)), vec![1, 2]);
        // Commands with an extractor use it.
        let argv: Vec<&[u8]> = vec![b"eval", b"s", b"1", b"k"];
        assert_eq!(positions(&keys_legacy(cmd("eval"), &argv)), vec![3]);
        // Too few arguments: nothing.
        let argv: Vec<&[u8]> = vec![b"rename", b"a"];
        assert!(keys_legacy(cmd("rename"), &argv).is_empty());
    }

    #[test]
    fn keyword_search_from_the_end() {
        // MIGRATE's KEYS spec searches backwards from argc-2, never looking at index 1.
        let argv: Vec<&[u8]> = vec![b"migrate", b"keys", b"6379", b"", b"0", b"100", b"x"];
        let keys = keys_from_specs(cmd("migrate"), &argv, SEARCH_RETURN_PARTIAL).unwrap();
        assert_eq!(positions(&keys), vec![3]);
    }

    #[test]
    fn number_parsing() {
        assert_eq!(parse_strict_i64(b"12"), Some(12));
        assert_eq!(parse_strict_i64(b"-3"), Some(-3));
        assert_eq!(parse_strict_i64(b"0"), Some(0));
        assert_eq!(parse_strict_i64(b"-0"), None);
        assert_eq!(parse_strict_i64(b"01"), None);
        assert_eq!(parse_strict_i64(b"+1"), None);
        assert_eq!(parse_strict_i64(b" 1"), None);
        assert_eq!(parse_strict_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_strict_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_strict_i64(b"9223372036854775808"), None);
        assert_eq!(c_atoi(b"  42abc"), 42);
        assert_eq!(c_atoi(b"-7"), -7);
        assert_eq!(c_atoi(b"x"), 0);
        assert_eq!(c_atoi(b"4294967297"), 1);
        assert_eq!(c_atoi(b"99999999999999999999"), -1);
        assert!(c_eq_ignore_case(b"GeT\0junk", "get"));
        assert!(!c_eq_ignore_case(b"gets", "get"));
    }

    #[test]
    fn numkeys_count_is_narrowed_to_int() {
        // 2^32 + 1 narrows to 1, as in Redis.
        assert_eq!(getkeys("eval s 4294967297 a"), Ok(vec![3]));
    }

    /// Every command in the table, fed a plausible argument vector of each length up to a few
    /// past its arity, must not panic and must report keys inside the vector.
    #[test]
    fn whole_table_is_well_formed() {
        let mut seen_procs = Vec::new();
        let mut check = |c: &'static CommandSpec, prefix: &[&'static [u8]]| {
            if let Some(p) = c.get_keys {
                if !seen_procs.contains(&p) {
                    seen_procs.push(p);
                }
            }
            for ks in c.key_specs {
                if let FindKeys::Range { keystep, .. } | FindKeys::Keynum { keystep, .. } =
                    ks.find_keys
                {
                    assert!(keystep > 0, "{}", c.name);
                }
            }
            let (first, _, step) = legacy_range(c);
            assert!(first >= 0 && step >= 0, "{}", c.name);
            let min = c.arity.unsigned_abs() as usize;
            for extra in 0..6 {
                let mut argv: Vec<&[u8]> = prefix.to_vec();
                while argv.len() < min + extra {
                    argv.push(b"1");
                }
                for keys in [
                    keys_with_specs(c, &argv, 0),
                    keys_with_specs(c, &argv, SEARCH_RETURN_PARTIAL | SEARCH_INCLUDE_NOT_KEYS),
                    keys_legacy(c, &argv),
                ] {
                    assert!(keys.iter().all(|k| k.pos < argv.len()), "{}", c.name);
                }
                let _ = get_keys(c, &argv);
            }
        };
        for c in COMMANDS {
            let name: &'static [u8] = c.name.as_bytes();
            check(c, &[name]);
            for s in c.subcommands {
                check(s, &[name, s.name.as_bytes()]);
            }
        }
        assert_eq!(seen_procs.len(), 15);
    }
}
