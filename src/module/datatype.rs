//! Module data types: `RedisModule_CreateDataType`, the registry of types, the keyspace value
//! that holds a module's opaque pointer (`ModuleValue`, stored as `Value::Module`), and the
//! calls the core makes on such values (free, copy, memory usage, free effort, unlink).
//!
//! A type is immortal once created: Redis refuses to unload a module that exports types, so
//! the `ModuleType` is leaked and values and the registry point at it as `&'static`. The
//! registry is process-wide (not in `Server`) because the RDB reader, which has no server at
//! hand, looks types up by id, as Redis' own lookup does.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Mutex;

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::key::Key;
use super::string::RmString;
use super::Module;
use crate::types::Value;

pub type LoadFn = unsafe extern "C" fn(*mut super::io::Io, c_int) -> *mut c_void;
pub type SaveFn = unsafe extern "C" fn(*mut super::io::Io, *mut c_void);
pub type RewriteFn = unsafe extern "C" fn(*mut super::io::Io, *mut RmString, *mut c_void);
pub type MemUsageFn = unsafe extern "C" fn(*const c_void) -> usize;
pub type DigestFn = unsafe extern "C" fn(*mut super::io::Digest, *mut c_void);
pub type FreeFn = unsafe extern "C" fn(*mut c_void);
pub type AuxLoadFn = unsafe extern "C" fn(*mut super::io::Io, c_int, c_int) -> c_int;
pub type AuxSaveFn = unsafe extern "C" fn(*mut super::io::Io, c_int);
pub type FreeEffortFn = unsafe extern "C" fn(*mut RmString, *const c_void) -> usize;
pub type UnlinkFn = unsafe extern "C" fn(*mut RmString, *const c_void);
pub type CopyFn = unsafe extern "C" fn(*mut RmString, *mut RmString, *const c_void) -> *mut c_void;
pub type DefragFn = unsafe extern "C" fn(*mut c_void, *mut RmString, *mut *mut c_void) -> c_int;
pub type MemUsage2Fn = unsafe extern "C" fn(*mut KeyOptCtx, *const c_void, usize) -> usize;
pub type FreeEffort2Fn = unsafe extern "C" fn(*mut KeyOptCtx, *const c_void) -> usize;
pub type Unlink2Fn = unsafe extern "C" fn(*mut KeyOptCtx, *const c_void);
pub type Copy2Fn = unsafe extern "C" fn(*mut KeyOptCtx, *const c_void) -> *mut c_void;

/// `RedisModuleTypeMethods` as of method version 4. A module built against an older header
/// passes a shorter struct: only the fields its `version` covers may be read.
#[repr(C)]
struct Methods {
    version: u64,
    rdb_load: Option<LoadFn>,
    rdb_save: Option<SaveFn>,
    aof_rewrite: Option<RewriteFn>,
    mem_usage: Option<MemUsageFn>,
    digest: Option<DigestFn>,
    free: Option<FreeFn>,
    // version 2
    aux_load: Option<AuxLoadFn>,
    aux_save: Option<AuxSaveFn>,
    aux_save_triggers: c_int,
    // version 3
    free_effort: Option<FreeEffortFn>,
    unlink: Option<UnlinkFn>,
    copy: Option<CopyFn>,
    defrag: Option<DefragFn>,
    // version 4
    mem_usage2: Option<MemUsage2Fn>,
    free_effort2: Option<FreeEffort2Fn>,
    unlink2: Option<Unlink2Fn>,
    copy2: Option<Copy2Fn>,
}

/// `RedisModuleType`: a registered data type.
pub struct ModuleType {
    /// 54 bits of name, 10 of encoding version: what the RDB file carries.
    pub id: u64,
    /// The 9-character name TYPE reports.
    pub name: &'static str,
    pub module: *mut Module,
    /// The crash-report label published while the type's callbacks run (built once: labels
    /// are never freed).
    pub label: *const c_char,
    pub rdb_load: Option<LoadFn>,
    pub rdb_save: Option<SaveFn>,
    pub aof_rewrite: Option<RewriteFn>,
    pub mem_usage: Option<MemUsageFn>,
    pub digest: Option<DigestFn>,
    pub free: Option<FreeFn>,
    pub aux_load: Option<AuxLoadFn>,
    pub aux_save: Option<AuxSaveFn>,
    pub aux_save_triggers: c_int,
    pub free_effort: Option<FreeEffortFn>,
    pub unlink: Option<UnlinkFn>,
    pub copy: Option<CopyFn>,
    pub defrag: Option<DefragFn>,
    pub mem_usage2: Option<MemUsage2Fn>,
    pub free_effort2: Option<FreeEffort2Fn>,
    pub unlink2: Option<Unlink2Fn>,
    pub copy2: Option<Copy2Fn>,
}

