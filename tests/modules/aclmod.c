/* A test module for the ACL API pieces upstream's test modules don't exercise:
 * GetClientUserNameById (and its errno on unknown clients) and GetCurrentUserName. */
#include "redismodule.h"
#include <errno.h>
#include <string.h>

static int username_cmd(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return RedisModule_WrongArity(ctx);
    long long id;
    if (RedisModule_StringToLongLong(argv[1], &id) != REDISMODULE_OK)
        return RedisModule_ReplyWithError(ctx, "ERR bad id");
    errno = 0;
    RedisModuleString *name = RedisModule_GetClientUserNameById(ctx, (uint64_t)id);
    if (name == NULL)
        return RedisModule_ReplyWithError(ctx, errno == ENOENT ? "ERR ENOENT" : "ERR other");
    RedisModule_ReplyWithString(ctx, name);
    RedisModule_FreeString(ctx, name);
    return REDISMODULE_OK;
}

static int whoami_cmd(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    if (argc != 1) return RedisModule_WrongArity(ctx);
    RedisModuleString *name = RedisModule_GetCurrentUserName(ctx);
    RedisModule_ReplyWithString(ctx, name);
    RedisModule_FreeString(ctx, name);
    return REDISMODULE_OK;
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "aclmod", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "aclmod.username", username_cmd, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "aclmod.whoami", whoami_cmd, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
