fn main() -> std::process::ExitCode {
    capdeck::cli::main()
}
