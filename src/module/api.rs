//! The one table GetApi answers from: every API name of Redis 7.0.15's `redismodule.h` and,
//! for those ferrodis implements, the function. A module asking for a name we lack gets
//! REDISMODULE_ERR (its pointer stays NULL, as on a server that predates the function) and the
//! name is logged when its load completes, so missing pieces are visible instead of crashing
//! later with a NULL call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

use super::ctx::{REDISMODULE_ERR, REDISMODULE_OK};

/// Every function name (without the `RedisModule_` prefix) of the 7.0.15 API, in the order
/// of `REDISMODULE_API_NAMES` in our header (a test keeps the two equal).
pub const ALL_NAMES: &[&str] = &[
    "Alloc",
    "TryAlloc",
    "Calloc",
    "Free",
    "Realloc",
    "Strdup",
    "CreateCommand",
    "GetCommand",
    "CreateSubcommand",
    "SetCommandInfo",
    "SetModuleAttribs",
    "IsModuleNameBusy",
    "WrongArity",
    "ReplyWithLongLong",
    "ReplyWithError",
    "ReplyWithSimpleString",
    "ReplyWithArray",
    "ReplyWithMap",
    "ReplyWithSet",
    "ReplyWithAttribute",
    "ReplyWithNullArray",
    "ReplyWithEmptyArray",
    "ReplySetArrayLength",
    "ReplySetMapLength",
    "ReplySetSetLength",
    "ReplySetAttributeLength",
    "ReplySetPushLength",
    "ReplyWithStringBuffer",
    "ReplyWithCString",
    "ReplyWithString",
    "ReplyWithEmptyString",
    "ReplyWithVerbatimString",
    "ReplyWithVerbatimStringType",
    "ReplyWithNull",
    "ReplyWithBool",
    "ReplyWithCallReply",
    "ReplyWithDouble",
    "ReplyWithBigNumber",
    "ReplyWithLongDouble",
    "GetSelectedDb",
    "SelectDb",
    "KeyExists",
    "OpenKey",
    "CloseKey",
    "KeyType",
    "ValueLength",
    "ListPush",
    "ListPop",
    "ListGet",
    "ListSet",
    "ListInsert",
    "ListDelete",
    "StringToLongLong",
    "StringToULongLong",
    "StringToDouble",
    "StringToLongDouble",
    "StringToStreamID",
    "Call",
    "CallReplyProto",
    "FreeCallReply",
    "CallReplyInteger",
    "CallReplyDouble",
    "CallReplyBool",
    "CallReplyBigNumber",
    "CallReplyVerbatim",
    "CallReplySetElement",
    "CallReplyMapElement",
    "CallReplyAttributeElement",
    "CallReplyAttribute",
    "CallReplyType",
    "CallReplyLength",
    "CallReplyArrayElement",
    "CallReplyStringPtr",
    "CreateStringFromCallReply",
    "CreateString",
    "CreateStringFromLongLong",
    "CreateStringFromULongLong",
    "CreateStringFromDouble",
    "CreateStringFromLongDouble",
    "CreateStringFromString",
    "CreateStringFromStreamID",
    "CreateStringPrintf",
    "FreeString",
    "StringPtrLen",
    "AutoMemory",
    "Replicate",
    "ReplicateVerbatim",
    "DeleteKey",
    "UnlinkKey",
    "StringSet",
    "StringDMA",
    "StringTruncate",
    "GetExpire",
    "SetExpire",
    "GetAbsExpire",
    "SetAbsExpire",
    "ResetDataset",
    "DbSize",
    "RandomKey",
    "ZsetAdd",
    "ZsetIncrby",
    "ZsetScore",
    "ZsetRem",
    "ZsetRangeStop",
    "ZsetFirstInScoreRange",
    "ZsetLastInScoreRange",
    "ZsetFirstInLexRange",
    "ZsetLastInLexRange",
    "ZsetRangeCurrentElement",
    "ZsetRangeNext",
    "ZsetRangePrev",
    "ZsetRangeEndReached",
    "HashSet",
    "HashGet",
    "StreamAdd",
    "StreamDelete",
    "StreamIteratorStart",
    "StreamIteratorStop",
    "StreamIteratorNextID",
    "StreamIteratorNextField",
    "StreamIteratorDelete",
    "StreamTrimByLength",
    "StreamTrimByID",
    "IsKeysPositionRequest",
    "KeyAtPos",
    "KeyAtPosWithFlags",
    "IsChannelsPositionRequest",
    "ChannelAtPosWithFlags",
    "GetClientId",
    "GetClientUserNameById",
    "GetContextFlags",
    "AvoidReplicaTraffic",
    "PoolAlloc",
    "CreateDataType",
    "ModuleTypeSetValue",
    "ModuleTypeReplaceValue",
    "ModuleTypeGetType",
    "ModuleTypeGetValue",
    "IsIOError",
    "SetModuleOptions",
    "SignalModifiedKey",
    "SaveUnsigned",
    "LoadUnsigned",
    "SaveSigned",
    "LoadSigned",
    "SaveString",
    "SaveStringBuffer",
    "LoadString",
    "LoadStringBuffer",
    "SaveDouble",
    "LoadDouble",
    "SaveFloat",
    "LoadFloat",
    "SaveLongDouble",
    "LoadLongDouble",
    "SaveDataTypeToString",
    "LoadDataTypeFromString",
    "LoadDataTypeFromStringEncver",
    "EmitAOF",
    "Log",
    "LogIOError",
    "_Assert",
    "LatencyAddSample",
    "StringAppendBuffer",
    "TrimStringAllocation",
    "RetainString",
    "HoldString",
    "StringCompare",
    "GetContextFromIO",
    "GetKeyNameFromIO",
    "GetKeyNameFromModuleKey",
    "GetDbIdFromModuleKey",
    "GetDbIdFromIO",
    "GetKeyNameFromOptCtx",
    "GetToKeyNameFromOptCtx",
    "GetDbIdFromOptCtx",
    "GetToDbIdFromOptCtx",
    "Milliseconds",
    "MonotonicMicroseconds",
    "DigestAddStringBuffer",
    "DigestAddLongLong",
    "DigestEndSequence",
    "GetKeyNameFromDigest",
    "GetDbIdFromDigest",
    "CreateDict",
    "FreeDict",
    "DictSize",
    "DictSetC",
    "DictReplaceC",
    "DictSet",
    "DictReplace",
    "DictGetC",
    "DictGet",
    "DictDelC",
    "DictDel",
    "DictIteratorStartC",
    "DictIteratorStart",
    "DictIteratorStop",
    "DictIteratorReseekC",
    "DictIteratorReseek",
    "DictNextC",
    "DictPrevC",
    "DictNext",
    "DictPrev",
    "DictCompare",
    "DictCompareC",
    "RegisterInfoFunc",
    "InfoAddSection",
    "InfoBeginDictField",
    "InfoEndDictField",
    "InfoAddFieldString",
    "InfoAddFieldCString",
    "InfoAddFieldDouble",
    "InfoAddFieldLongLong",
    "InfoAddFieldULongLong",
    "GetServerInfo",
    "FreeServerInfo",
    "ServerInfoGetField",
    "ServerInfoGetFieldC",
    "ServerInfoGetFieldSigned",
    "ServerInfoGetFieldUnsigned",
    "ServerInfoGetFieldDouble",
    "GetClientInfoById",
    "GetClientNameById",
    "SetClientNameById",
    "PublishMessage",
    "PublishMessageShard",
    "SubscribeToServerEvent",
    "SetLRU",
    "GetLRU",
    "SetLFU",
    "GetLFU",
    "BlockClientOnKeys",
    "SignalKeyAsReady",
    "GetBlockedClientReadyKey",
    "ScanCursorCreate",
    "ScanCursorRestart",
    "ScanCursorDestroy",
    "Scan",
    "ScanKey",
    "GetContextFlagsAll",
    "GetKeyspaceNotificationFlagsAll",
    "IsSubEventSupported",
    "GetServerVersion",
    "GetTypeMethodVersion",
    "Yield",
    "GetThreadSafeContext",
    "GetDetachedThreadSafeContext",
    "FreeThreadSafeContext",
    "ThreadSafeContextLock",
    "ThreadSafeContextTryLock",
    "ThreadSafeContextUnlock",
    "BlockClient",
    "UnblockClient",
    "IsBlockedReplyRequest",
    "IsBlockedTimeoutRequest",
    "GetBlockedClientPrivateData",
    "GetBlockedClientHandle",
    "AbortBlock",
    "BlockedClientMeasureTimeStart",
    "BlockedClientMeasureTimeEnd",
    "SetDisconnectCallback",
    "SubscribeToKeyspaceEvents",
    "NotifyKeyspaceEvent",
    "GetNotifyKeyspaceEvents",
    "BlockedClientDisconnected",
    "RegisterClusterMessageReceiver",
    "SendClusterMessage",
    "GetClusterNodeInfo",
    "GetClusterNodesList",
    "FreeClusterNodesList",
    "CreateTimer",
    "StopTimer",
    "GetTimerInfo",
    "GetMyClusterID",
    "GetClusterSize",
    "GetRandomBytes",
    "GetRandomHexChars",
    "SetClusterFlags",
    "ExportSharedAPI",
    "GetSharedAPI",
    "RegisterCommandFilter",
    "UnregisterCommandFilter",
    "CommandFilterArgsCount",
    "CommandFilterArgGet",
    "CommandFilterArgInsert",
    "CommandFilterArgReplace",
    "CommandFilterArgDelete",
    "Fork",
    "SendChildHeartbeat",
    "ExitFromChild",
    "KillForkChild",
    "GetUsedMemoryRatio",
    "MallocSize",
    "MallocUsableSize",
    "MallocSizeString",
    "MallocSizeDict",
    "CreateModuleUser",
    "FreeModuleUser",
    "SetContextUser",
    "SetModuleUserACL",
    "SetModuleUserACLString",
    "GetModuleUserACLString",
    "GetCurrentUserName",
    "GetModuleUserFromUserName",
    "ACLCheckCommandPermissions",
    "ACLCheckKeyPermissions",
    "ACLCheckChannelPermissions",
    "ACLAddLogEntry",
    "DeauthenticateAndCloseClient",
    "AuthenticateClientWithACLUser",
    "AuthenticateClientWithUser",
    "RedactClientCommandArgument",
    "GetClientCertificate",
    "GetCommandKeys",
    "GetCommandKeysWithFlags",
    "GetCurrentCommandName",
    "RegisterDefragFunc",
    "DefragAlloc",
    "DefragRedisModuleString",
    "DefragShouldStop",
    "DefragCursorSet",
    "DefragCursorGet",
    "GetKeyNameFromDefragCtx",
    "GetDbIdFromDefragCtx",
    "EventLoopAdd",
    "EventLoopDel",
    "EventLoopAddOneShot",
    "RegisterBoolConfig",
    "RegisterNumericConfig",
    "RegisterStringConfig",
    "RegisterEnumConfig",
    "LoadConfigs",
];

