//! `RedisModuleIO` and `RedisModuleDigest`: what a data type's callbacks read and write.
//! Saving (RDB, DUMP, SaveDataTypeToString) goes through an RDB writer into a buffer that the
//! caller then appends to its own output; loading reads from the RDB reader of the file or
//! payload being loaded; AOF rewriting collects EmitAOF's commands as RESP. Every item a
//! module saves is preceded by its opcode (Redis' "module serialization version 2"), and a
//! value ends with the EOF opcode, which is how a loader (or redis-check-rdb) that does not
//! know the module can still walk over the value.
//!
//! Also here: the RDB glue the rest of the server calls (`save_value`, `load_value`,
//! `save_aux`, `load_aux`, `skip_value`, `aof_rewrite`, `digest`).

use std::ffi::{c_char, c_int, c_void};
use std::io;

use super::ctx::{Ctx, REDISMODULE_OK};
use super::datatype::{self, ModuleType, ModuleValue};
use super::string::RmString;
use crate::rdb::decode::Reader;
use crate::rdb::encode::Writer;
use crate::rdb::{corrupt, module_type_name, LoadError, LoadResult};
use crate::types::Value;

/// SetModuleOptions bits.
pub const OPTIONS_HANDLE_IO_ERRORS: c_int = 1 << 0;
pub const OPTIONS_NO_IMPLICIT_SIGNAL_MODIFIED: c_int = 1 << 1;
pub const OPTIONS_HANDLE_REPL_ASYNC_LOAD: c_int = 1 << 2;

/// When aux data is saved (aux_save_triggers).
pub const AUX_BEFORE_RDB: c_int = 1 << 0;
pub const AUX_AFTER_RDB: c_int = 1 << 1;

/// The opcode before each item of a module value.
mod op {
    pub const EOF: u64 = 0;
    pub const SINT: u64 = 1;
    pub const UINT: u64 = 2;
    pub const FLOAT: u64 = 3;
    pub const DOUBLE: u64 = 4;
    pub const STRING: u64 = 5;
}

enum Target {
    Save(Writer<Vec<u8>>),
    /// The reader of the file or payload being loaded; only used during the load callback
    /// the `Io` was made for, while the reader is borrowed by the caller.
    Load(*mut Reader<'static>),
    /// EmitAOF's commands, as RESP.
    Aof(Vec<u8>),
}

/// `RedisModuleIO`.
pub struct Io {
    ty: &'static ModuleType,
    target: Target,
    /// 2 when every item carries its opcode (all values written since Redis 4.0 GA).
    ver: c_int,
    error: bool,
    /// The key whose value is saved or loaded (NULL for aux data and string payloads).
    key: *mut RmString,
    dbid: c_int,
    /// GetContextFromIO's context, made on demand.
    ctx: Option<Box<Ctx>>,
}

impl Io {
    fn new(ty: &'static ModuleType, target: Target, key: Option<&[u8]>, dbid: c_int) -> Io {
        Io {
            ty,
            target,
            ver: 2,
            error: false,
            key: key.map_or(std::ptr::null_mut(), RmString::new_raw),
            dbid,
            ctx: None,
        }
    }

    fn writer(&mut self) -> Option<&mut Writer<Vec<u8>>> {
        match &mut self.target {
            Target::Save(w) if !self.error => Some(w),
            _ => None,
        }
    }

    /// Writes an opcode then the item; any failure marks the IO as failed.
    fn save_item(&mut self, opcode: u64, f: impl FnOnce(&mut Writer<Vec<u8>>) -> io::Result<()>) {
        let Some(w) = self.writer() else {
            return;
        };
        if w.len(opcode).and_then(|_| f(w)).is_err() {
            self.error = true;
        }
    }

    fn reader(&mut self) -> Option<&mut Reader<'static>> {
        match self.target {
            // SAFETY: the reader outlives the callback this Io was made for (see Target).
            Target::Load(r) if !self.error => Some(unsafe { &mut *r }),
            _ => None,
        }
    }

