//! The real capture backend: a [`capdeck_session::sender::Sender`] session (audio and video
//! pipelines → PUSH links, control channel) and, in embedded mode, an in-process
//! [`capdeck_net::receiver::Receiver`] bound to 127.0.0.1 ephemeral ports.
//!
//! Sessions start, stop and restart on a named worker thread (opening devices and
//! sockets can take time; the UI never waits). The UI sends the desired configuration
//! through a bounded channel (coalesced: only the latest counts) and reads a published
//! snapshot. Gain, mute, size, rate and quality also apply live through the session's
//! `AudioControl`/`VideoControl`. What is sent is observed through the wire tap: the
//! preview decodes the exact JPEG payload that left the video socket.

use capdeck_util::lock;
use std::collections::VecDeque;
use std::sync::mpsc::{
    Receiver as ChanRx, RecvTimeoutError, SyncSender, TrySendError, sync_channel,
};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::preview::{Preview, PreviewDecoder};
use super::{
    AudioStatus, CaptureBackend, CaptureSnapshot, ConfigSource, ControlStatus, LinkLight,
    PushCounters, ReceiverSummary, VideoStatus,
};
use crate::ui::command::UiCommand;
use crate::ui::settings::{CaptureTarget, Settings};
use capdeck_capture::audio::voice::{GameAudioSpec, VoiceConfig};
use capdeck_capture::audio::{AudioControl, AudioSourceSpec};
use capdeck_capture::video::{VideoControl, VideoSourceSpec};
use capdeck_net::control_link::ControlState;
use capdeck_net::push_link::{LinkState, LinkStats};
use capdeck_net::receiver::{Receiver, ReceiverConfig};
use capdeck_net::tap::{self, Direction, TapPoint, WireTap};
use capdeck_session::sender::{Origin, Pins, Sender, SenderConfig, SenderStats};
use capdeck_wire::capture::{Framing, HostConfig};

/// What the operator wants running.
#[derive(Debug, Clone, PartialEq)]
struct Desired {
    on: [bool; 2],
    audio: String,
    voice: VoiceConfig,
    video: String,
    /// None = embedded receiver.
    host: Option<Target>,
    pins: Pins,
}

/// Host, audio port, video port, control port, framing.
type Target = (String, u16, u16, u16, Framing);

enum Ctl {
    Apply(Desired),
    RetryNow,
    Stop,
}

/// Published by the worker.
#[derive(Default)]
struct Published {
    sender: Option<SenderStats>,
    receiver: Option<capdeck_net::receiver::ReceiverStats>,
    receiver_endpoint: Option<String>,
    receiver_ports: Option<(u16, u16)>,
    controls: Option<(Arc<AudioControl>, Arc<VideoControl>)>,
    /// Why the session (the target) could not open.
    error: Option<String>,
    /// Why a channel's capture could not start.
    channel_errors: [Option<String>; 2],
    audio_note: Option<String>,
    devices: Vec<(String, String)>,
    retry_at: Option<Instant>,
}

/// Observes what leaves the sockets: video JPEGs for the preview, bitrate, control replies.
struct PreviewTap {
    /// The recording seam: every message and control exchange is handed on to it.
    record: Option<Arc<dyn WireTap>>,
    decoder: Option<Arc<PreviewDecoder>>,
    recent: Mutex<VecDeque<(Instant, usize)>>,
    last_reply: Mutex<Option<Instant>>,
}

impl WireTap for PreviewTap {
    fn captured(&self, what: tap::Captured, parts: &[Bytes], at: SystemTime) {
        if let Some(r) = &self.record {
            r.captured(what, parts, at);
        }
    }
    fn outgoing(&self, channel: tap::Channel, parts: &[Bytes], at: SystemTime) {
        if let Some(r) = &self.record {
            r.outgoing(channel, parts, at);
        }
        if channel != tap::Channel::Video {
            return;
        }
        let Ok(d) = capdeck_wire::capture::decode(parts) else {
            return;
        };
        if let Ok(mut r) = self.recent.try_lock() {
            let now = Instant::now();
            while r
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(2))
            {
                r.pop_front();
            }
            if r.len() < 4096 {
                r.push_back((now, d.payload.len()));
            }
        }
        if let Some(dec) = &self.decoder {
            dec.offer(d.header.seq(), d.payload);
        }
    }
    fn control(&self, direction: Direction, bytes: &[u8], at: SystemTime) {
        if let Some(r) = &self.record {
            r.control(direction, bytes, at);
        }
        if direction == Direction::In
            && let Ok(mut g) = self.last_reply.try_lock()
        {
            *g = Some(Instant::now());
        }
    }
}

