//! `ferrodis-server`: the redis-server compatible binary. Everything happens in the library;
//! this only installs jemalloc as the allocator and hands over to start-up.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(ferrodis::startup::main(std::env::args().collect()));
}
