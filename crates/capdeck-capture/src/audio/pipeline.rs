//! The running pipeline: a named worker thread that owns the source, reads its ring, runs
//! the conversion chain and calls the sink; it also reopens a lost device every second.

use super::convert::{Converter, ConverterConfig, SILENCE_DBFS};
use super::feed::{FeedReader, MonoClock};
use super::gate::PttGate;
use super::source::{NativeFormat, Running, Source};
use super::voice::{VoiceStage, VoiceStatus};
use super::{AudioChunk, AudioControl, AudioError, OUTPUT_RATE};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the worker sleeps when the ring is empty: bounds the added latency.
const POLL: Duration = Duration::from_millis(2);
/// Retry period after a device loss.
pub const RETRY: Duration = Duration::from_secs(1);
/// A device that delivers nothing for this long is treated as lost.
pub const STALL: Duration = Duration::from_secs(3);

/// Options of a pipeline beyond the source and the live controls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioOptions {
    /// Correct the device clock's drift against the wall clock (default on).
    pub drift_correction: bool,
}

impl Default for AudioOptions {
    fn default() -> Self {
        Self {
            drift_correction: true,
        }
    }
}

/// A snapshot of a pipeline's status and counters, for the UI, logs and `--json` status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioStats {
    /// What is being captured.
    pub source: String,
    /// "starting", "running", "device lost: … retrying every 1 s", "reopening: default input
    /// changed to …", "finished", "stopped", or "error: …".
    pub state: String,
    /// Native format of the source (None before it first opened).
    pub native: Option<NativeFormat>,
    /// Chunks completed (including those not sent while muted).
    pub chunks: u64,
    /// Next seq to be used.
    pub seq: u64,
    /// Frames dropped because the worker fell behind the callback (replaced by silence).
    pub overruns: u64,
    /// Number of callbacks that dropped frames.
    pub overrun_events: u64,
    /// Output samples clipped to the int16 range since the start.
    pub clipped: u64,
    /// Measured drift of the device clock against the wall clock (ppm, + = device fast).
    pub drift_ppm: f64,
    /// Whether drift is being corrected.
    pub drift_correction: bool,
    /// Filtered difference between the chunk stamps and the wall clock (ms).
    pub timing_error_ms: f64,
    /// Time from the last chunk's last sample (wall clock) to handing it to the sink (ms).
    pub latency_ms: f64,
    /// Peak level of the last chunk (dBFS).
    pub peak_dbfs: f32,
    /// RMS level of the last chunk (dBFS).
    pub rms_dbfs: f32,
    /// Whether the input is muted.
    pub muted: bool,
    /// Input gain (dB).
    pub gain_db: f32,
    /// Chunk length (ms).
    pub chunk_ms: u32,
    /// Times the source was lost.
    pub losses: u64,
    /// The voice stage (game audio removal, speech detection), when there is one.
    pub voice: Option<VoiceStatus>,
}

struct Shared {
    stop: AtomicBool,
    finished: AtomicBool,
    stats: Mutex<AudioStats>,
}

/// A running audio pipeline. Stops (and joins its threads) on [`Self::stop`] or drop.
pub struct AudioPipeline {
    shared: Arc<Shared>,
    control: Arc<AudioControl>,
    thread: Option<JoinHandle<()>>,
    /// The voice stage's status and the pipeline capturing its reference (stopped with this).
    voice: Option<Arc<Mutex<VoiceStatus>>>,
    reference: Option<Box<AudioPipeline>>,
}

impl AudioPipeline {
    /// A cheap snapshot of the status and counters.
    pub fn stats(&self) -> AudioStats {
        let mut s = capdeck_util::lock(&self.shared.stats).clone();
        s.muted = self.control.muted();
        s.gain_db = self.control.gain_db();
        s.chunk_ms = self.control.chunk_ms();
        if let Some(v) = &self.voice {
            let mut v = capdeck_util::lock(v).clone();
            if let Some(r) = &self.reference {
                let rs = r.stats();
                if rs.state != "running" {
                    v.state = format!("paused: game audio {}", rs.state);
                }
            }
            s.voice = Some(v);
        }
        s
    }

