//! A recording as the live pane's data source: opened off the UI thread (with progress)
//! through the live view's own ingest path ([`session::replay::into_view_with_progress`]),
//! then held with its frames' pixels paged to disk: the store keeps every frame listed
//! and [`ReplaySource::frame_for`] reads a paged-out frame back through the chunk index
//! when the cursor lands on it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};
use std::time::Instant;

use crate::grimstream::FeedRole;
use crate::grimstream::live::LiveView;
use crate::grimstream::store::StoredFrame;
use crate::record::reader::Recording;
use crate::session::replay::{self, ViewReplay};

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
    let end_ns = view.with_store(|s| s.time_range().map_or(0, |r| r.1));
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

/// An opened recording: the file behind the pane's history.
pub struct ReplaySource {
    /// The folder (or segment) opened.
    pub path: PathBuf,
    recording: Recording,
    /// What opening fed (messages, refused, gaps, unknown topics).
    pub replay: ViewReplay,
    /// Problems found while opening (recovered segments, damaged manifest, …).
    pub problems: Vec<String>,
    /// The frame last read back from disk (kept so its texture stays cached).
    loaded: Option<StoredFrame>,
    /// The frame whose read failed last (not tried again every frame).
    failed: Option<(u64, u64, i64)>,
    /// Frames read back from disk.
    pub loads: u64,
    /// Time the last read took, ms.
    pub last_load_ms: f32,
    /// Why the last read failed, if it did.
    pub load_error: Option<String>,
}

impl ReplaySource {
    /// Wraps what [`OpeningRecording`] opened (the view goes to the caller).
    pub fn new(path: PathBuf, recording: Recording, replay: ViewReplay) -> ReplaySource {
        ReplaySource {
            path,
            problems: recording.problems.clone(),
            recording,
            replay,
            loaded: None,
            failed: None,
            loads: 0,
            last_load_ms: 0.0,
            load_error: None,
        }
    }

    /// The frame to draw for `f`: itself when its pixels are in memory, else the same
    /// frame with its pixels read back from the recording (cached while the cursor stays).
    pub fn frame_for(&mut self, f: &StoredFrame) -> StoredFrame {
        if !f.paged_out {
            return f.clone();
        }
        let key = (f.generation, f.frame_id, f.arrival_ns);
        if let Some(l) = &self.loaded
            && (l.generation, l.frame_id, l.arrival_ns) == key
        {
            return l.clone();
        }
        if self.failed == Some(key) {
            return f.clone();
        }
        let t = Instant::now();
        match replay::load_frame(&self.recording, f) {
            Ok(Some(data)) => {
                self.loads += 1;
                self.last_load_ms = t.elapsed().as_secs_f32() * 1000.0;
                self.load_error = None;
                let l = StoredFrame {
                    data,
                    paged_out: false,
                    ..f.clone()
                };
                self.loaded = Some(l.clone());
                l
            }
            Ok(None) => {
                self.failed = Some(key);
                self.load_error = Some(format!(
                    "frame {} is not in the recording (a damaged chunk?)",
                    f.frame_id
                ));
                f.clone()
            }
            Err(e) => {
                self.failed = Some(key);
                self.load_error = Some(format!("cannot read frame {}: {e}", f.frame_id));
                f.clone()
            }
        }
    }
}
