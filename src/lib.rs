//! capdeck: desktop capture pushed over ZeroMQ to an inference host, and a live
//! GrimStream viewer.
//!
//! Layout, one concern per module, lowest layer first:
//! - [`util`]: small shared helpers.
//! - [`wire`]: both wire protocols as pure code (bytes in, values out): the capture wire
//!   and GrimStream v1.
//! - [`net`]: ZeroMQ links (push with reconnect and bounded queues, control channel,
//!   the reference receiver) and the [`net::tap`] seam every outgoing message passes.
//! - [`capture`]: audio and video sources and the pipelines that turn them into wire chunks.
//! - [`grimstream`]: GrimStream feed connections, producer servers, the store, clocks, the
//!   live view and the demo world.
//! - [`record`]: session recordings as files: MCAP segments, manifest, seals, recovery,
//!   seeking, verification and the Foxglove export.
//! - [`timeline`]: the pure timeline model of the live view (over the store).
//! - [`session`]: compositions: the sending session, serve-retail, recording (the taps
//!   that feed [`record`]) and replay.
//! - [`ui`]: the egui/eframe desktop app.
//! - [`cli`]: command-line parsing and the headless commands.
//!
//! # Which module may use which
//!
//! A module may use only those listed for it (and itself); `tests/layers.rs` reads every
//! source file and fails when an import breaks this table.
//!
//! | module       | may use                                                   |
//! |--------------|-----------------------------------------------------------|
//! | `util`       | nothing                                                   |
//! | `wire`       | `util`                                                    |
//! | `net`        | `wire`, `util`                                            |
//! | `capture`    | `wire`, `util`                                            |
//! | `grimstream` | `wire`, `util`                                            |
//! | `record`     | `wire`, `util`                                            |
//! | `timeline`   | `grimstream`, `wire`, `util`                              |
//! | `session`    | `capture`, `net`, `grimstream`, `record`, `wire`, `util`  |
//! | `ui`         | `session`, `timeline`, `capture`, `net`, `grimstream`, `record`, `wire`, `util` |
//! | `cli`        | everything                                                |
//!
//! Without the default `desktop` feature only `util`, `wire`, `grimstream`, `record` and `timeline`
//! are built: the layers with no device, network or GPU dependency.

#[cfg(feature = "desktop")]
pub mod capture;
#[cfg(feature = "desktop")]
pub mod cli;
pub mod grimstream;
#[cfg(feature = "desktop")]
pub mod net;
pub mod record;
#[cfg(feature = "desktop")]
pub mod session;
pub mod timeline;
#[cfg(feature = "desktop")]
pub mod ui;
pub mod util;
pub mod wire;
