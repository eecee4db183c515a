//! Command line.
//!
//! Bare `capdeck` (no subcommand) opens the desktop app ([`crate::ui::run_app`]).

use clap::Parser;

/// capdeck: capture → push to an inference host, and a live GrimStream viewer.
#[derive(Debug, Parser)]
#[command(name = "capdeck", version, about)]
pub struct Cli {
    /// Options of the desktop app (used when no subcommand is given).
    #[command(flatten)]
    pub app: AppArgs,
}

/// Flags of the desktop app; they override the saved settings.
#[derive(Debug, Clone, clap::Args)]
pub struct AppArgs {
    /// Close the window and exit with status 0 after SECS seconds (smoke tests).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub exit_after: Option<f64>,
    /// Start from default settings; do not read or write the settings file.
    #[arg(long)]
    pub fresh: bool,
    /// Settings file to use instead of the platform config dir.
    #[arg(long, value_name = "PATH")]
    pub settings: Option<std::path::PathBuf>,
    /// Send capture to this host (address of the first host profile).
    #[arg(long, value_name = "ADDR")]
    pub host: Option<String>,
    /// Retail GrimStream feed address (host:port).
    #[arg(long, value_name = "ADDR")]
    pub retail: Option<String>,
    /// Engine GrimStream feed address (host:port).
    #[arg(long, value_name = "ADDR")]
    pub engine: Option<String>,
    /// Audio source: default, device:<name>, tone:<hz>, wav:<path> or none.
    #[arg(long, value_name = "SRC")]
    pub audio: Option<String>,
    /// Video source: pattern, camera[:N], screen[:N], window:<title> or none.
    #[arg(long, value_name = "SRC")]
    pub video: Option<String>,
    /// Pane layout: side-by-side or tabs.
    #[arg(long, value_name = "LAYOUT", value_parser = ["side-by-side", "tabs"])]
    pub layout: Option<String>,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && v >= 0.0 { Ok(v) } else { Err(format!("{s:?} must be a non-negative number of seconds")) }
}

impl AppArgs {
    /// The app options these flags ask for.
    pub fn to_options(&self) -> crate::ui::AppOptions {
        crate::ui::AppOptions {
            exit_after: self.exit_after,
            fresh: self.fresh,
            settings_path: self.settings.clone(),
            host: self.host.clone(),
            retail: self.retail.clone(),
            engine: self.engine.clone(),
            audio: self.audio.clone(),
            video: self.video.clone(),
            layout: self.layout.as_deref().map(|l| if l == "tabs" { crate::ui::settings::Layout::Tabs } else { crate::ui::settings::Layout::SideBySide }),
            no_autostart: false,
            log_filter: None,
        }
    }
}

/// Entry point of the binary.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match crate::ui::run_app(cli.app.to_options()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capdeck: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
