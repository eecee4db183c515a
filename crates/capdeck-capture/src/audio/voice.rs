//! The voice stage: what the host should hear is the operator, not the game. On the audio
//! worker thread (never in a device callback), between the converter's 16 kHz chunks and the
//! push-to-talk gate:
//!
//! 1. **Echo cancellation** of the game's sound, with a capture of what the desktop plays as
//!    the reference ([`GameAudioSpec`]): the sink's monitor on PulseAudio/PipeWire, a WASAPI
//!    loopback of the render device on Windows, or a WAV file. The reference runs through
//!    its own [`super::AudioPipeline`] (the same conversion to 16 kHz mono and the same drift
//!    correction against the wall clock as the microphone, so two devices on different
//!    clocks, 44.1 vs 48 kHz or ±200 ppm, meet on one timeline), whose chunks reach this
//!    stage through a bounded channel (newest dropped when full, counted). The two streams
//!    are aligned by their chunk stamps; the canceller (`sonora`, a Rust port of WebRTC's
//!    AEC3) finds the echo's delay (up to about 600 ms) and follows it.
//! 2. **Noise suppression** (WebRTC's, optional and off by default: it can hurt a
//!    recogniser on speech over speech).
//! 3. **Voice activity** (`earshot`) on what is sent, and how much of each chunk the game
//!    played: the `speech` and `game` fractions of the audio header.
//!
//! 10 ms frames throughout. A chunk length that is not a multiple of 10 ms delays the output
//! once by the remainder (at most 10 ms), so every chunk keeps its length.

use super::{AudioChunk, AudioError, AudioSourceSpec, OUTPUT_RATE};
use serde::Serialize;
use sonora::config::{EchoCanceller, NoiseSuppression, NoiseSuppressionLevel};
use sonora::{AudioProcessing, Config, StreamConfig};
use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Samples in one 10 ms frame at the output rate.
pub const FRAME: usize = (OUTPUT_RATE / 100) as usize;
/// Samples in one voice-activity frame (earshot: 16 ms at 16 kHz).
const VAD_FRAME: usize = 256;
/// A VAD score at or above this is speech (earshot's suggested threshold).
const VAD_THRESHOLD: f32 = 0.5;
/// A reference frame at or above this RMS (dBFS) counts as the game playing.
pub const GAME_ACTIVE_DBFS: f32 = -55.0;
/// Reference chunks queued between its pipeline and this stage (10 ms each: 2 s).
pub const REFERENCE_QUEUE: usize = 200;
/// Reference audio kept ahead of the microphone (beyond, the oldest is dropped).
const REFERENCE_KEEP: usize = 2 * OUTPUT_RATE as usize;
/// How long a microphone frame waits for a reference that is live but not there yet.
const REFERENCE_WAIT: Duration = Duration::from_millis(40);
/// A reference that delivered nothing for this long is not live: its frames are silence.
const REFERENCE_LIVE: Duration = Duration::from_millis(500);

/// Where the game's sound (the echo reference) comes from, as given to `--game-audio`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GameAudioSpec {
    /// No reference: nothing is removed.
    #[default]
    None,
    /// What the default output device plays (PulseAudio/PipeWire: the default sink's
    /// monitor; Windows: a WASAPI loopback of the default render device).
    Output,
    /// An input device by id or name (e.g. a sink's `.monitor` source).
    Device(String),
    /// One process's audio only (Windows application loopback).
    Process(String),
    /// A WAV file played as the reference, paced by the real clock (deterministic tests).
    Wav(PathBuf),
}

/// Error parsing a [`GameAudioSpec`].
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "invalid game audio {0:?}: expected output, device:<id or name>, process:<name or pid>, wav:<path> or none"
)]
pub struct ParseGameAudioError(String);

impl FromStr for GameAudioSpec {
    type Err = ParseGameAudioError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseGameAudioError(s.to_owned());
        match s {
            "none" => return Ok(Self::None),
            "output" => return Ok(Self::Output),
            _ => {}
        }
        let (kind, arg) = s.split_once(':').ok_or_else(err)?;
        if arg.is_empty() {
            return Err(err());
        }
        match kind {
            "device" => Ok(Self::Device(arg.to_owned())),
            "process" => Ok(Self::Process(arg.to_owned())),
            "wav" => Ok(Self::Wav(PathBuf::from(arg))),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for GameAudioSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => write!(f, "none"),
            Self::Output => write!(f, "output"),
            Self::Device(d) => write!(f, "device:{d}"),
            Self::Process(p) => write!(f, "process:{p}"),
            Self::Wav(p) => write!(f, "wav:{}", p.display()),
        }
    }
}