    /// Reads an item after checking its opcode; None (with the error handled) on failure.
    fn load_item<T>(
        &mut self,
        opcode: u64,
        f: impl FnOnce(&mut Reader<'static>) -> LoadResult<T>,
    ) -> Option<T> {
        let ver = self.ver;
        let r = self.reader()?;
        let res = (|| {
            if ver == 2 && r.length()? != opcode {
                return Err(LoadError::Eof);
            }
            f(r)
        })();
        match res {
            Ok(v) => Some(v),
            Err(_) => {
                self.load_error();
                None
            }
        }
    }

    /// A failed read: recorded for modules that handle IO errors, fatal for the others (as
    /// Redis' panic: their callbacks would go on with garbage).
    fn load_error(&mut self) {
        if self.ty.module_options() & OPTIONS_HANDLE_IO_ERRORS != 0 {
            self.error = true;
            return;
        }
        let key = if self.key.is_null() {
            "(null)".to_string()
        } else {
            // SAFETY: the Io's own key string.
            String::from_utf8_lossy(unsafe { RmString::get(self.key) }).into_owned()
        };
        let pos = match self.target {
            // SAFETY: as in `reader`.
            Target::Load(r) => unsafe { (*r).pos() },
            _ => 0,
        };
        crate::log_warning!(
            "Guru Meditation: Error loading data from RDB (short read or EOF). Read performed by module '{}' about type '{}' after reading '{}' bytes of a value for key named: '{}'. #module.rs",
            self.ty.module_name(),
            self.ty.name,
            pos,
            key
        );
        std::process::abort();
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        if let Some(mut c) = self.ctx.take() {
            c.finish();
        }
        if !self.key.is_null() {
            // SAFETY: created by `Io::new` with one reference.
            unsafe { RmString::release(self.key) };
        }
    }
}

/// Runs module code with the crash label naming the type and its module.
fn in_module<R>(ty: &ModuleType, f: impl FnOnce() -> R) -> R {
    let prev = super::crash::enter(ty.label);
    let r = f();
    super::crash::leave(prev);
    r
}

// ---- RDB glue ----

/// The reader as the `Io` holds it: its lifetime is erased because the `Io` passes through C
/// code; it is used only during the callback the caller runs while borrowing the reader.
fn erase(r: &mut Reader<'_>) -> *mut Reader<'static> {
    (r as *mut Reader<'_>).cast()
}

/// The body of a module value after its type byte: the type id, what the module saves, and
/// the EOF opcode. `key`/`db` are what GetKeyNameFromIO/GetDbIdFromIO answer.
pub fn save_value(
    mv: &ModuleValue,
    key: Option<&[u8]>,
    db: c_int,
    compression: bool,
) -> io::Result<Vec<u8>> {
    let t = mv.ty;
    let Some(save) = t.rdb_save else {
        return Err(io::Error::other("module type without rdb_save"));
    };
    let mut w = Writer::new(Vec::new(), false, compression);
    w.len(t.id)?;
    let mut io = Io::new(t, Target::Save(w), key, db);
    in_module(t, || {
        // SAFETY: the module's callback with a valid IO and its own value.
        unsafe { save(&mut io, mv.ptr) }
    });
    io.save_item(op::EOF, |_| Ok(()));
    finish_save(io)
}

fn finish_save(mut io: Io) -> io::Result<Vec<u8>> {
    if io.error {
        return Err(io::Error::other("module save failed"));
    }
    match std::mem::replace(&mut io.target, Target::Aof(Vec::new())) {
        Target::Save(w) => Ok(w.into_inner()),
        _ => unreachable!("a save IO"),
    }
}

/// Reads a module value (after its type byte): finds the type by id and lets the module read
/// it. `ver2` is false for the pre-GA type byte, whose items carry no opcodes.
pub fn load_value(r: &mut Reader, key: Option<&[u8]>, db: c_int, ver2: bool) -> LoadResult<Value> {
    let id = r.length()?;
    let Some(t) = datatype::lookup_by_id(id) else {
        return corrupt(format!(
            "The RDB file contains module data I can't load: no matching module type '{}'",
            module_type_name(id)
        ));
    };
    let Some(load) = t.rdb_load else {
        return corrupt(format!(
            "The RDB file contains module data for the module type '{}', that the responsible module is not able to load. Check for modules log above for additional clues.",
            t.module_name()
        ));
    };
    let rp = erase(r);
    let mut io = Io::new(t, Target::Load(rp), key, db);
    io.ver = if ver2 { 2 } else { 1 };
    let ptr = in_module(t, || {
        // SAFETY: the module's callback with a valid IO; the reader outlives it.
        unsafe { load(&mut io, (id & 1023) as c_int) }
    });
    drop(io);
    // Owning the pointer right away frees it on every error path below.
    let value = (!ptr.is_null()).then(|| ModuleValue { ty: t, ptr });
    if ver2 {
        let eof = r.length();
        match eof {
            Err(e) => return Err(e),
            Ok(op::EOF) => {}
            Ok(_) => {
                return corrupt(format!(
                    "The RDB file contains module data for the module '{}' that is not terminated by the proper module value EOF marker",
                    t.module_name()
                ))
            }
        }
    }
    match value {
        Some(v) => Ok(Value::Module(Box::new(v))),
        None => corrupt(format!(
            "The RDB file contains module data for the module type '{}', that the responsible module is not able to load. Check for modules log above for additional clues.",
            t.module_name()
        )),
    }
}

/// Writes the aux data of every type that saves some at this point (`when` is
/// AUX_BEFORE_RDB or AUX_AFTER_RDB): opcode, type id, the `when` as an unsigned item, the
/// module's data, EOF.
pub fn save_aux<W: io::Write>(w: &mut Writer<W>, when: c_int, compression: bool) -> io::Result<()> {
    for t in datatype::all_types() {
        let Some(aux_save) = t.aux_save else {
            continue;
        };
        if t.aux_save_triggers & when == 0 {
            continue;
        }
        let mut body = Writer::new(Vec::new(), false, compression);
        body.len(t.id)?;
        body.len(op::UINT)?;
        body.len(when as u64)?;
        let mut io = Io::new(t, Target::Save(body), None, -1);
        in_module(t, || {
            // SAFETY: the module's callback with a valid IO.
            unsafe { aux_save(&mut io, when) }
        });
        io.save_item(op::EOF, |_| Ok(()));
        let bytes = finish_save(io)?;
        w.byte(crate::rdb::opcode::MODULE_AUX)?;
        w.raw(&bytes)?;
    }
    Ok(())
}

/// Reads one module aux record (after its opcode) and hands it to its module.
pub fn load_aux(r: &mut Reader) -> LoadResult<()> {
    let id = r.length()?;
    let when_opcode = r.length()?;
    let when = r.length()?;
    if when_opcode != op::UINT {
        return corrupt("bad when_opcode");
    }
    let name = module_type_name(id);
    let Some(t) = datatype::lookup_by_id(id) else {
        crate::log_warning!(
            "The RDB file contains AUX module data I can't load: no matching module '{}'",
            name
        );
        return corrupt(format!("no matching module '{}'", name));
    };
    let Some(aux_load) = t.aux_load else {
        crate::log_warning!(
            "The RDB file contains module AUX data, but the module '{}' doesn't seem to support it.",
            name
        );
        return corrupt(format!("module '{}' can't load AUX data", name));
    };
    let rp = erase(r);
    let mut io = Io::new(t, Target::Load(rp), None, -1);
    let rc = in_module(t, || {
        // SAFETY: the module's callback with a valid IO; the reader outlives it.
        unsafe { aux_load(&mut io, (id & 1023) as c_int, when as c_int) }
    });
    let failed = io.error;
    drop(io);
    if rc != REDISMODULE_OK || failed {
        crate::log_warning!("The RDB file contains module AUX data for the module type '{}', that the responsible module is not able to load. Check for modules log above for additional clues.", name);
        return corrupt("module aux data");
    }
    if r.length()? != op::EOF {
        crate::log_warning!("The RDB file contains module AUX data for the module '{}' that is not terminated by the proper module value EOF marker", name);
        return corrupt("module aux data");
    }
    Ok(())
}

/// Checks that a module value (after its type byte) is all in the input, by its item
/// opcodes, before its module reads it: `Eof` when it is cut short. Malformed items are
/// left for the module's own read to meet.
pub fn probe_value(r: &mut Reader) -> LoadResult<()> {
    r.length()?;
    probe_items(r)
}

/// `probe_value` for a module aux record (after its opcode).
pub fn probe_aux(r: &mut Reader) -> LoadResult<()> {
    r.length()?;
    r.length()?;
    r.length()?;
    probe_items(r)
}

fn probe_items(r: &mut Reader) -> LoadResult<()> {
    loop {
        let read = match r.length()? {
            op::EOF => return Ok(()),
            op::SINT | op::UINT => r.length().map(|_| ()),
            op::STRING => r.string().map(|_| ()),
            op::FLOAT => r.take(4).map(|_| ()),
            op::DOUBLE => r.take(8).map(|_| ()),
            _ => return Ok(()),
        };
        match read {
            Err(LoadError::Eof) => return Err(LoadError::Eof),
            Err(_) => return Ok(()),
            Ok(()) => {}
        }
    }
}

/// Walks over a module value or aux record by its opcodes without the module (what
/// redis-check-rdb does): every item up to the EOF opcode must be well formed.
pub fn skip_value(r: &mut Reader, name: &str) -> LoadResult<()> {
    loop {
        let opcode = r.length()?;
        let what = match opcode {
            op::EOF => return Ok(()),
            op::SINT | op::UINT => r.length().map(|_| ()).map_err(|_| "integer"),
            op::STRING => r.string().map(|_| ()).map_err(|_| "string"),
            op::FLOAT => r.take(4).map(|_| ()).map_err(|_| "float"),
            op::DOUBLE => r.take(8).map(|_| ()).map_err(|_| "double"),
            // Redis' checker reads the next opcode; an unknown one is not an error there.
            _ => Ok(()),
        };
        if let Err(w) = what {
            return corrupt(format!("Error reading {} from module {} value", w, name));
        }
    }
}

/// The commands that rebuild a module value in a rewritten AOF (its aof_rewrite callback's
/// EmitAOF calls), as RESP.
pub fn aof_rewrite(mv: &ModuleValue, key: &[u8], db: c_int) -> io::Result<Vec<u8>> {
    let t = mv.ty;
    let Some(rewrite) = t.aof_rewrite else {
        return Err(io::Error::other(format!(
            "module data type '{}' has no aof_rewrite method",
            t.name
        )));
    };
    let mut io = Io::new(t, Target::Aof(Vec::new()), Some(key), db);
    let k = io.key;
    in_module(t, || {
        // SAFETY: the module's callback with a valid IO, key and its own value.
        unsafe { rewrite(&mut io, k, mv.ptr) }
    });
    if io.error {
        return Err(io::Error::other("module aof rewrite failed"));
    }
    match std::mem::replace(&mut io.target, Target::Aof(Vec::new())) {
        Target::Aof(v) => Ok(v),
        _ => unreachable!("an AOF IO"),
    }
}

/// `RedisModuleDigest`: `o` accumulates the current sequence (order-dependent), `x` the XOR
/// of finished sequences.
#[repr(C)]
pub struct Digest {
    o: [u8; 20],
    x: [u8; 20],
    key: *mut RmString,
    dbid: c_int,
}

/// DEBUG DIGEST's contribution of a module value: None when its type has no digest
/// callback (Redis then mixes in nothing but the type).
pub fn digest(mv: &ModuleValue, key: &[u8], db: usize) -> Option<[u8; 20]> {
    let f = mv.ty.digest?;
    let mut md = Digest {
        o: [0; 20],
        x: [0; 20],
        key: RmString::new_raw(key),
        dbid: db as c_int,
    };
    in_module(mv.ty, || {
        // SAFETY: the module's callback with a valid digest and its own value.
        unsafe { f(&mut md, mv.ptr) }
    });
    // SAFETY: created above with one reference.
    unsafe { RmString::release(md.key) };
    Some(md.x)
}

// ---- API ----

unsafe fn io_ref<'a>(io: *mut Io) -> &'a mut Io {
    // SAFETY: the IO handed to the running callback.
    unsafe { &mut *io }
}

unsafe extern "C" fn is_io_error(io: *mut Io) -> c_int {
    // SAFETY: see io_ref.
    unsafe { io_ref(io) }.error as c_int
}

unsafe extern "C" fn save_unsigned(io: *mut Io, v: u64) {
    // SAFETY: see io_ref.
    unsafe { io_ref(io) }.save_item(op::UINT, |w| w.len(v));
}

unsafe extern "C" fn save_signed(io: *mut Io, v: i64) {
    // SAFETY: forwarded.
    unsafe { save_unsigned(io, v as u64) }
}

unsafe extern "C" fn load_unsigned(io: *mut Io) -> u64 {
    // SAFETY: see io_ref.
    unsafe { io_ref(io) }
        .load_item(op::UINT, |r| r.length())
        .unwrap_or(0)
}

unsafe extern "C" fn load_signed(io: *mut Io) -> i64 {
    // SAFETY: forwarded.
    unsafe { load_unsigned(io) as i64 }
}

unsafe extern "C" fn save_string(io: *mut Io, s: *mut RmString) {
    // SAFETY: a live module string.
    let b = unsafe { RmString::get(s) };
    // SAFETY: see io_ref.
    unsafe { io_ref(io) }.save_item(op::STRING, |w| w.string(b));
}

/// RedisModule_SaveStringBuffer (also called by the C shim's SaveLongDouble).
///
/// # Safety
/// `io` is the IO handed to the running callback; other pointers are valid for their
/// lengths (C strings NUL-terminated).
#[no_mangle]
pub unsafe extern "C" fn ferrodis_io_save_string_buffer(io: *mut Io, p: *const c_char, len: usize) {
    let b: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: the module's buffer of `len` bytes.
        unsafe { std::slice::from_raw_parts(p as *const u8, len) }
    };
    // SAFETY: see io_ref.
    unsafe { io_ref(io) }.save_item(op::STRING, |w| w.string(b));
}

unsafe extern "C" fn load_string(io: *mut Io) -> *mut RmString {
    // SAFETY: see io_ref.
    match unsafe { io_ref(io) }.load_item(op::STRING, |r| r.string()) {
        Some(b) => RmString::new_raw(&b),
        None => std::ptr::null_mut(),
    }
}

/// RedisModule_LoadStringBuffer: a RedisModule_Alloc'ed copy the module frees (also called
/// by the C shim's LoadLongDouble).
///
/// # Safety
/// `io` is the IO handed to the running callback; other pointers are valid for their
/// lengths (C strings NUL-terminated).
#[no_mangle]
pub unsafe extern "C" fn ferrodis_io_load_string_buffer(
    io: *mut Io,
    lenptr: *mut usize,
) -> *mut c_char {
    // SAFETY: see io_ref.
    let Some(b) = (unsafe { io_ref(io) }).load_item(op::STRING, |r| r.string()) else {
        return std::ptr::null_mut();
    };
    // The module frees it with RedisModule_Free: counted as its memory.
    // SAFETY: see io_ref.
    let module = unsafe { io_ref(io) }.ty.module;
    // SAFETY: a data type's module is registered.
    let p = unsafe { super::alloc::alloc_for(module, b.len()) } as *mut u8;
    // SAFETY: `p` has room for the bytes; `lenptr` is NULL or writable.
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), p, b.len());
        if !lenptr.is_null() {
            *lenptr = b.len();
        }
    }
    p as *mut c_char
}

