//! Audio capture: sources behind one trait, converted on a worker thread to 16 kHz mono
//! int16 chunks of a configurable length.
//!
//! Interface used by the sender and the app (implementation owned by the audio issue):
//! [`AudioSourceSpec`] (parsed from `--audio`), [`AudioControl`] (live settings),
//! [`start`] (spawns the pipeline, which calls the sink with each [`AudioChunk`]).
//!
//! Path (the same for every source): the source's callback (cpal, or a pacer thread for
//! `tone:`/`wav:`) copies into a lock-free SPSC ring ([`feed`]); the `capdeck-audio-worker`
//! thread ([`pipeline`]) reads it and runs the conversion chain ([`convert`]): downmix,
//! rubato `Fft` to 16 kHz, rubato `Async` sinc for drift correction, gain/mute, int16,
//! sample-exact chunker, timestamps. Device listing and opening: [`device`].
//!
//! Measured (tests/capture/audio_quality.rs, tests/capture/audio_drift.rs): 1 kHz from 44.1/48/96 kHz
//! stereo: THD+N -92.9 to -97.6 dB; 9 kHz at 48 kHz: int16 output all zero even with
//! +40 dB gain (> 130 dB down); 200 ppm fast device for a simulated hour: worst ts error
//! 4.5 ms, 0.04 ms at the end, drift measured 200.0 ppm. Drift stage alone at a ratio of
//! 1.0002 / 0.9998 / 1.004: THD+N -130.9 dB (1 kHz), -106.5 dB (6 kHz), -93.2 dB (7 kHz).
//!
//! benches/audio_chain.rs (one core, 48 kHz stereo → 16 kHz mono, 10 ms blocks, whole
//! chain; best of 3 runs on a shared 2-core machine): drift correction off 246 µs per second
//! of audio (4,070x real time), on 606 µs (1,650x); rubato `Fft` alone 198 µs (5,050x) and
//! libsoxr HQ 196 µs (5,100x) in the same runs, so this machine runs at about half the speed
//! of the one the issue measured (9,200x / 9,500x): the chain costs 1.15x rubato `Fft` alone.
//! Instructions (callgrind, per second of audio): off 3.06 M, on 5.64 M. Resampler delay
//! trimmed from the stamps: 5 ms (stage 1); the drift stage adds a 2 ms look-ahead and no
//! delay. Latency (`audio_chain --latency`, real pipeline fed in real time in 10 ms blocks):
//! the worst sample of a chunk leaves 1.0 ms (median) / 2.1 ms (p99) after the chunk length;
//! the last sample of a chunk waits for the next 10 ms block (the filters' look-ahead), so
//! its chunk leaves 11 ms (median) / 12 ms (p99) after it entered.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

/// Output sample rate of every chunk: the host assumes it whatever the header says.
pub const OUTPUT_RATE: u32 = 16_000;

/// One chunk of 16 kHz mono int16 audio, ready for the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioChunk {
    /// Per-stream counter: +1 per chunk, skipping the chunks a device outage lost.
    pub seq: u64,
    /// Unix time in milliseconds of the chunk's first sample.
    pub ts_ms: u64,
    /// 16 kHz mono samples.
    pub samples: Vec<i16>,
    /// Peak level of the chunk in dBFS (after gain).
    pub peak_dbfs: f32,
    /// RMS level of the chunk in dBFS (after gain).
    pub rms_dbfs: f32,
    /// Samples clipped to the int16 range in this chunk.
    pub clipped: u32,
    /// What the voice stage found in the chunk (None: no voice stage).
    pub voice: Option<voice::VoiceMeta>,
}

impl AudioChunk {
    /// A chunk of `samples` whose levels are not measured yet (offline runs, tests).
    pub const fn unmeasured(seq: u64, ts_ms: u64, samples: Vec<i16>) -> Self {
        Self {
            seq,
            ts_ms,
            samples,
            peak_dbfs: 0.0,
            rms_dbfs: 0.0,
            clipped: 0,
            voice: None,
        }
    }

    /// The payload bytes on the wire: signed 16-bit little-endian PCM.
    pub fn pcm_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.samples.len() * 2);
        for s in &self.samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }
}

/// Which audio source to capture, as given to `--audio`.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioSourceSpec {
    /// Follow the system default input device.
    Default,
    /// A device by stable id or by name.
    Device(String),
    /// A synthetic sine at this frequency in Hz, paced by the real clock.
    Tone(f32),
    /// A WAV file of any rate and channel count, paced by the real clock.
    Wav(PathBuf),
    /// What the default output device plays (the game's sound for the voice stage; not a
    /// microphone choice, so `--audio` does not parse it).
    Output,
    /// No audio.
    None,
}

