//! Builds the small C shim (`csrc/`): the pieces that need C's `long double` and printf
//! formatting to match Redis bit for bit, and the module API's variadic entry points.
//! Also exports from the server executable the functions of redis-server that modules may
//! link against directly (the `EXPORTED` list of src/module/host.rs), and builds the Lua 5.1
//! interpreter scripts run in (`deps/lua`, with ferrodis' read-only tables; see its README).
fn main() {
    // libm stays a dependency of the executable even if no Rust code needs it: modules built
    // for redis-server (linked with -lm) may call its functions without linking it.
    println!("cargo:rustc-link-arg-bins=-Wl,--push-state,--no-as-needed,-lm,--pop-state");
    println!("cargo:rerun-if-changed=src/module/host.rs");
    let host = std::fs::read_to_string("src/module/host.rs").expect("read src/module/host.rs");
    let list = host
        .split("pub const EXPORTED: &[&str] = &[")
        .nth(1)
        .and_then(|rest| rest.split("];").next())
        .expect("the EXPORTED list in src/module/host.rs");
    for name in list
        .split(',')
        .map(|n| n.trim().trim_matches('"'))
        .filter(|n| !n.is_empty())
    {
        // Keep the function (nothing in the server calls it) and put it in the dynamic
        // symbol table, where a module's undefined reference finds it at dlopen.
        println!("cargo:rustc-link-arg-bins=-Wl,--undefined={name}");
        println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol={name}");
    }
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    println!("cargo:rerun-if-changed=csrc/module_shim.c");
    println!("cargo:rerun-if-changed=csrc/lua_glue.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .file("csrc/module_shim.c")
        .file("csrc/lua_glue.c")
        .include("deps/lua")
        .opt_level(2)
        .compile("ferrodis_c");
    // Lua: every C file of the interpreter and its standard libraries; mlua (feature
    // `external` of mlua-sys) links against this build instead of one of its own.
    println!("cargo:rerun-if-changed=deps/lua");
    let mut lua = cc::Build::new();
    let mut sources: Vec<_> = std::fs::read_dir("deps/lua")
        .expect("read deps/lua")
        .map(|e| e.expect("deps/lua entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    lua.files(sources)
        .include("deps/lua")
        .define("LUA_USE_POSIX", None)
        .warnings(false)
        .opt_level(2)
        .compile("lua5.1");
}