unsafe extern "C" fn save_double(io: *mut Io, v: f64) {
    // SAFETY: see io_ref.
    unsafe { io_ref(io) }.save_item(op::DOUBLE, |w| w.binary_double(v));
}

unsafe extern "C" fn load_double(io: *mut Io) -> f64 {
    // SAFETY: see io_ref.
    unsafe { io_ref(io) }
        .load_item(op::DOUBLE, |r| r.binary_double())
        .unwrap_or(0.0)
}

unsafe extern "C" fn save_float(io: *mut Io, v: f32) {
    // SAFETY: see io_ref.
    unsafe { io_ref(io) }.save_item(op::FLOAT, |w| w.raw(&v.to_le_bytes()));
}

unsafe extern "C" fn load_float(io: *mut Io) -> f32 {
    // SAFETY: see io_ref.
    unsafe { io_ref(io) }
        .load_item(op::FLOAT, |r| {
            Ok(f32::from_le_bytes(r.take(4)?.try_into().unwrap()))
        })
        .unwrap_or(0.0)
}

unsafe extern "C" fn get_context_from_io(io: *mut Io) -> *mut Ctx {
    // SAFETY: see io_ref.
    let io = unsafe { io_ref(io) };
    if io.ctx.is_none() {
        // IO callbacks run on the main thread (or in a fork child), so the context is an
        // ordinary one, counted in the module nesting like every other (its drop uncounts
        // it). Without a server yet, it stays a detached one that never touches the server.
        let c = match super::command::current_server() {
            Some(srv) => Ctx::new(srv, io.ty.module, super::ctx::flags::NONE),
            None => Ctx::thread_safe(
                std::ptr::null_mut(),
                io.ty.module,
                std::ptr::null_mut(),
                None,
            ),
        };
        io.ctx = Some(Box::new(c));
    }
    io.ctx.as_mut().map_or(std::ptr::null_mut(), |c| &mut **c)
}

