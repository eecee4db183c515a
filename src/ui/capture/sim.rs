//! Stand-in capture backend used until the real audio/video pipelines and links are
//! merged (issues 2, 3, 4). It is labelled "simulated" in the pane. The video path is
//! real as far as it goes (a pattern JPEG-encoded with `jpeg-encoder` on a named thread,
//! decoded back for the preview); audio levels come from a synthetic tone; nothing goes
//! on the network.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::preview::{Preview, PreviewDecoder};
use super::{
    AudioStatus, CaptureBackend, CaptureSnapshot, Channel, ChannelStats, ConfigSource,
    ControlStatus, LinkLight, ReceiverStats, VideoStatus,
};
use crate::ui::command::UiCommand;
use crate::ui::settings::{CaptureTarget, Settings};

#[derive(Default)]
struct VideoShared {
    frames: AtomicU64,
    bytes: AtomicU64,
    last_len: AtomicU64,
    recent: Mutex<Vec<(Instant, usize)>>,
}

struct VideoWorker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for VideoWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The simulated backend.
pub struct SimBackend {
    started: [Option<Instant>; 2],
    base: [u64; 2],
    gain_db: f32,
    muted: bool,
    tone_db: f32,
    video_size: [u32; 2],
    fps: f32,
    quality: u8,
    video_source: String,
    audio_source: String,
    target: CaptureTarget,
    pinned: Vec<String>,
    shared: Arc<VideoShared>,
    worker: Option<VideoWorker>,
    decoder: Option<Arc<PreviewDecoder>>,
    waker: Option<egui::Context>,
    retry_at: Option<Instant>,
    reconnects: u64,
}

impl SimBackend {
    /// A backend with these settings; `autostart` starts both channels.
    pub fn new(settings: &Settings, waker: Option<egui::Context>, autostart: bool) -> Self {
        let decoder = PreviewDecoder::spawn(waker.clone())
            .map(Arc::new)
            .map_err(|e| tracing::error!("preview decoder: {e}"))
            .ok();
        let mut s = Self {
            started: [None, None],
            base: [0, 0],
            gain_db: settings.gain_db,
            muted: false,
            tone_db: -18.0,
            video_size: settings.video_size,
            fps: settings.video_fps,
            quality: settings.video_quality,
            video_source: settings.video_source.clone(),
            audio_source: settings.audio_source.clone(),
            target: settings.capture_target.clone(),
            pinned: Vec::new(),
            shared: Arc::default(),
            worker: None,
            decoder,
            waker,
            retry_at: None,
            reconnects: 0,
        };
        if autostart {
            s.start(Channel::Audio);
            s.start(Channel::Video);
        }
        s
    }

    fn start(&mut self, ch: Channel) {
        if self.started[ch.index()].is_some() {
            return;
        }
        self.started[ch.index()] = Some(Instant::now());
        if ch == Channel::Video {
            self.spawn_video();
        }
    }

    fn stop(&mut self, ch: Channel) {
        if let Some(t0) = self.started[ch.index()].take() {
            if ch == Channel::Audio {
                self.base[0] += self.audio_chunks_since(t0);
            }
            if ch == Channel::Video {
                self.worker = None;
            }
        }
    }

    fn audio_chunks_since(&self, t0: Instant) -> u64 {
        (t0.elapsed().as_millis() / 100) as u64
    }

    fn spawn_video(&mut self) {
        self.worker = None;
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, shared, decoder, waker) = (
            stop.clone(),
            self.shared.clone(),
            self.decoder.clone(),
            self.waker.clone(),
        );
        let (size, fps, quality) = (self.video_size, self.fps.max(0.1), self.quality);
        let thread = std::thread::Builder::new()
            .name("capdeck-sim-video".into())
            .spawn(move || {
                let period = Duration::from_secs_f32(1.0 / fps);
                let mut next = Instant::now();
                while !stop2.load(Ordering::Relaxed) {
                    let seq = shared.frames.load(Ordering::Relaxed);
                    let jpeg = encode_pattern(size, quality, seq);
                    shared.frames.fetch_add(1, Ordering::Relaxed);
                    shared.bytes.fetch_add(jpeg.len() as u64, Ordering::Relaxed);
                    shared.last_len.store(jpeg.len() as u64, Ordering::Relaxed);
                    if let Ok(mut r) = shared.recent.lock() {
                        let now = Instant::now();
                        r.retain(|(t, _)| now.duration_since(*t) < Duration::from_secs(2));
                        r.push((now, jpeg.len()));
                    }
                    if let Some(d) = &decoder {
                        d.offer(seq, jpeg.into());
                    }
                    if let Some(w) = &waker {
                        w.request_repaint();
                    }
                    next += period;
                    let now = Instant::now();
                    if next > now {
                        // paced sleep in short slices so stop is prompt
                        while Instant::now() < next && !stop2.load(Ordering::Relaxed) {
                            std::thread::sleep(
                                (next - Instant::now()).min(Duration::from_millis(50)),
                            );
                        }
                    } else {
                        next = now;
                    }
                }
            });
        match thread {
            Ok(t) => {
                self.worker = Some(VideoWorker {
                    stop,
                    thread: Some(t),
                })
            }
            Err(e) => tracing::error!("cannot start the video worker: {e}"),
        }
    }

    fn restart_video_if_running(&mut self) {
        if self.started[1].is_some() {
            self.spawn_video();
        }
    }
}