/// Name -> function for the implemented part of the API.
fn table() -> &'static HashMap<&'static str, usize> {
    static TABLE: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut m = HashMap::new();
        for (name, f) in super::implemented() {
            debug_assert!(ALL_NAMES.contains(&name), "{name} is not a 7.0 API name");
            m.insert(name, f);
        }
        m
    })
}

/// Whether `name` (without prefix) is implemented.
pub fn is_implemented(name: &str) -> bool {
    table().contains_key(name)
}

thread_local! {
    /// Names asked for but missing during the load in progress.
    static MISSING: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    /// The allocation slot of the module being loaded (alloc.rs).
    static LOAD_SLOT: std::cell::Cell<usize> = const { std::cell::Cell::new(super::alloc::UNATTRIBUTED) };
}

/// A module load starts: missing names are collected from here on, and the module gets the
/// allocation functions of `alloc_slot`.
pub fn begin_load_report(alloc_slot: usize) {
    MISSING.with(|m| *m.borrow_mut() = Some(Vec::new()));
    LOAD_SLOT.with(|s| s.set(alloc_slot));
}

pub fn end_load_report() -> Vec<String> {
    LOAD_SLOT.with(|s| s.set(super::alloc::UNATTRIBUTED));
    MISSING.with(|m| m.borrow_mut().take().unwrap_or_default())
}

