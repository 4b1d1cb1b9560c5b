//! The `cmsgpack` library scripts get on Redis (lua-cmsgpack 0.4.0): MessagePack encoding
//! and decoding of Lua values. Scripts store the encoded bytes in keys and read them back,
//! so the bytes produced must be the ones Redis produces:
//!
//! - numbers that are whole and fit 64 bits use the smallest integer encoding; other numbers
//!   are float32 when the value survives the round trip through a float, float64 otherwise;
//! - strings use fixstr/str8/str16/str32 (never bin);
//! - a table whose keys are exactly 1..n is an array, anything else a map (keys in `next`
//!   order); tables nested 16 deep are written as nil, which is how cycles end;
//! - functions, userdata and nil are nil.
//!
//! Decoding accepts what the encoder writes (plus uint64, which comes back through a signed
//! 64-bit integer), and rejects bin, ext and the reserved byte as bad format.
//!
//! The functions reach scripts through `glue`, which raises their failures as the C library
//! raises them and passes thousands of arguments and results.

use mlua::{Lua, Table, Value};

use super::glue::{
    arg_error, c_f64_to_i64, error, plain_error, Args, Fail, Glue, Outcome, Results, MAX_C_STACK,
};

/// Tables at this depth are written as nil.
const MAX_NESTING: usize = 16;

/// Stack overflow as `luaL_checkstack` reports it.
fn stack_overflow(what: &str) -> Fail {
    error(format!("stack overflow ({what})"))
}

// ------------------------------------ Encoding ------------------------------------

/// Writes values for `pack`. The `top` its methods take mirrors how many slots the C
/// encoder would hold on the Lua stack at that point, so that its stack checks fail where
/// the C library's do.
struct Encoder {
    out: Vec<u8>,
}

