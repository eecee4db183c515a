//! A PUSH channel to the inference host that survives the real world: the host starting
//! late, restarting, stalling or reading slowly.
//!
//! # Why libzmq here, and not the pure-Rust `zeromq` crate
//!
//! `zeromq` 0.7 (used elsewhere in capdeck: the receiver and the control channel) cannot
//! bound memory on a PUSH socket: each peer gets a 100,000-message queue inside the socket
//! and `send().await` returns as soon as the message is queued (measured: 300 × 3.7 MB in
//! 40 µs), and a PUSH socket never reconnects after the host restarts. A stalled host would
//! grow the desktop's memory without limit. libzmq (the `zmq` crate, built from its vendored
//! source) has what this link needs: a send high-water mark (`ZMQ_SNDHWM`) so at most a few
//! messages sit inside the socket, `ZMQ_IMMEDIATE` so nothing is queued for a peer that is
//! not connected, native reconnects with capped exponential backoff
//! (`ZMQ_RECONNECT_IVL`..`ZMQ_RECONNECT_IVL_MAX`) and a socket monitor that reports
//! connects, disconnects and the next retry interval.
//!
//! # Queue policy
//!
//! Everything that cannot go out at once waits in this link's [`Outbox`] (see its docs for
//! the drop policy): bytes in flight are bounded by the outbox budget, plus at most
//! `hwm` messages inside libzmq, plus the kernel's socket buffer.
//!
//! [`PushLink::submit`] never blocks beyond a short mutex: capture never waits on the host.

use capdeck_util::{lock, wait_timeout};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::outbox::{Outbox, OutboxPolicy};
use super::tap::{Channel, TapPoint};
use capdeck_wire::capture::WireMessage;

/// Settings of a [`PushLink`].
#[derive(Debug, Clone)]
pub struct PushLinkConfig {
    /// `tcp://host:port`.
    pub endpoint: String,
    /// Budget and drop policy of the outbound queue.
    pub policy: OutboxPolicy,
    /// Messages allowed inside libzmq (the send high-water mark).
    pub hwm: i32,
    /// First reconnect interval.
    pub reconnect_initial: Duration,
    /// Largest reconnect interval (the backoff doubles up to it).
    pub reconnect_max: Duration,
    /// A message that cannot be handed to a connected host for this long means the host
    /// stopped reading: the state says so.
    pub stall_after: Duration,
}

impl PushLinkConfig {
    /// Defaults for a channel: 250 ms → 1 s backoff (a restarted host is reached again
    /// within a second), stall reported after 1 s.
    pub fn new(endpoint: impl Into<String>, policy: OutboxPolicy, hwm: i32) -> Self {
        Self {
            endpoint: endpoint.into(),
            policy,
            hwm,
            reconnect_initial: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(1),
            stall_after: Duration::from_secs(1),
        }
    }
}

/// What a link is doing, for the status line and the status light.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    /// Not connected yet.
    Connecting {
        /// Milliseconds until the next connection attempt, when known.
        next_retry_ms: Option<u64>,
    },
    /// Connected, and the queue is (nearly) empty.
    Streaming,
    /// Connected, but messages are waiting: draining a backlog, or the host is not reading.
    Buffering {
        /// Messages waiting.
        queued: usize,
        /// Why.
        reason: String,
    },
    /// Was connected, lost the host.
    Disconnected {
        /// Why.
        reason: String,
        /// Milliseconds until the next connection attempt, when known.
        next_retry_ms: Option<u64>,
    },
    /// The link was stopped.
    Stopped,
}

impl LinkState {
    /// A short human-readable form.
    pub fn label(&self) -> String {
        match self {
            Self::Connecting {
                next_retry_ms: Some(ms),
            } => format!("connecting (retry in {ms} ms)"),
            Self::Connecting {
                next_retry_ms: None,
            } => "connecting".to_owned(),
            Self::Streaming => "streaming".to_owned(),
            Self::Buffering { queued, reason } => format!("buffering {queued} ({reason})"),
            Self::Disconnected {
                reason,
                next_retry_ms: Some(ms),
            } => {
                format!("disconnected: {reason} (retry in {ms} ms)")
            }
            Self::Disconnected {
                reason,
                next_retry_ms: None,
            } => format!("disconnected: {reason}"),
            Self::Stopped => "stopped".to_owned(),
        }
    }
}

