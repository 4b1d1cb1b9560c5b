//! Redis Functions (Redis' functions.c and function_lua.c): libraries of Lua functions
//! loaded with FUNCTION LOAD, kept by the server like data (saved in RDB files and AOF
//! rewrites, replicated, dumped and restored), and called by name with FCALL / FCALL_RO.
//!
//! A library is its source, a `#!lua name=<library>` shebang line followed by Lua code that
//! calls `redis.register_function` for each function it offers. The code runs once, at load,
//! in an environment that offers nothing else; the registered callbacks run later in the
//! functions engine's own interpreter (separate from EVAL's), with the keys and arguments
//! as their two parameters.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use mlua::{Lua, Value};

use super::lua::{self, Engine, LibraryEnv};
use super::{kill, prepare_run, run_script, script_flags, ServerHost};
use crate::client::Client;
use crate::commands::{reply_help, reply_subcommand_syntax_error, CmdProc};
use crate::server::Server;

/// How long a library's body may run at FUNCTION LOAD (not for the master or the AOF).
const LOAD_TIMEOUT_MS: u64 = 500;

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

pub struct FunctionInfo {
    pub name: String,
    pub desc: Option<String>,
    pub flags: u64,
    /// The callback, in the functions interpreter's registry.
    pub func: mlua::RegistryKey,
}

pub struct Library {
    pub name: String,
    /// The whole source, shebang included (what is saved, dumped and listed).
    pub code: Vec<u8>,
    pub functions: BTreeMap<String, FunctionInfo>,
}

/// The libraries of a server and the interpreter their functions run in.
pub struct Functions {
    pub engine: Rc<Engine>,
    env: LibraryEnv,
    pub libraries: BTreeMap<String, Library>,
    /// Function names, lower case (FCALL ignores case), to their library.
    index: HashMap<String, String>,
}

thread_local! {
    /// The functions registered so far by the library being loaded.
    static LOADING: RefCell<Option<Vec<FunctionInfo>>> = const { RefCell::new(None) };
}

impl Default for Functions {
    fn default() -> Self {
        Functions::new()
    }
}

impl Functions {
    pub fn new() -> Functions {
        let (engine, env) = new_engine().expect("the functions interpreter starts");
        Functions {
            engine: Rc::new(engine),
            env,
            libraries: BTreeMap::new(),
            index: HashMap::new(),
        }
    }

    /// Removes every library (FUNCTION FLUSH, and before a dataset with functions loads).
    pub fn clear(&mut self) {
        if self.libraries.is_empty() {
            return;
        }
        *self = Functions::new();
    }

    pub fn function_count(&self) -> usize {
        self.index.len()
    }

    /// The function FCALL names, if it exists.
    pub fn find(&self, name: &[u8]) -> Option<&FunctionInfo> {
        let key = String::from_utf8_lossy(name).to_lowercase();
        let lib = self.index.get(&key)?;
        self.libraries
            .get(lib)?
            .functions
            .values()
            .find(|f| f.name.eq_ignore_ascii_case(&key))
    }

    /// Memory of the interpreter (INFO's used_memory_vm_functions).
    pub fn lua_memory(&self) -> usize {
        self.engine.lua.used_memory()
    }

    /// Bytes of the libraries' sources and names (INFO's used_memory_functions).
    pub fn code_memory(&self) -> usize {
        self.libraries
            .values()
            .map(|l| {
                l.name.len()
                    + l.code.len()
                    + l.functions
                        .values()
                        .map(|f| f.name.len() + f.desc.as_ref().map_or(0, |d| d.len()))
                        .sum::<usize>()
            })
            .sum()
    }

