//! Video capture: camera, screen, window or a test pattern, throttled at the source,
//! scaled and JPEG-encoded on a worker thread.
//!
//! Interface used by the sender and the app (implementation owned by the video issue):
//! [`VideoSourceSpec`] (parsed from `--video`), [`VideoControl`] (live settings) and the
//! pipeline that calls a sink with each [`VideoFrame`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

/// Per-frame timings in microseconds, for the app's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameTiming {
    /// Time spent obtaining the frame from the source.
    pub capture_us: u32,
    /// Time spent scaling and converting pixels.
    pub scale_us: u32,
    /// Time spent JPEG-encoding.
    pub encode_us: u32,
}

/// One encoded video frame, ready for the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrame {
    /// Per-stream counter, +1 per frame sent.
    pub seq: u64,
    /// Unix time in milliseconds when the frame was captured.
    pub ts_ms: u64,
    /// Width of the encoded JPEG.
    pub width: u32,
    /// Height of the encoded JPEG.
    pub height: u32,
    /// JPEG quality 1..=100 used.
    pub quality: u8,
    /// One baseline JPEG.
    pub jpeg: Bytes,
    /// Where the time went.
    pub timing: FrameTiming,
}

/// Which video source to capture, as given to `--video`.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoSourceSpec {
    /// The synthetic moving test pattern with the frame number drawn in.
    Pattern,
    /// A camera by index (first one when absent).
    Camera(Option<usize>),
    /// A monitor by index (primary when absent).
    Screen(Option<usize>),
    /// A single window by (part of) its title.
    Window(String),
    /// No video.
    None,
}

/// Error parsing a [`VideoSourceSpec`].
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid video source {0:?}: expected camera[:N], screen[:N], window:<title>, pattern or none"
)]
pub struct ParseVideoSourceError(String);

impl FromStr for VideoSourceSpec {
    type Err = ParseVideoSourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseVideoSourceError(s.to_owned());
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        let index = |a: Option<&str>| -> Result<Option<usize>, ParseVideoSourceError> {
            a.map(|a| a.parse().map_err(|_| err())).transpose()
        };
        match (kind, arg) {
            ("pattern", None) => Ok(Self::Pattern),
            ("none", None) => Ok(Self::None),
            ("camera", a) => Ok(Self::Camera(index(a)?)),
            ("screen", a) => Ok(Self::Screen(index(a)?)),
            ("window", Some(t)) if !t.is_empty() => Ok(Self::Window(t.to_owned())),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for VideoSourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pattern => write!(f, "pattern"),
            Self::Camera(None) => write!(f, "camera"),
            Self::Camera(Some(i)) => write!(f, "camera:{i}"),
            Self::Screen(None) => write!(f, "screen"),
            Self::Screen(Some(i)) => write!(f, "screen:{i}"),
            Self::Window(t) => write!(f, "window:{t}"),
            Self::None => write!(f, "none"),
        }
    }
}

/// Live settings of a running video pipeline, shared with the UI and the control channel.
#[derive(Debug)]
pub struct VideoControl {
    width: AtomicU32,
    height: AtomicU32,
    fps_milli: AtomicU32,
    quality: AtomicU32,
}

impl VideoControl {
    /// New settings; values are clamped to sane ranges.
    pub fn new(width: u32, height: u32, fps: f32, quality: u8) -> Arc<Self> {
        let c = Arc::new(Self {
            width: AtomicU32::new(640),
            height: AtomicU32::new(480),
            fps_milli: AtomicU32::new(5000),
            quality: AtomicU32::new(70),
        });
        c.set_size(width, height);
        c.set_fps(fps);
        c.set_quality(quality);
        c
    }
    /// Requested output size.
    pub fn size(&self) -> (u32, u32) {
        (
            self.width.load(Ordering::Relaxed),
            self.height.load(Ordering::Relaxed),
        )
    }
    /// Sets the output size (each side clamped to 16..=7680).
    pub fn set_size(&self, w: u32, h: u32) {
        self.width.store(w.clamp(16, 7680), Ordering::Relaxed);
        self.height.store(h.clamp(16, 7680), Ordering::Relaxed);
    }
    /// Target frame rate.
    pub fn fps(&self) -> f32 {
        self.fps_milli.load(Ordering::Relaxed) as f32 / 1000.0
    }
    /// Sets the frame rate (clamped to 0.1..=120).
    pub fn set_fps(&self, fps: f32) {
        let fps = if fps.is_finite() {
            fps.clamp(0.1, 120.0)
        } else {
            5.0
        };
        self.fps_milli
            .store((fps * 1000.0).round() as u32, Ordering::Relaxed);
    }
    /// JPEG quality.
    pub fn quality(&self) -> u8 {
        self.quality.load(Ordering::Relaxed) as u8
    }
    /// Sets the JPEG quality (clamped to 1..=100).
    pub fn set_quality(&self, q: u8) {
        self.quality
            .store(u32::from(q.clamp(1, 100)), Ordering::Relaxed);
    }
}
