/// mimalloc instead of glibc's malloc: allocation and freeing were about a sixth of the actix
/// workers' samples on the submission path (docs/benchmarks.md, 2026-12-01 morning).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    chorus::cli::main()
}
