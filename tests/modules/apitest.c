/* Test module for module API functions the upstream suite does not exercise
 * (tests/module_api.rs).
 *
 * API.LATENCY event ms  -> RedisModule_LatencyAddSample, replies OK
 * API.MEMRATIO          -> RedisModule_GetUsedMemoryRatio as a double
 * API.FORKEVENTS        -> how many ForkChild born and died events were heard
 * API.HOLD bytes        -> keeps a block: RedisModule_Alloc(bytes / 2) grown with
 *                          RedisModule_Realloc to `bytes`; replies OK
 * API.RELEASE           -> frees every block held (RedisModule_Free); replies how many
 * API.CRASH             -> dereferences NULL (the crash report must name module and command) */
#include "redismodule.h"
#include <string.h>

static int api_latency(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3) return RedisModule_WrongArity(ctx);
    long long ms;
    if (RedisModule_StringToLongLong(argv[2], &ms) != REDISMODULE_OK)
        return RedisModule_ReplyWithError(ctx, "ERR bad latency");
    RedisModule_LatencyAddSample(RedisModule_StringPtrLen(argv[1], NULL), ms);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int api_memratio(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    if (argc != 1) return RedisModule_WrongArity(ctx);
    return RedisModule_ReplyWithDouble(ctx, RedisModule_GetUsedMemoryRatio());
}

static long long fork_born, fork_died;

static void on_fork_child(RedisModuleCtx *ctx, RedisModuleEvent e, uint64_t sub, void *data) {
    REDISMODULE_NOT_USED(ctx);
    REDISMODULE_NOT_USED(e);
    REDISMODULE_NOT_USED(data);
    if (sub == REDISMODULE_SUBEVENT_FORK_CHILD_BORN) fork_born++;
    else if (sub == REDISMODULE_SUBEVENT_FORK_CHILD_DIED) fork_died++;
}

static int api_forkevents(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    if (argc != 1) return RedisModule_WrongArity(ctx);
    RedisModule_ReplyWithArray(ctx, 2);
    RedisModule_ReplyWithLongLong(ctx, fork_born);
    return RedisModule_ReplyWithLongLong(ctx, fork_died);
}

static void *held[64];
static int nheld;

static int api_hold(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return RedisModule_WrongArity(ctx);
    long long bytes;
    if (RedisModule_StringToLongLong(argv[1], &bytes) != REDISMODULE_OK || bytes < 2)
        return RedisModule_ReplyWithError(ctx, "ERR bad size");
    if (nheld == 64) return RedisModule_ReplyWithError(ctx, "ERR too many blocks");
    void *p = RedisModule_Alloc(bytes / 2);
    held[nheld++] = RedisModule_Realloc(p, bytes);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int api_release(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    if (argc != 1) return RedisModule_WrongArity(ctx);
    int n = nheld;
    while (nheld) RedisModule_Free(held[--nheld]);
    return RedisModule_ReplyWithLongLong(ctx, n);
}

/* api.dma key: StringDMA through a handle opened for writing; replies the length seen. On an
 * empty key 7.0 hands out an empty read-only string and creates nothing. */
static int api_dma(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return RedisModule_WrongArity(ctx);
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE);
    size_t len = 12345;
    char *p = RedisModule_StringDMA(key, &len, REDISMODULE_WRITE);
    RedisModule_CloseKey(key);
    if (p == NULL) return RedisModule_ReplyWithNull(ctx);
    return RedisModule_ReplyWithLongLong(ctx, (long long)len);
}

/* api.callid: CLIENT ID through RedisModule_Call twice, and SUBSCRIBE once: Redis reuses its
 * temporary clients (same id), and refuses SUBSCRIBE on them. */
static int api_callid(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    if (argc != 1) return RedisModule_WrongArity(ctx);
    RedisModule_ReplyWithArray(ctx, 3);
    for (int i = 0; i < 2; i++) {
        RedisModuleCallReply *r = RedisModule_Call(ctx, "CLIENT", "c", "ID");
        RedisModule_ReplyWithCallReply(ctx, r);
        RedisModule_FreeCallReply(r);
    }
    /* The error comes back as a bulk string of its text. */
    RedisModuleCallReply *r = RedisModule_Call(ctx, "SUBSCRIBE", "cE", "api-channel");
    size_t len;
    const char *text = RedisModule_CallReplyStringPtr(r, &len);
    RedisModule_ReplyWithStringBuffer(ctx, text, len);
    RedisModule_FreeCallReply(r);
    return REDISMODULE_OK;
}

static int api_crash(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(ctx);
    REDISMODULE_NOT_USED(argv);
    REDISMODULE_NOT_USED(argc);
    volatile int *nowhere = NULL;
    *nowhere = 1;
    return REDISMODULE_OK;
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    REDISMODULE_NOT_USED(argc);
    if (RedisModule_Init(ctx, "apitest", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "api.latency", api_latency, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "api.memratio", api_memratio, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "api.forkevents", api_forkevents, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "api.hold", api_hold, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "api.release", api_release, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "api.dma", api_dma, "write", 1, 1, 1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "api.callid", api_callid, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "api.crash", api_crash, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_ForkChild, on_fork_child) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
