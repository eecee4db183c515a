//! The reference host: binds PULL (audio), PULL (video) and REP (control), accepts both
//! framings (told apart by part count, and named in its config replies), answers the control channel as the inference host
//! does, and optionally writes what it receives: `audio.wav` (16 kHz mono), one
//! `video/NNNNNN.jpg` per frame (named by seq) and `index.jsonl` (one line per message,
//! malformed ones included) under an output folder.
//!
//! Built on libzmq (the `zmq` crate), not the pure-Rust `zeromq` crate the control client
//! uses: this side listens, so any peer can send it bytes, and `zeromq` 0.7 reserves a
//! frame's announced length before reading it: a 74-byte greeting plus one frame header
//! announcing 1 TiB aborted the process (allocation failure). libzmq checks every
//! message against `ZMQ_MAXMSGSIZE` and drops the peer instead ([`MAX_DATA_MSG`],
//! [`MAX_CONTROL_MSG`]).

use capdeck_util::lock;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;

use capdeck_wire::capture::{self, Decoded, Framing, Header, HostConfig};

/// Settings of a [`Receiver`].
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Address to bind: `127.0.0.1` (the default) keeps it local; a wider bind such as
    /// `0.0.0.0` is logged as a warning.
    pub bind: String,
    /// Audio PULL port (0 = any free port).
    pub audio_port: u16,
    /// Video PULL port (0 = any free port).
    pub video_port: u16,
    /// Control REP port; `None` = no control channel, `Some(0)` = any free port.
    pub control_port: Option<u16>,
    /// Where to write audio.wav, video/ and index.jsonl; `None` = keep only stats.
    pub out_dir: Option<PathBuf>,
    /// Bytes the outputs may take on disk; when the next write would pass it, writing
    /// stops (receiving and stats go on) and [`ReceiverStats::output_stopped`] says why.
    pub out_budget_bytes: u64,
    /// The config the control channel hands out.
    pub host_config: HostConfig,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1".to_owned(),
            audio_port: 5555,
            video_port: 5556,
            control_port: Some(5557),
            out_dir: None,
            out_budget_bytes: DEFAULT_OUT_BUDGET,
            host_config: HostConfig::reference(),
        }
    }
}

/// Actual ports bound (useful with port 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BoundPorts {
    /// Audio PULL.
    pub audio: u16,
    /// Video PULL.
    pub video: u16,
    /// Control REP, if enabled.
    pub control: Option<u16>,
}

/// Running statistics of a latency series, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Samples.
    pub count: u64,
    /// Last value.
    pub last_ms: i64,
    /// Mean.
    pub mean_ms: f64,
    /// Largest value.
    pub max_ms: i64,
}

impl LatencyStats {
    fn add(&mut self, ms: i64) {
        self.count += 1;
        self.last_ms = ms;
        self.mean_ms += (ms as f64 - self.mean_ms) / self.count as f64;
        self.max_ms = if self.count == 1 {
            ms
        } else {
            self.max_ms.max(ms)
        };
    }
}

/// Per-channel receive statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChannelStats {
    /// Well-formed messages.
    pub messages: u64,
    /// Payload bytes of well-formed messages.
    pub payload_bytes: u64,
    /// Messages by framing.
    pub multipart: u64,
    /// Messages by framing.
    pub framed: u64,
    /// First seq seen.
    pub first_seq: Option<u64>,
    /// Last seq seen.
    pub last_seq: Option<u64>,
    /// Seqs skipped (sum of forward jumps minus one).
    pub missing: u64,
    /// Forward jumps in seq.
    pub gap_events: u64,
    /// Seqs at or below the last one seen (duplicates, reordering, sender restarts).
    pub out_of_order: u64,
    /// Arrival time minus header `ts`.
    pub latency: LatencyStats,
    /// Malformed messages on this channel.
    pub malformed: u64,
    /// Messages of the other channel's type received here.
    pub wrong_channel: u64,
}

impl ChannelStats {
    fn observe_seq(&mut self, seq: u64) {
        match self.last_seq {
            None => self.first_seq = Some(seq),
            Some(last) if seq > last + 1 => {
                self.missing += seq - last - 1;
                self.gap_events += 1;
            }
            Some(last) if seq <= last => self.out_of_order += 1,
            Some(_) => {}
        }
        if self.last_seq.is_none_or(|l| seq > l) {
            self.last_seq = Some(seq);
        }
    }
}

