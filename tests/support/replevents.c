/* A test module for tests/replication_events.rs: it records the server events the
 * replication code announces (loading from a master, swapdb's async load, role changes with
 * their ReplicationInfo) and answers them back as one line of text ("replevents.log"), so a
 * test can check their order and data. */
#include "redismodule.h"
#include <stdio.h>
#include <string.h>

static char log_buf[8192];

static void append(const char *s) {
    size_t used = strlen(log_buf);
    if (used + strlen(s) + 2 < sizeof(log_buf)) {
        if (used) strcat(log_buf, " ");
        strcat(log_buf, s);
    }
}

static void on_loading(RedisModuleCtx *ctx, RedisModuleEvent e, uint64_t sub, void *data) {
    REDISMODULE_NOT_USED(ctx); REDISMODULE_NOT_USED(e); REDISMODULE_NOT_USED(data);
    const char *names[] = {"load-rdb", "load-aof", "load-repl", "load-end", "load-failed"};
    append(sub < 5 ? names[sub] : "load-?");
}

static void on_async_load(RedisModuleCtx *ctx, RedisModuleEvent e, uint64_t sub, void *data) {
    REDISMODULE_NOT_USED(ctx); REDISMODULE_NOT_USED(e); REDISMODULE_NOT_USED(data);
    const char *names[] = {"async-started", "async-aborted", "async-completed"};
    append(sub < 3 ? names[sub] : "async-?");
}

static void on_role(RedisModuleCtx *ctx, RedisModuleEvent e, uint64_t sub, void *data) {
    REDISMODULE_NOT_USED(ctx); REDISMODULE_NOT_USED(e);
    RedisModuleReplicationInfo *ri = data;
    char line[256];
    snprintf(line, sizeof(line), "role-%s:master=%d:host=%s:port=%d:id1len=%zu",
             sub == REDISMODULE_EVENT_REPLROLECHANGED_NOW_MASTER ? "master" : "replica",
             ri->master, ri->masterhost, ri->masterport, strlen(ri->replid1));
    append(line);
}

static void on_link(RedisModuleCtx *ctx, RedisModuleEvent e, uint64_t sub, void *data) {
    REDISMODULE_NOT_USED(ctx); REDISMODULE_NOT_USED(e); REDISMODULE_NOT_USED(data);
    append(sub == REDISMODULE_SUBEVENT_MASTER_LINK_UP ? "link-up" : "link-down");
}

static int cmd_log(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv); REDISMODULE_NOT_USED(argc);
    return RedisModule_ReplyWithCString(ctx, log_buf);
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv); REDISMODULE_NOT_USED(argc);
    if (RedisModule_Init(ctx, "replevents", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_Loading, on_loading);
    RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_ReplAsyncLoad, on_async_load);
    RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_ReplicationRoleChanged, on_role);
    RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_MasterLinkChange, on_link);
    if (RedisModule_CreateCommand(ctx, "replevents.log", cmd_log, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