    /// Whether the source reached its end (a WAV file) and everything was flushed to the sink.
    pub fn finished(&self) -> bool {
        self.shared.finished.load(Ordering::Acquire)
    }

    /// Stops capture and joins the threads.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(r) = self.reference.take() {
            r.stop();
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            if let Some(w) = t.thread().name() {
                tracing::debug!("joining {w}");
            }
            let _ = t.join();
        }
    }
}

impl Drop for AudioPipeline {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Starts a pipeline on any [`Source`] (the entry point of tests with fake devices).
/// The source is opened once here, so a wrong path or device fails at once; later losses
/// are retried every second.
pub fn start_source(
    source: Box<dyn Source>,
    control: Arc<AudioControl>,
    sink: Box<dyn FnMut(AudioChunk) + Send>,
    options: AudioOptions,
) -> Result<AudioPipeline, AudioError> {
    start_source_voice(source, control, sink, options, None, None)
}

/// [`start_source`] with a voice stage between the converter and the push-to-talk gate,
/// and the pipeline that feeds the stage its reference (owned and stopped with this one).
pub fn start_source_voice(
    mut source: Box<dyn Source>,
    control: Arc<AudioControl>,
    sink: Box<dyn FnMut(AudioChunk) + Send>,
    options: AudioOptions,
    voice: Option<VoiceStage>,
    reference: Option<AudioPipeline>,
) -> Result<AudioPipeline, AudioError> {
    let clock = MonoClock::new();
    let unix_offset_ns = unix_now_ns() - clock.now_ns() as i128;
    let run = source.open(clock)?;
    let fmt = run.0.format().clone();
    let conv = Converter::new(ConverterConfig {
        in_rate: fmt.rate,
        channels: fmt.channels,
        drift_correction: options.drift_correction,
        unix_offset_ns,
    })?;
    let stats = AudioStats {
        source: source.describe(),
        state: "running".into(),
        native: Some(fmt),
        chunks: 0,
        seq: 0,
        overruns: 0,
        overrun_events: 0,
        clipped: 0,
        drift_ppm: 0.0,
        drift_correction: options.drift_correction,
        timing_error_ms: 0.0,
        latency_ms: 0.0,
        peak_dbfs: SILENCE_DBFS,
        rms_dbfs: SILENCE_DBFS,
        muted: control.muted(),
        gain_db: control.gain_db(),
        chunk_ms: control.chunk_ms(),
        losses: 0,
        voice: None,
    };
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        finished: AtomicBool::new(false),
        stats: Mutex::new(stats),
    });
    let voice_status = voice.as_ref().map(VoiceStage::status);
    let mut worker = Worker {
        source,
        control: control.clone(),
        sink,
        shared: shared.clone(),
        clock,
        unix_offset_ns,
        options,
        conv,
        run: Some(run),
        overruns_seen: 0,
        events_seen: 0,
        overruns_total: 0,
        events_total: 0,
        last_data_ns: clock.now_ns(),
        next_retry_ns: 0,
        next_change_check_ns: 0,
        latency_ms: 0.0,
        gate: PttGate::default(),
        voice,
    };
    let thread = std::thread::Builder::new()
        .name("capdeck-audio-worker".into())
        .spawn(move || worker.run())
        .map_err(|e| AudioError::Thread(e.to_string()))?;
    Ok(AudioPipeline {
        shared,
        control,
        thread: Some(thread),
        voice: voice_status,
        reference: reference.map(Box::new),
    })
}

fn unix_now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

