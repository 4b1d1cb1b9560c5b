//! The Lua interpreter scripts run in (Redis' script_lua.c): one Lua 5.1 state, sandboxed as
//! Redis sandboxes it, with the `redis` table scripts use to reach the server, and the
//! conversions between Lua values and RESP in both directions.
//!
//! The sandbox: only the base, table, string and math libraries are loaded (no io, os,
//! package, no `dofile`/`loadfile`/`print`); `debug` is taken away once the error handler
//! holds its own reference; reading an undefined global is an error; and after setup every
//! table reachable from the globals (the globals themselves, the libraries, `redis`, their
//! metatables) is made read-only with the read-only tables of our Lua build (`deps/lua`), so
//! no script can change what the next one sees. Bytecode never loads.
//!
//! Errors travel as Redis 7.0 shapes them: a table `{err = "CODE message"}`, which
//! `redis.call` raises and `redis.pcall` returns; the error handler adds where the script
//! failed (`source`, `line`), and `ignore_error_stats_update` marks errors already counted
//! when the command that produced them failed.

use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value};

use super::libs::glue::{Glue, NumberFail, NumberOutcome, NumberResult, Numbers};
use crate::resp::reply::ReplyBuf as Reply;

/// How deep a returned table may nest before the reply gets "reached lua stack limit" (Lua's
/// own stack bounds Redis at about this depth).
const MAX_REPLY_DEPTH: usize = 1000;

/// `redis.REDIS_VERSION_NUM`: 7.0.15 as 0x00MMmmpp.
const REDIS_VERSION_NUM: u32 = 0x0007_000f;

/// Name of the internal setup chunk; the error handler skips its frames when it looks for
/// the line of the script that failed.
pub(crate) const INTERNAL_CHUNK: &str = "=redis";

/// The interpreter and the internal functions the server calls into it.
pub struct Engine {
    pub lua: Lua,
    /// `run(f, ...)`: calls `f(...)` under the error handler; returns `ok, value`.
    run: Function,
    /// `set_readonly(table, bool)`.
    set_readonly: Function,
    /// `load_run(f)`: runs a library body; returns `ok, error message`.
    load_run: Function,
    /// The busy-script count hook is set.
    count_hook: std::cell::Cell<bool>,
}

/// What the server side of `redis.*` provides to the interpreter (the commands themselves
/// and the state of the running script live in `super`).
pub trait Host {
    fn command(lua: &Lua, argv: Vec<Vec<u8>>) -> mlua::Result<(Value, bool)>;
    fn acl_check(lua: &Lua, argv: Vec<Vec<u8>>) -> mlua::Result<(Value, bool)>;
    fn set_resp(resp: i64) -> Result<(), &'static str>;
    fn set_repl(flags: i64) -> Result<(), &'static str>;
    fn in_script() -> bool;
}

/// The setup run once per interpreter, after the libraries load and before the sandbox
/// closes. Receives the native helpers as arguments.
const SETUP: &str = r#"
local command, acl_check, setresp, setrepl, log, sha1hex, random, randomseed,
      setreadonly, isreadonly, cwrap = ...
local dbg = debug
debug = nil
dofile, loadfile, print = nil, nil, nil
local error, type, tostring, select, next = error, type, tostring, select, next
local raw_pcall, raw_xpcall = pcall, xpcall
local INTERNAL = '=redis'

-- An error as Redis shapes it: {err = "CODE message"}; a message without a code gets ERR.
local function err_table(msg)
  if msg:sub(1, 1) == '-' then
    local sp = msg:find(' ', 1, true)
    if sp then
      msg = msg:sub(2, sp - 1) .. ' ' .. msg:sub(sp + 1)
    else
      msg = 'ERR ' .. msg:sub(2)
    end
  else
    msg = 'ERR ' .. msg
  end
  return {err = (msg:gsub('[\r\n]+$', ''))}
end

redis = {}
-- Arguments travel as one table: a call may have thousands of them.
redis.call = function(...)
  local reply, failed = command(select('#', ...), {...})
  if failed then error(reply) end
  return reply
end
redis.pcall = function(...)
  local reply = command(select('#', ...), {...})
  return reply
