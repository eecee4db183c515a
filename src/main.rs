//! The `capdeck` binary: the desktop app, or a headless command ([`capdeck::cli`]).
//!
//! A release build for Windows is a GUI program: no console window opens with the app. It
//! logs to a file (see `capdeck --help`), and a headless command run from a console writes
//! to that console (`cli::main` attaches to it).
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    capdeck::cli::main()
}