// SAFETY: a type is immutable after registration; its module pointer stays valid because a
// module exporting types can't be unloaded, and the callbacks are plain C functions.
unsafe impl Sync for ModuleType {}
// SAFETY: as above.
unsafe impl Send for ModuleType {}

impl ModuleType {
    /// The name of the module that registered the type.
    pub fn module_name(&self) -> String {
        // SAFETY: see the Sync impl: the module outlives its types.
        unsafe { self.module.as_ref() }
            .map(|m| m.name.clone())
            .unwrap_or_default()
    }

    /// The module's SetModuleOptions bits.
    pub fn module_options(&self) -> c_int {
        // SAFETY: as above.
        unsafe { self.module.as_ref() }
            .map(|m| m.options)
            .unwrap_or(0)
    }
}

static TYPES: Mutex<Vec<&'static ModuleType>> = Mutex::new(Vec::new());

fn registry() -> std::sync::MutexGuard<'static, Vec<&'static ModuleType>> {
    TYPES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every registered type, in registration order (aux data is saved in this order).
pub fn all_types() -> Vec<&'static ModuleType> {
    registry().clone()
}

/// The type whose name matches an RDB id (the encoding version bits are not compared: a
/// module loads older encodings of its own type).
pub fn lookup_by_id(id: u64) -> Option<&'static ModuleType> {
    registry().iter().copied().find(|t| t.id >> 10 == id >> 10)
}

fn lookup_by_name(name: &[u8]) -> Option<&'static ModuleType> {
    registry()
        .iter()
        .copied()
        .find(|t| t.name.as_bytes() == name)
}

/// Whether a module registered any type (MODULE UNLOAD refuses then).
pub fn module_has_types(m: *const Module) -> bool {
    registry().iter().any(|t| std::ptr::eq(t.module, m))
}

/// Registers a type built by a unit test.
#[cfg(test)]
pub(crate) fn register_for_test(t: &'static ModuleType) {
    registry().push(t);
}

/// Drops the types of a module whose OnLoad failed (their structures stay allocated, as in
/// Redis, but are no longer found).
pub fn forget_module(m: *const Module) {
    registry().retain(|t| !std::ptr::eq(t.module, m));
}

/// Whether every module with data types handles RDB read errors itself: only then can a
/// replica parse the master's payload straight from the socket (Redis'
/// `moduleAllDatatypesHandleErrors`).
pub fn all_handle_io_errors() -> bool {
    registry()
        .iter()
        .all(|t| t.module_options() & super::io::OPTIONS_HANDLE_IO_ERRORS != 0)
}

/// The alphabet of type names: each character is 6 bits of the id.
const NAME_CHARSET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The RDB id of a type name and encoding version; None when the name is not 9 characters of
/// the alphabet or the version does not fit 10 bits.
pub fn encode_id(name: &[u8], encver: c_int) -> Option<u64> {
    if name.len() != 9 || !(0..=1023).contains(&encver) {
        return None;
    }
    let mut id = 0u64;
    for c in name {
        let pos = NAME_CHARSET.iter().position(|x| x == c)?;
        id = (id << 6) | pos as u64;
    }
    Some((id << 10) | encver as u64)
}

/// `RedisModuleKeyOptCtx`: the keys and databases a v4 callback works on.
#[repr(C)]
pub struct KeyOptCtx {
    pub from_key: *mut RmString,
    pub to_key: *mut RmString,
    pub from_dbid: c_int,
    pub to_dbid: c_int,
}

impl KeyOptCtx {
    /// The context of a callback about one key (no destination): mem_usage2, free_effort2,
    /// unlink2.
    fn of_key(k: &KeyStr, db: usize) -> KeyOptCtx {
        KeyOptCtx {
            from_key: k.0,
            to_key: std::ptr::null_mut(),
            from_dbid: db as c_int,
            to_dbid: -1,
        }
    }
}

/// A module value in the keyspace: its type and the module's pointer. Dropping it calls the
/// type's free callback (from whichever thread frees the key: UNLINK of a value with a large
/// free effort frees it in the lazy-free thread, as Redis does).
pub struct ModuleValue {
    pub ty: &'static ModuleType,
    pub ptr: *mut c_void,
}