/// The real backend.
pub struct RealBackend {
    tx: Option<SyncSender<Ctl>>,
    published: Arc<Mutex<Published>>,
    tap: Arc<PreviewTap>,
    desired: Desired,
    thread: Option<JoinHandle<()>>,
    gain_db: f32,
    muted: bool,
}

fn desired_from(settings: &Settings, on: [bool; 2], pins: Pins) -> Desired {
    let host = match settings.capture_target {
        CaptureTarget::Embedded => None,
        CaptureTarget::Profile(i) => settings.host_profiles.get(i).map(|p| {
            let f = p.framing;
            (
                p.address.clone(),
                p.audio_port,
                p.video_port,
                p.control_port,
                f,
            )
        }),
    };
    Desired {
        on,
        audio: settings.audio_source.clone(),
        voice: VoiceConfig {
            // a saved choice this build cannot parse removes nothing (and says so in the log)
            game_audio: settings.game_audio.parse().unwrap_or_else(|e| {
                tracing::warn!("{e}");
                GameAudioSpec::None
            }),
            noise_suppression: settings.noise_suppression,
        },
        video: settings.video_source.clone(),
        host,
        pins,
    }
}

impl RealBackend {
    /// Starts the worker; `autostart` turns both channels on at once; `record` sees
    /// every message the links send and every control exchange (a recording's seam).
    pub fn new(
        settings: &Settings,
        waker: Option<egui::Context>,
        autostart: bool,
        record: Option<Arc<dyn WireTap>>,
    ) -> std::io::Result<Self> {
        let decoder = PreviewDecoder::spawn(waker.clone()).map(Arc::new).ok();
        let tap = Arc::new(PreviewTap {
            record,
            decoder,
            recent: Mutex::new(VecDeque::new()),
            last_reply: Mutex::new(None),
        });
        let published = Arc::new(Mutex::new(Published::default()));
        let (tx, rx) = sync_channel(16);
        let (p2, t2) = (published.clone(), tap.clone());
        let thread = std::thread::Builder::new()
            .name("capdeck-capture".into())
            .spawn(move || worker(rx, p2, t2, waker))?;
        let desired = desired_from(settings, [autostart, autostart], Pins::default());
        let me = Self {
            tx: Some(tx),
            published,
            tap,
            desired,
            thread: Some(thread),
            gain_db: settings.gain_db,
            muted: false,
        };
        me.send(Ctl::Apply(me.desired.clone()));
        Ok(me)
    }

    fn send(&self, c: Ctl) {
        if let Some(tx) = &self.tx
            && let Err(TrySendError::Full(_)) = tx.try_send(c)
        {
            tracing::warn!("capture worker busy: request dropped");
        }
    }

    fn controls(&self) -> Option<(Arc<AudioControl>, Arc<VideoControl>)> {
        lock(&self.published).controls.clone()
    }
}

impl Drop for RealBackend {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.try_send(Ctl::Stop);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The worker's session: a [`Sender`] opened on one target, with channels started and
/// stopped one by one (their seq continues across restarts).
struct Session {
    sender: Sender,
    target: Target,
    /// The source each channel was (re)started with; None = stopped or failed.
    applied: [Option<String>; 2],
}

/// What the worker owns: the embedded receiver (started on first use) and the session.
#[derive(Default)]
struct WorkerState {
    receiver: Option<Receiver>,
    session: Option<Session>,
    error: Option<String>,
    channel_errors: [Option<String>; 2],
    audio_note: Option<String>,
}

impl WorkerState {
    /// Where the session sends: the host profile, or the embedded receiver.
    fn target(&mut self, d: &Desired) -> Result<Target, String> {
        if let Some(t) = &d.host {
            return Ok(t.clone());
        }
        if self.receiver.is_none() {
            let cfg = ReceiverConfig {
                bind: "127.0.0.1".into(),
                audio_port: 0,
                video_port: 0,
                control_port: Some(0),
                out_dir: None,
                out_budget_bytes: 0,
                host_config: HostConfig::reference(),
            };
            self.receiver =
                Some(Receiver::spawn(cfg).map_err(|e| format!("built-in receiver: {e}"))?);
        }
        let p = self.receiver.as_ref().map(Receiver::ports);
        let p = p.ok_or("built-in receiver not running")?;
        Ok((
            "127.0.0.1".to_owned(),
            p.audio,
            p.video,
            p.control.unwrap_or(0),
            Framing::Framed,
        ))
    }

