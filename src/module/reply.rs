//! Replies (`RedisModule_ReplyWith*`): every RESP2/RESP3 type, written to the context's
//! client; `REDISMODULE_POSTPONED_LEN` opens an aggregate whose length a later
//! `ReplySet*Length` fills in (innermost first, as in Redis).

use std::ffi::{c_char, c_int, c_longlong};

use super::ctx::{Ctx, REDISMODULE_ERR, REDISMODULE_OK};
use super::string::RmString;
use crate::client::Client;

const POSTPONED_LEN: i64 = -1;

/// The client replies go to, if any.
fn reply_client<'a>(ctx: *mut Ctx) -> Option<&'a mut Client> {
    // SAFETY: the API contract: a live context (whose client is live or NULL).
    unsafe { ctx.as_ref()?.client() }
}

fn bytes<'a>(p: *const c_char, len: usize) -> &'a [u8] {
    if len == 0 {
        return b"";
    }
    // SAFETY: the module passes `len` readable bytes at `p`.
    unsafe { std::slice::from_raw_parts(p as *const u8, len) }
}

unsafe extern "C" fn wrong_arity(ctx: *mut Ctx) -> c_int {
    // SAFETY: a live context.
    let srv = unsafe { (*ctx).server() };
    let name = srv
        .commands
        .cmds
        .get(srv.running_cmd)
        .map(|c| c.fullname.clone())
        .unwrap_or_default();
    if let Some(c) = reply_client(ctx) {
        c.out
            .error(&format!("wrong number of arguments for '{}' command", name));
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_long_long(ctx: *mut Ctx, v: c_longlong) -> c_int {
    if let Some(c) = reply_client(ctx) {
        c.out.int(v);
    }
    REDISMODULE_OK
}

/// Error replies: the module's text follows the '-' as given (its own error code first),
/// with newlines flattened as Redis does.
unsafe extern "C" fn reply_error(ctx: *mut Ctx, err: *const c_char) -> c_int {
    if let Some(c) = reply_client(ctx) {
        // SAFETY: a C string.
        let text = unsafe { super::cstr(err) };
        let mut msg = Vec::with_capacity(text.len() + 1);
        msg.push(b'-');
        msg.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        c.out.error_bytes(&msg);
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_simple_string(ctx: *mut Ctx, msg: *const c_char) -> c_int {
    if let Some(c) = reply_client(ctx) {
        // SAFETY: a C string.
        c.out.simple(unsafe { super::cstr(msg) });
    }
    REDISMODULE_OK
}

#[derive(Clone, Copy)]
enum Agg {
    Array,
    Map,
    Set,
    Attribute,
}

fn open_aggregate(ctx: *mut Ctx, len: i64, kind: Agg) -> c_int {
    let Some(c) = reply_client(ctx) else {
        return REDISMODULE_OK;
    };
    if matches!(kind, Agg::Attribute) && c.out.resp == 2 {
        return REDISMODULE_ERR;
    }
    if len == POSTPONED_LEN {
        let d = c.out.defer();
        // SAFETY: a live context.
        unsafe { (*ctx).postponed.push(d) };
        return REDISMODULE_OK;
    }
    let n = len.max(0) as usize;
    match kind {
        Agg::Array => c.out.array(n),
        Agg::Map => c.out.map(n),
        Agg::Set => c.out.set(n),
        Agg::Attribute => c.out.attribute(n),
    }
    REDISMODULE_OK
}

fn close_aggregate(ctx: *mut Ctx, len: i64, kind: Agg) {
    let Some(c) = reply_client(ctx) else {
        return;
    };
    // SAFETY: a live context.
    let Some(d) = (unsafe { (*ctx).postponed.pop() }) else {
        crate::log_warning!(
            "API misuse detected in module {}: RedisModule_ReplySet*Length() called without previous RedisModule_ReplyWith*(ctx, REDISMODULE_POSTPONED_LEN) call.",
            // SAFETY: a live context.
            unsafe { (*ctx).module_name() }
        );
        return;
    };
    let n = len.max(0) as usize;
    match kind {
        Agg::Array => c.out.set_deferred_array(d, n),
        Agg::Map => c.out.set_deferred_map(d, n),
        Agg::Set => c.out.set_deferred_set(d, n),
        Agg::Attribute => c.out.set_deferred_attribute(d, n),
    }
}

unsafe extern "C" fn reply_array(ctx: *mut Ctx, len: i64) -> c_int {
    open_aggregate(ctx, len, Agg::Array)
}
unsafe extern "C" fn reply_map(ctx: *mut Ctx, len: i64) -> c_int {
    open_aggregate(ctx, len, Agg::Map)
}
unsafe extern "C" fn reply_set(ctx: *mut Ctx, len: i64) -> c_int {
    open_aggregate(ctx, len, Agg::Set)
}
unsafe extern "C" fn reply_attribute(ctx: *mut Ctx, len: i64) -> c_int {
    open_aggregate(ctx, len, Agg::Attribute)
}
unsafe extern "C" fn set_array_length(ctx: *mut Ctx, len: i64) {
    close_aggregate(ctx, len, Agg::Array)
}
unsafe extern "C" fn set_map_length(ctx: *mut Ctx, len: i64) {
    close_aggregate(ctx, len, Agg::Map)
}
unsafe extern "C" fn set_set_length(ctx: *mut Ctx, len: i64) {
    close_aggregate(ctx, len, Agg::Set)
}
unsafe extern "C" fn set_attribute_length(ctx: *mut Ctx, len: i64) {
    close_aggregate(ctx, len, Agg::Attribute)
}

unsafe extern "C" fn reply_null_array(ctx: *mut Ctx) -> c_int {
    if let Some(c) = reply_client(ctx) {
        c.out.null_array();
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_empty_array(ctx: *mut Ctx) -> c_int {
    if let Some(c) = reply_client(ctx) {
        c.out.empty_array();
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_string_buffer(ctx: *mut Ctx, buf: *const c_char, len: usize) -> c_int {
    if let Some(c) = reply_client(ctx) {
        c.out.bulk(bytes(buf, len));
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_cstring(ctx: *mut Ctx, buf: *const c_char) -> c_int {
    if let Some(c) = reply_client(ctx) {
        // SAFETY: a C string.
        c.out.bulk(unsafe { super::cstr(buf) });
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_string(ctx: *mut Ctx, s: *const RmString) -> c_int {
    if let Some(c) = reply_client(ctx) {
        // SAFETY: a live module string.
        c.out.bulk(unsafe { RmString::get(s) });
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_empty_string(ctx: *mut Ctx) -> c_int {
    if let Some(c) = reply_client(ctx) {
        c.out.bulk(b"");
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_verbatim_type(
    ctx: *mut Ctx,
    buf: *const c_char,
    len: usize,
    ext: *const c_char,
) -> c_int {
    if let Some(c) = reply_client(ctx) {
        // SAFETY: a C string of (at least) three characters, as the API requires.
        let ext = unsafe { super::cstr(ext) };
        let ext = String::from_utf8_lossy(&ext[..ext.len().min(3)]).into_owned();
        c.out.verbatim(bytes(buf, len), &ext);
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_verbatim(ctx: *mut Ctx, buf: *const c_char, len: usize) -> c_int {
    // SAFETY: forwarded as received.
    unsafe { reply_verbatim_type(ctx, buf, len, c"txt".as_ptr()) }
}

unsafe extern "C" fn reply_null(ctx: *mut Ctx) -> c_int {
    if let Some(c) = reply_client(ctx) {
        c.out.null();
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_bool(ctx: *mut Ctx, b: c_int) -> c_int {
    if let Some(c) = reply_client(ctx) {
        c.out.bool(b != 0);
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_double(ctx: *mut Ctx, d: f64) -> c_int {
    if let Some(c) = reply_client(ctx) {
        c.out.double(d);
    }
    REDISMODULE_OK
}

unsafe extern "C" fn reply_big_number(ctx: *mut Ctx, num: *const c_char, len: usize) -> c_int {
    if let Some(c) = reply_client(ctx) {
        c.out.big_number(bytes(num, len));
    }
    REDISMODULE_OK
}

/// Appends a call reply's protocol as it was received.
unsafe extern "C" fn reply_call_reply(ctx: *mut Ctx, r: *mut super::call::CallReply) -> c_int {
    if let Some(c) = reply_client(ctx) {
        // SAFETY: a live call reply.
        let r = unsafe { &*r };
        // A reply produced in RESP3 cannot be sent to a RESP2 client (Redis refuses it even
        // when its types would fit).
        if c.out.resp == 2 && r.proto_resp == 3 {
            return REDISMODULE_ERR;
        }
        c.out.raw(&r.proto);
        // The call's errors count now, on the client that gets them (a part of a reply
        // carries none: Redis counts nothing for it either).
        c.out.errors.extend(r.errors.iter().cloned());
    }
    REDISMODULE_OK
}

/// ReplyWithLongDouble's Rust half: the shim formatted the number as Redis' "human" long
/// double (a bulk string in RESP2, a double in RESP3).
///
/// # Safety
/// A live context; `len` readable bytes at `buf`.
#[no_mangle]
pub unsafe extern "C" fn ferrodis_reply_human_long_double(
    ctx: *mut Ctx,
    buf: *const c_char,
    len: usize,
) -> c_int {
    if let Some(c) = reply_client(ctx) {
        let b = bytes(buf, len);
        if c.out.resp == 2 {
            c.out.bulk(b);
        } else {
            c.out.raw(b",");
            c.out.raw(b);
            c.out.raw(b"\r\n");
        }
    }
    REDISMODULE_OK
}

extern "C" {
    fn ferrodis_shim_ReplyWithLongDouble();
}

pub fn entries() -> Vec<(&'static str, usize)> {
    type Len = unsafe extern "C" fn(*mut Ctx, i64) -> c_int;
    type SetLen = unsafe extern "C" fn(*mut Ctx, i64);
    type Plain = unsafe extern "C" fn(*mut Ctx) -> c_int;
    type Buf = unsafe extern "C" fn(*mut Ctx, *const c_char, usize) -> c_int;
    type CStr = unsafe extern "C" fn(*mut Ctx, *const c_char) -> c_int;
    super::api_entries![
        "WrongArity" => wrong_arity as Plain,
        "ReplyWithLongLong" => reply_long_long as unsafe extern "C" fn(*mut Ctx, c_longlong) -> c_int,
        "ReplyWithError" => reply_error as CStr,
        "ReplyWithSimpleString" => reply_simple_string as CStr,
        "ReplyWithArray" => reply_array as Len,
        "ReplyWithMap" => reply_map as Len,
        "ReplyWithSet" => reply_set as Len,
        "ReplyWithAttribute" => reply_attribute as Len,
        "ReplySetArrayLength" => set_array_length as SetLen,
        "ReplySetMapLength" => set_map_length as SetLen,
        "ReplySetSetLength" => set_set_length as SetLen,
        "ReplySetAttributeLength" => set_attribute_length as SetLen,
        "ReplyWithNullArray" => reply_null_array as Plain,
        "ReplyWithEmptyArray" => reply_empty_array as Plain,
        "ReplyWithStringBuffer" => reply_string_buffer as Buf,
        "ReplyWithCString" => reply_cstring as CStr,
        "ReplyWithString" => reply_string as unsafe extern "C" fn(*mut Ctx, *const RmString) -> c_int,
        "ReplyWithEmptyString" => reply_empty_string as Plain,
        "ReplyWithVerbatimString" => reply_verbatim as Buf,
        "ReplyWithVerbatimStringType" => reply_verbatim_type as unsafe extern "C" fn(*mut Ctx, *const c_char, usize, *const c_char) -> c_int,
        "ReplyWithNull" => reply_null as Plain,
        "ReplyWithBool" => reply_bool as unsafe extern "C" fn(*mut Ctx, c_int) -> c_int,
        "ReplyWithDouble" => reply_double as unsafe extern "C" fn(*mut Ctx, f64) -> c_int,
        "ReplyWithBigNumber" => reply_big_number as Buf,
        "ReplyWithLongDouble" => ferrodis_shim_ReplyWithLongDouble as unsafe extern "C" fn(),
        "ReplyWithCallReply" => reply_call_reply as unsafe extern "C" fn(*mut Ctx, *mut super::call::CallReply) -> c_int,
    ]
}
