//! A recording as the live pane's data source: opened off the UI thread (with progress)
//! through the live view's own ingest path ([`session::replay::into_view_with_progress`]),
//! then held with its frames' pixels paged to disk: the store keeps every frame listed
//! and [`ReplaySource::frame_for`] has a paged-out frame read back through the chunk index
//! when the cursor lands on it, on the loader thread (the UI never waits on the disk).
//! The capture side's track ([`CaptureTrack`]) says what was sent at the cursor; its JPEG
//! is read back the same way.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use bytes::Bytes;

use crate::ui::capture::PreviewTexture;
use crate::ui::capture::preview::{self, Preview};
use capdeck_grimstream::FeedRole;
use capdeck_grimstream::live::LiveView;
use capdeck_grimstream::store::StoredFrame;
use capdeck_record::capture_track::{CaptureTrack, VideoSent, load_jpeg};
use capdeck_record::reader::Recording;
use capdeck_record::writer::{FlushedSpan, WrittenSpans};
use capdeck_session::record::RecordTap;
use capdeck_session::replay::{self, ViewReplay};
use capdeck_util::lock;

/// A recording being opened on its own thread.
pub struct OpeningRecording {
    /// The folder (or segment) being opened.
    pub path: PathBuf,
    /// How far the read got, thousandths of the recording's time range.
    pub progress: Arc<AtomicU64>,
    /// When the open started.
    pub started: Instant,
    rx: Receiver<Result<Opened, String>>,
}

/// What the opening thread hands back.
pub struct Opened {
    /// The view holding the recording's history (its clock is the real clock again).
    pub view: LiveView,
    /// The recording (kept open for reading paged-out frames back).
    pub recording: Recording,
    /// What was fed.
    pub replay: ViewReplay,
    /// End of the data, viewer-clock ns.
    pub end_ns: i64,
}

impl OpeningRecording {
    /// Starts opening `path` into a fresh view with this memory budget (frames over it
    /// are paged out and read back from the file when needed).
    pub fn start(path: &Path, budget_bytes: usize, max_message_len: u32) -> OpeningRecording {
        let progress = Arc::new(AtomicU64::new(0));
        let (tx, rx) = sync_channel(1);
        let p = path.to_owned();
        let prog = progress.clone();
        let spawned = std::thread::Builder::new()
            .name("capdeck-open-recording".into())
            .spawn(move || {
                let r = open(&p, budget_bytes, max_message_len, &prog);
                let _ = tx.send(r);
            });
        let rx = match spawned {
            Ok(_) => rx,
            Err(e) => {
                let (tx, rx) = sync_channel(1);
                let _ = tx.send(Err(format!("cannot start the reader thread: {e}")));
                rx
            }
        };
        OpeningRecording {
            path: path.to_owned(),
            progress,
            started: Instant::now(),
            rx,
        }
    }

    /// The result, once the thread is done.
    pub fn poll(&self) -> Option<Result<Opened, String>> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err("the reader thread ended".into())),
        }
    }

    /// Progress 0..1.
    pub fn fraction(&self) -> f32 {
        self.progress.load(Ordering::Relaxed) as f32 / 1000.0
    }
}

fn open(
    path: &Path,
    budget_bytes: usize,
    max_message_len: u32,
    progress: &AtomicU64,
) -> Result<Opened, String> {
    let recording =
        Recording::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut view = LiveView::new(budget_bytes);
    view.set_paging(true);
    let replay = replay::into_view_with_progress(&recording, &mut view, max_message_len, progress)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    // the whole extent: the feeds' data, or what the capture side sent after it
    let span = recording
        .time_range()
        .map_or(0, |(a, b)| b.saturating_sub(a).min(i64::MAX as u64) as i64);
    let end_ns = view.with_store(|s| s.time_range().map_or(span, |r| r.1.max(span)));
    for role in FeedRole::ALL {
        if view.has_source(role) {
            view.close_source(role, end_ns, "end of the recording");
        }
    }
    // The data keeps its recorded times; the clock runs again so playback moves.
    view.clock().set_manual(None);
    progress.store(1000, Ordering::Relaxed);
    Ok(Opened {
        view,
        recording,
        replay,
        end_ns,
    })
}