/// A snapshot of a link's counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkStats {
    /// Channel.
    pub channel: Channel,
    /// Where it connects.
    pub endpoint: String,
    /// Current state.
    pub state: LinkState,
    /// Messages accepted by the socket.
    pub sent: u64,
    /// Wire bytes accepted by the socket.
    pub sent_bytes: u64,
    /// Messages dropped by the queue policy.
    pub dropped: u64,
    /// Wire bytes dropped by the queue policy.
    pub dropped_bytes: u64,
    /// Messages waiting in the outbox.
    pub queued: usize,
    /// Payload bytes waiting in the outbox.
    pub queued_payload_bytes: usize,
    /// Connections made after the first one.
    pub reconnects: u64,
    /// `seq` of the last message sent.
    pub last_seq: Option<u64>,
}

/// Why a link could not start.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// libzmq refused a socket operation.
    #[error("ZeroMQ {op} failed for {endpoint}: {source}")]
    Zmq {
        /// What was attempted.
        op: &'static str,
        /// The endpoint.
        endpoint: String,
        /// libzmq's error.
        source: zmq::Error,
    },
    /// The link thread could not be spawned.
    #[error("cannot spawn the link thread: {0}")]
    Spawn(std::io::Error),
}

#[derive(Debug)]
struct Counters {
    state: LinkState,
    sent: u64,
    sent_bytes: u64,
    reconnects: u64,
    last_seq: Option<u64>,
}

struct Shared {
    outbox: Mutex<Outbox>,
    wake: Condvar,
    stop: AtomicBool,
    retry_now: AtomicBool,
    counters: Mutex<Counters>,
}

