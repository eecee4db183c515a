//! Windows and macOS screens and windows via scap (Windows Graphics Capture,
//! ScreenCaptureKit).
//!
//! scap streams frames on its own clock into an unbounded channel, ignores the frame
//! rate on Windows, sends nothing while the picture is still, and can only be read by a
//! blocking call. So a named reader thread owns the scap capturer and keeps just the
//! newest frame (scap's buffers are wrapped, not copied), and the source the pipeline
//! sees is [`Clocking::OnDemand`]: the pipeline paces `grab` at the target rate, and
//! each `grab` hands over the newest frame, or the last one again with a fresh capture
//! timestamp when nothing new arrived, so the host gets the chosen rate either way.
//!
//! The hand-over is a [`FrameRelay`] (tested on every platform in `source.rs`).
//!
//! Every scap call runs on the reader thread inside a panic guard (scap `expect`s and
//! `unwrap`s in its own code): a closed window, a revoked permission or a panic ends
//! the stream with a status ([`SourceError::Gone`], then a retry through `recover`),
//! never a crash.
//!
//! Not run on the Linux CI machines; type-checked with
//! `.ci/check-windows.sh` (x86_64-pc-windows-gnu, `make check-windows`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::{ScreenInfo, WindowInfo, pick_window, window_not_found};
use crate::video::VideoError;
use crate::video::frame::{PixelFormat, RawFrame};
use crate::video::source::{Clocking, FrameRelay, FrameSource, SourceError, guarded};

pub const NAME: &str = "scap";

/// How long opening waits for scap to start (a permission prompt may be showing).
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the first `grab` waits for scap's first frame.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(2);
/// Frame rate asked of scap (honoured on macOS; Windows sends at the display's rate).
const SCAP_FPS: u32 = 30;

fn guard_open<T>(what: &str, f: impl FnOnce() -> Result<T, VideoError>) -> Result<T, VideoError> {
    let mut out = None;
    let r = guarded(what, || {
        out = Some(f());
        Ok(())
    });
    match (r, out) {
        (Ok(()), Some(v)) => v,
        (Err(e), _) => Err(VideoError::Backend(e.to_string())),
        (Ok(()), None) => Err(VideoError::Backend(format!("{what}: no result"))),
    }
}

/// Why Windows Graphics Capture cannot be used here (Wine, Windows before 10 1903, some
/// remote sessions), or None: `screen/mod.rs` then captures screens with GDI.
#[cfg(target_os = "windows")]
pub fn graphics_capture_missing() -> Option<String> {
    let mut supported = false;
    match guarded("checking Windows Graphics Capture", || {
        supported = scap::is_supported();
        Ok(())
    }) {
        Err(e) => Some(format!("Windows Graphics Capture failed ({e})")),
        Ok(()) if !supported => Some("Windows Graphics Capture is not available".into()),
        Ok(()) => None,
    }
}

fn check_backend() -> Result<(), VideoError> {
    if !scap::is_supported() {
        return Err(VideoError::Unsupported(
            "screen capture is not supported on this system (Windows 10 1903+ or \
             macOS 12.3+ needed)"
                .into(),
        ));
    }
    if !scap::has_permission() && !scap::request_permission() {
        return Err(VideoError::Backend(
            "permission to record the screen was refused: allow capdeck in System \
             Settings > Privacy & Security > Screen Recording, then restart it"
                .into(),
        ));
    }
    Ok(())
}

fn displays() -> Vec<scap::Target> {
    scap::get_all_targets()
        .into_iter()
        .filter(|t| matches!(t, scap::Target::Display(_)))
        .collect()
}

fn titled_windows() -> Vec<(scap::Target, String)> {
    scap::get_all_targets()
        .into_iter()
        .filter_map(|t| match &t {
            scap::Target::Window(w) if !w.title.is_empty() => {
                let title = w.title.clone();
                Some((t, title))
            }
            _ => None,
        })
        .collect()
}

/// A target's size in pixels (scap keeps its own size function private; the output
/// frame size for a full capture is the same, rounded down to even).
fn dimensions(t: &scap::Target) -> (u32, u32) {
    let options = scap::capturer::Options {
        target: Some(t.clone()),
        ..Default::default()
    };
    let [w, h] = scap::capturer::get_output_frame_size(&options);
    (w, h)
}