end
redis.setresp = function(...)
  if select('#', ...) ~= 1 then error(err_table('redis.setresp() requires one argument.')) end
  local e = setresp(...)
  if e then error(err_table(e)) end
end
redis.set_repl = function(...)
  if select('#', ...) ~= 1 then error(err_table('redis.set_repl() requires two arguments.')) end
  local e = setrepl(...)
  if e then error(err_table(e)) end
end
redis.log = function(...)
  local n = select('#', ...)
  if n < 2 then error(err_table('redis.log() requires two arguments or more.')) end
  local level = ...
  if type(level) ~= 'number' and tonumber(level) == nil then
    error(err_table('First argument must be a number (log level).'))
  end
  local e = log(n, {...})
  if e then error(err_table(e)) end
end
redis.sha1hex = function(...)
  if select('#', ...) ~= 1 then error(err_table('wrong number of arguments')) end
  return sha1hex(...)
end
redis.error_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return err_table('wrong number or type of arguments')
  end
  if s:sub(1, 1) ~= '-' then s = '-' .. s end
  return err_table(s)
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return err_table('wrong number or type of arguments')
  end
  return {ok = s}
end
redis.acl_check_cmd = function(...)
  local allowed, failed = acl_check(select('#', ...), {...})
  if failed then error(allowed) end
  return allowed
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.REPL_NONE = 0
redis.REPL_AOF = 1
redis.REPL_SLAVE = 2
redis.REPL_REPLICA = 2
redis.REPL_ALL = 3
redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3
redis.REDIS_VERSION = REDIS_VERSION_STR
redis.REDIS_VERSION_NUM = REDIS_VERSION_NUM_VAL
REDIS_VERSION_STR, REDIS_VERSION_NUM_VAL = nil, nil

-- Seen from scripts these are C functions (see csrc/lua_glue.c): a failing call in tail
-- position still reports the script's line.
for _, name in ipairs({'call', 'pcall', 'setresp', 'set_repl', 'log', 'sha1hex',
                       'error_reply', 'status_reply', 'acl_check_cmd'}) do
  redis[name] = cwrap(redis[name])
end

math.random = random
math.randomseed = randomseed

