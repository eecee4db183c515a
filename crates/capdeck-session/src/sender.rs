//! A whole sending session: the audio and video pipelines feed their PUSH links, the
//! control channel applies the host's config, and [`Sender::stats`] reports everything.
//!
//! Used by `capdeck send` and by the desktop app's capture pane.

use capdeck_util::lock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use capdeck_capture::audio::voice::VoiceConfig;
use capdeck_capture::audio::{self, AudioChunk, AudioControl, AudioSourceSpec};
use capdeck_capture::video::{self, VideoControl, VideoFrame, VideoSourceSpec};
use capdeck_net::control_link::{ControlConfig, ControlLink, ControlStats};
use capdeck_net::outbox::OutboxPolicy;
use capdeck_net::push_link::{LinkStats, PushLink, PushLinkConfig};
use capdeck_net::tap::{Captured, Channel, TapPoint};
use capdeck_wire::capture::Fraction;
use capdeck_wire::capture::{self as wire, AudioHeader, Framing, Header, HostConfig, VideoHeader};

/// Defaults of the capture wire (`docs/capture-wire.md`).
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
    /// Framing used on both data channels (default framed: what the inference host reads).
    pub framing: Framing,
    /// Audio source.
    pub audio: AudioSourceSpec,
    /// The voice stage: the game's sound removed from the microphone, noise suppression.
    pub voice: VoiceConfig,
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
            framing: Framing::Framed,
            audio: AudioSourceSpec::Tone(440.0),
            voice: VoiceConfig::default(),
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
pub struct SendSettings {
    /// Audio chunk length in ms.
    pub chunk_ms: Setting<u32>,
    /// Video size.
    pub video_size: Setting<(u32, u32)>,
    /// Frame rate.
    pub fps: Setting<f32>,
    /// JPEG quality.
    pub quality: Setting<u8>,
    /// The host's last config, re-applied to a value when it is unpinned.
    #[serde(skip)]
    host: Option<HostConfig>,
}

impl SendSettings {
    fn from_config(cfg: &SenderConfig) -> Self {
        Self {
            chunk_ms: Setting::new(cfg.chunk_ms, defaults::CHUNK_MS),
            video_size: Setting::new(cfg.video_size, defaults::VIDEO_SIZE),
            fps: Setting::new(cfg.fps, defaults::FPS),
            quality: Setting::new(cfg.quality, defaults::QUALITY),
            host: None,
        }
    }

    /// Pins and unpins values live; an unpinned value takes the host's last config or
    /// the default. Every value that changed is applied to the pipelines.
    fn repin(&mut self, pins: Pins, audio: &AudioControl, video: &VideoControl) {
        let host = self.host.clone().unwrap_or_default();
        self.chunk_ms = Setting::new(pins.chunk_ms, defaults::CHUNK_MS);
        self.video_size = Setting::new(pins.video_size, defaults::VIDEO_SIZE);
        self.fps = Setting::new(pins.fps, defaults::FPS);
        self.quality = Setting::new(pins.quality, defaults::QUALITY);
        self.chunk_ms.offer(host.audio_chunk_ms);
        self.video_size.offer(host.video_res.map(|[w, h]| (w, h)));
        self.fps.offer(host.video_fps);
        self.quality.offer(host.video_quality);
        audio.set_chunk_ms(self.chunk_ms.value);
        let (w, h) = self.video_size.value;
        video.set_size(w, h);
        video.set_fps(self.fps.value);
        video.set_quality(self.quality.value);
    }