impl Encoder {
    fn bytes(&mut self, s: &[u8]) {
        let len = s.len();
        if len < 32 {
            self.out.push(0xa0 | len as u8);
        } else if len <= 0xff {
            self.out.extend_from_slice(&[0xd9, len as u8]);
        } else if len <= 0xffff {
            self.out.push(0xda);
            self.out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.out.push(0xdb);
            self.out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        self.out.extend_from_slice(s);
    }

    fn double(&mut self, d: f64) {
        let f = d as f32;
        if f as f64 == d {
            self.out.push(0xca);
            self.out.extend_from_slice(&f.to_be_bytes());
        } else {
            self.out.push(0xcb);
            self.out.extend_from_slice(&d.to_be_bytes());
        }
    }

    fn int(&mut self, n: i64) {
        let out = &mut self.out;
        if n >= 0 {
            if n <= 127 {
                out.push(n as u8);
            } else if n <= 0xff {
                out.extend_from_slice(&[0xcc, n as u8]);
            } else if n <= 0xffff {
                out.push(0xcd);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else if n <= 0xffff_ffff {
                out.push(0xce);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            } else {
                out.push(0xcf);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        } else if n >= -32 {
            out.push(n as i8 as u8);
        } else if n >= -128 {
            out.extend_from_slice(&[0xd0, n as i8 as u8]);
        } else if n >= -32768 {
            out.push(0xd1);
            out.extend_from_slice(&(n as i16).to_be_bytes());
        } else if n >= -2_147_483_648 {
            out.push(0xd2);
            out.extend_from_slice(&(n as i32).to_be_bytes());
        } else {
            out.push(0xd3);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// Array (`base` 0x90) or map (`base` 0x80) header for `n` entries.
    fn container(&mut self, n: usize, base: u8) {
        let (c16, c32) = if base == 0x90 {
            (0xdc, 0xdd)
        } else {
            (0xde, 0xdf)
        };
        if n <= 15 {
            self.out.push(base | n as u8);
        } else if n <= 0xffff {
            self.out.push(c16);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.out.push(c32);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }

    fn number(&mut self, n: f64) {
        // Whole numbers representable as a 64-bit integer (the cast check is C's, so NaN
        // and 2^63 fail it) go out as integers.
        if !n.is_infinite() && c_f64_to_i64(n) as f64 == n {
            self.int(c_f64_to_i64(n));
        } else {
            self.double(n);
        }
    }

    /// Encodes `v`, found at nesting `level`, with `top` stack slots in use (counting `v`).
    fn value(&mut self, v: &Value, level: usize, top: usize) -> Outcome<()> {
        match v {
            Value::String(s) => self.bytes(&s.as_bytes()),
            Value::Boolean(b) => self.out.push(if *b { 0xc3 } else { 0xc2 }),
            Value::Integer(i) => self.number(*i as f64),
            Value::Number(n) => self.number(*n),
            Value::Table(t) if level < MAX_NESTING => self.table(t, level, top)?,
            _ => self.out.push(0xc0),
        }
        Ok(())
    }

    fn table(&mut self, t: &Table, level: usize, top: usize) -> Outcome<()> {
        if top + 2 > MAX_C_STACK {
            return Err(stack_overflow("in function table_is_an_array"));
        }
        if is_array(t)? {
            if top + 1 > MAX_C_STACK {
                return Err(stack_overflow("in function mp_encode_lua_table_as_array"));
            }
            let len = t.raw_len();
            self.container(len, 0x90);
            for j in 1..=len {
                let item: Value = t.raw_get(j)?;
                self.value(&item, level + 1, top + 1)?;
            }
        } else {
            if top + 3 > MAX_C_STACK {
                return Err(stack_overflow("in function mp_encode_lua_table_as_map"));
            }
            let mut len = 0;
            t.for_each(|_: Value, _: Value| {
                len += 1;
                Ok(())
            })?;
            self.container(len, 0x80);
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                // The C encoder holds the key, the value and a copy of the key.
                self.value(&k, level + 1, top + 3)?;
                self.value(&v, level + 1, top + 2)?;
            }
        }
        Ok(())
    }
}

/// Whether the keys of `t` are exactly 1..n: all whole numbers in 1..=i32::MAX, as many as
/// the largest of them.
fn is_array(t: &Table) -> mlua::Result<bool> {
    let mut count: i64 = 0;
    let mut max: i64 = 0;
    let mut array = true;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => {
                array = false;
                break;
            }
        };
        if n <= 0.0 || n.is_infinite() || n > i32::MAX as f64 || n.fract() != 0.0 {
            array = false;
            break;
        }
        max = max.max(n as i64);
        count += 1;
    }
    Ok(array && max == count)
}

/// `cmsgpack.pack(v1, v2, ...)`: the encodings of all arguments, concatenated.
fn pack(lua: &Lua, args: Args) -> Outcome<mlua::String> {
    let nargs = args.len();
    if nargs == 0 {
        return Err(arg_error(0, "MessagePack pack needs input."));
    }
    if nargs * 2 > MAX_C_STACK {
        return Err(arg_error(0, "Too many arguments for MessagePack pack."));
    }
    let mut enc = Encoder { out: Vec::new() };
    for i in 1..=nargs {
        // Each finished encoding stays on the C stack until the final concatenation.
        let top = nargs + i - 1;
        if top + 1 > MAX_C_STACK {
            return Err(stack_overflow("in function mp_check"));
        }
        let v = args.get(i)?.unwrap_or(Value::Nil);
        enc.value(&v, 0, top + 1)?;
    }
    Ok(lua.create_string(&enc.out)?)
}

// ------------------------------------ Decoding ------------------------------------

/// Why decoding stopped.
enum Stop {
    /// The input ended inside a value.
    Eof,
    /// A type byte the decoder does not know.
    BadFormat,
    /// An error raised on the Lua side (stack overflow, nil or NaN table key).
    Fail(Fail),
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Self {
        Stop::Fail(Fail::Lua(e))
    }
}

/// A container being filled.
enum Open {
    Array {
        t: Table,
        left: usize,
        next: i64,
    },
    Map {
        t: Table,
        left: usize,
        key: Option<Value>,
    },
}

/// What a type byte starts.
enum Item {
    Done(Value),
    Array(usize),
    Map(usize),
}

struct Decoder<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes, consumed.
    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        if self.left() < n {
            return Err(Stop::Eof);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Stop> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    fn string(&mut self, len: usize) -> Result<Item, Stop> {
        let s = self.take(len)?;
        Ok(Item::Done(Value::String(self.lua.create_string(s)?)))
    }

    /// Reads one type byte and what belongs to it (containers only their length).
    fn item(&mut self) -> Result<Item, Stop> {
        let num = |n: f64| Ok(Item::Done(Value::Number(n)));
        let tag = self.data[self.pos];
        // Each case needs its whole fixed part before consuming anything.
        let need = |d: &Self, n: usize| if d.left() < n { Err(Stop::Eof) } else { Ok(()) };
        match tag {
            0xcc => {
                need(self, 2)?;
                self.pos += 1;
                num(self.be(1)? as f64)
            }
            0xcd => {
                need(self, 3)?;
                self.pos += 1;
                num(self.be(2)? as f64)
            }
            0xce => {
                need(self, 5)?;
                self.pos += 1;
                num(self.be(4)? as f64)
            }
            // Lua receives unsigned 64-bit values as signed ones.
            0xcf => {
                need(self, 9)?;
                self.pos += 1;
                num(self.be(8)? as i64 as f64)
            }
            0xd0 => {
                need(self, 2)?;
                self.pos += 1;
                num(self.be(1)? as u8 as i8 as f64)
            }
            0xd1 => {
                need(self, 3)?;
                self.pos += 1;
                num(self.be(2)? as u16 as i16 as f64)
            }
            0xd2 => {
                need(self, 5)?;
                self.pos += 1;
                num(self.be(4)? as u32 as i32 as f64)
            }
            0xd3 => {
                need(self, 9)?;
                self.pos += 1;
                num(self.be(8)? as i64 as f64)
            }
            0xc0 => {
                self.pos += 1;
                Ok(Item::Done(Value::Nil))
            }
            0xc2 | 0xc3 => {
                self.pos += 1;
                Ok(Item::Done(Value::Boolean(tag == 0xc3)))
            }
            0xca => {
                need(self, 5)?;
                self.pos += 1;
                num(f32::from_bits(self.be(4)? as u32) as f64)
            }
            0xcb => {
                need(self, 9)?;
                self.pos += 1;
                num(f64::from_bits(self.be(8)?))
            }
            0xd9 => {
                need(self, 2)?;
                let len = self.data[self.pos + 1] as usize;
                need(self, 2 + len)?;
                self.pos += 2;
                self.string(len)
            }
            0xda => {
                need(self, 3)?;
                let len = u16::from_be_bytes([self.data[self.pos + 1], self.data[self.pos + 2]]);
                need(self, 3 + len as usize)?;
                self.pos += 3;
                self.string(len as usize)
            }
            // str32, array16, array32, map16, map32: a big-endian length, then the contents.
            0xdb..=0xdf => {
                let width = if matches!(tag, 0xdc | 0xde) { 2 } else { 4 };
                need(self, 1 + width)?;
                self.pos += 1;
                let len = self.be(width)? as usize;
                match tag {
                    0xdb => self.string(len),
                    0xdc | 0xdd => Ok(Item::Array(len)),
                    _ => Ok(Item::Map(len)),
                }
            }
            _ if tag & 0x80 == 0 => {
                self.pos += 1;
                num(tag as f64)
            }
            _ if tag & 0xe0 == 0xe0 => {
                self.pos += 1;
                num(tag as i8 as f64)
            }
            _ if tag & 0xe0 == 0xa0 => {
                let len = (tag & 0x1f) as usize;
                need(self, 1 + len)?;
                self.pos += 1;
                self.string(len)
            }
            _ if tag & 0xf0 == 0x90 => {
                self.pos += 1;
                Ok(Item::Array((tag & 0x0f) as usize))
            }
            _ if tag & 0xf0 == 0x80 => {
                self.pos += 1;
                Ok(Item::Map((tag & 0x0f) as usize))
            }
            _ => Err(Stop::BadFormat),
        }
    }

    /// Decodes one top-level value with `base` stack slots already in use. Nesting is kept
    /// on a heap stack (inputs may nest thousands deep); `top` mirrors the C decoder's stack
    /// use, which is what bounds that depth.
    fn value(&mut self, base: usize) -> Result<Value, Stop> {
        let mut open: Vec<Open> = Vec::new();
        let mut top = base;
        loop {
            if self.left() < 1 {
                return Err(Stop::Eof);
            }
            if top + 1 > MAX_C_STACK {
                return Err(Stop::Fail(stack_overflow(
                    "too many return values at once; use unpack_one or unpack_limit instead.",
                )));
            }
            let mut done = match self.item()? {
                Item::Done(v) => v,
                Item::Array(len) => {
                    let t = self.lua.create_table()?;
                    if top + 2 > MAX_C_STACK {
                        return Err(Stop::Fail(stack_overflow(
                            "in function mp_decode_to_lua_array",
                        )));
                    }
                    if len > 0 {
                        // The table and the pending index.
                        top += 2;
                        open.push(Open::Array {
                            t,
                            left: len,
                            next: 1,
                        });
                        continue;
                    }
                    Value::Table(t)
                }
                Item::Map(len) => {
                    let t = self.lua.create_table()?;
                    if len > 0 {
                        top += 1;
                        open.push(Open::Map {
                            t,
                            left: len,
                            key: None,
                        });
                        continue;
                    }
                    Value::Table(t)
                }
            };
            // Hand the finished value to its container, closing every container it fills.
            loop {
                match open.last_mut() {
                    None => return Ok(done),
                    Some(Open::Array { t, left, next }) => {
                        t.raw_set(*next, done)?;
                        *next += 1;
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        top -= 2;
                    }
                    Some(Open::Map { t, left, key }) => match key.take() {
                        None => {
                            *key = Some(done);
                            top += 1;
                            break;
                        }
                        Some(k) => {
                            // Lua's own errors from inside the C decoder: no position.
                            match k {
                                Value::Nil => {
                                    return Err(Stop::Fail(plain_error("table index is nil")))
                                }
                                Value::Number(n) if n.is_nan() => {
                                    return Err(Stop::Fail(plain_error("table index is NaN")))
                                }
                                _ => {}
                            }
                            t.raw_set(k, done)?;
                            top -= 1;
                            *left -= 1;
                            if *left > 0 {
                                break;
                            }
                            top -= 1;
                        }
                    },
                }
                done = match open.pop() {
                    Some(Open::Array { t, .. } | Open::Map { t, .. }) => Value::Table(t),
                    None => unreachable!("a container was just closed"),
                };
            }
        }
    }
}

/// Decodes from byte `offset` of argument 1: everything (`limit` and `offset` both 0), or
/// up to `limit` values preceded by the offset to continue from (-1 at the end).
fn unpack_full(lua: &Lua, args: &Args, nargs: usize, limit: i64, offset: i64) -> Outcome<Results> {
    let s = args.check_string(lua, 1)?;
    let data = s.as_bytes();
    let len = data.len();
    let all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // The C library prints the input length where it announces the limit.
        return Err(error(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    if offset as u64 > len as u64 {
        return Err(error(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    }
    let limit = if all { i32::MAX as i64 } else { limit };
    let mut dec = Decoder {
        lua,
        data: &data,
        pos: offset as usize,
    };
    let hint = if all {
        4
    } else {
        (limit as usize).saturating_add(1)
    };
    let mut out = Results::new(lua, hint)?;
    if !all {
        // The first result is the offset to continue from, known once decoding is over.
        out.push(Value::Nil)?;
    }
    let mut count: usize = 0;
    while dec.left() > 0 && (count as i64) < limit {
        match dec.value(nargs + count) {
            Ok(v) => out.push(v)?,
            Err(Stop::Eof) => return Err(error("Missing bytes in input.")),
            Err(Stop::BadFormat) => return Err(error("Bad data format in input.")),
            Err(Stop::Fail(e)) => return Err(e),
        }
        count += 1;
    }
    if !all {
        if nargs + count + 1 > MAX_C_STACK {
            return Err(stack_overflow("in function mp_unpack_full"));
        }
        let next = if dec.left() == 0 { -1 } else { dec.pos as i64 };
        out.set(1, next as f64)?;
    }
    Ok(out)
}

/// `cmsgpack.unpack(s)`: every value in `s`.
fn unpack(lua: &Lua, args: Args) -> Outcome<Results> {
    unpack_full(lua, &args, args.len(), 0, 0)
}

/// `cmsgpack.unpack_one(s [, offset])`: the offset to continue from and one value.
fn unpack_one(lua: &Lua, args: Args) -> Outcome<Results> {
    let offset = args.opt_integer(lua, 2, 0)?;
    unpack_full(lua, &args, args.len().min(1), 1, offset)
}

/// `cmsgpack.unpack_limit(s, limit [, offset])`: the offset to continue from and up to
/// `limit` values.
fn unpack_limit(lua: &Lua, args: Args) -> Outcome<Results> {
    let limit = args.check_integer(lua, 2)?;
    let offset = args.opt_integer(lua, 3, 0)?;
    unpack_full(lua, &args, args.len().min(1), limit, offset)
}

/// Builds the `cmsgpack` table.
pub fn open(lua: &Lua, glue: &Glue) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", glue.function(lua, pack)?)?;
    t.raw_set("unpack", glue.many_results(lua, unpack)?)?;
    t.raw_set("unpack_one", glue.many_results(lua, unpack_one)?)?;
    t.raw_set("unpack_limit", glue.many_results(lua, unpack_limit)?)?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::super::glue::testing::{error_of, lua_with};
    use super::*;

    fn lua() -> Lua {
        lua_with(&[("cmsgpack", open)])
    }

    fn hex(lua: &Lua, code: &str) -> String {
        let s: mlua::String = lua.load(code).eval().unwrap();
        s.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn eval<T: mlua::FromLuaMulti>(lua: &Lua, code: &str) -> T {
        lua.load(code).eval().unwrap()
    }

    #[test]
    fn integers_take_the_smallest_encoding() {
        let lua = lua();
        let cases = [
            ("0", "00"),
            ("127", "7f"),
            ("128", "cc80"),
            ("256", "cd0100"),
            ("65536", "ce00010000"),
            ("2^32", "cf0000000100000000"),
            ("-1", "ff"),
            ("-32", "e0"),
            ("-33", "d0df"),
            ("-129", "d1ff7f"),
            ("-32769", "d2ffff7fff"),
            ("-1099511627776", "d3ffffff0000000000"),
        ];
        for (lua_value, expected) in cases {
            assert_eq!(
                hex(&lua, &format!("return cmsgpack.pack({lua_value})")),
                expected,
                "{lua_value}"
            );
        }
    }

    #[test]
    fn fractions_are_float32_when_exact_and_float64_otherwise() {
        let lua = lua();
        assert_eq!(hex(&lua, "return cmsgpack.pack(0.1)"), "cb3fb999999999999a");
        assert_eq!(hex(&lua, "return cmsgpack.pack(1.5)"), "ca3fc00000");
        assert_eq!(hex(&lua, "return cmsgpack.pack(1/0)"), "ca7f800000");
        assert_eq!(hex(&lua, "return cmsgpack.pack(2^63)"), "ca5f000000");
        assert_eq!(
            hex(&lua, "return cmsgpack.pack(-2^63)"),
            "d38000000000000000"
        );
    }

    #[test]
    fn strings_use_fixstr_str8_str16_and_str32() {
        let lua = lua();
        assert_eq!(hex(&lua, "return cmsgpack.pack('abc')"), "a3616263");
        assert_eq!(
            hex(&lua, "return cmsgpack.pack(string.rep('x', 32)):sub(1, 2)"),
            "d920"
        );
        assert_eq!(
            hex(&lua, "return cmsgpack.pack(string.rep('x', 256)):sub(1, 3)"),
            "da0100"
        );
        assert_eq!(
            hex(
                &lua,
                "return cmsgpack.pack(string.rep('x', 65536)):sub(1, 5)"
            ),
            "db00010000"
        );
    }

    #[test]
    fn tables_with_keys_one_to_n_are_arrays_and_others_maps() {
        let lua = lua();
        assert_eq!(hex(&lua, "return cmsgpack.pack({1, 2, 3})"), "93010203");
        assert_eq!(hex(&lua, "return cmsgpack.pack({})"), "90");
        assert_eq!(hex(&lua, "return cmsgpack.pack({[2] = 5})"), "810205");
        assert_eq!(hex(&lua, "return cmsgpack.pack({a = true})"), "81a161c3");
        assert_eq!(
            hex(
                &lua,
                "local t = {} for i = 1, 16 do t[i] = 0 end return cmsgpack.pack(t)"
            ),
            "dc001000000000000000000000000000000000"
        );
    }

    #[test]
    fn other_values_are_nil_and_arguments_concatenate() {
        let lua = lua();
        assert_eq!(
            hex(&lua, "return cmsgpack.pack(nil, false, print, 'a')"),
            "c0c2c0a161"
        );
    }

    #[test]
    fn nesting_stops_at_sixteen_levels_with_nil() {
        let lua = lua();
        let expected = format!("{}c0", "91".repeat(16));
        assert_eq!(
            hex(&lua, "local t = {} t[1] = t return cmsgpack.pack(t)"),
            expected
        );
    }

    #[test]
    fn circular_references_encode_to_depth_sixteen() {
        // The upstream test's expected bytes: the map order is Lua's `next` order.
        let lua = lua();
        let got = hex(
            &lua,
            "local a = {x=nil,y=5} local b = {x=a} a['x'] = b return cmsgpack.pack(a)",
        );
        assert_eq!(
            got,
            "82a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905\
             a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a178c0"
        );
    }

    #[test]
    fn unpack_decodes_every_value() {
        let lua = lua();
        let (a, b, c, d): (f64, String, bool, Option<f64>) = eval(
            &lua,
            "return cmsgpack.unpack(cmsgpack.pack(-5, 'hi', true, nil))",
        );
        assert_eq!((a, b.as_str(), c, d), (-5.0, "hi", true, None));
        let n: f64 = eval(
            &lua,
            "return cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')",
        );
        assert_eq!(n, -1.0, "uint64 comes back through a signed integer");
        let n: f64 = eval(&lua, "return cmsgpack.unpack('\\202\\63\\192\\0\\0')");
        assert_eq!(n, 1.5);
        let s: String = eval(
            &lua,
            "local t = cmsgpack.unpack(cmsgpack.pack({a = {1, 2, {b = 'c'}}})) return t.a[3].b",
        );
        assert_eq!(s, "c");
        let n: usize = eval(&lua, "return select('#', cmsgpack.unpack(''))");
        assert_eq!(n, 0);
    }

    #[test]
    fn unpack_one_and_unpack_limit_return_the_next_offset_first() {
        let lua = lua();
        let (off, v): (i64, f64) = eval(&lua, "return cmsgpack.unpack_one(cmsgpack.pack(1, 2))");
        assert_eq!((off, v), (1, 1.0));
        let (off, v): (i64, f64) = eval(&lua, "return cmsgpack.unpack_one(cmsgpack.pack(1, 2), 1)");
        assert_eq!((off, v), (-1, 2.0));
        let (off, a, b): (i64, f64, f64) = eval(
            &lua,
            "return cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)",
        );
        assert_eq!((off, a, b), (2, 1.0, 2.0));
        let n: usize = eval(
            &lua,
            "return select('#', cmsgpack.unpack_limit('\\1\\2', 0, 1))",
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn errors_use_the_c_library_texts() {
        let lua = lua();
        assert_eq!(
            error_of(&lua, "cmsgpack.pack()"),
            "t:1: bad argument #0 to 'pack' (MessagePack pack needs input.)"
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack('\\205\\1')"),
            "t:1: Missing bytes in input."
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack('\\196\\1a')"),
            "t:1: Bad data format in input."
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack('\\129\\192\\1')"),
            "table index is nil"
        );
        assert_eq!(
            error_of(
                &lua,
                "cmsgpack.unpack('\\129\\203\\127\\248\\0\\0\\0\\0\\0\\1\\1')"
            ),
            "table index is NaN"
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack_one('abc', -1)"),
            "t:1: Invalid request to unpack with offset of -1 and limit of 3."
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack_one('abc', 4)"),
            "t:1: Start offset 4 greater than input length 3."
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack_limit('abc')"),
            "t:1: bad argument #2 to 'unpack_limit' (number expected, got no value)"
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack()"),
            "t:1: bad argument #1 to 'unpack' (string expected, got no value)"
        );
    }

    #[test]
    fn deep_or_long_inputs_fail_as_lua_stack_overflows() {
        let lua = lua();
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack(string.rep('\\1', 8000))"),
            "t:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"
        );
        // With its one argument, 7999 values fill the C stack.
        let n: usize = eval(
            &lua,
            "return select('#', cmsgpack.unpack(string.rep('\\161a', 7999)))",
        );
        assert_eq!(n, 7999);
        let n: usize = eval(
            &lua,
            "return select('#', cmsgpack.unpack_limit(string.rep('\\1', 8000), 7998))",
        );
        assert_eq!(n, 7999);
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack(string.rep('\\1', 7999), 'x')"),
            "t:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"
        );
        // Each open array holds two stack slots: 3999 levels fit, 4000 do not.
        let v: f64 = eval(
            &lua,
            "local t = cmsgpack.unpack(string.rep('\\145', 3999) .. '\\7') \
             for i = 1, 3999 do t = t[1] end return t",
        );
        assert_eq!(v, 7.0);
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack(string.rep('\\145', 4000) .. '\\1')"),
            "t:1: stack overflow (in function mp_decode_to_lua_array)"
        );
        assert_eq!(
            error_of(&lua, "cmsgpack.unpack(string.rep('\\145\\129', 2666) .. '\\1\\1')"),
            "t:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"
        );
    }

    /// Thousands of arguments (more than mlua has handles for) reach the functions one by
    /// one, as on Redis: each takes a C stack slot, and so does each encoding.
    #[test]
    fn takes_thousands_of_arguments() {
        let lua = lua();
        let code = "local t = {} for i = 1, 4000 do t[i] = 'v' .. i end \
                    local s = cmsgpack.pack(unpack(t)) \
                    local u = {cmsgpack.unpack(s)} return #s, #u, u[4000]";
        let (len, n, last): (usize, usize, String) = eval(&lua, code);
        // Strings of 2 to 5 bytes, each with a one-byte header.
        let len_expected = 9 * 3 + 90 * 4 + 900 * 5 + 3001 * 6;
        assert_eq!((len, n, last.as_str()), (len_expected, 4000, "v4000"));
        let code = "local t = {} for i = 1, 7999 do t[i] = 'v' end return cmsgpack.pack(unpack(t))";
        assert_eq!(
            error_of(&lua, code),
            "t:1: bad argument #0 to 'pack' (Too many arguments for MessagePack pack.)"
        );
        let code = "local t = {'\\1\\2'} for i = 2, 7999 do t[i] = 'x' end \
                    return cmsgpack.unpack(unpack(t))";
        assert_eq!(
            error_of(&lua, code),
            "t:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"
        );
        let code = "local t = {'\\1\\2', 1} for i = 3, 7999 do t[i] = 'x' end \
                    return cmsgpack.unpack_one(unpack(t))";
        let (off, v): (i64, f64) = eval(&lua, code);
        assert_eq!((off, v), (-1, 2.0));
    }
}