-- Redis 7 raises errors as tables; pcall keeps returning the message, as older versions did.
local function pcall_result(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'table' then
    local m = e.err
    if type(m) == 'string' or type(m) == 'number' then return false, m end
  end
  return false, e
end
pcall = function(...) return pcall_result(raw_pcall(...)) end

-- Adds where the script failed: the innermost frame that is neither C nor this setup code.
function __redis__err__handler(err)
  local level = 2
  local i = dbg.getinfo(level, 'nSl')
  while i and (i.what == 'C' or i.source == INTERNAL) do
    level = level + 1
    i = dbg.getinfo(level, 'nSl')
  end
  if type(err) == 'userdata' then
    err = {err = tostring(err)}
  elseif type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
local handler = __redis__err__handler

local function first(ok, value) return ok, value end
-- An EVAL body sees its keys and arguments as the KEYS and ARGV globals, a function as its
-- two parameters.
local function run(f, keys, args, eval_mode)
  if eval_mode then
    setreadonly(_G, false)
    rawset(_G, 'KEYS', keys)
    rawset(_G, 'ARGV', args)
    setreadonly(_G, true)
    return first(raw_xpcall(f, handler))
  end
  return first(raw_xpcall(function() return f(keys, args) end, handler))
end

local function protect(t)
  if isreadonly(t) then return end
  setreadonly(t, true)
  for _, v in next, t do
    if type(v) == 'table' then protect(v) end
  end
  local mt = dbg.getmetatable(t)
  if mt then protect(mt) end
end

setmetatable(_G, {__index = function(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end})
protect(_G)

-- Runs a library's body at FUNCTION LOAD: ok, or the error as "CODE message".
local function load_run(f)
  local ok, e = raw_pcall(f)
  if ok then return true, nil end
  if type(e) == 'table' then return false, tostring(e.err) end
  if type(e) == 'userdata' then return false, tostring(e) end
  return false, 'ERR ' .. tostring(e)
end
return run, setreadonly, load_run
"#;

/// The functions engine's extra setup: what a library's body sees while FUNCTION LOAD runs
/// it (only `redis.register_function`, `redis.log` and the version fields), and the
/// environment libraries live in: an empty read-only table that reads through to the
/// globals at run time, or to that load API while loading.
const FUNCTIONS_SETUP: &str = r#"
local register, cwrap, setreadonly = ...
local function err_mt()
  return {__index = function(_, name)
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
  end}
end
local api_redis = {
  register_function = cwrap(function(...)
    local n = select('#', ...)
    local a, b = ...
    local e = register(n, a, b)
    if e then error(e) end
  end),
  log = redis.log,
  LOG_DEBUG = redis.LOG_DEBUG,
  LOG_VERBOSE = redis.LOG_VERBOSE,
  LOG_NOTICE = redis.LOG_NOTICE,
  LOG_WARNING = redis.LOG_WARNING,
  REDIS_VERSION = redis.REDIS_VERSION,
  REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}
setmetatable(api_redis, err_mt())
local api = setmetatable({redis = api_redis}, err_mt())
local env_mt = {__index = _G}
local env = setmetatable({}, env_mt)
for _, t in ipairs({api_redis, getmetatable(api_redis), api, getmetatable(api), env, env_mt}) do
  setreadonly(t, true)
end
return env, env_mt, api, _G
"#;

/// `redis.register_function` as the functions engine calls it: (argument count, first,
/// second) to nothing or an error table.
pub type RegisterFn = fn(&Lua, (usize, Value, Value)) -> mlua::Result<Option<Value>>;

/// Where the functions engine runs library code (see FUNCTIONS_SETUP).
pub struct LibraryEnv {
    env: Table,
    env_mt: Table,
    load_api: Table,
    globals: Table,
}

/// Allocation state of math.random: the 48-bit linear congruential generator of
/// `lrand48`, so that a seed gives the same sequence as on Redis on every platform.
struct Rand48(std::cell::Cell<u64>);

impl Rand48 {
    const MULT: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn seed(&self, seed: i32) {
        self.0
            .set((((seed as u32) as u64) << 16 | 0x330E) & Self::MASK);
    }

    /// The next value in 0..2^31.
    fn next(&self) -> i32 {
        let x = (self.0.get().wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        self.0.set(x);
        (x >> 17) as i32
    }
}

thread_local! {
    // Redis' generator state is process-wide and survives SCRIPT FLUSH.
    static RAND: Rand48 = const { Rand48(std::cell::Cell::new(0x1234_ABCD_330E)) };
}

/// Redis' math.random: Lua's own, on `Rand48`. A numeric function of the library glue, so
/// that its errors reach scripts as those of the C function Redis has.
fn math_random<H: Host>(args: &Numbers) -> NumberOutcome<NumberResult> {
    if !H::in_script() {
        return Err(NumberFail::Error(
            "math.random can only be called inside a script invocation",
        ));
    }
    let r = RAND.with(|g| g.next()) as i64 % i32::MAX as i64;
    let r = r as f64 / i32::MAX as f64;
    // luaL_checkint: a C int, so the interval arithmetic wraps as it does in C.
    let int_arg = |idx| args.check_integer(idx).map(|n| n as i32);
    let x = match args.len() {
        0 => r,
        1 => {
            let u = int_arg(1)?;
            if u < 1 {
                return Err(NumberFail::Arg(1, "interval is empty"));
            }
            (r * u as f64).floor() + 1.0
        }
        2 => {
            let l = int_arg(1)?;
            let u = int_arg(2)?;
            if l > u {
                return Err(NumberFail::Arg(2, "interval is empty"));
            }
            (r * u.wrapping_sub(l).wrapping_add(1) as f64).floor() + l as f64
        }
        _ => return Err(NumberFail::Error("wrong number of arguments")),
    };
    Ok(NumberResult::Number(x))
}

/// Redis' math.randomseed: seeds `Rand48` with a C int.
fn math_randomseed<H: Host>(args: &Numbers) -> NumberOutcome<NumberResult> {
    if !H::in_script() {
        return Err(NumberFail::Error(
            "math.randomseed can only be called inside a script invocation",
        ));
    }
    let seed = args.check_integer(1)? as i32;
    RAND.with(|g| g.seed(seed));
    Ok(NumberResult::Nothing)
}

/// The arguments of `redis.call` and friends as a command's argv: strings as they are,
/// numbers as "%.17g" (Lua's own conversion would lose precision), anything else refused.
fn command_argv(n: usize, args: Table) -> Result<Vec<Vec<u8>>, &'static str> {
    if n == 0 {
        return Err("Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(n);
    for i in 1..=n {
        let v = args.raw_get::<Value>(i).unwrap_or(Value::Nil);
        argv.push(match v {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(i) => crate::util::f64_g17(i as f64),
            Value::Number(n) => crate::util::f64_g17(n),
            _ => return Err("Lua redis lib command arguments must be strings or integers"),
        });
    }
    Ok(argv)
}

/// An error as a Lua table, `{err = "CODE message"}` (a message without a code gets ERR);
/// `counted` marks an error already in the error statistics.
pub fn error_table(lua: &Lua, msg: &str, counted: bool) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("err", normalize_error(msg))?;
    if counted {
        t.raw_set("ignore_error_stats_update", true)?;
    }
    Ok(Value::Table(t))
}

/// "CODE message" from an error text that may start with '-' and carry a code, as Redis'
/// `luaPushErrorBuff` builds it.
pub fn normalize_error(msg: &str) -> String {
    let (code, text) = match msg.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, text)) => (code, text),
            None => ("ERR", rest),
        },
        None => ("ERR", msg),
    };
    format!("{} {}", code, text.trim_matches(['\r', '\n']))
}