// SAFETY: the value owns what `ptr` points to; the module's free callback is what Redis also
// calls from its lazy-free thread.
unsafe impl Send for ModuleValue {}

impl std::fmt::Debug for ModuleValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModuleValue({}, {:p})", self.ty.name, self.ptr)
    }
}

impl Drop for ModuleValue {
    fn drop(&mut self) {
        if let Some(free) = self.ty.free {
            // SAFETY: the pointer was produced by the module for this type and is freed once.
            unsafe { free(self.ptr) };
        }
    }
}

/// A temporary module string for a key name handed to a callback.
struct KeyStr(*mut RmString);

impl KeyStr {
    fn new(key: Option<&[u8]>) -> KeyStr {
        KeyStr(key.map_or(std::ptr::null_mut(), RmString::new_raw))
    }
}

impl Drop for KeyStr {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: created above with one reference; a callback that keeps the name must
            // retain it.
            unsafe { RmString::release(self.0) };
        }
    }
}

impl ModuleValue {
    /// COPY's duplicate (copy2 preferred), or the error Redis replies with.
    pub fn duplicate(
        &self,
        from: &[u8],
        to: &[u8],
        from_db: usize,
        to_db: usize,
    ) -> Result<Value, &'static str> {
        let t = self.ty;
        let (fk, tk) = (KeyStr::new(Some(from)), KeyStr::new(Some(to)));
        let newval = if let Some(copy2) = t.copy2 {
            let mut ctx = KeyOptCtx {
                from_key: fk.0,
                to_key: tk.0,
                from_dbid: from_db as c_int,
                to_dbid: to_db as c_int,
            };
            // SAFETY: the module's callback with its own value and a valid options context.
            unsafe { copy2(&mut ctx, self.ptr) }
        } else if let Some(copy) = t.copy {
            // SAFETY: as above.
            unsafe { copy(fk.0, tk.0, self.ptr) }
        } else {
            return Err("not supported for this module key");
        };
        if newval.is_null() {
            return Err("module key failed to copy");
        }
        Ok(Value::Module(Box::new(ModuleValue { ty: t, ptr: newval })))
    }

    /// MEMORY USAGE's size of the value (mem_usage2 preferred; 0 without either).
    pub fn mem_usage(&self, key: Option<&[u8]>, samples: usize, db: usize) -> usize {
        let t = self.ty;
        if let Some(f) = t.mem_usage2 {
            let k = KeyStr::new(key);
            let mut ctx = KeyOptCtx::of_key(&k, db);
            // SAFETY: the module's callback with its own value.
            unsafe { f(&mut ctx, self.ptr, samples) }
        } else if let Some(f) = t.mem_usage {
            // SAFETY: as above.
            unsafe { f(self.ptr) }
        } else {
            0
        }
    }

    /// The module's free effort (free_effort2 preferred; 1 without either).
    pub fn free_effort(&self, key: Option<&[u8]>, db: usize) -> usize {
        let t = self.ty;
        if let Some(f) = t.free_effort2 {
            let k = KeyStr::new(key);
            let mut ctx = KeyOptCtx::of_key(&k, db);
            // SAFETY: the module's callback with its own value.
            unsafe { f(&mut ctx, self.ptr) }
        } else if let Some(f) = t.free_effort {
            let k = KeyStr::new(key);
            // SAFETY: as above.
            unsafe { f(k.0, self.ptr) }
        } else {
            1
        }
    }

    /// Tells the module its value leaves the keyspace (unlink2 preferred).
    pub fn unlink(&self, key: &[u8], db: usize) {
        let t = self.ty;
        if let Some(f) = t.unlink2 {
            let k = KeyStr::new(Some(key));
            let mut ctx = KeyOptCtx::of_key(&k, db);
            // SAFETY: the module's callback with its own value.
            unsafe { f(&mut ctx, self.ptr) };
        } else if let Some(f) = t.unlink {
            let k = KeyStr::new(Some(key));
            // SAFETY: as above.
            unsafe { f(k.0, self.ptr) };
        }
    }
}

/// Called by the core before a value leaves the keyspace by deletion or overwrite (Redis'
/// `moduleNotifyKeyUnlink`); nothing for native types.
pub fn notify_unlink(key: &[u8], v: &Value, db: usize) {
    if let Value::Module(mv) = v {
        mv.unlink(key, db);
    }
}

