//! The control channel: a REQ socket that says hello, sends a heartbeat every 5 s and
//! applies the host's config.
//!
//! Built on libzmq (the `zmq` crate), like the PUSH links and the receiver. It used the
//! pure-Rust `zeromq` crate until a peer that completed a ZMTP handshake and announced a
//! 1 TiB reply frame aborted the whole process: `zeromq` 0.7 reserves a frame's announced
//! length before reading it. libzmq checks every incoming message against
//! `ZMQ_MAXMSGSIZE` ([`MAX_CONTROL_REPLY`]) and drops the connection instead; the link
//! reports the host as dropping the connection, backs off and tries again, and streaming
//! (which never depends on this channel) goes on.
//!
//! One socket's life, each step a [`ControlState`] with its own counter in
//! [`ControlStats`]: connecting (until libzmq has a completed ZMTP connection, at most
//! the reply timeout), waiting for a reply (at most the reply timeout), ok, and on any
//! failure backing off until a stated time before a fresh socket says hello again. A REQ
//! socket whose reply is lost cannot send again, so the socket is thrown away on every
//! failure. A host restarted between two heartbeats is a new host: libzmq reconnects the
//! socket by itself, the monitor sees the connection come back, and the link says hello at
//! once (not a heartbeat at the next beat), so the new host lists the client and its config
//! is applied. The link runs on its own named thread.

use capdeck_util::lock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::backoff::Backoff;
use super::tap::{Channel, Direction, TapPoint};
use capdeck_wire::capture::{ControlReply, ControlRequest, HostConfig};

/// Largest control reply accepted (a config reply is a few hundred bytes). libzmq drops
/// a connection whose peer announces more, before allocating anything.
pub const MAX_CONTROL_REPLY: i64 = 64 << 10;

/// Settings of a [`ControlLink`].
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// `tcp://host:port`.
    pub endpoint: String,
    /// Client name sent in hello and heartbeat.
    pub client: String,
    /// What this client streams.
    pub capabilities: Vec<String>,
    /// Interval between heartbeats.
    pub heartbeat: Duration,
    /// How long to wait for a connection, and then for any reply.
    pub reply_timeout: Duration,
    /// First backoff after a failure (doubles up to `backoff_max`, reset by a reply).
    pub backoff_initial: Duration,
    /// Largest backoff.
    pub backoff_max: Duration,
}

impl ControlConfig {
    /// The spec's values: heartbeat every 5 s, 3 s reply timeout; backoff 250 ms → 5 s.
    pub fn new(
        endpoint: impl Into<String>,
        client: impl Into<String>,
        capabilities: Vec<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            client: client.into(),
            capabilities,
            heartbeat: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(3),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// Why a control socket was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlFailure {
    /// No completed ZeroMQ connection within the timeout (nobody listening, or a peer
    /// that never finishes the handshake).
    ConnectTimeout,
    /// The peer is not a ZeroMQ REP socket: the handshake failed.
    Handshake,
    /// Connected and asked, but no reply within the timeout.
    ReplyTimeout,
    /// The host dropped the connection while a reply was due: it closed it, or its
    /// reply was over [`MAX_CONTROL_REPLY`] and libzmq cut it off.
    Dropped,
    /// A reply that is not the control protocol.
    BadReply,
    /// libzmq refused a socket operation.
    Socket,
}

impl ControlFailure {
    /// A short human-readable form.
    pub fn label(self) -> &'static str {
        match self {
            Self::ConnectTimeout => "connect timed out",
            Self::Handshake => "not a ZeroMQ REP socket",
            Self::ReplyTimeout => "timed out waiting for the reply",
            Self::Dropped => "host dropped the connection",
            Self::BadReply => "unintelligible reply",
            Self::Socket => "socket error",
        }
    }
}

/// State of the control channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ControlState {
    /// No control channel configured.
    Disabled,
    /// A fresh socket is connecting (no completed ZeroMQ connection yet).
    Connecting,
    /// A request went out; its reply is due.
    WaitingForReply {
        /// `hello` or `heartbeat`.
        request: String,
    },
    /// The host answers.
    Ok,
    /// The last socket failed; streaming goes on; a fresh socket says hello at `until`.
    BackingOff {
        /// What failed.
        failure: ControlFailure,
        /// Details, for the log and the tooltip.
        reason: String,
        /// Unix time (ms) of the next attempt.
        until_unix_ms: u64,
        /// Milliseconds until the next attempt.
        next_retry_ms: u64,
    },
    /// Stopped.
    Stopped,
}

