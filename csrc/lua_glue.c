/* Glue between the scripting sandbox and the Lua interpreter (src/scripting/lua.rs).
 *
 * The `redis.*` functions are written in Lua, but Lua drops the calling frame of a call in
 * tail position ("return redis.call(...)") when the callee is a Lua function, and the error
 * handler then can no longer name the script line that failed. Calls to C functions keep
 * their caller's frame, so each of those Lua functions is exposed through a C closure that
 * just forwards to it. Errors pass through here as Lua errors (longjmp), which is why this
 * lives in C and not in Rust. */

#include "lua.h"
#include "lauxlib.h"

/* Calls upvalue 1 with this call's arguments and returns all its results. */
static int ferrodis_lua_forward(lua_State *L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* wrap(f): a C function that forwards to the Lua function f. */
int ferrodis_lua_wrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_pushcclosure(L, ferrodis_lua_forward, 1);
    return 1;
}
