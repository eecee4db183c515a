//! A whole sending session: the audio and video pipelines feed their PUSH links, the
//! control channel applies the host's config, and [`Sender::stats`] reports everything.
//!
//! Used by `capdeck send` and by the desktop app's capture pane.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use super::control_link::{ControlConfig, ControlLink, ControlStats};
use super::outbox::OutboxPolicy;
use super::push_link::{LinkStats, PushLink, PushLinkConfig};
use super::tap::{Channel, TapPoint};
use crate::capture::audio::{self, AudioChunk, AudioControl, AudioSourceSpec};
use crate::capture::video::{self, VideoControl, VideoFrame, VideoSourceSpec};
use crate::wire::capture::{self as wire, AudioHeader, Framing, Header, HostConfig, VideoHeader};

/// Defaults of the capture wire (`shared/spec/capture-wire.md`).
pub mod defaults {
    /// Audio PUSH port.
    pub const AUDIO_PORT: u16 = 5555;
    /// Video PUSH port.
    pub const VIDEO_PORT: u16 = 5556;
    /// Control REQ port.
    pub const CONTROL_PORT: u16 = 5557;
    /// Audio chunk length.
    pub const CHUNK_MS: u32 = 100;
    /// Video size.
    pub const VIDEO_SIZE: (u32, u32) = (640, 480);
    /// Video rate.
    pub const FPS: f32 = 5.0;
    /// JPEG quality.
    pub const QUALITY: u8 = 70;
    /// Seconds of audio kept during an outage.
    pub const AUDIO_BUFFER_S: f64 = 5.0;
    /// Newest video frames kept during an outage.
    pub const VIDEO_QUEUE_FRAMES: usize = 3;
}

/// Everything a sending session needs. `Option` settings are "not pinned": the host's
/// config (or the default) applies; `Some` pins the operator's value.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Host name or address.
    pub host: String,
    /// Audio port.
    pub audio_port: u16,
    /// Video port.
    pub video_port: u16,
    /// Control port; 0 = no control channel.
    pub control_port: u16,
    /// Framing used on both data channels.
    pub framing: Framing,
    /// Audio source.
    pub audio: AudioSourceSpec,
    /// Video source.
    pub video: VideoSourceSpec,
    /// Pinned chunk length.
    pub chunk_ms: Option<u32>,
    /// Pinned video size.
    pub video_size: Option<(u32, u32)>,
    /// Pinned frame rate.
    pub fps: Option<f32>,
    /// Pinned JPEG quality.
    pub quality: Option<u8>,
    /// Seconds of audio kept while the host is away.
    pub audio_buffer_s: f64,
    /// Newest frames kept while the host is away.
    pub video_queue_frames: usize,
    /// Largest reconnect interval.
    pub reconnect_max: Duration,
    /// Client name for the control channel.
    pub client: String,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            audio_port: defaults::AUDIO_PORT,
            video_port: defaults::VIDEO_PORT,
            control_port: defaults::CONTROL_PORT,
            framing: Framing::Multipart,
            audio: AudioSourceSpec::Tone(440.0),
            video: VideoSourceSpec::Pattern,
            chunk_ms: None,
            video_size: None,
            fps: None,
            quality: None,
            audio_buffer_s: defaults::AUDIO_BUFFER_S,
            video_queue_frames: defaults::VIDEO_QUEUE_FRAMES,
            reconnect_max: Duration::from_secs(1),
            client: "capdeck".to_owned(),
        }
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Built-in default.
    Default,
    /// The host's config.
    Host,
    /// Pinned by the operator.
    Pinned,
}

/// A setting's value and origin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting<T> {
    /// Value in force.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

impl<T> Setting<T> {
    fn new(pinned: Option<T>, default: T) -> Self {
        match pinned {
            Some(value) => Self {
                value,
                origin: Origin::Pinned,
            },
            None => Self {
                value: default,
                origin: Origin::Default,
            },
        }
    }
    fn offer(&mut self, host: Option<T>) -> Option<&T> {
        match host {
            Some(v) if self.origin != Origin::Pinned => {
                self.value = v;
                self.origin = Origin::Host;
                Some(&self.value)
            }
            _ => None,
        }
    }
}

