//! One feed connection: a named std thread that connects (TCP or Unix), decodes, answers
//! the engine handshake, detects stalls, reconnects with capped backoff, and writes every
//! message into the shared [`Store`] and the feed's [`FeedStatus`].
//!
//! A connection that is accepted but stays silent (no HELLO within
//! [`FeedOptions::hello_timeout`]) is [`FeedState::NoHello`]: a one-viewer engine after its
//! first viewer left. It is kept and named, not retried in a loop that would hide it.
//!
//! Why blocking std threads and not tokio: one long-lived connection per feed, a blocking
//! read straight into the frame buffer (`read_to_end` fills it without zeroing), and a
//! 50 ms read timeout that doubles as the tick for stall detection and commands. No
//! runtime, no task wakeups per packet, trivially bounded.
//!
//! Bounded queues and drop policy:
//! - Incoming data goes straight into the [`Store`], which has a memory budget and drops
//!   the oldest data first; a slow UI never holds back the socket or grows memory.
//! - Commands to the feed thread ([`FeedCommand`], e.g. MOVIE_CONTROL) go through a
//!   bounded channel of [`COMMAND_QUEUE`]; when it is full the new command is refused and
//!   the caller gets [`FeedError::QueueFull`] (nothing is dropped silently).
//!
//! The recording seam: every incoming message passes [`MessageTap::incoming`] (raw header
//! and payload bytes, arrival time, feed, generation and the decoded message) in
//! [`FeedWorker::handle`], before the store sees it; every message this viewer sends passes
//! [`MessageTap::outgoing`] in [`FeedWorker::send`].

use capdeck_util::lock;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::FeedRole;
use super::store::{EventKind, Store};
use super::transport::{FeedAddr, Stream, is_timeout};
use capdeck_wire::grimstream::decoder::{DecodeError, Decoder, DecoderConfig, RawMessage};
use capdeck_wire::grimstream::{
    CodecError, Control, Kind, Message, MovieAction, MovieControl, MovieStart, StreamConfig, encode,
};

/// Capacity of each feed's command queue.
pub const COMMAND_QUEUE: usize = 32;

/// Connection state of a feed, for display.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum FeedState {
    /// Not started.
    #[default]
    Idle,
    /// Trying to connect (attempt number since the last good connection).
    Connecting {
        /// Attempt number, from 1.
        attempt: u32,
    },
    /// Connected, nothing received yet, for less than the HELLO limit
    /// ([`FeedOptions::hello_timeout`]).
    AwaitingHello {
        /// How long since the connection was made, ms.
        waited_ms: u64,
    },
    /// Connected, but nothing (not even HELLO) came within the HELLO limit: what a
    /// one-viewer engine does after its first viewer left (the kernel accepts, the engine
    /// never writes). The connection is kept, not retried: a new one would be just as
    /// silent, and a restarted producer ends this one, which then reconnects by itself.
    NoHello {
        /// How long since the connection was made, ms.
        silent_ms: u64,
    },
    /// Connected and data flowing.
    Live,
    /// Connected but silent for longer than the stall limit.
    Stalled {
        /// How long it has been silent, ms.
        silent_ms: u64,
    },
    /// Not connected; will retry.
    Disconnected {
        /// Why.
        reason: String,
        /// Next attempt in, ms.
        retry_in_ms: u64,
    },
    /// Stopped by the viewer.
    Stopped,
}