    fn stop_session(&mut self) {
        if let Some(s) = self.session.take() {
            s.sender.stop(Duration::from_millis(200));
        }
    }

    /// Brings the session to what the operator wants: reopens it only when the target
    /// changes; otherwise starts, restarts or stops each channel on its own and applies
    /// pins live. Returns true when something failed and should be retried.
    fn reconcile(&mut self, d: &Desired, tap: &Arc<PreviewTap>) -> bool {
        self.error = None;
        let target = match self.target(d) {
            Ok(t) => t,
            Err(e) => {
                self.stop_session();
                self.error = Some(e);
                return true;
            }
        };
        if self.session.as_ref().is_some_and(|s| s.target != target) {
            self.stop_session();
        }
        if self.session.is_none() {
            if !d.on.iter().any(|&x| x) {
                return false;
            }
            let (host, audio_port, video_port, control_port, framing) = target.clone();
            let cfg = SenderConfig {
                host,
                audio_port,
                video_port,
                control_port,
                framing,
                // both links open, so either channel can start later
                audio: AudioSourceSpec::Default,
                video: VideoSourceSpec::Pattern,
                chunk_ms: d.pins.chunk_ms,
                video_size: d.pins.video_size,
                fps: d.pins.fps,
                quality: d.pins.quality,
                ..SenderConfig::default()
            };
            match Sender::open(cfg, TapPoint::new(tap.clone())) {
                Ok(sender) => {
                    self.session = Some(Session {
                        sender,
                        target,
                        applied: [None, None],
                    })
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    return true;
                }
            }
        }
        let Some(s) = &mut self.session else {
            return false;
        };
        s.sender.set_pins(d.pins);
        if s.sender.voice() != &d.voice {
            // the voice stage is built when audio starts: restart it with the new one
            s.sender.set_voice(d.voice.clone());
            s.applied[0] = None;
            if !d.on[0] {
                s.sender.stop_audio();
            }
        }
        let mut failed = false;
        for i in 0..2 {
            let want = d.on[i].then(|| [&d.audio, &d.video][i].clone());
            if want == s.applied[i] {
                continue;
            }
            let r = match (i, &want) {
                (0, None) => {
                    self.audio_note = None;
                    s.sender.stop_audio();
                    Ok(())
                }
                (_, None) => {
                    s.sender.stop_video();
                    Ok(())
                }
                (0, Some(spec)) => start_audio_or_tone(&mut s.sender, spec, &mut self.audio_note),
                (_, Some(spec)) => s
                    .sender
                    .start_video(&spec.parse().unwrap_or(VideoSourceSpec::Pattern)),
            };
            self.channel_errors[i] = r.err().map(|e| {
                tracing::error!("capture: {e}");
                e.to_string()
            });
            failed |= self.channel_errors[i].is_some();
            s.applied[i] = if self.channel_errors[i].is_none() {
                want
            } else {
                None
            };
        }
        failed
    }
}

/// Starts audio from `spec`; when the default microphone cannot open, sends a 440 Hz tone
/// instead and says so in `note`.
fn start_audio_or_tone(
    sender: &mut Sender,
    spec: &str,
    note: &mut Option<String>,
) -> Result<(), capdeck_session::sender::SenderError> {
    *note = None;
    let spec: AudioSourceSpec = spec.parse().unwrap_or(AudioSourceSpec::Tone(440.0));
    match sender.start_audio(&spec) {
        Err(e) if spec == AudioSourceSpec::Default => {
            tracing::warn!("no default microphone ({e}); sending a 440 Hz tone");
            *note = Some("no microphone: sending a 440 Hz tone".to_owned());
            sender.start_audio(&AudioSourceSpec::Tone(440.0))
        }
        other => other,
    }
}

fn worker(
    rx: ChanRx<Ctl>,
    published: Arc<Mutex<Published>>,
    tap: Arc<PreviewTap>,
    waker: Option<egui::Context>,
) {
    let devices: Vec<(String, String)> = capdeck_capture::audio::list_devices()
        .into_iter()
        .map(|d| (format!("device:{}", d.id), d.label()))
        .collect();
    lock(&published).devices = devices;
    let mut st = WorkerState::default();
    let mut running: Option<Desired> = None;
    let mut pending: Option<Desired> = None;
    let mut retry_at: Option<Instant> = None;
    let retry_now = |st: &WorkerState, retry_at: &mut Option<Instant>| {
        if let Some(s) = &st.session {
            s.sender.retry_now();
        }
        if retry_at.is_some() {
            *retry_at = Some(Instant::now());
        }
    };
    'run: loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Ctl::Apply(d)) => pending = Some(d),
            Ok(Ctl::RetryNow) => retry_now(&st, &mut retry_at),
            Ok(Ctl::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        // coalesce: only the latest request counts
        while let Ok(c) = rx.try_recv() {
            match c {
                Ctl::Apply(d) => pending = Some(d),
                Ctl::RetryNow => retry_now(&st, &mut retry_at),
                Ctl::Stop => break 'run,
            }
        }
        let due = retry_at.is_some_and(|r| r <= Instant::now());
        if let Some(d) = pending.take().or_else(|| running.clone())
            && (Some(&d) != running.as_ref() || due)
        {
            let failed = st.reconcile(&d, &tap);
            retry_at = failed.then(|| Instant::now() + Duration::from_secs(5));
            if let Some(e) = &st.error {
                tracing::error!("capture: {e}");
            }
            let mut p = lock(&published);
            p.error = st.error.clone();
            p.channel_errors = st.channel_errors.clone();
            p.audio_note = st.audio_note.clone();
            p.controls = st.session.as_ref().map(|s| {
                (
                    s.sender.audio_control().clone(),
                    s.sender.video_control().clone(),
                )
            });
            p.retry_at = retry_at;
            running = Some(d);
        }
        {
            let stats = st.session.as_ref().map(|s| s.sender.stats());
            let rstats = st.receiver.as_ref().map(Receiver::stats);
            let mut p = lock(&published);
            p.sender = stats;
            p.receiver_endpoint = st.receiver.as_ref().map(|r| {
                let b = r.ports();
                format!(
                    "127.0.0.1 audio {} video {} control {}",
                    b.audio,
                    b.video,
                    b.control.map_or("-".into(), |c| c.to_string())
                )
            });
            p.receiver_ports = st.receiver.as_ref().map(|r| {
                let b = r.ports();
                (b.audio, b.video)
            });
            p.receiver = rstats;
        }
        if let Some(w) = &waker {
            w.request_repaint();
        }
    }
    st.stop_session();
    if let Some(r) = st.receiver.take() {
        r.stop();
    }
}

fn light(l: &LinkStats) -> LinkLight {
    match &l.state {
        LinkState::Connecting { next_retry_ms } => LinkLight::Connecting {
            detail: match next_retry_ms {
                Some(ms) => format!("connecting (next attempt in {:.1} s)", *ms as f32 / 1000.0),
                None => "connecting".into(),
            },
        },
        LinkState::Streaming => LinkLight::Streaming,
        LinkState::Buffering { queued, reason } => LinkLight::Connecting {
            detail: format!("buffering {queued} queued: {reason}"),
        },
        LinkState::Disconnected {
            reason,
            next_retry_ms,
        } => LinkLight::Disconnected {
            reason: reason.clone(),
            retry_in_s: next_retry_ms.map(|ms| ms as f32 / 1000.0),
        },
        LinkState::Stopped => LinkLight::Idle,
    }
}

fn origin(o: Origin) -> ConfigSource {
    match o {
        Origin::Default => ConfigSource::Default,
        Origin::Host => ConfigSource::Host,
        Origin::Pinned => ConfigSource::Pinned,
    }
}

impl CaptureBackend for RealBackend {
    fn apply(&mut self, cmd: &UiCommand, settings: &Settings) {
        let mut d = self.desired.clone();
        match cmd {
            UiCommand::StartChannel(ch) => d.on[ch.index()] = true,
            UiCommand::StopChannel(ch) => d.on[ch.index()] = false,
            UiCommand::RetryNow(_) => {
                self.send(Ctl::RetryNow);
                return;
            }
            UiCommand::SetGain(g) => {
                self.gain_db = *g;
                if let Some((a, _)) = self.controls() {
                    a.set_gain_db(*g);
                }
                return;
            }
            UiCommand::SetMuted(m) => {
                self.muted = *m;
                if let Some((a, _)) = self.controls() {
                    a.set_muted(*m);
                }
                return;
            }
            UiCommand::SetVideoSize([w, h]) => {
                if let Some((_, v)) = self.controls() {
                    v.set_size(*w, *h);
                }
                d.pins.video_size = Some((*w, *h));
            }
            UiCommand::SetVideoFps(f) => {
                if let Some((_, v)) = self.controls() {
                    v.set_fps(*f);
                }
                d.pins.fps = Some(*f);
            }
            UiCommand::SetVideoQuality(q) => {
                if let Some((_, v)) = self.controls() {
                    v.set_quality(*q);
                }
                d.pins.quality = Some(*q);
            }
            UiCommand::SetPinned(k, on) => {
                let s = settings;
                match k.as_str() {
                    "audio_chunk_ms" => d.pins.chunk_ms = on.then_some(s.chunk_ms),
                    "video_res" => {
                        d.pins.video_size = on.then_some((s.video_size[0], s.video_size[1]))
                    }
                    "video_fps" => d.pins.fps = on.then_some(s.video_fps),
                    "video_quality" => d.pins.quality = on.then_some(s.video_quality),
                    _ => {}
                }
            }
            UiCommand::SetAudioSource(_)
            | UiCommand::SetGameAudio(_)
            | UiCommand::SetNoiseSuppression(_)
            | UiCommand::SetVideoSource(_)
            | UiCommand::UseEmbeddedHost
            | UiCommand::UseHostProfile(_)
            | UiCommand::EditHostProfile(..) => {}
            _ => return,
        }
        // pins, sizes and rates apply live (above and in the worker); sources and
        // start/stop go to the worker, which restarts only the channel concerned
        let nd = desired_from(settings, d.on, d.pins);
        if nd != self.desired {
            self.desired = nd;
            self.send(Ctl::Apply(self.desired.clone()));
        }
    }

