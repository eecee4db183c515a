//! Replay compositions over a [`Recording`]:
//! - [`into_view`]: the recorded GrimStream messages through the live view's own ingest
//!   path (same decoder, same store, same gap and stall rules) on the recording's clock;
//! - [`to_host`]: the recorded capture messages pushed to an inference host with libzmq,
//!   the same bytes in the same order, with the original pacing or as fast as it can;
//! - [`load_frame`]: the pixels of a frame the view paged out, read back through the
//!   recording's chunk index (history bounded by disk, not memory);
//! - [`FeedServer`]: a recorded GrimStream feed served as a producer (the recorded HELLO
//!   and STREAM_CONFIG, then the recorded bytes with their pacing), so another viewer can
//!   watch a recording.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use capdeck_grimstream::FeedRole;
use capdeck_grimstream::live::LiveView;
use capdeck_grimstream::server::{ProducerServer, ServerOptions, Session, StopFlag};
use capdeck_grimstream::store::{OperatorMark, StoredFrame};
use capdeck_grimstream::transport::FeedAddr;
use capdeck_record::reader::{ReadError, ReadEvent, Recording, read_span};
use capdeck_record::writer::FlushedSpan;
use capdeck_record::{Topic, split_parts};
use capdeck_wire::grimstream::{HEADER_LEN, Header, Hello, Kind, Message, decode_payload};

/// What [`into_view`] fed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ViewReplay {
    /// GrimStream messages handed to the view.
    pub messages: u64,
    /// Messages the view's decoder refused (the source was reopened after each).
    pub refused: u64,
    /// Unreadable stretches of the recording.
    pub gaps: Vec<(u64, u64, String)>,
    /// Messages on topics this version does not know (skipped).
    pub unknown_topics: u64,
    /// Operator marks read (added to the view's store).
    pub marks: u64,
    /// What the viewer sent (viewer_ready, movie answers), counted on the feeds' status.
    pub sent: u64,
    /// What the capture side sent, setting changes included.
    #[serde(skip)]
    pub capture: capdeck_record::capture_track::CaptureTrack,
}

/// Feeds every recorded GrimStream message of `rec` into `view` at its recorded arrival
/// time (ns since the recording's start, on the view's manual clock). A new connection
/// generation in the recording opens a new source, as a reconnect did live.
pub fn into_view(
    rec: &Recording,
    view: &mut LiveView,
    max_message_len: u32,
) -> Result<ViewReplay, ReadError> {
    into_view_with_progress(rec, view, max_message_len, &AtomicU64::new(0))
}

