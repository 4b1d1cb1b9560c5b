//! How the script libraries written in Rust (cjson, cmsgpack, struct, bit, and Redis'
//! math.random) present themselves to scripts as the C functions Redis has. Two problems of
//! mlua callbacks are solved here, once for all of them:
//!
//! - Errors. A C library raises a string (`luaL_error`, `luaL_argerror`): `pcall` hands the
//!   script that message, and an uncaught one reads `user_script:N: message` with the line of
//!   the script that called the library. An error returned by an mlua callback is raised as
//!   an mlua userdata instead. So the Rust side of a library function returns its failure as
//!   a value and a Lua wrapper (`GLUE`) raises it, worded and positioned as `luaL_error` and
//!   `luaL_argerror` would: at the caller of the function, naming the function as the caller
//!   called it (`debug.getinfo`), "?" when called from C (`pcall(bit.tobit)`). Scripts reach
//!   the wrapper through the C forwarder of csrc/lua_glue.c, so it still behaves as a C
//!   function: a call in tail position keeps the script's frame, whose line the error needs.
//! - References. mlua holds one handle for every Lua string or table a callback receives or
//!   keeps, from a pool of about 8000 per interpreter, and aborts the process when it runs
//!   out; scripts may pass thousands of arguments (`bit.bor(unpack(t))`) and get thousands of
//!   results (`cmsgpack.unpack`).
//!
//! Library functions come in two kinds:
//!
//! - `Glue::function` and `Glue::many_results`: mlua callbacks taking any Lua values (`Args`).
//!   A call with more than a few arguments hands them over as one table that the Rust side
//!   reads one at a time; many results come back in one table that `spread`, a C function,
//!   puts on the Lua stack.
//! - `Glue::numeric`: functions of numbers only (`bit`, math.random), called often in loops.
//!   They are C functions that read their arguments straight off their Lua stack (`Numbers`),
//!   as the C libraries do: no handle, no table, and no per-call allocation whatever the
//!   arguments (an mlua callback behind the argument count check in Lua costs about two and
//!   a half times as much per call).
//!
//! The module also holds what the libraries share for reading their arguments the way Lua's C
//! API reads them (`lua_tonumber`, `luaL_checkinteger`, `luaL_checklstring`...), the wording of
//! its errors, and the C casts of x86-64 those conversions end in.

use std::ffi::{c_int, c_void};
use std::rc::Rc;

use mlua::ffi;
use mlua::{Function, IntoLua, Lua, MultiValue, Table, Value};

use crate::scripting::lua::INTERNAL_CHUNK;

/// The largest stack a C function may use in Redis' Lua build (`LUAI_MAXCSTACK`):
/// `lua_checkstack` fails, and the libraries' `luaL_checkstack` raise "stack overflow (...)",
/// when a C function would hold more.
pub(crate) const MAX_C_STACK: usize = 8000;

/// mlua callbacks get at most this many arguments on the stack (a handle each at most);
/// beyond it they travel as one table.
const FEW_ARGS: usize = 8;

/// The Lua side. `raise` throws what a Rust function returned as its failure (see `Fail`): a
/// message, raised as `luaL_error` raises it; `{message}`, raised as it is; or `{message,
/// narg}`, worded as `luaL_argerror` words it. Levels counted from `raise`: 1 is `raise`, 2
/// the wrapper, 3 the C forwarder the caller called (whose name `luaL_argerror` reports), 4
/// that caller, whose line prefixes the message (none when it is C code such as `pcall`, as
/// on Redis).
///
/// The wrappers, one per kind of function: `impl(...)` returns its result, or nil and the
/// failure.
const GLUE: &str = r#"
local getinfo, spread, FEW = ...
local error, select, type = error, select, type

