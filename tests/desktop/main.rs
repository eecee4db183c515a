//! The desktop: the app through egui_kittest, the real window, tray, single instance and
//! autostart under Xvfb, push-to-talk with real X key events, screen and window capture,
//! and audio devices on a real PulseAudio server. These share one X display and one
//! PulseAudio server, so a test that uses them holds a turn (support::desktop_turn). One test
//! binary per concern (ARCHITECTURE.md, "Tests").
#![allow(clippy::disallowed_methods)] // test threads need no names (clippy.toml)

#[path = "../support/mod.rs"]
mod support;

mod audio_default_follow;
mod audio_device;
mod ptt_x11;
mod ui_app;
mod ui_smoke;
mod video_screen;