impl FeedState {
    /// Short name: "idle", "connecting", "awaiting_hello", "no_hello", "live", "stalled",
    /// "disconnected", "stopped".
    pub fn name(&self) -> &'static str {
        match self {
            FeedState::Idle => "idle",
            FeedState::Connecting { .. } => "connecting",
            FeedState::AwaitingHello { .. } => "awaiting_hello",
            FeedState::NoHello { .. } => "no_hello",
            FeedState::Live => "live",
            FeedState::Stalled { .. } => "stalled",
            FeedState::Disconnected { .. } => "disconnected",
            FeedState::Stopped => "stopped",
        }
    }

    /// The state in words, as the HUD, the feeds bar and `capdeck probe` show it.
    pub fn text(&self, role: FeedRole) -> String {
        let secs = |ms: &u64| *ms as f64 / 1e3;
        match self {
            FeedState::Idle | FeedState::Stopped => "idle".into(),
            FeedState::Connecting { attempt } if *attempt > 1 => {
                format!("connecting (attempt {attempt})")
            }
            FeedState::Connecting { .. } => "connecting".into(),
            FeedState::AwaitingHello { .. } => "connected, waiting for HELLO".into(),
            FeedState::NoHello { .. } => no_hello_text(role).into(),
            FeedState::Live => "live".into(),
            FeedState::Stalled { silent_ms } => format!("stalled {:.1} s", secs(silent_ms)),
            FeedState::Disconnected {
                reason,
                retry_in_ms,
            } if *retry_in_ms > 0 => format!(
                "disconnected: {reason}, retry in {:.1} s",
                secs(retry_in_ms)
            ),
            FeedState::Disconnected { reason, .. } => format!("disconnected: {reason}"),
        }
    }
}

/// The words for [`FeedState::NoHello`]: the engine (or the retail producer) accepted the
/// connection and sent nothing, which for a one-viewer engine means it must be restarted.
pub fn no_hello_text(role: FeedRole) -> &'static str {
    match role {
        FeedRole::Engine => "connected, no HELLO: the engine may need a restart",
        FeedRole::Retail => "connected, no HELLO: the producer may need a restart",
    }
}

/// How long a new connection may stay silent before it is [`FeedState::NoHello`]
/// (both producers send HELLO at once when they serve a viewer).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(3);

/// Counters and state of one feed (cheap to clone; the UI polls it every frame).
#[derive(Clone, Debug, Default)]
pub struct FeedStatus {
    /// Feed address.
    pub addr: String,
    /// Current state.
    pub state: FeedState,
    /// Connection generation (1 for the first connection).
    pub generation: u64,
    /// Whether any connection succeeded.
    pub connected: bool,
    /// Producer name from the latest HELLO.
    pub producer: Option<String>,
    /// Build from the latest HELLO.
    pub build: Option<String>,
    /// Messages received by kind name ("HELLO", "FRAME", ..., "UNKNOWN").
    pub messages: BTreeMap<&'static str, u64>,
    /// Unknown-kind messages skipped.
    pub unknown_skipped: u64,
    /// Payloads that failed to decode (stream kept) plus framing errors (reconnected).
    pub decode_errors: u64,
    /// Frames received.
    pub frames: u64,
    /// Reconnects after the first connection.
    pub reconnects: u64,
    /// Stalls detected.
    pub stalls: u64,
    /// Connections that stayed silent past the HELLO limit ([`FeedState::NoHello`]).
    pub silent_connections: u64,
    /// CONTROL viewer_ready messages sent.
    pub viewer_ready_sent: u64,
    /// MOVIE_CONTROL messages sent.
    pub movie_controls_sent: u64,
    /// The last MOVIE_CONTROL sent (the answer to the last movie).
    pub last_movie_control: Option<MovieControl>,
    /// The engine's latest movie: when it started, its answer and when that went out.
    pub movie: Option<MovieProgress>,
    /// Bytes received.
    pub bytes: u64,
    /// Current STREAM_CONFIG.
    pub config: Option<StreamConfig>,
    /// Last engine position.
    pub last_position: Option<[f32; 3]>,
    /// Last engine yaw, degrees.
    pub last_yaw: Option<f32>,
    /// Latest error (connect, read, decode).
    pub last_error: Option<String>,
    /// Viewer-clock ns of the last data received.
    pub last_data_ns: Option<i64>,
    /// Current stall limit, ms.
    pub stall_limit_ms: u64,
    /// Messages refused because their header announced more than the decoder cap (the
    /// connection is then re-established).
    pub oversize_refused: u64,
}