local function raise(e)
  local level = 4
  if type(e) == 'table' then
    local msg, narg = e[1], e[2]
    if narg == nil then
      e, level = msg, 0
    else
      local name, namewhat = '?', ''
      local ar = getinfo and getinfo(3, 'n')
      if ar then
        name, namewhat = ar.name or '?', ar.namewhat
      end
      if namewhat == 'method' then
        narg = narg - 1
      end
      if namewhat == 'method' and narg == 0 then
        e = "calling '" .. name .. "' on bad self (" .. msg .. ')'
      else
        e = 'bad argument #' .. narg .. " to '" .. name .. "' (" .. msg .. ')'
      end
    end
  end
  error(e, level)
end

local wrappers = {}

-- Numeric functions take any number of arguments as they are; a nil result is no result.
function wrappers.numeric(impl)
  return function(...)
    local r, e = impl(...)
    if e ~= nil then raise(e) end
    if r ~= nil then return r end
  end
end

-- mlua callbacks: impl(...) with few arguments, many(n, {...}) with more.
function wrappers.value(impl, many)
  return function(...)
    local n = select('#', ...)
    local r, e
    if n <= FEW then r, e = impl(...) else r, e = many(n, {...}) end
    if e ~= nil then raise(e) end
    return r
  end
end

-- The same, the result being a table of results to spread.
function wrappers.spread(impl, many)
  return function(...)
    local n = select('#', ...)
    local r, e
    if n <= FEW then r, e = impl(...) else r, e = many(n, {...}) end
    if e ~= nil then raise(e) end
    return spread(r)
  end
end

return wrappers
"#;

extern "C-unwind" {
    // csrc/lua_glue.c: wrap(f) returns a C closure that calls f with its own arguments.
    fn ferrodis_lua_wrap(l: *mut ffi::lua_State) -> c_int;
}

/// `spread(t)`: `t[1]`, ..., `t[t.n]` as results. A C function, so that only its one argument
/// counts against `MAX_C_STACK`, as only the C library's own arguments do (Lua's `unpack`
/// would need three, and gives up two results earlier).
unsafe extern "C-unwind" fn spread(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the running state. Only `GLUE` can call this (scripts never see it),
    // always with the results table `many_results` built: a table without a metatable
    // whose `n` is a count. Room is checked before anything is pushed.
    unsafe {
        ffi::lua_settop(l, 1);
        ffi::lua_getfield_(l, 1, c"n".as_ptr());
        let n = ffi::lua_tonumber(l, -1) as c_int;
        ffi::lua_settop(l, 1);
        // `many_results` sends at most MAX_C_STACK - 1 results, which always fit.
        if n <= 0 || ffi::lua_checkstack(l, n) == 0 {
            return 0;
        }
        for i in 1..=n {
            ffi::lua_rawgeti_(l, 1, i);
        }
        n
    }
}

/// Why a library call failed.
#[derive(Debug)]
pub(crate) enum Fail {
    /// Raised as `luaL_error` raises it: the caller's position, then this text.
    Error(Vec<u8>),
    /// An error of Lua's own raised inside the C function (`table index is nil`): the text
    /// alone, as Lua adds no position to errors of C code.
    Plain(Vec<u8>),
    /// `luaL_argerror`: the argument number and the reason.
    Arg(usize, Vec<u8>),
    /// A failure of the interpreter itself (out of memory and the like), passed on as is.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Fail {
        Fail::Lua(e)
    }
}

/// What a library function returns to the glue.
pub(crate) type Outcome<T> = Result<T, Fail>;

/// `luaL_error` with a message of the library's.
pub(crate) fn error(msg: impl Into<Vec<u8>>) -> Fail {
    Fail::Error(msg.into())
}

/// An error Lua itself raises inside a C function.
pub(crate) fn plain_error(msg: impl Into<Vec<u8>>) -> Fail {
    Fail::Plain(msg.into())
}

/// `luaL_argerror`: "bad argument #idx to 'name' (msg)", the name filled in by `GLUE`.
pub(crate) fn arg_error(idx: usize, msg: impl Into<Vec<u8>>) -> Fail {
    Fail::Arg(idx, msg.into())
}

/// `luaL_typerror`: argument `idx`, `got` (None when absent), is not of the expected type.
pub(crate) fn type_error(idx: usize, expected: &str, got: Option<&Value>) -> Fail {
    arg_error(idx, format!("{expected} expected, got {}", type_name(got)))
}

