//! A reusable producer-side GrimStream server (what the retail capture tool and the engine
//! do), used by `capdeck demo-feeds`, `capdeck serve-retail` and the tests.
//!
//! Behaviour, as in the spec:
//! - listens on a [`FeedAddr`], serves **one viewer at a time**, accepts again after a
//!   disconnect;
//! - on each connection sends HELLO, then STREAM_CONFIG if configured;
//! - [`Handshake::Retail`]: starts sending at once and never needs to read;
//! - [`Handshake::Engine`]: waits for CONTROL `viewer_ready` before handing the connection to
//!   the session; the viewer's MOVIE_CONTROL messages are collected for the session.
//!
//! ```no_run
//! use capdeck_grimstream::server::{ProducerServer, ServerOptions, StopFlag};
//! use capdeck_grimstream::{Hello, Message};
//! let server = ProducerServer::bind(
//!     &"tcp://127.0.0.1:0".parse().unwrap(),
//!     ServerOptions::retail(Hello::new("retail_capture", None), None),
//! ).unwrap();
//! println!("listening on {}", server.local_addr());
//! let stop = StopFlag::default();
//! server.run(&stop, |session| {
//!     while !session.stopped() {
//!         session.send(&Message::Heartbeat)?;
//!         std::thread::sleep(std::time::Duration::from_millis(33));
//!     }
//!     Ok(())
//! }).unwrap();
//! ```

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::transport::{FeedAddr, Listener, Stream, is_timeout};
use capdeck_wire::grimstream::decoder::Decoder;
use capdeck_wire::grimstream::{Control, Hello, Message, StreamConfig, encode_into};

/// How often the accept loop and the viewer_ready wait look at the stop flag.
const POLL: Duration = Duration::from_millis(10);
/// Messages from the viewer kept for the session; when full, newer ones are dropped (and
/// counted). The viewer only sends CONTROL and MOVIE_CONTROL, a few per minute.
const INCOMING_QUEUE: usize = 256;

/// A shared stop flag for servers and their sessions.
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// Ask everything watching this flag to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether stop was asked.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Asks to stop after `after`, from a named timer thread (a command's `--duration`).
    pub fn stop_after(&self, after: Duration, thread_name: &str) -> io::Result<()> {
        let stop = self.clone();
        std::thread::Builder::new()
            .name(thread_name.into())
            .spawn(move || {
                std::thread::sleep(after);
                stop.stop();
            })
            .map(|_| ())
    }
}

/// Which producer behaviour to imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// Retail capture: send at once, never read.
    Retail,
    /// Engine: wait for CONTROL `viewer_ready` after HELLO; read MOVIE_CONTROL.
    Engine,
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// HELLO sent first on every connection.
    pub hello: Hello,
    /// STREAM_CONFIG sent after HELLO on every connection, if any.
    pub stream_config: Option<StreamConfig>,
    /// Retail or engine behaviour.
    pub handshake: Handshake,
    /// A write blocked this long drops the viewer (a viewer that stopped reading).
    pub write_timeout: Duration,
}

impl ServerOptions {
    /// Retail-style options.
    pub fn retail(hello: Hello, stream_config: Option<StreamConfig>) -> ServerOptions {
        ServerOptions {
            hello,
            stream_config,
            handshake: Handshake::Retail,
            write_timeout: Duration::from_secs(10),
        }
    }

    /// Engine-style options.
    pub fn engine(hello: Hello) -> ServerOptions {
        ServerOptions {
            hello,
            stream_config: None,
            handshake: Handshake::Engine,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// A bound producer server. [`ProducerServer::run`] serves viewers until stopped.
#[derive(Debug)]
pub struct ProducerServer {
    listener: Listener,
    local: FeedAddr,
    opts: ServerOptions,
    connections: Arc<AtomicU64>,
}

/// One viewer connection, handed to the session function.
pub struct Session<'a> {
    stream: Stream,
    stop: &'a StopFlag,
    incoming: Receiver<Message>,
    buf: Vec<u8>,
    /// Connection number on this server, from 1.
    pub connection: u64,
    /// Messages sent on this connection (including HELLO and STREAM_CONFIG).
    pub sent: u64,
    reader: Option<JoinHandle<()>>,
    reader_stream: Option<Stream>,
    peer_closed: Arc<AtomicBool>,
}

impl Session<'_> {
    /// Send one message. An error means the viewer is gone (or stopped reading).
    pub fn send(&mut self, msg: &Message) -> io::Result<()> {
        self.buf.clear();
        encode_into(msg, &mut self.buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.stream.write_all(&self.buf)?;
        self.sent += 1;
        Ok(())
    }

    /// Send raw bytes as they are (tests use this for garbage and unknown kinds).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Whether the server was asked to stop (sessions should return soon after).
    pub fn stopped(&self) -> bool {
        self.stop.is_stopped()
    }

    /// Whether the viewer closed its side (engine-style sessions only; retail never reads).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed.load(Ordering::SeqCst)
    }

    /// Messages the viewer sent since the last call (engine-style: MOVIE_CONTROL, ...).
    pub fn take_received(&mut self) -> Vec<Message> {
        self.incoming.try_iter().collect()
    }

    /// Wait up to `timeout` for a message from the viewer.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Message> {
        self.incoming.recv_timeout(timeout).ok()
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.stream.shutdown();
        if let Some(s) = self.reader_stream.take() {
            s.shutdown();
        }
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
    }
}

