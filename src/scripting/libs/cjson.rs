//! The `cjson` library scripts get on Redis (lua-cjson 2.1.0): `cjson.encode` writes a Lua
//! value as JSON text, `cjson.decode` reads JSON text into Lua values, and the configuration
//! functions tune both for the interpreter they belong to. Scripts depend on the exact output
//! (which tables become arrays, how numbers print, which characters get escaped) and on the
//! text of every error, so all of it follows lua-cjson as Redis 7.0 builds it.
//!
//! The functions reach scripts through `glue`, which raises their failures as lua-cjson's C
//! functions raise them and passes thousands of arguments without holding a handle for each.
//! The same limit shapes the walks here: mlua keeps every Rust handle to a Lua value in one
//! auxiliary Lua stack that cannot grow past 8000 slots, and aborts when it runs out. JSON
//! nests thousands of levels deep and tables can be arbitrarily wide, so neither direction
//! holds handles per level or per key: table keys are copied out, and the tables along the
//! current path wait in a Lua table indexed by depth (`Path`) while a nested table is being
//! handled.

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;

use mlua::{LightUserData, Lua, Table, Value};

use super::glue::{
    arg_error, c_f64_to_i64, error, to_number, type_error, type_name, Args, Fail, Glue, Outcome,
    Results, MAX_C_STACK,
};

const MODULE_NAME: &str = "cjson";
const MODULE_VERSION: &str = "2.1.0";

/// Stack slots a C function may use in Redis' Lua build. lua-cjson checks for room on the
/// Lua stack at every nesting level, which caps nesting even when the configured depth
/// limits are raised; the walks below count the slots it would use.
const LUA_C_STACK_SLOTS: i64 = MAX_C_STACK as i64;

/// `encode_invalid_numbers` settings (indexes into `INVALID_NUMBER_OPTIONS`).
const INVALID_OFF: i32 = 0;
const INVALID_ON: i32 = 1;
const INVALID_NULL: i32 = 2;
const INVALID_NUMBER_OPTIONS: &[&str] = &["off", "on", "null"];
const BOOL_OPTIONS: &[&str] = &["off", "on"];

/// The settings of one `cjson` table. Booleans are kept as 0/1 like the enum settings, since
/// the same option parser serves both.
#[derive(Clone, Copy, Debug)]
struct Config {
    sparse_convert: i32,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    encode_invalid_numbers: i32,
    decode_invalid_numbers: i32,
    encode_keep_buffer: i32,
    number_precision: i32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: INVALID_OFF,
            decode_invalid_numbers: 1,
            encode_keep_buffer: 1,
            number_precision: 14,
        }
    }
}

/// Builds the `cjson` table, with its own settings at their defaults.
pub fn open(lua: &Lua, glue: &Glue) -> mlua::Result<Table> {
    new_module(lua, &Rc::new(glue.clone()))
}

/// A configuration function of a single setting: reads argument 1 into the setting and
/// returns the setting.
type Setter = fn(&Lua, &Value, &mut Config) -> Outcome<Value>;

/// A `cjson` table with fresh settings (also what `cjson.new()` returns). The glue is shared
/// by every table `cjson.new()` makes, so that a new table holds no mlua handle of its own.
fn new_module(lua: &Lua, glue: &Rc<Glue>) -> mlua::Result<Table> {
    let cfg = Rc::new(Cell::new(Config::default()));
    let t = lua.create_table()?;

    let c = cfg.clone();
    let f = glue.function(lua, move |lua, args| encode(lua, c.get(), &args))?;
    t.raw_set("encode", f)?;
    let c = cfg.clone();
    let f = glue.function(lua, move |lua, args| decode(lua, c.get(), &args))?;
    t.raw_set("decode", f)?;

    let c = cfg.clone();
    let f = glue.many_results(lua, move |lua, args| {
        let args = config_args(&args, 3)?;
        with_config(&c, |cfg| {
            let convert = enum_option(lua, &args[0], 1, &mut cfg.sparse_convert, BOOL_OPTIONS)?;
            let ratio = integer_option(lua, &args[1], 2, &mut cfg.sparse_ratio, 0, i32::MAX)?;
            let safe = integer_option(lua, &args[2], 3, &mut cfg.sparse_safe, 0, i32::MAX)?;
            let mut out = Results::new(lua, 3)?;
            for v in [convert, ratio, safe] {
                out.push(v)?;
            }
            Ok(out)
        })
    })?;
    t.raw_set("encode_sparse_array", f)?;

    let single: [(&str, Setter); 6] = [
        ("encode_max_depth", |lua, v, cfg| {
            integer_option(lua, v, 1, &mut cfg.encode_max_depth, 1, i32::MAX)
        }),
        ("decode_max_depth", |lua, v, cfg| {
            integer_option(lua, v, 1, &mut cfg.decode_max_depth, 1, i32::MAX)
        }),
        ("encode_number_precision", |lua, v, cfg| {
            integer_option(lua, v, 1, &mut cfg.number_precision, 1, 14)
        }),
        // The setting only decides whether lua-cjson keeps its output buffer between calls.
        ("encode_keep_buffer", |lua, v, cfg| {
            enum_option(lua, v, 1, &mut cfg.encode_keep_buffer, BOOL_OPTIONS)
        }),
        ("encode_invalid_numbers", |lua, v, cfg| {
            let setting = &mut cfg.encode_invalid_numbers;
            enum_option(lua, v, 1, setting, INVALID_NUMBER_OPTIONS)
        }),
        ("decode_invalid_numbers", |lua, v, cfg| {
            enum_option(lua, v, 1, &mut cfg.decode_invalid_numbers, BOOL_OPTIONS)
        }),
    ];
    for (name, set) in single {
        let c = cfg.clone();
        let f = glue.function(lua, move |lua, args| {
            let args = config_args(&args, 1)?;
            with_config(&c, |cfg| set(lua, &args[0], cfg))
        })?;
        t.raw_set(name, f)?;
    }

    let g = glue.clone();
    let f = glue.function(lua, move |lua, args| {
        // lua-cjson builds the table with its arguments still on the stack, then checks for
        // room for the settings it hands each function.
        if args.len() + 3 > MAX_C_STACK {
            return Err(error("stack overflow (too many upvalues)"));
        }
        Ok(new_module(lua, &g)?)
    })?;
    t.raw_set("new", f)?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", MODULE_NAME)?;
    t.raw_set("_VERSION", MODULE_VERSION)?;
    Ok(t)
}

/// `cjson.null`: JSON null, a light userdata holding NULL (tables cannot hold nil).
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// Applies `f` to the settings and stores what it changed even when it fails part way, as
/// lua-cjson updates each setting as soon as its argument checks out.
fn with_config<R>(cell: &Cell<Config>, f: impl FnOnce(&mut Config) -> R) -> R {
    let mut cfg = cell.get();
    let r = f(&mut cfg);
    cell.set(cfg);
    r
}

/// The arguments of a configuration function, padded with nil to `n`; more than `n` is an
/// error on argument `n + 1`.
fn config_args(args: &Args, n: usize) -> Outcome<Vec<Value>> {
    if args.len() > n {
        return Err(arg_error(n + 1, "found too many arguments"));
    }
    (1..=n)
        .map(|i| Ok(args.get(i)?.unwrap_or(Value::Nil)))
        .collect()
}