/// A paged-out frame's identity.
type FrameKey = (u64, u64, i64);

fn key(f: &StoredFrame) -> FrameKey {
    (f.generation, f.frame_id, f.arrival_ns)
}

/// A sent video frame's identity (log time and seq: seq restarts with a new sender).
type JpegKey = (u64, u64);

fn jpeg_key(v: &VideoSent) -> JpegKey {
    (v.log_time_ns, v.seq)
}

/// Where paged-out pixels and sent JPEGs are read back from (on the loader thread).
pub trait PageSource: Send + Sync + 'static {
    /// The pixels of a paged-out frame (`Ok(None)`: not there).
    fn frame(&self, f: &StoredFrame) -> Result<Option<Bytes>, String>;
    /// The JPEG of a sent video frame (`Ok(None)`: not there).
    fn jpeg(&self, v: &VideoSent) -> Result<Option<Bytes>, String>;
}

impl PageSource for Recording {
    fn frame(&self, f: &StoredFrame) -> Result<Option<Bytes>, String> {
        replay::load_frame(self, f).map_err(|e| e.to_string())
    }
    fn jpeg(&self, v: &VideoSent) -> Result<Option<Bytes>, String> {
        load_jpeg(self, v).map_err(|e| e.to_string())
    }
}

/// The session being recorded, read back through the spans its writer has flushed: the
/// live view's history while recording is bounded by the disk, not by memory.
pub struct WrittenSession {
    /// The session folder.
    pub dir: PathBuf,
    /// What the writer has flushed so far.
    pub spans: WrittenSpans,
    /// The tap that puts the view's times on the session clock.
    pub tap: Arc<RecordTap>,
}

impl PageSource for WrittenSession {
    fn frame(&self, f: &StoredFrame) -> Result<Option<Bytes>, String> {
        let at = self.tap.session_time(f.arrival_ns);
        let from = at.saturating_sub(replay::LOAD_SLACK_NS);
        // the spans that may hold it, copied out: the writer is never kept waiting
        let spans: Vec<FlushedSpan> = {
            let g = lock(&self.spans);
            let first = g.partition_point(|s| s.end_ns < from);
            g[first..]
                .iter()
                .take_while(|s| s.start_ns <= at)
                .cloned()
                .collect()
        };
        if spans.is_empty() {
            return Err(format!(
                "frame {} is not on disk (it came before the recording started)",
                f.frame_id
            ));
        }
        replay::load_frame_written(&self.dir, &spans, at, f).map_err(|e| e.to_string())
    }
    fn jpeg(&self, _v: &VideoSent) -> Result<Option<Bytes>, String> {
        Ok(None)
    }
}

/// What the loader thread is asked for: the newest request of each kind wins (a request
/// not yet started is replaced, so fast scrubbing never queues reads).
#[derive(Default)]
struct Wants {
    frame: Option<StoredFrame>,
    jpeg: Option<VideoSent>,
    stop: bool,
}

/// What the loader thread read.
#[derive(Default)]
struct Gots {
    frame: Option<(FrameKey, Result<Option<Bytes>, String>, f32)>,
    jpeg: Option<(JpegKey, Result<Preview, String>)>,
}

struct LoaderShared {
    want: Mutex<Wants>,
    wake: Condvar,
    got: Mutex<Gots>,
}