/// The engine's latest MOVIE_START and what this viewer answered (the engine waits inside
/// the movie until the answer).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MovieProgress {
    /// Movie name from MOVIE_START.
    pub name: String,
    /// Path under the game's data folder, when the engine sent one.
    pub relative_path: Option<String>,
    /// Arrival of MOVIE_START, viewer clock ns.
    pub started_ns: i64,
    /// The MOVIE_CONTROL sent for it, once sent.
    pub answer: Option<MovieControl>,
    /// When the answer went out, viewer clock ns.
    pub answered_ns: Option<i64>,
}

impl MovieProgress {
    /// Time from MOVIE_START to the answer, ns (`None` while unanswered).
    pub fn took_ns(&self) -> Option<i64> {
        self.answered_ns.map(|a| a - self.started_ns)
    }

    /// `skipped` for this movie (what the skip button sends).
    pub fn skipped(&self) -> MovieControl {
        MovieControl {
            name: self.name.clone(),
            action: MovieAction::Skipped,
            message: None,
        }
    }
}

/// What a tap sees for each incoming message.
#[derive(Debug)]
pub struct TapEvent<'a> {
    /// Which feed.
    pub role: FeedRole,
    /// Connection generation.
    pub generation: u64,
    /// Arrival, viewer clock ns.
    pub arrival_ns: i64,
    /// Header and payload exactly as received (`raw.header.to_bytes()` + `raw.payload`).
    pub raw: &'a RawMessage,
    /// The decoded message or why it could not be decoded.
    pub decoded: Result<&'a Message, &'a CodecError>,
}

/// The one place every incoming (and outgoing) GrimStream message passes: the seam for
/// session recording. Called on the feed thread: keep it quick and non-blocking.
pub trait MessageTap: Send + Sync {
    /// An incoming message, before it is stored.
    fn incoming(&self, event: &TapEvent<'_>);
    /// A message this viewer sent (`bytes` is the whole wire message).
    fn outgoing(&self, _role: FeedRole, _generation: u64, _at_ns: i64, _bytes: &[u8]) {}
}

/// Tunables of a feed connection.
#[derive(Clone, Debug)]
pub struct FeedOptions {
    /// Retail or engine.
    pub role: FeedRole,
    /// Where.
    pub addr: FeedAddr,
    /// Decoder cap.
    pub decoder: DecoderConfig,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// First retry delay.
    pub backoff_min: Duration,
    /// Retry delay cap.
    pub backoff_max: Duration,
    /// Fixed stall limit; `None`: the store's rule ([`Store`]'s stall limit: four nominal
    /// periods from STREAM_CONFIG fps or the observed message rate, clamped to 0.5..10 s).
    pub stall_after: Option<Duration>,
    /// Socket read timeout (tick for stall detection and commands).
    pub tick: Duration,
    /// A connection that receives nothing for this long is [`FeedState::NoHello`]
    /// (default [`HELLO_TIMEOUT`]).
    pub hello_timeout: Duration,
    /// Answer HELLO with CONTROL viewer_ready (default: engine feeds only).
    pub send_viewer_ready: bool,
    /// How a MOVIE_START is answered (the engine waits for the answer with no timeout).
    pub movies: MoviePolicy,
}

/// How the feed answers MOVIE_START. The engine stays inside a movie until the viewer
/// sends MOVIE_CONTROL for it, so leaving it unanswered freezes the engine.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MoviePolicy {
    /// Answer `error` with this reason at once (the default: this build plays no movies,
    /// and the existing viewer answers `error` when it cannot play one).
    Error(String),
    /// Answer `skipped` at once.
    Skip,
    /// Do not answer here: the caller answers with [`FeedCommand::MovieControl`] (the
    /// engine pane's skip button).
    Manual,
    /// Look the movie up under the game's data folder and play it.
    ///
    /// Which decoder: none is built in. The engine's movies are Ogg Theora (`.ogv`, the
    /// spec's `MoviesHD/logos.ogv`). There is no maintained pure-Rust Theora decoder;
    /// libtheora/libogg or FFmpeg's libavcodec (through `ffmpeg-next`) need a C toolchain
    /// and the system's libraries on every platform, which the Windows cross-check
    /// (x86_64-pc-windows-gnu with no MinGW C compiler) does not have, the same reason the
    /// recorder's chunks are not lz4. So a movie that is found is answered `error` with
    /// "no decoder" and its path, a movie that is not found `error` with "file missing"
    /// and the path looked at: at once, both, so the engine never waits on this viewer.
    Play {
        /// The game's data folder (the movie's `relative_path` is taken under it).
        game_data: std::path::PathBuf,
    },
}