struct Worker {
    source: Box<dyn Source>,
    control: Arc<AudioControl>,
    sink: Box<dyn FnMut(AudioChunk) + Send>,
    shared: Arc<Shared>,
    clock: MonoClock,
    unix_offset_ns: i128,
    options: AudioOptions,
    conv: Converter,
    run: Option<(Box<dyn Running>, FeedReader)>,
    /// Overrun frames / events already accounted from the current feed.
    overruns_seen: u64,
    events_seen: u64,
    /// Totals over all openings.
    overruns_total: u64,
    events_total: u64,
    last_data_ns: u64,
    next_retry_ns: u64,
    next_change_check_ns: u64,
    latency_ms: f64,
    gate: PttGate,
    voice: Option<VoiceStage>,
}

impl Worker {
    fn run(&mut self) {
        while !self.shared.stop.load(Ordering::Relaxed) {
            let busy = if self.run.is_some() {
                match self.pump() {
                    Ok(Flow::Continue(busy)) => busy,
                    Ok(Flow::Finished) => {
                        self.set_state("finished".into());
                        self.shared.finished.store(true, Ordering::Release);
                        return;
                    }
                    Err(e) => {
                        tracing::error!("audio pipeline: {e}");
                        self.set_state(format!("error: {e}"));
                        return;
                    }
                }
            } else {
                self.try_reopen();
                false
            };
            if !busy {
                std::thread::sleep(if self.run.is_some() {
                    POLL
                } else {
                    Duration::from_millis(20)
                });
            }
        }
        self.run = None;
        self.gate.flush(&self.control, &mut *self.sink);
        self.set_state("stopped".into());
    }

    /// Reads what the source delivered and converts it. `Continue(true)` when it did work.
    fn pump(&mut self) -> Result<Flow, AudioError> {
        let now = self.clock.now_ns();
        let Some((_, reader)) = self.run.as_mut() else {
            return Ok(Flow::Continue(false));
        };
        while let Ok((frames, t)) = reader.timing.pop() {
            self.conv.observe(frames, t);
        }
        let ch = reader.channels;
        let avail = reader.cons.slots() / ch * ch;
        let latency = &mut self.latency_ms;
        let offset = self.unix_offset_ns;
        let clock = self.clock;
        let sink = &mut self.sink;
        let (gate, control) = (&mut self.gate, &*self.control);
        let voice = &mut self.voice;
        let mut emit = |mut c: AudioChunk| {
            // the game's sound removed, speech measured (voice.rs)
            if let Some(v) = voice.as_mut() {
                v.process(&mut c);
            }
            // push-to-talk (gate.rs): may hold chunks back by the pre-roll
            gate.push(c, control, &mut |c: AudioChunk| {
                let end_ns = c.ts_ms as i128 * 1_000_000
                    + c.samples.len() as i128 * 1_000_000_000 / OUTPUT_RATE as i128;
                *latency = (clock.now_ns() as i128 + offset - end_ns) as f64 * 1e-6;
                sink(c);
            });
        };
        if avail > 0 {
            // `avail` came from `slots()` on this single consumer: the read cannot fail.
            let Ok(chunk) = reader.cons.read_chunk(avail) else {
                return Ok(Flow::Continue(false));
            };
            let (a, b) = chunk.as_slices();
            self.conv.push(a, b, now, &self.control, &mut emit)?;
            chunk.commit_all();
            self.last_data_ns = now;
        } else {
            self.conv.poll(now, &self.control, &mut emit)?;
        }
        let overruns = reader.shared.overrun_frames.load(Ordering::Relaxed);
        if overruns > self.overruns_seen {
            let missing = (overruns - self.overruns_seen) as usize;
            self.overruns_seen = overruns;
            self.overruns_total += missing as u64;
            self.conv
                .push_silence(missing, now, &self.control, &mut emit)?;
        }
        let lost = reader.shared.lost.load(Ordering::Acquire);
        let ended = reader.shared.ended.load(Ordering::Acquire) && reader.cons.is_empty();
        let stalled = now.saturating_sub(self.last_data_ns) > STALL.as_nanos() as u64;
        let mut changed = None;
        if now >= self.next_change_check_ns {
            self.next_change_check_ns = now + RETRY.as_nanos() as u64;
            changed = self.source.changed();
        }
        let why = if let Some(c) = changed.clone() {
            c
        } else if lost {
            reader
                .shared
                .error
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .unwrap_or_else(|| "device lost".into())
        } else if stalled {
            format!("no data for {} s", STALL.as_secs())
        } else {
            String::new()
        };
        let events = reader.shared.overrun_events.load(Ordering::Relaxed);
        self.events_total += events.saturating_sub(self.events_seen);
        self.events_seen = events;
        let lost = lost || changed.is_some();
        if ended || lost || stalled {
            self.conv.end_segment(now, &self.control, &mut emit)?;
        }
        self.publish();
        if ended {
            self.run = None;
            self.gate.flush(&self.control, &mut *self.sink);
            return Ok(Flow::Finished);
        }
        if lost || stalled {
            self.run = None;
            self.overruns_seen = 0;
            self.events_seen = 0;
            tracing::warn!(
                "audio source lost ({why}); retrying every {} s",
                RETRY.as_secs()
            );
            // a changed default is reopened at once; a lost device after the retry period
            self.next_retry_ns = if changed.is_some() {
                now
            } else {
                now + RETRY.as_nanos() as u64
            };
            if let Ok(mut s) = self.shared.stats.lock() {
                s.losses += 1;
                s.state = if changed.is_some() {
                    format!("reopening: {why}")
                } else {
                    format!("device lost: {why}; retrying every {} s", RETRY.as_secs())
                };
            }
        }
        Ok(Flow::Continue(avail > 0))
    }