/// Error parsing an [`AudioSourceSpec`].
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid audio source {0:?}: expected default, device:<id or name>, tone:<hz>, wav:<path> or none"
)]
pub struct ParseAudioSourceError(String);

impl FromStr for AudioSourceSpec {
    type Err = ParseAudioSourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseAudioSourceError(s.to_owned());
        match s {
            "default" => return Ok(Self::Default),
            "none" => return Ok(Self::None),
            _ => {}
        }
        let (kind, arg) = s.split_once(':').ok_or_else(err)?;
        match kind {
            "device" if !arg.is_empty() => Ok(Self::Device(arg.to_owned())),
            "tone" => {
                let hz: f32 = arg.parse().map_err(|_| err())?;
                if hz.is_finite() && hz > 0.0 && hz < OUTPUT_RATE as f32 / 2.0 {
                    Ok(Self::Tone(hz))
                } else {
                    Err(err())
                }
            }
            "wav" if !arg.is_empty() => Ok(Self::Wav(PathBuf::from(arg))),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for AudioSourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => write!(f, "default"),
            Self::Device(d) => write!(f, "device:{d}"),
            Self::Tone(hz) => write!(f, "tone:{hz}"),
            Self::Wav(p) => write!(f, "wav:{}", p.display()),
            Self::Output => write!(f, "output"),
            Self::None => write!(f, "none"),
        }
    }
}

/// Live settings of a running audio pipeline, shared with the UI and the control channel.
#[derive(Debug)]
pub struct AudioControl {
    chunk_ms: AtomicU32,
    gain_centi_db: AtomicI32,
    muted: AtomicBool,
    send_while_muted: AtomicBool,
    /// Push-to-talk state, attached once by the app (lock-free reads after that).
    ptt: OnceLock<Arc<gate::PttState>>,
}

impl AudioControl {
    /// Smallest and largest chunk length accepted.
    pub const CHUNK_MS_RANGE: std::ops::RangeInclusive<u32> = 10..=1000;

    /// New settings with this chunk length (clamped to [`Self::CHUNK_MS_RANGE`]).
    pub fn new(chunk_ms: u32) -> Arc<Self> {
        let c = Arc::new(Self {
            chunk_ms: AtomicU32::new(100),
            gain_centi_db: AtomicI32::new(0),
            muted: AtomicBool::new(false),
            send_while_muted: AtomicBool::new(true),
            ptt: OnceLock::new(),
        });
        c.set_chunk_ms(chunk_ms);
        c
    }
    /// Chunk length in milliseconds.
    pub fn chunk_ms(&self) -> u32 {
        self.chunk_ms.load(Ordering::Relaxed)
    }
    /// Sets the chunk length (clamped to [`Self::CHUNK_MS_RANGE`]); applies from the next chunk.
    pub fn set_chunk_ms(&self, ms: u32) {
        let ms = ms.clamp(*Self::CHUNK_MS_RANGE.start(), *Self::CHUNK_MS_RANGE.end());
        self.chunk_ms.store(ms, Ordering::Relaxed);
    }
    /// Input gain in dB.
    pub fn gain_db(&self) -> f32 {
        self.gain_centi_db.load(Ordering::Relaxed) as f32 / 100.0
    }
    /// Sets the input gain in dB (clamped to -60..=+40).
    pub fn set_gain_db(&self, db: f32) {
        let db = if db.is_finite() {
            db.clamp(-60.0, 40.0)
        } else {
            0.0
        };
        self.gain_centi_db
            .store((db * 100.0).round() as i32, Ordering::Relaxed);
    }
    /// Whether the input is muted.
    pub fn muted(&self) -> bool {
        self.muted.load(Ordering::Relaxed)
    }
    /// Mutes or unmutes.
    pub fn set_muted(&self, m: bool) {
        self.muted.store(m, Ordering::Relaxed);
    }
    /// Whether muted audio is still sent as silence (default) or not sent at all.
    pub fn send_while_muted(&self) -> bool {
        self.send_while_muted.load(Ordering::Relaxed)
    }
    /// Chooses whether muted audio is sent as silence.
    pub fn set_send_while_muted(&self, s: bool) {
        self.send_while_muted.store(s, Ordering::Relaxed);
    }
    /// Lets `ptt` gate this pipeline's chunks ([`gate`]). Only the first call counts; later
    /// calls with the same state are no-ops. Returns whether `ptt` is the attached state.
    pub fn attach_ptt(&self, ptt: &Arc<gate::PttState>) -> bool {
        Arc::ptr_eq(self.ptt.get_or_init(|| ptt.clone()), ptt)
    }
    /// The attached push-to-talk state, if any.
    pub fn ptt(&self) -> Option<&gate::PttState> {
        self.ptt.get().map(|p| &**p)
    }
}

