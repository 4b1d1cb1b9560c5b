//! ACL users, Redis 7.0's model: every connection runs as a user; a user has flags (on/off,
//! nopass), SHA-256 password hashes and selectors (the root one plus any `(...)` ones), each
//! selector being a command bitmap indexed by command id, allowed first arguments, key patterns
//! with read/write permissions and channel patterns. This file owns the data model, the rule
//! language (`ACL SETUSER` operations), the description back into rules (`ACL LIST`) and the
//! permission checks; the ACL command, the log and the file live beside it.
//!
//! Command ids are indexes into `CommandTable::cmds`, which never reorders: a bitmap stays
//! valid when modules add commands later, and the last bit records "+@all", so users created
//! that way may also run commands added afterwards, as in Redis.

pub mod command;
pub mod file;
pub mod log;
pub mod sha256;

use std::collections::BTreeMap;

use crate::commands::keyspec::KeyRef;
use crate::commands::spec::{flags as cmdflags, keyflags};
use crate::commands::{CmdId, Command, CommandTable};

/// Index of a user in `Acl::users`. Ids are never reused, so a stale id finds no user.
pub type UserId = u32;
/// The `default` user, created first and never deleted.
pub const DEFAULT_USER: UserId = 0;
/// Server-internal clients (AOF loading, the master link, module temporary clients) run as no
/// user at all: nothing is checked for them, as Redis' NULL user.
pub const SUPERUSER: UserId = u32::MAX;

/// User flags (`USER_FLAG_*`).
pub mod uflags {
    pub const ENABLED: u32 = 1 << 0;
    pub const DISABLED: u32 = 1 << 1;
    pub const NOPASS: u32 = 1 << 2;
    pub const SKIP_SANITIZE: u32 = 1 << 3;
    pub const SANITIZE: u32 = 1 << 4;
}

/// User flags by name, in the order ACL LIST / GETUSER show them.
pub const USER_FLAG_NAMES: [(u32, &str); 5] = [
    (uflags::ENABLED, "on"),
    (uflags::DISABLED, "off"),
    (uflags::NOPASS, "nopass"),
    (uflags::SKIP_SANITIZE, "skip-sanitize-payload"),
    (uflags::SANITIZE, "sanitize-payload"),
];

/// Selector flags (`SELECTOR_FLAG_*`).
pub mod sflags {
    pub const ROOT: u32 = 1 << 0;
    pub const ALLKEYS: u32 = 1 << 1;
    pub const ALLCOMMANDS: u32 = 1 << 2;
    pub const ALLCHANNELS: u32 = 1 << 3;
}

/// Key pattern permissions (`%R~`, `%W~`, both for `~`).
pub const PERM_READ: u8 = 1;
pub const PERM_WRITE: u8 = 2;
pub const PERM_ALL: u8 = PERM_READ | PERM_WRITE;

/// Channel argument flags (`CMD_CHANNEL_*`).
pub mod chflags {
    pub const PATTERN: u64 = 1 << 11;
    pub const SUBSCRIBE: u64 = 1 << 12;
    pub const UNSUBSCRIBE: u64 = 1 << 13;
    pub const PUBLISH: u64 = 1 << 14;
}

/// Why a command (or an authentication) was denied, with Redis' numbering: when several
/// selectors fail, the highest reason is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Cmd = 1,
    Key = 2,
    Auth = 3,
    Channel = 4,
}

/// Where a denial happened, for ACL LOG's `context`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogContext {
    Toplevel,
    Lua,
    Multi,
    Module,
}

const WORDS: usize = 16;
/// Commands with ids at or beyond this can only be run with the ALLCOMMANDS flag.
pub const COMMAND_BITS: usize = WORDS * 64;
/// Set only by `+@all`: the user may run commands created after its rules were set.
const FUTURE_BIT: usize = COMMAND_BITS - 1;

/// A rule that could not be applied; the texts are Redis'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    UnknownCommand,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    Duplicate,
    FirstArgOfSubcommand,
}

impl RuleError {
    pub fn message(self) -> &'static str {
        match self {
            RuleError::Syntax => "Syntax error",
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::KeysAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelsAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::Duplicate => {
                "Duplicate user found. A user can only be defined once in config files"
            }
            RuleError::FirstArgOfSubcommand => {
                "Allowing first-arg of a subcommand is not supported"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub perm: u8,
    pub pattern: Vec<u8>,
}

impl KeyPattern {
    /// `~p`, `%R~p` or `%W~p`.
    fn render(&self, out: &mut String) {
        out.push_str(match self.perm {
            PERM_READ => "%R~",
            PERM_WRITE => "%W~",
            _ => "~",
        });
        out.push_str(&String::from_utf8_lossy(&self.pattern));
    }
}

#[derive(Debug, Clone)]
pub struct Selector {
    pub flags: u32,
    allowed: [u64; WORDS],
    /// Commands allowed only with given first arguments (`+select|0`): (command, args).
    firstargs: Vec<(CmdId, Vec<Vec<u8>>)>,
    pub patterns: Vec<KeyPattern>,
    pub channels: Vec<Vec<u8>>,
}

/// True for bytes C's `isspace` accepts, and NUL: names and patterns may contain neither.
fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | 0))
}

