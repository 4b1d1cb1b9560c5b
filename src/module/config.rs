//! Module configs (RegisterBool/Numeric/String/EnumConfig, LoadConfigs): configuration
//! directives named `<module>.<name>` whose values live in the module (read and written through
//! its callbacks). CONFIG GET/SET/REWRITE treat them like the server's own directives — same
//! parsing, bounds, error texts and all-or-nothing CONFIG SET with the module's apply callbacks
//! run after the values are set. Values given before the module is loaded (config file lines,
//! `MODULE LOADEX ... CONFIG name value`) wait in a queue that LoadConfigs consumes; what is
//! left unconsumed fails the load (or the start-up), as in 7.0.

use std::ffi::{c_char, c_int, c_longlong, c_void, CString};

use super::ctx::{flags, Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;
use super::Module;
use crate::server::Server;

type GetStr = unsafe extern "C" fn(*const c_char, *mut c_void) -> *mut RmString;
type GetNum = unsafe extern "C" fn(*const c_char, *mut c_void) -> c_longlong;
type GetInt = unsafe extern "C" fn(*const c_char, *mut c_void) -> c_int;
type SetStr =
    unsafe extern "C" fn(*const c_char, *mut RmString, *mut c_void, *mut *mut RmString) -> c_int;
type SetNum =
    unsafe extern "C" fn(*const c_char, c_longlong, *mut c_void, *mut *mut RmString) -> c_int;
type SetInt = unsafe extern "C" fn(*const c_char, c_int, *mut c_void, *mut *mut RmString) -> c_int;
type ApplyFn = unsafe extern "C" fn(*mut Ctx, *mut c_void, *mut *mut RmString) -> c_int;

/// REDISMODULE_CONFIG_* flags.
mod cf {
    pub const IMMUTABLE: u32 = 1 << 0;
    pub const SENSITIVE: u32 = 1 << 1;
    pub const HIDDEN: u32 = 1 << 4;
    pub const PROTECTED: u32 = 1 << 5;
    pub const DENY_LOADING: u32 = 1 << 6;
    pub const MEMORY: u32 = 1 << 7;
    pub const BITFLAGS: u32 = 1 << 8;
    pub const ALL: u32 =
        IMMUTABLE | SENSITIVE | HIDDEN | PROTECTED | DENY_LOADING | MEMORY | BITFLAGS;
}

enum Kind {
    Bool {
        default: bool,
        get: GetInt,
        set: SetInt,
    },
    Str {
        default: Option<Vec<u8>>,
        get: GetStr,
        set: SetStr,
    },
    Enum {
        default: i32,
        values: Vec<(String, i32)>,
        get: GetInt,
        set: SetInt,
    },
    Numeric {
        default: i64,
        min: i64,
        max: i64,
        get: GetNum,
        set: SetNum,
    },
}

struct ModConfig {
    module: *mut Module,
    /// The name the module registered (C string for its callbacks).
    name: CString,
    /// `<module>.<name>`.
    full: String,
    flags: u32,
    kind: Kind,
    apply: Option<ApplyFn>,
    privdata: *mut c_void,
}

#[derive(Default)]
pub struct Configs {
    list: Vec<ModConfig>,
    /// Values waiting for their module's LoadConfigs: (full name, value); names compare
    /// case-insensitively and a later value replaces an earlier one.
    queue: Vec<(Vec<u8>, Vec<u8>)>,
    /// Modules whose LoadConfigs ran.
    initialized: Vec<*mut Module>,
}

impl Configs {
    pub fn forget(&mut self, m: *mut Module) {
        self.list.retain(|c| !std::ptr::eq(c.module, m));
        self.initialized.retain(|p| !std::ptr::eq(*p, m));
    }

    /// Queues a value for a module config not registered yet.
    pub fn queue(&mut self, name: &[u8], value: &[u8]) {
        match self
            .queue
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(e) => e.1 = value.to_vec(),
            None => self.queue.push((name.to_vec(), value.to_vec())),
        }
    }

    pub fn clear_queue(&mut self) {
        self.queue.clear();
    }

    pub fn queue_is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether `m` registered configs but never called LoadConfigs.
    pub fn needs_load(&self, m: *mut Module) -> bool {
        self.list.iter().any(|c| std::ptr::eq(c.module, m))
            && !self.initialized.iter().any(|p| std::ptr::eq(*p, m))
    }

    /// The config named `name` (any case).
    pub fn find(&self, name: &[u8]) -> Option<usize> {
        self.list
            .iter()
            .position(|c| c.full.as_bytes().eq_ignore_ascii_case(name))
    }

    /// Configs whose name matches a CONFIG GET pattern (hidden ones need their exact name).
    pub fn matching(&self, pattern: &[u8]) -> Vec<(String, usize)> {
        self.list
            .iter()
            .enumerate()
            .filter(|(_, c)| c.flags & cf::HIDDEN == 0)
            .filter(|(_, c)| crate::util::glob_match(pattern, c.full.as_bytes(), true))
            .map(|(i, c)| (c.full.clone(), i))
            .collect()
    }

    pub fn full_name(&self, i: usize) -> &str {
        &self.list[i].full
    }

    pub fn is_immutable(&self, i: usize) -> bool {
        self.list[i].flags & cf::IMMUTABLE != 0
    }

    pub fn is_protected(&self, i: usize) -> bool {
        self.list[i].flags & cf::PROTECTED != 0
    }

    pub fn denies_loading(&self, i: usize) -> bool {
        self.list[i].flags & cf::DENY_LOADING != 0
    }
}