pub fn screens() -> Result<Vec<ScreenInfo>, VideoError> {
    guard_open("listing screens", || {
        check_backend()?;
        Ok(displays()
            .iter()
            .enumerate()
            .map(|(index, t)| {
                let (width, height) = dimensions(t);
                let name = match t {
                    scap::Target::Display(d) => d.title.clone(),
                    scap::Target::Window(w) => w.title.clone(),
                };
                ScreenInfo {
                    index,
                    name,
                    width,
                    height,
                    primary: index == 0,
                }
            })
            .collect())
    })
}

pub fn windows() -> Result<Vec<WindowInfo>, VideoError> {
    guard_open("listing windows", || {
        check_backend()?;
        Ok(titled_windows()
            .iter()
            .map(|(t, title)| {
                let (width, height) = dimensions(t);
                WindowInfo {
                    title: title.clone(),
                    app: String::new(),
                    width,
                    height,
                }
            })
            .collect())
    })
}

/// What to capture, found again by the reader thread (scap's targets hold raw window
/// handles, which cannot cross threads).
#[derive(Debug, Clone)]
enum Pick {
    Screen(usize),
    Window(String),
}

impl Pick {
    /// Finds the scap target and a description of it.
    fn find(&self) -> Result<(scap::Target, String), VideoError> {
        match self {
            Pick::Screen(i) => {
                let all = displays();
                let n = all.len();
                let target = all.into_iter().nth(*i).ok_or_else(|| {
                    VideoError::NotFound(format!("no screen {i}: {n} screen(s) found"))
                })?;
                let (w, h) = dimensions(&target);
                Ok((target, format!("screen {i} ({w}x{h}, scap)")))
            }
            Pick::Window(query) => {
                let all = titled_windows();
                let titles: Vec<String> = all.iter().map(|(_, t)| t.clone()).collect();
                let (target, title) = pick_window(titles.iter().map(String::as_str), query)
                    .and_then(|i| all.into_iter().nth(i))
                    .ok_or_else(|| window_not_found(query, &titles))?;
                let (w, h) = dimensions(&target);
                Ok((target, format!("window {title:?} ({w}x{h}, scap)")))
            }
        }
    }
}

/// What the reader thread shares with the source.
#[derive(Default)]
struct Shared {
    relay: FrameRelay,
    stop: AtomicBool,
}