/// The category bit for a name (any case), or 0.
pub fn category_by_name(name: &[u8]) -> u64 {
    crate::commands::command::ACL_CATEGORY_NAMES
        .iter()
        .find(|(_, n)| name.eq_ignore_ascii_case(n.as_bytes()))
        .map_or(0, |(bit, _)| *bit)
}

/// Commands of an unloaded module stay in the table (ids never move) but no longer exist for
/// ACL rules, as Redis removes them from its command table.
fn live(c: &Command) -> bool {
    c.flags & cmdflags::MODULE == 0 || c.proc_.is_some() || !c.subcommands.is_empty()
}

/// Finds a command by its original (not renamed) full name, `cmd` or `cmd|sub`, as ACL rules
/// name commands regardless of rename-command.
pub fn lookup_command(cmds: &CommandTable, name: &[u8]) -> Option<CmdId> {
    let mut parts = name.split(|&b| b == b'|');
    let base = parts.next()?;
    let sub = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let top = cmds.cmds.iter().position(|c| {
        c.parent.is_none() && live(c) && c.fullname.as_bytes().eq_ignore_ascii_case(base)
    })?;
    match sub {
        None => Some(top),
        Some(s) => cmds.cmds[top]
            .subcommands
            .get(&s.to_ascii_lowercase())
            .copied(),
    }
}