/// Enum value names for a value: the exact match, or for bit flags the names whose bits
/// are all set (in registration order), or "unknown".
fn enum_name(values: &[(String, i32)], v: i32, bitflags: bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut left = v;
    for (n, bits) in values {
        if *bits == v {
            return n.clone();
        }
        if bitflags && *bits != 0 && left & bits == *bits {
            names.push(n);
            left &= !bits;
        }
    }
    if names.is_empty() || left != 0 {
        return "unknown".into();
    }
    names.join(" ")
}

/// The module's error string (released), cut like Redis' fixed buffer.
fn take_err(err: *mut RmString) -> Option<String> {
    if err.is_null() {
        return None;
    }
    // SAFETY: the module handed over one reference to a live string.
    let s = unsafe {
        let s = String::from_utf8_lossy(RmString::get(err)).into_owned();
        RmString::release(err);
        s
    };
    Some(s.chars().take(255).collect())
}

/// The current value as CONFIG GET shows it.
pub fn get_value(srv: &mut Server, i: usize) -> Vec<u8> {
    super::command::set_current_server(srv);
    let c = &srv.modules.configs.list[i];
    let name = c.name.as_ptr();
    // SAFETY: the module registered these callbacks with this private data.
    unsafe {
        match &c.kind {
            Kind::Bool { get, .. } => if get(name, c.privdata) != 0 {
                &b"yes"[..]
            } else {
                &b"no"[..]
            }
            .to_vec(),
            Kind::Str { get, .. } => {
                let s = get(name, c.privdata);
                if s.is_null() {
                    Vec::new()
                } else {
                    RmString::get(s).to_vec()
                }
            }
            Kind::Enum { get, values, .. } => {
                enum_name(values, get(name, c.privdata), c.flags & cf::BITFLAGS != 0).into_bytes()
            }
            Kind::Numeric { get, .. } => get(name, c.privdata).to_string().into_bytes(),
        }
    }
}