    /// Loads a library from its source (Redis' `functionsCreateWithLibraryCtx`): returns its
    /// name, or the error to reply. With `replace` a library of the same name is replaced;
    /// `timeout_ms` (0: none) bounds its body's run.
    pub fn create_library(
        &mut self,
        code: &[u8],
        replace: bool,
        timeout_ms: u64,
    ) -> Result<String, String> {
        let (engine_name, name, body_at) = parse_metadata(code)?;
        if !valid_name(&name) {
            return Err(BAD_NAME.into());
        }
        if !engine_name.eq_ignore_ascii_case("lua") {
            return Err(format!("Engine '{}' not found", engine_name));
        }
        if self.libraries.contains_key(&name) && !replace {
            return Err(format!("Library '{}' already exists", name));
        }
        let old = self.unlink(&name);
        LOADING.with(|l| *l.borrow_mut() = Some(Vec::new()));
        let loaded = self
            .engine
            .load_library(&self.env, &code[body_at..], timeout_ms);
        let functions = LOADING.with(|l| l.borrow_mut().take()).unwrap_or_default();
        let result = loaded.and_then(|()| {
            if functions.is_empty() {
                return Err("No functions registered".to_string());
            }
            if let Some(f) = functions
                .iter()
                .find(|f| self.index.contains_key(&f.name.to_lowercase()))
            {
                return Err(format!("Function {} already exists", f.name));
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                self.link(Library {
                    name: name.clone(),
                    code: code.to_vec(),
                    functions: functions.into_iter().map(|f| (f.name.clone(), f)).collect(),
                });
                Ok(name)
            }
            Err(e) => {
                if let Some(old) = old {
                    self.link(old);
                }
                Err(e)
            }
        }
    }

    fn link(&mut self, lib: Library) {
        for f in lib.functions.values() {
            self.index.insert(f.name.to_lowercase(), lib.name.clone());
        }
        self.libraries.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, name: &str) -> Option<Library> {
        let lib = self.libraries.remove(name)?;
        for f in lib.functions.values() {
            self.index.remove(&f.name.to_lowercase());
        }
        Some(lib)
    }

    /// Adds the libraries of `sources` (FUNCTION RESTORE APPEND / REPLACE): all or none.
    fn join(&mut self, sources: Vec<Vec<u8>>, replace: bool) -> Result<(), String> {
        let mut staged = Functions::new();
        for code in &sources {
            staged.create_library(code, false, 0)?;
        }
        for name in staged.libraries.keys() {
            if self.libraries.contains_key(name) && !replace {
                return Err(format!("Library {} already exists", name));
            }
        }
        // Functions of libraries that stay must not collide with the new ones.
        for (fname, lib) in &staged.index {
            if let Some(owner) = self.index.get(fname) {
                if !staged.libraries.contains_key(owner) {
                    let shown = &staged.libraries[lib]
                        .functions
                        .values()
                        .find(|f| f.name.eq_ignore_ascii_case(fname))
                        .map(|f| f.name.clone())
                        .unwrap_or_default();
                    return Err(format!("Function {} already exists", shown));
                }
            }
        }
        // The new libraries compile again in this interpreter (their callbacks live here).
        let mut replaced = Vec::new();
        for name in staged.libraries.keys() {
            if let Some(old) = self.unlink(name) {
                replaced.push(old);
            }
        }
        for lib in staged.libraries.values() {
            if let Err(e) = self.create_library(&lib.code, false, 0) {
                for old in replaced {
                    self.unlink(&old.name);
                    self.link(old);
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

fn new_engine() -> mlua::Result<(Engine, LibraryEnv)> {
    Engine::new_for_functions::<ServerHost>(register_function_fn)
}

/// `redis.register_function`, as the functions engine calls it: nothing, or an error table.
/// The script passes the argument count and the first two arguments (a call with more is
/// refused anyway, and its arguments never reach Rust).
fn register_function_fn(
    lua: &Lua,
    (n, first, second): (usize, Value, Value),
) -> mlua::Result<Option<Value>> {
    let fail =
        |msg: &str| -> mlua::Result<Option<Value>> { Ok(Some(lua::error_table(lua, msg, false)?)) };
    if LOADING.with(|l| l.borrow().is_none()) {
        return fail("redis.register_function can only be called on FUNCTION LOAD command");
    }
    let parsed = match n {
        1 => named_args(lua, &first),
        2 => positional_args(lua, &first, &second),
        _ => Err("wrong number of arguments to redis.register_function"),
    };
    let (name, desc, callback, flags) = match parsed {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if !valid_name(&name) {
        return fail(BAD_NAME);
    }
    let duplicate = LOADING.with(|l| {
        l.borrow()
            .as_ref()
            .is_some_and(|fs| fs.iter().any(|f| f.name == name))
    });
    if duplicate {
        return fail("Function already exists in the library");
    }
    let func = lua.create_registry_value(callback)?;
    LOADING.with(|l| {
        if let Some(fs) = l.borrow_mut().as_mut() {
            fs.push(FunctionInfo {
                name,
                desc,
                flags,
                func,
            });
        }
    });
    Ok(None)
}

type Registration = (String, Option<String>, mlua::Function, u64);

/// A string argument as Lua's `lua_isstring` accepts it (numbers too).
fn lua_string(lua: &Lua, v: &Value) -> Option<String> {
    match v {
        Value::String(_) | Value::Integer(_) | Value::Number(_) => lua
            .coerce_string(v.clone())
            .ok()
            .flatten()
            .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        _ => None,
    }
}

fn positional_args(
    lua: &Lua,
    name: &Value,
    callback: &Value,
) -> Result<Registration, &'static str> {
    let name = lua_string(lua, name)
        .ok_or("first argument to redis.register_function must be a string")?;
    let Value::Function(f) = callback else {
        return Err("second argument to redis.register_function must be a function");
    };
    Ok((name, None, f.clone(), 0))
}

fn named_args(lua: &Lua, arg: &Value) -> Result<Registration, &'static str> {
    let Value::Table(t) = arg else {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    };
    let (mut name, mut desc, mut callback, mut flags) = (None, None, None, 0u64);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair
            .map_err(|_| "named argument key given to redis.register_function is not a string")?;
        let key = lua_string(lua, &k)
            .ok_or("named argument key given to redis.register_function is not a string")?;
        match key.to_ascii_lowercase().as_str() {
            "function_name" => {
                name = Some(lua_string(lua, &v).ok_or(
                    "function_name argument given to redis.register_function must be a string",
                )?)
            }
            "description" => {
                desc = Some(lua_string(lua, &v).ok_or(
                    "description argument given to redis.register_function must be a string",
                )?)
            }
            "callback" => match v {
                Value::Function(f) => callback = Some(f),
                _ => {
                    return Err(
                        "callback argument given to redis.register_function must be a function",
                    )
                }
            },
            "flags" => {
                let Value::Table(list) = v else {
                    return Err("flags argument to redis.register_function must be a table representing function flags");
                };
                flags = parse_flags(lua, &list).ok_or("unknown flag given")?;
            }
            _ => return Err("unknown argument given to redis.register_function"),
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let callback = callback.ok_or("redis.register_function must get a callback argument")?;
    Ok((name, desc, callback, flags))
}

fn parse_flags(lua: &Lua, list: &mlua::Table) -> Option<u64> {
    let mut flags = 0;
    for i in 1.. {
        let v: Value = list.get(i).ok()?;
        if v.is_nil() {
            break;
        }
        let s = lua_string(lua, &v)?;
        let (f, _) = script_flags::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(&s))?;
        flags |= f;
    }
    Some(flags)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A library's shebang: (engine, library name, where the body starts). The body keeps the
/// shebang's line feed so error line numbers match the source.
fn parse_metadata(code: &[u8]) -> Result<(String, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = memchr::memchr(b'\n', code) else {
        return Err("Invalid library metadata".into());
    };
    let parts = match crate::util::split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&part[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let name = name.ok_or("Library name was not given")?;
    Ok((engine, name, end))
}

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "fcall" => fcall_command,
        "fcall_ro" => fcall_ro_command,
        "function|load" => function_load_command,
        "function|delete" => function_delete_command,
        "function|flush" => function_flush_command,
        "function|kill" => function_kill_command,
        "function|list" => function_list_command,
        "function|stats" => function_stats_command,
        "function|dump" => function_dump_command,
        "function|restore" => function_restore_command,
        "function|help" => function_help_command,
        _ => return None,
    })
}

/// The flags FCALL runs with: the function's declared flags replace the command's.
pub fn command_flags(srv: &Server, argv: &[Vec<u8>], cmd_flags: u64) -> u64 {
    match argv.get(1).and_then(|n| srv.scripting.functions.find(n)) {
        Some(f) => super::script_to_command_flags(cmd_flags, f.flags),
        None => cmd_flags,
    }
}

fn fcall_command(srv: &mut Server, c: &mut Client) {
    fcall_generic(srv, c, false);
}

fn fcall_ro_command(srv: &mut Server, c: &mut Client) {
    fcall_generic(srv, c, true);
}

fn fcall_generic(srv: &mut Server, c: &mut Client, ro: bool) {
    // FCALL skips the automatic monitor feed so that it shows before the commands it runs.
    if !srv.monitors.is_empty() {
        let argv = c.argv.clone();
        srv.feed_monitors(c, &argv);
    }
    let Some(f) = srv.scripting.functions.find(&c.argv[1]) else {
        c.out.error("Function not found");
        return;
    };
    let (name, flags) = (f.name.clone(), f.flags);
    let engine = srv.scripting.functions.engine.clone();
    let func = match engine.function(&f.func) {
        Ok(func) => func,
        Err(e) => {
            c.out.error(&format!("Error running function: {}", e));
            return;
        }
    };
    let Some(numkeys) = super::arg_numkeys(c, "Bad number of keys provided") else {
        return;
    };
    let run = match prepare_run(srv, c, name, flags, ro, false) {
        Ok(run) => run,
        Err(e) => {
            c.out.error(&e);
            return;
        }
    };
    run_script(srv, c, run, &engine, &func, numkeys);
}

fn function_load_command(srv: &mut Server, c: &mut Client) {
    let mut replace = false;
    let mut pos = 2;
    while pos < c.argv.len() - 1 {
        if c.argv[pos].eq_ignore_ascii_case(b"replace") {
            replace = true;
            pos += 1;
            continue;
        }
        let msg = format!(
            "Unknown option given: {}",
            String::from_utf8_lossy(&c.argv[pos])
        );
        c.out.error(&msg);
        return;
    }
    if pos >= c.argv.len() {
        c.out.error("Function code is missing");
        return;
    }
    let timeout = if c.must_obey() { 0 } else { LOAD_TIMEOUT_MS };
    let code = std::mem::take(&mut c.argv[pos]);
    let created = srv
        .scripting
        .functions
        .create_library(&code, replace, timeout);
    c.argv[pos] = code;
    match created {
        Ok(name) => {
            srv.dirty += 1;
            c.out.bulk(name.as_bytes());
        }
        Err(e) => c.out.error(&e),
    }
}

fn function_delete_command(srv: &mut Server, c: &mut Client) {
    let name = String::from_utf8_lossy(&c.argv[2]).into_owned();
    if srv.scripting.functions.unlink(&name).is_none() {
        c.out.error("Library not found");
        return;
    }
    srv.dirty += 1;
    c.out.ok();
}

fn function_flush_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() > 3 {
        reply_subcommand_syntax_error(c);
        return;
    }
    if c.argv.len() == 3
        && !c.argv[2].eq_ignore_ascii_case(b"sync")
        && !c.argv[2].eq_ignore_ascii_case(b"async")
    {
        c.out
            .error("FUNCTION FLUSH only supports SYNC|ASYNC option");
        return;
    }
    srv.scripting.functions.clear();
    srv.dirty += 1;
    c.out.ok();
}

fn function_kill_command(_srv: &mut Server, c: &mut Client) {
    kill(c, false);
}

fn function_list_command(srv: &mut Server, c: &mut Client) {
    let mut with_code = false;
    let mut pattern: Option<Vec<u8>> = None;
    let mut i = 2;
    while i < c.argv.len() {
        let a = &c.argv[i];
        if !with_code && a.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
            if i >= c.argv.len() - 1 {
                c.out.error("library name argument was not given");
                return;
            }
            i += 1;
            pattern = Some(c.argv[i].clone());
        } else {
            let msg = format!("Unknown argument {}", String::from_utf8_lossy(a));
            c.out.error(&msg);
            return;
        }
        i += 1;
    }
    let libs: Vec<&Library> = srv
        .scripting
        .functions
        .libraries
        .values()
        .filter(|l| {
            pattern
                .as_ref()
                .is_none_or(|p| crate::util::glob_match(p, l.name.as_bytes(), true))
        })
        .collect();
    c.out.array(libs.len());
    for lib in libs {
        c.out.map(if with_code { 4 } else { 3 });
        c.out.bulk_str("library_name");
        c.out.bulk(lib.name.as_bytes());
        c.out.bulk_str("engine");
        c.out.bulk_str("LUA");
        c.out.bulk_str("functions");
        c.out.array(lib.functions.len());
        for f in lib.functions.values() {
            c.out.map(3);
            c.out.bulk_str("name");
            c.out.bulk(f.name.as_bytes());
            c.out.bulk_str("description");
            match &f.desc {
                Some(d) => c.out.bulk(d.as_bytes()),
                None => c.out.null(),
            }
            c.out.bulk_str("flags");
            let names: Vec<&str> = script_flags::NAMES
                .iter()
                .filter(|(bit, _)| f.flags & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            c.out.set(names.len());
            for n in names {
                c.out.status(n);
            }
        }
        if with_code {
            c.out.bulk_str("library_code");
            c.out.bulk(&lib.code);
        }
    }
}

fn function_stats_command(srv: &mut Server, c: &mut Client) {
    let running = super::running_script();
    if let Some(r) = &running {
        if r.eval {
            c.out.error(super::SLOW_EVAL_ERR);
            return;
        }
    }
    c.out.map(2);
    c.out.bulk_str("running_script");
    match running {
        None => c.out.null(),
        Some(r) => {
            c.out.map(3);
            c.out.bulk_str("name");
            c.out.bulk(r.name.as_bytes());
            c.out.bulk_str("command");
            c.out.array(r.command.len());
            for a in &r.command {
                c.out.bulk(a);
            }
            c.out.bulk_str("duration_ms");
            c.out.int(r.duration_ms as i64);
        }
    }
    let f = &srv.scripting.functions;
    c.out.bulk_str("engines");
    c.out.map(1);
    c.out.bulk_str("LUA");
    c.out.map(2);
    c.out.bulk_str("libraries_count");
    c.out.int(f.libraries.len() as i64);
    c.out.bulk_str("functions_count");
    c.out.int(f.function_count() as i64);
}

/// The libraries as FUNCTION DUMP and RDB files carry them: one FUNCTION2 opcode and the
/// library's source per library.
pub fn save<W: std::io::Write>(
    srv: &Server,
    w: &mut crate::rdb::encode::Writer<W>,
) -> std::io::Result<()> {
    for lib in srv.scripting.functions.libraries.values() {
        w.byte(crate::rdb::opcode::FUNCTION2)?;
        w.string(&lib.code)?;
    }
    Ok(())
}

/// The source of a library saved with `opcode` (FUNCTION2, or the format of 7.0's release
/// candidates, which kept name, engine and description apart).
pub fn load_source(
    r: &mut crate::rdb::decode::Reader,
    opcode: u8,
) -> crate::rdb::LoadResult<Vec<u8>> {
    if opcode == crate::rdb::opcode::FUNCTION2 {
        return r.string();
    }
    let name = r.string()?;
    let engine = r.string()?;
    if r.length()? != 0 {
        r.string()?;
    }
    let blob = r.string()?;
    let mut code = b"#!".to_vec();
    code.extend_from_slice(&engine);
    code.extend_from_slice(b" name=");
    code.extend_from_slice(&name);
    code.push(b'\n');
    code.extend_from_slice(&blob);
    Ok(code)
}

fn function_dump_command(srv: &mut Server, c: &mut Client) {
    let mut w = crate::rdb::encode::Writer::new(Vec::new(), false, srv.config.rdbcompression);
    // Writing to a Vec can't fail.
    let _ = save(srv, &mut w);
    let mut buf = w.into_inner();
    buf.extend_from_slice(&crate::rdb::RDB_VERSION.to_le_bytes());
    let crc = crate::rdb::crc64::update(0, &buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    c.out.bulk(&buf);
}

fn function_restore_command(srv: &mut Server, c: &mut Client) {
    if c.argv.len() > 4 {
        reply_subcommand_syntax_error(c);
        return;
    }
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    let policy = match c.argv.get(3) {
        None => Policy::Append,
        Some(p) if p.eq_ignore_ascii_case(b"append") => Policy::Append,
        Some(p) if p.eq_ignore_ascii_case(b"replace") => Policy::Replace,
        Some(p) if p.eq_ignore_ascii_case(b"flush") => Policy::Flush,
        Some(_) => {
            c.out.error(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
            return;
        }
    };
    let payload = c.argv[2].clone();
    if !crate::commands::persist::verify_payload(&payload, srv.skip_checksum_validation) {
        c.out.error("DUMP payload version or checksum are wrong");
        return;
    }
    let body = &payload[..payload.len() - 10];
    let mut r = crate::rdb::decode::Reader::new(body);
    let mut sources = Vec::new();
    while r.remaining() > 0 {
        let Ok(t) = r.byte() else {
            c.out.error("can not read data type");
            return;
        };
        if t != crate::rdb::opcode::FUNCTION2 && t != crate::rdb::opcode::FUNCTION_PRE_GA {
            c.out.error("given type is not a function");
            return;
        }
        match load_source(&mut r, t) {
            Ok(code) => sources.push(code),
            Err(_) => {
                c.out.error("failed loading the given functions payload");
                return;
            }
        }
    }
    let f = &mut srv.scripting.functions;
    let result = if policy == Policy::Flush {
        let mut fresh = Functions::new();
        let mut res = Ok(());
        for code in &sources {
            if let Err(e) = fresh.create_library(code, false, 0) {
                res = Err(e);
                break;
            }
        }
        if res.is_ok() {
            *f = fresh;
        }
        res
    } else {
        f.join(sources, policy == Policy::Replace)
    };
    match result {
        Ok(()) => {
            srv.dirty += 1;
            c.out.ok();
        }
        Err(e) => c.out.error(&e),
    }
}

fn function_help_command(_srv: &mut Server, c: &mut Client) {
    reply_help(
        c,
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_metadata_needs_a_name_and_nothing_unknown() {
        let (engine, name, at) = parse_metadata(b"#!lua name=mylib\nreturn 1").unwrap();
        assert_eq!((engine.as_str(), name.as_str(), at), ("lua", "mylib", 16));
        assert_eq!(
            parse_metadata(b"return 1").unwrap_err(),
            "Missing library metadata"
        );
        assert_eq!(
            parse_metadata(b"#!lua\n").unwrap_err(),
            "Library name was not given"
        );
        assert_eq!(
            parse_metadata(b"#!lua name=a name=b\n").unwrap_err(),
            "Invalid metadata value, name argument was given multiple times"
        );
        assert_eq!(
            parse_metadata(b"#!lua foo=bar\n").unwrap_err(),
            "Invalid metadata value given: foo=bar"
        );
    }

    #[test]
    fn names_are_letters_digits_and_underscores() {
        assert!(valid_name("my_lib1"));
        assert!(!valid_name(""));
        assert!(!valid_name("my-lib"));
    }
}