/// `RedisModule_GetApi`: stores the function named `name` into `*target`.
///
/// # Safety
/// `name` is a NUL-terminated string and `target` points at a function pointer.
pub unsafe extern "C" fn get_api(name: *const c_char, target: *mut c_void) -> c_int {
    // SAFETY: per the contract above.
    let full = unsafe { super::cstr(name) };
    let Ok(full) = std::str::from_utf8(full) else {
        return REDISMODULE_ERR;
    };
    let short = full.strip_prefix("RedisModule_").unwrap_or(full);
    let found = super::alloc::slot_function(short, LOAD_SLOT.with(|s| s.get()))
        .or_else(|| table().get(short).copied());
    match found {
        Some(f) => {
            // SAFETY: `target` points at a pointer-sized slot (a function pointer).
            unsafe { *(target as *mut usize) = f };
            REDISMODULE_OK
        }
        None => {
            MISSING.with(|m| {
                if let Some(v) = m.borrow_mut().as_mut() {
                    v.push(short.to_string());
                }
            });
            REDISMODULE_ERR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_header() {
        let h = include_str!("../../redismodule.h");
        let start = h.find("#define REDISMODULE_API_NAMES(X)").unwrap();
        let end = h[start..].find("static int RedisModule_Init").unwrap() + start;
        let names: Vec<&str> = h[start..end]
            .split("X(")
            .skip(1)
            .map(|s| &s[..s.find(')').unwrap()])
            .collect();
        assert_eq!(names, ALL_NAMES);
    }

    #[test]
    #[ignore = "prints the API coverage; run with --ignored --nocapture"]
    fn print_api_coverage() {
        let missing: Vec<&str> = ALL_NAMES
            .iter()
            .copied()
            .filter(|n| !is_implemented(n))
            .collect();
        println!(
            "implemented {} of {}; missing: {}",
            ALL_NAMES.len() - missing.len(),
            ALL_NAMES.len(),
            missing.join(" ")
        );
    }

    #[test]
    fn every_implemented_name_is_a_7_0_name() {
        for (name, _) in crate::module::implemented() {
            assert!(ALL_NAMES.contains(&name), "{name}");
        }
    }

    #[test]
    fn get_api_answers_err_for_unknown_names() {
        let mut slot: usize = 0;
        let name = std::ffi::CString::new("RedisModule_NoSuchFunction").unwrap();
        let rc = unsafe { get_api(name.as_ptr(), &mut slot as *mut usize as *mut c_void) };
        assert_eq!(rc, REDISMODULE_ERR);
        assert_eq!(slot, 0);
        let name = std::ffi::CString::new("RedisModule_Alloc").unwrap();
        let rc = unsafe { get_api(name.as_ptr(), &mut slot as *mut usize as *mut c_void) };
        assert_eq!(rc, REDISMODULE_OK);
        assert_ne!(slot, 0);
    }
}
