//! The control channel: a REQ socket that says hello, sends a heartbeat every 5 s and
//! applies the host's config.
//!
//! Uses the pure-Rust `zeromq` crate (it does this job well: one request in flight, no
//! queueing to bound). Its REQ socket has no receive timeout and a REQ whose reply is lost
//! waits forever, so every request is wrapped in a 3 s timeout; on a timeout (or any error)
//! the socket is thrown away and a fresh one says hello again after a capped backoff.
//! Streaming never depends on this channel: it runs on its own named thread.
//!
//! Known limit: `zeromq` 0.7 reserves a frame's announced length before reading it, so a
//! host that answers with a frame header announcing terabytes makes the allocation fail
//! and the process abort. Here the peer is the host the operator chose to connect to, so
//! the exposure is small; the listening side (`net::receiver`, any peer can connect) is on
//! libzmq with `ZMQ_MAXMSGSIZE` for this reason. If the crate gains a frame-size limit,
//! set it here.

use crate::util::lock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use zeromq::{Socket, SocketRecv, SocketSend};

use super::backoff::Backoff;
use super::tap::{Direction, TapPoint};
use crate::wire::capture::{ControlReply, ControlRequest, HostConfig};

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
    /// How long to wait for any reply.
    pub reply_timeout: Duration,
}

impl ControlConfig {
    /// The spec's values: heartbeat every 5 s, 3 s reply timeout.
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
        }
    }
}

/// State of the control channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ControlState {
    /// No control channel configured.
    Disabled,
    /// Connecting / waiting for the hello reply.
    Connecting,
    /// The host answers.
    Ok,
    /// The host did not answer in time; streaming goes on; retrying with a fresh socket.
    NoReply {
        /// Why.
        reason: String,
        /// Milliseconds until the next attempt.
        next_retry_ms: u64,
    },
    /// Stopped.
    Stopped,
}

/// A snapshot of the control channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlStats {
    /// Where it connects (empty when disabled).
    pub endpoint: String,
    /// Current state.
    pub state: ControlState,
    /// Hello requests sent.
    pub hellos: u64,
    /// Heartbeats sent.
    pub heartbeats: u64,
    /// Replies received.
    pub replies: u64,
    /// Requests that got no reply in time.
    pub timeouts: u64,
    /// Error replies (`{"error":...}`) or unintelligible replies.
    pub errors: u64,
    /// The host's config, from its last config reply.
    pub host_config: Option<HostConfig>,
    /// The host's clock at its last heartbeat reply.
    pub host_ts: Option<u64>,
}

impl ControlStats {
    /// Stats of a disabled channel.
    pub fn disabled() -> Self {
        Self {
            endpoint: String::new(),
            state: ControlState::Disabled,
            hellos: 0,
            heartbeats: 0,
            replies: 0,
            timeouts: 0,
            errors: 0,
            host_config: None,
            host_ts: None,
        }
    }
}

/// Called with each config the host sends.
pub type OnConfig = Box<dyn Fn(&HostConfig) + Send + Sync>;