/// Sets a config from its text form. Ok(true) when the module's value changed, Ok(false) when
/// it already had it.
pub fn set_value(srv: &mut Server, i: usize, value: &[u8]) -> Result<bool, String> {
    super::command::set_current_server(srv);
    let c = &srv.modules.configs.list[i];
    let name = c.name.as_ptr();
    let mut err: *mut RmString = std::ptr::null_mut();
    // SAFETY: the module registered these callbacks with this private data; `err` is the
    // out-slot the API documents.
    let rc = unsafe {
        match &c.kind {
            Kind::Bool { get, set, .. } => {
                let v = if value.eq_ignore_ascii_case(b"yes") {
                    1
                } else if value.eq_ignore_ascii_case(b"no") {
                    0
                } else {
                    return Err("argument must be 'yes' or 'no'".into());
                };
                if (get(name, c.privdata) != 0) as c_int == v {
                    return Ok(false);
                }
                set(name, v, c.privdata, &mut err)
            }
            Kind::Str { get, set, .. } => {
                let prev = get(name, c.privdata);
                if !prev.is_null() && RmString::get(prev) == value {
                    return Ok(false);
                }
                let s = RmString::new_raw(value);
                let rc = set(name, s, c.privdata, &mut err);
                RmString::release(s);
                rc
            }
            Kind::Enum {
                values, get, set, ..
            } => {
                let bitflags = c.flags & cf::BITFLAGS != 0;
                let args = if bitflags {
                    crate::util::split_args(value).unwrap_or_default()
                } else {
                    vec![value.to_vec()]
                };
                let mut v: Option<i32> = if args.is_empty() { None } else { Some(0) };
                for a in &args {
                    let mut matched = false;
                    for (n, bits) in values {
                        if a.eq_ignore_ascii_case(n.as_bytes()) {
                            v = v.map(|x| x | bits);
                            matched = true;
                        }
                    }
                    if !matched {
                        v = None;
                        break;
                    }
                }
                let Some(v) = v else {
                    let names: Vec<&str> = values.iter().map(|(n, _)| n.as_str()).collect();
                    return Err(format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    ));
                };
                if get(name, c.privdata) == v {
                    return Ok(false);
                }
                set(name, v, c.privdata, &mut err)
            }
            Kind::Numeric {
                min, max, get, set, ..
            } => {
                let parsed = if c.flags & cf::MEMORY != 0 {
                    crate::util::parse_memory(value).map(|v| v as i64)
                } else {
                    crate::util::parse_i64(value)
                };
                let Some(v) = parsed else {
                    return Err(if c.flags & cf::MEMORY != 0 {
                        "argument must be a memory value".into()
                    } else {
                        "argument couldn't be parsed into an integer".into()
                    });
                };
                if v < *min || v > *max {
                    return Err(format!(
                        "argument must be between {} and {} inclusive",
                        min, max
                    ));
                }
                if get(name, c.privdata) == v {
                    return Ok(false);
                }
                set(name, v, c.privdata, &mut err)
            }
        }
    };
    let msg = take_err(err);
    if rc == REDISMODULE_OK {
        Ok(true)
    } else {
        Err(msg.unwrap_or_else(|| "unknown error".into()))
    }
}

/// Sets a config to its registered default (LoadConfigs with nothing queued for it).
fn set_default(srv: &mut Server, i: usize) -> Result<(), String> {
    super::command::set_current_server(srv);
    let c = &srv.modules.configs.list[i];
    let name = c.name.as_ptr();
    let mut err: *mut RmString = std::ptr::null_mut();
    // SAFETY: the module registered these callbacks with this private data.
    let rc = unsafe {
        match &c.kind {
            Kind::Bool { default, set, .. } => set(name, *default as c_int, c.privdata, &mut err),
            Kind::Str { default, set, .. } => {
                // A NULL default reaches the module as a NULL string, as in Redis.
                let s = match default {
                    Some(d) => RmString::new_raw(d),
                    None => std::ptr::null_mut(),
                };
                let rc = set(name, s, c.privdata, &mut err);
                if !s.is_null() {
                    RmString::release(s);
                }
                rc
            }
            Kind::Enum { default, set, .. } => set(name, *default, c.privdata, &mut err),
            Kind::Numeric { default, set, .. } => set(name, *default, c.privdata, &mut err),
        }
    };
    let msg = take_err(err);
    if rc == REDISMODULE_OK {
        Ok(())
    } else {
        Err(msg.unwrap_or_else(|| "unknown error".into()))
    }
}

