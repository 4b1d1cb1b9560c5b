//! The libraries Redis gives scripts besides Lua's own (base, table, string, math): each
//! module builds one global table, its functions made to behave as Redis' C functions by
//! `glue`. They load before the sandbox closes, so the tables end up read-only like the rest
//! of the globals.

mod bit;
mod cjson;
mod cmsgpack;
pub(crate) mod glue;
mod lua_struct;

use mlua::Lua;

/// Sets the library globals on a fresh interpreter.
pub fn open_all(lua: &Lua) -> mlua::Result<()> {
    let glue = glue::Glue::new(lua)?;
    let g = lua.globals();
    g.raw_set("bit", bit::open(lua, &glue)?)?;
    g.raw_set("cjson", cjson::open(lua, &glue)?)?;
    g.raw_set("cmsgpack", cmsgpack::open(lua, &glue)?)?;
    g.raw_set("struct", lua_struct::open(lua, &glue)?)?;
    Ok(())
}