/// A PUSH channel on its own named thread.
pub struct PushLink {
    channel: Channel,
    endpoint: String,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

static MONITOR_ID: AtomicU64 = AtomicU64::new(0);

impl PushLink {
    /// Creates the socket, starts connecting (in the background) and spawns the link thread.
    pub fn spawn(
        ctx: &zmq::Context,
        channel: Channel,
        cfg: PushLinkConfig,
        tap: TapPoint,
    ) -> Result<Self, LinkError> {
        let ep = cfg.endpoint.clone();
        let zerr = |op| {
            let ep = ep.clone();
            move |source| LinkError::Zmq {
                op,
                endpoint: ep,
                source,
            }
        };
        let sock = ctx.socket(zmq::PUSH).map_err(zerr("socket"))?;
        sock.set_sndhwm(cfg.hwm.max(1))
            .map_err(zerr("set SNDHWM"))?;
        sock.set_immediate(true).map_err(zerr("set IMMEDIATE"))?;
        // On close, give what libzmq holds a moment to leave; never hang on a dead host.
        sock.set_linger(1000).map_err(zerr("set LINGER"))?;
        sock.set_reconnect_ivl(cfg.reconnect_initial.as_millis() as i32)
            .map_err(zerr("set RECONNECT_IVL"))?;
        sock.set_reconnect_ivl_max(cfg.reconnect_max.as_millis() as i32)
            .map_err(zerr("set RECONNECT_IVL_MAX"))?;
        let mon_ep = format!(
            "inproc://capdeck-monitor-{}-{}",
            std::process::id(),
            MONITOR_ID.fetch_add(1, Ordering::Relaxed)
        );
        sock.monitor(&mon_ep, zmq::SocketEvent::ALL as i32)
            .map_err(zerr("monitor"))?;
        let mon = ctx.socket(zmq::PAIR).map_err(zerr("monitor socket"))?;
        mon.connect(&mon_ep).map_err(zerr("monitor connect"))?;
        sock.connect(&cfg.endpoint).map_err(zerr("connect"))?;

        let shared = Arc::new(Shared {
            outbox: Mutex::new(Outbox::new(cfg.policy)),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            retry_now: AtomicBool::new(false),
            counters: Mutex::new(Counters {
                state: LinkState::Connecting {
                    next_retry_ms: None,
                },
                sent: 0,
                sent_bytes: 0,
                reconnects: 0,
                last_seq: None,
            }),
        });
        let worker = Worker {
            channel,
            sock,
            mon,
            shared: shared.clone(),
            tap,
            cfg: cfg.clone(),
            connected: false,
            ever_connected: false,
            next_retry_at: None,
            disconnect_reason: None,
            blocked_since: None,
            reported: None,
        };
        let thread = std::thread::Builder::new()
            .name(format!("capdeck-push-{}", channel_name(channel)))
            .spawn(move || worker.run())
            .map_err(LinkError::Spawn)?;
        Ok(Self {
            channel,
            endpoint: cfg.endpoint,
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a message for sending; drops the oldest queued messages if over budget
    /// (counted). Never waits on the network.
    pub fn submit(&self, seq: u64, payload_len: usize, msg: WireMessage) {
        lock(&self.shared.outbox).push(seq, payload_len, msg);
        self.shared.wake.notify_one();
    }

    /// Asks the link to reconnect at once instead of waiting for its backoff.
    pub fn retry_now(&self) {
        self.shared.retry_now.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
    }

    /// A snapshot of the counters and state.
    pub fn stats(&self) -> LinkStats {
        let (dropped, dropped_bytes, queued, queued_payload_bytes) = {
            let o = lock(&self.shared.outbox);
            (o.dropped(), o.dropped_bytes(), o.len(), o.payload_bytes())
        };
        let c = lock(&self.shared.counters);
        LinkStats {
            channel: self.channel,
            endpoint: self.endpoint.clone(),
            state: c.state.clone(),
            sent: c.sent,
            sent_bytes: c.sent_bytes,
            dropped,
            dropped_bytes,
            queued,
            queued_payload_bytes,
            reconnects: c.reconnects,
            last_seq: c.last_seq,
        }
    }

    /// Waits up to `timeout` for the queue to drain (for a clean end of a run), then stops.
    pub fn finish(&self, timeout: Duration) -> LinkStats {
        let deadline = Instant::now() + timeout;
        {
            let mut o = lock(&self.shared.outbox);
            while !o.is_empty() && Instant::now() < deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                o = wait_timeout(&self.shared.wake, o, left.min(Duration::from_millis(50)));
            }
        }
        self.shutdown();
        self.stats()
    }

    fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
        let thread = lock(&self.thread).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
        lock(&self.shared.counters).state = LinkState::Stopped;
    }
}

impl Drop for PushLink {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Audio => "audio",
        Channel::Video => "video",
        Channel::Control => "control",
    }
}

struct Worker {
    channel: Channel,
    sock: zmq::Socket,
    mon: zmq::Socket,
    shared: Arc<Shared>,
    tap: TapPoint,
    cfg: PushLinkConfig,
    connected: bool,
    ever_connected: bool,
    next_retry_at: Option<Instant>,
    disconnect_reason: Option<String>,
    blocked_since: Option<Instant>,
    /// The kind of state last reported to the tap.
    reported: Option<std::mem::Discriminant<LinkState>>,
}

impl Worker {
    fn run(mut self) {
        tracing::debug!(channel = channel_name(self.channel), endpoint = %self.cfg.endpoint, "push link started");
        while !self.shared.stop.load(Ordering::Relaxed) {
            self.drain_monitor();
            if self.shared.retry_now.swap(false, Ordering::Relaxed) && !self.connected {
                // Reconnecting from scratch resets libzmq's backoff.
                let _ = self.sock.disconnect(&self.cfg.endpoint);
                if let Err(e) = self.sock.connect(&self.cfg.endpoint) {
                    tracing::warn!("retry connect to {} failed: {e}", self.cfg.endpoint);
                }
                self.next_retry_at = None;
            }
            let front = {
                let o = lock(&self.shared.outbox);
                o.front().map(|q| (q.id, q.seq, q.msg.clone()))
            };
            let Some((id, seq, msg)) = front else {
                self.blocked_since = None;
                self.update_state(0);
                let o = lock(&self.shared.outbox);
                if o.is_empty() && !self.shared.stop.load(Ordering::Relaxed) {
                    let _ = self.shared.wake.wait_timeout(o, Duration::from_millis(50));
                }
                continue;
            };
            match self
                .sock
                .send_multipart(msg.parts.iter().map(|p| &p[..]), zmq::DONTWAIT)
            {
                Ok(()) => {
                    self.blocked_since = None;
                    let queued = {
                        let mut o = lock(&self.shared.outbox);
                        o.pop_sent(id);
                        o.len()
                    };
                    self.shared.wake.notify_all();
                    self.tap.outgoing(self.channel, &msg.parts);
                    {
                        let mut c = lock(&self.shared.counters);
                        c.sent += 1;
                        c.sent_bytes += msg.len() as u64;
                        c.last_seq = Some(seq);
                    }
                    self.update_state(queued);
                }
                Err(zmq::Error::EAGAIN) => {
                    self.blocked_since.get_or_insert_with(Instant::now);
                    let queued = lock(&self.shared.outbox).len();
                    self.update_state(queued);
                    let mut items = [
                        self.mon.as_poll_item(zmq::POLLIN),
                        self.sock.as_poll_item(zmq::POLLOUT),
                    ];
                    let _ = zmq::poll(&mut items, 50);
                }
                Err(e) => {
                    tracing::warn!(channel = channel_name(self.channel), "send failed: {e}");
                    self.disconnect_reason = Some(e.to_string());
                    let mut items = [self.mon.as_poll_item(zmq::POLLIN)];
                    let _ = zmq::poll(&mut items, 100);
                }
            }
        }
        self.tap.link_state(self.channel, &LinkState::Stopped);
        tracing::debug!(channel = channel_name(self.channel), "push link stopped");
    }