impl Selector {
    pub fn new(flags: u32, pubsub_all: bool) -> Selector {
        Selector {
            flags: flags | if pubsub_all { sflags::ALLCHANNELS } else { 0 },
            allowed: [0; WORDS],
            firstargs: Vec::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    #[inline]
    pub fn bit(&self, id: usize) -> bool {
        id < COMMAND_BITS && self.allowed[id / 64] & (1u64 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, value: bool) {
        if id >= COMMAND_BITS {
            return;
        }
        if value {
            self.allowed[id / 64] |= 1u64 << (id % 64);
        } else {
            self.allowed[id / 64] &= !(1u64 << (id % 64));
            self.flags &= !sflags::ALLCOMMANDS;
        }
    }

    /// Allows or denies a command and, for a container, all its subcommands.
    fn change_perm(&mut self, cmds: &CommandTable, id: CmdId, allow: bool) {
        self.set_bit(id, allow);
        self.firstargs.retain(|(c, _)| *c != id);
        for &sub in cmds.cmds[id].subcommands.values() {
            self.set_bit(sub, allow);
        }
    }

    fn set_category(&mut self, cmds: &CommandTable, cat: u64, allow: bool) {
        for (id, c) in cmds.cmds.iter().enumerate() {
            if c.flags & cmdflags::MODULE != 0 {
                continue;
            }
            if c.acl_categories & cat != 0 {
                self.change_perm(cmds, id, allow);
            }
        }
    }

    fn add_firstarg(&mut self, id: CmdId, arg: &[u8]) {
        match self.firstargs.iter_mut().find(|(c, _)| *c == id) {
            Some((_, args)) => {
                if !args.iter().any(|a| a.eq_ignore_ascii_case(arg)) {
                    args.push(arg.to_vec());
                }
            }
            None => self.firstargs.push((id, vec![arg.to_vec()])),
        }
    }

    /// Applies one selector rule (everything but user flags and passwords).
    pub fn apply(&mut self, cmds: &CommandTable, op: &[u8]) -> Result<(), RuleError> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || is("~*") {
            self.flags |= sflags::ALLKEYS;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.flags &= !sflags::ALLKEYS;
            self.patterns.clear();
        } else if is("allchannels") || is("&*") {
            self.flags |= sflags::ALLCHANNELS;
            self.channels.clear();
        } else if is("resetchannels") {
            self.flags &= !sflags::ALLCHANNELS;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.allowed = [u64::MAX; WORDS];
            self.flags |= sflags::ALLCOMMANDS;
            self.firstargs.clear();
        } else if is("nocommands") || is("-@all") {
            self.allowed = [0; WORDS];
            self.flags &= !sflags::ALLCOMMANDS;
            self.firstargs.clear();
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.flags & sflags::ALLKEYS != 0 {
                return Err(RuleError::KeysAfterAll);
            }
            let mut perm = 0u8;
            let mut offset = 1;
            if op[0] == b'%' {
                while let Some(&b) = op.get(offset) {
                    if b.eq_ignore_ascii_case(&b'R') && perm & PERM_READ == 0 {
                        perm |= PERM_READ;
                    } else if b.eq_ignore_ascii_case(&b'W') && perm & PERM_WRITE == 0 {
                        perm |= PERM_WRITE;
                    } else if b == b'~' {
                        offset += 1;
                        break;
                    } else {
                        return Err(RuleError::Syntax);
                    }
                    offset += 1;
                }
            } else {
                perm = PERM_ALL;
            }
            let pattern = &op[offset.min(op.len())..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.patterns.iter_mut().find(|p| p.pattern == pattern) {
                Some(p) => p.perm |= perm,
                None => self.patterns.push(KeyPattern {
                    perm,
                    pattern: pattern.to_vec(),
                }),
            }
            self.flags &= !sflags::ALLKEYS;
        } else if op[0] == b'&' {
            if self.flags & sflags::ALLCHANNELS != 0 {
                return Err(RuleError::ChannelsAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.flags &= !sflags::ALLCHANNELS;
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let id = lookup_command(cmds, name).ok_or(RuleError::UnknownCommand)?;
                    self.change_perm(cmds, id, true);
                }
                Some(bar) => {
                    let (base, sub) = (&name[..bar], &name[bar + 1..]);
                    let id = lookup_command(cmds, base).ok_or(RuleError::UnknownCommand)?;
                    if cmds.cmds[id].parent.is_some() {
                        return Err(RuleError::FirstArgOfSubcommand);
                    }
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !cmds.cmds[id].subcommands.is_empty() {
                        let sid = lookup_command(cmds, name).ok_or(RuleError::UnknownCommand)?;
                        self.change_perm(cmds, sid, true);
                    } else {
                        crate::log_warning!("Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{})", String::from_utf8_lossy(name));
                        self.add_firstarg(id, sub);
                    }
                }
            }
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let id = lookup_command(cmds, &op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(cmds, id, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let cat = category_by_name(&op[2..]);
            if cat == 0 {
                return Err(RuleError::UnknownCommand);
            }
            self.set_category(cmds, cat, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// (allowed, denied) counts of the commands in a category.
    fn count_category(&self, cmds: &CommandTable, cat: u64) -> (u64, u64) {
        let (mut on, mut off) = (0, 0);
        for (id, c) in cmds.cmds.iter().enumerate() {
            if c.acl_categories & cat != 0 {
                if self.bit(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// The command rules that rebuild this selector's bitmap: `+@all` or `-@all`, the
    /// categories that fit best, then single commands and first arguments. Categories are
    /// chosen greedily as Redis does, so `+@all -@string` comes back as written.
    pub fn describe_commands(&self, cmds: &CommandTable) -> String {
        let mut rules = String::new();
        let mut fake = Selector::new(0, false);
        let additive = !self.bit(FUTURE_BIT);
        if additive {
            rules.push_str("-@all ");
        } else {
            rules.push_str("+@all ");
            fake.allowed = [u64::MAX; WORDS];
        }
        let cats = crate::commands::command::ACL_CATEGORY_NAMES;
        let mut applied = vec![false; cats.len()];
        let mut temp = Selector::new(0, false);
        temp.allowed = self.allowed;
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (u64::MAX, 0u64);
            for (j, (bit, _)) in cats.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = temp.count_category(cmds, *bit);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else {
                break;
            };
            let (bit, name) = cats[j];
            fake.set_category(cmds, bit, additive);
            temp.set_category(cmds, bit, !additive);
            rules.push(if additive { '+' } else { '-' });
            rules.push('@');
            rules.push_str(name);
            rules.push(' ');
            applied[j] = true;
        }
        for (id, c) in cmds.cmds.iter().enumerate() {
            if !live(c) {
                continue;
            }
            let userbit = self.bit(id);
            if userbit != fake.bit(id) {
                rules.push(if userbit { '+' } else { '-' });
                rules.push_str(&c.fullname);
                rules.push(' ');
                fake.change_perm(cmds, id, userbit);
            }
            if !userbit {
                if let Some((_, args)) = self.firstargs.iter().find(|(c, _)| *c == id) {
                    for a in args {
                        rules.push('+');
                        rules.push_str(&c.fullname);
                        rules.push('|');
                        rules.push_str(&String::from_utf8_lossy(a));
                        rules.push(' ');
                    }
                }
            }
        }
        rules.pop();
        rules
    }

    /// Keys, channels and commands, as ACL LIST shows a selector.
    pub fn describe(&self, cmds: &CommandTable) -> String {
        let mut s = String::new();
        if self.flags & sflags::ALLKEYS != 0 {
            s.push_str("~* ");
        } else {
            for p in &self.patterns {
                p.render(&mut s);
                s.push(' ');
            }
        }
        if self.flags & sflags::ALLCHANNELS != 0 {
            s.push_str("&* ");
        } else {
            s.push_str("resetchannels ");
            for c in &self.channels {
                s.push('&');
                s.push_str(&String::from_utf8_lossy(c));
                s.push(' ');
            }
        }
        s.push_str(&self.describe_commands(cmds));
        s
    }

    /// ACL GETUSER's `keys` field.
    pub fn keys_field(&self) -> String {
        if self.flags & sflags::ALLKEYS != 0 {
            return "~*".into();
        }
        let mut s = String::new();
        for (i, p) in self.patterns.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            p.render(&mut s);
        }
        s
    }

    /// ACL GETUSER's `channels` field.
    pub fn channels_field(&self) -> String {
        if self.flags & sflags::ALLCHANNELS != 0 {
            return "&*".into();
        }
        self.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn check_key(&self, key: &[u8], spec_flags: u64) -> bool {
        if self.flags & sflags::ALLKEYS != 0 {
            return true;
        }
        let need = key_perm(spec_flags);
        self.patterns
            .iter()
            .any(|p| p.perm & need == need && crate::util::glob_match(&p.pattern, key, false))
    }

    /// Whether the selector reaches every key with the given access (`%R~*`, `~*`, allkeys).
    fn unrestricted_keys(&self, spec_flags: u64) -> bool {
        if self.flags & sflags::ALLKEYS != 0 {
            return true;
        }
        let need = key_perm(spec_flags);
        self.patterns
            .iter()
            .any(|p| p.perm & need == need && p.pattern == b"*")
    }

    fn check_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.flags & sflags::ALLCHANNELS != 0
            || channel_in_list(&self.channels, channel, is_pattern)
    }

    /// Checks a command against this selector: the command bit (or an allowed first
    /// argument), then each key, then each channel. On denial, the reason and the argument
    /// index of the key or channel.
    pub fn check_command(&self, cmd: &CommandCheck) -> Result<(), (Denied, usize)> {
        let c = cmd.cmd;
        if self.flags & sflags::ALLCOMMANDS == 0
            && c.flags & cmdflags::NO_AUTH == 0
            && !self.bit(cmd.id)
        {
            let idx = if c.parent.is_some() { 2 } else { 1 };
            let ok = cmd.argv.len() >= 2
                && self
                    .firstargs
                    .iter()
                    .find(|(id, _)| *id == cmd.id)
                    .is_some_and(|(_, args)| {
                        cmd.argv
                            .get(idx)
                            .is_some_and(|a| args.iter().any(|x| x.eq_ignore_ascii_case(a)))
                    });
            if !ok {
                return Err((Denied::Cmd, 0));
            }
        }
        if self.flags & sflags::ALLKEYS == 0 {
            for k in cmd.keys {
                if !self.check_key(&cmd.argv[k.pos], k.flags) {
                    return Err((Denied::Key, k.pos));
                }
            }
        }
        if self.flags & sflags::ALLCHANNELS == 0 {
            for &(pos, f) in cmd.channels {
                if f & (chflags::PUBLISH | chflags::SUBSCRIBE) == 0 {
                    continue;
                }
                if !channel_in_list(&self.channels, &cmd.argv[pos], f & chflags::PATTERN != 0) {
                    return Err((Denied::Channel, pos));
                }
            }
        }
        Ok(())
    }
}

/// The key permission a key-spec access needs.
fn key_perm(spec_flags: u64) -> u8 {
    let mut need = 0;
    if spec_flags & keyflags::ACCESS != 0 {
        need |= PERM_READ;
    }
    if spec_flags & (keyflags::INSERT | keyflags::DELETE | keyflags::UPDATE) != 0 {
        need |= PERM_WRITE;
    }
    need
}

/// Channel rules are patterns for channels; a pattern being subscribed to must appear
/// literally in the list.
fn channel_in_list(list: &[Vec<u8>], channel: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            p.as_slice() == channel
        } else {
            crate::util::glob_match(p, channel, false)
        }
    })
}

/// The channel arguments of the built-in pub/sub commands: (start, how many or all, flags).
pub fn channel_spec(fullname: &str) -> Option<(usize, Option<usize>, u64)> {
    Some(match fullname {
        "subscribe" | "ssubscribe" => (1, None, chflags::SUBSCRIBE),
        "unsubscribe" | "sunsubscribe" => (1, None, chflags::UNSUBSCRIBE),
        "psubscribe" => (1, None, chflags::PATTERN | chflags::SUBSCRIBE),
        "punsubscribe" => (1, None, chflags::PATTERN | chflags::UNSUBSCRIBE),
        "publish" | "spublish" => (1, Some(1), chflags::PUBLISH),
        _ => return None,
    })
}

/// The channels of a command's arguments: (index, flags).
pub fn command_channels(cmd: &Command, argc: usize) -> Vec<(usize, u64)> {
    let Some((start, count, f)) = channel_spec(&cmd.fullname) else {
        return Vec::new();
    };
    let stop = count.map_or(argc, |n| (start + n).min(argc));
    (start..stop).map(|i| (i, f)).collect()
}

/// A command about to be checked: what the selectors look at.
pub struct CommandCheck<'a> {
    pub id: CmdId,
    pub cmd: &'a Command,
    pub argv: &'a [Vec<u8>],
    pub keys: &'a [KeyRef],
    pub channels: &'a [(usize, u64)],
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: Vec<u8>,
    pub flags: u32,
    /// SHA-256 hex digests.
    pub passwords: Vec<Vec<u8>>,
    /// The root selector first, then the `(...)` ones.
    pub selectors: Vec<Selector>,
}

/// The stored form of a password rule's argument: `>pass`/`<pass` give the password, hashed;
/// `#hash`/`!hash` give the hash itself, which must be valid.
fn password_hash(op: &[u8]) -> Result<Vec<u8>, RuleError> {
    if matches!(op[0], b'>' | b'<') {
        Ok(sha256::hex_digest(&op[1..]))
    } else if valid_hash(&op[1..]) {
        Ok(op[1..].to_vec())
    } else {
        Err(RuleError::BadHash)
    }
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64 && h.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl User {
    /// A new user: disabled, no passwords, no commands, keys or (by default) channels.
    pub fn new(name: &[u8], pubsub_all: bool) -> User {
        User {
            name: name.to_vec(),
            flags: uflags::DISABLED,
            passwords: Vec::new(),
            selectors: vec![Selector::new(sflags::ROOT, pubsub_all)],
        }
    }

    /// Applies one rule (Redis' `ACLSetUser`).
    pub fn apply(
        &mut self,
        cmds: &CommandTable,
        op: &[u8],
        pubsub_all: bool,
    ) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("on") {
            self.flags = (self.flags | uflags::ENABLED) & !uflags::DISABLED;
        } else if is("off") {
            self.flags = (self.flags | uflags::DISABLED) & !uflags::ENABLED;
        } else if is("skip-sanitize-payload") {
            self.flags = (self.flags | uflags::SKIP_SANITIZE) & !uflags::SANITIZE;
        } else if is("sanitize-payload") {
            self.flags = (self.flags | uflags::SANITIZE) & !uflags::SKIP_SANITIZE;
        } else if is("nopass") {
            self.flags |= uflags::NOPASS;
            self.passwords.clear();
        } else if is("resetpass") {
            self.flags &= !uflags::NOPASS;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = password_hash(op)?;
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.flags &= !uflags::NOPASS;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = password_hash(op)?;
            let pos = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(pos);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::new(0, pubsub_all);
            let inner = &op[1..op.len() - 1];
            let args = crate::util::split_args(inner).ok_or(RuleError::Syntax)?;
            for a in &args {
                if a.is_empty() {
                    continue;
                }
                s.apply(cmds, a)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.apply(cmds, b"resetpass", pubsub_all)?;
            self.apply(cmds, b"resetkeys", pubsub_all)?;
            self.apply(cmds, b"resetchannels", pubsub_all)?;
            if pubsub_all {
                self.apply(cmds, b"allchannels", pubsub_all)?;
            }
            self.apply(cmds, b"off", pubsub_all)?;
            self.apply(cmds, b"sanitize-payload", pubsub_all)?;
            self.apply(cmds, b"clearselectors", pubsub_all)?;
            self.apply(cmds, b"-@all", pubsub_all)?;
        } else {
            self.selectors[0].apply(cmds, op)?;
        }
        Ok(())
    }

    /// The user's rules in the form ACL LIST and the ACL file use (without `user <name>`).
    pub fn describe(&self, cmds: &CommandTable) -> String {
        let mut s = String::new();
        for (f, name) in USER_FLAG_NAMES {
            if self.flags & f != 0 {
                s.push_str(name);
                s.push(' ');
            }
        }
        for p in &self.passwords {
            s.push('#');
            s.push_str(&String::from_utf8_lossy(p));
            s.push(' ');
        }
        for (i, sel) in self.selectors.iter().enumerate() {
            if i == 0 {
                s.push_str(&sel.describe(cmds));
            } else {
                s.push_str(" (");
                s.push_str(&sel.describe(cmds));
                s.push(')');
            }
        }
        s
    }

    /// Whether every command, key and channel is allowed: checks can be skipped.
    fn unrestricted(&self) -> bool {
        let all = sflags::ALLCOMMANDS | sflags::ALLKEYS | sflags::ALLCHANNELS;
        self.selectors[0].flags & all == all
    }

    /// Whether some selector restricts keys (the command's keys must be found to check it).
    pub fn needs_keys(&self) -> bool {
        self.selectors
            .iter()
            .any(|s| s.flags & sflags::ALLKEYS == 0)
    }

    pub fn needs_channels(&self) -> bool {
        self.selectors
            .iter()
            .any(|s| s.flags & sflags::ALLCHANNELS == 0)
    }

    /// Checks a command with every selector; one allowing it is enough. Otherwise the most
    /// relevant denial: a channel over a key over the command itself, the last argument on ties.
    pub fn check_command(&self, cmd: &CommandCheck) -> Result<(), (Denied, usize)> {
        let mut relevant = (Denied::Cmd, 0usize);
        for s in &self.selectors {
            match s.check_command(cmd) {
                Ok(()) => return Ok(()),
                Err((r, idx)) => {
                    if r > relevant.0 || (r == relevant.0 && idx > relevant.1) {
                        relevant = (r, idx);
                    }
                }
            }
        }
        Err(relevant)
    }

    pub fn check_key(&self, key: &[u8], spec_flags: u64) -> bool {
        self.selectors.iter().any(|s| s.check_key(key, spec_flags))
    }

    pub fn check_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.selectors
            .iter()
            .any(|s| s.check_channel(channel, is_pattern))
    }

    /// Whether some selector allows the command and reaches every key with the given access
    /// (used by commands such as KEYS-like scans and by modules).
    pub fn check_command_with_unrestricted_keys(&self, cmd: &CommandCheck, flags: u64) -> bool {
        self.selectors
            .iter()
            .any(|s| s.check_command(cmd).is_ok() && s.unrestricted_keys(flags))
    }

    /// Checks a password: any of the hashes, or anything with nopass.
    pub fn password_matches(&self, pass: &[u8]) -> bool {
        if self.flags & uflags::NOPASS != 0 {
            return true;
        }
        let h = sha256::hex_digest(pass);
        // Compare every byte of every hash so timing tells nothing about the match.
        let mut found = false;
        for p in &self.passwords {
            let diff = p
                .iter()
                .zip(h.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            found |= diff == 0 && p.len() == h.len();
        }
        found
    }
}

/// Groups `(`...`)` selectors written across several arguments into one argument each
/// (Redis accepts `(~key +get)` split on spaces). On an unclosed parenthesis: the index of the
/// argument that opened it.
pub fn merge_selector_args(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, a) in args.iter().enumerate() {
        if let Some((start, mut sel)) = open.take() {
            sel.push(b' ');
            sel.extend_from_slice(a);
            if a.last() == Some(&b')') {
                out.push(sel);
            } else {
                open = Some((start, sel));
            }
            continue;
        }
        if a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some((j, a.clone()));
            continue;
        }
        out.push(a.clone());
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(out),
    }
}

/// All users, the ACL log, and what the command path reads on every command.
pub struct Acl {
    users: Vec<Option<Box<User>>>,
    /// Named users in name order (module users have no entry).
    by_name: BTreeMap<Vec<u8>, UserId>,
    /// Per user id: may run anything (the fast path skips all checks).
    open: Vec<bool>,
    /// Whether a connection must authenticate: the default user has a password or is off.
    pub default_needs_auth: bool,
    /// `acl-pubsub-default allchannels`: new users and selectors get all channels.
    pub pubsub_default_all: bool,
    pub log: log::AclLog,
    /// `user` directives of the config file, applied at start-up.
    pub to_load: Vec<Vec<Vec<u8>>>,
}

impl Default for Acl {
    fn default() -> Self {
        let mut acl = Acl {
            users: Vec::new(),
            by_name: BTreeMap::new(),
            open: Vec::new(),
            default_needs_auth: false,
            pubsub_default_all: false,
            log: Default::default(),
            to_load: Vec::new(),
        };
        acl.insert(Self::new_default_user());
        acl
    }
}

impl Acl {
    /// `default`: everything allowed, no password.
    fn new_default_user() -> User {
        let mut u = User::new(b"default", false);
        u.flags = uflags::ENABLED | uflags::NOPASS;
        let s = &mut u.selectors[0];
        s.allowed = [u64::MAX; WORDS];
        s.flags |= sflags::ALLCOMMANDS | sflags::ALLKEYS | sflags::ALLCHANNELS;
        u
    }

    fn insert(&mut self, u: User) -> UserId {
        let id = self.users.len() as UserId;
        self.by_name.insert(u.name.clone(), id);
        self.open.push(u.unrestricted());
        self.users.push(Some(Box::new(u)));
        self.refresh(id);
        id
    }

    /// Adds a user that has no name in the users table (a module user).
    pub fn insert_unlinked(&mut self, u: User) -> UserId {
        let id = self.users.len() as UserId;
        self.open.push(u.unrestricted());
        self.users.push(Some(Box::new(u)));
        id
    }

    /// Recomputes what the hot path caches about a user.
    fn refresh(&mut self, id: UserId) {
        let (open, needs_auth) = match self.get(id) {
            Some(u) => (
                u.unrestricted(),
                u.flags & uflags::NOPASS == 0 || u.flags & uflags::DISABLED != 0,
            ),
            None => (false, true),
        };
        self.open[id as usize] = open;
        if id == DEFAULT_USER {
            self.default_needs_auth = needs_auth;
        }
    }

    /// The fast path: true when a client running as `id` needs no checks at all.
    #[inline]
    pub fn is_open(&self, id: UserId) -> bool {
        match self.open.get(id as usize) {
            Some(o) => *o,
            None => id == SUPERUSER,
        }
    }

    pub fn get(&self, id: UserId) -> Option<&User> {
        self.users.get(id as usize).and_then(|u| u.as_deref())
    }

    pub fn by_name(&self, name: &[u8]) -> Option<UserId> {
        self.by_name.get(name).copied()
    }

    pub fn user_by_name(&self, name: &[u8]) -> Option<&User> {
        self.by_name(name).and_then(|id| self.get(id))
    }

    /// The name a client's user shows in CLIENT LIST and the log.
    pub fn name_of(&self, id: UserId) -> &[u8] {
        self.get(id).map_or(b"default".as_slice(), |u| &u.name)
    }

    /// Named users in name order.
    pub fn users(&self) -> impl Iterator<Item = (UserId, &User)> + '_ {
        self.by_name
            .values()
            .filter_map(|&id| self.get(id).map(|u| (id, u)))
    }

    /// Replaces a user's rules (keeping its identity, so connected clients follow).
    pub fn replace(&mut self, id: UserId, u: User) {
        if let Some(slot) = self.users.get_mut(id as usize) {
            if slot.is_some() {
                *slot = Some(Box::new(u));
            }
        }
        self.refresh(id);
    }

    /// Sets or creates a named user.
    pub fn put(&mut self, u: User) -> UserId {
        match self.by_name(&u.name) {
            Some(id) => {
                self.replace(id, u);
                id
            }
            None => self.insert(u),
        }
    }

    /// Removes a user (named or not); its id stays dead.
    pub fn remove(&mut self, id: UserId) -> Option<User> {
        let u = self.users.get_mut(id as usize)?.take()?;
        if self.by_name.get(&u.name) == Some(&id) {
            self.by_name.remove(&u.name);
        }
        self.open[id as usize] = false;
        Some(*u)
    }

    /// Applies `rules` to a copy of the user named `name` (or a new one) and returns it: all
    /// rules apply or none (Redis' `ACLStringSetUser`).
    pub fn staged_user(
        &self,
        cmds: &CommandTable,
        name: &[u8],
        rules: &[Vec<u8>],
    ) -> Result<User, String> {
        let merged = merge_selector_args(rules).map_err(|i| {
            format!(
                "Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(&rules[i])
            )
        })?;
        let mut u = match self.user_by_name(name) {
            Some(u) => u.clone(),
            None => User::new(name, self.pubsub_default_all),
        };
        for op in &merged {
            u.apply(cmds, op, self.pubsub_default_all).map_err(|e| {
                format!(
                    "Error in ACL SETUSER modifier '{}': {}",
                    String::from_utf8_lossy(op),
                    e.message()
                )
            })?;
        }
        Ok(u)
    }

    /// Checks credentials (Redis' `ACLCheckUserCredentials`).
    pub fn check_credentials(&self, name: &[u8], pass: &[u8]) -> Option<UserId> {
        let id = self.by_name(name)?;
        let u = self.get(id)?;
        if u.flags & uflags::DISABLED != 0 {
            return None;
        }
        u.password_matches(pass).then_some(id)
    }

    /// `requirepass`: the default user's only password, or nopass when empty.
    pub fn set_default_password(&mut self, cmds: &CommandTable, pass: Option<&[u8]>) {
        let Some(mut u) = self.get(DEFAULT_USER).cloned() else {
            return;
        };
        let pubsub = self.pubsub_default_all;
        let _ = u.apply(cmds, b"resetpass", pubsub);
        match pass {
            Some(p) => {
                let mut op = b">".to_vec();
                op.extend_from_slice(p);
                let _ = u.apply(cmds, &op, pubsub);
            }
            None => {
                let _ = u.apply(cmds, b"nopass", pubsub);
            }
        }
        self.replace(DEFAULT_USER, u);
    }

    /// Replaces every named user but `default`'s identity (ACL LOAD): returns the ids of the
    /// users that went away.
    pub fn replace_all(&mut self, users: Vec<User>) -> Vec<UserId> {
        let old: Vec<UserId> = self
            .by_name
            .values()
            .copied()
            .filter(|&id| id != DEFAULT_USER)
            .collect();
        for &id in &old {
            self.remove(id);
        }
        let mut default = None;
        for u in users {
            if u.name == b"default" {
                default = Some(u);
            } else {
                self.insert(u);
            }
        }
        self.replace(DEFAULT_USER, default.unwrap_or_else(Self::new_default_user));
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> CommandTable {
        CommandTable::build()
    }

    fn user(cmds: &CommandTable, rules: &[&str]) -> User {
        let mut u = User::new(b"u", false);
        for r in rules {
            u.apply(cmds, r.as_bytes(), false).unwrap();
        }
        u
    }

    #[test]
    fn describe_round_trips_categories_and_commands() {
        let cmds = table();
        let u = user(&cmds, &["+@all", "-@string"]);
        assert_eq!(u.selectors[0].describe_commands(&cmds), "+@all -@string");
        let u = user(&cmds, &["-@all", "+@hash"]);
        assert_eq!(u.selectors[0].describe_commands(&cmds), "-@all +@hash");
        let u = user(&cmds, &["+@all", "-client|kill"]);
        assert_eq!(
            u.selectors[0].describe_commands(&cmds),
            "+@all -client|kill"
        );
        let u = user(&cmds, &["+memory|doctor"]);
        assert_eq!(
            u.selectors[0].describe_commands(&cmds),
            "-@all +memory|doctor"
        );
        let u = user(&cmds, &["+memory|doctor", "+memory"]);
        assert_eq!(u.selectors[0].describe_commands(&cmds), "-@all +memory");
        let u = user(&cmds, &["-@all", "+select|0"]);
        assert_eq!(u.selectors[0].describe_commands(&cmds), "-@all +select|0");
    }

    #[test]
    fn describe_output_parses_back_to_the_same_user() {
        let cmds = table();
        let u = user(
            &cmds,
            &[
                "on",
                ">secret",
                "~obj:*",
                "%R~read:*",
                "%W~write:*",
                "&chan",
                "+@all",
                "-@dangerous",
                "+debug|digest",
                "(~other +get)",
            ],
        );
        let text = u.describe(&cmds);
        let args = crate::util::split_args(text.as_bytes()).unwrap();
        let merged = merge_selector_args(&args).unwrap();
        let mut v = User::new(b"u", false);
        for op in &merged {
            v.apply(&cmds, op, false).unwrap();
        }
        assert_eq!(v.describe(&cmds), text);
        assert!(text.starts_with("on #"));
        assert!(text.contains("~obj:* %R~read:* %W~write:* resetchannels &chan +@all -@dangerous"));
        assert!(text.ends_with(" (~other resetchannels -@all +get)"));
    }

    #[test]
    fn rule_errors_use_redis_texts() {
        let cmds = table();
        let mut u = User::new(b"u", false);
        assert_eq!(
            u.apply(&cmds, b"+nosuchcmd", false),
            Err(RuleError::UnknownCommand)
        );
        assert_eq!(
            u.apply(&cmds, b"+@nosuchcat", false),
            Err(RuleError::UnknownCommand)
        );
        assert_eq!(
            u.apply(&cmds, b"+config|get|x", false),
            Err(RuleError::FirstArgOfSubcommand)
        );
        assert_eq!(
            u.apply(&cmds, b"+get|key1|key2", false),
            Err(RuleError::UnknownCommand)
        );
        assert_eq!(u.apply(&cmds, b"#abc", false), Err(RuleError::BadHash));
        assert_eq!(
            u.apply(&cmds, b"<nopw", false),
            Err(RuleError::NoSuchPassword)
        );
        assert_eq!(u.apply(&cmds, b"%X~k", false), Err(RuleError::Syntax));
        assert_eq!(u.apply(&cmds, b"bogus", false), Err(RuleError::Syntax));
        u.apply(&cmds, b"allkeys", false).unwrap();
        assert_eq!(u.apply(&cmds, b"~k", false), Err(RuleError::KeysAfterAll));
        u.apply(&cmds, b"allchannels", false).unwrap();
        assert_eq!(
            u.apply(&cmds, b"&c", false),
            Err(RuleError::ChannelsAfterAll)
        );
        assert_eq!(
            merge_selector_args(&[b"(~a".to_vec(), b"+get".to_vec()]),
            Err(0)
        );
    }

    #[test]
    fn checks_follow_selectors_and_key_permissions() {
        let cmds = table();
        let u = user(&cmds, &["+get", "+set", "%R~r:*", "(+set ~w:*)"]);
        let check = |argv: &[&str]| {
            let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
            let id = cmds.lookup(&argv).unwrap();
            let keys = crate::commands::keyspec::keys_with_specs(cmds.cmds[id].spec, &argv, 0);
            u.check_command(&CommandCheck {
                id,
                cmd: &cmds.cmds[id],
                argv: &argv,
                keys: &keys,
                channels: &[],
            })
        };
        assert_eq!(check(&["get", "r:1"]), Ok(()));
        assert_eq!(check(&["set", "r:1", "v"]), Err((Denied::Key, 1)));
        assert_eq!(check(&["set", "w:1", "v"]), Ok(()));
        assert_eq!(check(&["get", "w:1"]), Err((Denied::Key, 1)));
        assert_eq!(check(&["del", "r:1"]), Err((Denied::Cmd, 0)));
        assert!(!u.password_matches(b"x"));
    }

    const RULE_POOL: &[&str] = &[
        "+@all",
        "-@all",
        "+@read",
        "-@write",
        "+@string",
        "-@dangerous",
        "+@admin",
        "-@fast",
        "+get",
        "-get",
        "+set",
        "-client",
        "+client|id",
        "-client|kill",
        "+config",
        "-config|set",
        "+select|0",
        "+select|3",
        "+debug|digest",
        "-debug",
        "~a*",
        "%R~r*",
        "%W~w*",
        "resetkeys",
        "allkeys",
        "&c*",
        "resetchannels",
        "allchannels",
        "on",
        "off",
        "nopass",
        ">pw",
        "resetpass",
        "(~s* +get)",
        "(+@hash %R~h*)",
        "clearselectors",
    ];

    proptest::proptest! {
        /// Whatever rules built a user, its description rebuilds the same permissions.
        #[test]
        fn any_rule_sequence_describes_back_to_itself(picks in proptest::collection::vec(0..RULE_POOL.len(), 0..24)) {
            let cmds = table();
            let mut u = User::new(b"u", false);
            for &i in &picks {
                let _ = u.apply(&cmds, RULE_POOL[i].as_bytes(), false);
            }
            let text = u.describe(&cmds);
            let args = crate::util::split_args(text.as_bytes()).unwrap();
            let merged = merge_selector_args(&args).unwrap();
            let mut v = User::new(b"u", false);
            for op in &merged {
                v.apply(&cmds, op, false).unwrap();
            }
            proptest::prop_assert_eq!(v.describe(&cmds), text);
            proptest::prop_assert_eq!(v.selectors.len(), u.selectors.len());
            for (a, b) in u.selectors.iter().zip(v.selectors.iter()) {
                proptest::prop_assert_eq!(a.allowed, b.allowed);
                proptest::prop_assert_eq!(&a.patterns, &b.patterns);
                proptest::prop_assert_eq!(&a.channels, &b.channels);
            }
        }
    }

    #[test]
    fn passwords_are_stored_hashed() {
        let cmds = table();
        let mut u = user(&cmds, &[">pw"]);
        assert_eq!(u.passwords, vec![sha256::hex_digest(b"pw")]);
        assert!(u.password_matches(b"pw"));
        assert!(!u.password_matches(b"other"));
        u.apply(&cmds, b"nopass", false).unwrap();
        assert!(u.password_matches(b"other"));
        assert!(u.passwords.is_empty());
    }
}