unsafe extern "C" fn create_data_type(
    ctx: *mut Ctx,
    name: *const c_char,
    encver: c_int,
    methods: *mut c_void,
) -> *mut ModuleType {
    // SAFETY: a live context and a C string.
    let (c, name) = unsafe { (&mut *ctx, super::cstr(name)) };
    if c.module.is_null() {
        return std::ptr::null_mut();
    }
    let Some(id) = encode_id(name, encver) else {
        return std::ptr::null_mut();
    };
    if lookup_by_name(name).is_some() || methods.is_null() {
        return std::ptr::null_mut();
    }
    let m = methods as *const Methods;
    // SAFETY: every version of the struct starts with the version and the six v1 methods;
    // later fields are read only when the version says the module's struct has them.
    let t = unsafe {
        let version = std::ptr::read(std::ptr::addr_of!((*m).version));
        if version == 0 {
            return std::ptr::null_mut();
        }
        let rd = |v: u64| version >= v;
        let mut t = ModuleType {
            id,
            name: Box::leak(String::from_utf8_lossy(name).into_owned().into_boxed_str()),
            module: c.module,
            label: super::crash::make_label(&format!(
                "a callback of data type '{}' (module {})",
                String::from_utf8_lossy(name),
                c.module_name()
            )),
            rdb_load: std::ptr::read(std::ptr::addr_of!((*m).rdb_load)),
            rdb_save: std::ptr::read(std::ptr::addr_of!((*m).rdb_save)),
            aof_rewrite: std::ptr::read(std::ptr::addr_of!((*m).aof_rewrite)),
            mem_usage: std::ptr::read(std::ptr::addr_of!((*m).mem_usage)),
            digest: std::ptr::read(std::ptr::addr_of!((*m).digest)),
            free: std::ptr::read(std::ptr::addr_of!((*m).free)),
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
        };
        if rd(2) {
            t.aux_load = std::ptr::read(std::ptr::addr_of!((*m).aux_load));
            t.aux_save = std::ptr::read(std::ptr::addr_of!((*m).aux_save));
            t.aux_save_triggers = std::ptr::read(std::ptr::addr_of!((*m).aux_save_triggers));
        }
        if rd(3) {
            t.free_effort = std::ptr::read(std::ptr::addr_of!((*m).free_effort));
            t.unlink = std::ptr::read(std::ptr::addr_of!((*m).unlink));
            t.copy = std::ptr::read(std::ptr::addr_of!((*m).copy));
            t.defrag = std::ptr::read(std::ptr::addr_of!((*m).defrag));
        }
        if rd(4) {
            t.mem_usage2 = std::ptr::read(std::ptr::addr_of!((*m).mem_usage2));
            t.free_effort2 = std::ptr::read(std::ptr::addr_of!((*m).free_effort2));
            t.unlink2 = std::ptr::read(std::ptr::addr_of!((*m).unlink2));
            t.copy2 = std::ptr::read(std::ptr::addr_of!((*m).copy2));
        }
        t
    };
    let t: &'static ModuleType = Box::leak(Box::new(t));
    registry().push(t);
    t as *const ModuleType as *mut ModuleType
}

/// The module value at an open key, if it holds one.
fn module_value(k: &Key) -> Option<&mut ModuleValue> {
    match k.value().map(|o| &mut o.value) {
        Some(Value::Module(mv)) => Some(mv),
        _ => None,
    }
}

unsafe extern "C" fn module_type_set_value(
    k: *mut Key,
    mt: *mut ModuleType,
    value: *mut c_void,
) -> c_int {
    // SAFETY: an open handle (or NULL) and a type this server created.
    let (Some(k), Some(t)) = (unsafe { k.as_ref() }, unsafe { mt.as_ref() }) else {
        return REDISMODULE_ERR;
    };
    if !k.writable() {
        return REDISMODULE_ERR;
    }
    // SAFETY: `mt` came from CreateDataType, which leaked it.
    let t: &'static ModuleType = unsafe { &*(t as *const ModuleType) };
    // The old value is unlinked and freed as a delete would, then the key is announced new.
    k.srv().db_replace_as_new(
        k.db(),
        k.name(),
        Value::Module(Box::new(ModuleValue { ty: t, ptr: value })),
    );
    REDISMODULE_OK
}