/// The settings in force, marking which came from the host and which were pinned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Audio chunk length in ms.
    pub chunk_ms: Setting<u32>,
    /// Video size.
    pub video_size: Setting<(u32, u32)>,
    /// Frame rate.
    pub fps: Setting<f32>,
    /// JPEG quality.
    pub quality: Setting<u8>,
}

impl Settings {
    fn from_config(cfg: &SenderConfig) -> Self {
        Self {
            chunk_ms: Setting::new(cfg.chunk_ms, defaults::CHUNK_MS),
            video_size: Setting::new(cfg.video_size, defaults::VIDEO_SIZE),
            fps: Setting::new(cfg.fps, defaults::FPS),
            quality: Setting::new(cfg.quality, defaults::QUALITY),
        }
    }

    /// Applies a host config to the settings and the running pipelines, except pinned values.
    fn apply_host(&mut self, host: &HostConfig, audio: &AudioControl, video: &VideoControl) {
        if let Some(&ms) = self.chunk_ms.offer(host.audio_chunk_ms) {
            audio.set_chunk_ms(ms);
        }
        if let Some(&(w, h)) = self.video_size.offer(host.video_res.map(|[w, h]| (w, h))) {
            video.set_size(w, h);
        }
        if let Some(&fps) = self.fps.offer(host.video_fps) {
            video.set_fps(fps);
        }
        if let Some(&q) = self.quality.offer(host.video_quality) {
            video.set_quality(q);
        }
    }
}

/// Stats of the audio side.
#[derive(Debug, Clone, Serialize)]
pub struct AudioSide {
    /// The PUSH link.
    pub link: LinkStats,
    /// The capture pipeline.
    pub pipeline: audio::AudioStats,
}

/// Stats of the video side.
#[derive(Debug, Clone, Serialize)]
pub struct VideoSide {
    /// The PUSH link.
    pub link: LinkStats,
    /// The capture pipeline.
    pub pipeline: video::VideoStats,
}

/// A snapshot of a whole session, written by `--stats-json`.
#[derive(Debug, Clone, Serialize)]
pub struct SenderStats {
    /// Seconds since start.
    pub uptime_s: f64,
    /// Host.
    pub host: String,
    /// Framing in use.
    pub framing: Framing,
    /// Audio, if enabled.
    pub audio: Option<AudioSide>,
    /// Video, if enabled.
    pub video: Option<VideoSide>,
    /// Control channel.
    pub control: ControlStats,
    /// Settings in force.
    pub settings: Settings,
}