impl Engine {
    /// A fresh interpreter with the sandbox closed; `H` serves the `redis.*` calls.
    pub fn new<H: Host>() -> mlua::Result<Engine> {
        // SAFETY: the debug library is loaded only for the error handler, which keeps a
        // private reference; the setup removes the global before any script runs.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::new(),
            )
        };
        super::libs::open_all(&lua)?;
        let g = lua.globals();
        g.raw_set("REDIS_VERSION_STR", crate::server::REDIS_VERSION)?;
        g.raw_set("REDIS_VERSION_NUM_VAL", REDIS_VERSION_NUM as f64)?;
        let command =
            lua.create_function(
                |lua, (n, args): (usize, Table)| match command_argv(n, args) {
                    Ok(argv) => H::command(lua, argv),
                    Err(e) => Ok((error_table(lua, e, false)?, true)),
                },
            )?;
        let acl_check = lua.create_function(
            |lua, (n, args): (usize, Table)| match command_argv(n, args) {
                Ok(argv) => H::acl_check(lua, argv),
                Err(e) => Ok((error_table(lua, e, false)?, true)),
            },
        )?;
        let setresp = lua.create_function(|lua, v: Value| {
            if !H::in_script() {
                return Ok(Some(
                    "redis.setresp can only be called inside a script invocation",
                ));
            }
            let n = lua.coerce_number(v)?.unwrap_or(0.0) as i64;
            Ok(H::set_resp(n).err())
        })?;
        let setrepl = lua.create_function(|lua, v: Value| {
            if !H::in_script() {
                return Ok(Some(
                    "redis.set_repl can only be called inside a script invocation",
                ));
            }
            let n = lua.coerce_number(v)?.unwrap_or(0.0) as i64;
            Ok(H::set_repl(n).err())
        })?;
        // The arguments come as one table (a script may pass thousands).
        let log = lua.create_function(|lua, (n, args): (usize, Table)| {
            let level = lua
                .coerce_number(args.raw_get::<Value>(1)?)?
                .unwrap_or(-1.0) as i64;
            if !(0..=3).contains(&level) {
                return Ok(Some("Invalid debug level."));
            }
            if !crate::server::log::enabled(level as i32) {
                return Ok(None);
            }
            let mut text = Vec::new();
            for j in 1..n {
                if let Some(s) = lua.coerce_string(args.raw_get::<Value>(j + 1)?)? {
                    if j != 1 {
                        text.push(b' ');
                    }
                    text.extend_from_slice(&s.as_bytes());
                }
            }
            crate::server::log::log(level as i32, &String::from_utf8_lossy(&text));
            Ok(None)
        })?;
        let sha1hex = lua.create_function(|lua, v: Value| {
            let data = lua
                .coerce_string(v)?
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default();
            Ok(crate::sha1::hex(&crate::sha1::sha1(&data)))
        })?;
        let glue = Glue::new(&lua)?;
        let random = glue.numeric(&lua, math_random::<H>)?;
        let randomseed = glue.numeric(&lua, math_randomseed::<H>)?;
        // SAFETY: plain C functions: the first two only touch the table at index 1 after
        // checking its type, the last is csrc/lua_glue.c's wrapper.
        let (setreadonly, isreadonly, cwrap) = unsafe {
            (
                lua.create_c_function(readonly_set)?,
                lua.create_c_function(readonly_get)?,
                lua.create_c_function(ferrodis_lua_wrap)?,
            )
        };
        let (run, set_readonly, load_run): (Function, Function, Function) =
            lua.load(SETUP).set_name(INTERNAL_CHUNK).call((
                command,
                acl_check,
                setresp,
                setrepl,
                log,
                sha1hex,
                random,
                randomseed,
                setreadonly,
                isreadonly,
                cwrap,
            ))?;
        Ok(Engine {
            lua,
            run,
            set_readonly,
            load_run,
            count_hook: std::cell::Cell::new(false),
        })
    }

    /// An interpreter for Redis Functions: as for EVAL, plus the library environment;
    /// `register` serves `redis.register_function` (it returns an error table or nothing).
    pub fn new_for_functions<H: Host>(register: RegisterFn) -> mlua::Result<(Engine, LibraryEnv)> {
        let engine = Engine::new::<H>()?;
        let register = engine.lua.create_function(register)?;
        // SAFETY: csrc/lua_glue.c's wrapper, a plain C function.
        let cwrap = unsafe { engine.lua.create_c_function(ferrodis_lua_wrap)? };
        let (env, env_mt, load_api, globals): (Table, Table, Table, Table) = engine
            .lua
            .load(FUNCTIONS_SETUP)
            .set_name(INTERNAL_CHUNK)
            .call((register, cwrap, engine.set_readonly.clone()))?;
        let lib_env = LibraryEnv {
            env,
            env_mt,
            load_api,
            globals,
        };
        Ok((engine, lib_env))
    }

    /// Runs a library's body (the code after its shebang line) so that it registers its
    /// functions; `timeout_ms` (0: none) bounds how long it may run.
    pub fn load_library(
        &self,
        lib_env: &LibraryEnv,
        code: &[u8],
        timeout_ms: u64,
    ) -> Result<(), String> {
        let f = self
            .lua
            .load(code)
            .set_name("@user_function")
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                format!("Error compiling function: {}", msg)
            })?;
        let fail = |e: mlua::Error| format!("Error registering functions: {}", e);
        f.set_environment(lib_env.env.clone()).map_err(fail)?;
        self.set_env_index(lib_env, &lib_env.load_api)
            .map_err(fail)?;
        if timeout_ms > 0 {
            let start = crate::util::monotonic_us();
            let _ = self.lua.set_hook(
                mlua::HookTriggers::new().every_nth_instruction(100_000),
                move |_, _| {
                    if (crate::util::monotonic_us() - start) / 1000 > timeout_ms {
                        return Err(mlua::Error::RuntimeError(
                            "ERR FUNCTION LOAD timeout".into(),
                        ));
                    }
                    Ok(mlua::VmState::Continue)
                },
            );
        }
        let ran = self.load_run.call::<(bool, Option<String>)>(f);
        self.clear_hook();
        self.set_env_index(lib_env, &lib_env.globals)
            .map_err(fail)?;
        match ran {
            Ok((true, _)) => Ok(()),
            Ok((false, msg)) => Err(format!(
                "Error registering functions: {}",
                msg.unwrap_or_default()
            )),
            Err(e) => Err(fail(e)),
        }
    }

    /// Points the library environment's reads at `target` (the metatable is read-only for
    /// scripts, not for the server).
    fn set_env_index(&self, lib_env: &LibraryEnv, target: &Table) -> mlua::Result<()> {
        self.set_readonly
            .call::<()>((lib_env.env_mt.clone(), false))?;
        let set = lib_env.env_mt.raw_set("__index", target.clone());
        self.set_readonly
            .call::<()>((lib_env.env_mt.clone(), true))?;
        set
    }

    /// Compiles a script body into a function (chunk name `@user_script`, as Redis names
    /// scripts in error messages), kept in the Lua registry: a cache of any size holds no
    /// slot of mlua's reference stack, which is bounded.
    pub fn compile(&self, body: &[u8], name: &str) -> Result<mlua::RegistryKey, String> {
        let f = self
            .lua
            .load(body)
            .set_name(name)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })?;
        self.lua.create_registry_value(f).map_err(|e| e.to_string())
    }

    /// A compiled script, for one run.
    pub fn function(&self, key: &mlua::RegistryKey) -> mlua::Result<Function> {
        self.lua.registry_value(key)
    }

    pub fn array(&self, items: &[Vec<u8>]) -> mlua::Result<Table> {
        let t = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, s) in items.iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(s)?)?;
        }
        Ok(t)
    }

    /// Runs `f` under the error handler: an EVAL body (`eval_mode`) with KEYS and ARGV set
    /// as globals, or a function with the two tables as parameters. Ok(value) or Err(error
    /// table).
    pub fn run(
        &self,
        f: &Function,
        keys: Table,
        args: Table,
        eval_mode: bool,
    ) -> mlua::Result<Result<Value, Value>> {
        let (ok, v): (bool, Value) = self.run.call((f.clone(), keys, args, eval_mode))?;
        Ok(if ok { Ok(v) } else { Err(v) })
    }

    /// Makes sure the hook that watches for busy scripts is set (every 100k instructions,
    /// `on_count` decides); a FUNCTION LOAD's own timeout hook replaces it for the load.
    pub fn ensure_count_hook(&self, on_count: fn(&Lua) -> mlua::Result<mlua::VmState>) {
        if !self.count_hook.get() {
            let _ = self.lua.set_hook(
                mlua::HookTriggers::new().every_nth_instruction(100_000),
                move |lua, _| on_count(lua),
            );
            self.count_hook.set(true);
        }
    }

    /// Takes the hook away (a killed script's line hook, or a load's timeout hook).
    pub fn clear_hook(&self) {
        self.lua.remove_hook();
        self.count_hook.set(false);
    }
}

