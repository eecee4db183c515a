//! The recorder: a [`SessionWriter`] on its own named thread behind a bounded queue.
//!
//! Queue and drop policy: producers (link, feed and UI threads) call
//! [`RecordSink::record`], which never waits. The queue holds at most
//! [`RecorderOptions::queue_messages`] messages and [`RecorderOptions::queue_bytes`] bytes;
//! a message that does not fit is dropped (the newest is dropped, what is queued is kept,
//! so a recording has no holes in the middle of what it did write) and counted in
//! [`RecorderStatus::dropped`]. The writer thread flushes at least every
//! [`RecorderOptions::flush_every`], so a crash loses at most that much.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::manifest::Manifest;
use super::writer::{SessionWriter, WriteError, WriterOptions, WrittenSpans};
use super::{Entry, Payload, Topic};
use capdeck_util::lock;

/// Tunables of the recorder.
#[derive(Debug, Clone)]
pub struct RecorderOptions {
    /// The files.
    pub writer: WriterOptions,
    /// Queue capacity, messages.
    pub queue_messages: usize,
    /// Queue capacity, bytes.
    pub queue_bytes: usize,
    /// Longest time between flushes.
    pub flush_every: Duration,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            writer: WriterOptions::default(),
            queue_messages: 4096,
            queue_bytes: 256 * 1024 * 1024,
            flush_every: Duration::from_secs(1),
        }
    }
}

/// What the recorder is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecorderState {
    /// Writing.
    Recording,
    /// Stopped: by the caller, or by a guard or error (the reason says which).
    Stopped {
        /// Why.
        reason: String,
        /// True when a guard or an error stopped it, not the caller.
        by_error: bool,
    },
}

/// A snapshot of the recorder, for an indicator or a summary line.
#[derive(Debug, Clone)]
pub struct RecorderStatus {
    /// The session folder.
    pub dir: PathBuf,
    /// Recording or stopped.
    pub state: RecorderState,
    /// Time since the recording started.
    pub elapsed: Duration,
    /// Messages written.
    pub messages: u64,
    /// Bytes handed to the writer.
    pub bytes_in: u64,
    /// Bytes of the session's files on disk.
    pub bytes_on_disk: u64,
    /// Messages dropped because the queue was full (or after the recording stopped).
    pub dropped: u64,
    /// Sealed segments.
    pub segments: usize,
    /// Free space on the disk at the last check.
    pub disk_free: Option<u64>,
}

struct Shared {
    queued_bytes: AtomicU64,
    dropped: AtomicU64,
    stopped: AtomicBool,
    status: Mutex<RecorderStatus>,
}

enum Msg {
    Entry(Entry),
    /// Stop, with the reason the manifest keeps.
    Stop(String),
}

/// A cheap, cloneable handle the taps record through. Never blocks.
#[derive(Clone)]
pub struct RecordSink {
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
    queue_bytes: u64,
    epoch: Instant,
    started_unix_ns: u64,
}

impl std::fmt::Debug for RecordSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordSink")
    }
}

