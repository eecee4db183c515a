//! The `capdeck` binary: the desktop app, or a headless command ([`capdeck::cli`]).

fn main() -> std::process::ExitCode {
    capdeck::cli::main()
}