/// Runs the apply callbacks of the changed configs (each distinct callback and private data
/// once, in order). On failure: the short name of the config whose callback refused, and why.
pub fn apply(srv: &mut Server, changed: &[usize]) -> Result<(), (String, String)> {
    let mut todo: Vec<(ApplyFn, *mut c_void, *mut Module, String)> = Vec::new();
    for &i in changed {
        let c = &srv.modules.configs.list[i];
        let Some(f) = c.apply else { continue };
        if todo
            .iter()
            .any(|(g, p, _, _)| *g as usize == f as usize && *p == c.privdata)
        {
            continue;
        }
        todo.push((
            f,
            c.privdata,
            c.module,
            c.name.to_string_lossy().into_owned(),
        ));
    }
    for (f, privdata, module, name) in todo {
        let mut ctx = Ctx::new(srv, module, flags::NONE);
        let mut err: *mut RmString = std::ptr::null_mut();
        // SAFETY: the module registered this callback with this private data.
        let rc = unsafe { f(&mut ctx, privdata, &mut err) };
        ctx.finish();
        drop(ctx);
        let msg = take_err(err);
        if rc != REDISMODULE_OK {
            return Err((name, msg.unwrap_or_else(|| "unknown error".into())));
        }
    }
    Ok(())
}

/// The lines CONFIG REWRITE writes for module configs: (option, line, force), force when the
/// value differs from the default.
pub fn rewrite_lines(srv: &mut Server) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for i in 0..srv.modules.configs.list.len() {
        let value = get_value(srv, i);
        let c = &srv.modules.configs.list[i];
        let option = c.full.to_ascii_lowercase();
        let (text, force) = match &c.kind {
            Kind::Bool { default, .. } => (
                String::from_utf8_lossy(&value).into_owned(),
                (value == b"yes") != *default,
            ),
            Kind::Str { default, .. } => {
                let mut t = Vec::new();
                crate::util::push_repr(&mut t, &value);
                let force = default.as_deref() != Some(&value[..]);
                (String::from_utf8_lossy(&t).into_owned(), force)
            }
            Kind::Enum {
                default, values, ..
            } => {
                let v = String::from_utf8_lossy(&value).into_owned();
                let d = enum_name(values, *default, c.flags & cf::BITFLAGS != 0);
                let force = v != d;
                (v, force)
            }
            Kind::Numeric { default, .. } => {
                let v: i64 = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let text = if c.flags & cf::MEMORY != 0 {
                    crate::config::table::format_memory(v)
                } else {
                    v.to_string()
                };
                (text, v != *default)
            }
        };
        out.push((option.clone(), format!("{} {}", option, text), force));
    }
    out
}

/// `loadmodule` lines for CONFIG REWRITE: every loaded module with its path and arguments.
pub fn loadmodule_lines(srv: &Server) -> Vec<String> {
    srv.modules
        .list
        .iter()
        .map(|m| {
            let mut line = format!("loadmodule {}", m.path).into_bytes();
            for a in &m.args {
                line.push(b' ');
                line.extend_from_slice(a);
            }
            String::from_utf8_lossy(&line).into_owned()
        })
        .collect()
}

