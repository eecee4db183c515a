//! `capdeck autostart enable|disable|status`: start with the system
//! ([`crate::ui::autostart`]), for installers and scripts.

use crate::ui::autostart;

/// `capdeck autostart`.
#[derive(clap::Args, Debug)]
pub struct AutostartArgs {
    /// enable | disable | status
    #[arg(value_parser = ["enable", "disable", "status"])]
    pub action: String,
    /// Print the state as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `capdeck autostart`.
pub fn run(a: &AutostartArgs) -> anyhow::Result<()> {
    match a.action.as_str() {
        "enable" => autostart::set(true)?,
        "disable" => autostart::set(false)?,
        _ => {}
    }
    let on = autostart::enabled()?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "enabled": on,
                "command": format!("{} {}", autostart::program()?, autostart::ARGS.join(" ")),
            })
        );
    } else {
        println!(
            "{}",
            if on {
                "capdeck starts with the system (minimised)"
            } else {
                "capdeck does not start with the system"
            }
        );
    }
    Ok(())
}