impl GameAudioSpec {
    /// The audio source that captures this reference, or why there is none here.
    pub fn source(&self) -> Result<Option<AudioSourceSpec>, AudioError> {
        match self {
            Self::None => Ok(None),
            Self::Output => Ok(Some(AudioSourceSpec::Output)),
            Self::Device(d) => Ok(Some(AudioSourceSpec::Device(d.clone()))),
            Self::Wav(p) => Ok(Some(AudioSourceSpec::Wav(p.clone()))),
            Self::Process(p) => Err(AudioError::Device(format!(
                "game audio process:{p}: one application's audio is not available in this \
                 build; use --game-audio output (everything the desktop plays)"
            ))),
        }
    }
}

/// What the voice stage does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VoiceConfig {
    /// The echo reference; `None` removes nothing.
    pub game_audio: GameAudioSpec,
    /// WebRTC noise suppression on what is sent (off by default: it can hurt a recogniser).
    pub noise_suppression: bool,
}

impl VoiceConfig {
    /// Whether there is anything for the stage to do (else the chain runs without it).
    pub fn active(&self) -> bool {
        self.game_audio != GameAudioSpec::None || self.noise_suppression
    }
}

/// What the voice stage found in one chunk (the header's `speech` and `game`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VoiceMeta {
    /// Fraction of the chunk judged to be speech, after the game was removed.
    pub speech: f32,
    /// Fraction of the chunk during which the reference played (None: no reference).
    pub game: Option<f32>,
}

/// The voice stage's state, for the status line, the app and `--stats-json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoiceStatus {
    /// The reference as configured (`none`, `output`, ...).
    pub game_audio: String,
    /// "removing", "waiting for the game's sound", "paused: reference lost (...)", "off".
    pub state: String,
    /// Whether noise suppression runs.
    pub noise_suppression: bool,
    /// Level of the microphone while the game played, before removal (dBFS, last second).
    pub game_before_dbfs: f32,
    /// The same after removal (dBFS).
    pub game_after_dbfs: f32,
    /// Echo return loss enhancement reported by the canceller (dB).
    pub erle_db: Option<f64>,
    /// The echo delay the canceller found (ms).
    pub delay_ms: Option<i32>,
    /// The last chunk's `speech` fraction.
    pub speech: f32,
    /// The last chunk's `game` fraction.
    pub game: Option<f32>,
    /// Reference chunks dropped because this stage fell behind (queue full).
    pub reference_dropped: u64,
}

/// Which stream a [`VoiceTap`] sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceStream {
    /// The microphone's chunk before the stage.
    Microphone,
    /// A chunk of the game's sound (the reference), as it arrives.
    GameAudio,
}

/// Sees the stage's inputs (for recording them beside what is sent). Called on the audio
/// worker threads, never in a device callback.
pub type VoiceTap = Arc<dyn Fn(VoiceStream, &AudioChunk) + Send + Sync>;

/// The sending side of the reference channel, handed to the reference pipeline's sink.
pub struct ReferenceSender {
    tx: SyncSender<AudioChunk>,
    status: Arc<Mutex<VoiceStatus>>,
    tap: Option<VoiceTap>,
}

impl ReferenceSender {
    /// Queues one reference chunk; when the queue is full the chunk is dropped and counted
    /// (the stage is behind; its reference frames become silence rather than growing memory).
    pub fn send(&self, c: AudioChunk) {
        if let Some(t) = &self.tap {
            t(VoiceStream::GameAudio, &c);
        }
        if let Err(TrySendError::Full(_)) = self.tx.try_send(c) {
            capdeck_util::lock(&self.status).reference_dropped += 1;
        }
    }
}