/// The thread that reads paged-out frames and sent JPEGs back, so the UI thread never
/// waits on the disk: one slot per kind, newest wins; the UI keeps drawing what it has
/// until the read is done.
struct Loader {
    shared: Arc<LoaderShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Loader {
    fn spawn(source: Arc<dyn PageSource>, waker: Option<egui::Context>) -> std::io::Result<Loader> {
        let shared = Arc::new(LoaderShared {
            want: Mutex::new(Wants::default()),
            wake: Condvar::new(),
            got: Mutex::new(Gots::default()),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("capdeck-page-loader".into())
            .spawn(move || loader_loop(&sh, &*source, waker.as_ref()))?;
        Ok(Loader {
            shared,
            thread: Some(thread),
        })
    }

    fn ask(&self, f: impl FnOnce(&mut Wants)) {
        f(&mut lock(&self.shared.want));
        self.shared.wake.notify_one();
    }

    fn take(&self) -> Gots {
        std::mem::take(&mut *lock(&self.shared.got))
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.ask(|w| w.stop = true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn loader_loop(sh: &LoaderShared, source: &dyn PageSource, waker: Option<&egui::Context>) {
    loop {
        let (frame, jpeg) = {
            let mut w = lock(&sh.want);
            while !w.stop && w.frame.is_none() && w.jpeg.is_none() {
                w = match sh.wake.wait(w) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
            }
            if w.stop {
                return;
            }
            (w.frame.take(), w.jpeg.take())
        };
        if let Some(f) = frame {
            let t = Instant::now();
            let r = source.frame(&f);
            let ms = t.elapsed().as_secs_f32() * 1000.0;
            lock(&sh.got).frame = Some((key(&f), r, ms));
        }
        if let Some(v) = jpeg {
            let r = match source.jpeg(&v) {
                Ok(Some(jpeg)) => preview::decode(&jpeg).map(|image| Preview {
                    seq: v.seq,
                    image: Arc::new(image),
                    jpeg_bytes: jpeg.len(),
                }),
                Ok(None) => Err(format!("video frame {} is not in the recording", v.seq)),
                Err(e) => Err(e),
            };
            lock(&sh.got).jpeg = Some((jpeg_key(&v), r));
        }
        if let Some(w) = waker {
            w.request_repaint();
        }
    }
}

/// Frames paged out of the view's memory, read back from disk on a loader thread as the
/// cursor lands on them: for a replayed recording and for the live view while recording.
pub struct FramePager {
    loader: Option<Loader>,
    /// The frame last read back (drawn until the next one is read).
    loaded: Option<StoredFrame>,
    /// The frame being read (as listed, paged out).
    pending: Option<StoredFrame>,
    /// The frame whose read failed last (not tried again every frame).
    failed: Option<FrameKey>,
    /// Frames read back from disk.
    pub loads: u64,
    /// Time the last read took, ms.
    pub last_load_ms: f32,
    /// Why the last read failed, if it did.
    pub load_error: Option<String>,
}

impl FramePager {
    /// A pager reading from `source` on its own thread (`waker` repaints when a read is
    /// done).
    pub fn new(source: Arc<dyn PageSource>, waker: Option<egui::Context>) -> FramePager {
        let (loader, load_error) = match Loader::spawn(source, waker) {
            Ok(l) => (Some(l), None),
            Err(e) => (
                None,
                Some(format!(
                    "cannot start the reader thread: {e}; frames paged out stay blank"
                )),
            ),
        };
        FramePager {
            loader,
            loaded: None,
            pending: None,
            failed: None,
            loads: 0,
            last_load_ms: 0.0,
            load_error,
        }
    }

    /// Takes what the loader read since the last call (once a frame); hands back a JPEG
    /// result for the caller.
    fn poll(&mut self) -> Option<(JpegKey, Result<Preview, String>)> {
        let got = self.loader.as_ref()?.take();
        // a read for an older request (the cursor moved on) is dropped: the newer one is
        // already asked for
        if let Some((k, r, ms)) = got.frame
            && let Some(f) = self.pending.take_if(|p| key(p) == k)
        {
            match r {
                Ok(Some(data)) => {
                    self.loads += 1;
                    self.last_load_ms = ms;
                    self.load_error = None;
                    self.loaded = Some(StoredFrame {
                        data,
                        paged_out: false,
                        ..f
                    });
                }
                Ok(None) => {
                    self.failed = Some(k);
                    self.load_error = Some(format!(
                        "frame {} is not on disk (a damaged chunk?)",
                        f.frame_id
                    ));
                }
                Err(e) => {
                    self.failed = Some(k);
                    self.load_error = Some(format!("cannot read frame {}: {e}", f.frame_id));
                }
            }
        }
        got.jpeg
    }

    /// The frame to draw for `f`: itself when its pixels are in memory; else, once read
    /// back on the loader thread, the same frame with its pixels. Until then the frame read
    /// last stays on screen (or `f`, blank, when none was).
    pub fn frame_for(&mut self, f: &StoredFrame) -> StoredFrame {
        if !f.paged_out {
            return f.clone();
        }
        let k = key(f);
        if let Some(l) = &self.loaded
            && key(l) == k
        {
            return l.clone();
        }
        if self.failed == Some(k) {
            return f.clone();
        }
        if let Some(loader) = &self.loader
            && self.pending.as_ref().map(key) != Some(k)
        {
            loader.ask(|w| w.frame = Some(f.clone()));
            self.pending = Some(f.clone());
        }
        self.loaded.clone().unwrap_or_else(|| f.clone())
    }

    /// Takes what was read for a live view's pager (no JPEGs are asked for there).
    pub fn poll_frames(&mut self) {
        let _ = self.poll();
    }

    /// Whether a frame is being read from disk.
    pub fn loading(&self) -> bool {
        self.pending.is_some()
    }
}

/// An opened recording: the file behind the pane's history.
pub struct ReplaySource {
    /// The folder (or segment) opened.
    pub path: PathBuf,
    /// Paged-out frames, read back from the recording.
    pub pager: FramePager,
    /// What opening fed (messages, refused, gaps, unknown topics).
    pub replay: ViewReplay,
    /// What the capture side sent, by time.
    pub capture: CaptureTrack,
    /// Problems found while opening (recovered segments, damaged manifest, …).
    pub problems: Vec<String>,
    /// The sent JPEG at the cursor, decoded.
    pub jpeg: Option<Preview>,
    jpeg_shown: Option<JpegKey>,
    jpeg_pending: Option<JpegKey>,
    jpeg_failed: Option<JpegKey>,
    /// Why the last JPEG could not be shown.
    pub jpeg_error: Option<String>,
    /// Texture of [`ReplaySource::jpeg`].
    pub jpeg_tex: PreviewTexture,
    /// A send to a host or an export running (or done) on this recording.
    pub job: Option<crate::ui::recordings::RecordingJob>,
}

impl ReplaySource {
    /// A path beside the recording, named after it with `suffix` (what its exports write).
    pub fn beside(&self, suffix: &str) -> PathBuf {
        let name = self.path.file_name().map_or_else(
            || "recording".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        self.path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(format!("{name}{suffix}"))
    }

    /// Wraps what [`OpeningRecording`] opened (the view goes to the caller) and starts
    /// its loader thread (`waker` repaints when a read is done).
    pub fn new(
        path: PathBuf,
        recording: Recording,
        mut replay: ViewReplay,
        waker: Option<egui::Context>,
    ) -> ReplaySource {
        let problems = recording.problems.clone();
        ReplaySource {
            path,
            pager: FramePager::new(Arc::new(recording), waker),
            capture: std::mem::take(&mut replay.capture),
            replay,
            problems,
            jpeg: None,
            jpeg_shown: None,
            jpeg_pending: None,
            jpeg_failed: None,
            jpeg_error: None,
            jpeg_tex: PreviewTexture::default(),
            job: None,
        }
    }

    /// Takes what the loader thread read since the last call (once a frame).
    pub fn poll(&mut self) {
        if let Some(j) = &mut self.job {
            j.poll();
        }
        if let Some((k, r)) = self.pager.poll()
            && self.jpeg_pending.take_if(|p| *p == k).is_some()
        {
            match r {
                Ok(p) => {
                    self.jpeg = Some(p);
                    self.jpeg_shown = Some(k);
                    self.jpeg_error = None;
                }
                Err(e) => {
                    self.jpeg_failed = Some(k);
                    self.jpeg_error = Some(e);
                }
            }
        }
    }

    /// Asks for the JPEG sent at the cursor (`None`: nothing sent yet there); it appears
    /// in [`ReplaySource::jpeg`] once read and decoded.
    pub fn want_jpeg(&mut self, v: Option<&VideoSent>) {
        let Some(v) = v else {
            self.jpeg = None;
            self.jpeg_shown = None;
            return;
        };
        let k = jpeg_key(v);
        if self.jpeg_shown == Some(k) || self.jpeg_pending == Some(k) || self.jpeg_failed == Some(k)
        {
            return;
        }
        if let Some(loader) = &self.pager.loader {
            loader.ask(|w| w.jpeg = Some(*v));
            self.jpeg_pending = Some(k);
        }
    }
}