unsafe extern "C" fn get_key_name_from_io(io: *mut Io) -> *const RmString {
    // SAFETY: see io_ref.
    unsafe { io_ref(io) }.key
}

unsafe extern "C" fn get_db_id_from_io(io: *mut Io) -> c_int {
    // SAFETY: see io_ref.
    unsafe { io_ref(io) }.dbid
}

/// The Rust half of RedisModule_LogIOError (the shim formatted the message).
///
/// # Safety
/// `io` is the IO handed to the running callback; other pointers are valid for their
/// lengths (C strings NUL-terminated).
#[no_mangle]
pub unsafe extern "C" fn ferrodis_module_log_io(
    io: *mut Io,
    level: *const c_char,
    msg: *const c_char,
) {
    // SAFETY: see io_ref; C strings from the shim.
    let (io, level, msg) = unsafe { (io_ref(io), super::cstr(level), super::cstr(msg)) };
    super::misc::module_log(Some(io.ty.module_name()), level, msg);
}

/// The Rust half of RedisModule_EmitAOF: the shim collected the arguments.
///
/// # Safety
/// `io` is the IO handed to the running callback; other pointers are valid for their
/// lengths (C strings NUL-terminated).
#[no_mangle]
pub unsafe extern "C" fn ferrodis_module_emit_aof(
    io: *mut Io,
    cmd: *const c_char,
    argv: *const *const c_char,
    lens: *const usize,
    argc: c_int,
    fmt_ok: c_int,
) {
    // SAFETY: see io_ref; a C string.
    let (io, cmd) = unsafe { (io_ref(io), super::cstr(cmd)) };
    if io.error {
        return;
    }
    let known =
        super::command::current_server().is_some_and(|srv| srv.commands.lookup_base(cmd).is_some());
    if !known {
        crate::log_warning!(
            "Fatal: AOF method for module data type '{}' tried to emit unknown command '{}'",
            io.ty.name,
            String::from_utf8_lossy(cmd)
        );
        io.error = true;
        super::set_errno(libc::EINVAL);
        return;
    }
    if fmt_ok == 0 {
        crate::log_warning!(
            "Fatal: AOF method for module data type '{}' tried to call RedisModule_EmitAOF() with wrong format specifiers",
            io.ty.name
        );
        io.error = true;
        super::set_errno(libc::EINVAL);
        return;
    }
    let Target::Aof(out) = &mut io.target else {
        io.error = true;
        return;
    };
    let n = argc.max(0) as usize;
    out.extend_from_slice(format!("*{}\r\n", n + 1).as_bytes());
    let mut push = |b: &[u8]| {
        out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
    };
    push(cmd);
    for i in 0..n {
        // SAFETY: the shim's arrays hold `argc` (pointer, length) pairs.
        let b = unsafe {
            let p = *argv.add(i);
            let l = *lens.add(i);
            if l == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(p as *const u8, l)
            }
        };
        push(b);
    }
}

