//! The `struct` library scripts get on Redis (Roberto Ierusalimschy's struct 1.7, as Redis
//! bundles it): converting between Lua values and C-style binary records described by a
//! format string. Redis scripts use it to read and write packed binary values stored in keys,
//! so the byte layouts, the alignment rules and the error texts follow the x86-64 build of
//! the C library: `long` and `size_t` are 8 bytes, `int` 4, native order little endian, and
//! at most 8 bytes of alignment.
//!
//! Format language: `>`/`<` switch to big/little endian, `![n]` sets the maximum alignment
//! (8 without `n`), spaces are ignored; `b B h H l L T i[n] I[n]` are integers (lowercase
//! signed; `i`/`I` take a size up to 32 bytes), `f`/`d` float and double, `x` a zero byte,
//! `s` a zero-terminated string, `c[n]` `n` raw bytes (`c0`: the whole string when packing,
//! a length read just before when unpacking).
//!
//! The functions reach scripts through `glue`, which raises their failures as the C library
//! raises them and passes thousands of arguments and results.

use mlua::{Lua, Table};

use super::glue::{
    arg_error, c_f64_to_i64, c_f64_to_u64, error, to_number, Args, Glue, Outcome, Results,
    MAX_C_STACK,
};

/// Largest integer size `i`/`I` accept, in bytes.
const MAX_INT_SIZE: i32 = 32;

/// Alignment `!` means without a number (a double's alignment on x86-64).
const MAX_ALIGN: i32 = 8;

/// Byte order and alignment in force at a point of the format.
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            little: cfg!(target_endian = "little"),
            align: 1,
        }
    }
}

/// A format string being read; like the C library, it ends at the first zero byte.
struct Format<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Format<'a> {
    fn new(raw: &'a [u8]) -> Self {
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        Format {
            bytes: &raw[..end],
            pos: 0,
        }
    }

    fn next_option(&mut self) -> Option<u8> {
        let opt = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(opt)
    }

    /// The decimal number at the cursor, or `default` when there is none.
    fn number(&mut self, default: i32) -> Outcome<i32> {
        if !self.peek_digit() {
            return Ok(default);
        }
        let mut a: i32 = 0;
        while self.peek_digit() {
            let d = (self.bytes[self.pos] - b'0') as i32;
            if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
                return Err(error("integral size overflow"));
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a)
    }

    fn peek_digit(&self) -> bool {
        self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit)
    }

    /// The size in bytes of option `opt`, reading its count if it takes one; 0 for options
    /// that take no room (or whose size depends on the data).
    fn size(&mut self, opt: u8) -> Outcome<usize> {
        Ok(match opt {
            b'b' | b'B' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' => 8,
            b'f' => 4,
            b'd' => 8,
            b'x' => 1,
            b'c' => self.number(1)? as usize,
            b'i' | b'I' => {
                let size = self.number(4)?;
                if size > MAX_INT_SIZE {
                    return Err(error(format!(
                        "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                size as usize
            }
            _ => 0,
        })
    }

    /// The options that change the header (or are ignored); anything else is invalid.
    fn control(&mut self, opt: u8, h: &mut Header) -> Outcome<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if a <= 0 || a & (a - 1) != 0 {
                    return Err(error(format!("alignment {a} is not a power of 2")));
                }
                h.align = a as usize;
            }
            _ => {
                let shown = String::from_utf8_lossy(&[opt]).into_owned();
                return Err(arg_error(1, format!("invalid format option '{shown}'")));
            }
        }
        Ok(())
    }
}

/// Padding needed before an item of `size` bytes at offset `len`: items align to their own
/// size capped by the header's alignment; `c` items never align. (The arithmetic is the
/// C library's, which assumes power-of-two sizes; `i3` and the like get what it computes.)
fn padding(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & (size - 1)) & (size - 1)
}

