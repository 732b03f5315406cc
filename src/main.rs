/// mimalloc instead of glibc's malloc: allocation and freeing were 16% of the process's samples
/// on the submission path, over a quarter of the actix workers' (docs/benchmarks.md, 2026-12-01 morning).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    chorus::cli::main()
}
