//! The libraries Redis gives scripts besides Lua's own (base, table, string, math): each
//! module builds one global table. They load before the sandbox closes, so the tables end
//! up read-only like the rest of the globals.

use mlua::Lua;

/// Sets the library globals on a fresh interpreter (none yet: cjson, cmsgpack, struct and
/// bit are not available to scripts so far).
pub fn open_all(lua: &Lua) -> mlua::Result<()> {
    let _ = lua;
    Ok(())
}