impl ControlState {
    /// A short human-readable form for the status line.
    pub fn label(&self) -> String {
        match self {
            Self::Disabled => "off".to_owned(),
            Self::Connecting => "connecting".to_owned(),
            Self::WaitingForReply { request } => format!("waiting for the {request} reply"),
            Self::Ok => "ok".to_owned(),
            Self::BackingOff {
                failure,
                until_unix_ms,
                next_retry_ms,
                ..
            } => format!(
                "{}; backing off until {} (in {next_retry_ms} ms)",
                failure.label(),
                clock_time(*until_unix_ms)
            ),
            Self::Stopped => "stopped".to_owned(),
        }
    }
}

/// `HH:MM:SS.t` (UTC) of a Unix time in ms.
fn clock_time(unix_ms: u64) -> String {
    let s = unix_ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{} UTC",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        (unix_ms % 1000) / 100
    )
}

fn unix_ms_at(t: Instant) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    now + t.saturating_duration_since(Instant::now()).as_millis() as u64
}

/// A snapshot of the control channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlStats {
    /// Where it connects (empty when disabled).
    pub endpoint: String,
    /// Current state.
    pub state: ControlState,
    /// Fresh sockets that started connecting.
    pub connects: u64,
    /// Connections that did not complete in time.
    pub connect_timeouts: u64,
    /// Hello requests sent.
    pub hellos: u64,
    /// Heartbeats sent.
    pub heartbeats: u64,
    /// Replies received.
    pub replies: u64,
    /// Requests that got no reply in time.
    pub timeouts: u64,
    /// Connections the host dropped while a reply was due (closed, or an oversized reply).
    pub dropped: u64,
    /// Error replies (`{"error":...}`), unintelligible replies, failed handshakes and
    /// socket errors.
    pub errors: u64,
    /// Times the link backed off after a failure.
    pub backoffs: u64,
    /// The host's config, from its last config reply.
    pub host_config: Option<HostConfig>,
    /// The host's clock at its last heartbeat reply.
    pub host_ts: Option<u64>,
    /// When the last hello was answered (Unix ms).
    pub last_hello_unix_ms: Option<u64>,
    /// Hellos said because the host's connection came back between heartbeats (a restart).
    pub rehellos: u64,
}

impl ControlStats {
    /// "hello answered at HH:MM:SS" (and how many restarted hosts were greeted), for
    /// status lines; None before the first hello was answered.
    pub fn last_hello_label(&self) -> Option<String> {
        let at = self.last_hello_unix_ms?;
        Some(match self.rehellos {
            0 => format!("hello answered at {}", clock_time(at)),
            n => format!(
                "hello answered at {} ({n} restarted host(s) greeted)",
                clock_time(at)
            ),
        })
    }

    /// Stats of a disabled channel.
    pub fn disabled() -> Self {
        Self {
            endpoint: String::new(),
            state: ControlState::Disabled,
            connects: 0,
            connect_timeouts: 0,
            hellos: 0,
            heartbeats: 0,
            replies: 0,
            timeouts: 0,
            dropped: 0,
            errors: 0,
            backoffs: 0,
            host_config: None,
            host_ts: None,
            last_hello_unix_ms: None,
            rehellos: 0,
        }
    }
}

/// Called with each config the host sends.
pub type OnConfig = Box<dyn Fn(&HostConfig) + Send + Sync>;

