//! The running pipeline: a capture thread paced at the target rate, a latest-frame-wins
//! slot, and an encode thread that scales, encodes and calls the sink.
//!
//! Drop policy: the slot holds one frame. A frame arriving while the previous one is
//! still waiting replaces it (counted in `dropped_stale`), so a slow encoder or sink
//! never sees an old frame and memory stays at one raw frame in flight.

use capdeck_util::{lock, wait, wait_timeout};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::bufpool::BufPool;
use super::encode::{JpegSettings, encode_jpeg};
use super::frame::{PixelFormat, RawFrame};
use super::scale::{PixelOrder, Prepared, Scaler};
use super::source::{Clocking, FrameSource, SourceError, looks_black};
use super::{FrameTiming, VideoControl, VideoError, VideoFrame};

/// How long `stop` waits for each thread before leaving it behind (a backend call stuck
/// in a driver must not hang the app).
const JOIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between recovery attempts after a source failure.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Idle output buffers (JPEG or RGBA) kept for reuse; frames in flight beyond this
/// allocate.
const JPEG_BUFFERS_KEPT: usize = 4;

/// What the pipeline is doing, for status lines.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum VideoState {
    /// Opening the source.
    #[default]
    Starting,
    /// Frames are flowing.
    Running,
    /// The source failed and the pipeline is retrying (window closed, device lost).
    Stalled(String),
    /// The pipeline gave up (the reason says why).
    Failed(String),
    /// Stopped by the caller.
    Stopped,
}

/// Per-frame timings of the last frame, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LastTiming {
    /// Obtaining the frame from the source.
    pub capture_us: u32,
    /// Waiting in the slot between capture and encoding.
    pub queue_us: u32,
    /// Converting and scaling.
    pub scale_us: u32,
    /// JPEG encoding (0 for camera JPEG passthrough).
    pub encode_us: u32,
    /// Handing the frame to the sink (the sender's enqueue).
    pub send_us: u32,
}

/// A snapshot of the pipeline's state and counters.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct VideoStats {
    /// What the pipeline is doing.
    pub state: VideoState,
    /// The source, described by its backend.
    pub source: String,
    /// Frames handed to the sink.
    pub frames: u64,
    /// Captured frames replaced in the slot before the encoder took them.
    pub dropped_stale: u64,
    /// Frames lost to capture, scale or encode errors.
    pub errors: u64,
    /// Timings of the last frame sent.
    pub last_timing: LastTiming,
    /// JPEG bytes of the last frame sent.
    pub last_bytes: usize,
    /// Size of the last JPEG sent.
    pub last_size: Option<(u32, u32)>,
    /// Size and format of the last raw frame captured.
    pub source_size: Option<(u32, u32)>,
    /// Pixel format of the last raw frame captured.
    pub source_format: Option<PixelFormat>,
    /// Whether the last frame was the camera's own JPEG, sent without re-encoding.
    pub passthrough: bool,
    /// A warning about the picture (e.g. all black), if any.
    pub warning: Option<String>,
    /// The last error seen, if any (kept after recovery, for the log view).
    pub last_error: Option<String>,
}

/// One-frame slot between capture and encoding: the newest frame wins.
pub struct LatestSlot<T> {
    state: Mutex<(Option<T>, bool)>,
    cv: Condvar,
}

impl<T> Default for LatestSlot<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new((None, false)),
            cv: Condvar::new(),
        }
    }
}

impl<T> LatestSlot<T> {
    /// Puts a value; returns true when it replaced one nobody took.
    pub fn put(&self, v: T) -> bool {
        let mut s = lock(&self.state);
        let replaced = s.0.replace(v).is_some();
        self.cv.notify_one();
        replaced
    }

    /// Waits for a value; `None` once closed.
    pub fn take(&self) -> Option<T> {
        let mut s = lock(&self.state);
        loop {
            if s.1 {
                return None;
            }
            if let Some(v) = s.0.take() {
                return Some(v);
            }
            s = wait(&self.cv, s);
        }
    }

    /// Wakes every waiter; later `take`s return `None`.
    pub fn close(&self) {
        lock(&self.state).1 = true;
        self.cv.notify_all();
    }
}

/// A stop flag that sleeping threads can wait on.
#[derive(Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl StopSignal {
    fn stop(&self) {
        *lock(&self.stopped) = true;
        self.cv.notify_all();
    }
    fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }
    /// Sleeps until `deadline` or a stop; returns true when stopped.
    fn sleep_until(&self, deadline: Instant) -> bool {
        let mut s = lock(&self.stopped);
        loop {
            if *s {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            s = wait_timeout(&self.cv, s, deadline - now);
        }
    }
}