/// `luaL_typename`: the type of a value, or "no value" for a missing argument.
pub(crate) fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// `lua_tonumber` plus `lua_isnumber`: numbers, and strings Lua reads as numbers.
pub(crate) fn to_number(lua: &Lua, v: Option<&Value>) -> mlua::Result<Option<f64>> {
    match v {
        Some(Value::Integer(i)) => Ok(Some(*i as f64)),
        Some(Value::Number(n)) => Ok(Some(*n)),
        Some(v @ Value::String(_)) => lua.coerce_number(v.clone()),
        _ => Ok(None),
    }
}

/// The arguments of an mlua library function, read one at a time: the Rust function sees the
/// same thing whether they came on the stack or (many of them) in a table.
pub(crate) struct Args {
    n: usize,
    values: Passed,
}

enum Passed {
    Stack(MultiValue),
    Table(Table),
}

impl Args {
    /// How many arguments were passed (`lua_gettop`).
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// Argument `idx` (1-based); None when there is no such argument.
    pub(crate) fn get(&self, idx: usize) -> mlua::Result<Option<Value>> {
        if idx == 0 || idx > self.n {
            return Ok(None);
        }
        match &self.values {
            Passed::Stack(v) => Ok(v.get(idx - 1).cloned()),
            Passed::Table(t) => t.raw_get(idx).map(Some),
        }
    }

    /// One more argument, nil, as a C function's `lua_pushnil` onto its own arguments.
    pub(crate) fn push_nil(&mut self) {
        self.n += 1;
        if let Passed::Stack(v) = &mut self.values {
            v.push_back(Value::Nil);
        }
    }

    /// `luaL_checknumber`.
    pub(crate) fn check_number(&self, lua: &Lua, idx: usize) -> Outcome<f64> {
        let v = self.get(idx)?;
        match to_number(lua, v.as_ref())? {
            Some(n) => Ok(n),
            None => Err(type_error(idx, "number", v.as_ref())),
        }
    }

    /// `luaL_checkinteger`: a number truncated to an integer the way C casts it.
    pub(crate) fn check_integer(&self, lua: &Lua, idx: usize) -> Outcome<i64> {
        self.check_number(lua, idx).map(c_f64_to_i64)
    }

    /// `luaL_optinteger`: `default` when the argument is absent or nil.
    pub(crate) fn opt_integer(&self, lua: &Lua, idx: usize, default: i64) -> Outcome<i64> {
        match self.get(idx)? {
            None | Some(Value::Nil) => Ok(default),
            Some(_) => self.check_integer(lua, idx),
        }
    }

    /// `luaL_checklstring`: a string, or a number formatted as Lua formats it.
    pub(crate) fn check_string(&self, lua: &Lua, idx: usize) -> Outcome<mlua::String> {
        match self.get(idx)? {
            Some(Value::String(s)) => Ok(s),
            Some(n @ (Value::Integer(_) | Value::Number(_))) => {
                match lua.coerce_string(n.clone())? {
                    Some(s) => Ok(s),
                    None => Err(type_error(idx, "string", Some(&n))),
                }
            }
            other => Err(type_error(idx, "string", other.as_ref())),
        }
    }
}

/// The results of a `many_results` function, stored in a Lua table as they are produced
/// (so that no handle per value stays alive).
pub(crate) struct Results {
    table: Table,
    len: usize,
}