fn spawn_reader(
    stream: Stream,
    tx: SyncSender<Message>,
    closed: Arc<AtomicBool>,
    name: String,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name).spawn(move || {
        let mut stream = stream;
        let mut dec = Decoder::default();
        let _ = stream.set_read_timeout(None);
        loop {
            match dec.read_from(&mut stream) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => continue,
                Err(_) => break,
            }
            loop {
                match dec.next_message() {
                    Ok(Some(raw)) => match raw.decode() {
                        Ok(m) => match tx.try_send(m) {
                            Ok(()) => {}
                            Err(TrySendError::Full(m)) => {
                                tracing::warn!(kind = %m.kind(), "viewer message dropped: queue full")
                            }
                            Err(TrySendError::Disconnected(_)) => return,
                        },
                        Err(e) => tracing::warn!("bad message from viewer: {e}"),
                    },
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("viewer stream error: {e}");
                        closed.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }
        closed.store(true, Ordering::SeqCst);
    })
}

impl ProducerServer {
    /// Bind the listening socket now (so the address is known before serving).
    pub fn bind(addr: &FeedAddr, opts: ServerOptions) -> io::Result<ProducerServer> {
        let listener = Listener::bind(addr)?;
        let local = listener.local_addr()?;
        Ok(ProducerServer {
            listener,
            local,
            opts,
            connections: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The bound address (real port when bound to port 0).
    pub fn local_addr(&self) -> &FeedAddr {
        &self.local
    }

    /// A counter of accepted connections (shared, readable from other threads).
    pub fn connection_counter(&self) -> Arc<AtomicU64> {
        self.connections.clone()
    }

    /// Accept the next viewer and do the handshake; `Ok(None)` when stopped first.
    pub fn accept<'a>(&self, stop: &'a StopFlag) -> io::Result<Option<Session<'a>>> {
        loop {
            if stop.is_stopped() {
                return Ok(None);
            }
            let Some(stream) = self.listener.try_accept()? else {
                std::thread::sleep(POLL);
                continue;
            };
            match self.handshake(stream, stop) {
                Ok(Some(s)) => return Ok(Some(s)),
                Ok(None) => return Ok(None),
                Err(e) => {
                    tracing::info!(addr = %self.local, "viewer left during handshake: {e}");
                    continue;
                }
            }
        }
    }

    fn handshake<'a>(&self, stream: Stream, stop: &'a StopFlag) -> io::Result<Option<Session<'a>>> {
        let n = self.connections.fetch_add(1, Ordering::SeqCst) + 1;
        stream.set_write_timeout(Some(self.opts.write_timeout))?;
        let (tx, rx) = sync_channel(INCOMING_QUEUE);
        let closed = Arc::new(AtomicBool::new(false));
        let (reader, reader_stream) = match self.opts.handshake {
            Handshake::Retail => (None, None),
            Handshake::Engine => {
                let rs = stream.try_clone()?;
                let h = spawn_reader(
                    rs.try_clone()?,
                    tx,
                    closed.clone(),
                    format!("grim-server-rx-{n}"),
                )?;
                (Some(h), Some(rs))
            }
        };
        let mut session = Session {
            stream,
            stop,
            incoming: rx,
            buf: Vec::new(),
            connection: n,
            sent: 0,
            reader,
            reader_stream,
            peer_closed: closed,
        };
        session.send(&Message::Hello(self.opts.hello.clone()))?;
        if let Some(c) = self.opts.stream_config {
            session.send(&Message::StreamConfig(c))?;
        }
        if self.opts.handshake == Handshake::Engine {
            loop {
                if stop.is_stopped() {
                    return Ok(None);
                }
                if session.peer_closed() && session.incoming.try_recv().is_err() {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "viewer closed before viewer_ready",
                    ));
                }
                match session.incoming.recv_timeout(POLL) {
                    Ok(Message::Control(Control::ViewerReady { .. })) => break,
                    Ok(other) => {
                        tracing::debug!(kind = %other.kind(), "viewer message before viewer_ready ignored")
                    }
                    Err(_) => {}
                }
            }
            tracing::info!(addr = %self.local, connection = n, "viewer ready");
        }
        Ok(Some(session))
    }

    /// Serve viewers one at a time until `stop`: handshake, then `session(&mut Session)`;
    /// when it returns (its error is logged: usually the viewer left) accept again.
    pub fn run<F>(&self, stop: &StopFlag, mut session: F) -> io::Result<()>
    where
        F: FnMut(&mut Session<'_>) -> io::Result<()>,
    {
        while let Some(mut s) = self.accept(stop)? {
            let started = Instant::now();
            match session(&mut s) {
                Ok(()) => {}
                Err(e) => tracing::info!(
                    addr = %self.local,
                    connection = s.connection,
                    secs = started.elapsed().as_secs_f32(),
                    "viewer disconnected: {e}"
                ),
            }
        }
        Ok(())
    }
}