unsafe extern "C" fn digest_add_string_buffer(md: *mut Digest, p: *const c_char, len: usize) {
    let b: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: the module's buffer of `len` bytes.
        unsafe { std::slice::from_raw_parts(p as *const u8, len) }
    };
    // SAFETY: the digest handed to the running callback.
    crate::commands::debug::mix_digest(unsafe { &mut (*md).o }, b);
}

unsafe extern "C" fn digest_add_long_long(md: *mut Digest, v: i64) {
    let mut buf = itoa::Buffer::new();
    // SAFETY: as above.
    crate::commands::debug::mix_digest(unsafe { &mut (*md).o }, buf.format(v).as_bytes());
}

unsafe extern "C" fn digest_end_sequence(md: *mut Digest) {
    // SAFETY: as above.
    let md = unsafe { &mut *md };
    // The finished sequence's SHA1 is XORed in, so sequences may come in any order.
    let o = md.o;
    crate::commands::debug::xor_digest(&mut md.x, &o);
    md.o = [0; 20];
}

unsafe extern "C" fn get_key_name_from_digest(md: *mut Digest) -> *const RmString {
    // SAFETY: as above.
    unsafe { (*md).key }
}

unsafe extern "C" fn get_db_id_from_digest(md: *mut Digest) -> c_int {
    // SAFETY: as above.
    unsafe { (*md).dbid }
}