    fn snapshot(&mut self) -> CaptureSnapshot {
        let p = lock(&self.published);
        let s = p.sender.as_ref();
        let audio = s.and_then(|s| s.audio.as_ref());
        let video = s.and_then(|s| s.video.as_ref());
        let (bitrate, fps) = self
            .tap
            .recent
            .try_lock()
            .map(|r| {
                let span = r
                    .front()
                    .map_or(0.0, |(t, _)| t.elapsed().as_secs_f32())
                    .max(0.5);
                (
                    r.iter().map(|(_, n)| *n as f32 * 8.0).sum::<f32>() / span / 1000.0,
                    r.len() as f32 / span,
                )
            })
            .unwrap_or((0.0, 0.0));
        let retry_in_s = p
            .retry_at
            .map(|r| r.saturating_duration_since(Instant::now()).as_secs_f32());
        let chan = |i: usize, l: Option<&LinkStats>| {
            let counters = |light| match l {
                Some(l) => PushCounters {
                    light,
                    sent: l.sent,
                    bytes: l.sent_bytes,
                    seq: l.last_seq,
                    dropped: l.dropped,
                    reconnects: l.reconnects,
                },
                None => PushCounters {
                    light,
                    ..Default::default()
                },
            };
            let error = p.channel_errors[i].as_ref().or(p.error.as_ref());
            match (self.desired.on[i], error, l) {
                // stopped: the counters stay (the seq continues on the next start)
                (false, _, _) => counters(LinkLight::Idle),
                (true, Some(e), _) => counters(LinkLight::Disconnected {
                    reason: e.clone(),
                    retry_in_s,
                }),
                (true, None, Some(l)) => {
                    match (light(l), s.and_then(|s| s.framing_warning.as_ref())) {
                        // sending, but the host may parse none of it: not a green light
                        (LinkLight::Streaming, Some(w)) => counters(LinkLight::Connecting {
                            detail: format!("streaming, but {w}"),
                        }),
                        (other, _) => counters(other),
                    }
                }
                (true, None, None) => counters(LinkLight::Connecting {
                    detail: "starting".into(),
                }),
            }
        };
        let control = match s {
            Some(s) => {
                let c = &s.control;
                let light = match &c.state {
                    ControlState::Disabled | ControlState::Stopped => LinkLight::Idle,
                    ControlState::Connecting | ControlState::WaitingForReply { .. } => {
                        LinkLight::Connecting {
                            detail: c.state.label(),
                        }
                    }
                    ControlState::Ok => LinkLight::Streaming,
                    ControlState::BackingOff {
                        failure,
                        reason,
                        next_retry_ms,
                        ..
                    } => LinkLight::Disconnected {
                        reason: format!("{}: {reason}; streaming continues", failure.label()),
                        retry_in_s: Some(*next_retry_ms as f32 / 1000.0),
                    },
                };
                let st = &s.settings;
                ControlStatus {
                    light,
                    last_hello: c.last_hello_label(),
                    last_reply_s: self
                        .tap
                        .last_reply
                        .try_lock()
                        .ok()
                        .and_then(|g| g.map(|t| t.elapsed().as_secs_f32())),
                    config: vec![
                        (
                            "audio_chunk_ms".into(),
                            st.chunk_ms.value.to_string(),
                            origin(st.chunk_ms.origin),
                        ),
                        (
                            "video_res".into(),
                            format!("{}x{}", st.video_size.value.0, st.video_size.value.1),
                            origin(st.video_size.origin),
                        ),
                        (
                            "video_fps".into(),
                            format!("{}", st.fps.value),
                            origin(st.fps.origin),
                        ),
                        (
                            "video_quality".into(),
                            st.quality.value.to_string(),
                            origin(st.quality.origin),
                        ),
                    ],
                }
            }
            None => ControlStatus::default(),
        };
        let receiver = if self.desired.host.is_none() {
            p.receiver.as_ref().map(|r| ReceiverSummary {
                endpoint: p.receiver_endpoint.clone().unwrap_or_default(),
                ports: p.receiver_ports,
                audio_msgs: r.audio.messages,
                video_msgs: r.video.messages,
                bytes: r.audio.payload_bytes + r.video.payload_bytes,
                last_audio_seq: r.audio.last_seq,
                last_video_seq: r.video.last_seq,
                malformed: r.audio.malformed + r.video.malformed,
            })
        } else {
            None
        };
        let mut audio_label = audio.map_or(self.desired.audio.clone(), |a| {
            format!("{} ({})", a.pipeline.source, a.pipeline.state)
        });
        if let Some(n) = &p.audio_note {
            audio_label = format!("{audio_label}; {n}");
        }
        CaptureSnapshot {
            audio: AudioStatus {
                source_label: audio_label,
                devices: p.devices.clone(),
                peak_dbfs: audio.map_or(-90.0, |a| a.pipeline.peak_dbfs),
                rms_dbfs: audio.map_or(-90.0, |a| a.pipeline.rms_dbfs),
                clipped: audio.map_or(0, |a| a.pipeline.clipped),
                overruns: audio.map_or(0, |a| a.pipeline.overruns),
                muted: self.muted,
                voice: audio.and_then(|a| a.pipeline.voice.clone()),
            },
            video: VideoStatus {
                source_label: video.map_or(self.desired.video.clone(), |v| {
                    match &v.pipeline.last_error {
                        Some(e) => format!("{}: {e}", v.pipeline.source),
                        None => v.pipeline.source.clone(),
                    }
                }),
                last_jpeg_bytes: video.map_or(0, |v| v.pipeline.last_bytes),
                bitrate_kbps: if video.is_some() { bitrate } else { 0.0 },
                fps: if video.is_some() { fps } else { 0.0 },
                size: video
                    .and_then(|v| v.pipeline.last_size)
                    .map_or([0, 0], |(w, h)| [w, h]),
            },
            channels: [
                chan(0, audio.map(|a| &a.link)),
                chan(1, video.map(|v| &v.link)),
            ],
            control,
            receiver,
            target_label: match &self.desired.host {
                None => "built-in receiver (in-process, 127.0.0.1)".into(),
                Some((h, a, v, c, f)) => {
                    format!("tcp://{h} audio {a} video {v} control {c}, {}", f.as_str())
                }
            },
            unavailable: None,
        }
    }

    fn preview(&self) -> Option<Preview> {
        self.tap.decoder.as_ref().and_then(|d| d.latest())
    }

    fn set_preview_wanted(&self, on: bool) {
        if let Some(d) = &self.tap.decoder {
            d.set_wanted(on);
        }
    }

    fn is_live(&self) -> bool {
        self.desired.on.iter().any(|&x| x)
    }
}
