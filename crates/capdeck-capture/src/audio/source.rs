//! Sources behind one trait: a cpal device, a synthetic tone, a WAV file (and fake devices in
//! tests). Each one writes its native frames into a [`Feed`] from its "callback" (the real
//! device callback, or a pacer thread clocked by the real clock); everything after the ring is
//! the same path for all of them.

use super::AudioError;
use super::feed::{Feed, FeedReader, MonoClock, feed};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Native format of an open source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NativeFormat {
    /// Sample rate in Hz.
    pub rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// Sample format, e.g. "f32", "i16".
    pub format: String,
}

impl std::fmt::Display for NativeFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} Hz, {} ch, {}", self.rate, self.channels, self.format)
    }
}

/// Seconds of audio the ring holds: the worker may stall this long before overruns.
pub const RING_SECONDS: f32 = 2.0;

/// An open source delivering into its feed. Dropping it stops delivery (joins any thread).
pub trait Running: Send {
    /// Native format being delivered.
    fn format(&self) -> &NativeFormat;
}

/// Something that can be opened (and reopened after a loss) to deliver audio.
pub trait Source: Send {
    /// Human-readable description (for status).
    fn describe(&self) -> String;
    /// Opens the source and starts delivering into a new ring; returns the running handle
    /// and the reader side of the ring.
    fn open(&mut self, clock: MonoClock) -> Result<(Box<dyn Running>, FeedReader), AudioError>;
    /// Called about every second (on the worker thread, never in a callback) while open: `Some(reason)` when the source should be reopened
    /// (e.g. it follows the system default and the default changed).
    fn changed(&mut self) -> Option<String> {
        None
    }
}

// ---------------------------------------------------------------------------------------
// Pacer: a thread that produces blocks of 10 ms clocked by the real clock.

/// Produces blocks of interleaved samples for a pacer.
pub trait BlockGen: Send + 'static {
    /// Fills `buf` (interleaved, whole frames) with up to `buf.len()` samples; returns how
    /// many were written. Fewer than asked means the end was reached.
    fn fill(&mut self, buf: &mut [f32]) -> Result<usize, String>;
}

/// A running pacer thread.
pub struct Pacer {
    format: NativeFormat,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pacer {
    /// Starts a pacer thread delivering `gen`'s blocks of 10 ms in real time into `feed`.
    pub fn start(
        name: &str,
        format: NativeFormat,
        mut generator: impl BlockGen,
        mut feed: Feed,
    ) -> Result<Self, AudioError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let ch = format.channels as usize;
        let block_frames = (format.rate as usize / 100).max(1);
        let block_dur = Duration::from_secs_f64(block_frames as f64 / format.rate as f64);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut buf = vec![0f32; block_frames * ch];
                let start = Instant::now();
                let mut n: u32 = 0;
                while !stop2.load(Ordering::Relaxed) {
                    let got = match generator.fill(&mut buf) {
                        Ok(g) => g,
                        Err(e) => {
                            feed.shared().set_lost(e);
                            return;
                        }
                    };
                    feed.push(&buf[..got - got % ch]);
                    if got < buf.len() {
                        feed.shared().ended.store(true, Ordering::Release);
                        return;
                    }
                    n = n.wrapping_add(1);
                    // sleep to the next deadline on the real clock (no accumulated error)
                    let deadline = start + block_dur * n;
                    while !stop2.load(Ordering::Relaxed) {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
                    }
                }
            })
            .map_err(|e| AudioError::Thread(e.to_string()))?;
        Ok(Self {
            format,
            stop,
            thread: Some(thread),
        })
    }
}