/// A module string as an RDB payload of a data type (RedisModule_SaveDataTypeToString's
/// format): what the type's rdb_save writes, with opcodes, without type id or EOF.
unsafe extern "C" fn save_data_type_to_string(
    ctx: *mut Ctx,
    data: *mut c_void,
    mt: *const ModuleType,
) -> *mut RmString {
    // SAFETY: a type this server created (leaked, immortal).
    let Some(t) = (unsafe { mt.as_ref() }) else {
        return std::ptr::null_mut();
    };
    let Some(save) = t.rdb_save else {
        return std::ptr::null_mut();
    };
    let compression = super::command::current_server().is_some_and(|s| s.config.rdbcompression);
    let mut io = Io::new(
        t,
        Target::Save(Writer::new(Vec::new(), false, compression)),
        None,
        -1,
    );
    in_module(t, || {
        // SAFETY: the module's callback with a valid IO and its value.
        unsafe { save(&mut io, data) }
    });
    let Ok(bytes) = finish_save(io) else {
        return std::ptr::null_mut();
    };
    if ctx.is_null() {
        RmString::new_raw(&bytes)
    } else {
        super::string::create(ctx, &bytes)
    }
}

unsafe extern "C" fn load_data_type_from_string_encver(
    s: *const RmString,
    mt: *const ModuleType,
    encver: c_int,
) -> *mut c_void {
    // SAFETY: a live string and a type this server created.
    let (b, Some(t)) = (unsafe { RmString::get(s) }, unsafe { mt.as_ref() }) else {
        return std::ptr::null_mut();
    };
    let Some(load) = t.rdb_load else {
        return std::ptr::null_mut();
    };
    let mut r = Reader::new(b);
    let rp = erase(&mut r);
    let mut io = Io::new(t, Target::Load(rp), None, -1);
    in_module(t, || {
        // SAFETY: the module's callback with a valid IO; `r` outlives it.
        unsafe { load(&mut io, encver) }
    })
}

unsafe extern "C" fn load_data_type_from_string(
    s: *const RmString,
    mt: *const ModuleType,
) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { load_data_type_from_string_encver(s, mt, 0) }
}

