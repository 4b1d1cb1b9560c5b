//! The `bit` library scripts get on Redis (LuaBitOp 1.0.2): bitwise operations on 32-bit
//! integers for a Lua whose only number type is a double. Every argument goes through the
//! same conversion LuaBitOp makes: the double is rounded to an integer and wrapped to its low
//! 32 bits, and every result comes back as a signed 32-bit value. Scripts call these in tight
//! loops, so they are `glue`'s numeric functions, which read their arguments off the Lua
//! stack as LuaBitOp does.

use mlua::{Lua, Table};

use super::glue::{Glue, NumberFn, NumberOutcome, NumberResult, Numbers};

/// Converts argument `idx` (1-based) the LuaBitOp way: numbers, and strings Lua reads as
/// numbers (`lua_tonumber`); anything else is a type error.
fn bit_arg(args: &Numbers, idx: usize) -> NumberOutcome<u32> {
    args.check_number(idx).map(to_bits)
}

/// The low 32 bits of `n` rounded to an integer, as LuaBitOp reads them: adding 2^52 + 2^51
/// moves the integer part into the low bits of the mantissa (rounding half to even, and
/// wrapping modulo 2^32 for any magnitude below 2^51).
fn to_bits(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

/// A result as scripts see it: the bits read as a signed 32-bit integer.
fn ret(b: u32) -> NumberOutcome<NumberResult> {
    Ok(NumberResult::Number(b as i32 as f64))
}

/// `tobit`, `bnot` and `bswap`: one argument.
fn unary(args: &Numbers, op: fn(u32) -> u32) -> NumberOutcome<NumberResult> {
    ret(op(bit_arg(args, 1)?))
}

/// `band`, `bor` and `bxor`: the first argument, then the rest folded in from the last one
/// backwards (which decides which bad argument gets reported).
fn fold(args: &Numbers, op: fn(u32, u32) -> u32) -> NumberOutcome<NumberResult> {
    let mut b = bit_arg(args, 1)?;
    for idx in (2..=args.len()).rev() {
        b = op(b, bit_arg(args, idx)?);
    }
    ret(b)
}

/// Shifts and rotations: the value, then the count, of which only the low 5 bits count.
fn shift(args: &Numbers, op: fn(u32, u32) -> u32) -> NumberOutcome<NumberResult> {
    let b = bit_arg(args, 1)?;
    let n = bit_arg(args, 2)? & 31;
    ret(op(b, n))
}

/// `tohex(x [, n])`: the low `|n|` hex digits of `x` (at most 8, 8 when absent), uppercase
/// when `n` is negative.
fn tohex(args: &Numbers) -> NumberOutcome<NumberResult> {
    let mut b = bit_arg(args, 1)?;
    let mut n = if args.len() < 2 {
        8
    } else {
        bit_arg(args, 2)? as i32
    };
    let digits: &[u8; 16] = if n < 0 {
        n = n.wrapping_neg();
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    // -2^31 has no positive counterpart; Redis' build treats it as more than 8 digits.
    let n = if n < 0 { 8 } else { n.min(8) as usize };
    let mut buf = [0u8; 8];
    for slot in buf[..n].iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(NumberResult::Text(buf, n))
}

/// Builds the `bit` table.
pub fn open(lua: &Lua, glue: &Glue) -> mlua::Result<Table> {
    let functions: [(&str, NumberFn); 12] = [
        ("tobit", |a| unary(a, |b| b)),
        ("bnot", |a| unary(a, |b| !b)),
        ("band", |a| fold(a, |x, y| x & y)),
        ("bor", |a| fold(a, |x, y| x | y)),
        ("bxor", |a| fold(a, |x, y| x ^ y)),
        ("lshift", |a| shift(a, |b, n| b << n)),
        ("rshift", |a| shift(a, |b, n| b >> n)),
        ("arshift", |a| shift(a, |b, n| ((b as i32) >> n) as u32)),
        ("rol", |a| shift(a, u32::rotate_left)),
        ("ror", |a| shift(a, u32::rotate_right)),
        ("bswap", |a| unary(a, u32::swap_bytes)),
        ("tohex", tohex),
    ];
    let t = lua.create_table()?;
    for (name, f) in functions {
        t.raw_set(name, glue.numeric(lua, f)?)?;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::super::glue::testing::{error_of, lua_with};
    use super::*;

    fn lua() -> Lua {
        lua_with(&[("bit", open)])
    }

    fn eval<T: mlua::FromLuaMulti>(lua: &Lua, code: &str) -> T {
        lua.load(code).eval().unwrap()
    }

    #[test]
    fn tohex_defaults_to_eight_lowercase_digits() {
        let lua = lua();
        assert_eq!(eval::<String>(&lua, "return bit.tohex(65535)"), "0000ffff");
        assert_eq!(eval::<String>(&lua, "return bit.tohex(-1)"), "ffffffff");
    }

    #[test]
    fn tohex_digit_count_negative_means_uppercase_and_caps_at_eight() {
        let lua = lua();
        assert_eq!(eval::<String>(&lua, "return bit.tohex(-1, -4)"), "FFFF");
        assert_eq!(
            eval::<String>(&lua, "return bit.tohex(0x1234abcd, 2)"),
            "cd"
        );
        assert_eq!(
            eval::<String>(&lua, "return bit.tohex(0x1234abcd, 20)"),
            "1234abcd"
        );
        assert_eq!(eval::<String>(&lua, "return bit.tohex(0x1234abcd, 0)"), "");
        assert_eq!(
            eval::<String>(&lua, "return bit.tohex(0x1234abcd, -12)"),
            "1234ABCD"
        );
        assert_eq!(
            eval::<String>(&lua, "return bit.tohex(0xabcdef, -2^31)"),
            "00ABCDEF"
        );
    }

    #[test]
    fn tobit_wraps_to_signed_32_bits_and_rounds_half_to_even() {
        let lua = lua();
        assert_eq!(eval::<f64>(&lua, "return bit.tobit(0xffffffff)"), -1.0);
        assert_eq!(eval::<f64>(&lua, "return bit.tobit(2^32 + 5)"), 5.0);
        assert_eq!(eval::<f64>(&lua, "return bit.tobit(2^31)"), -2147483648.0);
        assert_eq!(eval::<f64>(&lua, "return bit.tobit(1.5)"), 2.0);
        assert_eq!(eval::<f64>(&lua, "return bit.tobit(2.5)"), 2.0);
        assert_eq!(eval::<f64>(&lua, "return bit.tobit(-1.5)"), -2.0);
        assert_eq!(eval::<f64>(&lua, "return bit.tobit('0x10')"), 16.0);
        assert_eq!(eval::<f64>(&lua, "return bit.tobit(' 7 ')"), 7.0);
    }

    #[test]
    fn logic_ops_fold_every_argument() {
        let lua = lua();
        assert_eq!(eval::<f64>(&lua, "return bit.band(1)"), 1.0);
        assert_eq!(eval::<f64>(&lua, "return bit.bxor(1, 2)"), 3.0);
        assert_eq!(
            eval::<f64>(&lua, "return bit.bor(1,2,4,8,16,32,64,128)"),
            255.0
        );
        assert_eq!(eval::<f64>(&lua, "return bit.band(0xff, 0x0f, 0x3c)"), 12.0);
        assert_eq!(eval::<f64>(&lua, "return bit.bnot(0)"), -1.0);
    }

    #[test]
    fn shifts_use_the_low_five_bits_of_the_count() {
        let lua = lua();
        assert_eq!(eval::<f64>(&lua, "return bit.lshift(1, 31)"), -2147483648.0);
        assert_eq!(eval::<f64>(&lua, "return bit.lshift(1, 33)"), 2.0);
        assert_eq!(eval::<f64>(&lua, "return bit.rshift(-1, 28)"), 15.0);
        assert_eq!(eval::<f64>(&lua, "return bit.arshift(-256, 4)"), -16.0);
        assert_eq!(
            eval::<f64>(&lua, "return bit.rol(0x12345678, 12)"),
            1164411171.0
        );
        assert_eq!(
            eval::<f64>(&lua, "return bit.ror(0x12345678, 12)"),
            1736516421.0
        );
        assert_eq!(eval::<f64>(&lua, "return bit.rol(7, 0)"), 7.0);
        assert_eq!(
            eval::<f64>(&lua, "return bit.bswap(0x12345678)"),
            2018915346.0
        );
    }

    #[test]
    fn non_numbers_are_rejected_with_lua_argument_errors() {
        let lua = lua();
        assert_eq!(
            error_of(&lua, "bit.tobit()"),
            "t:1: bad argument #1 to 'tobit' (number expected, got no value)"
        );
        assert_eq!(
            error_of(&lua, "bit.band(1, {}, 'x')"),
            "t:1: bad argument #3 to 'band' (number expected, got string)"
        );
        assert_eq!(
            error_of(&lua, "local f = bit.tohex\nf(1, nil)"),
            "t:2: bad argument #2 to 'f' (number expected, got nil)"
        );
        assert_eq!(
            error_of(&lua, "return bit:lshift(1)"),
            "t:1: calling 'lshift' on bad self (number expected, got table)"
        );
        assert_eq!(
            error_of(&lua, "error(select(2, pcall(bit.rol, 1)), 0)"),
            "bad argument #2 to '?' (number expected, got no value)"
        );
    }

    /// Thousands of arguments (more than mlua has handles for) reach the function one by
    /// one, as on Redis.
    #[test]
    fn takes_thousands_of_arguments() {
        let lua = lua();
        let code = "local t = {} for i = 1, 7999 do t[i] = tostring(2 ^ (i % 31)) end \
                    return bit.bor(unpack(t))";
        assert_eq!(eval::<f64>(&lua, code), 2147483647.0);
        let code = "local t = {} for i = 1, 7999 do t[i] = '1' end t[7999] = 'x' \
                    return bit.band(unpack(t))";
        assert_eq!(
            error_of(&lua, code),
            "t:1: bad argument #7999 to 'band' (number expected, got string)"
        );
    }
}