impl RecordSink {
    /// Queues a message for the writer; `false` when it was dropped (queue full or the
    /// recording stopped), which is counted.
    pub fn record(&self, e: Entry) -> bool {
        if self.shared.stopped.load(Ordering::Relaxed) {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let len = e.payload.len() as u64;
        let before = self.shared.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if before + len > self.queue_bytes {
            self.shared.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        match self.tx.try_send(Msg::Entry(e)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// The session clock at `t` (Unix ns: the wall-clock start plus the monotonic time
    /// since it, so a wall-clock step during the recording does not reorder it).
    pub fn at_instant(&self, t: Instant) -> u64 {
        let since = t.saturating_duration_since(self.epoch).as_nanos();
        self.started_unix_ns + since.min(u64::MAX as u128 / 2) as u64
    }

    /// The session clock now.
    pub fn now_ns(&self) -> u64 {
        self.at_instant(Instant::now())
    }

    /// The session clock at a wall-clock time reported by a link (`SystemTime`), mapped
    /// through the monotonic clock: the time elapsed since `t` is taken from now.
    pub fn at_system_time(&self, t: SystemTime) -> u64 {
        let ago = SystemTime::now().duration_since(t).unwrap_or_default();
        let now = Instant::now();
        self.at_instant(now.checked_sub(ago).unwrap_or(now))
    }

    /// Records a JSON record (marks, settings) at the session clock now.
    pub fn record_json(&self, topic: Topic, value: &serde_json::Value) -> bool {
        let t = self.now_ns();
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        self.record(Entry {
            topic,
            log_time_ns: t,
            publish_time_ns: t,
            sequence: 0,
            payload: Payload::Raw(bytes.into()),
        })
    }

    /// True while the recorder still takes messages.
    pub fn is_recording(&self) -> bool {
        !self.shared.stopped.load(Ordering::Relaxed)
    }
}

/// A running recording. Dropping it stops the recording and seals the last segment.
pub struct Recorder {
    sink: RecordSink,
    thread: Option<JoinHandle<Manifest>>,
    written: WrittenSpans,
}

impl Recorder {
    /// Creates the session folder and starts the writer thread (`capdeck-recorder`).
    pub fn start(dir: &Path, opts: RecorderOptions) -> Result<Recorder, WriteError> {
        let epoch = Instant::now();
        let started_unix_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let writer = SessionWriter::create(dir, started_unix_ns, opts.writer.clone())?;
        let (tx, rx) = sync_channel(opts.queue_messages.max(1));
        let shared = Arc::new(Shared {
            queued_bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            status: Mutex::new(RecorderStatus {
                dir: dir.to_owned(),
                state: RecorderState::Recording,
                elapsed: Duration::ZERO,
                messages: 0,
                bytes_in: 0,
                bytes_on_disk: 0,
                dropped: 0,
                segments: 0,
                disk_free: writer.free_bytes(),
            }),
        });
        let s2 = shared.clone();
        let written = writer.written();
        let flush_every = opts.flush_every;
        let thread = std::thread::Builder::new()
            .name("capdeck-recorder".into())
            .spawn(move || run(writer, rx, s2, flush_every, epoch))
            .map_err(|e| WriteError::Io {
                what: "starting the recorder thread".into(),
                reason: e.to_string(),
                kind: e.kind(),
            })?;
        Ok(Recorder {
            sink: RecordSink {
                tx,
                shared,
                queue_bytes: opts.queue_bytes as u64,
                epoch,
                started_unix_ns,
            },
            thread: Some(thread),
            written,
        })
    }

    /// What the writer has made readable so far (one span a flush), for reading the
    /// session while it is recorded ([`super::reader::read_span`]).
    pub fn written(&self) -> WrittenSpans {
        self.written.clone()
    }

    /// A handle to record through.
    pub fn sink(&self) -> RecordSink {
        self.sink.clone()
    }

    /// The recorder's state now.
    pub fn status(&self) -> RecorderStatus {
        let mut s = lock(&self.sink.shared.status).clone();
        s.dropped = self.sink.shared.dropped.load(Ordering::Relaxed);
        if s.state == RecorderState::Recording {
            s.elapsed = self.sink.epoch.elapsed();
        }
        s
    }

    /// Stops the recording: everything queued is written, the last segment sealed, and the
    /// final manifest returned. The recording says it was stopped by the user.
    pub fn stop(self) -> Option<Manifest> {
        self.stop_because(STOPPED_BY_THE_USER)
    }

    /// [`Recorder::stop`] with the reason the recording ended (the manifest's
    /// `stop_reason` and the status), e.g. "the --duration of 20 s ended".
    pub fn stop_because(mut self, reason: impl Into<String>) -> Option<Manifest> {
        self.stop_inner(reason.into())
    }

    fn stop_inner(&mut self, reason: String) -> Option<Manifest> {
        let thread = self.thread.take()?;
        // The queue may be full; the writer drains it, so a blocking send ends promptly.
        let _ = self.sink.tx.send(Msg::Stop(reason));
        thread.join().ok()
    }
}

/// The reason of a recording stopped by [`Recorder::stop`] (or dropped).
pub const STOPPED_BY_THE_USER: &str = "stopped by the user";

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop_inner(STOPPED_BY_THE_USER.into());
    }
}

fn run(
    mut w: SessionWriter,
    rx: Receiver<Msg>,
    shared: Arc<Shared>,
    flush_every: Duration,
    epoch: Instant,
) -> Manifest {
    let mut last_flush = Instant::now();
    let mut messages = 0u64;
    let mut bytes_in = 0u64;
    let mut failure: Option<WriteError> = None;
    let mut disk_free = w.free_bytes();
    // every sender gone without a word: the recorder was dropped
    let mut stop_reason = STOPPED_BY_THE_USER.to_owned();
    loop {
        let wait = flush_every.saturating_sub(last_flush.elapsed());
        match rx.recv_timeout(wait) {
            Ok(Msg::Entry(e)) => {
                let len = e.payload.len() as u64;
                shared.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                if failure.is_none() {
                    match w.write(&e) {
                        Ok(()) => {
                            messages += 1;
                            bytes_in += len;
                        }
                        Err(err) => failure = Some(err),
                    }
                } else {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Msg::Stop(why)) => {
                stop_reason = why;
                break;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if failure.is_none() && last_flush.elapsed() >= flush_every {
            last_flush = Instant::now();
            w.set_dropped(shared.dropped.load(Ordering::Relaxed));
            if let Err(err) = w.flush() {
                failure = Some(err);
            }
            disk_free = w.free_bytes();
        }
        let mut st = lock(&shared.status);
        st.messages = messages;
        st.bytes_in = bytes_in;
        st.bytes_on_disk = w.bytes_on_disk();
        st.segments = w.manifest().segments.len();
        // After a failure, keep draining (and counting) until the caller stops, so no
        // producer waits.
        if let Some(err) = &failure
            && st.state == RecorderState::Recording
        {
            tracing::warn!(error = %err, dir = %w.dir().display(), "recording stopped");
            shared.stopped.store(true, Ordering::Relaxed);
            st.state = RecorderState::Stopped {
                reason: err.to_string(),
                by_error: true,
            };
            st.elapsed = epoch.elapsed();
        }
        st.disk_free = disk_free;
    }
    shared.stopped.store(true, Ordering::Relaxed);
    let reason = failure
        .as_ref()
        .map(|e| e.to_string())
        .unwrap_or(stop_reason);
    let bytes_on_disk_before = w.bytes_on_disk();
    let (manifest, err) = w.finish(Some(reason.clone()), shared.dropped.load(Ordering::Relaxed));
    let mut st = lock(&shared.status);
    if let Some(err) = err {
        tracing::warn!(error = %err, "sealing the last segment failed; it stays recoverable");
    }
    st.bytes_on_disk = manifest
        .segments
        .iter()
        .map(|s| s.bytes)
        .sum::<u64>()
        .max(bytes_on_disk_before);
    st.segments = manifest.segments.len();
    st.messages = messages;
    st.bytes_in = bytes_in;
    if st.state == RecorderState::Recording {
        st.state = RecorderState::Stopped {
            reason,
            by_error: false,
        };
        st.elapsed = epoch.elapsed();
    }
    manifest
}