extern "C" {
    fn ferrodis_shim_SaveLongDouble();
    fn ferrodis_shim_LoadLongDouble();
    fn ferrodis_shim_EmitAOF();
    fn ferrodis_shim_LogIOError();
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "IsIOError" => is_io_error as unsafe extern "C" fn(*mut Io) -> c_int,
        "SaveUnsigned" => save_unsigned as unsafe extern "C" fn(*mut Io, u64),
        "LoadUnsigned" => load_unsigned as unsafe extern "C" fn(*mut Io) -> u64,
        "SaveSigned" => save_signed as unsafe extern "C" fn(*mut Io, i64),
        "LoadSigned" => load_signed as unsafe extern "C" fn(*mut Io) -> i64,
        "SaveString" => save_string as unsafe extern "C" fn(*mut Io, *mut RmString),
        "SaveStringBuffer" => ferrodis_io_save_string_buffer as unsafe extern "C" fn(*mut Io, *const c_char, usize),
        "LoadString" => load_string as unsafe extern "C" fn(*mut Io) -> *mut RmString,
        "LoadStringBuffer" => ferrodis_io_load_string_buffer as unsafe extern "C" fn(*mut Io, *mut usize) -> *mut c_char,
        "SaveDouble" => save_double as unsafe extern "C" fn(*mut Io, f64),
        "LoadDouble" => load_double as unsafe extern "C" fn(*mut Io) -> f64,
        "SaveFloat" => save_float as unsafe extern "C" fn(*mut Io, f32),
        "LoadFloat" => load_float as unsafe extern "C" fn(*mut Io) -> f32,
        "SaveLongDouble" => ferrodis_shim_SaveLongDouble as unsafe extern "C" fn(),
        "LoadLongDouble" => ferrodis_shim_LoadLongDouble as unsafe extern "C" fn(),
        "EmitAOF" => ferrodis_shim_EmitAOF as unsafe extern "C" fn(),
        "LogIOError" => ferrodis_shim_LogIOError as unsafe extern "C" fn(),
        "GetContextFromIO" => get_context_from_io as unsafe extern "C" fn(*mut Io) -> *mut Ctx,
        "GetKeyNameFromIO" => get_key_name_from_io as unsafe extern "C" fn(*mut Io) -> *const RmString,
        "GetDbIdFromIO" => get_db_id_from_io as unsafe extern "C" fn(*mut Io) -> c_int,
        "DigestAddStringBuffer" => digest_add_string_buffer as unsafe extern "C" fn(*mut Digest, *const c_char, usize),
        "DigestAddLongLong" => digest_add_long_long as unsafe extern "C" fn(*mut Digest, i64),
        "DigestEndSequence" => digest_end_sequence as unsafe extern "C" fn(*mut Digest),
        "GetKeyNameFromDigest" => get_key_name_from_digest as unsafe extern "C" fn(*mut Digest) -> *const RmString,
        "GetDbIdFromDigest" => get_db_id_from_digest as unsafe extern "C" fn(*mut Digest) -> c_int,
        "SaveDataTypeToString" => save_data_type_to_string as unsafe extern "C" fn(*mut Ctx, *mut c_void, *const ModuleType) -> *mut RmString,
        "LoadDataTypeFromString" => load_data_type_from_string as unsafe extern "C" fn(*const RmString, *const ModuleType) -> *mut c_void,
        "LoadDataTypeFromStringEncver" => load_data_type_from_string_encver as unsafe extern "C" fn(*const RmString, *const ModuleType, c_int) -> *mut c_void,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::Module;

    /// A test type whose value is a boxed (u64, bytes, f64, f32), saved as those four items.
    type TestVal = (u64, Vec<u8>, f64, f32);

    unsafe extern "C" fn t_save(io: *mut Io, v: *mut c_void) {
        // SAFETY: values of this type are boxed TestVals.
        let v = unsafe { &*(v as *const TestVal) };
        unsafe {
            save_unsigned(io, v.0);
            ferrodis_io_save_string_buffer(io, v.1.as_ptr() as *const c_char, v.1.len());
            save_double(io, v.2);
            save_float(io, v.3);
        }
    }

    unsafe extern "C" fn t_load(io: *mut Io, _encver: c_int) -> *mut c_void {
        // SAFETY: the IO of this load.
        unsafe {
            let n = load_unsigned(io);
            let mut len = 0usize;
            let p = ferrodis_io_load_string_buffer(io, &mut len);
            let d = load_double(io);
            let f = load_float(io);
            if is_io_error(io) != 0 {
                if !p.is_null() {
                    libc::free(p as *mut c_void);
                }
                return std::ptr::null_mut();
            }
            let b = std::slice::from_raw_parts(p as *const u8, len).to_vec();
            libc::free(p as *mut c_void);
            Box::into_raw(Box::new((n, b, d, f))) as *mut c_void
        }
    }

    unsafe extern "C" fn t_free(v: *mut c_void) {
        // SAFETY: values of this type are boxed TestVals.
        drop(unsafe { Box::from_raw(v as *mut TestVal) });
    }

    unsafe extern "C" fn t_digest(md: *mut Digest, v: *mut c_void) {
        // SAFETY: as above.
        let v = unsafe { &*(v as *const TestVal) };
        unsafe {
            digest_add_long_long(md, v.0 as i64);
            digest_end_sequence(md);
            digest_add_string_buffer(md, v.1.as_ptr() as *const c_char, v.1.len());
            digest_end_sequence(md);
        }
    }

    fn test_type(name: &[u8], options: c_int) -> &'static ModuleType {
        let module = Box::leak(Box::new(Module {
            name: "iotest".into(),
            ver: 1,
            apiver: 1,
            path: String::new(),
            args: Vec::new(),
            lib: None,
            commands: Vec::new(),
            handles: Vec::new(),
            options,
            alloc_slot: crate::module::alloc::UNATTRIBUTED,
            calls_in_progress: 0,
            info_cb: None,
            defrag_cb: None,
        }));
        Box::leak(Box::new(ModuleType {
            id: datatype::encode_id(name, 3).unwrap(),
            name: "iotesttyp",
            module,
            label: std::ptr::null(),
            rdb_load: Some(t_load),
            rdb_save: Some(t_save),
            aof_rewrite: None,
            mem_usage: None,
            digest: Some(t_digest),
            free: Some(t_free),
            aux_load: None,
            aux_save: None,
            aux_save_triggers: 0,
            free_effort: None,
            unlink: None,
            copy: None,
            defrag: None,
            mem_usage2: None,
            free_effort2: None,
            unlink2: None,
            copy2: None,
        }))
    }

    fn value(t: &'static ModuleType) -> ModuleValue {
        let v: TestVal = (300, b"hello".to_vec(), 1.5, 0.25);
        ModuleValue {
            ty: t,
            ptr: Box::into_raw(Box::new(v)) as *mut c_void,
        }
    }

    #[test]
    fn items_are_framed_by_opcodes_and_end_with_eof() {
        let t = test_type(b"iotesttyp", OPTIONS_HANDLE_IO_ERRORS);
        let body = save_value(&value(t), Some(b"k"), 0, false).unwrap();
        let mut want = Writer::new(Vec::new(), false, false);
        want.len(t.id).unwrap();
        want.raw(&[2, 0x41, 0x2c]).unwrap(); // UINT, 14-bit length 300
        want.raw(&[5, 5]).unwrap();
        want.raw(b"hello").unwrap();
        want.raw(&[4]).unwrap();
        want.raw(&1.5f64.to_le_bytes()).unwrap();
        want.raw(&[3]).unwrap();
        want.raw(&0.25f32.to_le_bytes()).unwrap();
        want.raw(&[0]).unwrap();
        assert_eq!(body, want.into_inner());
        // A reader without the module walks over it.
        let mut r = Reader::new(&body);
        r.length().unwrap();
        skip_value(&mut r, "iotesttyp").unwrap();
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn a_saved_value_loads_back_and_a_cut_one_is_an_error() {
        let t = test_type(b"iotestty2", OPTIONS_HANDLE_IO_ERRORS);
        datatype::register_for_test(t);
        let body = save_value(&value(t), None, 0, true).unwrap();
        let Value::Module(mv) = load_value(&mut Reader::new(&body), Some(b"k"), 0, true).unwrap()
        else {
            panic!("not a module value");
        };
        // SAFETY: a value of the test type.
        let v = unsafe { &*(mv.ptr as *const TestVal) };
        assert_eq!(*v, (300, b"hello".to_vec(), 1.5, 0.25));
        for cut in 1..body.len() {
            assert!(load_value(&mut Reader::new(&body[..cut]), None, 0, true).is_err());
        }
        // A wrong opcode is an error too (the module sees it through IsIOError).
        let mut bad = body.clone();
        let at = bad.iter().position(|b| *b == 5).unwrap();
        bad[at] = 1;
        assert!(load_value(&mut Reader::new(&bad), None, 0, true).is_err());
        datatype::forget_module(t.module);
    }

    #[test]
    fn digests_xor_the_sha1_of_each_finished_sequence() {
        let t = test_type(b"iotestty3", 0);
        let d = digest(&value(t), b"k", 0).unwrap();
        let mut seq1 = [0u8; 20];
        crate::commands::debug::mix_digest(&mut seq1, b"300");
        let mut seq2 = [0u8; 20];
        crate::commands::debug::mix_digest(&mut seq2, b"hello");
        let mut want = [0u8; 20];
        crate::commands::debug::xor_digest(&mut want, &seq1);
        crate::commands::debug::xor_digest(&mut want, &seq2);
        assert_eq!(d, want);
    }
}