    fn drain_monitor(&mut self) {
        loop {
            let parts = match self.mon.recv_multipart(zmq::DONTWAIT) {
                Ok(p) => p,
                Err(_) => return,
            };
            let Some(first) = parts.first().filter(|p| p.len() >= 6) else {
                continue;
            };
            let event = u16::from_le_bytes([first[0], first[1]]);
            let value = u32::from_le_bytes([first[2], first[3], first[4], first[5]]);
            self.on_event(event, value);
        }
    }

    fn on_event(&mut self, event: u16, value: u32) {
        use zmq::SocketEvent as E;
        if event == E::HANDSHAKE_SUCCEEDED.to_raw() {
            if self.ever_connected {
                lock(&self.shared.counters).reconnects += 1;
                tracing::info!(
                    channel = channel_name(self.channel),
                    "reconnected to {}",
                    self.cfg.endpoint
                );
            } else {
                tracing::info!(
                    channel = channel_name(self.channel),
                    "connected to {}",
                    self.cfg.endpoint
                );
            }
            self.connected = true;
            self.ever_connected = true;
            self.next_retry_at = None;
            self.disconnect_reason = None;
        } else if event == E::DISCONNECTED.to_raw() {
            if self.connected {
                tracing::warn!(
                    channel = channel_name(self.channel),
                    "host {} went away",
                    self.cfg.endpoint
                );
            }
            self.connected = false;
            self.disconnect_reason = Some("host closed the connection".to_owned());
        } else if event == E::CONNECT_RETRIED.to_raw() {
            self.next_retry_at = Some(Instant::now() + Duration::from_millis(u64::from(value)));
            if self.disconnect_reason.is_none() || !self.ever_connected {
                self.disconnect_reason = Some("host not reachable (connection refused)".to_owned());
            }
        } else if event == E::HANDSHAKE_FAILED_PROTOCOL.to_raw()
            || event == E::HANDSHAKE_FAILED_NO_DETAIL.to_raw()
        {
            self.disconnect_reason =
                Some("ZeroMQ handshake failed: is this a ZeroMQ PULL socket?".to_owned());
        }
    }

    fn update_state(&mut self, queued: usize) {
        let next_retry_ms = self
            .next_retry_at
            .map(|t| t.saturating_duration_since(Instant::now()).as_millis() as u64);
        let state = if !self.connected {
            if self.ever_connected {
                LinkState::Disconnected {
                    reason: self
                        .disconnect_reason
                        .clone()
                        .unwrap_or_else(|| "connection lost".to_owned()),
                    next_retry_ms,
                }
            } else {
                LinkState::Connecting { next_retry_ms }
            }
        } else if let Some(since) = self
            .blocked_since
            .filter(|s| s.elapsed() >= self.cfg.stall_after)
        {
            LinkState::Buffering {
                queued,
                reason: format!(
                    "host not reading for {:.1} s",
                    since.elapsed().as_secs_f32()
                ),
            }
        } else if queued > 2 {
            LinkState::Buffering {
                queued,
                reason: "sending backlog".to_owned(),
            }
        } else {
            LinkState::Streaming
        };
        if self.reported != Some(std::mem::discriminant(&state)) {
            self.reported = Some(std::mem::discriminant(&state));
            self.tap.link_state(self.channel, &state);
        }
        lock(&self.shared.counters).state = state;
    }
}