/// A number option: nil leaves the setting alone; anything else must convert to an integer
/// (`luaL_checkinteger`) within `min..=max`. Returns the setting.
fn integer_option(
    lua: &Lua,
    v: &Value,
    narg: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> Outcome<Value> {
    if !v.is_nil() {
        let Some(n) = to_number(lua, Some(v))? else {
            return Err(type_error(narg, "number", Some(v)));
        };
        let value = c_f64_to_i64(n) as i32;
        if !(min..=max).contains(&value) {
            // lua-cjson reports the range error against argument 1 whichever it was.
            return Err(arg_error(
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = value;
    }
    Ok(Value::Integer((*setting).into()))
}

/// An option with named values (`options`, of which 0 and 1 are off and on): nil leaves the
/// setting alone, a boolean selects off/on, a string (or number, read as a string) must name
/// an option exactly. Returns the setting as a boolean when it is off or on, else its name.
fn enum_option(
    lua: &Lua,
    v: &Value,
    narg: usize,
    setting: &mut i32,
    options: &[&str],
) -> Outcome<Value> {
    match v {
        Value::Nil => {}
        Value::Boolean(b) => *setting = i32::from(*b),
        Value::String(_) | Value::Integer(_) | Value::Number(_) => {
            let s = match lua.coerce_string(v.clone())? {
                Some(s) => s.as_bytes().to_vec(),
                None => Vec::new(),
            };
            // Compared as C strings: the name ends at its first NUL.
            let name = s.split(|&b| b == 0).next().unwrap_or_default();
            match options.iter().position(|o| o.as_bytes() == name) {
                Some(i) => *setting = i as i32,
                None => {
                    let mut msg = b"invalid option '".to_vec();
                    msg.extend_from_slice(name);
                    msg.push(b'\'');
                    return Err(arg_error(narg, msg));
                }
            }
        }
        other => return Err(type_error(narg, "string", Some(other))),
    }
    Ok(match *setting {
        0 | 1 => Value::Boolean(*setting == 1),
        i => Value::String(lua.create_string(options[i as usize])?),
    })
}

/// The tables along the path being walked, kept by depth in a Lua table so that the walk
/// holds no handle per level (see the module documentation).
struct Path {
    table: Option<Table>,
}

impl Path {
    fn park(&mut self, lua: &Lua, depth: i32, t: Table) -> mlua::Result<()> {
        if self.table.is_none() {
            self.table = Some(lua.create_table()?);
        }
        match &self.table {
            Some(p) => p.raw_set(depth, t),
            None => Ok(()),
        }
    }

    fn get(&self, depth: i32) -> mlua::Result<Table> {
        match &self.table {
            Some(p) => p.raw_get(depth),
            None => Err(mlua::Error::RuntimeError("cjson: no table parked".into())),
        }
    }
}

/// One level of a walk: its table, held while no nested table is being handled and parked
/// in the `Path` (once) when one is.
struct Level {
    depth: i32,
    held: Option<Table>,
    parked: bool,
}

impl Level {
    fn new(depth: i32, t: Table) -> Level {
        Level {
            depth,
            held: Some(t),
            parked: false,
        }
    }

    fn table(&mut self, path: &Path) -> mlua::Result<Table> {
        match self.held.take() {
            Some(t) => Ok(t),
            None => path.get(self.depth),
        }
    }

    /// Gives the table back after use: kept, or parked when a nested table comes next.
    fn put(&mut self, lua: &Lua, path: &mut Path, t: Table, nested: bool) -> mlua::Result<()> {
        if !nested {
            self.held = Some(t);
        } else if !self.parked {
            path.park(lua, self.depth, t)?;
            self.parked = true;
        }
        Ok(())
    }
}

// ===== Encoding =====

fn encode(lua: &Lua, cfg: Config, args: &Args) -> Outcome<mlua::String> {
    if args.len() != 1 {
        return Err(arg_error(1, "expected 1 argument"));
    }
    let mut enc = Encoder {
        lua,
        cfg,
        out: Vec::new(),
        path: Path { table: None },
    };
    let v = args.get(1)?.unwrap_or(Value::Nil);
    // The argument is the one slot lua-cjson's own frame holds on the Lua stack.
    enc.value(v, 0, 1)?;
    Ok(lua.create_string(&enc.out)?)
}

/// A table key, copied out of Lua.
enum Key {
    Number(f64),
    String(Vec<u8>),
    /// A key of a type JSON has no room for (its type name).
    Other(&'static str),
}

struct Encoder<'l> {
    lua: &'l Lua,
    cfg: Config,
    out: Vec<u8>,
    path: Path,
}

impl Encoder<'_> {
    /// Writes `v`, found `depth` tables deep, while lua-cjson would hold `stack` slots of the
    /// Lua stack.
    fn value(&mut self, v: Value, depth: i32, stack: i64) -> Outcome<()> {
        match v {
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::Boolean(b) => self
                .out
                .extend_from_slice(if b { b"true" } else { b"false" }),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Integer(i) => self.number(i as f64)?,
            Value::Number(n) => self.number(n)?,
            Value::String(s) => push_string(&mut self.out, &s.as_bytes()),
            Value::Table(t) => self.table(t, depth + 1, stack)?,
            other => {
                let msg = format!(
                    "Cannot serialise {}: type not supported",
                    type_name(Some(&other))
                );
                return Err(error(msg));
            }
        }
        Ok(())
    }

    fn number(&mut self, n: f64) -> Outcome<()> {
        match self.cfg.encode_invalid_numbers {
            INVALID_OFF if !n.is_finite() => {
                return Err(error("Cannot serialise number: must not be NaN or Inf"));
            }
            INVALID_ON if n.is_nan() => {
                // Written out rather than formatted, which could give "-nan".
                self.out.extend_from_slice(b"nan");
                return Ok(());
            }
            INVALID_NULL if !n.is_finite() => {
                self.out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {}
        }
        push_number(&mut self.out, n, self.cfg.number_precision);
        Ok(())
    }

    fn table(&mut self, t: Table, depth: i32, stack: i64) -> Outcome<()> {
        if depth > self.cfg.encode_max_depth || stack + 3 > LUA_C_STACK_SLOTS {
            return Err(error(format!(
                "Cannot serialise, excessive nesting ({depth})"
            )));
        }
        let (keys, len) = self.scan(&t)?;
        let mut level = Level::new(depth, t);
        if let Some(len) = len {
            self.out.push(b'[');
            for i in 1..=len {
                if i > 1 {
                    self.out.push(b',');
                }
                let t = level.table(&self.path)?;
                let v: Value = t.raw_get(i)?;
                level.put(self.lua, &mut self.path, t, matches!(v, Value::Table(_)))?;
                self.value(v, depth, stack + 1)?;
            }
            self.out.push(b']');
            return Ok(());
        }
        self.out.push(b'{');
        for (n, key) in keys.into_iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            let lookup = match key {
                Key::Number(k) => {
                    self.out.push(b'"');
                    self.number(k)?;
                    self.out.extend_from_slice(b"\":");
                    Value::Number(k)
                }
                Key::String(s) => {
                    push_string(&mut self.out, &s);
                    self.out.push(b':');
                    Value::String(self.lua.create_string(&s)?)
                }
                Key::Other(type_name) => {
                    let msg = format!(
                        "Cannot serialise {type_name}: table key must be a number or string"
                    );
                    return Err(error(msg));
                }
            };
            let t = level.table(&self.path)?;
            let v: Value = t.raw_get(lookup)?;
            level.put(self.lua, &mut self.path, t, matches!(v, Value::Table(_)))?;
            self.value(v, depth, stack + 2)?;
        }
        self.out.push(b'}');
        Ok(())
    }

    /// The keys of `t` in traversal order, and the length to write it with if it is an
    /// array: every key a positive integer, and (with the sparse ratio set) not so sparse
    /// that the largest index exceeds both `ratio * count` and the safe size. An overly
    /// sparse table is an error, or an object when conversion is on.
    fn scan(&self, t: &Table) -> Outcome<(Vec<Key>, Option<i64>)> {
        let mut keys = Vec::new();
        let (mut array, mut max, mut items) = (true, 0i32, 0i32);
        for pair in t.pairs::<Value, Value>() {
            let key = match pair?.0 {
                Value::Integer(i) => Key::Number(i as f64),
                Value::Number(n) => Key::Number(n),
                Value::String(s) => Key::String(s.as_bytes().to_vec()),
                other => Key::Other(type_name(Some(&other))),
            };
            if array {
                match key {
                    Key::Number(k) if k != 0.0 && k.floor() == k && k >= 1.0 => {
                        if k > f64::from(max) {
                            max = c_int(k);
                        }
                        items += 1;
                    }
                    _ => array = false,
                }
            }
            keys.push(key);
        }
        if !array {
            return Ok((keys, None));
        }
        let cfg = &self.cfg;
        if cfg.sparse_ratio > 0
            && max > items.wrapping_mul(cfg.sparse_ratio)
            && max > cfg.sparse_safe
        {
            if cfg.sparse_convert == 0 {
                return Err(error("Cannot serialise table: excessively sparse array"));
            }
            return Ok((keys, None));
        }
        Ok((keys, (max > 0).then_some(i64::from(max))))
    }
}

/// A positive integral double stored into a C `int` on x86-64: indexes past `INT_MAX` come
/// out as `INT_MIN` (so a table whose largest index is that big is written as an object).
fn c_int(k: f64) -> i32 {
    if k < 2_147_483_648.0 {
        k as i32
    } else {
        i32::MIN
    }
}

/// Writes `s` as a JSON string: quote, backslash and slash escaped with a backslash, the
/// control characters with their short escape or as \u00XX, DEL as \u007f, and every other
/// byte (UTF-8 or not) as it is.
fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        let short: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'/' => b"\\/",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        start = i + 1;
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Writes `v` as C's `%.<precision>g` (precision 1 to 14).
fn push_number(out: &mut Vec<u8>, v: f64, precision: i32) {
    const POW10: [f64; 15] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
    ];
    let p = precision.clamp(1, 14) as usize;
    if v.is_nan() {
        out.extend_from_slice(if v.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    // Integers with at most `p` digits print as themselves ("-0" aside).
    if v.trunc() == v && v.abs() < POW10[p] && !(v == 0.0 && v.is_sign_negative()) {
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
        return;
    }
    // `p` significant digits, correctly rounded (ties to even, as glibc's printf), as
    // "[-]d.ddde<exp>"; then laid out the way %g chooses.
    let mut buf = [0u8; 48];
    let len = {
        let mut w = &mut buf[..];
        let _ = write!(w, "{:.*e}", p - 1, v);
        48 - w.len()
    };
    let sci = &buf[..len];
    let (neg, sci) = match sci.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, sci),
    };
    let e_at = sci.iter().position(|&c| c == b'e').unwrap_or(sci.len());
    let digits: Vec<u8> = sci[..e_at].iter().copied().filter(|&c| c != b'.').collect();
    let exp: i32 = std::str::from_utf8(sci.get(e_at + 1..).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let trim = |d: &[u8]| -> usize { d.iter().rposition(|&c| c != b'0').map_or(0, |i| i + 1) };
    if neg {
        out.push(b'-');
    }
    if exp < -4 || exp >= p as i32 {
        out.push(digits[0]);
        let frac = &digits[1..];
        let frac = &frac[..trim(frac)];
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        if exp.abs() < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(exp.abs()).as_bytes());
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        out.extend_from_slice(&digits[..int_len]);
        let frac = &digits[int_len..];
        let frac = &frac[..trim(frac)];
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac);
        }
    } else {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
        out.extend_from_slice(&digits[..trim(&digits)]);
    }
}

