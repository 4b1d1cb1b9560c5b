//! `RedisModuleString`: a reference-counted byte string, always followed by a NUL byte so
//! that modules may hand `StringPtrLen`'s pointer to C string functions, as they do with
//! Redis' sds strings. Creation, release (explicit or by auto-memory), retain/hold, the
//! number conversions and comparison.

use std::ffi::{c_char, c_int, c_longlong, c_ulonglong};

use super::ctx::{flags, AutoEntry, Ctx, REDISMODULE_ERR, REDISMODULE_OK};

pub struct RmString {
    refcount: usize,
    store: Store,
}

/// Bytes up to this size (NUL included) live inside the string itself: command arguments
/// are usually short, and each one costs a single allocation then.
const INLINE: usize = 48;

/// The bytes plus a trailing NUL (not part of the string).
enum Store {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Vec<u8>),
}

impl RmString {
    /// A new string with one reference, as a raw pointer owned by the caller.
    pub fn new_raw(bytes: &[u8]) -> *mut RmString {
        Box::into_raw(Box::new(RmString {
            refcount: 1,
            store: Store::with(bytes),
        }))
    }

    pub fn bytes(&self) -> &[u8] {
        let s = self.with_nul();
        &s[..s.len() - 1]
    }

    /// The bytes followed by their NUL.
    fn with_nul(&self) -> &[u8] {
        match &self.store {
            Store::Inline { len, buf } => &buf[..*len as usize + 1],
            Store::Heap(v) => v,
        }
    }

    pub fn alloc_size(&self) -> usize {
        std::mem::size_of::<RmString>()
            + match &self.store {
                Store::Inline { .. } => 0,
                Store::Heap(v) => v.capacity(),
            }
    }

    fn append(&mut self, more: &[u8]) {
        let mut v = self.bytes().to_vec();
        v.extend_from_slice(more);
        self.store = Store::with(&v);
    }

    /// Takes one more reference.
    ///
    /// # Safety
    /// `s` is a live string created by `new_raw`.
    pub unsafe fn retain(s: *mut RmString) {
        // SAFETY: per the contract above.
        unsafe { (*s).refcount += 1 };
    }

    /// Drops one reference, freeing the string with the last.
    ///
    /// # Safety
    /// `s` is a live string created by `new_raw` and the caller owns the reference it drops.
    pub unsafe fn release(s: *mut RmString) {
        // SAFETY: per the contract above.
        unsafe {
            (*s).refcount -= 1;
            if (*s).refcount == 0 {
                drop(Box::from_raw(s));
            }
        }
    }

    /// The bytes of a module string argument.
    ///
    /// # Safety
    /// `s` is a live module string that outlives the returned slice's use.
    pub unsafe fn get<'a>(s: *const RmString) -> &'a [u8] {
        // SAFETY: per the contract above.
        unsafe { (*s).bytes() }
    }
}

impl Store {
    fn with(bytes: &[u8]) -> Store {
        if bytes.len() < INLINE {
            let mut buf = [0u8; INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            Store::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            let mut v = Vec::with_capacity(bytes.len() + 1);
            v.extend_from_slice(bytes);
            v.push(0);
            Store::Heap(v)
        }
    }

    /// Makes this store hold `bytes`, reusing an inline buffer in place.
    #[inline]
    fn set(&mut self, bytes: &[u8]) {
        match self {
            Store::Inline { len, buf } if bytes.len() < INLINE => {
                buf[..bytes.len()].copy_from_slice(bytes);
                buf[bytes.len()] = 0;
                *len = bytes.len() as u8;
            }
            Store::Heap(v) if bytes.len() >= INLINE => {
                v.clear();
                v.extend_from_slice(bytes);
                v.push(0);
            }
            _ => *self = Store::with(bytes),
        }
    }
}

/// The module strings a module command's arguments are handed in, kept from one command to
/// the next: position `i` of the argv reuses the string of position `i` of the last command
/// unless the module kept it (RetainString/HoldString), so the usual command costs no
/// allocation for its argv (`module::dispatch`, and the key and channel position requests of
/// `getkeys::position_request`).
#[derive(Default)]
pub struct ArgStrings {
    /// One string per position, each holding the pool's reference (null: kept by a module,
    /// to be replaced at the next use). Lent out as the argv array itself.
    slots: Vec<*mut RmString>,
    /// `slots` is lent to a running command: a nested one gets strings of its own.
    lent: bool,
}

/// An argv lent by `ArgStrings::lend`: the array passed to the module, with `argc` strings.
pub struct LentArgv {
    strings: Vec<*mut RmString>,
    argc: usize,
    /// The strings are the pool's slots (else they were made for this call alone).
    pooled: bool,
}

impl LentArgv {
    pub fn as_mut_ptr(&mut self) -> *mut *mut RmString {
        self.strings.as_mut_ptr()
    }
    pub fn argc(&self) -> c_int {
        self.argc as c_int
    }
}

impl ArgStrings {
    /// How many positions keep their string between commands.
    const KEEP: usize = 64;
    /// A reused string gives back a heap buffer bigger than this.
    const KEEP_BYTES: usize = 64 * 1024;

