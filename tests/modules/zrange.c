/* Test module for the sorted set range iterator of the key API (tests/module_zrange.rs).
 *
 * ZR.WALK key SCORE|LEX FIRST|LAST min max [minex maxex]
 *   Seeks the first (or last) element of the range, then steps with ZsetRangeNext (or
 *   ZsetRangePrev) until the end of the range; replies member, score, member, score, ...
 *   followed by the number of steps that returned 1. An error when the seek fails.
 * ZR.BACKFORTH key min max
 *   From the first element of a score range: Next, Prev, Prev (reaching before the start),
 *   then the current element; replies the three step results, EndReached, the member. */
#include "redismodule.h"
#include <stdlib.h>
#include <string.h>

static int seek(RedisModuleKey *key, RedisModuleString **argv, int argc, int first) {
    const char *kind = RedisModule_StringPtrLen(argv[2], NULL);
    if (!strcasecmp(kind, "lex")) {
        return first ? RedisModule_ZsetFirstInLexRange(key, argv[4], argv[5])
                     : RedisModule_ZsetLastInLexRange(key, argv[4], argv[5]);
    }
    double min, max;
    long long minex = 0, maxex = 0;
    RedisModule_StringToDouble(argv[4], &min);
    RedisModule_StringToDouble(argv[5], &max);
    if (argc > 7) {
        RedisModule_StringToLongLong(argv[6], &minex);
        RedisModule_StringToLongLong(argv[7], &maxex);
    }
    return first ? RedisModule_ZsetFirstInScoreRange(key, min, max, minex, maxex)
                 : RedisModule_ZsetLastInScoreRange(key, min, max, minex, maxex);
}

static int zr_walk(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 6 && argc != 8) return RedisModule_WrongArity(ctx);
    RedisModule_AutoMemory(ctx);
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ);
    int first = !strcasecmp(RedisModule_StringPtrLen(argv[3], NULL), "first");
    if (seek(key, argv, argc, first) != REDISMODULE_OK)
        return RedisModule_ReplyWithError(ctx, "ERR seek failed");
    RedisModule_ReplyWithArray(ctx, REDISMODULE_POSTPONED_LEN);
    long n = 0, steps = 0;
    while (!RedisModule_ZsetRangeEndReached(key)) {
        double score;
        RedisModuleString *ele = RedisModule_ZsetRangeCurrentElement(key, &score);
        RedisModule_ReplyWithString(ctx, ele);
        RedisModule_ReplyWithDouble(ctx, score);
        n += 2;
        steps += first ? RedisModule_ZsetRangeNext(key) : RedisModule_ZsetRangePrev(key);
    }
    RedisModule_ZsetRangeStop(key);
    RedisModule_ReplyWithLongLong(ctx, steps);
    RedisModule_ReplySetArrayLength(ctx, n + 1);
    return REDISMODULE_OK;
}

static int zr_backforth(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 4) return RedisModule_WrongArity(ctx);
    RedisModule_AutoMemory(ctx);
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ);
    double min, max;
    RedisModule_StringToDouble(argv[2], &min);
    RedisModule_StringToDouble(argv[3], &max);
    if (RedisModule_ZsetFirstInScoreRange(key, min, max, 0, 0) != REDISMODULE_OK)
        return RedisModule_ReplyWithError(ctx, "ERR seek failed");
    RedisModule_ReplyWithArray(ctx, 5);
    RedisModule_ReplyWithLongLong(ctx, RedisModule_ZsetRangeNext(key));
    RedisModule_ReplyWithLongLong(ctx, RedisModule_ZsetRangePrev(key));
    RedisModule_ReplyWithLongLong(ctx, RedisModule_ZsetRangePrev(key));
    RedisModule_ReplyWithLongLong(ctx, RedisModule_ZsetRangeEndReached(key));
    RedisModuleString *ele = RedisModule_ZsetRangeCurrentElement(key, NULL);
    if (ele) RedisModule_ReplyWithString(ctx, ele);
    else RedisModule_ReplyWithNull(ctx);
    RedisModule_ZsetRangeStop(key);
    return REDISMODULE_OK;
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    REDISMODULE_NOT_USED(argc);
    if (RedisModule_Init(ctx, "zrange", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "zr.walk", zr_walk, "readonly", 1, 1, 1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "zr.backforth", zr_backforth, "readonly", 1, 1, 1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