impl Results {
    /// Results expected to number about `hint` (room for more than 64 is made as they come).
    pub(crate) fn new(lua: &Lua, hint: usize) -> mlua::Result<Results> {
        Ok(Results {
            table: lua.create_table_with_capacity(hint.min(64), 1)?,
            len: 0,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, v: impl IntoLua) -> mlua::Result<()> {
        self.len += 1;
        self.table.raw_set(self.len, v)
    }

    /// Replaces result `i` (1-based).
    pub(crate) fn set(&mut self, i: usize, v: impl IntoLua) -> mlua::Result<()> {
        self.table.raw_set(i, v)
    }

    /// The last result, if any.
    pub(crate) fn last(&self) -> mlua::Result<Option<Value>> {
        match self.len {
            0 => Ok(None),
            n => self.table.raw_get(n).map(Some),
        }
    }

    pub(crate) fn pop(&mut self) -> mlua::Result<()> {
        if self.len > 0 {
            self.table.raw_set(self.len, Value::Nil)?;
            self.len -= 1;
        }
        Ok(())
    }
}

/// The arguments of a numeric function: the C function's own stack, read as the Lua C API
/// reads it. Lent to the function for the call only.
pub(crate) struct Numbers {
    l: *mut ffi::lua_State,
    n: usize,
}

impl Numbers {
    /// How many arguments were passed (`lua_gettop`).
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// `lua_tonumber` plus `lua_isnumber`: argument `idx` if it is a number or a string Lua
    /// reads as one.
    pub(crate) fn number(&self, idx: usize) -> Option<f64> {
        if idx == 0 || idx > self.n {
            return None;
        }
        let i = idx as c_int;
        // SAFETY: `l` is the state of the running C function (a `Numbers` lives only for
        // its call) and `i` one of its arguments; neither call can raise an error.
        unsafe {
            let x = ffi::lua_tonumber(self.l, i);
            (x != 0.0 || ffi::lua_isnumber(self.l, i) != 0).then_some(x)
        }
    }

    /// `luaL_checknumber`.
    pub(crate) fn check_number(&self, idx: usize) -> NumberOutcome<f64> {
        self.number(idx).ok_or(NumberFail::NotNumber(idx))
    }

    /// `luaL_checkinteger`: a number truncated to an integer the way C casts it.
    pub(crate) fn check_integer(&self, idx: usize) -> NumberOutcome<i64> {
        self.check_number(idx).map(c_f64_to_i64)
    }
}

/// What a numeric function returns.
pub(crate) enum NumberResult {
    Number(f64),
    /// A string of up to 8 bytes (`bit.tohex`).
    Text([u8; 8], usize),
    /// No result at all.
    Nothing,
}

/// Why a numeric function failed. The texts are static, so that nothing needs dropping when
/// the failure is handed to Lua (which may raise an out-of-memory error while it copies).
pub(crate) enum NumberFail {
    /// `luaL_error`.
    Error(&'static str),
    /// `luaL_argerror`.
    Arg(usize, &'static str),
    /// `luaL_typerror` for a number.
    NotNumber(usize),
}

pub(crate) type NumberOutcome<T> = Result<T, NumberFail>;

/// The Rust side of a numeric function.
pub(crate) type NumberFn = fn(&Numbers) -> NumberOutcome<NumberResult>;

/// The C function behind every numeric function; upvalue 1 holds its `NumberFn`.
unsafe extern "C-unwind" fn numeric_entry(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: `l` is the running state; `Glue::numeric` made this closure with a `NumberFn`
    // as light userdata in upvalue 1. Lua guarantees a C function LUA_MINSTACK (20) free
    // slots, more than the three at most pushed here. The Lua calls that may raise
    // (allocations) come after the Rust function returned, with nothing left to drop.
    unsafe {
        let f = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1));
        let f = std::mem::transmute::<*mut c_void, NumberFn>(f);
        let args = Numbers {
            l,
            n: ffi::lua_gettop(l) as usize,
        };
        let narg = match f(&args) {
            Ok(NumberResult::Number(x)) => {
                ffi::lua_pushnumber(l, x);
                return 1;
            }
            Ok(NumberResult::Text(bytes, len)) => {
                ffi::lua_pushlstring_(l, bytes.as_ptr().cast(), len);
                return 1;
            }
            Ok(NumberResult::Nothing) => return 0,
            Err(NumberFail::Error(msg)) => {
                ffi::lua_pushnil(l);
                ffi::lua_pushlstring_(l, msg.as_ptr().cast(), msg.len());
                return 2;
            }
            Err(NumberFail::Arg(narg, msg)) => {
                ffi::lua_pushlstring_(l, msg.as_ptr().cast(), msg.len());
                narg
            }
            Err(NumberFail::NotNumber(narg)) => {
                let got = if narg > args.n {
                    c"no value".as_ptr()
                } else {
                    ffi::lua_typename(l, ffi::lua_type(l, narg as c_int))
                };
                ffi::lua_pushstring_(l, c"number expected, got ".as_ptr());
                ffi::lua_pushstring_(l, got);
                ffi::lua_concat(l, 2);
                narg
            }
        };
        // An argument error (its message on top), as `respond` hands it over: nil, then
        // {message, narg}.
        ffi::lua_createtable(l, 2, 0);
        ffi::lua_insert(l, -2);
        ffi::lua_rawseti_(l, -2, 1);
        ffi::lua_pushnumber(l, narg as f64);
        ffi::lua_rawseti_(l, -2, 2);
        ffi::lua_pushnil(l);
        ffi::lua_insert(l, -2);
        2
    }
}

/// Builds library functions (one per interpreter; cheap to clone).
#[derive(Clone)]
pub(crate) struct Glue {
    /// `GLUE`'s wrappers, by kind.
    wrappers: Table,
    /// `ferrodis_lua_wrap`.
    forward: Function,
}

impl Glue {
    /// Loads the glue into `lua`. The debug library must still be loaded (the sandbox takes
    /// it away later) for argument errors to name functions; without it they say '?'.
    pub(crate) fn new(lua: &Lua) -> mlua::Result<Glue> {
        let getinfo = match lua.globals().raw_get::<Value>("debug")? {
            Value::Table(debug) => debug.raw_get::<Value>("getinfo")?,
            _ => Value::Nil,
        };
        // SAFETY: both are plain lua_CFunctions that only use the Lua C API on the state
        // they are given: `spread` above, and csrc/lua_glue.c's wrapper, which checks its
        // argument is a function.
        let (spread, forward) = unsafe {
            (
                lua.create_c_function(spread)?,
                lua.create_c_function(ferrodis_lua_wrap)?,
            )
        };
        let wrappers: Table = lua
            .load(GLUE)
            .set_name(INTERNAL_CHUNK)
            .call((getinfo, spread, FEW_ARGS))?;
        Ok(Glue { wrappers, forward })
    }

    /// A function of numbers only (see `Numbers`).
    pub(crate) fn numeric(&self, lua: &Lua, f: NumberFn) -> mlua::Result<Function> {
        // SAFETY: pushes a C closure of `numeric_entry` with `f` as its one upvalue, which
        // is what `numeric_entry` expects.
        let entry: Function = unsafe {
            lua.exec_raw((), |l| {
                ffi::lua_pushlightuserdata(l, f as *mut c_void);
                ffi::lua_pushcclosure(l, numeric_entry, 1);
            })?
        };
        self.wrap("numeric", entry, Value::Nil)
    }

    /// A library function returning one value.
    pub(crate) fn function<F, R>(&self, lua: &Lua, f: F) -> mlua::Result<Function>
    where
        F: Fn(&Lua, Args) -> Outcome<R> + 'static,
        R: IntoLua,
    {
        self.callback(lua, "value", move |lua, args| {
            Ok(f(lua, args)?.into_lua(lua)?)
        })
    }

    /// A library function returning any number of values (it may be thousands).
    pub(crate) fn many_results<F>(&self, lua: &Lua, f: F) -> mlua::Result<Function>
    where
        F: Fn(&Lua, Args) -> Outcome<Results> + 'static,
    {
        self.callback(lua, "spread", move |lua, args| {
            let results = f(lua, args)?;
            if results.len >= MAX_C_STACK {
                return Err(error("stack overflow (too many results)"));
            }
            results.table.raw_set("n", results.len)?;
            Ok(Value::Table(results.table))
        })
    }

    /// `f` as the two mlua callbacks of `GLUE`'s `kind` of wrapper: arguments on the stack,
    /// and arguments in a table.
    fn callback<F>(&self, lua: &Lua, kind: &str, f: F) -> mlua::Result<Function>
    where
        F: Fn(&Lua, Args) -> Outcome<Value> + 'static,
    {
        let f = Rc::new(f);
        let g = f.clone();
        let few = lua.create_function(move |lua, values: MultiValue| {
            let args = Args {
                n: values.len(),
                values: Passed::Stack(values),
            };
            respond(lua, g(lua, args))
        })?;
        let many = lua.create_function(move |lua, (n, table): (usize, Table)| {
            let args = Args {
                n,
                values: Passed::Table(table),
            };
            respond(lua, f(lua, args))
        })?;
        self.wrap(kind, few, Value::Function(many))
    }

    /// `impl` behind `GLUE`'s `kind` of wrapper, behind the C forwarder.
    fn wrap(&self, kind: &str, imp: Function, many: Value) -> mlua::Result<Function> {
        let make: Function = self.wrappers.raw_get(kind)?;
        let wrapper: Function = make.call((imp, many))?;
        self.forward.call(wrapper)
    }
}

/// What the Rust side of an mlua library function hands to `GLUE`: its result, or nil and
/// the failure to raise.
fn respond(lua: &Lua, outcome: Outcome<Value>) -> mlua::Result<Result<Value, Value>> {
    Ok(match outcome {
        Ok(v) => Ok(v),
        Err(Fail::Error(msg)) => Err(Value::String(lua.create_string(msg)?)),
        Err(Fail::Plain(msg)) => {
            let t = lua.create_table_with_capacity(1, 0)?;
            t.raw_set(1, lua.create_string(msg)?)?;
            Err(Value::Table(t))
        }
        Err(Fail::Arg(narg, msg)) => {
            let t = lua.create_table_with_capacity(2, 0)?;
            t.raw_set(1, lua.create_string(msg)?)?;
            t.raw_set(2, narg)?;
            Err(Value::Table(t))
        }
        Err(Fail::Lua(e)) => return Err(e),
    })
}

/// A double cast to a signed 64-bit integer as x86-64 C code does it (`lua_tointeger` of
/// Redis' build): truncation, and the "integer indefinite" value (i64::MIN) for NaN and
/// anything out of range.
pub(crate) fn c_f64_to_i64(n: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// A double cast to an unsigned 64-bit integer as x86-64 C code does it: values from 2^63
/// up are converted after subtracting 2^63 (so 2^64 and beyond come out as 0), everything
/// else through the signed conversion (so negative values wrap).
pub(crate) fn c_f64_to_u64(n: f64) -> u64 {
    const HALF: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if n >= HALF {
        (c_f64_to_i64(n - HALF) as u64) ^ (1 << 63)
    } else {
        c_f64_to_i64(n) as u64
    }
}

/// Interpreters for the libraries' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use mlua::{Lua, LuaOptions, StdLib, Table};

    use super::Glue;

    /// A library's `open`.
    pub(crate) type Open = fn(&Lua, &Glue) -> mlua::Result<Table>;

    /// A plain interpreter with `libs` as globals. The debug library is loaded, as it is
    /// while Redis' interpreter loads its libraries, so argument errors name functions.
    pub(crate) fn lua_with(libs: &[(&str, Open)]) -> Lua {
        // SAFETY: the debug library is only unsafe for sandboxing, which tests don't need.
        let lua =
            unsafe { Lua::unsafe_new_with(StdLib::ALL_SAFE | StdLib::DEBUG, LuaOptions::new()) };
        let glue = Glue::new(&lua).unwrap();
        for (name, open) in libs {
            let t = open(&lua, &glue).unwrap();
            lua.globals().set(*name, t).unwrap();
        }
        lua
    }

    /// The error `code` (a chunk named "t") fails with, as an uncaught error reads.
    pub(crate) fn error_of(lua: &Lua, code: &str) -> String {
        match lua.load(code).set_name("=t").exec() {
            Err(mlua::Error::RuntimeError(msg)) => match msg.split_once("\nstack traceback:") {
                Some((msg, _)) => msg.to_string(),
                None => msg,
            },
            other => panic!("{code}: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripting::lua::{error_info, Engine, Host};

    /// The server side of a script that never calls the server; `IN_SCRIPT` says whether a
    /// script is running (math.random refuses to run outside one).
    struct NoServer<const IN_SCRIPT: bool>;

    impl<const IN_SCRIPT: bool> Host for NoServer<IN_SCRIPT> {
        fn command(_: &Lua, _: Vec<Vec<u8>>) -> mlua::Result<(Value, bool)> {
            Ok((Value::Nil, false))
        }
        fn acl_check(_: &Lua, _: Vec<Vec<u8>>) -> mlua::Result<(Value, bool)> {
            Ok((Value::Boolean(true), false))
        }
        fn set_resp(_: i64) -> Result<(), &'static str> {
            Ok(())
        }
        fn set_repl(_: i64) -> Result<(), &'static str> {
            Ok(())
        }
        fn in_script() -> bool {
            IN_SCRIPT
        }
    }

    /// Runs `body` as an EVAL script in the real sandbox: its value as a string, or its error
    /// as (message, line).
    fn run<const IN_SCRIPT: bool>(body: &str) -> Result<String, (String, Option<String>)> {
        let engine = Engine::new::<NoServer<IN_SCRIPT>>().unwrap();
        let key = engine.compile(body.as_bytes(), "@user_script").unwrap();
        let f = engine.function(&key).unwrap();
        let keys = engine.array(&[]).unwrap();
        let argv = engine.array(&[]).unwrap();
        match engine.run(&f, keys, argv, true).unwrap() {
            Ok(v) => Ok(match engine.lua.coerce_string(v.clone()).unwrap() {
                Some(s) => s.to_string_lossy(),
                None => format!("{v:?}"),
            }),
            Err(e) => {
                let info = error_info(&engine.lua, &e);
                Err((info.msg, info.line))
            }
        }
    }

    fn script_error(body: &str) -> String {
        match run::<true>(body) {
            Err((msg, _)) => msg,
            Ok(v) => panic!("{body}: no error, returned {v}"),
        }
    }

    fn script_value(body: &str) -> String {
        match run::<true>(body) {
            Ok(v) => v,
            Err((msg, _)) => panic!("{body}: {msg}"),
        }
    }

    #[test]
    fn errors_are_strings_at_the_line_that_called_the_library() {
        let cases = [
            (
                "\nreturn cjson.encode(function() end)",
                "ERR user_script:2: Cannot serialise function: type not supported",
            ),
            (
                "local x = cjson.decode('[1,') return x",
                "ERR user_script:1: Expected value but found T_END at character 4",
            ),
            (
                "local x = 1\n\nreturn bit.tobit()",
                "ERR user_script:3: bad argument #1 to 'tobit' (number expected, got no value)",
            ),
            (
                "return struct.pack('i33', 1)",
                "ERR user_script:1: integral size 33 is larger than limit of 32",
            ),
            (
                "return cmsgpack.unpack('\\205\\1')",
                "ERR user_script:1: Missing bytes in input.",
            ),
            (
                "return math.random(0)",
                "ERR user_script:1: bad argument #1 to 'random' (interval is empty)",
            ),
            (
                "return math.random(1, 2, 3)",
                "ERR user_script:1: wrong number of arguments",
            ),
            (
                "math.randomseed()",
                "ERR user_script:1: bad argument #1 to 'randomseed' (number expected, got no value)",
            ),
            // Errors Lua raises inside a C function carry no position.
            ("return cmsgpack.unpack('\\129\\192\\1')", "ERR table index is nil"),
        ];
        for (body, msg) in cases {
            assert_eq!(script_error(body), msg, "{body}");
        }
        // The error handler finds the script's line too.
        let Err((_, line)) = run::<true>("\n\nreturn cjson.encode(function() end)") else {
            panic!("no error");
        };
        assert_eq!(line.as_deref(), Some("3"));
    }

    #[test]
    fn argument_errors_name_the_function_as_it_was_called() {
        let cases = [
            (
                "return cjson.encode()",
                "ERR user_script:1: bad argument #1 to 'encode' (expected 1 argument)",
            ),
            (
                "return cjson:encode(1)",
                "ERR user_script:1: calling 'encode' on bad self (expected 1 argument)",
            ),
            (
                "cjson.encode_keep_buffer('x')",
                "ERR user_script:1: bad argument #1 to 'encode_keep_buffer' (invalid option 'x')",
            ),
            (
                "local pack = struct.pack return pack('i', {})",
                "ERR user_script:1: bad argument #2 to 'pack' (number expected, got table)",
            ),
            (
                "local s = struct return s:size()",
                "ERR user_script:1: calling 'size' on bad self (string expected, got table)",
            ),
            (
                "local t = {f = bit.band} return t.f(1, 'x')",
                "ERR user_script:1: bad argument #2 to 'f' (number expected, got string)",
            ),
        ];
        for (body, msg) in cases {
            assert_eq!(script_error(body), msg, "{body}");
        }
    }

    #[test]
    fn pcall_returns_the_message_without_a_position() {
        let cases = [
            (
                "cjson.encode, {[true] = 1}",
                "Cannot serialise boolean: table key must be a number or string",
            ),
            (
                "bit.tobit",
                "bad argument #1 to '?' (number expected, got no value)",
            ),
            (
                "struct.unpack, 'i', 'ab'",
                "bad argument #2 to '?' (data string too short)",
            ),
            ("cmsgpack.unpack, '\\196'", "Bad data format in input."),
            (
                "math.random, 0",
                "bad argument #1 to '?' (interval is empty)",
            ),
            // Redis' scripts get the message even when the error is raised in a script
            // function.
            (
                "function() return struct.size('s') end",
                "user_script:1: bad argument #1 to 'size' (option 's' has no fixed size)",
            ),
        ];
        for (call, msg) in cases {
            let body = format!(
                "local ok, e = pcall({call}) return tostring(ok) .. ' ' .. type(e) .. ' ' .. e"
            );
            assert_eq!(script_value(&body), format!("false string {msg}"), "{call}");
        }
    }

    #[test]
    fn math_random_reads_c_ints_and_needs_a_script() {
        let r = script_value("math.randomseed(1) return select('#', math.randomseed(1)) .. ' ' .. math.random(2^32 + 1) .. ' ' .. math.random(1e30, 0)");
        assert_eq!(r, "0 1 0");
        let r = script_value("math.randomseed(7) local a = math.random(100) math.randomseed(7) return a == math.random(100)");
        assert_eq!(r, "Boolean(true)");
        let Err((msg, _)) = run::<false>("return math.random()") else {
            panic!("math.random ran outside a script");
        };
        assert_eq!(
            msg,
            "ERR user_script:1: math.random can only be called inside a script invocation"
        );
    }

    #[test]
    fn thousands_of_arguments_reach_every_function() {
        let body = "local t = {} for i = 1, 7999 do t[i] = '1' end \
                    return math.random(unpack(t))";
        assert_eq!(
            script_error(body),
            "ERR user_script:1: wrong number of arguments"
        );
        let body = "local t = {} for i = 1, 7999 do t[i] = '1' end \
                    return math.randomseed(unpack(t))";
        assert_eq!(script_value(body), "Nil");
    }

    #[test]
    fn the_library_tables_are_read_only() {
        for lib in ["cjson", "bit", "struct", "cmsgpack"] {
            let msg = script_error(&format!("{lib}.encode = function() return 1 end"));
            assert!(
                msg.contains("Attempt to modify a readonly table"),
                "{lib}: {msg}"
            );
        }
    }

    #[test]
    fn c_casts_follow_x86_64() {
        assert_eq!(c_f64_to_i64(-1.9), -1);
        assert_eq!(c_f64_to_i64(f64::NAN), i64::MIN);
        assert_eq!(c_f64_to_i64(1e30), i64::MIN);
        assert_eq!(c_f64_to_u64(-1.0), u64::MAX);
        assert_eq!(c_f64_to_u64(2f64.powi(63)), 1 << 63);
        assert_eq!(c_f64_to_u64(2f64.powi(64)), 0);
    }
}