    /// Applies a host config to the settings and the running pipelines, except pinned values.
    fn apply_host(&mut self, host: &HostConfig, audio: &AudioControl, video: &VideoControl) {
        self.host = Some(host.clone());
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
    /// Set when the host did not name the framing in use among those it reads (a host
    /// that names none reads framed): it may parse nothing that is sent.
    pub framing_warning: Option<String>,
    /// Audio, if enabled.
    pub audio: Option<AudioSide>,
    /// Video, if enabled.
    pub video: Option<VideoSide>,
    /// Control channel.
    pub control: ControlStats,
    /// Settings in force.
    pub settings: SendSettings,
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
            if let Some(v) = &a.pipeline.voice {
                s += &format!(" | voice {} speech {:.2}", v.state, v.speech);
                if v.game.is_some() {
                    s += &format!(
                        " game {:.0} -> {:.0} dBFS",
                        v.game_before_dbfs, v.game_after_dbfs
                    );
                }
            }
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
        s += &format!(" | control {}", self.control.state.label());
        if let Some(w) = &self.framing_warning {
            s += &format!(" | WARNING: {w}");
        }
        s
    }
}

/// What the status line and the app say when the host may not read `framing`.
fn framing_warning(framing: Framing, host: Option<&HostConfig>) -> String {
    match host.and_then(|h| h.framings.as_ref()) {
        Some(names) => format!(
            "sending {} but the host reads only {}",
            framing.as_str(),
            names.join(", ")
        ),
        None if host.is_some() => format!(
            "sending {} but the host names no framing (so it reads framed)",
            framing.as_str()
        ),
        None => format!(
            "sending {}; no host config yet, and a host that names no framing reads framed",
            framing.as_str()
        ),
    }
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// A link could not be created.
    #[error(transparent)]
    Link(#[from] capdeck_net::push_link::LinkError),
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
    /// The session was opened without this channel.
    #[error("the {0} channel is not open in this session (its source was none)")]
    ChannelNotOpen(&'static str),
}

/// One data channel of a session: its PUSH link lives as long as the session; its
/// capture pipeline starts and stops on demand. The seq continues across restarts of the
/// pipeline (`capture-wire.md`: never reused within a run), so a stopped and restarted
/// channel is one stream to the host, not a new one.
struct Lane<P, S> {
    link: Arc<PushLink>,
    pipeline: Option<P>,
    /// Source of the running pipeline.
    spec: Option<String>,
    /// Wire seq of the next message: pipeline seqs start at 0 and are offset by `base`.
    next_seq: Arc<AtomicU64>,
    /// Offset of the running pipeline's seqs.
    base: u64,
    /// Final stats of the last pipeline, kept after it stopped.
    last: Option<S>,
}

impl<P, S> Lane<P, S> {
    fn new(link: PushLink) -> Self {
        Self {
            link: Arc::new(link),
            pipeline: None,
            spec: None,
            next_seq: Arc::new(AtomicU64::new(0)),
            base: 0,
            last: None,
        }
    }
}

impl<P, S> Lane<P, S> {
    /// A sink for a new pipeline: `encode` turns a pipeline message and the lane's seq
    /// base into its wire seq, payload length and message; the sink hands it to the link
    /// and remembers where the seq goes on. Returns the sink and the base.
    fn sink<M>(
        &self,
        encode: impl Fn(M, u64) -> (u64, usize, wire::WireMessage) + Send + 'static,
    ) -> (Box<dyn FnMut(M) + Send>, u64) {
        let (link, next) = (self.link.clone(), self.next_seq.clone());
        let base = next.load(Ordering::Acquire);
        let sink = Box::new(move |m: M| {
            let (seq, n, msg) = encode(m, base);
            link.submit(seq, n, msg);
            next.store(seq + 1, Ordering::Release);
        });
        (sink, base)
    }

    /// Records a started pipeline.
    fn started(&mut self, pipeline: P, spec: String, base: u64) {
        self.pipeline = Some(pipeline);
        self.spec = Some(spec);
        self.base = base;
    }
}

type AudioLane = Lane<audio::AudioPipeline, audio::AudioStats>;
type VideoLane = Lane<video::VideoPipeline, video::VideoStats>;

/// A running session.
pub struct Sender {
    cfg: SenderConfig,
    /// The recording seam, for what the voice stage captures beside what is sent.
    tap: TapPoint,
    started: Instant,
    audio: Option<AudioLane>,
    video: Option<VideoLane>,
    control: Option<ControlLink>,
    audio_ctl: Arc<AudioControl>,
    video_ctl: Arc<VideoControl>,
    settings: Arc<Mutex<SendSettings>>,
    // Keeps libzmq's context alive as long as the links.
    _ctx: zmq::Context,
}

/// Which values the operator pins (`None` = not pinned: the host's config or the default
/// applies).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pins {
    /// Audio chunk length in ms.
    pub chunk_ms: Option<u32>,
    /// Video size.
    pub video_size: Option<(u32, u32)>,
    /// Frame rate.
    pub fps: Option<f32>,
    /// JPEG quality.
    pub quality: Option<u8>,
}

impl Sender {
    /// Opens a session and starts capture on every channel whose source is not `none`.
    pub fn start(cfg: SenderConfig, tap: TapPoint) -> Result<Self, SenderError> {
        if cfg.audio == AudioSourceSpec::None && cfg.video == VideoSourceSpec::None {
            return Err(SenderError::Nothing);
        }
        let mut me = Self::open(cfg, tap)?;
        let (a, v) = (me.cfg.audio.clone(), me.cfg.video.clone());
        me.start_audio(&a)?;
        me.start_video(&v)?;
        Ok(me)
    }

    /// Opens a session without capturing: the PUSH links of the channels whose source is
    /// not `none` (they connect and wait) and the control channel. Capture starts with
    /// [`Self::start_audio`] and [`Self::start_video`].
    pub fn open(cfg: SenderConfig, tap: TapPoint) -> Result<Self, SenderError> {
        let ctx = zmq::Context::new();
        let settings = SendSettings::from_config(&cfg);
        let audio_ctl = AudioControl::new(settings.chunk_ms.value);
        let (w, h) = settings.video_size.value;
        let video_ctl = VideoControl::new(w, h, settings.fps.value, settings.quality.value);
        let settings = Arc::new(Mutex::new(settings));
        let endpoint = |port: u16| format!("tcp://{}:{port}", cfg.host);
        let link_cfg = |port, policy, hwm| {
            let mut c = PushLinkConfig::new(endpoint(port), policy, hwm);
            c.reconnect_max = cfg.reconnect_max;
            c
        };
        let mut me = Self {
            tap: tap.clone(),
            started: Instant::now(),
            audio: None,
            video: None,
            control: None,
            audio_ctl: audio_ctl.clone(),
            video_ctl: video_ctl.clone(),
            settings: settings.clone(),
            _ctx: ctx.clone(),
            cfg: cfg.clone(),
        };
        let mut caps = Vec::new();
        if cfg.audio != AudioSourceSpec::None {
            let lc = link_cfg(
                cfg.audio_port,
                OutboxPolicy::audio_seconds(cfg.audio_buffer_s),
                4,
            );
            me.audio = Some(Lane::new(PushLink::spawn(
                &ctx,
                Channel::Audio,
                lc,
                tap.clone(),
            )?));
            caps.push("audio".to_owned());
        }
        if cfg.video != VideoSourceSpec::None {
            let lc = link_cfg(
                cfg.video_port,
                OutboxPolicy::video_frames(cfg.video_queue_frames),
                2,
            );
            me.video = Some(Lane::new(PushLink::spawn(
                &ctx,
                Channel::Video,
                lc,
                tap.clone(),
            )?));
            caps.push("video".to_owned());
        }
        if cfg.control_port != 0 {
            let cc = ControlConfig::new(endpoint(cfg.control_port), cfg.client.clone(), caps);
            let (s, a, v) = (settings, audio_ctl, video_ctl);
            let on_config = Box::new(move |host: &HostConfig| lock(&s).apply_host(host, &a, &v));
            me.control =
                Some(ControlLink::spawn(cc, on_config, tap).map_err(SenderError::Control)?);
        }
        Ok(me)
    }

    /// Starts (or restarts, with another source) audio capture. The seq continues from
    /// the last chunk handed to the link. `none` stops capture. Fails when the session
    /// was opened without audio or the source cannot open (capture then stays stopped).
    pub fn start_audio(&mut self, spec: &AudioSourceSpec) -> Result<(), SenderError> {
        self.stop_audio();
        if *spec == AudioSourceSpec::None {
            return Ok(());
        }
        let voice_tap = self.voice_tap();
        let Some(lane) = &mut self.audio else {
            return Err(SenderError::ChannelNotOpen("audio"));
        };
        let framing = self.cfg.framing;
        let (sink, base) = lane.sink(move |chunk: AudioChunk, base| {
            let seq = base + chunk.seq;
            let payload = Bytes::from(chunk.pcm_le_bytes());
            let mut h = AudioHeader::new(chunk.ts_ms, seq);
            if let Some(v) = chunk.voice {
                h.speech = Some(Fraction::new(v.speech));
                h.game = v.game.map(Fraction::new);
            }
            let header = Header::Audio(h);
            (seq, payload.len(), wire::encode(&header, payload, framing))
        });
        let p = audio::start_voice(
            spec,
            self.audio_ctl.clone(),
            sink,
            audio::AudioOptions::default(),
            &self.cfg.voice,
            voice_tap,
        )
        .map_err(|source| SenderError::Audio {
            spec: spec.to_string(),
            source,
        })?;
        lane.started(p, spec.to_string(), base);
        Ok(())
    }

    /// Stops audio capture; what was already handed to the link is still delivered.
    pub fn stop_audio(&mut self) {
        if let Some(lane) = &mut self.audio
            && let Some(p) = lane.pipeline.take()
        {
            let mut s = p.stats();
            p.stop();
            s.seq = lane.next_seq.load(Ordering::Acquire);
            s.state = "stopped".to_owned();
            lane.last = Some(s);
            lane.spec = None;
        }
    }

    /// Starts (or restarts, with another source) video capture; like
    /// [`Self::start_audio`].
    pub fn start_video(&mut self, spec: &VideoSourceSpec) -> Result<(), SenderError> {
        self.stop_video();
        if *spec == VideoSourceSpec::None {
            return Ok(());
        }
        let Some(lane) = &mut self.video else {
            return Err(SenderError::ChannelNotOpen("video"));
        };
        let framing = self.cfg.framing;
        let (sink, base) = lane.sink(move |f: VideoFrame, base| {
            let seq = base + f.seq;
            let header =
                Header::Video(VideoHeader::new(f.ts_ms, seq, f.width, f.height, f.quality));
            (seq, f.jpeg.len(), wire::encode(&header, f.jpeg, framing))
        });
        let p = video::start(spec, self.video_ctl.clone(), sink).map_err(|source| {
            SenderError::Video {
                spec: spec.to_string(),
                source,
            }
        })?;
        lane.started(p, spec.to_string(), base);
        Ok(())
    }

    /// Stops video capture; frames already handed to the link are still delivered.
    pub fn stop_video(&mut self) {
        if let Some(lane) = &mut self.video
            && let Some(p) = lane.pipeline.take()
        {
            let mut s = p.stats();
            p.stop();
            s.state = video::VideoState::Stopped;
            lane.last = Some(s);
            lane.spec = None;
        }
    }

    /// The source of the running audio capture, as given (None when stopped).
    pub fn audio_source(&self) -> Option<&str> {
        self.audio.as_ref().and_then(|l| l.spec.as_deref())
    }

    /// The source of the running video capture, as given (None when stopped).
    pub fn video_source(&self) -> Option<&str> {
        self.video.as_ref().and_then(|l| l.spec.as_deref())
    }

    /// What records the voice stage's inputs beside what is sent (none without a tap):
    /// each chunk as capture-wire parts (multipart: header, 16 kHz PCM).
    fn voice_tap(&self) -> Option<audio::voice::VoiceTap> {
        if !self.tap.is_attached() {
            return None;
        }
        let tap = self.tap.clone();
        Some(Arc::new(move |stream, c: &AudioChunk| {
            let header = Header::Audio(AudioHeader::new(c.ts_ms, c.seq));
            let msg = wire::encode(&header, Bytes::from(c.pcm_le_bytes()), Framing::Multipart);
            let what = match stream {
                audio::voice::VoiceStream::Microphone => Captured::Microphone,
                audio::voice::VoiceStream::GameAudio => Captured::GameAudio,
            };
            tap.captured(what, &msg.parts);
        }))
    }

    /// The voice stage the next audio start uses.
    pub fn voice(&self) -> &VoiceConfig {
        &self.cfg.voice
    }

    /// Sets the voice stage (game audio removal, noise suppression) used from the next
    /// [`Self::start_audio`]; a running capture keeps its stage until restarted.
    pub fn set_voice(&mut self, voice: VoiceConfig) {
        self.cfg.voice = voice;
    }

    /// Pins or unpins values live. A newly unpinned value falls back to the host's last
    /// config, or the default.
    pub fn set_pins(&self, pins: Pins) {
        lock(&self.settings).repin(pins, &self.audio_ctl, &self.video_ctl);
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
            .and_then(|l| l.pipeline.as_ref())
            .is_some_and(audio::AudioPipeline::finished)
    }

    /// Asks both links to reconnect now.
    pub fn retry_now(&self) {
        for l in self.links() {
            l.retry_now();
        }
    }

    fn links(&self) -> impl Iterator<Item = &Arc<PushLink>> {
        let a = self.audio.as_ref().map(|l| &l.link);
        let v = self.video.as_ref().map(|l| &l.link);
        a.into_iter().chain(v)
    }

    /// A snapshot of everything.
    pub fn stats(&self) -> SenderStats {
        let control = self
            .control
            .as_ref()
            .map_or_else(ControlStats::disabled, ControlLink::stats);
        self.snapshot(control)
    }

    /// Assembles stats from the links, the pipelines (live while running, the last
    /// pipeline's final ones after it stopped) and the given control stats.
    fn snapshot(&self, control: ControlStats) -> SenderStats {
        let framing = self.cfg.framing;
        let framing_warning = (!HostConfig::reads(control.host_config.as_ref(), framing))
            .then(|| framing_warning(framing, control.host_config.as_ref()));
        SenderStats {
            framing_warning,
            uptime_s: self.started.elapsed().as_secs_f64(),
            host: self.cfg.host.clone(),
            framing: self.cfg.framing,
            audio: self.audio.as_ref().and_then(|l| {
                let pipeline = match &l.pipeline {
                    Some(p) => {
                        let mut s = p.stats();
                        s.seq += l.base;
                        s
                    }
                    None => l.last.clone()?,
                };
                Some(AudioSide {
                    link: l.link.stats(),
                    pipeline,
                })
            }),
            video: self.video.as_ref().and_then(|l| {
                let pipeline = match &l.pipeline {
                    Some(p) => p.stats(),
                    None => l.last.clone()?,
                };
                Some(VideoSide {
                    link: l.link.stats(),
                    pipeline,
                })
            }),
            control,
            settings: lock(&self.settings).clone(),
        }
    }

    /// Stops capture, gives the queues up to `drain` to empty, stops the links and returns
    /// the final stats.
    pub fn stop(mut self, drain: Duration) -> SenderStats {
        self.stop_audio();
        self.stop_video();
        let deadline = Instant::now() + drain;
        for l in self.links() {
            l.finish(deadline.saturating_duration_since(Instant::now()));
        }
        let control = self
            .control
            .take()
            .map_or_else(ControlStats::disabled, ControlLink::stop);
        self.snapshot(control)
    }
}