/// A 4:3 moving pattern encoded as baseline JPEG.
pub fn encode_pattern(size: [u32; 2], quality: u8, seq: u64) -> Vec<u8> {
    let (w, h) = (
        size[0].clamp(16, 1920) as usize,
        size[1].clamp(16, 1080) as usize,
    );
    let mut rgb = vec![0u8; w * h * 3];
    let off = (seq * 8) as usize;
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * 3;
            let bar = ((x + off) / (w / 8).max(1)) % 8;
            const BARS: [[u8; 3]; 8] = [
                [235, 235, 235],
                [235, 235, 16],
                [16, 235, 235],
                [16, 235, 16],
                [235, 16, 235],
                [235, 16, 16],
                [16, 16, 235],
                [16, 16, 16],
            ];
            let c = if y > h * 3 / 4 {
                [(x * 255 / w) as u8; 3]
            } else {
                BARS[bar]
            };
            rgb[i..i + 3].copy_from_slice(&c);
        }
    }
    let mut out = Vec::with_capacity(w * h / 4);
    if let Err(e) = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100)).encode(
        &rgb,
        w as u16,
        h as u16,
        jpeg_encoder::ColorType::Rgb,
    ) {
        tracing::warn!("pattern encode failed: {e}");
    }
    out
}

impl CaptureBackend for SimBackend {
    fn apply(&mut self, cmd: &UiCommand, settings: &Settings) {
        match cmd {
            UiCommand::StartChannel(ch) => self.start(*ch),
            UiCommand::StopChannel(ch) => self.stop(*ch),
            UiCommand::RetryNow(_) => {
                self.retry_at = Some(Instant::now());
                self.reconnects += 1;
            }
            UiCommand::SetGain(g) => self.gain_db = *g,
            UiCommand::SetMuted(m) => self.muted = *m,
            UiCommand::SetAudioSource(s) => {
                self.audio_source = s.clone();
                self.tone_db = if s.starts_with("tone") { -12.0 } else { -18.0 };
            }
            UiCommand::SetVideoSource(s) => {
                self.video_source = s.clone();
                self.restart_video_if_running();
            }
            UiCommand::SetVideoSize(s) => {
                self.video_size = *s;
                self.restart_video_if_running();
            }
            UiCommand::SetVideoFps(f) => {
                self.fps = *f;
                self.restart_video_if_running();
            }
            UiCommand::SetVideoQuality(q) => {
                self.quality = *q;
                self.restart_video_if_running();
            }
            UiCommand::SetPinned(k, on) => {
                self.pinned.retain(|p| p != k);
                if *on {
                    self.pinned.push(k.clone());
                }
            }
            UiCommand::UseEmbeddedHost | UiCommand::UseHostProfile(_) => {
                self.target = settings.capture_target.clone();
                self.retry_at = Some(Instant::now() + Duration::from_secs(5));
            }
            _ => {}
        }
    }

