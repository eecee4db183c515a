//! Start with the system (`auto-launch`): the current user's Windows Run key (and Task Manager's
//! "disabled" is honoured when the state is read), an XDG autostart entry
//! (`~/.config/autostart/capdeck.desktop`) on Linux, a login item on macOS. The entry
//! starts this program with `--minimized`. The state lives in the system, not in the
//! settings: the app's checkbox and `capdeck autostart status` read it there.

use auto_launch::{AutoLaunch, AutoLaunchBuilder, WindowsEnableMode};

/// What the entry passes to the program.
pub const ARGS: [&str; 1] = ["--minimized"];

/// Why the autostart entry could not be read or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AutostartError {
    /// The running program's path is unknown (it is what the entry starts).
    #[error("this program's path is unknown: {0}")]
    Exe(String),
    /// The system refused (a registry or file error).
    #[error("the system's autostart entry: {0}")]
    System(String),
}

/// The program the entry starts, quoted (a path with spaces, `C:\Program Files\...`,
/// must reach the Run key and the `.desktop` Exec line whole).
pub fn program() -> Result<String, AutostartError> {
    let exe = std::env::current_exe().map_err(|e| AutostartError::Exe(e.to_string()))?;
    Ok(format!("\"{}\"", exe.display()))
}

fn launcher() -> Result<AutoLaunch, AutostartError> {
    AutoLaunchBuilder::new()
        .set_app_name("capdeck")
        .set_app_path(&program()?)
        .set_args(&ARGS)
        // the user's own Run key: an elevated run must not make it start for everyone
        .set_windows_enable_mode(WindowsEnableMode::CurrentUser)
        .build()
        .map_err(|e| AutostartError::System(e.to_string()))
}

/// Whether capdeck starts with the system.
pub fn enabled() -> Result<bool, AutostartError> {
    launcher()?
        .is_enabled()
        .map_err(|e| AutostartError::System(e.to_string()))
}

/// Makes capdeck start with the system (or not).
pub fn set(on: bool) -> Result<(), AutostartError> {
    let l = launcher()?;
    let r = if on { l.enable() } else { l.disable() };
    r.map_err(|e| AutostartError::System(e.to_string()))?;
    tracing::info!(
        "start with the system: {}",
        if on { "enabled" } else { "disabled" }
    );
    Ok(())
}
