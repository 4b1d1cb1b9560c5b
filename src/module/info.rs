//! Module INFO sections (RegisterInfoFunc, InfoAddSection, InfoAddField*, dict fields) and the
//! `# Modules` list. A module's sections are printed for `INFO everything`, `INFO modules`,
//! `INFO <module>` (all of its sections) or `INFO <module>_<section>`, after the server's own.

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_longlong, c_ulonglong};
use std::fmt::Write;

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;
use super::Module;
use crate::server::Server;

pub type InfoFunc = unsafe extern "C" fn(*mut InfoCtx, c_int);

pub struct InfoCtx {
    module: *mut Module,
    requested: Option<HashSet<String>>,
    out: String,
    /// Sections printed so far (the server's and modules'): each after the first is
    /// preceded by a blank line.
    sections: usize,
    in_section: bool,
    in_dict_field: bool,
}

impl InfoCtx {
    fn name(&self) -> &str {
        // SAFETY: the module is loaded while its callback runs.
        unsafe { &(*self.module).name }
    }
}

/// ':' and line breaks would break INFO's line format.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, ':' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The `# Modules` lines.
pub fn module_list(srv: &Server, out: &mut String) {
    for m in &srv.modules.list {
        let mut options = Vec::new();
        if m.options & (1 << 0) != 0 {
            options.push("handle-io-errors");
        }
        if m.options & (1 << 2) != 0 {
            options.push("handle-repl-async-load");
        }
        if m.options & (1 << 1) != 0 {
            options.push("no-implicit-signal-modified");
        }
        let mp: *const Module = &**m;
        let filters = srv.modules.filters.count_of(mp);
        let (usedby, using) = srv.modules.shared.users_and_used(mp);
        let _ = write!(
            out,
            "module:name={},ver={},api={},filters={},usedby=[{}],using=[{}],options=[{}],allocated_bytes={}\r\n",
            m.name,
            m.ver,
            m.apiver,
            filters,
            usedby.join("|"),
            using.join("|"),
            options.join("|"),
            super::alloc::held(m.alloc_slot)
        );
    }
}

/// Appends the sections of modules with an info callback. `requested` limits them to those
/// named (None: all of them).
pub fn collect(
    srv: &mut Server,
    out: &mut String,
    sections: usize,
    requested: Option<&HashSet<String>>,
) {
    let callbacks: Vec<(*mut Module, InfoFunc)> = srv
        .modules
        .list
        .iter_mut()
        .filter_map(|m| m.info_cb.map(|cb| (&mut **m as *mut Module, cb)))
        .collect();
    let mut sections = sections;
    for (module, cb) in callbacks {
        let mut ictx = InfoCtx {
            module,
            requested: requested.cloned(),
            out: std::mem::take(out),
            sections,
            in_section: false,
            in_dict_field: false,
        };
        super::command::set_current_server(srv);
        // SAFETY: the module registered this callback and is loaded.
        unsafe { cb(&mut ictx, 0) };
        if ictx.in_dict_field {
            end_dict(&mut ictx);
        }
        *out = ictx.out;
        sections = ictx.sections;
    }
}

unsafe extern "C" fn register_info_func(ctx: *mut Ctx, cb: Option<InfoFunc>) -> c_int {
    // SAFETY: a live context.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: the context's module is registered (this is called from OnLoad, after Init).
    match unsafe { ctx.module.as_mut() } {
        Some(m) => {
            m.info_cb = cb;
            REDISMODULE_OK
        }
        None => REDISMODULE_ERR,
    }
}

fn end_dict(ictx: &mut InfoCtx) {
    if ictx.out.ends_with(',') {
        ictx.out.pop();
    }
    ictx.out.push_str("\r\n");
    ictx.in_dict_field = false;
}

unsafe extern "C" fn add_section(ictx: *mut InfoCtx, name: *const c_char) -> c_int {
    // SAFETY: a live info context and a C string (or NULL).
    let (ictx, name) = unsafe { (&mut *ictx, super::cstr(name)) };
    let mut full = ictx.name().to_string();
    if !name.is_empty() {
        full.push('_');
        full.push_str(&String::from_utf8_lossy(name));
    }
    if ictx.in_dict_field {
        end_dict(ictx);
    }
    if let Some(req) = &ictx.requested {
        let modname = ictx.name().to_ascii_lowercase();
        if !req.contains(&full.to_ascii_lowercase()) && !req.contains(&modname) {
            ictx.in_section = false;
            return REDISMODULE_ERR;
        }
    }
    if ictx.sections > 0 {
        ictx.out.push_str("\r\n");
    }
    ictx.sections += 1;
    let _ = write!(ictx.out, "# {}\r\n", full);
    ictx.in_section = true;
    REDISMODULE_OK
}