unsafe extern "C-unwind" fn readonly_set(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    // SAFETY: `l` is the running state; index 1 is checked to be a table before use.
    unsafe {
        if mlua::ffi::lua_type(l, 1) == mlua::ffi::LUA_TTABLE {
            lua_enablereadonlytable(l, 1, mlua::ffi::lua_toboolean(l, 2));
        }
    }
    0
}

unsafe extern "C-unwind" fn readonly_get(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    // SAFETY: as above; pushing one boolean needs no stack check (Lua guarantees
    // LUA_MINSTACK free slots to a C function).
    unsafe {
        let ro = lua_isreadonlytable(l, 1);
        mlua::ffi::lua_pushboolean(l, ro);
    }
    1
}

extern "C-unwind" {
    // csrc/lua_glue.c
    fn ferrodis_lua_wrap(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int;
    // deps/lua/lapi.c
    fn lua_enablereadonlytable(
        l: *mut mlua::ffi::lua_State,
        idx: std::ffi::c_int,
        on: std::ffi::c_int,
    );
    fn lua_isreadonlytable(l: *mut mlua::ffi::lua_State, idx: std::ffi::c_int) -> std::ffi::c_int;
}

/// Converts a command's reply (protocol `resp`) into the Lua value scripts see: integers as
/// numbers, bulk strings as strings, nulls as false (RESP2) or nil (RESP3), status and error
/// replies as `{ok=...}` / `{err=...}`, and the RESP3 types as Redis 7.0 presents them
/// (`{map=...}`, `{set=...}`, `{double=...}`, `{big_number=...}`, `{verbatim_string=...}`).
pub fn reply_to_lua(lua: &Lua, proto: &[u8], resp: u8) -> mlua::Result<Value> {
    let mut pos = 0;
    parse_value(lua, proto, &mut pos, resp)
}

fn line<'a>(p: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let start = *pos + 1;
    let end = memchr::memchr(b'\r', &p[start..]).map_or(p.len(), |i| start + i);
    *pos = (end + 2).min(p.len());
    &p[start..end]
}