    fn try_reopen(&mut self) {
        let now = self.clock.now_ns();
        if now < self.next_retry_ns {
            return;
        }
        self.next_retry_ns = now + RETRY.as_nanos() as u64;
        match self.source.open(self.clock) {
            Ok(run) => {
                let fmt = run.0.format().clone();
                if fmt.rate != self.conv.config().in_rate
                    || fmt.channels != self.conv.config().channels
                {
                    match Converter::new(ConverterConfig {
                        in_rate: fmt.rate,
                        channels: fmt.channels,
                        drift_correction: self.options.drift_correction,
                        unix_offset_ns: self.unix_offset_ns,
                    }) {
                        Ok(mut c) => {
                            c.inherit(&self.conv);
                            self.conv = c;
                        }
                        Err(e) => {
                            self.set_state(format!(
                                "device lost: reopened as {fmt}: {e}; retrying"
                            ));
                            return;
                        }
                    }
                }
                tracing::info!("audio source back: {} ({fmt})", self.source.describe());
                self.overruns_seen = 0;
                self.events_seen = 0;
                self.last_data_ns = now;
                self.run = Some(run);
                if let Ok(mut s) = self.shared.stats.lock() {
                    s.state = "running".into();
                    s.source = self.source.describe();
                    s.native = Some(fmt);
                }
            }
            Err(e) => {
                if let Ok(mut s) = self.shared.stats.lock() {
                    s.state = format!("device lost: {e}; retrying every {} s", RETRY.as_secs());
                }
            }
        }
    }

    fn publish(&mut self) {
        let c = self.conv.stats();
        if let Ok(mut s) = self.shared.stats.lock() {
            s.chunks = c.chunks;
            s.seq = c.next_seq;
            s.clipped = c.clipped;
            s.drift_ppm = c.drift_ppm;
            s.timing_error_ms = c.timing_error_ms;
            s.peak_dbfs = c.peak_dbfs;
            s.rms_dbfs = c.rms_dbfs;
            s.latency_ms = self.latency_ms;
            s.overruns = self.overruns_total;
            s.overrun_events = self.events_total;
        }
    }

    fn set_state(&self, st: String) {
        if let Ok(mut s) = self.shared.stats.lock() {
            s.state = st;
        }
    }
}

enum Flow {
    Continue(bool),
    Finished,
}