/// The control channel on its own named thread.
pub struct ControlLink {
    stats: Arc<Mutex<ControlStats>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

static MONITOR_ID: AtomicU64 = AtomicU64::new(0);

/// How often a waiting link looks at its stop flag.
const SLICE: Duration = Duration::from_millis(50);

impl ControlLink {
    /// Starts the control channel.
    pub fn spawn(cfg: ControlConfig, on_config: OnConfig, tap: TapPoint) -> std::io::Result<Self> {
        let stats = Arc::new(Mutex::new(ControlStats {
            endpoint: cfg.endpoint.clone(),
            state: ControlState::Connecting,
            ..ControlStats::disabled()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            ctx: zmq::Context::new(),
            backoff: Backoff::new(cfg.backoff_initial, cfg.backoff_max),
            cfg,
            on_config,
            tap,
            stats: stats.clone(),
            stop: stop.clone(),
            started: Instant::now(),
            reported: None,
        };
        let thread = std::thread::Builder::new()
            .name("capdeck-control".into())
            .spawn(move || worker.run())?;
        Ok(Self {
            stats,
            stop,
            thread: Some(thread),
        })
    }

    /// A snapshot.
    pub fn stats(&self) -> ControlStats {
        lock(&self.stats).clone()
    }

    /// Stops the channel and returns its final stats.
    pub fn stop(mut self) -> ControlStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        lock(&self.stats).state = ControlState::Stopped;
    }
}

impl Drop for ControlLink {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Why one socket's life ended.
struct Failed {
    failure: ControlFailure,
    reason: String,
}

impl Failed {
    fn new(failure: ControlFailure, reason: impl Into<String>) -> Self {
        Self {
            failure,
            reason: reason.into(),
        }
    }
}

/// One fresh REQ socket with its monitor.
struct Conn {
    sock: zmq::Socket,
    mon: zmq::Socket,
    /// A completed ZMTP connection was seen.
    handshook: bool,
    /// The completed connection went away.
    disconnected: bool,
    /// The handshake failed (not a ZeroMQ peer, or a wrong socket type).
    handshake_failed: bool,
    /// libzmq retried the TCP connect (nobody listening).
    refused: bool,
    /// The connection went away and libzmq completed a new one (a restarted host).
    reconnected: bool,
}

impl Conn {
    fn open(ctx: &zmq::Context, endpoint: &str) -> Result<Self, zmq::Error> {
        let sock = ctx.socket(zmq::REQ)?;
        sock.set_maxmsgsize(MAX_CONTROL_REPLY)?;
        sock.set_linger(0)?;
        // Writable only once a ZMTP connection is complete: tells connecting from
        // waiting for a reply.
        sock.set_immediate(true)?;
        let mon_ep = format!(
            "inproc://capdeck-control-monitor-{}-{}",
            std::process::id(),
            MONITOR_ID.fetch_add(1, Ordering::Relaxed)
        );
        sock.monitor(&mon_ep, zmq::SocketEvent::ALL as i32)?;
        let mon = ctx.socket(zmq::PAIR)?;
        mon.connect(&mon_ep)?;
        sock.connect(endpoint)?;
        Ok(Self {
            sock,
            mon,
            handshook: false,
            disconnected: false,
            handshake_failed: false,
            refused: false,
            reconnected: false,
        })
    }

    fn drain_monitor(&mut self) {
        use zmq::SocketEvent as E;
        while let Ok(parts) = self.mon.recv_multipart(zmq::DONTWAIT) {
            let Some(first) = parts.first().filter(|p| p.len() >= 6) else {
                continue;
            };
            let event = u16::from_le_bytes([first[0], first[1]]);
            if event == E::HANDSHAKE_SUCCEEDED.to_raw() {
                if self.disconnected {
                    // the connection is back: whoever answers now may be a new host
                    self.disconnected = false;
                    self.reconnected = true;
                }
                self.handshook = true;
            } else if event == E::DISCONNECTED.to_raw() && self.handshook {
                self.disconnected = true;
            } else if event == E::HANDSHAKE_FAILED_PROTOCOL.to_raw()
                || event == E::HANDSHAKE_FAILED_NO_DETAIL.to_raw()
                || event == E::HANDSHAKE_FAILED_AUTH.to_raw()
            {
                self.handshake_failed = true;
            } else if event == E::CONNECT_RETRIED.to_raw() {
                self.refused = true;
            }
        }
    }

