//! Capture sources and the pipelines that turn them into capture-wire chunks.
//!
//! - [`audio`]: any microphone (or a tone, or a WAV file) to 16 kHz mono int16 chunks.
//! - [`video`]: camera, screen, window or a test pattern to JPEG frames.
//!
//! Both pipelines hand finished chunks to a sink closure supplied by the caller (the
//! sender pushes them into its outbound queues); they never block on the network.

pub mod audio;
pub mod hotkey;
pub mod video;