    fn snapshot(&mut self) -> CaptureSnapshot {
        let embedded = self.target == CaptureTarget::Embedded;
        let audio_chunks = self.base[0] + self.started[0].map_or(0, |t| self.audio_chunks_since(t));
        let video_frames = self.shared.frames.load(Ordering::Relaxed);
        let video_bytes = self.shared.bytes.load(Ordering::Relaxed);
        let level = if self.muted || self.audio_source == "none" {
            -90.0
        } else {
            self.tone_db + self.gain_db
        };
        let peak = level.min(0.0);
        let rms = (level - 3.01).min(0.0);
        let clipped = level > 0.0;
        let (bitrate, fps) = self
            .shared
            .recent
            .lock()
            .map(|r| {
                let span = r
                    .first()
                    .map_or(0.0, |(t, _)| t.elapsed().as_secs_f32())
                    .max(0.5);
                (
                    r.iter().map(|(_, n)| *n as f32 * 8.0).sum::<f32>() / span / 1000.0,
                    r.len() as f32 / span,
                )
            })
            .unwrap_or((0.0, 0.0));
        let light = |on: bool, retry_at: Option<Instant>| {
            if !on {
                LinkLight::Idle
            } else if embedded {
                LinkLight::Streaming
            } else {
                let retry =
                    retry_at.map(|r| r.saturating_duration_since(Instant::now()).as_secs_f32());
                LinkLight::Disconnected {
                    reason: "the ZeroMQ sender is not merged into this build yet".into(),
                    retry_in_s: retry,
                }
            }
        };
        if let Some(r) = self.retry_at
            && r <= Instant::now()
        {
            self.retry_at = Some(Instant::now() + Duration::from_secs(5));
        }
        let src = |k: &str, v: String, host: bool| {
            let s = if self.pinned.iter().any(|p| p == k) {
                ConfigSource::Pinned
            } else if host {
                ConfigSource::Host
            } else {
                ConfigSource::Default
            };
            (k.to_owned(), v, s)
        };
        CaptureSnapshot {
            audio: AudioStatus {
                source_label: match self.audio_source.as_str() {
                    "default" => "default input (simulated 440 Hz tone)".into(),
                    s => format!("{s} (simulated)"),
                },
                devices: vec![],
                peak_dbfs: peak,
                rms_dbfs: rms,
                clipped: if clipped { audio_chunks } else { 0 },
                overruns: 0,
                muted: self.muted,
            },
            video: VideoStatus {
                source_label: format!("{} (simulated as pattern)", self.video_source),
                last_jpeg_bytes: self.shared.last_len.load(Ordering::Relaxed) as usize,
                bitrate_kbps: if self.started[1].is_some() {
                    bitrate
                } else {
                    0.0
                },
                fps: if self.started[1].is_some() { fps } else { 0.0 },
                size: self.video_size,
            },
            channels: [
                ChannelStats {
                    light: light(self.started[0].is_some(), self.retry_at),
                    sent: if embedded { audio_chunks } else { 0 },
                    bytes: if embedded { audio_chunks * 3200 } else { 0 },
                    seq: (embedded && audio_chunks > 0).then(|| audio_chunks - 1),
                    dropped: 0,
                    reconnects: self.reconnects,
                },
                ChannelStats {
                    light: light(self.started[1].is_some(), self.retry_at),
                    sent: if embedded { video_frames } else { 0 },
                    bytes: if embedded { video_bytes } else { 0 },
                    seq: (embedded && video_frames > 0).then(|| video_frames - 1),
                    dropped: 0,
                    reconnects: self.reconnects,
                },
            ],
            control: ControlStatus {
                light: if embedded {
                    LinkLight::Streaming
                } else {
                    light(true, self.retry_at)
                },
                last_reply_s: None,
                config: vec![
                    src("audio_chunk_ms", "100".into(), embedded),
                    src("video_fps", format!("{}", self.fps), embedded),
                    src(
                        "video_res",
                        format!("{}x{}", self.video_size[0], self.video_size[1]),
                        embedded,
                    ),
                    src("video_quality", self.quality.to_string(), embedded),
                ],
            },
            receiver: embedded.then(|| ReceiverStats {
                endpoint: "in-process (simulated)".into(),
                audio_msgs: audio_chunks,
                video_msgs: video_frames,
                bytes: audio_chunks * 3200 + video_bytes,
                last_audio_seq: audio_chunks.checked_sub(1),
                last_video_seq: video_frames.checked_sub(1),
                malformed: 0,
            }),
            target_label: if embedded {
                "built-in receiver".into()
            } else {
                "host profile".into()
            },
            simulated: true,
        }
    }

    fn preview(&self) -> Option<Preview> {
        self.decoder.as_ref().and_then(|d| d.latest())
    }

    fn is_live(&self) -> bool {
        self.started.iter().any(Option::is_some)
    }
}