/// One running scap stream on its reader thread. Dropping it stops the capture (at the
/// next frame scap delivers: scap's read cannot be interrupted).
struct Stream {
    shared: Arc<Shared>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl Stream {
    /// Starts a reader thread for `pick`; returns once scap is capturing (or failed).
    fn start(pick: Pick) -> Result<(Self, String), VideoError> {
        let shared = Arc::new(Shared::default());
        let (opened_tx, opened_rx) = mpsc::sync_channel::<Result<String, VideoError>>(1);
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("scap-reader".into())
            .spawn(move || reader(pick, &thread_shared, opened_tx))
            .map_err(VideoError::Thread)?;
        let stream = Self { shared };
        match opened_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(desc)) => Ok((stream, desc)),
            Ok(Err(e)) => Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(VideoError::Backend(format!(
                "screen capture did not start within {} s",
                START_TIMEOUT.as_secs()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(VideoError::Backend(
                "screen capture thread ended while starting".into(),
            )),
        }
    }
}

/// The reader thread: opens the target, starts scap and keeps the newest frame until
/// asked to stop or the stream ends. Any panic in scap ends the stream with a status.
fn reader(pick: Pick, shared: &Shared, opened: mpsc::SyncSender<Result<String, VideoError>>) {
    let reported = AtomicBool::new(false);
    let result = guarded("screen capture", || {
        let (target, desc) = match check_backend().and_then(|()| pick.find()) {
            Ok(v) => v,
            Err(e) => {
                // No permission, or nothing to capture (yet): an open fails with this
                // error, a recover keeps waiting while the target is not found.
                let _ = opened.try_send(Err(e));
                reported.store(true, Ordering::Relaxed);
                return Ok(());
            }
        };
        let options = scap::capturer::Options {
            fps: SCAP_FPS,
            show_cursor: true,
            show_highlight: false,
            target: Some(target),
            crop_area: None,
            output_type: scap::frame::FrameType::BGRAFrame,
            output_resolution: scap::capturer::Resolution::Captured,
            excluded_targets: None,
        };
        let mut capturer = scap::capturer::Capturer::build(options)
            .map_err(|e| SourceError::Fatal(format!("cannot start screen capture: {e}")))?;
        capturer.start_capture();
        let _ = opened.try_send(Ok(desc));
        reported.store(true, Ordering::Relaxed);
        let ended = read_frames(&capturer, shared);
        if ended.is_ok() {
            // Asked to stop (not ended by scap): stop the capture session.
            capturer.stop_capture();
        }
        ended
    });
    let ended = match result {
        Ok(()) => return,
        Err(e) => e,
    };
    if !reported.load(Ordering::Relaxed) {
        let _ = opened.try_send(Err(VideoError::Backend(ended.to_string())));
    }
    tracing::warn!(error = %ended, "screen capture stream ended");
    shared.relay.end(ended);
}

/// Reads scap's frames until a stop is asked (`Ok`) or the stream ends (`Err`).
fn read_frames(capturer: &scap::capturer::Capturer, shared: &Shared) -> Result<(), SourceError> {
    loop {
        let frame = capturer.get_next_frame().map_err(|_| {
            SourceError::Gone("screen capture ended (window closed or capture revoked)".into())
        })?;
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        match to_raw(frame) {
            Ok(raw) => shared.relay.push(raw),
            Err(msg) => shared.relay.push_bad(msg),
        }
    }
}

/// Wraps scap's buffer (no copy) as a [`RawFrame`].
fn to_raw(frame: scap::frame::Frame) -> Result<RawFrame, String> {
    use scap::frame::Frame;
    let (w, h, format, data) = match frame {
        Frame::BGRA(f) => (f.width, f.height, PixelFormat::Bgra, f.data),
        Frame::BGRx(f) => (f.width, f.height, PixelFormat::Bgra, f.data),
        Frame::BGR0(f) => (f.width, f.height, PixelFormat::Bgra, f.data),
        Frame::RGBx(f) => (f.width, f.height, PixelFormat::Rgba, f.data),
        Frame::RGB(f) => (f.width, f.height, PixelFormat::Rgb, f.data),
        _ => return Err("screen capture sent an unsupported pixel format".into()),
    };
    let (w, h) = (u32::try_from(w).unwrap_or(0), u32::try_from(h).unwrap_or(0));
    // Rows may be padded: derive the stride from the buffer length.
    let stride = if h > 0 { data.len() / h as usize } else { 0 };
    RawFrame::new(w, h, stride, format, data).map_err(|e| format!("bad frame from scap: {e}"))
}

fn open(pick: Pick) -> Result<Box<dyn FrameSource>, VideoError> {
    let (stream, desc) = Stream::start(pick.clone())?;
    Ok(Box::new(ScapSource { pick, desc, stream }))
}

pub fn open_screen(index: Option<usize>) -> Result<Box<dyn FrameSource>, VideoError> {
    open(Pick::Screen(index.unwrap_or(0)))
}

pub fn open_window(query: &str) -> Result<Box<dyn FrameSource>, VideoError> {
    open(Pick::Window(query.to_owned()))
}

struct ScapSource {
    pick: Pick,
    desc: String,
    stream: Stream,
}

impl FrameSource for ScapSource {
    fn describe(&self) -> String {
        self.desc.clone()
    }

    fn clocking(&self) -> Clocking {
        Clocking::OnDemand
    }

    fn grab(&mut self, _want: (u32, u32)) -> Result<RawFrame, SourceError> {
        self.stream.shared.relay.next(FIRST_FRAME_TIMEOUT)
    }

    fn recover(&mut self) -> Result<(), SourceError> {
        match Stream::start(self.pick.clone()) {
            Ok((stream, desc)) => {
                self.stream = stream;
                self.desc = desc;
                Ok(())
            }
            Err(VideoError::NotFound(_)) => Err(SourceError::Gone(match &self.pick {
                Pick::Screen(i) => format!("waiting for screen {i} to come back"),
                Pick::Window(q) => format!("waiting for a window titled {q:?} to appear"),
            })),
            // Permission refused, unsupported, scap failing: nothing to wait for.
            Err(e) => Err(SourceError::Fatal(e.to_string())),
        }
    }
}