    /// Polls the socket for `events` and the monitor, for at most `slice`; true when the
    /// socket is ready.
    fn poll(&mut self, events: zmq::PollEvents, slice: Duration) -> Result<bool, zmq::Error> {
        let ready = {
            let mut items = [
                self.sock.as_poll_item(events),
                self.mon.as_poll_item(zmq::POLLIN),
            ];
            zmq::poll(&mut items, slice.as_millis() as i64)?;
            items[0].get_revents().contains(events)
        };
        self.drain_monitor();
        Ok(ready)
    }
}

struct Worker {
    ctx: zmq::Context,
    cfg: ControlConfig,
    on_config: OnConfig,
    tap: TapPoint,
    stats: Arc<Mutex<ControlStats>>,
    stop: Arc<AtomicBool>,
    backoff: Backoff,
    started: Instant,
    /// The kind of state last reported to the tap.
    reported: Option<std::mem::Discriminant<ControlState>>,
}

/// A wait ended because the link was stopped.
struct Stopped;

impl Worker {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Tells the tap of a change of state kind (a request and its reply, every heartbeat,
    /// are not changes of the link's state and are not reported).
    fn report(&mut self) {
        let st = lock(&self.stats).state.clone();
        if matches!(st, ControlState::WaitingForReply { .. }) {
            return;
        }
        let kind = std::mem::discriminant(&st);
        if self.reported != Some(kind) {
            self.reported = Some(kind);
            self.tap.link_state(Channel::Control, &st);
        }
    }

    fn run(mut self) {
        while !self.stopping() {
            let failed = match self.session() {
                Err(Stopped) => return,
                Ok(f) => f,
            };
            let delay = self.backoff.next_delay();
            let until = Instant::now() + delay;
            tracing::warn!(
                "control channel {}: {}: {}; backing off {} ms",
                self.cfg.endpoint,
                failed.failure.label(),
                failed.reason,
                delay.as_millis()
            );
            {
                let mut s = lock(&self.stats);
                s.backoffs += 1;
                match failed.failure {
                    ControlFailure::ConnectTimeout => s.connect_timeouts += 1,
                    ControlFailure::ReplyTimeout => s.timeouts += 1,
                    ControlFailure::Dropped => s.dropped += 1,
                    ControlFailure::Handshake
                    | ControlFailure::BadReply
                    | ControlFailure::Socket => s.errors += 1,
                }
                s.state = ControlState::BackingOff {
                    failure: failed.failure,
                    reason: failed.reason,
                    until_unix_ms: unix_ms_at(until),
                    next_retry_ms: delay.as_millis() as u64,
                };
            }
            self.report();
            // Keep the countdown in the state fresh while waiting.
            while Instant::now() < until {
                if self.stopping() {
                    return;
                }
                let left = until.saturating_duration_since(Instant::now());
                std::thread::sleep(left.min(SLICE));
                if let ControlState::BackingOff { next_retry_ms, .. } = &mut lock(&self.stats).state
                {
                    *next_retry_ms =
                        until.saturating_duration_since(Instant::now()).as_millis() as u64;
                }
            }
        }
    }

    /// One socket's life: connect, hello, heartbeats until something fails. Returns why.
    fn session(&mut self) -> Result<Failed, Stopped> {
        {
            let mut s = lock(&self.stats);
            s.connects += 1;
            s.state = ControlState::Connecting;
        }
        self.report();
        let mut conn = match Conn::open(&self.ctx, &self.cfg.endpoint) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Failed::new(
                    ControlFailure::Socket,
                    format!("cannot open a socket to {}: {e}", self.cfg.endpoint),
                ));
            }
        };
        let mut next = ControlRequest::Hello {
            client: self.cfg.client.clone(),
            capabilities: self.cfg.capabilities.clone(),
        };
        loop {
            if let Some(f) = self.exchange(&mut conn, &next)? {
                return Ok(f);
            }
            next = if self.pause(&mut conn, self.cfg.heartbeat)? {
                tracing::info!(
                    "control channel {}: the host's connection came back; saying hello again",
                    self.cfg.endpoint
                );
                lock(&self.stats).rehellos += 1;
                ControlRequest::Hello {
                    client: self.cfg.client.clone(),
                    capabilities: self.cfg.capabilities.clone(),
                }
            } else {
                ControlRequest::Heartbeat {
                    client: self.cfg.client.clone(),
                    uptime_s: (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
                }
            };
        }
    }

