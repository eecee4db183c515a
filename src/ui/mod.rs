//! The egui/eframe desktop app: a Capture pane and a Live view pane in one window.
//!
//! Architecture (Rerun's viewer style):
//! - Sources (capture pipelines, feed connections, demo generators) run on named threads
//!   and hand data to the UI through bounded channels, or expose cheap snapshots.
//! - Each frame the UI drains those channels into its stores ([`live::LiveStore`],
//!   [`capture::CaptureSnapshot`]) and renders from them; it never waits on a device,
//!   a socket or a file.
//! - Every state change the user asks for is a [`command::UiCommand`], applied in one
//!   place ([`app::CapdeckApp::apply`]).
//! - UI functions end in `_ui`.

pub mod app;
pub mod autostart;
pub mod capture;
pub mod command;
pub mod gpu_errors;
pub mod instance;
pub mod live;
pub mod log_ring;
pub mod logging;
pub mod ptt;
pub mod recordings;
pub mod settings;
pub mod tray;
pub mod widgets;

pub use app::{AppOptions, CapdeckApp, run_app};