/// The reference stream on the stage's side: chunks placed on the 16 kHz sample timeline.
struct Reference {
    rx: Receiver<AudioChunk>,
    /// Reference samples from `pos` on.
    buf: VecDeque<f32>,
    /// Timeline position (16 kHz samples since the Unix epoch) of `buf[0]`.
    pos: Option<i64>,
    /// The last chunk's seq: the next one continues the stream sample for sample.
    seq: Option<u64>,
    last_rx: Option<Instant>,
    disconnected: bool,
}

impl Reference {
    fn end(&self) -> Option<i64> {
        self.pos.map(|p| p + self.buf.len() as i64)
    }

    fn take(&mut self, c: AudioChunk) {
        self.last_rx = Some(Instant::now());
        let at = c.ts_ms as i64 * (OUTPUT_RATE as i64 / 1000);
        let next = self.seq.is_some_and(|s| s.wrapping_add(1) == c.seq);
        self.seq = Some(c.seq);
        match self.end() {
            // the next chunk of the stream continues it sample for sample (its stamp, whole
            // ms following the wall clock, may wander by a few ms under load)
            Some(_) if next => {}
            // a gap (a lost or reopened device): silence up to the new start
            Some(end) if at > end && at - end < REFERENCE_KEEP as i64 => {
                self.buf
                    .extend(std::iter::repeat_n(0.0, (at - end) as usize));
            }
            _ => {
                self.buf.clear();
                self.pos = Some(at);
            }
        }
        self.buf
            .extend(c.samples.iter().map(|&s| f32::from(s) / 32768.0));
        if self.buf.len() > REFERENCE_KEEP {
            let drop = self.buf.len() - REFERENCE_KEEP;
            self.buf.drain(..drop);
            self.pos = self.pos.map(|p| p + drop as i64);
        }
    }

    fn live(&self) -> bool {
        !self.disconnected && self.last_rx.is_some_and(|t| t.elapsed() < REFERENCE_LIVE)
    }