impl Default for MoviePolicy {
    fn default() -> Self {
        MoviePolicy::Error("this viewer does not play movies".into())
    }
}

impl MoviePolicy {
    /// The answer to `movie`, if this policy answers by itself.
    pub fn answer(&self, movie: &MovieStart) -> Option<MovieControl> {
        let (action, message) = match self {
            MoviePolicy::Error(why) => (MovieAction::Error, Some(why.clone())),
            MoviePolicy::Skip => (MovieAction::Skipped, None),
            MoviePolicy::Manual => return None,
            MoviePolicy::Play { game_data } => (
                MovieAction::Error,
                Some(match find_movie(game_data, movie) {
                    Ok(path) => format!(
                        "no decoder for {} movies in this viewer ({})",
                        path.extension()
                            .map_or("extension-less".into(), |e| e.to_string_lossy()),
                        path.display()
                    ),
                    Err(why) => why,
                }),
            ),
        };
        Some(MovieControl {
            name: movie.name.clone(),
            action,
            message,
        })
    }
}

/// The movie's file under `game_data`: its `relative_path`, or its name when the engine
/// sent none. A path that leaves the folder (absolute, `..`) is refused: it comes from
/// the network.
pub fn find_movie(
    game_data: &std::path::Path,
    movie: &MovieStart,
) -> Result<std::path::PathBuf, String> {
    use std::path::{Component, Path};
    let rel = Path::new(movie.relative_path.as_deref().unwrap_or(&movie.name));
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "movie path {} leaves the game data folder",
            rel.display()
        ));
    }
    let path = game_data.join(rel);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("file missing: {}", path.display()))
    }
}

impl FeedOptions {
    /// Defaults for a role and address.
    pub fn new(role: FeedRole, addr: FeedAddr) -> FeedOptions {
        FeedOptions {
            role,
            addr,
            decoder: DecoderConfig::default(),
            connect_timeout: Duration::from_secs(2),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            stall_after: None,
            tick: Duration::from_millis(50),
            hello_timeout: HELLO_TIMEOUT,
            send_viewer_ready: role == FeedRole::Engine,
            movies: MoviePolicy::default(),
        }
    }
}

/// Commands to a feed thread.
#[derive(Clone, Debug)]
pub enum FeedCommand {
    /// Send MOVIE_CONTROL to the producer (engine feed).
    MovieControl(MovieControl),
    /// Drop the current connection and reconnect at once.
    Reconnect,
}