/// Control-channel statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ControlCounters {
    /// hello requests.
    pub hello: u64,
    /// heartbeat requests.
    pub heartbeat: u64,
    /// get_config requests.
    pub get_config: u64,
    /// Requests with an unknown cmd.
    pub unknown: u64,
    /// Requests that were not JSON.
    pub invalid: u64,
    /// Last client name seen.
    pub client: Option<String>,
}

/// Everything the receiver has seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReceiverStats {
    /// Ports bound.
    pub ports: Option<BoundPorts>,
    /// Audio channel.
    pub audio: ChannelStats,
    /// Video channel.
    pub video: ChannelStats,
    /// Control channel.
    pub control: ControlCounters,
    /// Malformed messages by error kind (see `WireError::kind`).
    pub malformed_by_kind: BTreeMap<String, u64>,
    /// Last malformed message's error.
    pub last_error: Option<String>,
    /// Samples written to audio.wav.
    pub audio_samples_written: u64,
    /// JPEG files written.
    pub video_files_written: u64,
    /// Bytes written to the outputs.
    pub bytes_written: u64,
    /// Set when writing stopped at the disk budget (receiving goes on).
    pub output_stopped: Option<String>,
    /// Size of the last video frame received.
    pub last_video_size: Option<(u32, u32)>,
    /// Seconds since the receiver started.
    pub uptime_s: f64,
}

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// A bind failed.
    #[error("cannot bind {what} on {endpoint}: {source}")]
    Bind {
        /// Which socket.
        what: &'static str,
        /// Endpoint.
        endpoint: String,
        /// Cause.
        source: zmq::Error,
    },
    /// The output folder could not be prepared.
    #[error("cannot write to {path}: {source}")]
    Output {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Runtime or thread creation failed.
    #[error("cannot start the receiver: {0}")]
    Io(#[from] std::io::Error),
}

struct Outputs {
    wav: Option<hound::WavWriter<BufWriter<File>>>,
    index: Option<BufWriter<File>>,
    video_dir: Option<PathBuf>,
    last_flush: Instant,
    /// Disk budget and bytes written so far.
    budget: u64,
    written: u64,
    /// Why writing stopped.
    stopped: Option<String>,
}

impl Outputs {
    fn open(dir: Option<&Path>, budget: u64) -> Result<Self, ReceiverError> {
        let Some(dir) = dir else {
            return Ok(Self {
                wav: None,
                index: None,
                video_dir: None,
                last_flush: Instant::now(),
                budget,
                written: 0,
                stopped: None,
            });
        };
        let out = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReceiverError::Output { path, source }
        };
        let video_dir = dir.join("video");
        std::fs::create_dir_all(&video_dir).map_err(out(&video_dir))?;
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: capture::AUDIO_SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let wav_path = dir.join("audio.wav");
        let wav = hound::WavWriter::create(&wav_path, spec).map_err(|e| ReceiverError::Output {
            path: wav_path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let index_path = dir.join("index.jsonl");
        let index = File::create(&index_path).map_err(out(&index_path))?;
        Ok(Self {
            wav: Some(wav),
            index: Some(BufWriter::new(index)),
            video_dir: Some(video_dir),
            last_flush: Instant::now(),
            budget,
            // the WAV header
            written: 44,
            stopped: None,
        })
    }

    /// Whether `n` more bytes fit the disk budget (counting them if so). The first
    /// write that does not fit stops all writing: audio.wav is finalised, the index
    /// flushed, and the reason logged and kept.
    fn reserve(&mut self, n: u64, what: &str) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        if self.written.saturating_add(n) <= self.budget {
            self.written += n;
            return true;
        }
        let why = format!(
            "disk budget of {} MiB reached ({} bytes written; {what} of {n} bytes would pass it): \
             no longer writing, still receiving",
            self.budget >> 20,
            self.written
        );
        tracing::warn!("receiver output: {why}");
        self.stopped = Some(why);
        if let Some(w) = self.wav.take()
            && let Err(e) = w.finalize()
        {
            tracing::warn!("cannot finalise audio.wav: {e}");
        }
        if let Some(mut ix) = self.index.take() {
            let _ = ix.flush();
        }
        self.video_dir = None;
        false
    }

    fn index_line(&mut self, line: &serde_json::Value) {
        if self.index.is_none() {
            return;
        }
        let mut bytes = serde_json::to_vec(line).unwrap_or_default();
        bytes.push(b'\n');
        if self.reserve(bytes.len() as u64, "an index line")
            && let Some(ix) = &mut self.index
        {
            let _ = ix.write_all(&bytes);
        }
    }

    fn maybe_flush(&mut self, force: bool) {
        if force || self.last_flush.elapsed() >= Duration::from_millis(500) {
            if let Some(w) = &mut self.wav {
                let _ = w.flush();
            }
            if let Some(ix) = &mut self.index {
                let _ = ix.flush();
            }
            self.last_flush = Instant::now();
        }
    }
}

struct State {
    stats: ReceiverStats,
    outputs: Outputs,
    last_video_jpeg: Option<Bytes>,
    host_config: HostConfig,
    started: Instant,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pull {
    Audio,
    Video,
}

impl State {
    fn on_data(&mut self, which: Pull, parts: Vec<Bytes>) {
        let arrival = unix_ms();
        let ch_name = if which == Pull::Audio {
            "audio"
        } else {
            "video"
        };
        match capture::decode(&parts) {
            Err(e) => {
                let ch = if which == Pull::Audio {
                    &mut self.stats.audio
                } else {
                    &mut self.stats.video
                };
                ch.malformed += 1;
                *self
                    .stats
                    .malformed_by_kind
                    .entry(e.kind().to_owned())
                    .or_default() += 1;
                tracing::warn!("malformed {ch_name} message: {e}");
                self.stats.last_error = Some(format!("{ch_name}: {e}"));
                self.outputs.index_line(&serde_json::json!({
                    "ch": ch_name, "arrival_ms": arrival, "error": e.kind(), "detail": e.to_string(),
                }));
            }
            Ok(Decoded {
                header,
                payload,
                framing,
            }) => {
                let is_audio = matches!(header, Header::Audio(_));
                let ch = if which == Pull::Audio {
                    &mut self.stats.audio
                } else {
                    &mut self.stats.video
                };
                if is_audio != (which == Pull::Audio) {
                    ch.wrong_channel += 1;
                    self.stats.last_error =
                        Some(format!("{ch_name}: message of the other channel's type"));
                    return;
                }
                ch.messages += 1;
                ch.payload_bytes += payload.len() as u64;
                match framing {
                    Framing::Multipart => ch.multipart += 1,
                    Framing::Framed => ch.framed += 1,
                }
                ch.observe_seq(header.seq());
                let latency = arrival as i64 - header.ts() as i64;
                ch.latency.add(latency);
                match &header {
                    Header::Audio(_) => {
                        let samples = payload.len() as u64 / 2;
                        if self.outputs.wav.is_some()
                            && self.outputs.reserve(samples * 2, "an audio chunk")
                            && let Some(w) = &mut self.outputs.wav
                        {
                            for s in payload.chunks_exact(2) {
                                let _ = w.write_sample(i16::from_le_bytes([s[0], s[1]]));
                            }
                            self.stats.audio_samples_written += samples;
                        }
                    }
                    Header::Video(v) => {
                        self.stats.last_video_size = Some((v.w, v.h));
                        if self.outputs.video_dir.is_some()
                            && self.outputs.reserve(payload.len() as u64, "a video frame")
                            && let Some(dir) = &self.outputs.video_dir
                        {
                            let path = dir.join(format!("{:06}.jpg", v.seq));
                            match std::fs::write(&path, &payload) {
                                Ok(()) => self.stats.video_files_written += 1,
                                Err(e) => tracing::warn!("cannot write {}: {e}", path.display()),
                            }
                        }
                        self.last_video_jpeg = Some(payload.clone());
                    }
                }
                let mut line = serde_json::to_value(&header).unwrap_or_default();
                if let Some(obj) = line.as_object_mut() {
                    obj.insert("ch".into(), ch_name.into());
                    obj.insert("arrival_ms".into(), arrival.into());
                    obj.insert("latency_ms".into(), latency.into());
                    obj.insert("bytes".into(), payload.len().into());
                    obj.insert("framing".into(), framing.as_str().into());
                }
                self.outputs.index_line(&line);
            }
        }
        self.outputs.maybe_flush(false);
    }

    fn on_control(&mut self, request: &[u8]) -> Vec<u8> {
        let c = &mut self.stats.control;
        match serde_json::from_slice::<serde_json::Value>(request) {
            Err(_) => c.invalid += 1,
            Ok(v) => {
                if let Some(name) = v.get("client").and_then(|n| n.as_str()) {
                    c.client = Some(name.to_owned());
                }
                match v.get("cmd").and_then(|c| c.as_str()) {
                    Some("hello") => c.hello += 1,
                    Some("heartbeat") => c.heartbeat += 1,
                    Some("get_config") => c.get_config += 1,
                    _ => c.unknown += 1,
                }
            }
        }
        self.outputs.index_line(&serde_json::json!({
            "ch": "control", "arrival_ms": unix_ms(), "request": String::from_utf8_lossy(request),
        }));
        capture::host_reply(request, &self.host_config, unix_ms())
    }
}

/// Default disk budget of the outputs: 1 GiB.
pub const DEFAULT_OUT_BUDGET: u64 = 1 << 30;

/// Largest data message accepted (a 4K JPEG at quality 100 is about 10 MB); a peer
/// announcing more is disconnected by libzmq before anything is allocated.
pub const MAX_DATA_MSG: i64 = 32 << 20;
/// Largest control request accepted.
pub const MAX_CONTROL_MSG: i64 = 64 << 10;

/// A running reference host on its own named thread.
pub struct Receiver {
    ports: BoundPorts,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The bound sockets, moved to the receiver thread.
struct Sockets {
    audio: zmq::Socket,
    video: zmq::Socket,
    control: Option<zmq::Socket>,
    // Keeps libzmq's I/O thread alive as long as the sockets.
    _ctx: zmq::Context,
}

/// Binds one socket with its message-size cap; returns it and the port bound.
fn bind_one(
    ctx: &zmq::Context,
    kind: zmq::SocketType,
    what: &'static str,
    host: &str,
    port: u16,
    max_msg: i64,
) -> Result<(zmq::Socket, u16), ReceiverError> {
    let endpoint = if port == 0 {
        format!("tcp://{host}:*")
    } else {
        format!("tcp://{host}:{port}")
    };
    let err = |source| ReceiverError::Bind {
        what,
        endpoint: endpoint.clone(),
        source,
    };
    let sock = ctx.socket(kind).map_err(err)?;
    sock.set_maxmsgsize(max_msg).map_err(err)?;
    sock.set_linger(0).map_err(err)?;
    sock.bind(&endpoint).map_err(err)?;
    let bound = sock
        .get_last_endpoint()
        .ok()
        .and_then(Result::ok)
        .and_then(|ep| ep.rsplit(':').next().and_then(|p| p.parse().ok()))
        .unwrap_or(port);
    Ok((sock, bound))
}

impl Receiver {
    /// Binds the sockets (returning an error if any bind fails) and starts receiving.
    pub fn spawn(cfg: ReceiverConfig) -> Result<Self, ReceiverError> {
        let outputs = Outputs::open(cfg.out_dir.as_deref(), cfg.out_budget_bytes)?;
        if !capdeck_util::is_loopback_host(&cfg.bind) {
            tracing::warn!(
                "receiver listening on {}: reachable from other machines (any peer can send to it)",
                cfg.bind
            );
        }
        // This host tells the framings apart by part count: it names both in its replies.
        let mut host_config = cfg.host_config.clone();
        host_config.framings = Some(vec![
            Framing::Framed.as_str().to_owned(),
            Framing::Multipart.as_str().to_owned(),
        ]);
        let ctx = zmq::Context::new();
        let host = cfg.bind.as_str();
        let (audio, a) = bind_one(&ctx, zmq::PULL, "audio", host, cfg.audio_port, MAX_DATA_MSG)?;
        let (video, v) = bind_one(&ctx, zmq::PULL, "video", host, cfg.video_port, MAX_DATA_MSG)?;
        let (control, cport) = match cfg.control_port {
            Some(p) => {
                let (s, c) = bind_one(&ctx, zmq::REP, "control", host, p, MAX_CONTROL_MSG)?;
                (Some(s), Some(c))
            }
            None => (None, None),
        };
        let ports = BoundPorts {
            audio: a,
            video: v,
            control: cport,
        };
        let state = Arc::new(Mutex::new(State {
            stats: ReceiverStats {
                ports: Some(ports),
                ..Default::default()
            },
            outputs,
            last_video_jpeg: None,
            host_config,
            started: Instant::now(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let sockets = Sockets {
            audio,
            video,
            control,
            _ctx: ctx,
        };
        let (st, stop2) = (state.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("capdeck-receiver".into())
            .spawn(move || receive_loop(&sockets, &st, &stop2))?;
        Ok(Self {
            ports,
            state,
            stop,
            thread: Some(thread),
        })
    }

    /// Ports actually bound.
    pub fn ports(&self) -> BoundPorts {
        self.ports
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> ReceiverStats {
        let s = lock(&self.state);
        let mut stats = s.stats.clone();
        stats.uptime_s = s.started.elapsed().as_secs_f64();
        stats.bytes_written = s.outputs.written;
        stats.output_stopped = s.outputs.stopped.clone();
        stats
    }

    /// The last JPEG received (for a preview of what the host sees).
    pub fn last_video_jpeg(&self) -> Option<Bytes> {
        lock(&self.state).last_video_jpeg.clone()
    }

    /// Stops, finalises audio.wav and returns the final statistics.
    pub fn stop(mut self) -> ReceiverStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut s = lock(&self.state);
        s.outputs.maybe_flush(true);
        if let Some(w) = s.outputs.wav.take()
            && let Err(e) = w.finalize()
        {
            tracing::warn!("cannot finalise audio.wav: {e}");
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Polls the three sockets (100 ms at most, so a stop is seen at once) and drains each
/// one that is readable; outputs are flushed twice a second so they stay readable.
fn receive_loop(s: &Sockets, st: &Mutex<State>, stop: &AtomicBool) {
    let parts = |m: Vec<Vec<u8>>| m.into_iter().map(Bytes::from).collect::<Vec<_>>();
    while !stop.load(Ordering::Relaxed) {
        let mut items = vec![
            s.audio.as_poll_item(zmq::POLLIN),
            s.video.as_poll_item(zmq::POLLIN),
        ];
        if let Some(c) = &s.control {
            items.push(c.as_poll_item(zmq::POLLIN));
        }
        if let Err(e) = zmq::poll(&mut items, 100) {
            tracing::warn!("receiver poll: {e}");
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let ready: Vec<bool> = items.iter().map(zmq::PollItem::is_readable).collect();
        drop(items);
        for (i, (sock, which)) in [(&s.audio, Pull::Audio), (&s.video, Pull::Video)]
            .into_iter()
            .enumerate()
        {
            // a bounded batch per wake-up, so one busy channel cannot starve the others
            for _ in 0..if ready[i] { 256 } else { 0 } {
                match sock.recv_multipart(zmq::DONTWAIT) {
                    Ok(m) => lock(st).on_data(which, parts(m)),
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => {
                        tracing::warn!("receive error: {e}");
                        break;
                    }
                }
            }
        }
        if let (Some(rep), Some(true)) = (&s.control, ready.get(2)) {
            match rep.recv_multipart(zmq::DONTWAIT) {
                Ok(m) => {
                    let body: Vec<u8> = m.concat();
                    let reply = lock(st).on_control(&body);
                    if let Err(e) = rep.send(reply, 0) {
                        tracing::warn!("control reply failed: {e}");
                    }
                }
                Err(zmq::Error::EAGAIN) => {}
                Err(e) => tracing::warn!("control receive error: {e}"),
            }
        }
        lock(st).outputs.maybe_flush(false);
    }
    lock(st).outputs.maybe_flush(true);
}