/// Checks a registration; logs and sets errno like 7.0 when it is refused.
fn validate(srv: &Server, module: *mut Module, name: &[u8], flags: u32, kind: u8) -> bool {
    if flags & !cf::ALL != 0 {
        crate::log_warning!("Invalid flag(s) for configuration");
        super::set_errno(libc::EINVAL);
        return false;
    }
    if kind != b'n' && flags & cf::MEMORY != 0 {
        crate::log_warning!("Numeric flag provided for non-numeric configuration.");
        super::set_errno(libc::EINVAL);
        return false;
    }
    if kind != b'e' && flags & cf::BITFLAGS != 0 {
        crate::log_warning!("Enum flag provided for non-enum configuration.");
        super::set_errno(libc::EINVAL);
        return false;
    }
    if name.is_empty() {
        crate::log_warning!("Module config names cannot be an empty string.");
        super::set_errno(libc::EINVAL);
        return false;
    }
    if let Some(&b) = name
        .iter()
        .find(|b| !(b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-'))
    {
        crate::log_warning!(
            "Invalid character {} in Module Config name {}.",
            b as char,
            String::from_utf8_lossy(name)
        );
        super::set_errno(libc::EINVAL);
        return false;
    }
    if srv
        .modules
        .configs
        .list
        .iter()
        .any(|c| std::ptr::eq(c.module, module) && c.name.as_bytes() == name)
    {
        crate::log_warning!(
            "Configuration by the name: {} already registered",
            String::from_utf8_lossy(name)
        );
        super::set_errno(libc::EALREADY);
        return false;
    }
    true
}

/// Registers a config after validation (`kind_tag`: b'b', b's', b'e', b'n').
///
/// # Safety
/// A live context and a C string name.
unsafe fn register(
    ctx: *mut Ctx,
    name: *const c_char,
    flags: u32,
    kind_tag: u8,
    kind: Kind,
    apply: Option<ApplyFn>,
    privdata: *mut c_void,
) -> c_int {
    // SAFETY: per the contract above.
    let (ctx, name) = unsafe { (&mut *ctx, super::cstr(name)) };
    let module = ctx.module;
    if module.is_null() {
        return REDISMODULE_ERR;
    }
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    if !validate(srv, module, name, flags, kind_tag) {
        return REDISMODULE_ERR;
    }
    // SAFETY: the module of a live context is registered (or registering).
    let full = format!(
        "{}.{}",
        unsafe { &(*module).name },
        String::from_utf8_lossy(name)
    );
    srv.modules.configs.list.push(ModConfig {
        module,
        name: CString::new(name).unwrap_or_default(),
        full,
        flags,
        kind,
        apply,
        privdata,
    });
    REDISMODULE_OK
}

unsafe extern "C" fn register_bool(
    ctx: *mut Ctx,
    name: *const c_char,
    default: c_int,
    flags: u32,
    get: GetInt,
    set: SetInt,
    apply: Option<ApplyFn>,
    privdata: *mut c_void,
) -> c_int {
    let kind = Kind::Bool {
        default: default != 0,
        get,
        set,
    };
    // SAFETY: forwarded contract.
    unsafe { register(ctx, name, flags, b'b', kind, apply, privdata) }
}

unsafe extern "C" fn register_string(
    ctx: *mut Ctx,
    name: *const c_char,
    default: *const c_char,
    flags: u32,
    get: GetStr,
    set: SetStr,
    apply: Option<ApplyFn>,
    privdata: *mut c_void,
) -> c_int {
    let default = if default.is_null() {
        None
    } else {
        // SAFETY: a C string.
        Some(unsafe { super::cstr(default) }.to_vec())
    };
    let kind = Kind::Str { default, get, set };
    // 7.0 validates string configs with the numeric rules (MEMORY is accepted, BITFLAGS not).
    // SAFETY: forwarded contract.
    unsafe { register(ctx, name, flags, b'n', kind, apply, privdata) }
}

unsafe extern "C" fn register_enum(
    ctx: *mut Ctx,
    name: *const c_char,
    default: c_int,
    flags: u32,
    names: *const *const c_char,
    ints: *const c_int,
    n: c_int,
    get: GetInt,
    set: SetInt,
    apply: Option<ApplyFn>,
    privdata: *mut c_void,
) -> c_int {
    let mut values = Vec::with_capacity(n.max(0) as usize);
    for i in 0..n.max(0) as usize {
        // SAFETY: the module passes `n` names and `n` values.
        unsafe {
            let nm = String::from_utf8_lossy(super::cstr(*names.add(i))).into_owned();
            values.push((nm, *ints.add(i)));
        }
    }
    let kind = Kind::Enum {
        default,
        values,
        get,
        set,
    };
    // SAFETY: forwarded contract.
    unsafe { register(ctx, name, flags, b'e', kind, apply, privdata) }
}

unsafe extern "C" fn register_numeric(
    ctx: *mut Ctx,
    name: *const c_char,
    default: c_longlong,
    flags: u32,
    min: c_longlong,
    max: c_longlong,
    get: GetNum,
    set: SetNum,
    apply: Option<ApplyFn>,
    privdata: *mut c_void,
) -> c_int {
    let kind = Kind::Numeric {
        default,
        min,
        max,
        get,
        set,
    };
    // SAFETY: forwarded contract.
    unsafe { register(ctx, name, flags, b'n', kind, apply, privdata) }
}

/// LoadConfigs: gives each config of the module its queued value or its default.
unsafe extern "C" fn load_configs(ctx: *mut Ctx) -> c_int {
    // SAFETY: NULL or a live context.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return REDISMODULE_ERR;
    };
    let module = ctx.module;
    if module.is_null() {
        return REDISMODULE_ERR;
    }
    // SAFETY: a live context.
    let srv = unsafe { ctx.server() };
    let mine: Vec<usize> = (0..srv.modules.configs.list.len())
        .filter(|&i| std::ptr::eq(srv.modules.configs.list[i].module, module))
        .collect();
    for i in mine {
        let full = srv.modules.configs.list[i].full.clone();
        let queued = srv
            .modules
            .configs
            .queue
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(full.as_bytes()));
        match queued {
            Some(q) => {
                let (qname, value) = srv.modules.configs.queue[q].clone();
                if let Err(e) = set_value(srv, i, &value) {
                    crate::log_warning!(
                        "Issue during loading of configuration {} : {}",
                        String::from_utf8_lossy(&qname),
                        e
                    );
                    srv.modules.configs.queue.clear();
                    return REDISMODULE_ERR;
                }
                srv.modules.configs.queue.remove(q);
            }
            None => {
                if let Err(e) = set_default(srv, i) {
                    let short = srv.modules.configs.list[i]
                        .name
                        .to_string_lossy()
                        .into_owned();
                    crate::log_warning!(
                        "Issue attempting to set default value of configuration {} : {}",
                        short,
                        e
                    );
                    srv.modules.configs.queue.clear();
                    return REDISMODULE_ERR;
                }
            }
        }
    }
    srv.modules.configs.initialized.push(module);
    REDISMODULE_OK
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "RegisterBoolConfig" => register_bool as unsafe extern "C" fn(*mut Ctx, *const c_char, c_int, u32, GetInt, SetInt, Option<ApplyFn>, *mut c_void) -> c_int,
        "RegisterStringConfig" => register_string as unsafe extern "C" fn(*mut Ctx, *const c_char, *const c_char, u32, GetStr, SetStr, Option<ApplyFn>, *mut c_void) -> c_int,
        "RegisterEnumConfig" => register_enum as unsafe extern "C" fn(*mut Ctx, *const c_char, c_int, u32, *const *const c_char, *const c_int, c_int, GetInt, SetInt, Option<ApplyFn>, *mut c_void) -> c_int,
        "RegisterNumericConfig" => register_numeric as unsafe extern "C" fn(*mut Ctx, *const c_char, c_longlong, u32, c_longlong, c_longlong, GetNum, SetNum, Option<ApplyFn>, *mut c_void) -> c_int,
        "LoadConfigs" => load_configs as unsafe extern "C" fn(*mut Ctx) -> c_int,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals() -> Vec<(String, i32)> {
        [
            ("none", 0),
            ("five", 5),
            ("one", 1),
            ("two", 2),
            ("four", 4),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), *v))
        .collect()
    }

    #[test]
    fn bitflag_names_prefer_earlier_wider_entries() {
        let v = vals();
        assert_eq!(enum_name(&v, 3, true), "one two");
        assert_eq!(enum_name(&v, 7, true), "five two");
        assert_eq!(enum_name(&v, 6, true), "two four");
        assert_eq!(enum_name(&v, 0, true), "none");
        assert_eq!(enum_name(&v, 8, true), "unknown");
        assert_eq!(enum_name(&v, 3, false), "unknown");
    }
}