/// One frame as RGBA8 pixels (rows `width*4` bytes apart), for GrimStream feeds.
#[derive(Debug, Clone)]
pub struct RgbaFrame {
    /// +1 per frame delivered, from 0.
    pub seq: u64,
    /// When the source delivered it.
    pub captured_at: Instant,
    /// Unix time in milliseconds when the source delivered it.
    pub ts_ms: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width*height*4` bytes, alpha 255.
    pub data: Bytes,
}

/// What the pipeline produces.
pub enum Output {
    /// JPEG frames for the capture wire.
    Jpeg(Box<dyn FnMut(VideoFrame) + Send>),
    /// Scaled RGBA8 frames (GrimStream retail feed).
    Rgba(Box<dyn FnMut(RgbaFrame) + Send>),
}

/// Opens a source on the capture thread.
pub type SourceFactory = Box<dyn FnOnce() -> Result<Box<dyn FrameSource>, VideoError> + Send>;

/// A running video pipeline. Stops on [`VideoPipeline::stop`] or drop.
pub struct VideoPipeline {
    stats: Arc<Mutex<VideoStats>>,
    stop: Arc<StopSignal>,
    slot: Arc<LatestSlot<RawFrame>>,
    threads: Vec<(JoinHandle<()>, mpsc::Receiver<()>)>,
}

impl std::fmt::Debug for VideoPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoPipeline")
            .field("stats", &self.stats())
            .finish()
    }
}

impl VideoPipeline {
    /// Starts the threads; returns once the source is open (or failed to open).
    pub fn spawn(
        open: SourceFactory,
        control: Arc<VideoControl>,
        sink: Output,
    ) -> Result<Self, VideoError> {
        let stats = Arc::new(Mutex::new(VideoStats::default()));
        let stop = Arc::new(StopSignal::default());
        let slot = Arc::new(LatestSlot::<RawFrame>::default());
        let (opened_tx, opened_rx) = mpsc::sync_channel::<Result<String, VideoError>>(1);

        let (cap_done_tx, cap_done_rx) = mpsc::channel::<()>();
        let capture = {
            let (stats, stop, slot, control) =
                (stats.clone(), stop.clone(), slot.clone(), control.clone());
            std::thread::Builder::new()
                .name("video-capture".into())
                .spawn(move || {
                    let _done = cap_done_tx;
                    let source = match open() {
                        Ok(s) => s,
                        Err(e) => {
                            lock(&stats).state = VideoState::Failed(e.to_string());
                            let _ = opened_tx.send(Err(e));
                            slot.close();
                            return;
                        }
                    };
                    let desc = source.describe();
                    lock(&stats).source = desc.clone();
                    let _ = opened_tx.send(Ok(desc));
                    capture_loop(source, &control, &stats, &stop, &slot);
                    slot.close();
                })
                .map_err(VideoError::Thread)?
        };

        let opened = opened_rx.recv().unwrap_or_else(|_| {
            Err(VideoError::Backend(
                "capture thread died while opening".into(),
            ))
        });
        if let Err(e) = opened {
            let _ = capture.join();
            return Err(e);
        }

        let (enc_done_tx, enc_done_rx) = mpsc::channel::<()>();
        let encoder = {
            let (stats, slot, stop) = (stats.clone(), slot.clone(), stop.clone());
            std::thread::Builder::new()
                .name("video-encode".into())
                .spawn(move || {
                    let _done = enc_done_tx;
                    encode_loop(&control, sink, &stats, &slot, &stop);
                })
        };
        let encoder = match encoder {
            Ok(h) => h,
            Err(e) => {
                stop.stop();
                slot.close();
                return Err(VideoError::Thread(e));
            }
        };
        Ok(Self {
            stats,
            stop,
            slot,
            threads: vec![(capture, cap_done_rx), (encoder, enc_done_rx)],
        })
    }

    /// A snapshot of state, counters and the last frame's timings.
    pub fn stats(&self) -> VideoStats {
        lock(&self.stats).clone()
    }

    /// Stops capture and encoding. Waits at most about two seconds per thread: a thread
    /// stuck in a backend call is left to finish on its own.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.stop.stop();
        self.slot.close();
        for (handle, done) in self.threads.drain(..) {
            let name = handle.thread().name().unwrap_or("video").to_owned();
            match done.recv_timeout(JOIN_TIMEOUT) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    tracing::warn!(thread = %name, "video thread did not stop in time; leaving it");
                }
                _ => {
                    if handle.join().is_err() {
                        tracing::error!(thread = %name, "video thread panicked");
                    }
                }
            }
        }
        let mut s = lock(&self.stats);
        if !matches!(s.state, VideoState::Failed(_)) {
            s.state = VideoState::Stopped;
        }
    }
}

impl Drop for VideoPipeline {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

fn period(control: &VideoControl) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(control.fps().max(0.1)))
}

fn capture_loop(
    mut source: Box<dyn FrameSource>,
    control: &VideoControl,
    stats: &Mutex<VideoStats>,
    stop: &StopSignal,
    slot: &LatestSlot<RawFrame>,
) {
    let clocking = source.clocking();
    let mut next_due = Instant::now();
    let mut failing = false;
    loop {
        if clocking == Clocking::OnDemand && stop.sleep_until(next_due) {
            return;
        }
        if stop.is_stopped() {
            return;
        }
        let t = Instant::now();
        match source.grab(control.size()) {
            Ok(mut frame) => {
                let now = Instant::now();
                if clocking == Clocking::Free && now < next_due {
                    continue; // not due yet: drop it unconverted
                }
                // Schedule the next frame one period after this one was due; after a
                // stall, restart the schedule instead of bursting to catch up.
                let p = period(control);
                next_due += p;
                if next_due < now {
                    next_due = now + p;
                }
                if frame.capture_us == 0 {
                    frame.capture_us = micros(t.elapsed());
                }
                let black = looks_black(&frame);
                let (size, format) = ((frame.width(), frame.height()), frame.format());
                // The stats describe the frame before it is handed on: the encoder thread
                // may deliver it before this thread would get the lock again.
                let mut s = lock(stats);
                if failing || s.state == VideoState::Starting {
                    s.state = VideoState::Running;
                    failing = false;
                }
                s.source_size = Some(size);
                s.source_format = Some(format);
                s.warning = black.then(|| {
                    "the source delivers all-black frames (exclusive full-screen game, \
                     minimised window or protected content?)"
                        .to_owned()
                });
                drop(s);
                if slot.put(frame) {
                    lock(stats).dropped_stale += 1;
                }
            }
            Err(SourceError::Transient(msg)) => {
                tracing::debug!(%msg, "video frame failed");
                let mut s = lock(stats);
                s.errors += 1;
                s.last_error = Some(msg);
                drop(s);
                if stop.sleep_until(Instant::now() + period(control)) {
                    return;
                }
            }
            Err(SourceError::Gone(msg)) => {
                tracing::warn!(%msg, "video source gone; retrying");
                {
                    let mut s = lock(stats);
                    s.errors += 1;
                    s.state = VideoState::Stalled(msg.clone());
                    s.last_error = Some(msg);
                }
                failing = true;
                loop {
                    if stop.sleep_until(Instant::now() + RETRY_EVERY) {
                        return;
                    }
                    match source.recover() {
                        Ok(()) => {
                            lock(stats).source = source.describe();
                            break;
                        }
                        Err(SourceError::Fatal(msg)) => {
                            fail(stats, msg);
                            return;
                        }
                        Err(e) => lock(stats).state = VideoState::Stalled(e.to_string()),
                    }
                }
                next_due = Instant::now();
            }
            Err(SourceError::Fatal(msg)) => {
                fail(stats, msg);
                return;
            }
        }
    }
}

fn fail(stats: &Mutex<VideoStats>, msg: String) {
    tracing::error!(%msg, "video source failed");
    let mut s = lock(stats);
    s.errors += 1;
    s.last_error = Some(msg.clone());
    s.state = VideoState::Failed(msg);
}

/// Writes packed pixels as RGBA8 with alpha 255.
fn to_rgba(data: &[u8], order: PixelOrder, out: &mut Vec<u8>) {
    out.clear();
    match order {
        PixelOrder::Rgba => out.extend(data.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2], 255])),
        PixelOrder::Bgra => out.extend(data.chunks_exact(4).flat_map(|p| [p[2], p[1], p[0], 255])),
        PixelOrder::Rgb => out.extend(data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255])),
    }
}

fn rgba_loop(
    control: &VideoControl,
    mut sink: Box<dyn FnMut(RgbaFrame) + Send>,
    stats: &Mutex<VideoStats>,
    slot: &LatestSlot<RawFrame>,
    stop: &StopSignal,
) {
    let mut scaler = Scaler::new();
    scaler.set_jpeg_passthrough(false);
    let pool = BufPool::new(JPEG_BUFFERS_KEPT);
    let mut seq = 0u64;
    while let Some(frame) = slot.take() {
        if stop.is_stopped() {
            return;
        }
        let queue_us = micros(frame.captured_at.elapsed());
        let t0 = Instant::now();
        let mut rgba = pool.take();
        let (width, height) =
            match scaler.prepare(&frame, control.size(), control.scale_mode(), control.crop()) {
                Ok(Prepared::Pixels {
                    data,
                    width,
                    height,
                    order,
                }) => {
                    to_rgba(data, order, &mut rgba);
                    (width, height)
                }
                // passthrough is off above, so this does not happen; an error, not a panic
                Ok(Prepared::Jpeg { .. }) => {
                    record_error(stats, "camera JPEG cannot feed an RGBA output".into());
                    continue;
                }
                Err(e) => {
                    record_error(stats, e.to_string());
                    continue;
                }
            };
        let scale_us = micros(t0.elapsed());
        {
            let mut s = lock(stats);
            s.frames = seq + 1;
            s.last_bytes = rgba.len();
            s.last_size = Some((width, height));
            s.passthrough = false;
            s.last_timing = LastTiming {
                capture_us: frame.capture_us,
                queue_us,
                scale_us,
                encode_us: 0,
                send_us: s.last_timing.send_us,
            };
        }
        let ts = Instant::now();
        sink(RgbaFrame {
            seq,
            captured_at: frame.captured_at,
            ts_ms: frame.ts_ms,
            width,
            height,
            data: pool.freeze(rgba),
        });
        lock(stats).last_timing.send_us = micros(ts.elapsed());
        seq += 1;
    }
}

fn encode_loop(
    control: &VideoControl,
    sink: Output,
    stats: &Mutex<VideoStats>,
    slot: &LatestSlot<RawFrame>,
    stop: &StopSignal,
) {
    let mut sink = match sink {
        Output::Jpeg(s) => s,
        Output::Rgba(s) => return rgba_loop(control, s, stats, slot, stop),
    };
    let mut scaler = Scaler::new();
    // JPEG buffers come back when the sender has sent (and dropped) a frame.
    let pool = BufPool::new(JPEG_BUFFERS_KEPT);
    let mut seq = 0u64;
    while let Some(frame) = slot.take() {
        if stop.is_stopped() {
            return;
        }
        let queue_us = micros(frame.captured_at.elapsed());
        let quality = control.quality();
        let t0 = Instant::now();
        let prepared = scaler.prepare(&frame, control.size(), control.scale_mode(), control.crop());
        let t1 = Instant::now();
        let (bytes, width, height, passthrough, encode_us) = match prepared {
            Ok(Prepared::Jpeg {
                bytes,
                width,
                height,
            }) => (bytes, width, height, true, 0),
            Ok(Prepared::Pixels {
                data,
                width,
                height,
                order,
            }) => {
                let settings = JpegSettings::for_quality(quality);
                let mut jpeg = pool.take();
                match encode_jpeg(data, width, height, order, &settings, &mut jpeg) {
                    Ok(()) => (
                        pool.freeze(jpeg),
                        width,
                        height,
                        false,
                        micros(t1.elapsed()),
                    ),
                    Err(e) => {
                        record_error(stats, e.to_string());
                        continue;
                    }
                }
            }
            Err(e) => {
                record_error(stats, e.to_string());
                continue;
            }
        };
        let scale_us = micros(t1 - t0);
        let timing = FrameTiming {
            capture_us: frame.capture_us,
            scale_us,
            encode_us,
        };
        let last_bytes = bytes.len();
        let out = VideoFrame {
            seq,
            ts_ms: frame.ts_ms,
            width,
            height,
            quality,
            jpeg: bytes,
            timing,
        };
        // Stats first, so whoever the sink wakes sees them describing this frame.
        {
            let mut s = lock(stats);
            s.frames = seq + 1;
            s.last_bytes = last_bytes;
            s.last_size = Some((width, height));
            s.passthrough = passthrough;
            s.last_timing = LastTiming {
                capture_us: timing.capture_us,
                queue_us,
                scale_us,
                encode_us,
                send_us: s.last_timing.send_us,
            };
        }
        let ts = Instant::now();
        sink(out);
        lock(stats).last_timing.send_us = micros(ts.elapsed());
        seq += 1;
    }
}

fn record_error(stats: &Mutex<VideoStats>, msg: String) {
    tracing::warn!(%msg, "video frame dropped");
    let mut s = lock(stats);
    s.errors += 1;
    s.last_error = Some(msg);
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // test threads need no names (clippy.toml)
mod tests {
    use super::*;

    #[test]
    fn slot_keeps_latest_and_counts_replacements() {
        let slot = LatestSlot::default();
        assert!(!slot.put(1));
        assert!(slot.put(2));
        assert!(slot.put(3));
        assert_eq!(slot.take(), Some(3));
        assert!(!slot.put(4));
        assert_eq!(slot.take(), Some(4));
        slot.close();
        assert_eq!(slot.take(), None);
    }

    #[test]
    fn slot_close_wakes_waiter() {
        let slot = Arc::new(LatestSlot::<u8>::default());
        let s2 = slot.clone();
        let h = std::thread::spawn(move || s2.take());
        // The waiter may or may not be parked yet; close must end it either way.
        slot.close();
        assert_eq!(h.join().unwrap(), None);
    }
}