/// The control channel on its own named thread.
pub struct ControlLink {
    stats: Arc<Mutex<ControlStats>>,
    stop: Arc<tokio::sync::Notify>,
    stopped: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl ControlLink {
    /// Starts the control channel.
    pub fn spawn(cfg: ControlConfig, on_config: OnConfig, tap: TapPoint) -> std::io::Result<Self> {
        let stats = Arc::new(Mutex::new(ControlStats {
            endpoint: cfg.endpoint.clone(),
            state: ControlState::Connecting,
            ..ControlStats::disabled()
        }));
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = Arc::new(AtomicU64::new(0));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (s2, stop2, stopped2) = (stats.clone(), stop.clone(), stopped.clone());
        let thread = std::thread::Builder::new()
            .name("capdeck-control".into())
            .spawn(move || {
                rt.block_on(async move {
                    tokio::select! {
                        () = run(cfg, on_config, tap, s2) => {}
                        () = async {
                            while stopped2.load(Ordering::Relaxed) == 0 {
                                stop2.notified().await;
                            }
                        } => {}
                    }
                });
            })?;
        Ok(Self {
            stats,
            stop,
            stopped,
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
        self.stopped.store(1, Ordering::Relaxed);
        self.stop.notify_one();
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

enum Outcome {
    Reply(ControlReply),
    Failed(String),
}

async fn request(
    sock: &mut zeromq::ReqSocket,
    req: &ControlRequest,
    timeout: Duration,
    tap: &TapPoint,
) -> Outcome {
    let bytes = req.to_json();
    tap.control(Direction::Out, &bytes);
    let exchange = async {
        sock.send(zeromq::ZmqMessage::from(bytes)).await?;
        sock.recv().await
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Outcome::Failed(format!("no reply within {} ms", timeout.as_millis())),
        Ok(Err(e)) => Outcome::Failed(format!("control socket error: {e}")),
        Ok(Ok(msg)) => {
            let body: Vec<u8> = msg.iter().flat_map(|p| p.iter().copied()).collect();
            tap.control(Direction::In, &body);
            match ControlReply::parse(&body) {
                Ok(r) => Outcome::Reply(r),
                Err(e) => Outcome::Failed(e.to_string()),
            }
        }
    }
}

async fn run(
    cfg: ControlConfig,
    on_config: OnConfig,
    tap: TapPoint,
    stats: Arc<Mutex<ControlStats>>,
) {
    let started = Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    loop {
        let failure = session(&cfg, &on_config, &tap, &stats, started, &mut backoff).await;
        let delay = backoff.next_delay();
        tracing::warn!(
            "control channel {}: {failure}; retrying in {} ms",
            cfg.endpoint,
            delay.as_millis()
        );
        lock(&stats).state = ControlState::NoReply {
            reason: failure,
            next_retry_ms: delay.as_millis() as u64,
        };
        let until = Instant::now() + delay;
        // Keep the countdown in the state fresh while waiting.
        while Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            tokio::time::sleep(left.min(Duration::from_millis(200))).await;
            if let ControlState::NoReply { next_retry_ms, .. } = &mut lock(&stats).state {
                *next_retry_ms = until.saturating_duration_since(Instant::now()).as_millis() as u64;
            }
        }
    }
}

/// One socket's life: connect, hello, heartbeats until something fails. Returns why.
async fn session(
    cfg: &ControlConfig,
    on_config: &OnConfig,
    tap: &TapPoint,
    stats: &Mutex<ControlStats>,
    started: Instant,
    backoff: &mut Backoff,
) -> String {
    let mut sock = zeromq::ReqSocket::new();
    match tokio::time::timeout(cfg.reply_timeout, sock.connect(&cfg.endpoint)).await {
        Err(_) => {
            return format!(
                "no host at {} within {} ms",
                cfg.endpoint,
                cfg.reply_timeout.as_millis()
            );
        }
        Ok(Err(e)) => return format!("cannot connect: {e}"),
        Ok(Ok(())) => {}
    }
    let hello = ControlRequest::Hello {
        client: cfg.client.clone(),
        capabilities: cfg.capabilities.clone(),
    };
    lock(stats).hellos += 1;
    let mut next = hello;
    loop {
        let is_heartbeat = matches!(next, ControlRequest::Heartbeat { .. });
        match request(&mut sock, &next, cfg.reply_timeout, tap).await {
            Outcome::Failed(why) => {
                let mut s = lock(stats);
                s.timeouts += u64::from(why.starts_with("no reply"));
                s.errors += u64::from(!why.starts_with("no reply"));
                return why;
            }
            Outcome::Reply(reply) => {
                backoff.reset();
                let mut s = lock(stats);
                s.replies += 1;
                s.state = ControlState::Ok;
                match reply {
                    ControlReply::Config(c) => {
                        tracing::info!("host config: {c:?}");
                        on_config(&c);
                        s.host_config = Some(c);
                    }
                    ControlReply::Ack { ts } => s.host_ts = ts.or(s.host_ts),
                    ControlReply::Error(e) => {
                        s.errors += 1;
                        tracing::warn!(
                            "host answered {:?} with error: {e}",
                            if is_heartbeat { "heartbeat" } else { "hello" }
                        );
                    }
                }
            }
        }
        tokio::time::sleep(cfg.heartbeat).await;
        lock(stats).heartbeats += 1;
        next = ControlRequest::Heartbeat {
            client: cfg.client.clone(),
            uptime_s: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        };
    }
}
