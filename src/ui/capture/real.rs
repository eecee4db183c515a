//! The real capture backend: a [`crate::net::sender::Sender`] session (audio and video
//! pipelines → PUSH links, control channel) and, in embedded mode, an in-process
//! [`crate::net::receiver::Receiver`] bound to 127.0.0.1 ephemeral ports.
//!
//! Sessions start, stop and restart on a named worker thread (opening devices and
//! sockets can take time; the UI never waits). The UI sends the desired configuration
//! through a bounded channel (coalesced: only the latest counts) and reads a published
//! snapshot. Gain, mute, size, rate and quality also apply live through the session's
//! `AudioControl`/`VideoControl`. What is sent is observed through the wire tap: the
//! preview decodes the exact JPEG payload that left the video socket.

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
    AudioStatus, CaptureBackend, CaptureSnapshot, ChannelStats, ConfigSource, ControlStatus,
    LinkLight, ReceiverStats, VideoStatus,
};
use crate::capture::audio::{AudioControl, AudioSourceSpec};
use crate::capture::video::{VideoControl, VideoSourceSpec};
use crate::net::control_link::ControlState;
use crate::net::push_link::{LinkState, LinkStats};
use crate::net::receiver::{Receiver, ReceiverConfig};
use crate::net::sender::{Origin, Sender, SenderConfig, SenderStats};
use crate::net::tap::{self, Direction, TapPoint, WireTap};
use crate::ui::command::UiCommand;
use crate::ui::settings::{CaptureTarget, Framing as UiFraming, Settings};
use crate::wire::capture::{Framing, HostConfig};