unsafe extern "C" fn begin_dict_field(ictx: *mut InfoCtx, name: *const c_char) -> c_int {
    // SAFETY: a live info context and a C string.
    let (ictx, name) = unsafe { (&mut *ictx, super::cstr(name)) };
    if !ictx.in_section {
        return REDISMODULE_ERR;
    }
    if ictx.in_dict_field {
        end_dict(ictx);
    }
    let line = format!(
        "{}_{}:",
        safe(ictx.name()),
        safe(&String::from_utf8_lossy(name))
    );
    ictx.out.push_str(&line);
    ictx.in_dict_field = true;
    REDISMODULE_OK
}

unsafe extern "C" fn end_dict_field(ictx: *mut InfoCtx) -> c_int {
    // SAFETY: a live info context.
    let ictx = unsafe { &mut *ictx };
    if !ictx.in_dict_field {
        return REDISMODULE_ERR;
    }
    end_dict(ictx);
    REDISMODULE_OK
}

/// Adds `field` with an already formatted value.
fn add_field(ictx: *mut InfoCtx, field: *const c_char, value: &str) -> c_int {
    // SAFETY: a live info context and a C string.
    let (ictx, field) = unsafe { (&mut *ictx, super::cstr(field)) };
    if !ictx.in_section {
        return REDISMODULE_ERR;
    }
    let field = String::from_utf8_lossy(field);
    if ictx.in_dict_field {
        let _ = write!(ictx.out, "{}={},", field, value);
    } else {
        let line = format!("{}_{}:{}\r\n", ictx.name(), field, value);
        ictx.out.push_str(&line);
    }
    REDISMODULE_OK
}

unsafe extern "C" fn add_field_string(
    ictx: *mut InfoCtx,
    field: *const c_char,
    v: *mut RmString,
) -> c_int {
    // SAFETY: a live module string.
    let v = String::from_utf8_lossy(unsafe { RmString::get(v) }).into_owned();
    add_field(ictx, field, &v)
}

unsafe extern "C" fn add_field_cstring(
    ictx: *mut InfoCtx,
    field: *const c_char,
    v: *const c_char,
) -> c_int {
    // SAFETY: a C string.
    let v = String::from_utf8_lossy(unsafe { super::cstr(v) }).into_owned();
    add_field(ictx, field, &v)
}

unsafe extern "C" fn add_field_double(ictx: *mut InfoCtx, field: *const c_char, v: f64) -> c_int {
    let v = String::from_utf8_lossy(&crate::util::f64_g17(v)).into_owned();
    add_field(ictx, field, &v)
}

unsafe extern "C" fn add_field_ll(
    ictx: *mut InfoCtx,
    field: *const c_char,
    v: c_longlong,
) -> c_int {
    add_field(ictx, field, &v.to_string())
}

unsafe extern "C" fn add_field_ull(
    ictx: *mut InfoCtx,
    field: *const c_char,
    v: c_ulonglong,
) -> c_int {
    add_field(ictx, field, &v.to_string())
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "RegisterInfoFunc" => register_info_func as unsafe extern "C" fn(*mut Ctx, Option<InfoFunc>) -> c_int,
        "InfoAddSection" => add_section as unsafe extern "C" fn(*mut InfoCtx, *const c_char) -> c_int,
        "InfoBeginDictField" => begin_dict_field as unsafe extern "C" fn(*mut InfoCtx, *const c_char) -> c_int,
        "InfoEndDictField" => end_dict_field as unsafe extern "C" fn(*mut InfoCtx) -> c_int,
        "InfoAddFieldString" => add_field_string as unsafe extern "C" fn(*mut InfoCtx, *const c_char, *mut RmString) -> c_int,
        "InfoAddFieldCString" => add_field_cstring as unsafe extern "C" fn(*mut InfoCtx, *const c_char, *const c_char) -> c_int,
        "InfoAddFieldDouble" => add_field_double as unsafe extern "C" fn(*mut InfoCtx, *const c_char, f64) -> c_int,
        "InfoAddFieldLongLong" => add_field_ll as unsafe extern "C" fn(*mut InfoCtx, *const c_char, c_longlong) -> c_int,
        "InfoAddFieldULongLong" => add_field_ull as unsafe extern "C" fn(*mut InfoCtx, *const c_char, c_ulonglong) -> c_int,
    ]
}

/// GetServerInfo's result: INFO's fields by name.
pub struct ServerInfo {
    fields: std::collections::HashMap<Vec<u8>, std::ffi::CString>,
}