/// Errors of the feed handle.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The command queue is full (the command was not queued).
    #[error("{0} feed command queue is full; command refused")]
    QueueFull(&'static str),
    /// The feed thread has stopped.
    #[error("{0} feed has stopped")]
    Stopped(&'static str),
}

/// Decodes a raw message and shows it to the tap (if any): the first step of the one
/// ingest path, for connections and caller-fed sources alike.
pub fn decode_and_tap(
    tap: Option<&dyn MessageTap>,
    role: FeedRole,
    generation: u64,
    arrival_ns: i64,
    raw: &RawMessage,
) -> Result<Message, CodecError> {
    let decoded = raw.decode();
    if let Some(tap) = tap {
        tap.incoming(&TapEvent {
            role,
            generation,
            arrival_ns,
            raw,
            decoded: decoded.as_ref(),
        });
    }
    decoded
}

impl FeedStatus {
    /// Counts a fatal stream error (the connection or source ends with it).
    pub fn count_stream_error(&mut self, e: &DecodeError) {
        self.decode_errors += 1;
        if matches!(e, DecodeError::TooLong { .. }) {
            self.oversize_refused += 1;
        }
        self.last_error = Some(e.to_string());
    }
}

/// Called after each message lands in the store (from the thread that stored it, with no
/// lock held): a viewer asks to be repainted so new data shows at once, not at its next
/// timer tick. Must not block.
#[derive(Clone)]
pub struct Waker(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

/// Shared between feed threads and readers: both feeds' store and status.
#[derive(Debug)]
pub struct Shared {
    /// History.
    pub store: Store,
    /// Status per feed, indexed by [`FeedRole::index`].
    pub status: [FeedStatus; 2],
    /// Who to wake when a message has landed.
    pub waker: Option<Waker>,
}

impl Shared {
    /// Status of one feed.
    pub fn status(&self, role: FeedRole) -> &FeedStatus {
        &self.status[role.index()]
    }

    /// One message the viewer sent to a producer (live, or read back from a recording's
    /// `sent` topic): counted on the feed's status, a MOVIE_CONTROL put on the timeline as
    /// the answer to the feed's movie.
    pub fn take_sent(&mut self, role: FeedRole, at_ns: i64, msg: &Message) {
        let s = &mut self.status[role.index()];
        match msg {
            Message::Control(Control::ViewerReady { .. }) => s.viewer_ready_sent += 1,
            Message::MovieControl(m) => {
                s.movie_controls_sent += 1;
                if let Some(p) = s
                    .movie
                    .as_mut()
                    .filter(|p| p.name == m.name && p.answer.is_none())
                {
                    p.answer = Some(m.clone());
                    p.answered_ns = Some(at_ns);
                }
                s.last_movie_control = Some(m.clone());
                self.store
                    .note(role, at_ns, EventKind::MovieControlSent(m.clone()));
            }
            _ => {}
        }
    }

    /// One incoming message into the feed's counters and the store: the single ingest
    /// path of live sockets, recordings and scripted sources.
    pub fn take_in(
        &mut self,
        role: FeedRole,
        arrival_ns: i64,
        kind: Kind,
        decoded: Result<Message, CodecError>,
    ) {
        let s = &mut self.status[role.index()];
        *s.messages.entry(kind.name()).or_default() += 1;
        let msg = match decoded {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(feed = role.name(), "{e}");
                let text = e.to_string();
                s.decode_errors += 1;
                s.last_error = Some(text.clone());
                self.store
                    .note(role, arrival_ns, EventKind::DecodeError(text));
                return;
            }
        };
        match &msg {
            Message::Hello(h) => {
                s.producer = Some(h.producer.clone());
                s.build = h.build.clone();
            }
            Message::StreamConfig(c) => s.config = Some(*c),
            Message::Frame(_) => s.frames += 1,
            Message::StateUpdate(u) => {
                if u.position.is_some() {
                    s.last_position = u.position;
                }
                if u.yaw.is_some() {
                    s.last_yaw = u.yaw;
                }
            }
            Message::MovieStart(m) => {
                s.movie = Some(MovieProgress {
                    name: m.name.clone(),
                    relative_path: m.relative_path.clone(),
                    started_ns: arrival_ns,
                    answer: None,
                    answered_ns: None,
                });
            }
            Message::Unknown { .. } => s.unknown_skipped += 1,
            _ => {}
        }
        s.last_data_ns = Some(arrival_ns);
        self.store.ingest(role, arrival_ns, msg);
    }
}

/// The viewer clock: nanoseconds since the live view's epoch. Every arrival time and the
/// timeline's live edge come from one of these. A recording or a scripted source may hold
/// it at a chosen time ([`ViewClock::set_manual`]) so the same store and timeline run at
/// the data's pace instead of the wall clock's.
#[derive(Debug)]
pub struct ViewClock {
    epoch: Instant,
    manual_ns: std::sync::atomic::AtomicI64,
}

impl ViewClock {
    const REAL: i64 = i64::MIN;

    /// A clock starting now.
    pub fn new() -> ViewClock {
        ViewClock {
            epoch: Instant::now(),
            manual_ns: std::sync::atomic::AtomicI64::new(Self::REAL),
        }
    }

    /// Now, ns since the epoch (or the manual time, when set).
    pub fn now_ns(&self) -> i64 {
        match self.manual_ns.load(Ordering::Relaxed) {
            Self::REAL => self.epoch.elapsed().as_nanos().min(i64::MAX as u128) as i64,
            t => t,
        }
    }

    /// The epoch.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Hold the clock at `t_ns` (`None`: follow the wall clock again).
    pub fn set_manual(&self, t_ns: Option<i64>) {
        let v = t_ns.map_or(Self::REAL, |t| t.max(Self::REAL + 1));
        self.manual_ns.store(v, Ordering::Relaxed);
    }
}

impl Default for ViewClock {
    fn default() -> Self {
        ViewClock::new()
    }
}

/// A running feed thread.
pub struct FeedHandle {
    role: FeedRole,
    tx: SyncSender<FeedCommand>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FeedHandle {
    /// Start the feed thread (named `grim-feed-retail` / `grim-feed-engine`).
    pub fn spawn(
        opts: FeedOptions,
        shared: Arc<Mutex<Shared>>,
        clock: Arc<ViewClock>,
        tap: Option<Arc<dyn MessageTap>>,
    ) -> io::Result<FeedHandle> {
        let (tx, rx) = sync_channel(COMMAND_QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let role = opts.role;
        {
            let mut g = lock(&shared);
            let st = &mut g.status[role.index()];
            st.addr = opts.addr.to_string();
            st.state = FeedState::Connecting { attempt: 1 };
        }
        let worker = FeedWorker {
            opts,
            shared,
            clock,
            tap,
            rx,
            stop: stop.clone(),
            decoder: Decoder::default(),
            generation: 0,
            stream: None,
            got_message: false,
        };
        let thread = std::thread::Builder::new()
            .name(format!("grim-feed-{}", role.name()))
            .spawn(move || worker.run())?;
        Ok(FeedHandle {
            role,
            tx,
            stop,
            thread: Some(thread),
        })
    }

    /// Queue a command (refused when the queue is full).
    pub fn command(&self, c: FeedCommand) -> Result<(), FeedError> {
        self.tx.try_send(c).map_err(|e| match e {
            TrySendError::Full(_) => FeedError::QueueFull(self.role.name()),
            TrySendError::Disconnected(_) => FeedError::Stopped(self.role.name()),
        })
    }

    /// Stop the thread and wait for it (also done on drop).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FeedHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

enum ConnEnd {
    Stop,
    Retry(String),
}

/// The feed thread's state.
pub struct FeedWorker {
    opts: FeedOptions,
    shared: Arc<Mutex<Shared>>,
    clock: Arc<ViewClock>,
    tap: Option<Arc<dyn MessageTap>>,
    rx: Receiver<FeedCommand>,
    stop: Arc<AtomicBool>,
    decoder: Decoder,
    generation: u64,
    stream: Option<Stream>,
    got_message: bool,
}

impl FeedWorker {
    fn now_ns(&self) -> i64 {
        self.clock.now_ns()
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn status<R>(&self, f: impl FnOnce(&mut FeedStatus, &mut Store) -> R) -> R {
        let mut g = lock(&self.shared);
        let Shared { store, status, .. } = &mut *g;
        f(&mut status[self.opts.role.index()], store)
    }

    fn run(mut self) {
        let role = self.opts.role;
        let mut backoff = self.opts.backoff_min;
        let mut attempt = 1u32;
        loop {
            if self.stopped() {
                break;
            }
            self.status(|s, _| s.state = FeedState::Connecting { attempt });
            let mut was_connected = false;
            let reason = match Stream::connect(&self.opts.addr, self.opts.connect_timeout) {
                Ok(stream) => {
                    attempt = 1;
                    was_connected = true;
                    self.got_message = false;
                    let end = self.serve(stream);
                    // A connection that delivered messages resets the backoff.
                    if self.got_message {
                        backoff = self.opts.backoff_min;
                    }
                    match end {
                        ConnEnd::Stop => break,
                        ConnEnd::Retry(reason) => reason,
                    }
                }
                Err(e) => {
                    attempt = attempt.saturating_add(1);
                    format!("connect to {}: {e}", self.opts.addr)
                }
            };
            tracing::info!(
                feed = role.name(),
                "disconnected: {reason}; retry in {backoff:?}"
            );
            let now = self.now_ns();
            self.status(|s, store| {
                if was_connected {
                    store.end_generation(role, now, reason.clone());
                }
                s.state = FeedState::Disconnected {
                    reason: reason.clone(),
                    retry_in_ms: backoff.as_millis() as u64,
                };
                s.last_error = Some(reason);
            });
            // Interruptible wait: stop flag checked every tick; Reconnect cuts it short.
            let deadline = Instant::now() + backoff;
            while !self.stopped() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match self.rx.recv_timeout(left.min(self.opts.tick)) {
                    Ok(FeedCommand::Reconnect) => break,
                    Ok(FeedCommand::MovieControl(m)) => {
                        tracing::warn!(
                            feed = role.name(),
                            "MOVIE_CONTROL {m:?} not sent: not connected"
                        );
                        self.status(|s, _| {
                            s.last_error = Some("MOVIE_CONTROL not sent: not connected".into())
                        });
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            backoff = (backoff * 2).min(self.opts.backoff_max);
        }
        self.status(|s, _| s.state = FeedState::Stopped);
    }

    /// One connection, until it ends.
    fn serve(&mut self, stream: Stream) -> ConnEnd {
        let role = self.opts.role;
        if let Err(e) = stream.set_read_timeout(Some(self.opts.tick)) {
            return ConnEnd::Retry(format!("socket setup: {e}"));
        }
        self.generation += 1;
        self.decoder = Decoder::new(self.opts.decoder);
        let generation = self.generation;
        let now = self.now_ns();
        let fixed_stall = self.opts.stall_after.map(|d| d.as_nanos() as i64);
        self.status(|s, store| {
            if s.connected {
                s.reconnects += 1;
            }
            s.connected = true;
            s.generation = generation;
            s.state = FeedState::AwaitingHello { waited_ms: 0 };
            s.last_data_ns = Some(now);
            store.set_stall_limit(role, fixed_stall);
            store.begin_generation(role, generation, now);
        });
        self.stream = Some(stream);
        let connected_at = Instant::now();
        let mut silence_reported = false;
        let mut viewer_ready_sent = false;
        let end = loop {
            if self.stopped() {
                break ConnEnd::Stop;
            }
            // Commands.
            while let Ok(c) = self.rx.try_recv() {
                match c {
                    FeedCommand::Reconnect => {
                        self.drop_stream();
                        return ConnEnd::Retry("reconnect requested".into());
                    }
                    FeedCommand::MovieControl(m) => {
                        if let Err(e) = self.send(&Message::MovieControl(m)) {
                            break_retry(&mut self.stream, &e);
                        }
                    }
                }
            }
            let Some(stream) = self.stream.as_mut() else {
                break ConnEnd::Retry("write failed".into());
            };
            let res = self.decoder.read_from(stream);
            match res {
                Ok(0) => break ConnEnd::Retry("producer closed the connection".into()),
                Ok(n) => {
                    let now = self.now_ns();
                    self.status(|s, _| {
                        s.bytes += n as u64;
                        s.last_data_ns = Some(now);
                    });
                }
                Err(e) if is_timeout(&e) => {}
                Err(e) => break ConnEnd::Retry(format!("read: {e}")),
            }
            // Messages.
            let mut fatal = None;
            loop {
                match self.decoder.next_message() {
                    Ok(Some(raw)) => {
                        if let Err(e) = self.handle(raw, &mut viewer_ready_sent) {
                            fatal = Some(e);
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.status(|s, _| s.count_stream_error(&e));
                        fatal = Some(format!("stream error: {e}"));
                        break;
                    }
                }
            }
            if let Some(reason) = fatal {
                break ConnEnd::Retry(reason);
            }
            // A connection that has said nothing at all: waiting for HELLO, then, past the
            // limit, its own state (kept, not retried: see FeedState::NoHello).
            let waited = connected_at.elapsed();
            let waited_ms = waited.as_millis().min(u64::MAX as u128) as u64;
            let unheard = !self.got_message;
            let silent = unheard && waited >= self.opts.hello_timeout;
            let newly_silent = silent && !silence_reported;
            if newly_silent {
                silence_reported = true;
                tracing::warn!(
                    feed = role.name(),
                    "{} ({} connected {waited_ms} ms ago, nothing received)",
                    no_hello_text(role),
                    self.opts.addr
                );
            }
            // Stall detection: the store's rule, ticked here so a stall shows at once.
            let now = self.now_ns();
            self.status(|s, store| {
                let stalled = store.tick(role, now);
                let f = store.feed(role);
                s.stall_limit_ms = (f.stall_limit_ns() / 1_000_000) as u64;
                s.stalls = f.stalls;
                if newly_silent {
                    s.silent_connections += 1;
                }
                s.state = match (stalled, f.last_arrival_ns) {
                    _ if silent => FeedState::NoHello {
                        silent_ms: waited_ms,
                    },
                    _ if unheard => FeedState::AwaitingHello { waited_ms },
                    (true, Some(last)) => FeedState::Stalled {
                        silent_ms: ((now - last).max(0) / 1_000_000) as u64,
                    },
                    _ => FeedState::Live,
                };
            });
        };
        self.drop_stream();
        end
    }

    fn drop_stream(&mut self) {
        if let Some(s) = self.stream.take() {
            s.shutdown();
        }
    }

    /// Send a message to the producer (passes the tap).
    fn send(&mut self, msg: &Message) -> io::Result<()> {
        let bytes = encode(msg).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let Some(stream) = self.stream.as_mut() else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "not connected"));
        };
        stream.write_all(&bytes)?;
        let (role, at) = (self.opts.role, self.now_ns());
        if let Some(tap) = &self.tap {
            tap.outgoing(role, self.generation, at, &bytes);
        }
        lock(&self.shared).take_sent(role, at, msg);
        Ok(())
    }

    /// Every incoming message passes here: tap, counters, handshake, store.
    fn handle(&mut self, raw: RawMessage, viewer_ready_sent: &mut bool) -> Result<(), String> {
        let role = self.opts.role;
        let now = self.now_ns();
        self.got_message = true;
        let decoded = decode_and_tap(self.tap.as_deref(), role, self.generation, now, &raw);
        let kind = raw.header.kind;
        let is_hello = matches!(decoded, Ok(Message::Hello(_)));
        let movie = match &decoded {
            Ok(Message::MovieStart(m)) => self.opts.movies.answer(m),
            _ => None,
        };
        let waker = {
            let mut g = lock(&self.shared);
            g.take_in(role, now, kind, decoded);
            g.waker.clone()
        };
        if let Some(w) = waker {
            (w.0)();
        }
        if matches!(kind, Kind::Unknown(_)) {
            tracing::debug!(feed = role.name(), "skipped unknown kind {kind}");
        }
        if let Some(m) = movie {
            self.send(&Message::MovieControl(m))
                .map_err(|e| format!("answering MOVIE_START: {e}"))?;
        }
        if is_hello && self.opts.send_viewer_ready && !*viewer_ready_sent {
            self.send(&Message::Control(Control::viewer_ready()))
                .map_err(|e| format!("sending viewer_ready: {e}"))?;
            *viewer_ready_sent = true;
        }
        Ok(())
    }
}

fn break_retry(stream: &mut Option<Stream>, e: &io::Error) {
    tracing::warn!("write to producer failed: {e}");
    if let Some(s) = stream.take() {
        s.shutdown();
    }
}
