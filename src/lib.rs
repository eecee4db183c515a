//! capdeck, the app crate: the egui/eframe desktop app ([`ui`]) and the command line
//! ([`cli`]), on top of the layer crates (ARCHITECTURE.md):
//!
//! | crate                | what it holds                                                  |
//! |----------------------|----------------------------------------------------------------|
//! | `capdeck-util`       | small shared helpers                                           |
//! | `capdeck-wire`       | both wire protocols as pure code (bytes in, values out)        |
//! | `capdeck-net`        | ZeroMQ links and the tap every outgoing message passes         |
//! | `capdeck-capture`    | audio and video sources and their pipelines to wire chunks     |
//! | `capdeck-grimstream` | GrimStream feeds, producer servers, the store, the demo world  |
//! | `capdeck-record`     | session recordings as files (MCAP), reading and export         |
//! | `capdeck-timeline`   | the pure timeline model of the live view                       |
//! | `capdeck-session`    | compositions: sending, serve-retail, recording taps, replay    |
//!
//! Each crate depends only on crates above it in this table, so Cargo refuses an upward
//! import. Inside this crate, [`ui`] never uses [`cli`].

pub mod cli;
pub mod ui;