/// What the operator wants running.
#[derive(Debug, Clone, PartialEq)]
struct Desired {
    on: [bool; 2],
    audio: String,
    video: String,
    /// None = embedded receiver.
    host: Option<(String, u16, u16, u16, Framing)>,
    pins: Pins,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Pins {
    chunk_ms: Option<u32>,
    video_size: Option<(u32, u32)>,
    fps: Option<f32>,
    quality: Option<u8>,
}

enum Ctl {
    Apply(Desired),
    RetryNow,
    Stop,
}

/// Published by the worker.
#[derive(Default)]
struct Published {
    sender: Option<SenderStats>,
    receiver: Option<crate::net::receiver::ReceiverStats>,
    receiver_endpoint: Option<String>,
    controls: Option<(Arc<AudioControl>, Arc<VideoControl>)>,
    error: Option<String>,
    audio_note: Option<String>,
    devices: Vec<String>,
    retry_at: Option<Instant>,
}

/// Observes what leaves the sockets: video JPEGs for the preview, bitrate, control replies.
struct PreviewTap {
    decoder: Option<Arc<PreviewDecoder>>,
    recent: Mutex<VecDeque<(Instant, usize)>>,
    last_reply: Mutex<Option<Instant>>,
}

impl WireTap for PreviewTap {
    fn outgoing(&self, channel: tap::Channel, parts: &[Bytes], _at: SystemTime) {
        if channel != tap::Channel::Video {
            return;
        }
        let Ok(d) = crate::wire::capture::decode(parts) else {
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
    fn control(&self, direction: Direction, _bytes: &[u8], _at: SystemTime) {
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn desired_from(settings: &Settings, on: [bool; 2], pins: Pins) -> Desired {
    let host = match settings.capture_target {
        CaptureTarget::Embedded => None,
        CaptureTarget::Profile(i) => settings.host_profiles.get(i).map(|p| {
            let f = match p.framing {
                UiFraming::Framed => Framing::Framed,
                UiFraming::Multipart => Framing::Multipart,
            };
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
        video: settings.video_source.clone(),
        host,
        pins,
    }
}

impl RealBackend {
    /// Starts the worker; `autostart` turns both channels on at once.
    pub fn new(
        settings: &Settings,
        waker: Option<egui::Context>,
        autostart: bool,
    ) -> std::io::Result<Self> {
        let decoder = PreviewDecoder::spawn(waker.clone()).map(Arc::new).ok();
        let tap = Arc::new(PreviewTap {
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

fn worker(
    rx: ChanRx<Ctl>,
    published: Arc<Mutex<Published>>,
    tap: Arc<PreviewTap>,
    waker: Option<egui::Context>,
) {
    let devices: Vec<String> = crate::capture::audio::list_devices()
        .into_iter()
        .map(|d| d.name)
        .collect();
    lock(&published).devices = devices;
    let mut receiver: Option<Receiver> = None;
    let mut sender: Option<Sender> = None;
    let mut running: Option<Desired> = None;
    let mut pending: Option<Desired> = None;
    let mut retry_at: Option<Instant> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Ctl::Apply(d)) => pending = Some(d),
            Ok(Ctl::RetryNow) => {
                if let Some(s) = &sender {
                    s.retry_now();
                }
                if running.is_none() {
                    retry_at = Some(Instant::now());
                }
            }
            Ok(Ctl::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        // coalesce: only the latest request counts
        while let Ok(c) = rx.try_recv() {
            match c {
                Ctl::Apply(d) => pending = Some(d),
                Ctl::RetryNow => {
                    if let Some(s) = &sender {
                        s.retry_now();
                    }
                }
                Ctl::Stop => {
                    pending = None;
                    running = None;
                    break;
                }
            }
        }
        let want = pending.clone().or_else(|| running.clone());
        let due = retry_at.is_some_and(|r| r <= Instant::now());
        if let Some(d) = want
            && (Some(&d) != running.as_ref() || due)
        {
            pending = None;
            retry_at = None;
            if let Some(s) = sender.take() {
                s.stop(Duration::from_millis(200));
            }
            lock(&published).controls = None;
            let mut error = None;
            let mut audio_note = None;
            if d.on.iter().any(|&x| x) {
                // target: the embedded receiver, started on first use
                let target = match &d.host {
                    Some((h, a, v, c, f)) => Some((h.clone(), *a, *v, *c, *f)),
                    None => {
                        if receiver.is_none() {
                            let cfg = ReceiverConfig {
                                bind: "127.0.0.1".into(),
                                audio_port: 0,
                                video_port: 0,
                                control_port: Some(0),
                                out_dir: None,
                                host_config: HostConfig::reference(),
                            };
                            match Receiver::spawn(cfg) {
                                Ok(r) => receiver = Some(r),
                                Err(e) => error = Some(format!("built-in receiver: {e}")),
                            }
                        }
                        receiver.as_ref().map(|r| {
                            let p = r.ports();
                            (
                                "127.0.0.1".to_owned(),
                                p.audio,
                                p.video,
                                p.control.unwrap_or(0),
                                Framing::Framed,
                            )
                        })
                    }
                };
                if let Some((host, ap, vp, cp, framing)) = target {
                    let audio: AudioSourceSpec = if d.on[0] {
                        d.audio.parse().unwrap_or(AudioSourceSpec::Tone(440.0))
                    } else {
                        AudioSourceSpec::None
                    };
                    let video: VideoSourceSpec = if d.on[1] {
                        d.video.parse().unwrap_or(VideoSourceSpec::Pattern)
                    } else {
                        VideoSourceSpec::None
                    };
                    let mut cfg = SenderConfig {
                        host,
                        audio_port: ap,
                        video_port: vp,
                        control_port: cp,
                        framing,
                        audio: audio.clone(),
                        video,
                        chunk_ms: d.pins.chunk_ms,
                        video_size: d.pins.video_size,
                        fps: d.pins.fps,
                        quality: d.pins.quality,
                        ..SenderConfig::default()
                    };
                    let tp = TapPoint::new(tap.clone());
                    let started = match Sender::start(cfg.clone(), tp.clone()) {
                        Err(e) if audio == AudioSourceSpec::Default => {
                            // no microphone: fall back to the tone, say so
                            tracing::warn!(
                                "no default microphone ({e}); sending a 440 Hz tone instead"
                            );
                            audio_note = Some("no microphone: sending a 440 Hz tone".to_owned());
                            cfg.audio = AudioSourceSpec::Tone(440.0);
                            Sender::start(cfg, tp)
                        }
                        other => other,
                    };
                    match started {
                        Ok(s) => sender = Some(s),
                        Err(e) => {
                            error = Some(e.to_string());
                            retry_at = Some(Instant::now() + Duration::from_secs(5));
                        }
                    }
                }
            }
            if let Some(e) = &error {
                tracing::error!("capture: {e}");
            }
            let mut p = lock(&published);
            p.error = error;
            p.audio_note = audio_note;
            p.controls = sender
                .as_ref()
                .map(|s| (s.audio_control().clone(), s.video_control().clone()));
            p.retry_at = retry_at;
            running = Some(d);
        }
        {
            let stats = sender.as_ref().map(Sender::stats);
            let rstats = receiver.as_ref().map(Receiver::stats);
            let mut p = lock(&published);
            p.sender = stats;
            p.receiver_endpoint = receiver.as_ref().map(|r| {
                let b = r.ports();
                format!(
                    "127.0.0.1 audio {} video {} control {}",
                    b.audio,
                    b.video,
                    b.control.map_or("-".into(), |c| c.to_string())
                )
            });
            p.receiver = rstats;
        }
        if let Some(w) = &waker {
            w.request_repaint();
        }
    }
    if let Some(s) = sender.take() {
        s.stop(Duration::from_millis(300));
    }
    if let Some(r) = receiver.take() {
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
            | UiCommand::SetVideoSource(_)
            | UiCommand::UseEmbeddedHost
            | UiCommand::UseHostProfile(_)
            | UiCommand::EditHostProfile(..) => {}
            _ => return,
        }
        let nd = desired_from(settings, d.on, d.pins.clone());
        // a pinned value only changing its value applies live, without a restart
        let same_pin_set = |a: &Pins, b: &Pins| {
            a.chunk_ms.is_some() == b.chunk_ms.is_some()
                && a.video_size.is_some() == b.video_size.is_some()
                && a.fps.is_some() == b.fps.is_some()
                && a.quality.is_some() == b.quality.is_some()
        };
        let live_only = Desired {
            pins: self.desired.pins.clone(),
            ..nd.clone()
        } == self.desired
            && same_pin_set(&nd.pins, &self.desired.pins);
        self.desired = nd;
        if !live_only {
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
        let chan = |on: bool, l: Option<&LinkStats>| match (on, l) {
            (false, _) => ChannelStats::default(),
            (true, Some(l)) => ChannelStats {
                light: light(l),
                sent: l.sent,
                bytes: l.sent_bytes,
                seq: l.last_seq,
                dropped: l.dropped,
                reconnects: l.reconnects,
            },
            (true, None) => ChannelStats {
                light: match &p.error {
                    Some(e) => LinkLight::Disconnected {
                        reason: e.clone(),
                        retry_in_s,
                    },
                    None => LinkLight::Connecting {
                        detail: "starting".into(),
                    },
                },
                ..Default::default()
            },
        };
        let control = match s {
            Some(s) => {
                let c = &s.control;
                let light = match &c.state {
                    ControlState::Disabled | ControlState::Stopped => LinkLight::Idle,
                    ControlState::Connecting => LinkLight::Connecting {
                        detail: "connecting".into(),
                    },
                    ControlState::Ok => LinkLight::Streaming,
                    ControlState::NoReply {
                        reason,
                        next_retry_ms,
                    } => LinkLight::Disconnected {
                        reason: format!("no reply ({reason}); streaming continues"),
                        retry_in_s: Some(*next_retry_ms as f32 / 1000.0),
                    },
                };
                let st = &s.settings;
                ControlStatus {
                    light,
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
            p.receiver.as_ref().map(|r| ReceiverStats {
                endpoint: p.receiver_endpoint.clone().unwrap_or_default(),
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
            },
            video: VideoStatus {
                source_label: video.map_or(self.desired.video.clone(), |v| {
                    match &v.pipeline.last_error {
                        Some(e) => format!("{}: {e}", v.pipeline.source),
                        None => v.pipeline.source.clone(),
                    }
                }),
                sources: vec![
                    "pattern".into(),
                    "camera".into(),
                    "screen".into(),
                    "window:capdeck".into(),
                ],
                last_jpeg_bytes: video.map_or(0, |v| v.pipeline.last_bytes),
                bitrate_kbps: if video.is_some() { bitrate } else { 0.0 },
                fps: if video.is_some() { fps } else { 0.0 },
                size: video
                    .and_then(|v| v.pipeline.last_size)
                    .map_or([0, 0], |(w, h)| [w, h]),
            },
            channels: [
                chan(self.desired.on[0], audio.map(|a| &a.link)),
                chan(self.desired.on[1], video.map(|v| &v.link)),
            ],
            control,
            receiver,
            target_label: match &self.desired.host {
                None => "built-in receiver (in-process, 127.0.0.1)".into(),
                Some((h, a, v, c, f)) => {
                    format!("tcp://{h} audio {a} video {v} control {c}, {}", f.as_str())
                }
            },
            simulated: false,
        }
    }

    fn preview(&self) -> Option<Preview> {
        self.tap.decoder.as_ref().and_then(|d| d.latest())
    }

    fn is_live(&self) -> bool {
        self.desired.on.iter().any(|&x| x)
    }
}