fn parse_value(lua: &Lua, p: &[u8], pos: &mut usize, resp: u8) -> mlua::Result<Value> {
    if *pos >= p.len() {
        return Ok(Value::Nil);
    }
    let kind = p[*pos];
    let head = line(p, pos);
    let num = || crate::util::parse_i64(head).unwrap_or(-1);
    let table1 = |k: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(k, v)?;
        Ok(Value::Table(t))
    };
    Ok(match kind {
        b'+' => table1("ok", Value::String(lua.create_string(head)?))?,
        b'-' => error_table(lua, &format!("-{}", String::from_utf8_lossy(head)), true)?,
        b':' => Value::Number(num() as f64),
        b'$' | b'=' => {
            let n = num();
            if n < 0 {
                return Ok(if resp == 2 {
                    Value::Boolean(false)
                } else {
                    Value::Nil
                });
            }
            let start = *pos;
            let end = (start + n as usize).min(p.len());
            *pos = (end + 2).min(p.len());
            if kind == b'=' && end - start >= 4 {
                let t = lua.create_table()?;
                t.raw_set("string", lua.create_string(&p[start + 4..end])?)?;
                t.raw_set("format", lua.create_string(&p[start..start + 3])?)?;
                table1("verbatim_string", Value::Table(t))?
            } else {
                Value::String(lua.create_string(&p[start..end])?)
            }
        }
        b'*' | b'~' | b'>' => {
            let n = num();
            if n < 0 {
                return Ok(if resp == 2 {
                    Value::Boolean(false)
                } else {
                    Value::Nil
                });
            }
            let t = lua.create_table_with_capacity(if kind == b'~' { 0 } else { n as usize }, 0)?;
            for i in 0..n as usize {
                let v = parse_value(lua, p, pos, resp)?;
                if kind == b'~' {
                    t.raw_set(v, true)?;
                } else {
                    t.raw_set(i + 1, v)?;
                }
            }
            if kind == b'~' {
                table1("set", Value::Table(t))?
            } else {
                Value::Table(t)
            }
        }
        b'%' => {
            let t = lua.create_table()?;
            for _ in 0..num().max(0) {
                let k = parse_value(lua, p, pos, resp)?;
                let v = parse_value(lua, p, pos, resp)?;
                t.raw_set(k, v)?;
            }
            table1("map", Value::Table(t))?
        }
        b'|' => {
            // Attributes are not shown to scripts: skip them, keep the reply they annotate.
            for _ in 0..2 * num().max(0) {
                parse_value(lua, p, pos, resp)?;
            }
            parse_value(lua, p, pos, resp)?
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(head == b"t"),
        b',' => {
            let d = crate::util::parse_f64(head).unwrap_or(0.0);
            table1("double", Value::Number(d))?
        }
        b'(' => table1("big_number", Value::String(lua.create_string(head)?))?,
        _ => Value::Nil,
    })
}

