//! Builds the small C shim (`csrc/`): the pieces that need C's `long double` and printf
//! formatting to match Redis bit for bit, and the module API's variadic entry points.
fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    println!("cargo:rerun-if-changed=csrc/module_shim.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .file("csrc/module_shim.c")
        .opt_level(2)
        .compile("ferrodis_c");
}