    /// The argv for `args`. The caller hands it back with `give_back` once the module
    /// returned.
    pub fn lend(&mut self, args: &[Vec<u8>]) -> LentArgv {
        if self.lent {
            return LentArgv {
                strings: args.iter().map(|a| RmString::new_raw(a)).collect(),
                argc: args.len(),
                pooled: false,
            };
        }
        self.lent = true;
        let mut strings = std::mem::take(&mut self.slots);
        if strings.len() < args.len() {
            strings.resize(args.len(), std::ptr::null_mut());
        }
        for (s, a) in strings.iter_mut().zip(args) {
            if s.is_null() {
                *s = RmString::new_raw(a);
            } else {
                // SAFETY: a pool string (refcount 1, the pool's), referenced by nothing else.
                unsafe { (**s).store.set(a) };
            }
        }
        LentArgv {
            strings,
            argc: args.len(),
            pooled: true,
        }
    }

    /// Takes back what `lend` gave. A string the module kept (its refcount went up) leaves
    /// the pool with the module's references alone; the others stay for the next command.
    pub fn give_back(&mut self, argv: LentArgv) {
        let LentArgv {
            mut strings,
            argc,
            pooled,
        } = argv;
        if !pooled {
            for s in strings {
                // SAFETY: made by `lend` for this call; its reference is ours to drop.
                unsafe { RmString::release(s) };
            }
            return;
        }
        for s in &mut strings[..argc] {
            // SAFETY: a pool string lent to the module, which took references of its own for
            // whatever it kept.
            unsafe {
                if (**s).refcount == 1 {
                    if matches!(&(**s).store, Store::Heap(v) if v.capacity() > Self::KEEP_BYTES) {
                        (**s).store = Store::with(b"");
                    }
                } else {
                    RmString::release(*s);
                    *s = std::ptr::null_mut();
                }
            }
        }
        if strings.len() > Self::KEEP {
            for s in strings.drain(Self::KEEP..) {
                if !s.is_null() {
                    // SAFETY: a pool string nothing else references.
                    unsafe { RmString::release(s) };
                }
            }
        }
        self.slots = strings;
        self.lent = false;
    }
}

impl Drop for ArgStrings {
    fn drop(&mut self) {
        for s in self.slots.drain(..) {
            if !s.is_null() {
                // SAFETY: pool strings are owned by the pool alone, allocated by `new_raw`.
                drop(unsafe { Box::from_raw(s) });
            }
        }
    }
}

/// Registers a new string with the context's auto-memory, if enabled.
fn track(ctx: *mut Ctx, s: *mut RmString) -> *mut RmString {
    if !ctx.is_null() {
        // SAFETY: a non-null context passed by a module is live.
        let ctx = unsafe { &mut *ctx };
        if ctx.flags & flags::AUTO_MEMORY != 0 {
            ctx.auto.push(AutoEntry::Str(s));
        }
    }
    s
}

/// Removes `s` from the context's auto-memory list; true if it was there.
fn untrack(ctx: *mut Ctx, s: *mut RmString) -> bool {
    if ctx.is_null() {
        return false;
    }
    // SAFETY: a non-null context passed by a module is live.
    let ctx = unsafe { &mut *ctx };
    if ctx.flags & flags::AUTO_MEMORY == 0 {
        return false;
    }
    if let Some(i) = ctx
        .auto
        .iter()
        .rposition(|e| matches!(e, AutoEntry::Str(p) if *p == s))
    {
        ctx.auto.remove(i);
        return true;
    }
    false
}

/// Creates a string for a module (tracked by auto-memory when the context asks for it).
pub fn create(ctx: *mut Ctx, bytes: &[u8]) -> *mut RmString {
    track(ctx, RmString::new_raw(bytes))
}

/// `RedisModule_CreateString` (also called by the C shim).
///
/// # Safety
/// `ctx` is NULL or live; `len` readable bytes at `ptr`.
#[no_mangle]
pub unsafe extern "C" fn RM_CreateString(
    ctx: *mut Ctx,
    ptr: *const c_char,
    len: usize,
) -> *mut RmString {
    let bytes = if len == 0 {
        &[][..]
    } else {
        // SAFETY: the module passes `len` readable bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(ptr as *const u8, len) }
    };
    create(ctx, bytes)
}

unsafe extern "C" fn create_from_long_long(ctx: *mut Ctx, v: c_longlong) -> *mut RmString {
    create(ctx, &crate::util::i64_bytes(v))
}

unsafe extern "C" fn create_from_ulong_long(ctx: *mut Ctx, v: c_ulonglong) -> *mut RmString {
    create(ctx, v.to_string().as_bytes())
}

unsafe extern "C" fn create_from_double(ctx: *mut Ctx, v: f64) -> *mut RmString {
    create(ctx, &crate::util::f64_g17(v))
}

unsafe extern "C" fn create_from_string(ctx: *mut Ctx, s: *const RmString) -> *mut RmString {
    // SAFETY: a live module string.
    create(ctx, unsafe { RmString::get(s) })
}

unsafe extern "C" fn free_string(ctx: *mut Ctx, s: *mut RmString) {
    // SAFETY: the module owns a reference to `s` and gives it up.
    unsafe { RmString::release(s) };
    untrack(ctx, s);
}

unsafe extern "C" fn retain_string(ctx: *mut Ctx, s: *mut RmString) {
    // Retaining a string auto-memory would free takes it out of auto-memory instead.
    if !untrack(ctx, s) {
        // SAFETY: a live module string.
        unsafe { RmString::retain(s) };
    }
}

unsafe extern "C" fn hold_string(ctx: *mut Ctx, s: *mut RmString) -> *mut RmString {
    if s.is_null() {
        return s;
    }
    if !untrack(ctx, s) {
        // SAFETY: a live module string.
        unsafe { RmString::retain(s) };
    }
    s
}

unsafe extern "C" fn trim_string_allocation(s: *mut RmString) {
    if s.is_null() {
        return;
    }
    // SAFETY: a live module string.
    if let Store::Heap(v) = unsafe { &mut (*s).store } {
        v.shrink_to_fit();
    }
}

/// `RedisModule_StringPtrLen` (also called by the C shim).
///
/// # Safety
/// `s` is NULL or a live module string; `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn RM_StringPtrLen(s: *const RmString, len: *mut usize) -> *const c_char {
    if s.is_null() {
        // Redis answers a fixed error text for a NULL string.
        const MSG: &[u8] = b"(NULL string reply referenced in module)\0";
        if !len.is_null() {
            // SAFETY: `len` is writable when given.
            unsafe { *len = MSG.len() - 1 };
        }
        return MSG.as_ptr() as *const c_char;
    }
    // SAFETY: a live module string; `len` is writable when given.
    unsafe {
        let b = (*s).with_nul();
        if !len.is_null() {
            *len = b.len() - 1;
        }
        b.as_ptr() as *const c_char
    }
}