/// What an error table carries.
pub struct ErrorInfo {
    pub msg: String,
    pub source: Option<String>,
    pub line: Option<String>,
    /// Already counted in the error statistics (it came from a command).
    pub counted: bool,
}

pub fn error_info(lua: &Lua, v: &Value) -> ErrorInfo {
    let mut info = ErrorInfo {
        msg: String::new(),
        source: None,
        line: None,
        counted: false,
    };
    let text = |v: Value| -> Option<String> {
        lua.coerce_string(v)
            .ok()
            .flatten()
            .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
    };
    match v {
        Value::Table(t) => {
            info.msg = text(t.get("err").unwrap_or(Value::Nil)).unwrap_or_default();
            info.source = text(t.get("source").unwrap_or(Value::Nil));
            info.line = text(t.get("line").unwrap_or(Value::Nil));
            info.counted = matches!(
                t.get::<Value>("ignore_error_stats_update"),
                Ok(Value::Boolean(true))
            );
        }
        other => {
            if let Some(s) = text(other.clone()) {
                info.msg = format!("ERR {}", s);
            }
        }
    }
    info
}

/// Writes a script's return value to `out` as Redis converts it: strings as bulk strings,
/// numbers truncated to integers, booleans as 1/null (RESP2 script) or booleans (RESP3),
/// tables as arrays up to the first nil, or as the reply a table with `err`, `ok`, `double`,
/// `big_number`, `verbatim_string`, `map` or `set` stands for; anything else as null.
pub fn lua_to_reply(lua: &Lua, out: &mut Reply, v: &Value, script_resp: u8) {
    to_reply(lua, out, v, script_resp, 0)
}