impl SenderStats {
    /// A one-line status for terminals.
    pub fn status_line(&self) -> String {
        let mut s = format!("{:6.1}s", self.uptime_s);
        if let Some(a) = &self.audio {
            s += &format!(
                " | audio {} sent {} q {} drop {} rc {}",
                a.link.state.label(),
                a.link.sent,
                a.link.queued,
                a.link.dropped,
                a.link.reconnects
            );
        }
        if let Some(v) = &self.video {
            s += &format!(
                " | video {} sent {} q {} drop {} rc {}",
                v.link.state.label(),
                v.link.sent,
                v.link.queued,
                v.link.dropped,
                v.link.reconnects
            );
        }
        let c = match &self.control.state {
            super::control_link::ControlState::Disabled => "off".to_owned(),
            super::control_link::ControlState::Ok => "ok".to_owned(),
            super::control_link::ControlState::Connecting => "connecting".to_owned(),
            super::control_link::ControlState::NoReply { next_retry_ms, .. } => {
                format!("no reply (retry {next_retry_ms} ms)")
            }
            super::control_link::ControlState::Stopped => "stopped".to_owned(),
        };
        s + &format!(" | control {c}")
    }
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// A link could not be created.
    #[error(transparent)]
    Link(#[from] super::push_link::LinkError),
    /// The audio pipeline could not start.
    #[error("audio source {spec}: {source}")]
    Audio {
        /// Source.
        spec: String,
        /// Cause.
        source: audio::AudioError,
    },
    /// The video pipeline could not start.
    #[error("video source {spec}: {source}")]
    Video {
        /// Source.
        spec: String,
        /// Cause.
        source: video::VideoError,
    },
    /// The control thread could not start.
    #[error("control channel: {0}")]
    Control(std::io::Error),
    /// Nothing to send.
    #[error("nothing to send: both --audio and --video are none")]
    Nothing,
}

/// A running session.
pub struct Sender {
    cfg: SenderConfig,
    started: Instant,
    audio_link: Option<Arc<PushLink>>,
    video_link: Option<Arc<PushLink>>,
    audio: Option<audio::AudioPipeline>,
    video: Option<video::VideoPipeline>,
    control: Option<ControlLink>,
    audio_ctl: Arc<AudioControl>,
    video_ctl: Arc<VideoControl>,
    settings: Arc<Mutex<Settings>>,
    // Keeps libzmq's context alive as long as the links.
    _ctx: zmq::Context,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sender {
    /// Starts the links, the control channel and the pipelines.
    pub fn start(cfg: SenderConfig, tap: TapPoint) -> Result<Self, SenderError> {
        if cfg.audio == AudioSourceSpec::None && cfg.video == VideoSourceSpec::None {
            return Err(SenderError::Nothing);
        }
        let ctx = zmq::Context::new();
        let settings = Settings::from_config(&cfg);
        let audio_ctl = AudioControl::new(settings.chunk_ms.value);
        let (w, h) = settings.video_size.value;
        let video_ctl = VideoControl::new(w, h, settings.fps.value, settings.quality.value);
        let settings = Arc::new(Mutex::new(settings));
        let endpoint = |port: u16| format!("tcp://{}:{port}", cfg.host);
        let framing = cfg.framing;

        let link_cfg = |port, policy, hwm| {
            let mut c = PushLinkConfig::new(endpoint(port), policy, hwm);
            c.reconnect_max = cfg.reconnect_max;
            c
        };
        let mut me = Self {
            started: Instant::now(),
            audio_link: None,
            video_link: None,
            audio: None,
            video: None,
            control: None,
            audio_ctl: audio_ctl.clone(),
            video_ctl: video_ctl.clone(),
            settings: settings.clone(),
            _ctx: ctx.clone(),
            cfg: cfg.clone(),
        };

        if cfg.audio != AudioSourceSpec::None {
            let lc = link_cfg(
                cfg.audio_port,
                OutboxPolicy::audio_seconds(cfg.audio_buffer_s),
                4,
            );
            let link = Arc::new(PushLink::spawn(&ctx, Channel::Audio, lc, tap.clone())?);
            let sink_link = link.clone();
            let sink = Box::new(move |chunk: AudioChunk| {
                let payload = Bytes::from(chunk.pcm_le_bytes());
                let n = payload.len();
                let header = Header::Audio(AudioHeader::new(chunk.ts_ms, chunk.seq));
                sink_link.submit(chunk.seq, n, wire::encode(&header, payload, framing));
            });
            me.audio_link = Some(link);
            me.audio = Some(audio::start(&cfg.audio, audio_ctl.clone(), sink).map_err(
                |source| SenderError::Audio {
                    spec: cfg.audio.to_string(),
                    source,
                },
            )?);
        }
        if cfg.video != VideoSourceSpec::None {
            let lc = link_cfg(
                cfg.video_port,
                OutboxPolicy::video_frames(cfg.video_queue_frames),
                2,
            );
            let link = Arc::new(PushLink::spawn(&ctx, Channel::Video, lc, tap.clone())?);
            let sink_link = link.clone();
            let sink = Box::new(move |f: VideoFrame| {
                let n = f.jpeg.len();
                let header = Header::Video(VideoHeader::new(
                    f.ts_ms, f.seq, f.width, f.height, f.quality,
                ));
                sink_link.submit(f.seq, n, wire::encode(&header, f.jpeg, framing));
            });
            me.video_link = Some(link);
            me.video = Some(video::start(&cfg.video, video_ctl.clone(), sink).map_err(
                |source| SenderError::Video {
                    spec: cfg.video.to_string(),
                    source,
                },
            )?);
        }
        if cfg.control_port != 0 {
            let mut caps = Vec::new();
            if cfg.audio != AudioSourceSpec::None {
                caps.push("audio".to_owned());
            }
            if cfg.video != VideoSourceSpec::None {
                caps.push("video".to_owned());
            }
            let cc = ControlConfig::new(endpoint(cfg.control_port), cfg.client.clone(), caps);
            let (s, a, v) = (settings, audio_ctl, video_ctl);
            let on_config = Box::new(move |host: &HostConfig| lock(&s).apply_host(host, &a, &v));
            me.control =
                Some(ControlLink::spawn(cc, on_config, tap).map_err(SenderError::Control)?);
        }
        Ok(me)
    }

    /// Live audio settings (gain, mute, chunk length).
    pub fn audio_control(&self) -> &Arc<AudioControl> {
        &self.audio_ctl
    }

    /// Live video settings (size, rate, quality).
    pub fn video_control(&self) -> &Arc<VideoControl> {
        &self.video_ctl
    }

    /// Whether every source has ended by itself (e.g. a WAV file played out) and there is
    /// no video.
    pub fn audio_finished(&self) -> bool {
        self.audio
            .as_ref()
            .is_some_and(audio::AudioPipeline::finished)
    }

    /// Asks both links to reconnect now.
    pub fn retry_now(&self) {
        for l in [&self.audio_link, &self.video_link].into_iter().flatten() {
            l.retry_now();
        }
    }

    /// A snapshot of everything.
    pub fn stats(&self) -> SenderStats {
        let control = self
            .control
            .as_ref()
            .map_or_else(ControlStats::disabled, ControlLink::stats);
        self.snapshot(
            self.audio.as_ref().map(audio::AudioPipeline::stats),
            self.video.as_ref().map(video::VideoPipeline::stats),
            control,
        )
    }

    /// Assembles stats from the links (always live) and the given pipeline and control
    /// stats (live while running, final ones after [`Sender::stop`]).
    fn snapshot(
        &self,
        audio: Option<audio::AudioStats>,
        video: Option<video::VideoStats>,
        control: ControlStats,
    ) -> SenderStats {
        SenderStats {
            uptime_s: self.started.elapsed().as_secs_f64(),
            host: self.cfg.host.clone(),
            framing: self.cfg.framing,
            audio: self
                .audio_link
                .as_ref()
                .zip(audio)
                .map(|(l, pipeline)| AudioSide {
                    link: l.stats(),
                    pipeline,
                }),
            video: self
                .video_link
                .as_ref()
                .zip(video)
                .map(|(l, pipeline)| VideoSide {
                    link: l.stats(),
                    pipeline,
                }),
            control,
            settings: lock(&self.settings).clone(),
        }
    }

    /// Stops capture, gives the queues up to `drain` to empty, stops the links and returns
    /// the final stats.
    pub fn stop(mut self, drain: Duration) -> SenderStats {
        let audio_stats = self.audio.take().map(|p| {
            let s = p.stats();
            p.stop();
            s
        });
        let video_stats = self.video.take().map(|p| {
            let s = p.stats();
            p.stop();
            s
        });
        let deadline = Instant::now() + drain;
        for l in [&self.audio_link, &self.video_link].into_iter().flatten() {
            l.finish(deadline.saturating_duration_since(Instant::now()));
        }
        let control = self
            .control
            .take()
            .map_or_else(ControlStats::disabled, ControlLink::stop);
        self.snapshot(audio_stats, video_stats, control)
    }
}