fn is_integer_option(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

/// Puts `bytes` (in little-endian order) into `out` in the header's order.
fn put_ordered(out: &mut Vec<u8>, bytes: &[u8], little: bool) {
    if little {
        out.extend_from_slice(bytes);
    } else {
        out.extend(bytes.iter().rev());
    }
}

/// Reads `size` bytes stored in the header's order as little-endian bytes.
fn get_ordered<const N: usize>(data: &[u8], little: bool) -> [u8; N] {
    let mut b = [0u8; N];
    b.copy_from_slice(&data[..N]);
    if !little {
        b.reverse();
    }
    b
}

/// `struct.pack(fmt, v1, v2, ...)`.
fn pack(lua: &Lua, mut args: Args) -> Outcome<mlua::String> {
    let fmt = args.check_string(lua, 1)?;
    // The C function pushes a nil after its arguments before it starts writing: the first
    // missing value argument is reported as nil, not as absent.
    args.push_nil();
    let fmt_bytes = fmt.as_bytes();
    let mut fmt = Format::new(&fmt_bytes);
    let mut h = Header::default();
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    while let Some(opt) = fmt.next_option() {
        let mut size = fmt.size(opt)?;
        let pad = padding(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            _ if is_integer_option(opt) => {
                let n = args.check_number(lua, arg)?;
                arg += 1;
                // Negative values go through the signed cast, the rest through the
                // unsigned one; either way the result is a 64-bit pattern, zero-extended
                // for sizes beyond 8 bytes.
                let value = if n < 0.0 {
                    c_f64_to_i64(n) as u64
                } else {
                    c_f64_to_u64(n)
                };
                let mut bytes = [0u8; MAX_INT_SIZE as usize];
                bytes[..8].copy_from_slice(&value.to_le_bytes());
                put_ordered(&mut out, &bytes[..size], h.little);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = args.check_number(lua, arg)? as f32;
                arg += 1;
                put_ordered(&mut out, &f.to_le_bytes(), h.little);
            }
            b'd' => {
                let d = args.check_number(lua, arg)?;
                arg += 1;
                put_ordered(&mut out, &d.to_le_bytes(), h.little);
            }
            b'c' | b's' => {
                let s = args.check_string(lua, arg)?;
                arg += 1;
                let s = s.as_bytes();
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // The C library reports the argument after the string here.
                    return Err(arg_error(arg, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => fmt.control(opt, &mut h)?,
        }
    }
    Ok(lua.create_string(&out)?)
}

/// An integer of `size` bytes at the start of `data`: the last 8 significant bytes count,
/// and signed values extend their sign bit (from where the C library's shift puts it).
fn get_integer(data: &[u8], little: bool, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    let mut push = |b: u8| l = (l << 8) | b as u64;
    if little {
        data[..size].iter().rev().for_each(|&b| push(b));
    } else {
        data[..size].iter().for_each(|&b| push(b));
    }
    if !signed {
        return l as f64;
    }
    // The C library shifts by size*8-1 without bounding it; x86 uses the count modulo 64.
    let mask = u64::MAX.wrapping_shl((size as u32).wrapping_mul(8).wrapping_sub(1));
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// `struct.unpack(fmt, data [, start])`: the values, then the position after the last
/// byte read.
fn unpack(lua: &Lua, args: Args) -> Outcome<Results> {
    let fmt = args.check_string(lua, 1)?;
    let data = args.check_string(lua, 2)?;
    // Positions are C's size_t: a negative start wraps to a huge one and then fails as
    // "data string too short".
    let start = args.opt_integer(lua, 3, 1)? as u64 as usize;
    if start == 0 {
        return Err(arg_error(3, "offset must be 1 or greater"));
    }
    let fmt_bytes = fmt.as_bytes();
    let data = data.as_bytes();
    let ld = data.len();
    let mut fmt = Format::new(&fmt_bytes);
    let mut h = Header::default();
    let mut pos = start - 1;
    // At most one value per option, plus the position.
    let mut out = Results::new(lua, fmt_bytes.len() + 1)?;
    let fits = |pos: usize, size: usize| size <= ld && pos <= ld - size;
    while let Some(opt) = fmt.next_option() {
        let mut size = fmt.size(opt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if !fits(pos, size) {
            return Err(arg_error(2, "data string too short"));
        }
        // Room for this item and the final position on a C function's stack.
        if args.len() + out.len() + 2 > MAX_C_STACK {
            return Err(error("stack overflow (too many results)"));
        }
        match opt {
            _ if is_integer_option(opt) => {
                let signed = opt.is_ascii_lowercase();
                out.push(get_integer(&data[pos..], h.little, signed, size))?;
            }
            b'x' => {}
            b'f' => {
                let f = f32::from_le_bytes(get_ordered(&data[pos..], h.little));
                out.push(f as f64)?;
            }
            b'd' => out.push(f64::from_le_bytes(get_ordered(&data[pos..], h.little)))?,
            b'c' => {
                if size == 0 {
                    let Some(n) = to_number(lua, out.last()?.as_ref())? else {
                        return Err(error("format 'c0' needs a previous size"));
                    };
                    size = c_f64_to_u64(n) as usize;
                    out.pop()?;
                    if !fits(pos, size) {
                        return Err(arg_error(2, "data string too short"));
                    }
                }
                out.push(lua.create_string(&data[pos..pos + size])?)?;
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(error("unfinished string in data"));
                };
                out.push(lua.create_string(&data[pos..pos + len])?)?;
                size = len + 1;
            }
            _ => fmt.control(opt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    out.push(pos.wrapping_add(1) as i64 as f64)?;
    Ok(out)
}

/// `struct.size(fmt)`: the bytes `pack` would produce for a format of fixed size.
fn size(lua: &Lua, args: Args) -> Outcome<f64> {
    let fmt = args.check_string(lua, 1)?;
    let fmt_bytes = fmt.as_bytes();
    let mut fmt = Format::new(&fmt_bytes);
    let mut h = Header::default();
    let mut pos: usize = 0;
    while let Some(opt) = fmt.next_option() {
        let size = fmt.size(opt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if opt == b's' {
            return Err(arg_error(1, "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(1, "option 'c0' has no fixed size"));
        }
        // Letters and digits the format does not know count as nothing here.
        if !opt.is_ascii_alphanumeric() {
            fmt.control(opt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(pos as i64 as f64)
}

/// Builds the `struct` table.
pub fn open(lua: &Lua, glue: &Glue) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", glue.function(lua, pack)?)?;
    t.raw_set("unpack", glue.many_results(lua, unpack)?)?;
    t.raw_set("size", glue.function(lua, size)?)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::super::glue::testing::{error_of, lua_with};
    use super::*;

    fn lua() -> Lua {
        lua_with(&[("struct", open)])
    }

    fn bytes(lua: &Lua, code: &str) -> Vec<u8> {
        lua.load(code)
            .eval::<mlua::String>()
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    fn eval<T: mlua::FromLuaMulti>(lua: &Lua, code: &str) -> T {
        lua.load(code).eval().unwrap()
    }

    #[test]
    fn pack_integers_in_both_byte_orders() {
        let lua = lua();
        assert_eq!(bytes(&lua, "return struct.pack('>I2', 258)"), [1, 2]);
        assert_eq!(bytes(&lua, "return struct.pack('<I2', 258)"), [2, 1]);
        assert_eq!(
            bytes(&lua, "return struct.pack('>i', -2)"),
            [0xff, 0xff, 0xff, 0xfe]
        );
        assert_eq!(bytes(&lua, "return struct.pack('b', -1)"), [0xff]);
        assert_eq!(
            bytes(&lua, "return struct.pack('<l', 1)"),
            [1, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(bytes(&lua, "return struct.pack('>i3', 0x10203)"), [1, 2, 3]);
    }

    #[test]
    fn integers_wider_than_eight_bytes_are_zero_or_sign_filled() {
        let lua = lua();
        let mut expected = vec![0u8; 10];
        expected[9] = 5;
        assert_eq!(bytes(&lua, "return struct.pack('>I10', 5)"), expected);
        assert_eq!(
            eval::<f64>(&lua, "return struct.unpack('>I10', struct.pack('>I10', 5))"),
            5.0
        );
    }

    #[test]
    fn pack_floats_strings_and_padding() {
        let lua = lua();
        assert_eq!(
            bytes(&lua, "return struct.pack('>f', 1.5)"),
            [0x3f, 0xc0, 0, 0]
        );
        assert_eq!(
            bytes(&lua, "return struct.pack('>d', 0.1)"),
            [0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]
        );
        assert_eq!(bytes(&lua, "return struct.pack('s', 'ab')"), b"ab\0");
        assert_eq!(bytes(&lua, "return struct.pack('c0', 'abc')"), b"abc");
        assert_eq!(bytes(&lua, "return struct.pack('c2', 'abc')"), b"ab");
        assert_eq!(bytes(&lua, "return struct.pack('bxb', 1, 2)"), [1, 0, 2]);
    }

    #[test]
    fn alignment_pads_to_the_item_size_capped_by_the_maximum() {
        let lua = lua();
        assert_eq!(
            bytes(&lua, "return struct.pack('!4 b i', 1, 2)"),
            [1, 0, 0, 0, 2, 0, 0, 0]
        );
        assert_eq!(
            bytes(&lua, "return struct.pack('!2 b i', 1, 2)"),
            [1, 0, 2, 0, 0, 0]
        );
        assert_eq!(
            bytes(&lua, "return struct.pack('b i', 1, 2)"),
            [1, 2, 0, 0, 0]
        );
        assert_eq!(eval::<f64>(&lua, "return struct.size('!bd')"), 16.0);
        assert_eq!(eval::<f64>(&lua, "return struct.size('!4 b c3 h')"), 6.0);
    }

    #[test]
    fn unpack_round_trips_and_returns_the_next_position() {
        let lua = lua();
        let (a, b, s, d, next): (f64, f64, String, f64, f64) = eval(
            &lua,
            "return struct.unpack('>hBsd', struct.pack('>hBsd', -300, 200, 'hi', 2.25))",
        );
        assert_eq!(
            (a, b, s.as_str(), d, next),
            (-300.0, 200.0, "hi", 2.25, 15.0)
        );
        let (x, next): (f64, f64) = eval(&lua, "return struct.unpack('b', 'abc', 3)");
        assert_eq!((x, next), (99.0, 4.0));
    }

    #[test]
    fn unpack_c0_takes_its_length_from_the_previous_value() {
        let lua = lua();
        let (s, next): (String, f64) = eval(&lua, "return struct.unpack('bc0', '\\3abcd')");
        assert_eq!((s.as_str(), next), ("abc", 5.0));
        assert_eq!(
            error_of(&lua, "struct.unpack('c0', 'abc')"),
            "t:1: format 'c0' needs a previous size"
        );
    }

    #[test]
    fn size_sums_fixed_items() {
        let lua = lua();
        assert_eq!(eval::<f64>(&lua, "return struct.size('>iLhbc5')"), 20.0);
        assert_eq!(eval::<f64>(&lua, "return struct.size('I16')"), 16.0);
        assert_eq!(
            error_of(&lua, "struct.size('s')"),
            "t:1: bad argument #1 to 'size' (option 's' has no fixed size)"
        );
        assert_eq!(
            error_of(&lua, "struct.size('c0')"),
            "t:1: bad argument #1 to 'size' (option 'c0' has no fixed size)"
        );
    }

    #[test]
    fn errors_use_the_c_library_texts() {
        let lua = lua();
        assert_eq!(
            error_of(&lua, "struct.pack('i33', 1)"),
            "t:1: integral size 33 is larger than limit of 32"
        );
        assert_eq!(
            error_of(&lua, "struct.pack('n', 1)"),
            "t:1: bad argument #1 to 'pack' (invalid format option 'n')"
        );
        assert_eq!(
            error_of(&lua, "struct.pack('!3')"),
            "t:1: alignment 3 is not a power of 2"
        );
        assert_eq!(
            error_of(&lua, "struct.pack('i99999999999', 1)"),
            "t:1: integral size overflow"
        );
        assert_eq!(
            error_of(&lua, "struct.unpack('i', 'abc')"),
            "t:1: bad argument #2 to 'unpack' (data string too short)"
        );
        assert_eq!(
            error_of(&lua, "struct.unpack('b', 'abc', 0)"),
            "t:1: bad argument #3 to 'unpack' (offset must be 1 or greater)"
        );
        assert_eq!(
            error_of(&lua, "struct.unpack('b', 'abc', -1)"),
            "t:1: bad argument #2 to 'unpack' (data string too short)"
        );
        assert_eq!(
            error_of(&lua, "struct.unpack('s', 'abc')"),
            "t:1: unfinished string in data"
        );
        assert_eq!(
            error_of(&lua, "struct.pack('c3', 'ab')"),
            "t:1: bad argument #3 to 'pack' (string too short)"
        );
        assert_eq!(
            error_of(&lua, "struct.pack('i')"),
            "t:1: bad argument #2 to 'pack' (number expected, got nil)"
        );
    }

    #[test]
    fn unpack_with_too_many_results_overflows_the_stack() {
        let lua = lua();
        assert_eq!(
            error_of(
                &lua,
                "struct.unpack(string.rep('b', 8000), string.rep('a', 8000))"
            ),
            "t:1: stack overflow (too many results)"
        );
        // With its two arguments, 7997 values and the position fill the C stack.
        let n: usize = eval(
            &lua,
            "return select('#', struct.unpack(string.rep('c1', 7997), string.rep('a', 7997)))",
        );
        assert_eq!(n, 7998);
        assert_eq!(
            error_of(
                &lua,
                "struct.unpack(string.rep('b', 7998), string.rep('a', 7998))"
            ),
            "t:1: stack overflow (too many results)"
        );
    }

    /// Thousands of arguments (more than mlua has handles for) reach the function one by
    /// one, as on Redis.
    #[test]
    fn pack_takes_thousands_of_arguments() {
        let lua = lua();
        let code = "local t = {string.rep('B', 7998)} \
                    for i = 2, 7999 do t[i] = tostring(i % 256) end \
                    local s = struct.pack(unpack(t)) return #s, s:byte(1), s:byte(7998)";
        let (len, first, last): (usize, u8, u8) = eval(&lua, code);
        assert_eq!((len, first, last), (7998, 2, (7999 % 256) as u8));
        let code = "local t = {string.rep('c1', 7998)} \
                    for i = 2, 7999 do t[i] = 'x' end t[7999] = {} \
                    return struct.pack(unpack(t))";
        assert_eq!(
            error_of(&lua, code),
            "t:1: bad argument #7999 to 'pack' (string expected, got table)"
        );
    }
}
