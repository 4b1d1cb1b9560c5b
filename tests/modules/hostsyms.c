/* Test module that links against functions of the server executable instead of the module
 * API, as some modules built for redis-server do (tests/modules.rs). It carries no copy of
 * them: loading it only works where the server exports them.
 *
 * HOST.HASH data -> [siphash, siphash_nocase, MurmurHash64A, crc64, crc16] of `data` (the
 *                   keyed hashes with a fixed key), each as a decimal string
 * HOST.DICTHASH a b -> 1 if dictGenHashFunction(a) == dictGenHashFunction(b), else 0; the
 *                   same for dictGenCaseHashFunction as a second element
 * Its OnLoad also calls libm (built without -lm, it takes libm from the server process). */
#include "redismodule.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>

uint64_t siphash(const uint8_t *in, const size_t inlen, const uint8_t *k);
uint64_t siphash_nocase(const uint8_t *in, const size_t inlen, const uint8_t *k);
uint64_t dictGenHashFunction(const void *key, size_t len);
uint64_t dictGenCaseHashFunction(const unsigned char *buf, size_t len);
uint64_t MurmurHash64A(const void *key, int len, unsigned int seed);
void crc64_init(void);
uint64_t crc64(uint64_t crc, const unsigned char *s, uint64_t l);
uint16_t crc16(const char *buf, int len);

static int reply_u64(RedisModuleCtx *ctx, uint64_t v) {
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    return RedisModule_ReplyWithStringBuffer(ctx, buf, n);
}

static int host_hash(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return RedisModule_WrongArity(ctx);
    size_t len;
    const char *p = RedisModule_StringPtrLen(argv[1], &len);
    static const uint8_t key[16] = "0123456789ABCDEF";
    RedisModule_ReplyWithArray(ctx, 5);
    reply_u64(ctx, siphash((const uint8_t *)p, len, key));
    reply_u64(ctx, siphash_nocase((const uint8_t *)p, len, key));
    reply_u64(ctx, MurmurHash64A(p, (int)len, 0xadc83b19));
    reply_u64(ctx, crc64(0, (const unsigned char *)p, len));
    return reply_u64(ctx, crc16(p, (int)len));
}

static int host_dicthash(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3) return RedisModule_WrongArity(ctx);
    size_t la, lb;
    const char *a = RedisModule_StringPtrLen(argv[1], &la);
    const char *b = RedisModule_StringPtrLen(argv[2], &lb);
    RedisModule_ReplyWithArray(ctx, 2);
    RedisModule_ReplyWithLongLong(ctx, dictGenHashFunction(a, la) == dictGenHashFunction(b, lb));
    return RedisModule_ReplyWithLongLong(
        ctx, dictGenCaseHashFunction((const unsigned char *)a, la) ==
                 dictGenCaseHashFunction((const unsigned char *)b, lb));
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    REDISMODULE_NOT_USED(argc);
    if (RedisModule_Init(ctx, "hostsyms", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    crc64_init();
    volatile double cube = 27.0; /* volatile: the call must happen at run time */
    if (fabs(cbrt(cube) - 3.0) > 1e-9) return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "host.hash", host_hash, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "host.dicthash", host_dicthash, "", 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
