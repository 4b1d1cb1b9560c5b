//! Builds the small C shim (`csrc/`): the pieces that need C's `long double` and printf
//! formatting to match Redis bit for bit.
fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .opt_level(2)
        .compile("ferrodis_c");
}