unsafe extern "C" fn module_type_get_type(k: *mut Key) -> *mut ModuleType {
    // SAFETY: an open handle or NULL.
    let Some(k) = (unsafe { k.as_ref() }) else {
        return std::ptr::null_mut();
    };
    module_value(k).map_or(std::ptr::null_mut(), |mv| {
        mv.ty as *const ModuleType as *mut ModuleType
    })
}

unsafe extern "C" fn module_type_get_value(k: *mut Key) -> *mut c_void {
    // SAFETY: an open handle or NULL.
    let Some(k) = (unsafe { k.as_ref() }) else {
        return std::ptr::null_mut();
    };
    module_value(k).map_or(std::ptr::null_mut(), |mv| mv.ptr)
}

unsafe extern "C" fn module_type_replace_value(
    k: *mut Key,
    mt: *mut ModuleType,
    new_value: *mut c_void,
    old_value: *mut *mut c_void,
) -> c_int {
    // SAFETY: an open handle or NULL.
    let Some(k) = (unsafe { k.as_ref() }) else {
        return REDISMODULE_ERR;
    };
    if !k.writable() {
        return REDISMODULE_ERR;
    }
    let Some(mv) = module_value(k) else {
        return REDISMODULE_ERR;
    };
    if !std::ptr::eq(mv.ty, mt) {
        return REDISMODULE_ERR;
    }
    // The old value is the module's again (Redis frees nothing here, even without
    // `old_value`).
    let old = std::mem::replace(&mut mv.ptr, new_value);
    if !old_value.is_null() {
        // SAFETY: the caller's out pointer.
        unsafe { *old_value = old };
    }
    REDISMODULE_OK
}

unsafe extern "C" fn get_key_name_from_opt_ctx(c: *mut KeyOptCtx) -> *const RmString {
    // SAFETY: the context handed to the callback.
    unsafe { (*c).from_key }
}

unsafe extern "C" fn get_to_key_name_from_opt_ctx(c: *mut KeyOptCtx) -> *const RmString {
    // SAFETY: as above.
    unsafe { (*c).to_key }
}

unsafe extern "C" fn get_db_id_from_opt_ctx(c: *mut KeyOptCtx) -> c_int {
    // SAFETY: as above.
    unsafe { (*c).from_dbid }
}

unsafe extern "C" fn get_to_db_id_from_opt_ctx(c: *mut KeyOptCtx) -> c_int {
    // SAFETY: as above.
    unsafe { (*c).to_dbid }
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries![
        "CreateDataType" => create_data_type as unsafe extern "C" fn(*mut Ctx, *const c_char, c_int, *mut c_void) -> *mut ModuleType,
        "ModuleTypeSetValue" => module_type_set_value as unsafe extern "C" fn(*mut Key, *mut ModuleType, *mut c_void) -> c_int,
        "ModuleTypeGetType" => module_type_get_type as unsafe extern "C" fn(*mut Key) -> *mut ModuleType,
        "ModuleTypeGetValue" => module_type_get_value as unsafe extern "C" fn(*mut Key) -> *mut c_void,
        "ModuleTypeReplaceValue" => module_type_replace_value as unsafe extern "C" fn(*mut Key, *mut ModuleType, *mut c_void, *mut *mut c_void) -> c_int,
        "GetKeyNameFromOptCtx" => get_key_name_from_opt_ctx as unsafe extern "C" fn(*mut KeyOptCtx) -> *const RmString,
        "GetToKeyNameFromOptCtx" => get_to_key_name_from_opt_ctx as unsafe extern "C" fn(*mut KeyOptCtx) -> *const RmString,
        "GetDbIdFromOptCtx" => get_db_id_from_opt_ctx as unsafe extern "C" fn(*mut KeyOptCtx) -> c_int,
        "GetToDbIdFromOptCtx" => get_to_db_id_from_opt_ctx as unsafe extern "C" fn(*mut KeyOptCtx) -> c_int,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_ids_round_trip_through_names() {
        let id = encode_id(b"test___dt", 1).unwrap();
        assert_eq!(id & 1023, 1);
        assert_eq!(crate::rdb::module_type_name(id), "test___dt");
        assert!(encode_id(b"short", 0).is_none());
        assert!(encode_id(b"bad!name!", 0).is_none());
        assert!(encode_id(b"test___dt", 1024).is_none());
    }

    #[test]
    fn value_stays_two_words() {
        assert_eq!(
            std::mem::size_of::<Value>(),
            2 * std::mem::size_of::<usize>()
        );
    }
}