pub mod convert;
pub mod device;
pub mod drift;
pub mod feed;
pub mod gate;
pub mod pipeline;
#[cfg(target_os = "linux")]
pub mod pulse;
pub mod source;
pub mod voice;

pub use device::{
    AudioDeviceInfo, DeviceSelector, default_change, format_devices, list_devices, match_listed,
};
pub use gate::{PttMode, PttState};
pub use pipeline::{AudioOptions, AudioPipeline, AudioStats, start_source};
pub use source::NativeFormat;

/// Errors starting or running an audio pipeline.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// `--audio none` was given to something that needs a source.
    #[error("no audio source (--audio none)")]
    NoSource,
    /// A WAV file cannot be used.
    #[error("cannot use WAV file {}: {message}", path.display())]
    Wav {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// An input device cannot be found or opened.
    #[error("audio device: {0}")]
    Device(String),
    /// The conversion chain refused the format.
    #[error(transparent)]
    Convert(#[from] convert::ConvertError),
    /// A thread could not be spawned.
    #[error("cannot spawn audio thread: {0}")]
    Thread(String),
}

/// Starts capturing `spec`: the pipeline calls `sink` on its worker thread with each chunk.
/// Drift correction is on; see [`start_with`] for options.
pub fn start(
    spec: &AudioSourceSpec,
    control: Arc<AudioControl>,
    sink: Box<dyn FnMut(AudioChunk) + Send>,
) -> Result<AudioPipeline, AudioError> {
    start_with(spec, control, sink, AudioOptions::default())
}

/// [`start`] with options.
pub fn start_with(
    spec: &AudioSourceSpec,
    control: Arc<AudioControl>,
    sink: Box<dyn FnMut(AudioChunk) + Send>,
    options: AudioOptions,
) -> Result<AudioPipeline, AudioError> {
    start_source(source_for(spec)?, control, sink, options)
}

fn source_for(spec: &AudioSourceSpec) -> Result<Box<dyn source::Source>, AudioError> {
    Ok(match spec {
        AudioSourceSpec::None => return Err(AudioError::NoSource),
        AudioSourceSpec::Tone(hz) => Box::new(source::ToneSource::new(*hz)),
        AudioSourceSpec::Wav(p) => Box::new(source::WavSource::new(p)?),
        AudioSourceSpec::Default => Box::new(device::CpalSource::new(DeviceSelector::Default)),
        AudioSourceSpec::Output => Box::new(device::CpalSource::new(DeviceSelector::Output)),
        AudioSourceSpec::Device(d) => {
            Box::new(device::CpalSource::new(DeviceSelector::IdOrName(d.clone())))
        }
    })
}

/// [`start_with`] with a voice stage ([`voice`]; `tap` sees its inputs, for recording): the game's sound captured from
/// `voice.game_audio` (its own pipeline, started first so a `wav:` reference and a `wav:`
/// microphone start together) is removed from the microphone, and each chunk says how much
/// of it is speech. Without anything to do (`voice.active()` false) this is [`start_with`].
/// A reference that cannot open is an error here; one lost later pauses removal (the
/// status says why) while the microphone keeps streaming, and is reopened every second.
pub fn start_voice(
    spec: &AudioSourceSpec,
    control: Arc<AudioControl>,
    sink: Box<dyn FnMut(AudioChunk) + Send>,
    options: AudioOptions,
    cfg: &voice::VoiceConfig,
    tap: Option<voice::VoiceTap>,
) -> Result<AudioPipeline, AudioError> {
    if !cfg.active() {
        return start_with(spec, control, sink, options);
    }
    let mic = source_for(spec)?;
    let (stage, sender) = voice::stage_with_tap(cfg, tap);
    let reference = match (cfg.game_audio.source()?, sender) {
        (Some(ref_spec), Some(tx)) => {
            let p = start_with(
                &ref_spec,
                AudioControl::new(10),
                Box::new(move |c| tx.send(c)),
                options,
            )
            .map_err(|e| match e {
                AudioError::Device(m) => AudioError::Device(format!("game audio: {m}")),
                other => other,
            })?;
            Some(p)
        }
        _ => None,
    };
    pipeline::start_source_voice(mic, control, sink, options, Some(stage), reference)
}