// ===== Decoding =====

fn decode(lua: &Lua, cfg: Config, args: &Args) -> Outcome<Value> {
    if args.len() != 1 {
        return Err(arg_error(1, "expected 1 argument"));
    }
    let text = args.check_string(lua, 1)?;
    let json = text.as_bytes();
    // Any JSON text starts with an ASCII character, so a NUL among the first two bytes means
    // UTF-16 or UTF-32.
    if json.len() >= 2 && (json[0] == 0 || json[1] == 0) {
        return Err(error("JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut dec = Decoder {
        lua,
        cfg,
        json: &json,
        pos: 0,
        depth: 0,
        path: Path { table: None },
        text: Vec::new(),
        spare: Vec::new(),
    };
    let token = dec.next_token();
    // The text argument is the one slot lua-cjson's own frame holds on the Lua stack.
    let value = dec.value(token, 1)?;
    let token = dec.next_token();
    if token.kind != Tok::End {
        return Err(unexpected("the end", &token));
    }
    Ok(value)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    /// A string, decoded into `Decoder::text`.
    Str,
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    /// Not a token: what was wrong.
    Error(&'static str),
}

struct Token {
    kind: Tok,
    /// Byte offset where the token (or the error) is.
    at: usize,
}

/// The "Expected ... but found ..." error, with lua-cjson's token names and a 1-based
/// character position.
fn unexpected(expected: &str, token: &Token) -> Fail {
    let found = match token.kind {
        Tok::ObjBegin => "T_OBJ_BEGIN",
        Tok::ObjEnd => "T_OBJ_END",
        Tok::ArrBegin => "T_ARR_BEGIN",
        Tok::ArrEnd => "T_ARR_END",
        Tok::Str => "T_STRING",
        Tok::Number(_) => "T_NUMBER",
        Tok::Boolean(_) => "T_BOOLEAN",
        Tok::Null => "T_NULL",
        Tok::Colon => "T_COLON",
        Tok::Comma => "T_COMMA",
        Tok::End => "T_END",
        Tok::Error(what) => what,
    };
    error(format!(
        "Expected {expected} but found {found} at character {}",
        token.at + 1
    ))
}

struct Decoder<'a> {
    lua: &'a Lua,
    cfg: Config,
    json: &'a [u8],
    pos: usize,
    depth: i32,
    path: Path,
    /// The last string token.
    text: Vec<u8>,
    /// Buffers for object keys waiting for their value.
    spare: Vec<Vec<u8>>,
}

impl Decoder<'_> {
    /// The byte at `i`; the text reads as NUL-terminated, as lua-cjson reads it, so input
    /// ends at its end or at its first NUL.
    fn byte(&self, i: usize) -> u8 {
        self.json.get(i).copied().unwrap_or(0)
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.byte(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let at = self.pos;
        let c = self.byte(at);
        let single = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(kind) = single {
            self.pos += 1;
            return Token { kind, at };
        }
        let kind = match c {
            0 => Tok::End,
            b'"' => return self.string_token(),
            b'-' | b'0'..=b'9' => {
                if self.cfg.decode_invalid_numbers == 0 && self.invalid_number() {
                    Tok::Error("invalid number")
                } else {
                    self.number_token()
                }
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                let rest = &self.json[at..];
                if rest.starts_with(b"true") {
                    self.pos += 4;
                    Tok::Boolean(true)
                } else if rest.starts_with(b"false") {
                    self.pos += 5;
                    Tok::Boolean(false)
                } else if rest.starts_with(b"null") {
                    self.pos += 4;
                    Tok::Null
                } else if self.cfg.decode_invalid_numbers != 0 && self.invalid_number() {
                    // Only spellings strtod takes that JSON does not: "+1", inf, nan.
                    self.number_token()
                } else {
                    Tok::Error("invalid token")
                }
            }
            _ => Tok::Error("invalid token"),
        };
        Token { kind, at }
    }

    /// Whether the number-like text at the cursor is outside JSON's number syntax in a way
    /// strtod would still accept: a leading '+', a leading zero or "0x", inf or nan.
    fn invalid_number(&self) -> bool {
        let mut i = self.pos;
        match self.byte(i) {
            b'+' => return true,
            b'-' => i += 1,
            _ => {}
        }
        let c = self.byte(i);
        if c == b'0' {
            let next = self.byte(i + 1);
            return next | 0x20 == b'x' || next.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let rest = &self.json[i.min(self.json.len())..];
        starts_with_ignore_case(rest, b"inf") || starts_with_ignore_case(rest, b"nan")
    }

    fn number_token(&mut self) -> Tok {
        match strtod(&self.json[self.pos..]) {
            Some((n, len)) => {
                self.pos += len;
                Tok::Number(n)
            }
            None => Tok::Error("invalid number"),
        }
    }

    /// Reads the string at the cursor into `text`.
    fn string_token(&mut self) -> Token {
        let at = self.pos;
        self.pos += 1;
        self.text.clear();
        loop {
            let c = self.byte(self.pos);
            match c {
                b'"' => break,
                0 => {
                    let at = self.pos;
                    return Token {
                        kind: Tok::Error("unexpected end of string"),
                        at,
                    };
                }
                b'\\' => {
                    let plain = match self.byte(self.pos + 1) {
                        e @ (b'"' | b'\\' | b'/') => e,
                        b'b' => 0x08,
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => 0x0c,
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape() {
                                continue;
                            }
                            let at = self.pos;
                            return Token {
                                kind: Tok::Error("invalid unicode escape code"),
                                at,
                            };
                        }
                        _ => {
                            let at = self.pos;
                            return Token {
                                kind: Tok::Error("invalid escape code"),
                                at,
                            };
                        }
                    };
                    self.text.push(plain);
                    self.pos += 2;
                }
                _ => {
                    self.text.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Token { kind: Tok::Str, at }
    }

    /// Decodes the \uXXXX escape at the cursor (a UTF-16 surrogate pair takes two) into
    /// UTF-8. False, with the cursor left on the backslash, if it is malformed.
    fn unicode_escape(&mut self) -> bool {
        let hex4 = |at: usize| -> Option<u32> {
            (0..4).try_fold(0u32, |acc, i| {
                let c = self.byte(at + i);
                let d = match c {
                    b'0'..=b'9' => c - b'0',
                    _ if (b'a'..=b'f').contains(&(c | 0x20)) => (c | 0x20) - b'a' + 10,
                    _ => return None,
                };
                Some(acc << 4 | u32::from(d))
            })
        };
        let Some(mut cp) = hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            // A high surrogate must come first, directly followed by an escaped low one.
            if cp & 0x400 != 0
                || self.byte(self.pos + 6) != b'\\'
                || self.byte(self.pos + 7) != b'u'
            {
                return false;
            }
            match hex4(self.pos + 8) {
                Some(low) if low & 0xFC00 == 0xDC00 => {
                    cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
                    len = 12;
                }
                _ => return false,
            }
        }
        push_utf8(&mut self.text, cp);
        self.pos += len;
        true
    }

    /// lua-cjson's nesting check when a container opens: the depth limit, and room for
    /// `slots` more values on the Lua stack. The position reported is just past the bracket.
    fn descend(&mut self, stack: i64, slots: i64) -> Outcome<i32> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth && stack + slots <= LUA_C_STACK_SLOTS {
            return Ok(self.depth);
        }
        let msg = format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.pos
        );
        Err(error(msg))
    }

    /// The value starting with `token`, while lua-cjson would hold `stack` Lua stack slots.
    fn value(&mut self, token: Token, stack: i64) -> Outcome<Value> {
        Ok(match token.kind {
            Tok::Str => Value::String(self.lua.create_string(&self.text)?),
            Tok::Number(n) => Value::Number(n),
            Tok::Boolean(b) => Value::Boolean(b),
            Tok::Null => null(),
            Tok::ObjBegin => self.object(stack)?,
            Tok::ArrBegin => self.array(stack)?,
            _ => return Err(unexpected("value", &token)),
        })
    }

    /// A value inside the container of `level`, which lets go of its table first if the
    /// value is a container itself.
    fn nested_value(&mut self, level: &mut Level, token: Token, stack: i64) -> Outcome<Value> {
        if matches!(token.kind, Tok::ObjBegin | Tok::ArrBegin) {
            let t = level.table(&self.path)?;
            level.put(self.lua, &mut self.path, t, true)?;
        }
        self.value(token, stack)
    }

    fn object(&mut self, stack: i64) -> Outcome<Value> {
        // lua-cjson needs the table, a key and a value on the stack.
        let depth = self.descend(stack, 3)?;
        let mut level = Level::new(depth, self.lua.create_table()?);
        let mut token = self.next_token();
        if token.kind != Tok::ObjEnd {
            loop {
                if token.kind != Tok::Str {
                    return Err(unexpected("object key string", &token));
                }
                let fresh = self.spare.pop().unwrap_or_default();
                let mut key = std::mem::replace(&mut self.text, fresh);
                token = self.next_token();
                if token.kind != Tok::Colon {
                    return Err(unexpected("colon", &token));
                }
                token = self.next_token();
                let value = self.nested_value(&mut level, token, stack + 2)?;
                let t = level.table(&self.path)?;
                t.raw_set(self.lua.create_string(&key)?, value)?;
                level.put(self.lua, &mut self.path, t, false)?;
                key.clear();
                self.spare.push(key);
                token = self.next_token();
                if token.kind == Tok::ObjEnd {
                    break;
                }
                if token.kind != Tok::Comma {
                    return Err(unexpected("comma or object end", &token));
                }
                token = self.next_token();
            }
        }
        self.depth -= 1;
        Ok(Value::Table(level.table(&self.path)?))
    }

    fn array(&mut self, stack: i64) -> Outcome<Value> {
        // lua-cjson needs the table and a value on the stack.
        let depth = self.descend(stack, 2)?;
        let mut level = Level::new(depth, self.lua.create_table()?);
        let mut token = self.next_token();
        if token.kind != Tok::ArrEnd {
            let mut i: i64 = 1;
            loop {
                let value = self.nested_value(&mut level, token, stack + 1)?;
                let t = level.table(&self.path)?;
                t.raw_set(i, value)?;
                level.put(self.lua, &mut self.path, t, false)?;
                token = self.next_token();
                if token.kind == Tok::ArrEnd {
                    break;
                }
                if token.kind != Tok::Comma {
                    return Err(unexpected("comma or array end", &token));
                }
                token = self.next_token();
                i += 1;
            }
        }
        self.depth -= 1;
        Ok(Value::Table(level.table(&self.path)?))
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn push_utf8(out: &mut Vec<u8>, cp: u32) {
    if cp <= 0x7F {
        out.push(cp as u8);
    } else if cp <= 0x7FF {
        out.extend_from_slice(&[0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8]);
    } else if cp <= 0xFFFF {
        out.extend_from_slice(&[
            0xE0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            0xF0 | (cp >> 18) as u8,
            0x80 | ((cp >> 12) & 0x3F) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]);
    }
}

/// The longest prefix of `s` glibc's strtod reads as a number, and its value: an optional
/// sign, then inf/infinity, nan (with an optional "(chars)"), a hexadecimal number with an
/// optional binary exponent, or a decimal number with an optional exponent. None when no
/// prefix is a number.
fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let (neg, start) = match s.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let signed = |v: f64| if neg { -v } else { v };
    let rest = &s[start..];
    if starts_with_ignore_case(rest, b"inf") {
        let len = if starts_with_ignore_case(rest, b"infinity") {
            8
        } else {
            3
        };
        return Some((signed(f64::INFINITY), start + len));
    }
    if starts_with_ignore_case(rest, b"nan") {
        let mut len = 3;
        if rest.get(3) == Some(&b'(') {
            let close = rest[4..]
                .iter()
                .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'));
            if let Some(i) = close.filter(|&i| rest[4 + i] == b')') {
                len = 4 + i + 1;
            }
        }
        return Some((signed(f64::NAN), start + len));
    }
    if rest.len() >= 2 && rest[0] == b'0' && rest[1] | 0x20 == b'x' {
        return Some(match hex_float(&rest[2..]) {
            Some((v, len)) => (signed(v), start + 2 + len),
            // "0x" without hex digits: only the 0 is a number.
            None => (signed(0.0), start + 1),
        });
    }
    let digits = |from: usize| {
        rest[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let int = digits(0);
    let mut len = int;
    let mut frac = 0;
    if rest.get(len) == Some(&b'.') {
        frac = digits(len + 1);
        len += 1 + frac;
    }
    if int + frac == 0 {
        return None;
    }
    if matches!(rest.get(len), Some(b'e' | b'E')) {
        let mut e = len + 1;
        if matches!(rest.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let exp_digits = digits(e);
        if exp_digits > 0 {
            len = e + exp_digits;
        }
    }
    let text = std::str::from_utf8(&rest[..len]).ok()?;
    let v: f64 = text.parse().ok()?;
    Some((signed(v), start + len))
}

/// The part of a hexadecimal number after "0x": hex digits with an optional point, then an
/// optional "p" exponent (a power of two). None without a single digit.
fn hex_float(s: &[u8]) -> Option<(f64, usize)> {
    // Up to 15 significant digits are kept (60 bits); any nonzero digit after those only
    // matters for rounding and is folded into the lowest bit.
    let (mut mant, mut kept, mut sticky) = (0u64, 0, false);
    let (mut exp, mut any, mut point) = (0i64, false, false);
    let mut i = 0;
    loop {
        let c = s.get(i).copied().unwrap_or(0);
        let d = match c {
            b'0'..=b'9' => c - b'0',
            _ if (b'a'..=b'f').contains(&(c | 0x20)) => (c | 0x20) - b'a' + 10,
            b'.' if !point => {
                point = true;
                i += 1;
                continue;
            }
            _ => break,
        };
        any = true;
        if mant == 0 && d == 0 {
            if point {
                exp -= 4;
            }
        } else if kept < 15 {
            mant = mant << 4 | u64::from(d);
            kept += 1;
            if point {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !point {
                exp += 4;
            }
        }
        i += 1;
    }
    if !any {
        return None;
    }
    let mut len = i;
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let neg = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let mut e: i64 = 0;
        let mut seen = false;
        while let Some(&c) = s.get(j).filter(|c| c.is_ascii_digit()) {
            e = (e * 10 + i64::from(c - b'0')).min(1 << 24);
            seen = true;
            j += 1;
        }
        if seen {
            exp += if neg { -e } else { e };
            len = j;
        }
    }
    if sticky {
        mant |= 1;
    }
    let mut v = mant as f64;
    while exp > 1000 && v.is_finite() && v != 0.0 {
        v *= 2f64.powi(1000);
        exp -= 1000;
    }
    while exp < -1000 && v != 0.0 {
        v *= 2f64.powi(-1000);
        exp += 1000;
    }
    if v != 0.0 && v.is_finite() {
        v *= 2f64.powi(exp.clamp(-1100, 1100) as i32);
    }
    Some((v, len))
}

#[cfg(test)]
mod tests {
    use super::super::glue::testing::{error_of, lua_with};
    use super::*;

    /// An interpreter with the library as the global `cjson`.
    fn lua() -> Lua {
        lua_with(&[("cjson", open)])
    }

    fn eval_str(lua: &Lua, code: &str) -> String {
        match lua.load(code).eval::<Value>() {
            Ok(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            other => panic!("{code}: {other:?}"),
        }
    }

    fn encode(code: &str) -> String {
        eval_str(&lua(), &format!("return cjson.encode({code})"))
    }

    /// The message a call raises, as `pcall` gives it to a script.
    fn failure(lua: &Lua, call: &str) -> String {
        let code = format!(
            "local ok, e = pcall({call}) assert(not ok, 'no error') assert(type(e) == 'string') return e"
        );
        eval_str(lua, &code)
    }

    #[test]
    fn encodes_scalars() {
        assert_eq!(encode("'abc'"), r#""abc""#);
        assert_eq!(encode("true"), "true");
        assert_eq!(encode("false"), "false");
        assert_eq!(encode("nil"), "null");
        assert_eq!(encode("cjson.null"), "null");
        assert_eq!(encode("42"), "42");
    }

    #[test]
    fn escapes_quote_backslash_slash_and_control_characters() {
        assert_eq!(encode(r#"'a/b"c\\d'"#), r#""a\/b\"c\\d""#);
        assert_eq!(
            encode(r#"'\0\1\8\9\10\11\12\13\31\127 '"#),
            r#""\u0000\u0001\b\t\n\u000b\f\r\u001f\u007f ""#
        );
        // Bytes from 0x80 up pass through untouched, valid UTF-8 or not.
        assert_eq!(encode(r#"'\195\169\255'"#), "\"\u{e9}\u{fffd}\"");
    }

    #[test]
    fn formats_numbers_like_printf_14g() {
        let cases = [
            ("0.1", "0.1"),
            ("-0.0", "-0"),
            ("1/3", "0.33333333333333"),
            ("100", "100"),
            ("1e14 - 1", "99999999999999"),
            ("1e14", "1e+14"),
            ("123456789012345", "1.2345678901234e+14"),
            ("0.0001", "0.0001"),
            ("0.00001", "1e-05"),
            ("-1.5e-300", "-1.5e-300"),
            ("2^53", "9.007199254741e+15"),
            ("1023.2", "1023.2"),
        ];
        for (lua_expr, json) in cases {
            assert_eq!(encode(lua_expr), json, "{lua_expr}");
        }
    }

    #[test]
    fn number_formatting_matches_the_c_library_at_every_precision() {
        let values = [
            0.5,
            2.5,
            0.125,
            1.0 / 3.0,
            123456.789,
            1e-7,
            1e23,
            5e-324,
            1.7976931348623157e308,
            -0.0001234,
            1e21,
            4.35,
            0.3,
        ];
        for p in 1..=14 {
            for v in values {
                let mut ours = Vec::new();
                push_number(&mut ours, v, p);
                let mut buf = [0u8; 64];
                // SAFETY: the format takes an int and a double, exactly what is passed, and
                // snprintf writes at most buf.len() bytes.
                let n = unsafe {
                    libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.*g".as_ptr(), p, v)
                };
                assert_eq!(ours, &buf[..n as usize], "%.{p}g of {v}");
            }
        }
    }

    #[test]
    fn number_precision_setting_applies_to_values_and_keys() {
        let lua = lua();
        assert_eq!(
            eval_str(&lua, "return tostring(cjson.encode_number_precision(3))"),
            "3"
        );
        assert_eq!(
            eval_str(&lua, "return cjson.encode({3.14159, 2/3})"),
            "[3.14,0.667]"
        );
        assert_eq!(
            eval_str(&lua, "return cjson.encode({[1.23456]=1})"),
            r#"{"1.23":1}"#
        );
        assert_eq!(
            failure(&lua, "cjson.encode_number_precision, 15"),
            "bad argument #1 to '?' (expected integer between 1 and 14)"
        );
    }

    #[test]
    fn tables_with_positive_integer_keys_are_arrays() {
        assert_eq!(encode("{1, 2, 'three'}"), r#"[1,2,"three"]"#);
        assert_eq!(encode("{{}, {{1}}}"), "[{},[[1]]]");
        assert_eq!(encode("{[1]=1, [3]=3}"), "[1,null,3]");
        assert_eq!(
            encode("{[10]=1}"),
            "[null,null,null,null,null,null,null,null,null,1]"
        );
        assert_eq!(encode("{}"), "{}");
    }

    #[test]
    fn other_keys_make_objects() {
        assert_eq!(encode("{a=1}"), r#"{"a":1}"#);
        assert_eq!(encode("{[0]=1}"), r#"{"0":1}"#);
        assert_eq!(encode("{[-1]=1}"), r#"{"-1":1}"#);
        assert_eq!(encode("{[1.5]='x'}"), r#"{"1.5":"x"}"#);
        assert_eq!(encode("{['a/b']={}}"), r#"{"a\/b":{}}"#);
        // An index past INT_MAX lands in lua-cjson's int as INT_MIN: written as an object.
        assert_eq!(encode("{[1e10]=1}"), r#"{"10000000000":1}"#);
        let lua = lua();
        let round = "local t = cjson.decode(cjson.encode({1, 2, x='y'})) \
                     return t['1'] .. t['2'] .. t.x";
        assert_eq!(eval_str(&lua, round), "12y");
    }

    #[test]
    fn excessively_sparse_arrays_fail_or_become_objects() {
        let lua = lua();
        assert_eq!(
            failure(&lua, "cjson.encode, {[1]=1, [20]=2}"),
            "Cannot serialise table: excessively sparse array"
        );
        let r = "return table.concat({tostring(select(1, cjson.encode_sparse_array(true))), \
                 cjson.encode({[20]=1})}, ' ')";
        assert_eq!(eval_str(&lua, r), r#"true {"20":1}"#);
        // A ratio of 0 allows any sparseness.
        lua.load("cjson.encode_sparse_array(false, 0)")
            .exec()
            .unwrap();
        assert_eq!(
            eval_str(&lua, "return cjson.encode({[12]=1})").len(),
            1 + 11 * 5 + 2
        );
        let settings = "local c, r, s = cjson.encode_sparse_array() \
                        return tostring(c) .. ' ' .. r .. ' ' .. s";
        assert_eq!(eval_str(&lua, settings), "false 0 10");
    }

    #[test]
    fn refuses_keys_and_values_json_cannot_hold() {
        let lua = lua();
        assert_eq!(
            failure(&lua, "cjson.encode, {[true]=1}"),
            "Cannot serialise boolean: table key must be a number or string"
        );
        assert_eq!(
            failure(&lua, "cjson.encode, {{}, print}"),
            "Cannot serialise function: type not supported"
        );
        assert_eq!(
            failure(&lua, "cjson.encode, coroutine.create(function() end)"),
            "Cannot serialise thread: type not supported"
        );
        assert_eq!(
            failure(&lua, "cjson.encode"),
            "bad argument #1 to '?' (expected 1 argument)"
        );
        assert_eq!(
            failure(&lua, "cjson.encode, 1, 2"),
            "bad argument #1 to '?' (expected 1 argument)"
        );
    }

    #[test]
    fn invalid_numbers_are_refused_unless_allowed() {
        let lua = lua();
        assert_eq!(
            failure(&lua, "cjson.encode, {num1=0/0}"),
            "Cannot serialise number: must not be NaN or Inf"
        );
        assert_eq!(
            failure(&lua, "cjson.encode, {[1/0]=1}"),
            "Cannot serialise number: must not be NaN or Inf"
        );
        assert_eq!(
            eval_str(&lua, "return tostring(cjson.encode_invalid_numbers(true))"),
            "true"
        );
        assert_eq!(
            eval_str(&lua, "return cjson.encode({0/0, 1/0, -1/0})"),
            "[nan,inf,-inf]"
        );
        assert_eq!(
            eval_str(&lua, "return cjson.encode_invalid_numbers('null')"),
            "null"
        );
        assert_eq!(
            eval_str(&lua, "return cjson.encode({0/0, 1/0, 2})"),
            "[null,null,2]"
        );
        assert_eq!(
            eval_str(&lua, "return tostring(cjson.encode_invalid_numbers('off'))"),
            "false"
        );
    }

    #[test]
    fn nesting_deeper_than_the_limit_fails() {
        let lua = lua();
        assert_eq!(
            failure(
                &lua,
                "cjson.encode, (function() local t = {} t[1] = t return t end)()"
            ),
            "Cannot serialise, excessive nesting (1001)"
        );
        lua.load("cjson.encode_max_depth(2)").exec().unwrap();
        assert_eq!(eval_str(&lua, "return cjson.encode({{1}})"), "[[1]]");
        assert_eq!(
            failure(&lua, "cjson.encode, {{{1}}}"),
            "Cannot serialise, excessive nesting (3)"
        );
        assert_eq!(
            failure(&lua, "cjson.encode_max_depth, 0"),
            "bad argument #1 to '?' (expected integer between 1 and 2147483647)"
        );
    }

    /// With the depth limits out of the way, lua-cjson still stops where its Lua stack
    /// would overflow: 8000 slots, one per array level and two per object level. Deep walks
    /// must not exhaust mlua's reference stack either (it would abort the process).
    #[test]
    fn unlimited_nesting_stops_where_the_lua_stack_would() {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(|| {
                let lua = lua();
                lua.load("cjson.encode_max_depth(1e9) cjson.decode_max_depth(1e9)")
                    .exec()
                    .unwrap();
                let arr = "cjson.encode, (function() local t = {} t[1] = t return t end)()";
                assert_eq!(
                    failure(&lua, arr),
                    "Cannot serialise, excessive nesting (7998)"
                );
                let obj = "cjson.encode, (function() local t = {} t.a = t return t end)()";
                assert_eq!(
                    failure(&lua, obj),
                    "Cannot serialise, excessive nesting (4000)"
                );
                // 7998 nested arrays decode; encoding them needs one slot too many.
                let deep = "local s = string.rep('[', 7998) .. string.rep(']', 7998) \
                            local t = cjson.decode(s) \
                            local ok, e = pcall(cjson.encode, t) \
                            return #cjson.encode(t[1]) .. ' ' .. e";
                assert_eq!(
                    eval_str(&lua, deep),
                    "15994 Cannot serialise, excessive nesting (7998)"
                );
                let too_deep = "cjson.decode, string.rep('[', 8000)";
                assert_eq!(
                    failure(&lua, too_deep),
                    "Found too many nested data structures (7999) at character 7999"
                );
                let objects = "cjson.decode, string.rep('{\"a\":', 5000)";
                assert_eq!(
                    failure(&lua, objects),
                    "Found too many nested data structures (4000) at character 19996"
                );
            })
            .unwrap()
            .join()
            .unwrap();
    }

    /// Thousands of arguments (more than mlua has handles for) are refused as lua-cjson
    /// refuses them, without holding a handle for each.
    #[test]
    fn takes_thousands_of_arguments() {
        let lua = lua();
        for f in ["encode", "decode"] {
            let code = format!(
                "local t = {{}} for i = 1, 7999 do t[i] = '[' .. i .. ']' end \
                 return cjson.{f}(unpack(t))"
            );
            assert_eq!(
                error_of(&lua, &code),
                format!("t:1: bad argument #1 to '{f}' (expected 1 argument)")
            );
        }
        let code = "local t = {} for i = 1, 7999 do t[i] = 'on' end \
                    return cjson.encode_keep_buffer(unpack(t))";
        assert_eq!(
            error_of(&lua, code),
            "t:1: bad argument #2 to 'encode_keep_buffer' (found too many arguments)"
        );
        let code = "local t = {} for i = 1, 7997 do t[i] = {} end \
                    return cjson.new(unpack(t)).encode({1})";
        assert_eq!(eval_str(&lua, code), "[1]");
        let code = "local t = {} for i = 1, 7998 do t[i] = {} end \
                    return cjson.new(unpack(t))";
        assert_eq!(
            error_of(&lua, code),
            "t:1: stack overflow (too many upvalues)"
        );
    }

    #[test]
    fn wide_tables_encode_and_decode() {
        let lua = lua();
        let code = "local t = {} for i = 1, 20000 do t['k' .. i] = {i} end \
                    local d = cjson.decode(cjson.encode(t)) \
                    local n = 0 for k, v in pairs(d) do n = n + v[1] end return tostring(n)";
        assert_eq!(eval_str(&lua, code), "200010000");
    }

    #[test]
    fn decodes_numbers_as_strtod_reads_them() {
        let lua = lua();
        let code =
            r#"return table.concat(cjson.decode("[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]"), " ")"#;
        assert_eq!(eval_str(&lua, code), "0 -5000 -1 0.0003 1023.2 0");
        let cases = [
            ("-0", "-0"),
            ("1E2", "100"),
            ("1.", "1"),
            ("-.5", "-0.5"),
            ("1e400", "inf"),
            ("0x10", "16"),
            ("0x1p4", "16"),
            ("0x.8", "0.5"),
            ("012", "12"),
            ("+1", "1"),
            ("Infinity", "inf"),
            ("-inf", "-inf"),
            ("nan", "nan"),
            ("-nan", "-nan"),
        ];
        for (json, shown) in cases {
            assert_eq!(
                eval_str(&lua, &format!("return tostring(cjson.decode('{json}'))")),
                shown,
                "{json}"
            );
        }
    }

    #[test]
    fn strtod_prefixes_match_glibc() {
        let cases: &[(&str, Option<(f64, usize)>)] = &[
            ("1e", Some((1.0, 1))),
            ("1e+", Some((1.0, 1))),
            ("1e+2x", Some((100.0, 4))),
            ("0x", Some((0.0, 1))),
            ("0xg", Some((0.0, 1))),
            ("0x1P-1", Some((0.5, 6))),
            ("0x1p", Some((1.0, 3))),
            ("-", None),
            ("-x", None),
            (".", None),
            ("infinit", Some((f64::INFINITY, 3))),
            ("0x123456789abcdef123", Some((3.358127276707303e20, 20))),
        ];
        for &(text, want) in cases {
            assert_eq!(strtod(text.as_bytes()), want, "{text}");
        }
        assert_eq!(strtod(b"nan(12ab_)x").map(|(_, n)| n), Some(10));
        assert_eq!(strtod(b"nan(12").map(|(_, n)| n), Some(3));
    }

    #[test]
    fn invalid_numbers_can_be_refused_when_decoding() {
        let lua = lua();
        lua.load("cjson.decode_invalid_numbers(false)")
            .exec()
            .unwrap();
        assert_eq!(
            failure(&lua, "cjson.decode, '0x10'"),
            "Expected value but found invalid number at character 1"
        );
        assert_eq!(
            failure(&lua, "cjson.decode, '[1, 01]'"),
            "Expected value but found invalid number at character 5"
        );
        assert_eq!(
            failure(&lua, "cjson.decode, '-inf'"),
            "Expected value but found invalid number at character 1"
        );
        assert_eq!(
            failure(&lua, "cjson.decode, 'nan'"),
            "Expected value but found invalid token at character 1"
        );
        assert_eq!(
            failure(&lua, "cjson.decode, '+1'"),
            "Expected value but found invalid token at character 1"
        );
        assert_eq!(
            eval_str(&lua, "return tostring(cjson.decode('-0.5'))"),
            "-0.5"
        );
    }

    #[test]
    fn decodes_strings_with_escapes_and_surrogate_pairs() {
        let lua = lua();
        let s = r#"return cjson.decode('"a\\/b\\"c\\\\ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00 \\u0041"')"#;
        assert_eq!(
            eval_str(&lua, s),
            "a/b\"c\\ \u{8}\u{c}\n\r\t \u{e9} \u{1f600} A"
        );
        let keys =
            r#"local d = cjson.decode('{"keya": "a", "keyb": "b"}') return d.keya .. d.keyb"#;
        assert_eq!(eval_str(&lua, keys), "ab");
        let nul = r#"return #cjson.decode('"\\u0000"')"#;
        assert_eq!(lua.load(nul).eval::<i64>().unwrap(), 1);
        let cases = [
            (
                r#"'"\\ud83d"'"#,
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                r#"'"\\ude00\\ud83d"'"#,
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                r#"'"x\\u12"'"#,
                "Expected value but found invalid unicode escape code at character 3",
            ),
            (
                r#"'"\\q"'"#,
                "Expected value but found invalid escape code at character 2",
            ),
            (
                r#"'"abc'"#,
                "Expected value but found unexpected end of string at character 5",
            ),
            (
                r#"'{"a\\x":1}'"#,
                "Expected object key string but found invalid escape code at character 4",
            ),
        ];
        for (json, msg) in cases {
            assert_eq!(
                failure(&lua, &format!("cjson.decode, {json}")),
                msg,
                "{json}"
            );
        }
    }

    #[test]
    fn decodes_literals_and_containers() {
        let lua = lua();
        let code = r#"local d = cjson.decode(' {"a": [true, false, null, {}], "b": []} ')
                      return tostring(d.a[1]) .. tostring(d.a[2]) .. tostring(d.a[3] == cjson.null)
                          .. tostring(next(d.a[4])) .. #d.a .. #d.b"#;
        assert_eq!(eval_str(&lua, code), "truefalsetruenil40");
        let dup = r#"return cjson.decode('{"a": 1, "a": 2}').a"#;
        assert_eq!(lua.load(dup).eval::<i64>().unwrap(), 2);
        // Input ends at its first NUL.
        assert_eq!(
            eval_str(&lua, r#"return cjson.encode(cjson.decode('[1]\0 junk'))"#),
            "[1]"
        );
        // Numbers are read as their text.
        assert_eq!(
            lua.load("return cjson.decode(12)").eval::<i64>().unwrap(),
            12
        );
    }

    #[test]
    fn reports_syntax_errors_like_lua_cjson() {
        let lua = lua();
        let cases = [
            ("''", "Expected value but found T_END at character 1"),
            ("'[1,'", "Expected value but found T_END at character 4"),
            (
                "'[1 2]'",
                "Expected comma or array end but found T_NUMBER at character 4",
            ),
            (
                "'{1:2}'",
                "Expected object key string but found T_NUMBER at character 2",
            ),
            (
                "'{\"a\" 1}'",
                "Expected colon but found T_NUMBER at character 6",
            ),
            (
                "'{\"a\":1,}'",
                "Expected object key string but found T_OBJ_END at character 8",
            ),
            (
                "'{\"a\":1 ]'",
                "Expected comma or object end but found T_ARR_END at character 8",
            ),
            (
                "'[1] x'",
                "Expected the end but found invalid token at character 5",
            ),
            (
                "'[1] [2]'",
                "Expected the end but found T_ARR_BEGIN at character 5",
            ),
            (
                "'nul'",
                "Expected value but found invalid token at character 1",
            ),
            (
                "'.5'",
                "Expected value but found invalid token at character 1",
            ),
            (
                "'-'",
                "Expected value but found invalid number at character 1",
            ),
            ("']'", "Expected value but found T_ARR_END at character 1"),
            ("'\\0['", "JSON parser does not support UTF-16 or UTF-32"),
            ("{}", "bad argument #1 to '?' (string expected, got table)"),
        ];
        for (arg, msg) in cases {
            assert_eq!(failure(&lua, &format!("cjson.decode, {arg}")), msg, "{arg}");
        }
        assert_eq!(
            failure(&lua, "cjson.decode"),
            "bad argument #1 to '?' (expected 1 argument)"
        );
    }

    #[test]
    fn decode_depth_limit_reports_depth_and_position() {
        let lua = lua();
        lua.load("cjson.decode_max_depth(1)").exec().unwrap();
        assert_eq!(
            failure(&lua, r#"cjson.decode, '{"obj": {"array": [1,2,3,4]}}'"#),
            "Found too many nested data structures (2) at character 9"
        );
        assert_eq!(
            eval_str(&lua, "return cjson.encode(cjson.decode('[1]'))"),
            "[1]"
        );
    }

    #[test]
    fn configuration_functions_check_and_return_their_settings() {
        let lua = lua();
        let defaults = "local c, r, s = cjson.encode_sparse_array() \
                        return table.concat({tostring(c), r, s, cjson.encode_max_depth(), \
                          cjson.decode_max_depth(), cjson.encode_number_precision(), \
                          tostring(cjson.encode_keep_buffer()), tostring(cjson.encode_invalid_numbers()), \
                          tostring(cjson.decode_invalid_numbers())}, ' ')";
        assert_eq!(
            eval_str(&lua, defaults),
            "false 2 10 1000 1000 14 true false true"
        );
        assert_eq!(
            eval_str(&lua, "return tostring(cjson.encode_max_depth('7'))"),
            "7"
        );
        let cases = [
            (
                "cjson.encode_max_depth, 1, 2",
                "bad argument #2 to '?' (found too many arguments)",
            ),
            (
                "cjson.encode_max_depth, {}",
                "bad argument #1 to '?' (number expected, got table)",
            ),
            (
                "cjson.encode_sparse_array, true, 'x'",
                "bad argument #2 to '?' (number expected, got string)",
            ),
            (
                "cjson.encode_sparse_array, nil, nil, -1",
                "bad argument #1 to '?' (expected integer between 0 and 2147483647)",
            ),
            (
                "cjson.encode_keep_buffer, 'maybe'",
                "bad argument #1 to '?' (invalid option 'maybe')",
            ),
            (
                "cjson.encode_invalid_numbers, {}",
                "bad argument #1 to '?' (string expected, got table)",
            ),
            (
                "cjson.decode_invalid_numbers, 1",
                "bad argument #1 to '?' (invalid option '1')",
            ),
        ];
        for (call, msg) in cases {
            assert_eq!(failure(&lua, call), msg, "{call}");
        }
        // A failing call keeps the settings it had already applied.
        assert_eq!(
            eval_str(&lua, "return tostring(cjson.encode_sparse_array())"),
            "true"
        );
        assert_eq!(
            eval_str(&lua, "return tostring(cjson.encode_keep_buffer('off'))"),
            "false"
        );
    }

    #[test]
    fn module_fields_and_independent_instances() {
        let lua = lua();
        assert_eq!(
            eval_str(&lua, "return cjson._NAME .. ' ' .. cjson._VERSION"),
            "cjson 2.1.0"
        );
        let code = "local other = cjson.new() other.encode_number_precision(2) \
                    return cjson.encode(1/3) .. ' ' .. other.encode(1/3) .. ' ' .. tostring(other.null == cjson.null)";
        assert_eq!(eval_str(&lua, code), "0.33333333333333 0.33 true");
    }

    #[test]
    fn round_trips_the_upstream_smoke_test_values() {
        let lua = lua();
        let code = r#"
            local some_map = {s1="Some string", n1=100, a1={"Some","String","Array"}, b1=true, b2=false}
            local d = cjson.decode(cjson.encode(some_map))
            assert(d.s1 == "Some string" and d.n1 == 100 and d.b1 == true and d.b2 == false)
            assert(table.concat(d.a1, ",") == "Some,String,Array")
            local t = cjson.decode(cjson.encode({one="one", [1]="one"}))
            assert(t["one"] == "one" and t["1"] == "one")
            return cjson.encode(cjson.decode('{"a":[1,2.5,"x\/y",null]}'))
        "#;
        assert_eq!(eval_str(&lua, code), r#"{"a":[1,2.5,"x\/y",null]}"#);
    }
}
