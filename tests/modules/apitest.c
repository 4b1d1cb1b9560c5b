/* Test module for module API functions the upstream suite does not exercise
 * (tests/module_api.rs).
 *
 * API.LATENCY event ms  -> RedisModule_LatencyAddSample, replies OK
 * API.MEMRATIO          -> RedisModule_GetUsedMemoryRatio as a double */
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

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    REDISMODULE_NOT_USED(argc);
    if (RedisModule_Init(ctx, "apitest", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "api.latency", api_latency, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "api.memratio", api_memratio, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