    /// Waits `d` between requests, watching the connection: returns early with `true` when
    /// it went away and came back (a restarted host, to be greeted at once).
    fn pause(&self, conn: &mut Conn, d: Duration) -> Result<bool, Stopped> {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if self.stopping() {
                return Err(Stopped);
            }
            let left = until.saturating_duration_since(Instant::now()).min(SLICE);
            // only the monitor: the socket's own events are not asked for here
            if conn.poll(zmq::PollEvents::empty(), left).is_err() {
                std::thread::sleep(left);
            }
            if std::mem::take(&mut conn.reconnected) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Waits (in slices, watching the stop flag) for `events` on the socket until
    /// `deadline`; `Ok(None)` on timeout; a failure seen by the monitor ends the wait.
    fn wait(
        &self,
        conn: &mut Conn,
        events: zmq::PollEvents,
        deadline: Instant,
    ) -> Result<Result<bool, Failed>, Stopped> {
        loop {
            if self.stopping() {
                return Err(Stopped);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let ready = match conn.poll(events, left.min(SLICE)) {
                Ok(r) => r,
                Err(e) => {
                    return Ok(Err(Failed::new(
                        ControlFailure::Socket,
                        format!("poll: {e}"),
                    )));
                }
            };
            if ready {
                return Ok(Ok(true));
            }
            if conn.handshake_failed {
                return Ok(Err(Failed::new(
                    ControlFailure::Handshake,
                    format!(
                        "the ZeroMQ handshake with {} failed: is this the host's control port?",
                        self.cfg.endpoint
                    ),
                )));
            }
            if conn.disconnected {
                return Ok(Err(Failed::new(
                    ControlFailure::Dropped,
                    format!(
                        "{} dropped the connection before replying (it closed it, or its \
                         reply was over the {} KiB cap)",
                        self.cfg.endpoint,
                        MAX_CONTROL_REPLY >> 10
                    ),
                )));
            }
            if Instant::now() >= deadline {
                return Ok(Ok(false));
            }
        }
    }

    /// Connects if needed, sends one request and handles its reply. `Ok(None)` when the
    /// host answered.
    fn exchange(
        &mut self,
        conn: &mut Conn,
        req: &ControlRequest,
    ) -> Result<Option<Failed>, Stopped> {
        let timeout = self.cfg.reply_timeout;
        let (name, is_hello) = match req {
            ControlRequest::Hello { .. } => ("hello", true),
            ControlRequest::Heartbeat { .. } => ("heartbeat", false),
            ControlRequest::GetConfig => ("get_config", false),
        };
        match self.wait(conn, zmq::POLLOUT, Instant::now() + timeout)? {
            Err(f) => return Ok(Some(f)),
            Ok(false) => {
                let why = if conn.refused {
                    format!(
                        "nobody listening at {} (connection refused)",
                        self.cfg.endpoint
                    )
                } else {
                    format!(
                        "no ZeroMQ connection to {} within {} ms",
                        self.cfg.endpoint,
                        timeout.as_millis()
                    )
                };
                return Ok(Some(Failed::new(ControlFailure::ConnectTimeout, why)));
            }
            Ok(true) => {}
        }
        let bytes = req.to_json();
        if let Err(e) = conn.sock.send(&bytes[..], zmq::DONTWAIT) {
            return Ok(Some(Failed::new(
                ControlFailure::Socket,
                format!("send {name}: {e}"),
            )));
        }
        self.tap.control(Direction::Out, &bytes);
        {
            let mut s = lock(&self.stats);
            if is_hello {
                s.hellos += 1;
            } else {
                s.heartbeats += 1;
            }
            s.state = ControlState::WaitingForReply {
                request: name.to_owned(),
            };
        }
        match self.wait(conn, zmq::POLLIN, Instant::now() + timeout)? {
            Err(f) => return Ok(Some(f)),
            Ok(false) => {
                return Ok(Some(Failed::new(
                    ControlFailure::ReplyTimeout,
                    format!("no {name} reply within {} ms", timeout.as_millis()),
                )));
            }
            Ok(true) => {}
        }
        let body = match conn.sock.recv_multipart(zmq::DONTWAIT) {
            Ok(parts) => parts.concat(),
            Err(e) => {
                return Ok(Some(Failed::new(
                    ControlFailure::Socket,
                    format!("receive: {e}"),
                )));
            }
        };
        self.tap.control(Direction::In, &body);
        let reply = match ControlReply::parse(&body) {
            Ok(r) => r,
            Err(e) => return Ok(Some(Failed::new(ControlFailure::BadReply, e.to_string()))),
        };
        self.backoff.reset();
        let mut s = lock(&self.stats);
        s.replies += 1;
        s.state = ControlState::Ok;
        match reply {
            ControlReply::Config(c) => {
                tracing::info!("host config: {c:?}");
                if is_hello {
                    s.last_hello_unix_ms = Some(unix_ms_at(Instant::now()));
                }
                (self.on_config)(&c);
                s.host_config = Some(c);
            }
            ControlReply::Ack { ts } => s.host_ts = ts.or(s.host_ts),
            ControlReply::Error(e) => {
                s.errors += 1;
                tracing::warn!("host answered {name} with error: {e}");
            }
        }
        drop(s);
        self.report();
        Ok(None)
    }
}