unsafe extern "C" fn get_server_info(ctx: *mut Ctx, section: *const c_char) -> *mut ServerInfo {
    // SAFETY: a live context (or NULL: then the server recorded at entry) and a C string.
    let srv = match unsafe { ctx.as_ref() } {
        // SAFETY: a live context.
        Some(c) => unsafe { c.server() },
        None => match super::command::current_server() {
            Some(s) => s,
            None => return std::ptr::null_mut(),
        },
    };
    let args: Vec<Vec<u8>> = if section.is_null() {
        Vec::new()
    } else {
        // SAFETY: a C string.
        vec![unsafe { super::cstr(section) }.to_vec()]
    };
    let sel = crate::commands::info::Sections::from_args(&args);
    let used = srv.used_memory();
    let text = srv.gen_info_string(&sel, None, used);
    let mut fields = std::collections::HashMap::new();
    for line in text.split("\r\n") {
        if line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            fields.insert(
                k.as_bytes().to_vec(),
                std::ffi::CString::new(v).unwrap_or_default(),
            );
        }
    }
    Box::into_raw(Box::new(ServerInfo { fields }))
}

unsafe extern "C" fn free_server_info(_ctx: *mut Ctx, data: *mut ServerInfo) {
    if !data.is_null() {
        // SAFETY: created by get_server_info, freed once by the module.
        drop(unsafe { Box::from_raw(data) });
    }
}

fn field<'a>(data: *mut ServerInfo, name: *const c_char) -> Option<&'a std::ffi::CString> {
    // SAFETY: a live info result and a C string.
    unsafe { (*data).fields.get(super::cstr(name)) }
}

unsafe extern "C" fn info_get_field(
    ctx: *mut Ctx,
    data: *mut ServerInfo,
    name: *const c_char,
) -> *mut RmString {
    match field(data, name) {
        Some(v) => super::string::create(ctx, v.as_bytes()),
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn info_get_field_c(data: *mut ServerInfo, name: *const c_char) -> *const c_char {
    field(data, name)
        .map(|v| v.as_ptr())
        .unwrap_or(std::ptr::null())
}

fn set_err(out_err: *mut c_int, err: bool) {
    // SAFETY: `out_err` is NULL or writable.
    if let Some(e) = unsafe { out_err.as_mut() } {
        *e = err as c_int;
    }
}

unsafe extern "C" fn info_get_signed(
    data: *mut ServerInfo,
    name: *const c_char,
    out_err: *mut c_int,
) -> c_longlong {
    match field(data, name).and_then(|v| crate::util::parse_i64(v.as_bytes())) {
        Some(n) => {
            set_err(out_err, false);
            n
        }
        None => {
            set_err(out_err, true);
            0
        }
    }
}

unsafe extern "C" fn info_get_unsigned(
    data: *mut ServerInfo,
    name: *const c_char,
    out_err: *mut c_int,
) -> c_ulonglong {
    match field(data, name).and_then(|v| crate::util::parse_u64(v.as_bytes())) {
        Some(n) => {
            set_err(out_err, false);
            n
        }
        None => {
            set_err(out_err, true);
            0
        }
    }
}

unsafe extern "C" fn info_get_double(
    data: *mut ServerInfo,
    name: *const c_char,
    out_err: *mut c_int,
) -> f64 {
    match field(data, name).and_then(|v| crate::util::parse_f64(v.as_bytes())) {
        Some(n) => {
            set_err(out_err, false);
            n
        }
        None => {
            set_err(out_err, true);
            0.0
        }
    }
}

pub fn server_info_entries() -> Vec<(&'static str, usize)> {
    type Num<T> = unsafe extern "C" fn(*mut ServerInfo, *const c_char, *mut c_int) -> T;
    super::api_entries![
        "GetServerInfo" => get_server_info as unsafe extern "C" fn(*mut Ctx, *const c_char) -> *mut ServerInfo,
        "FreeServerInfo" => free_server_info as unsafe extern "C" fn(*mut Ctx, *mut ServerInfo),
        "ServerInfoGetField" => info_get_field as unsafe extern "C" fn(*mut Ctx, *mut ServerInfo, *const c_char) -> *mut RmString,
        "ServerInfoGetFieldC" => info_get_field_c as unsafe extern "C" fn(*mut ServerInfo, *const c_char) -> *const c_char,
        "ServerInfoGetFieldSigned" => info_get_signed as Num<c_longlong>,
        "ServerInfoGetFieldUnsigned" => info_get_unsigned as Num<c_ulonglong>,
        "ServerInfoGetFieldDouble" => info_get_double as Num<f64>,
    ]
}