unsafe extern "C" fn string_to_long_long(s: *const RmString, out: *mut c_longlong) -> c_int {
    // SAFETY: a live module string.
    match crate::util::parse_i64(unsafe { RmString::get(s) }) {
        Some(v) => {
            // SAFETY: `out` is writable (the API contract).
            unsafe { *out = v };
            REDISMODULE_OK
        }
        None => REDISMODULE_ERR,
    }
}

unsafe extern "C" fn string_to_ulong_long(s: *const RmString, out: *mut c_ulonglong) -> c_int {
    // SAFETY: a live module string.
    match crate::util::parse_u64(unsafe { RmString::get(s) }) {
        Some(v) => {
            // SAFETY: `out` is writable (the API contract).
            unsafe { *out = v };
            REDISMODULE_OK
        }
        None => REDISMODULE_ERR,
    }
}

unsafe extern "C" fn string_to_double(s: *const RmString, out: *mut f64) -> c_int {
    // SAFETY: a live module string.
    match crate::util::parse_f64(unsafe { RmString::get(s) }) {
        Some(v) => {
            // SAFETY: `out` is writable (the API contract).
            unsafe { *out = v };
            REDISMODULE_OK
        }
        None => REDISMODULE_ERR,
    }
}

unsafe extern "C" fn string_compare(a: *const RmString, b: *const RmString) -> c_int {
    // SAFETY: live module strings.
    let (a, b) = unsafe { (RmString::get(a), RmString::get(b)) };
    match a.cmp(b) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

unsafe extern "C" fn string_append_buffer(
    _ctx: *mut Ctx,
    s: *mut RmString,
    buf: *const c_char,
    len: usize,
) -> c_int {
    // SAFETY: a live module string; `len` readable bytes at `buf`.
    unsafe {
        let st = &mut *s;
        if st.refcount != 1 {
            panic!("Module API: modifying a shared string is not allowed");
        }
        if len > 0 {
            st.append(std::slice::from_raw_parts(buf as *const u8, len));
        }
    }
    REDISMODULE_OK
}

// The C shim's variadic entry points (csrc/module_shim.c). Only their addresses are used
// here, so they are declared without parameters.
extern "C" {
    fn ferrodis_shim_CreateStringPrintf();
    fn ferrodis_shim_CreateStringFromLongDouble();
    fn ferrodis_shim_StringToLongDouble();
}

pub fn entries() -> Vec<(&'static str, usize)> {
    type Ctor = unsafe extern "C" fn(*mut Ctx, *const c_char, usize) -> *mut RmString;
    super::api_entries![
        "CreateString" => RM_CreateString as Ctor,
        "CreateStringFromLongLong" => create_from_long_long as unsafe extern "C" fn(*mut Ctx, c_longlong) -> *mut RmString,
        "CreateStringFromULongLong" => create_from_ulong_long as unsafe extern "C" fn(*mut Ctx, c_ulonglong) -> *mut RmString,
        "CreateStringFromDouble" => create_from_double as unsafe extern "C" fn(*mut Ctx, f64) -> *mut RmString,
        "CreateStringFromString" => create_from_string as unsafe extern "C" fn(*mut Ctx, *const RmString) -> *mut RmString,
        "CreateStringPrintf" => ferrodis_shim_CreateStringPrintf as unsafe extern "C" fn(),
        "CreateStringFromLongDouble" => ferrodis_shim_CreateStringFromLongDouble as unsafe extern "C" fn(),
        "StringToLongDouble" => ferrodis_shim_StringToLongDouble as unsafe extern "C" fn(),
        "FreeString" => free_string as unsafe extern "C" fn(*mut Ctx, *mut RmString),
        "RetainString" => retain_string as unsafe extern "C" fn(*mut Ctx, *mut RmString),
        "HoldString" => hold_string as unsafe extern "C" fn(*mut Ctx, *mut RmString) -> *mut RmString,
        "TrimStringAllocation" => trim_string_allocation as unsafe extern "C" fn(*mut RmString),
        "StringPtrLen" => RM_StringPtrLen as unsafe extern "C" fn(*const RmString, *mut usize) -> *const c_char,
        "StringToLongLong" => string_to_long_long as unsafe extern "C" fn(*const RmString, *mut c_longlong) -> c_int,
        "StringToULongLong" => string_to_ulong_long as unsafe extern "C" fn(*const RmString, *mut c_ulonglong) -> c_int,
        "StringToDouble" => string_to_double as unsafe extern "C" fn(*const RmString, *mut f64) -> c_int,
        "StringCompare" => string_compare as unsafe extern "C" fn(*const RmString, *const RmString) -> c_int,
        "StringAppendBuffer" => string_append_buffer as unsafe extern "C" fn(*mut Ctx, *mut RmString, *const c_char, usize) -> c_int,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    fn argv_bytes(argv: &mut LentArgv) -> Vec<Vec<u8>> {
        let p = argv.as_mut_ptr();
        // SAFETY: `argc` live strings at `p`.
        (0..argv.argc() as usize)
            .map(|i| unsafe { RmString::get(*p.add(i)) }.to_vec())
            .collect()
    }

    #[test]
    fn argument_strings_are_reused_unless_a_module_keeps_them() {
        let mut pool = ArgStrings::default();
        let mut first = pool.lend(&args(&["set", "key", "value"]));
        assert_eq!(argv_bytes(&mut first), args(&["set", "key", "value"]));
        // SAFETY: position 1 is a live string of the lent argv.
        let kept = unsafe { *first.as_mut_ptr().add(1) };
        // The module keeps the key name (RetainString).
        unsafe { RmString::retain(kept) };
        let reused = unsafe { *first.as_mut_ptr() };
        pool.give_back(first);

        // A nested command while an argv is lent gets strings of its own.
        let mut outer = pool.lend(&args(&[
            "get",
            "a-much-longer-key-name-than-fits-inline-in-the-string",
        ]));
        let mut nested = pool.lend(&args(&["ping"]));
        assert_eq!(argv_bytes(&mut nested), args(&["ping"]));
        assert_ne!(unsafe { *nested.as_mut_ptr() }, reused);
        pool.give_back(nested);
        assert_eq!(unsafe { *outer.as_mut_ptr() }, reused);
        assert_ne!(unsafe { *outer.as_mut_ptr().add(1) }, kept);
        assert_eq!(
            argv_bytes(&mut outer),
            args(&[
                "get",
                "a-much-longer-key-name-than-fits-inline-in-the-string"
            ])
        );
        pool.give_back(outer);

        // The kept string still holds its bytes, and is the module's alone now.
        // SAFETY: the reference taken above.
        unsafe {
            assert_eq!(RmString::get(kept), b"key");
            assert_eq!((*kept).refcount, 1);
            RmString::release(kept);
        }
    }
}