    /// Reads what has arrived; when the reference is live but does not yet cover `until`,
    /// waits for it, at most [`REFERENCE_WAIT`] from `deadline`'s start.
    fn fill(&mut self, until: i64, deadline: Instant) {
        loop {
            match self.rx.try_recv() {
                Ok(c) => {
                    self.take(c);
                    continue;
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.disconnected = true;
                    return;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            if self.end().is_some_and(|e| e >= until) || !self.live() {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok(c) => self.take(c),
                Err(RecvTimeoutError::Timeout) => return,
                Err(RecvTimeoutError::Disconnected) => {
                    self.disconnected = true;
                    return;
                }
            }
        }
    }

    /// Writes the reference for `[at, at + FRAME)` into `out` (silence where there is none)
    /// and forgets everything before `at + FRAME`.
    fn frame(&mut self, at: i64, out: &mut [f32; FRAME]) {
        out.fill(0.0);
        if let Some(pos) = self.pos {
            for (i, o) in out.iter_mut().enumerate() {
                let k = at + i as i64 - pos;
                if k >= 0 && (k as usize) < self.buf.len() {
                    *o = self.buf[k as usize];
                }
            }
            let done = (at + FRAME as i64 - pos).clamp(0, self.buf.len() as i64) as usize;
            self.buf.drain(..done);
            self.pos = Some(pos + done as i64);
        }
    }
}

/// Running energy sums over game frames, before and after removal.
#[derive(Default)]
struct Meter {
    before: f64,
    after: f64,
    frames: u32,
}

/// The voice stage of one microphone pipeline (see the module docs).
pub struct VoiceStage {
    apm: Option<AudioProcessing>,
    vad: Box<earshot::Detector>,
    reference: Option<Reference>,
    /// Microphone samples not yet processed, and the timeline position of the first.
    pending: VecDeque<f32>,
    pending_pos: Option<i64>,
    /// The last microphone chunk's seq.
    mic_seq: Option<u64>,
    /// Processed samples not yet sent.
    out: VecDeque<i16>,
    vad_buf: Vec<f32>,
    speech_frames: u32,
    vad_frames: u32,
    last_speech: f32,
    game_frames: u32,
    frames: u32,
    meter: Meter,
    mic: [f32; FRAME],
    refr: [f32; FRAME],
    res: [f32; FRAME],
    status: Arc<Mutex<VoiceStatus>>,
    tap: Option<VoiceTap>,
}

/// Builds a voice stage for `cfg`: the stage for the microphone's worker, and the sender the
/// reference pipeline's sink uses (None without a reference).
pub fn stage(cfg: &VoiceConfig) -> (VoiceStage, Option<ReferenceSender>) {
    stage_with_tap(cfg, None)
}

/// [`stage`] with a tap that sees the microphone before the stage and the reference.
pub fn stage_with_tap(
    cfg: &VoiceConfig,
    tap: Option<VoiceTap>,
) -> (VoiceStage, Option<ReferenceSender>) {
    let with_ref = cfg.game_audio != GameAudioSpec::None;
    let status = Arc::new(Mutex::new(VoiceStatus {
        game_audio: cfg.game_audio.to_string(),
        state: if with_ref {
            "waiting for the game's sound".into()
        } else {
            "off".into()
        },
        noise_suppression: cfg.noise_suppression,
        game_before_dbfs: super::convert::SILENCE_DBFS,
        game_after_dbfs: super::convert::SILENCE_DBFS,
        erle_db: None,
        delay_ms: None,
        speech: 0.0,
        game: None,
        reference_dropped: 0,
    }));
    let (reference, sender) = if with_ref {
        let (tx, rx) = std::sync::mpsc::sync_channel(REFERENCE_QUEUE);
        (
            Some(Reference {
                rx,
                buf: VecDeque::with_capacity(REFERENCE_KEEP + 2 * OUTPUT_RATE as usize),
                pos: None,
                seq: None,
                last_rx: None,
                disconnected: false,
            }),
            Some(ReferenceSender {
                tx,
                status: status.clone(),
                tap: tap.clone(),
            }),
        )
    } else {
        (None, None)
    };
    let apm = (with_ref || cfg.noise_suppression).then(|| {
        let sc = StreamConfig::new(OUTPUT_RATE, 1);
        AudioProcessing::builder()
            .config(Config {
                echo_canceller: with_ref.then(|| EchoCanceller {
                    enforce_high_pass_filtering: false,
                    ..EchoCanceller::default()
                }),
                noise_suppression: cfg.noise_suppression.then(|| NoiseSuppression {
                    level: NoiseSuppressionLevel::Moderate,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .capture_config(sc)
            .render_config(sc)
            .build()
    });
    (
        VoiceStage {
            apm,
            vad: earshot::Detector::default_boxed(),
            reference,
            pending: VecDeque::with_capacity(4 * OUTPUT_RATE as usize),
            pending_pos: None,
            mic_seq: None,
            out: VecDeque::with_capacity(4 * OUTPUT_RATE as usize),
            vad_buf: Vec::with_capacity(VAD_FRAME),
            speech_frames: 0,
            vad_frames: 0,
            last_speech: 0.0,
            game_frames: 0,
            frames: 0,
            meter: Meter::default(),
            mic: [0.0; FRAME],
            refr: [0.0; FRAME],
            res: [0.0; FRAME],
            status,
            tap,
        },
        sender,
    )
}

impl VoiceStage {
    /// The shared status (cheap to clone).
    pub fn status(&self) -> Arc<Mutex<VoiceStatus>> {
        self.status.clone()
    }

    /// Runs the stage over one chunk in place: its samples become what is sent, its levels
    /// are measured again and [`AudioChunk::voice`] says what it holds.
    pub fn process(&mut self, chunk: &mut AudioChunk) {
        if let Some(t) = &self.tap {
            t(VoiceStream::Microphone, chunk);
        }
        let at = chunk.ts_ms as i64 * (OUTPUT_RATE as i64 / 1000);
        let next = self.mic_seq.is_some_and(|s| s.wrapping_add(1) == chunk.seq);
        self.mic_seq = Some(chunk.seq);
        if !next || self.pending_pos.is_none() {
            // the first chunk, or chunks lost (a device outage): place this one by its stamp
            self.pending_pos = Some(at - self.pending.len() as i64);
        }
        self.pending
            .extend(chunk.samples.iter().map(|&s| f32::from(s) / 32768.0));
        let deadline = Instant::now() + REFERENCE_WAIT;
        while self.pending.len() >= FRAME {
            let pos = self.pending_pos.unwrap_or(at);
            for (m, s) in self.mic.iter_mut().zip(self.pending.drain(..FRAME)) {
                *m = s;
            }
            self.pending_pos = Some(pos + FRAME as i64);
            self.frame(pos, deadline);
        }
        let n = chunk.samples.len();
        if self.out.len() < n {
            // a chunk length off the 10 ms grid: delay once by the remainder
            let short = n - self.out.len();
            for _ in 0..short {
                self.out.push_front(0);
            }
        }
        chunk.samples.clear();
        chunk.samples.extend(self.out.drain(..n));
        let (peak, rms) = super::convert::levels(&chunk.samples);
        chunk.peak_dbfs = peak;
        chunk.rms_dbfs = rms;
        let speech = if self.vad_frames > 0 {
            self.last_speech = self.speech_frames as f32 / self.vad_frames as f32;
            self.last_speech
        } else {
            self.last_speech
        };
        let game = self
            .reference
            .is_some()
            .then(|| self.game_frames as f32 / self.frames.max(1) as f32);
        chunk.voice = Some(VoiceMeta { speech, game });
        self.publish(speech, game);
        self.speech_frames = 0;
        self.vad_frames = 0;
        self.game_frames = 0;
        self.frames = 0;
    }

    /// One 10 ms frame at timeline position `pos` (in `self.mic`): render, capture, VAD.
    fn frame(&mut self, pos: i64, deadline: Instant) {
        self.frames += 1;
        let mut game_active = false;
        if let Some(r) = self.reference.as_mut() {
            r.fill(pos + FRAME as i64, deadline);
            r.frame(pos, &mut self.refr);
            game_active = rms_dbfs(&self.refr) >= GAME_ACTIVE_DBFS;
        }
        if let Some(apm) = self.apm.as_mut() {
            if self.reference.is_some() {
                let mut scratch = self.res;
                if let Err(e) = apm.process_render_f32(&[&self.refr[..]], &mut [&mut scratch[..]]) {
                    tracing::debug!("echo reference frame refused: {e}");
                }
            }
            if let Err(e) = apm.process_capture_f32(&[&self.mic[..]], &mut [&mut self.res[..]]) {
                tracing::debug!("capture frame refused: {e}");
                self.res = self.mic;
            }
        } else {
            self.res = self.mic;
        }
        if game_active {
            self.game_frames += 1;
            self.meter.before += energy(&self.mic);
            self.meter.after += energy(&self.res);
            self.meter.frames += 1;
        }
        for &s in &self.res {
            let (v, _) = super::convert::to_i16(s * 32768.0);
            self.out.push_back(v);
            self.vad_buf.push(s.clamp(-1.0, 1.0));
            if self.vad_buf.len() == VAD_FRAME {
                let p = self.vad.predict_f32(&self.vad_buf);
                self.vad_buf.clear();
                self.vad_frames += 1;
                if p >= VAD_THRESHOLD {
                    self.speech_frames += 1;
                }
            }
        }
    }

    fn publish(&mut self, speech: f32, game: Option<f32>) {
        let stats = self.apm.as_ref().map(|a| a.statistics().clone());
        let mut s = capdeck_util::lock(&self.status);
        s.speech = speech;
        s.game = game;
        if let Some(st) = stats {
            s.erle_db = st.echo_return_loss_enhancement;
            s.delay_ms = st.delay_ms;
        }
        // levels over about the last second of game frames
        if self.meter.frames >= 100 {
            let n = f64::from(self.meter.frames * FRAME as u32);
            s.game_before_dbfs = db(self.meter.before / n);
            s.game_after_dbfs = db(self.meter.after / n);
            self.meter = Meter::default();
        }
        if let Some(r) = &self.reference {
            s.state = if r.disconnected {
                "paused: the game's sound is not captured".into()
            } else if r.live() {
                "removing the game's sound".into()
            } else if r.last_rx.is_some() {
                "paused: the game's sound stopped arriving".into()
            } else {
                "waiting for the game's sound".into()
            };
        } else if self.apm.is_some() {
            s.state = "noise suppression".into();
        }
    }
}

/// Runs a voice stage offline over 16 kHz mono `mic` with `reference` (16 kHz mono, the
/// same instant at sample 0), as the live chain does: 100 ms microphone chunks, the
/// reference in 10 ms chunks arriving just before each microphone chunk. Returns what would
/// be sent and each chunk's metadata. For `capdeck voice` and the signal tests.
pub fn process_offline(
    mic: &[i16],
    reference: Option<&[i16]>,
    noise_suppression: bool,
) -> (Vec<i16>, Vec<VoiceMeta>) {
    const CHUNK: usize = OUTPUT_RATE as usize / 10;
    let cfg = VoiceConfig {
        // the stage only needs to know that there is a reference
        game_audio: reference.map_or(GameAudioSpec::None, |_| {
            GameAudioSpec::Wav(PathBuf::from("reference"))
        }),
        noise_suppression,
    };
    let (mut stage, tx) = stage(&cfg);
    // any fixed epoch: only the stamps' differences matter
    let t0_ms = 1_700_000_000_000u64;
    let mut out = Vec::with_capacity(mic.len());
    let mut metas = Vec::with_capacity(mic.len() / CHUNK + 1);
    let blank = AudioChunk::unmeasured;
    for (k, c) in mic.chunks(CHUNK).enumerate() {
        if let (Some(tx), Some(r)) = (&tx, reference) {
            for j in 0..CHUNK / FRAME {
                let at = k * CHUNK + j * FRAME;
                let frame: Vec<i16> = (at..at + FRAME)
                    .map(|i| r.get(i).copied().unwrap_or(0))
                    .collect();
                let seq = (k * CHUNK / FRAME + j) as u64;
                // offline nothing is dropped: the stage takes each chunk before the next
                tx.send(blank(seq, t0_ms + (at / 16) as u64, frame));
            }
        }
        let mut chunk = blank(k as u64, t0_ms + (k * CHUNK / 16) as u64, c.to_vec());
        stage.process(&mut chunk);
        if let Some(v) = chunk.voice {
            metas.push(v);
        }
        out.extend_from_slice(&chunk.samples);
    }
    (out, metas)
}

fn energy(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}

fn db(mean_square: f64) -> f32 {
    if mean_square <= 1e-12 {
        super::convert::SILENCE_DBFS
    } else {
        (10.0 * mean_square.log10()) as f32
    }
}

fn rms_dbfs(x: &[f32]) -> f32 {
    db(energy(x) / x.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_explains_errors() {
        assert_eq!(
            "none".parse::<GameAudioSpec>().unwrap(),
            GameAudioSpec::None
        );
        assert_eq!(
            "output".parse::<GameAudioSpec>().unwrap(),
            GameAudioSpec::Output
        );
        assert_eq!(
            "device:pulse:x.monitor".parse::<GameAudioSpec>().unwrap(),
            GameAudioSpec::Device("pulse:x.monitor".into())
        );
        assert_eq!(
            "process:game.exe".parse::<GameAudioSpec>().unwrap(),
            GameAudioSpec::Process("game.exe".into())
        );
        assert_eq!(
            "wav:/a b.wav".parse::<GameAudioSpec>().unwrap(),
            GameAudioSpec::Wav("/a b.wav".into())
        );
        for bad in ["", "wav:", "speakers", "device:"] {
            let e = bad.parse::<GameAudioSpec>().unwrap_err().to_string();
            assert!(e.contains("expected output"), "{e}");
        }
        for s in ["none", "output", "device:d", "process:p", "wav:/x.wav"] {
            assert_eq!(s.parse::<GameAudioSpec>().unwrap().to_string(), s);
        }
    }

    const fn chunk(seq: u64, ts_ms: u64, samples: Vec<i16>) -> AudioChunk {
        AudioChunk::unmeasured(seq, ts_ms, samples)
    }

    #[test]
    fn chunks_keep_their_length_on_and_off_the_10_ms_grid() {
        let (mut st, _) = stage(&VoiceConfig {
            game_audio: GameAudioSpec::None,
            noise_suppression: true,
        });
        let mut ts = 1_000_000;
        for len in [1600usize, 400, 1600, 160, 3200] {
            let mut c = chunk(0, ts, vec![100; len]);
            st.process(&mut c);
            assert_eq!(c.samples.len(), len);
            let v = c.voice.unwrap();
            assert!((0.0..=1.0).contains(&v.speech));
            assert_eq!(v.game, None);
            ts += len as u64 / 16;
        }
    }
}