/// [`into_view`], storing in `progress` how far it got through the recording's time
/// range, in thousandths (for a progress bar while a large recording opens).
pub fn into_view_with_progress(
    rec: &Recording,
    view: &mut LiveView,
    max_message_len: u32,
    progress: &AtomicU64,
) -> Result<ViewReplay, ReadError> {
    let (t0, t1) = rec.time_range().unwrap_or((0, 0));
    let span = t1.saturating_sub(t0).max(1);
    let mut out = ViewReplay::default();
    let mut generation: [Option<u32>; 2] = [None, None];
    let clock = view.clock().clone();
    let mut last_ns = 0i64;
    rec.read_all(&mut |ev| {
        let m = match ev {
            ReadEvent::Gap {
                start_ns,
                end_ns,
                reason,
                ..
            } => {
                out.gaps.push((start_ns, end_ns, reason));
                return ControlFlow::Continue(());
            }
            ReadEvent::Message(m) => m,
        };
        let at = (m.log_time_ns.saturating_sub(t0)).min(i64::MAX as u64) as i64;
        let role = match m.topic {
            Some(Topic::RetailIn) => FeedRole::Retail,
            Some(Topic::EngineIn) => FeedRole::Engine,
            Some(Topic::Marks) => {
                match operator_mark(m.data, t0) {
                    Some(MarkRecord::Set(mark)) => {
                        view.add_operator_mark(mark);
                        out.marks += 1;
                    }
                    Some(MarkRecord::Removed(id)) => {
                        view.remove_operator_mark(id);
                        out.marks += 1;
                    }
                    None => {}
                }
                return ControlFlow::Continue(());
            }
            Some(t @ (Topic::RetailOut | Topic::EngineOut)) => {
                let role = if t == Topic::RetailOut {
                    FeedRole::Retail
                } else {
                    FeedRole::Engine
                };
                if view.take_sent_bytes(role, at.max(last_ns), m.data) {
                    out.sent += 1;
                }
                return ControlFlow::Continue(());
            }
            Some(_) => {
                out.capture.push(&m, at);
                return ControlFlow::Continue(());
            }
            None => {
                out.unknown_topics += 1;
                return ControlFlow::Continue(());
            }
        };
        progress.store(
            (at as u128 * 1000 / span as u128).min(1000) as u64,
            Ordering::Relaxed,
        );
        // Messages from different threads may be a few µs out of order: never go back.
        let at = at.max(last_ns);
        last_ns = at;
        clock.set_manual(Some(at));
        let slot = &mut generation[role.index()];
        if *slot != Some(m.sequence) || !view.has_source(role) {
            if slot.is_some() {
                view.close_source(role, at, "connection ended (recorded)");
            }
            view.open_source(role, at, max_message_len);
            *slot = Some(m.sequence);
        }
        view.tick_source(role, at);
        out.messages += 1;
        if view.ingest_bytes(role, at, m.data).is_err() {
            out.refused += 1;
        }
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// A recorded mark record ([`crate::record::RecordTap::mark`] and `mark_removed`).
enum MarkRecord {
    /// A mark made or edited (the last record of an id wins).
    Set(OperatorMark),
    /// The mark with this id was removed.
    Removed(u64),
}

/// An operator mark record as [`crate::record::RecordTap`] wrote it, on the replay's clock
/// (`t0` = the recording's start). `None` for a record that does not parse.
fn operator_mark(json: &[u8], t0: u64) -> Option<MarkRecord> {
    #[derive(serde::Deserialize)]
    struct Recorded {
        #[serde(default)]
        id: u64,
        #[serde(default)]
        removed: bool,
        #[serde(default)]
        label: String,
        t_ns: u64,
        #[serde(default)]
        note: String,
        #[serde(default)]
        kind: capdeck_grimstream::store::MarkKind,
    }
    let r: Recorded = serde_json::from_slice(json).ok()?;
    if r.removed {
        return Some(MarkRecord::Removed(r.id));
    }
    Some(MarkRecord::Set(OperatorMark {
        id: r.id,
        t_ns: r.t_ns.saturating_sub(t0).min(i64::MAX as u64) as i64,
        label: r.label,
        note: r.note,
        kind: r.kind,
    }))
}

/// How far before a frame's replayed arrival its recorded message may lie: [`into_view`]
/// never lets the clock go back, so a message logged a little out of order arrives a
/// little late.
pub const LOAD_SLACK_NS: u64 = 200_000_000;

/// Reads the pixels of `frame` (a frame [`into_view`] fed from `rec`, now paged out of the
/// view's memory) back from the recording: the retail message logged at its arrival with
/// its frame id, found through the chunk index, so a seek reads one chunk, not the file.
/// `Ok(None)` when the recording no longer has it (a damaged chunk).
pub fn load_frame(rec: &Recording, frame: &StoredFrame) -> Result<Option<Bytes>, ReadError> {
    let t0 = rec.time_range().map_or(0, |r| r.0);
    let at = t0.saturating_add(frame.arrival_ns.max(0) as u64);
    load_frame_with(at, frame, &mut |from, to, f| {
        rec.read(from, to, &[Topic::RetailIn], f)
    })
}

/// [`load_frame`] for a session still being recorded: `frame` (paged out of the live
/// view) read back from the spans its writer has flushed ([`FlushedSpan`]), `at_ns` being
/// its arrival on the session clock. History while recording is then bounded by the disk,
/// not by memory.
pub fn load_frame_written(
    dir: &std::path::Path,
    spans: &[FlushedSpan],
    at_ns: u64,
    frame: &StoredFrame,
) -> Result<Option<Bytes>, ReadError> {
    load_frame_with(at_ns, frame, &mut |from, to, f| {
        // spans are in time order, but a span's times may overlap the next one's a little
        let first = spans.partition_point(|s| s.end_ns < from);
        for s in spans[first..].iter().take_while(|s| s.start_ns <= to) {
            read_span(dir, s, from, to, &[Topic::RetailIn], f)?;
        }
        Ok(())
    })
}

/// A read of the retail messages logged in `from..=to`.
type ReadRange<'a> = dyn FnMut(u64, u64, &mut dyn FnMut(ReadEvent<'_>) -> ControlFlow<()>) -> Result<(), ReadError>
    + 'a;

fn load_frame_with(
    at: u64,
    frame: &StoredFrame,
    read: &mut ReadRange<'_>,
) -> Result<Option<Bytes>, ReadError> {
    // Almost always the message was logged exactly at the replayed arrival; only a message
    // logged out of order needs the wider (and dearer: each candidate is decoded) window.
    for from in [at, at.saturating_sub(LOAD_SLACK_NS)] {
        if let Some(data) = find_frame(read, from, at, frame)? {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

fn find_frame(
    read: &mut ReadRange<'_>,
    from_ns: u64,
    to_ns: u64,
    frame: &StoredFrame,
) -> Result<Option<Bytes>, ReadError> {
    let mut found = None;
    read(from_ns, to_ns, &mut |ev| {
        let ReadEvent::Message(m) = ev else {
            return ControlFlow::Continue(());
        };
        let Some((head, payload)) = m.data.split_first_chunk::<HEADER_LEN>() else {
            return ControlFlow::Continue(());
        };
        if !Header::parse(head).is_ok_and(|h| h.kind == Kind::Frame) {
            return ControlFlow::Continue(());
        }
        if let Ok(Message::Frame(f)) = decode_payload(Kind::Frame, Bytes::copy_from_slice(payload))
            && f.frame_id == frame.frame_id
            && f.host_time_ns == frame.host_time_ns
        {
            // the last match at or before the arrival is the one that was fed
            found = Some(f.data);
        }
        ControlFlow::Continue(())
    })?;
    Ok(found)
}

/// How [`to_host`] paces and frames.
#[derive(Debug, Clone)]
pub struct ToHostOptions {
    /// Host name or address.
    pub host: String,
    /// Audio PULL port.
    pub audio_port: u16,
    /// Video PULL port.
    pub video_port: u16,
    /// Keep the recorded spacing (false: as fast as the host takes them).
    pub paced: bool,
    /// Replay speed when paced (1.0 = as recorded).
    pub speed: f64,
    /// Give up on a message the host does not take within this long.
    pub send_timeout: Duration,
    /// Shared with the caller: messages sent so far, and a stop request.
    pub progress: Arc<ToHostProgress>,
}

/// How far a running [`to_host`] got, and a way to stop it (the app's Stop button).
#[derive(Debug, Default)]
pub struct ToHostProgress {
    /// Messages sent so far.
    pub sent: AtomicU64,
    /// Stops after the message being sent (a paced wait ends within 100 ms).
    pub stop: StopFlag,
}

/// What [`to_host`] sent.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HostReplay {
    /// Audio messages sent.
    pub audio: u64,
    /// Video messages sent.
    pub video: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Recorded messages whose parts did not split (left out).
    pub damaged: u64,
    /// Unreadable stretches of the recording.
    pub gaps: u64,
    /// Wall time taken, s.
    pub seconds: f64,
    /// Stopped on request before the end.
    pub stopped: bool,
}

impl std::fmt::Display for HostReplay {
    /// `sent 35 audio and 18 video messages (0.3 MiB) in 3.5 s`, with what was left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} audio and {} video messages ({:.1} MiB) in {:.1} s",
            if self.stopped {
                "stopped after"
            } else {
                "sent"
            },
            self.audio,
            self.video,
            self.bytes as f64 / 1048576.0,
            self.seconds
        )?;
        if self.gaps + self.damaged > 0 {
            write!(
                f,
                "; {} unreadable stretches, {} damaged messages left out",
                self.gaps, self.damaged
            )?;
        }
        Ok(())
    }
}

/// Why a replay to a host failed.
#[derive(Debug, thiserror::Error)]
pub enum ToHostError {
    /// Reading the recording.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A socket error.
    #[error("{what}: {source}")]
    Zmq {
        /// Which operation.
        what: String,
        /// Why.
        source: zmq::Error,
    },
    /// The host did not take a message in time.
    #[error("the host at {0} did not take a message within the send timeout; replay stopped")]
    Timeout(String),
}

/// Pushes the recorded capture messages to a host: PUSH sockets (libzmq, as the live
/// links), each message with exactly the parts it was recorded with, in recorded order.
/// Unlike the live links this never drops: it waits (up to the send timeout) for the host.
pub fn to_host(rec: &Recording, o: &ToHostOptions) -> Result<HostReplay, ToHostError> {
    let ctx = zmq::Context::new();
    let z = |what: &str| {
        let what = what.to_owned();
        move |source| ToHostError::Zmq { what, source }
    };
    let mk = |port: u16| -> Result<zmq::Socket, ToHostError> {
        let s = ctx.socket(zmq::PUSH).map_err(z("creating a PUSH socket"))?;
        s.set_sndtimeo(o.send_timeout.as_millis().min(i32::MAX as u128) as i32)
            .map_err(z("setting the send timeout"))?;
        s.set_linger(2000).map_err(z("setting linger"))?;
        let ep = format!("tcp://{}:{port}", o.host);
        s.connect(&ep).map_err(z(&format!("connecting {ep}")))?;
        Ok(s)
    };
    let audio = mk(o.audio_port)?;
    let video = mk(o.video_port)?;
    let mut out = HostReplay::default();
    let started = Instant::now();
    let t0 = rec.time_range().map_or(0, |r| r.0);
    let speed = if o.speed.is_finite() && o.speed > 0.0 {
        o.speed
    } else {
        1.0
    };
    let mut failure: Option<ToHostError> = None;
    rec.read(
        0,
        u64::MAX,
        &[Topic::CaptureAudio, Topic::CaptureVideo],
        &mut |ev| {
            let m = match ev {
                ReadEvent::Gap { .. } => {
                    out.gaps += 1;
                    return ControlFlow::Continue(());
                }
                ReadEvent::Message(m) => m,
            };
            let Ok(parts) = split_parts(m.data) else {
                out.damaged += 1;
                return ControlFlow::Continue(());
            };
            if o.paced {
                let due =
                    Duration::from_secs_f64(m.log_time_ns.saturating_sub(t0) as f64 / 1e9 / speed);
                // waits in slices, so a stop request is seen within 100 ms
                while let Some(wait) = due.checked_sub(started.elapsed()) {
                    if o.progress.stop.is_stopped() {
                        break;
                    }
                    std::thread::sleep(wait.min(Duration::from_millis(100)));
                }
            }
            if o.progress.stop.is_stopped() {
                out.stopped = true;
                return ControlFlow::Break(());
            }
            let (sock, name) = if m.topic == Some(Topic::CaptureAudio) {
                (&audio, "audio")
            } else {
                (&video, "video")
            };
            match sock.send_multipart(parts.iter().copied(), 0) {
                Ok(()) => {
                    o.progress.sent.fetch_add(1, Ordering::Relaxed);
                    out.bytes += parts.iter().map(|p| p.len() as u64).sum::<u64>();
                    if name == "audio" {
                        out.audio += 1;
                    } else {
                        out.video += 1;
                    }
                    ControlFlow::Continue(())
                }
                Err(zmq::Error::EAGAIN) => {
                    failure = Some(ToHostError::Timeout(format!("{}:{name}", o.host)));
                    ControlFlow::Break(())
                }
                Err(e) => {
                    failure = Some(ToHostError::Zmq {
                        what: format!("sending {name}"),
                        source: e,
                    });
                    ControlFlow::Break(())
                }
            }
        },
    )?;
    out.seconds = started.elapsed().as_secs_f64();
    // Linger lets the queued messages reach the host before the sockets close.
    drop(audio);
    drop(video);
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Why a recorded feed cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reading the recording.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The recording has nothing of that feed.
    #[error("the recording has no {0} feed messages")]
    NoFeed(&'static str),
    /// Binding the listener.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A recorded GrimStream feed served as a producer: one viewer at a time, each from the
/// recording's start, with the recorded pacing divided by the speed. At the recording's
/// end the connection stays open and quiet (the viewer sees the end, one stall, not a
/// reconnect), until the viewer leaves and the next one is served.
pub struct FeedServer {
    server: ProducerServer,
    role: FeedRole,
    speed: f64,
}

fn topic_of(role: FeedRole) -> Topic {
    match role {
        FeedRole::Retail => Topic::RetailIn,
        FeedRole::Engine => Topic::EngineIn,
    }
}

fn kind_of(data: &[u8]) -> Option<Kind> {
    let (head, _) = data.split_first_chunk::<HEADER_LEN>()?;
    Header::parse(head).ok().map(|h| h.kind)
}

impl FeedServer {
    /// Binds `addr` for `role` of `rec`: the feed's first recorded HELLO and STREAM_CONFIG
    /// are what the server says first on every connection (an engine then waits for the
    /// viewer's `viewer_ready`, as the real engine does).
    pub fn bind(
        rec: &Recording,
        role: FeedRole,
        addr: &FeedAddr,
        speed: f64,
    ) -> Result<FeedServer, ServeError> {
        let mut hello = None;
        let mut config = None;
        let mut any = false;
        rec.read(0, u64::MAX, &[topic_of(role)], &mut |ev| {
            let ReadEvent::Message(m) = ev else {
                return ControlFlow::Continue(());
            };
            any = true;
            let payload = m.data.get(HEADER_LEN..).unwrap_or_default();
            match kind_of(m.data) {
                Some(Kind::Hello) if hello.is_none() => {
                    if let Ok(Message::Hello(h)) =
                        decode_payload(Kind::Hello, Bytes::copy_from_slice(payload))
                    {
                        hello = Some(h);
                    }
                }
                Some(Kind::StreamConfig) if config.is_none() => {
                    if let Ok(Message::StreamConfig(c)) =
                        decode_payload(Kind::StreamConfig, Bytes::copy_from_slice(payload))
                    {
                        config = Some(c);
                    }
                }
                // what a producer says first comes before its data
                Some(Kind::Frame | Kind::StateUpdate) => return ControlFlow::Break(()),
                _ => {}
            }
            ControlFlow::Continue(())
        })?;
        if !any {
            return Err(ServeError::NoFeed(role.name()));
        }
        let hello = hello.unwrap_or_else(|| Hello::new("capdeck-replay", None));
        let opts = match role {
            FeedRole::Retail => ServerOptions::retail(hello, config),
            FeedRole::Engine => ServerOptions::engine(hello),
        };
        let server = ProducerServer::bind(addr, opts).map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Ok(FeedServer {
            server,
            role,
            speed,
        })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> &FeedAddr {
        self.server.local_addr()
    }

    /// Serves viewers one after another until `stop`.
    pub fn run(&self, rec: &Recording, stop: &StopFlag) -> std::io::Result<()> {
        self.server
            .run(stop, |session| self.serve_viewer(rec, session))
    }

    fn serve_viewer(&self, rec: &Recording, session: &mut Session<'_>) -> std::io::Result<()> {
        let role = self.role.name();
        tracing::info!(
            connection = session.connection,
            "{role} viewer connected to the replay"
        );
        let started = Instant::now();
        let (mut said_hello, mut said_config) = (false, false);
        let mut first: Option<u64> = None;
        let mut sent = 0u64;
        let mut result = Ok(());
        let read = rec.read(0, u64::MAX, &[topic_of(self.role)], &mut |ev| {
            let ReadEvent::Message(m) = ev else {
                return ControlFlow::Continue(());
            };
            // the server said the first HELLO and STREAM_CONFIG already
            match kind_of(m.data) {
                Some(Kind::Hello) if !said_hello => {
                    said_hello = true;
                    return ControlFlow::Continue(());
                }
                Some(Kind::StreamConfig) if !said_config => {
                    said_config = true;
                    return ControlFlow::Continue(());
                }
                None => return ControlFlow::Continue(()),
                _ => {}
            }
            let t0 = *first.get_or_insert(m.log_time_ns);
            let due =
                Duration::from_secs_f64(m.log_time_ns.saturating_sub(t0) as f64 / 1e9 / self.speed);
            while let Some(wait) = due.checked_sub(started.elapsed()) {
                if session.stopped() {
                    return ControlFlow::Break(());
                }
                std::thread::sleep(wait.min(Duration::from_millis(50)));
            }
            if let Err(e) = session.send_raw(m.data) {
                result = Err(e);
                return ControlFlow::Break(());
            }
            sent += 1;
            ControlFlow::Continue(())
        });
        tracing::info!(
            connection = session.connection,
            messages = sent,
            "{role} replay to this viewer reached the recording's end"
        );
        read.map_err(std::io::Error::other)?;
        result?;
        // The end: stay connected and quiet until the viewer leaves (its reader sees the
        // connection close). No HEARTBEAT: a viewer would count each one that ends a
        // silence as a new stall, and grim_viewer logs each as an ignored message.
        while !session.stopped() && !session.peer_closed() {
            // what the viewer sends now (a late movie answer) is read and let go
            let _ = session.recv_timeout(Duration::from_millis(100));
        }
        Ok(())
    }
}
