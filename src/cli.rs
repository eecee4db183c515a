//! Command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// capdeck: desktop capture and live GrimStream analysis.
#[derive(Parser, Debug)]
#[command(name = "capdeck", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Connect to GrimStream feeds as a viewer and report what arrives.
    Probe(crate::grimstream::probe::ProbeArgs),
    /// Serve a synthetic retail feed and a matching engine feed.
    DemoFeeds(crate::grimstream::demo::DemoFeedsArgs),
}

/// Entry point.
pub fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Probe(a) => crate::grimstream::probe::run(a),
        Command::DemoFeeds(a) => crate::grimstream::demo::run(a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