impl Running for Pacer {
    fn format(&self) -> &NativeFormat {
        &self.format
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tone

/// Rate of the synthetic tone (native-like).
pub const TONE_RATE: u32 = 48_000;
/// Channels of the synthetic tone.
pub const TONE_CHANNELS: u16 = 2;
/// Amplitude of the synthetic tone (-6 dBFS).
pub const TONE_AMPLITUDE: f32 = 0.5;

/// A sine at 48 kHz stereo f32, -6 dBFS, paced by the real clock.
pub struct ToneSource {
    hz: f32,
}

impl ToneSource {
    /// A tone at `hz`.
    pub fn new(hz: f32) -> Self {
        Self { hz }
    }
}

struct ToneGen {
    phase: f64,
    step: f64,
    ch: usize,
}

impl BlockGen for ToneGen {
    fn fill(&mut self, buf: &mut [f32]) -> Result<usize, String> {
        for frame in buf.chunks_exact_mut(self.ch) {
            let v = (self.phase.sin() as f32) * TONE_AMPLITUDE;
            frame.fill(v);
            self.phase += self.step;
            if self.phase > std::f64::consts::TAU {
                self.phase -= std::f64::consts::TAU;
            }
        }
        Ok(buf.len())
    }
}

impl Source for ToneSource {
    fn describe(&self) -> String {
        format!(
            "tone {} Hz (synthetic, {TONE_RATE} Hz {TONE_CHANNELS} ch f32)",
            self.hz
        )
    }
    fn open(&mut self, clock: MonoClock) -> Result<(Box<dyn Running>, FeedReader), AudioError> {
        let format = NativeFormat {
            rate: TONE_RATE,
            channels: TONE_CHANNELS,
            format: "f32".into(),
        };
        let (f, r) = feed(TONE_RATE, TONE_CHANNELS, RING_SECONDS, clock);
        let generator = ToneGen {
            phase: 0.0,
            step: std::f64::consts::TAU * self.hz as f64 / TONE_RATE as f64,
            ch: TONE_CHANNELS as usize,
        };
        let p = Pacer::start("capdeck-audio-tone", format, generator, f)?;
        Ok((Box::new(p), r))
    }
}

// ---------------------------------------------------------------------------------------
// WAV

/// A WAV file of any rate, channel count and PCM format, paced by the real clock.
pub struct WavSource {
    path: PathBuf,
    opened_once: bool,
}

impl WavSource {
    /// Checks the file can be read and is a format we convert; the error says why not.
    pub fn new(path: &Path) -> Result<Self, AudioError> {
        let _ = open_wav(path)?;
        Ok(Self {
            path: path.to_owned(),
            opened_once: false,
        })
    }
}

fn open_wav(
    path: &Path,
) -> Result<
    (
        hound::WavReader<std::io::BufReader<std::fs::File>>,
        NativeFormat,
    ),
    AudioError,
> {
    let err = |m: String| AudioError::Wav {
        path: path.to_owned(),
        message: m,
    };
    let r = hound::WavReader::open(path).map_err(|e| err(e.to_string()))?;
    let s = r.spec();
    if s.channels == 0 || s.channels > 32 {
        return Err(err(format!("{} channels (1 to 32 supported)", s.channels)));
    }
    if !(1000..=384_000).contains(&s.sample_rate) {
        return Err(err(format!(
            "sample rate {} Hz (1 kHz to 384 kHz supported)",
            s.sample_rate
        )));
    }
    let format = match (s.sample_format, s.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => "f32".to_string(),
        (hound::SampleFormat::Int, b @ (8 | 16 | 24 | 32)) => format!("i{b}"),
        (f, b) => return Err(err(format!("unsupported sample format {f:?} {b} bit"))),
    };
    Ok((
        r,
        NativeFormat {
            rate: s.sample_rate,
            channels: s.channels,
            format,
        },
    ))
}

struct WavGen {
    reader: hound::WavReader<std::io::BufReader<std::fs::File>>,
    float: bool,
    scale: f32,
}

impl BlockGen for WavGen {
    fn fill(&mut self, buf: &mut [f32]) -> Result<usize, String> {
        let mut n = 0;
        if self.float {
            for (slot, s) in buf.iter_mut().zip(self.reader.samples::<f32>()) {
                *slot = s.map_err(|e| format!("reading WAV: {e}"))?;
                n += 1;
            }
        } else {
            for (slot, s) in buf.iter_mut().zip(self.reader.samples::<i32>()) {
                *slot = s.map_err(|e| format!("reading WAV: {e}"))? as f32 * self.scale;
                n += 1;
            }
        }
        Ok(n)
    }
}

impl Source for WavSource {
    fn describe(&self) -> String {
        format!("wav {}", self.path.display())
    }
    fn open(&mut self, clock: MonoClock) -> Result<(Box<dyn Running>, FeedReader), AudioError> {
        if self.opened_once {
            // a file is played once: it does not come back after it failed
            return Err(AudioError::Wav {
                path: self.path.clone(),
                message: "file already played".into(),
            });
        }
        self.opened_once = true;
        let (reader, format) = open_wav(&self.path)?;
        let spec = reader.spec();
        let generator = WavGen {
            float: spec.sample_format == hound::SampleFormat::Float,
            scale: 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32,
            reader,
        };
        let (f, r) = feed(format.rate, format.channels, RING_SECONDS, clock);
        let p = Pacer::start("capdeck-audio-wav", format, generator, f)?;
        Ok((Box::new(p), r))
    }
}
