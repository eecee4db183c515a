//! capdeck: desktop capture pushed over ZeroMQ to an inference host, and a live
//! GrimStream viewer.
//!
//! Layout, one concern per module:
//! - [`wire`]: the capture wire protocol (pure code: bytes in, values out).
//! - [`net`]: ZeroMQ links (push with reconnect and bounded queues, control channel,
//!   the reference receiver) and the [`net::tap`] seam every outgoing message passes.
//! - [`capture`]: audio and video sources and the pipelines that turn them into wire chunks.
//! - [`grimstream`]: GrimStream v1 codec, feed connections, store and clocks.
//! - [`timeline`]: the pure timeline model of the live view.
//! - [`ui`]: the egui/eframe desktop app.
//! - [`cli`]: command-line parsing and the headless commands.

pub mod capture;
pub mod cli;
pub mod grimstream;
pub mod net;
pub mod timeline;
pub mod ui;
pub mod util;
pub mod wire;