fn to_reply(lua: &Lua, out: &mut Reply, v: &Value, script_resp: u8, depth: usize) {
    if depth > MAX_REPLY_DEPTH {
        out.error("reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp == 2 {
                if *b {
                    out.int(1)
                } else {
                    out.null()
                }
            } else {
                out.bool(*b)
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(*n as i64),
        Value::Table(t) => table_to_reply(lua, out, t, script_resp, depth),
        _ => out.null(),
    }
}

fn table_to_reply(lua: &Lua, out: &mut Reply, t: &Table, script_resp: u8, depth: usize) {
    let field = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
    if let Value::String(_) = field("err") {
        let info = error_info(lua, &Value::Table(t.clone()));
        let line = format!("-{}", info.msg);
        if info.counted {
            out.error_counted_elsewhere(&line);
        } else {
            out.error(&line);
        }
        return;
    }
    if let Value::String(s) = field("ok") {
        let mut text = s.as_bytes().to_vec();
        for b in text.iter_mut() {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        out.simple(&text);
        return;
    }
    match field("double") {
        Value::Number(d) => return out.double(d),
        Value::Integer(i) => return out.double(i as f64),
        _ => {}
    }
    if let Value::String(s) = field("big_number") {
        let mut text = s.as_bytes().to_vec();
        for b in text.iter_mut() {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        out.big_number(&text);
        return;
    }
    if let Value::Table(v) = field("verbatim_string") {
        if let (Ok(Value::String(format)), Ok(Value::String(s))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            let format = String::from_utf8_lossy(&format.as_bytes()).into_owned();
            out.verbatim(&s.as_bytes(), &format);
            return;
        }
    }
    if let Value::Table(m) = field("map") {
        let d = out.defer();
        let mut n = 0;
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            to_reply(lua, out, &k, script_resp, depth + 1);
            to_reply(lua, out, &v, script_resp, depth + 1);
            n += 1;
        }
        out.set_deferred_map(d, n);
        return;
    }
    if let Value::Table(s) = field("set") {
        let d = out.defer();
        let mut n = 0;
        for (k, _) in s.pairs::<Value, Value>().flatten() {
            to_reply(lua, out, &k, script_resp, depth + 1);
            n += 1;
        }
        out.set_deferred_set(d, n);
        return;
    }
    let d = out.defer();
    let mut n = 0;
    loop {
        let v = t.raw_get::<Value>(n + 1).unwrap_or(Value::Nil);
        if v.is_nil() {
            break;
        }
        to_reply(lua, out, &v, script_resp, depth + 1);
        n += 1;
    }
    out.set_deferred_array(d, n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rand48_matches_the_c_library_sequence() {
        // glibc's lrand48() after srand48(0).
        let g = Rand48(std::cell::Cell::new(0));
        g.seed(0);
        let got: Vec<i32> = (0..3).map(|_| g.next()).collect();
        assert_eq!(got, vec![366850414, 1610402240, 206956554]);
    }

    #[test]
    fn errors_get_a_code_and_lose_trailing_newlines() {
        assert_eq!(normalize_error("-WRONGTYPE bad\r\n"), "WRONGTYPE bad");
        assert_eq!(normalize_error("oops"), "ERR oops");
        assert_eq!(normalize_error("-NOCODE"), "ERR NOCODE");
    }
}
