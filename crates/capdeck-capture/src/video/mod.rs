//! Video capture: camera, screen, window or a test pattern, throttled at the source,
//! scaled and JPEG-encoded on a worker thread.
//!
//! Interface used by the sender and the app (implementation owned by the video issue):
//! [`VideoSourceSpec`] (parsed from `--video`), [`VideoControl`] (live settings) and the
//! pipeline that calls a sink with each [`VideoFrame`].

use capdeck_util::lock;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

pub mod bufpool;
pub mod camera;
pub mod encode;
pub mod frame;
pub mod pattern;
pub mod pipeline;
pub mod scale;
pub mod screen;
pub mod source;
pub mod yuv;

pub use frame::{FrameError, PixelFormat, RawFrame};
pub use pipeline::{LastTiming, Output, RgbaFrame, VideoPipeline, VideoState, VideoStats};
pub use scale::{Crop, ScaleMode};
pub use source::{Clocking, FrameSource, SourceError};

/// Why a video pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// `--video none` was asked to start.
    #[error("video source is `none`: nothing to capture")]
    NoSource,
    /// The camera, screen or window does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The capture backend refused (permission, portal, driver).
    #[error("{0}")]
    Backend(String),
    /// The source kind is not available on this platform or build.
    #[error("{0}")]
    Unsupported(String),
    /// A worker thread could not be spawned.
    #[error("cannot spawn video thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Every source that can be captured right now, for `capdeck devices` and the app.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VideoSources {
    /// Cameras with the formats they offer.
    pub cameras: Vec<camera::CameraInfo>,
    /// Monitors (`screen:N`).
    pub screens: Vec<screen::ScreenInfo>,
    /// Windows with a title (`window:<title>`).
    pub windows: Vec<screen::WindowInfo>,
    /// Synthetic sources (`pattern`).
    pub synthetic: Vec<String>,
    /// Screen/window backend in this build ("xcap", "scap").
    pub screen_backend: String,
    /// Why a backend could not list its devices (no display, no permission, ...).
    pub problems: Vec<String>,
}

/// Lists cameras, screens, windows and synthetic sources. Never panics: a backend that
/// fails (or panics) contributes an empty list and a line in `problems`.
pub fn list_sources() -> VideoSources {
    fn take<T>(r: Result<Vec<T>, VideoError>, what: &str, problems: &mut Vec<String>) -> Vec<T> {
        r.unwrap_or_else(|e| {
            problems.push(format!("{what}: {e}"));
            Vec::new()
        })
    }
    let mut problems = Vec::new();
    let cameras = take(camera::cameras(), "cameras", &mut problems);
    let screens = take(screen::screens(), "screens", &mut problems);
    let windows = take(screen::windows(), "windows", &mut problems);
    VideoSources {
        cameras,
        screens,
        windows,
        synthetic: vec!["pattern".into()],
        screen_backend: screen::backend_name().into(),
        problems,
    }
}

/// Starts a pipeline on any source (custom sources, tests). [`start`] uses this.
pub fn start_source(
    open: pipeline::SourceFactory,
    control: Arc<VideoControl>,
    sink: Box<dyn FnMut(VideoFrame) + Send>,
) -> Result<VideoPipeline, VideoError> {
    VideoPipeline::spawn(open, control, Output::Jpeg(sink))
}

/// Current Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Starts capturing `spec`: opens the source (errors are returned here, clearly worded),
/// then captures at `control`'s rate, scales, encodes and calls `sink` with each frame
/// on the pipeline's encode thread. `sink` must not block for long: while it runs, newer
/// captures replace each other in the one-frame slot.
pub fn start(
    spec: &VideoSourceSpec,
    control: Arc<VideoControl>,
    sink: Box<dyn FnMut(VideoFrame) + Send>,
) -> Result<VideoPipeline, VideoError> {
    let open = opener(spec, &control)?;
    VideoPipeline::spawn(open, control, Output::Jpeg(sink))
}

/// Like [`start`], but delivers scaled RGBA8 frames instead of JPEGs (for the
/// GrimStream retail feed).
pub fn start_rgba(
    spec: &VideoSourceSpec,
    control: Arc<VideoControl>,
    sink: Box<dyn FnMut(RgbaFrame) + Send>,
) -> Result<VideoPipeline, VideoError> {
    let open = opener(spec, &control)?;
    VideoPipeline::spawn(open, control, Output::Rgba(sink))
}

fn opener(
    spec: &VideoSourceSpec,
    control: &VideoControl,
) -> Result<pipeline::SourceFactory, VideoError> {
    let open: pipeline::SourceFactory = match spec {
        VideoSourceSpec::None => return Err(VideoError::NoSource),
        VideoSourceSpec::Pattern => Box::new(|| Ok(Box::new(pattern::PatternSource::new()))),
        VideoSourceSpec::Camera(i) => {
            let (i, want, fps) = (*i, control.size(), control.fps());
            Box::new(move || camera::open(i, want, fps))
        }
        VideoSourceSpec::Screen(i) => {
            let i = *i;
            Box::new(move || screen::open_screen(i))
        }
        VideoSourceSpec::Window(title) => {
            let title = title.clone();
            Box::new(move || screen::open_window(&title))
        }
    };
    Ok(open)
}

/// Per-frame timings in microseconds, for the app's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
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
    /// 0 = fit, 1 = exact.
    scale_mode: AtomicU8,
    crop: Mutex<Option<Crop>>,
}

impl VideoControl {
    /// New settings; values are clamped to sane ranges.
    pub fn new(width: u32, height: u32, fps: f32, quality: u8) -> Arc<Self> {
        let c = Arc::new(Self {
            width: AtomicU32::new(640),
            height: AtomicU32::new(480),
            fps_milli: AtomicU32::new(5000),
            quality: AtomicU32::new(70),
            scale_mode: AtomicU8::new(0),
            crop: Mutex::new(None),
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
    /// How the source is fitted to the requested size (default: fit inside, keeping
    /// the aspect ratio).
    pub fn scale_mode(&self) -> ScaleMode {
        match self.scale_mode.load(Ordering::Relaxed) {
            1 => ScaleMode::Exact,
            _ => ScaleMode::Fit,
        }
    }
    /// Sets how the source is fitted to the requested size.
    pub fn set_scale_mode(&self, mode: ScaleMode) {
        let v = match mode {
            ScaleMode::Fit => 0,
            ScaleMode::Exact => 1,
        };
        self.scale_mode.store(v, Ordering::Relaxed);
    }
    /// Region of the source to capture (whole source when `None`).
    pub fn crop(&self) -> Option<Crop> {
        *lock(&self.crop)
    }
    /// Sets the region of the source to capture. A region outside the source makes
    /// each frame fail with a clear error in the pipeline's stats.
    pub fn set_crop(&self, crop: Option<Crop>) {
        *lock(&self.crop) = crop;
    }
}
