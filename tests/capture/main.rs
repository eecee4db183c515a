//! Capture through its real pipelines with no desktop: audio chunking, conversion, drift and
//! the real-time ring; the camera behind its trait, the synthetic pattern, serve-retail.
//! One test binary per concern (ARCHITECTURE.md, "Tests"): the suite links a handful of times.

#[path = "../support/mod.rs"]
mod support;

mod audio_chunks;
mod audio_drift;
mod audio_feed;
mod audio_quality;
mod video_camera;
mod video_pattern;
mod video_retail;
