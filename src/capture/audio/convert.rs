//! The conversion chain, pure code with no I/O and no clock: interleaved native frames in,
//! 16 kHz mono int16 chunks out.
//!
//! downmix → resample (rubato) → gain / mute → int16 (round, clip, count) → sample-exact
//! chunker → timestamps from the sample count, anchored once, with the device clock's drift
//! measured against the wall clock and corrected by an adjustable-ratio resampler.
//!
//! Resampling is done in two stages when drift correction is on:
//! 1. rubato `Fft` (fixed ratio, native rate → 16 kHz): fast, 9 kHz rejected by ~148 dB.
//! 2. rubato `Async` sinc at 16 kHz → 16 kHz × (1 ± drift): the adjustable stage only has to
//!    bend the ratio by a few hundred ppm on a signal that is already band-limited, so a
//!    short sinc keeps its quality. A single `Async` stage doing 48k→16k itself either costs
//!    far more per output sample or lets 9 kHz through at only ~-69 dB (its fast settings).
//!
//! With drift correction off, only stage 1 runs and drift is measured but not corrected.
//!
//! Time is given to the converter by the caller as *observations*: "by monotonic time `t`
//! the device had delivered `n` frames". That keeps this file clock-free, so tests can run a
//! simulated hour in seconds.

use super::{AudioChunk, AudioControl, OUTPUT_RATE};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Adjustable, Async, Fft, FixedAsync, FixedSync, Resampler, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};

/// Lowest level reported by the meter, in dBFS (digital silence).
pub const SILENCE_DBFS: f32 = -120.0;

/// Largest relative ratio change the drift stage may apply (±0.5 % = ±5000 ppm).
const MAX_DRIFT: f64 = 0.005;
/// Natural period of the drift control loop: slow enough to ignore callback jitter,
/// fast enough to hold ±20 ms with a few hundred ppm of drift.
const LOOP_OMEGA: f64 = 1.0 / 60.0;
/// How often the drift loop updates (seconds of observed time).
const LOOP_PERIOD_S: f64 = 0.1;
/// Time constant of the low-pass filter on the timing error (seconds).
const ERR_TAU_S: f64 = 1.0;

/// Static settings of a converter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConverterConfig {
    /// Native sample rate in Hz (1..=384000).
    pub in_rate: u32,
    /// Native channel count (1..=32), interleaved.
    pub channels: u16,
    /// Correct the device clock's drift against the wall clock (adjustable resampler).
    pub drift_correction: bool,
    /// Offset to add to a monotonic time in ns to get Unix time in ns (the one anchor to the
    /// wall clock).
    pub unix_offset_ns: i128,
}

/// Errors building the conversion chain.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// Format outside what the chain accepts.
    #[error("unsupported input format: {0}")]
    Format(String),
    /// rubato refused the settings.
    #[error("resampler: {0}")]
    Resampler(String),
}

/// Counters and levels of a converter.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConverterStats {
    /// Chunks completed (sent or, when muted without sending, skipped).
    pub chunks: u64,
    /// Next seq to be used.
    pub next_seq: u64,
    /// Samples clipped to the int16 range since the start.
    pub clipped: u64,
    /// Drift of the device clock against the wall clock, ppm (positive: device runs fast).
    pub drift_ppm: f64,
    /// Current timing error of the stamps against the wall clock, ms (after filtering).
    pub timing_error_ms: f64,
    /// Peak level of the last chunk, dBFS.
    pub peak_dbfs: f32,
    /// RMS level of the last chunk, dBFS.
    pub rms_dbfs: f32,
}

/// Drift loop: a PI controller on the timing error (stamps minus wall clock).
#[derive(Debug, Clone, Default)]
struct DriftLoop {
    err_acc_ns: f64,
    err_count: u32,
    last_update_ns: Option<u64>,
    err_filt_s: f64,
    integ: f64,
    /// First observation of the segment (frames, ns) for the raw drift estimate.
    first: Option<(u64, u64)>,
    raw_drift: f64,
}

/// Converts interleaved native frames to 16 kHz mono int16 chunks.
pub struct Converter {
    cfg: ConverterConfig,
    channels: usize,
    /// Mono samples waiting for stage 1 (or stage 2 if no stage 1).
    mono: Vec<f32>,
    stage1: Option<Fft<f32>>,
    /// Stage-1 output waiting for stage 2.
    mid: Vec<f32>,
    stage2: Option<Async<f32>>,
    scratch: Vec<f32>,
    /// Final (16 kHz, drift-corrected) samples of the current pass.
    out_buf: Vec<f32>,
    /// Resampler outputs still to be dropped (startup delay) in this segment.
    delay_left: usize,
    delay_total: usize,
    /// Device-domain frames fed into the chain in this segment.
    in_frames: u64,
    /// Chain outputs produced in this segment (before trimming the delay).
    out_raw: u64,
    /// Trimmed output samples emitted into chunks in this segment (the timeline index).
    out_trimmed: u64,
    /// Current relative ratio of the drift stage.
    ratio_rel: f64,
    // chunker
    chunk: Vec<i16>,
    chunk_len: usize,
    chunk_first_index: u64,
    chunk_clipped: u32,
    // timeline
    anchor_mono_ns: Option<f64>,
    next_seq: u64,
    /// Unix ns where the next chunk of the previous segment would have started.
    prev_segment_end_unix_ns: Option<i128>,
    segment_open: bool,
    drift: DriftLoop,
    stats: ConverterStats,
}

fn sinc_params() -> SincInterpolationParameters {
    // Settings of the drift stage, chosen with benches/audio_chain.rs: at ratio ~1 on a
    // 16 kHz signal already band-limited by stage 1.
    SincInterpolationParameters::new(128, WindowFunction::Blackman2)
        .oversampling_factor(256)
        .interpolation(SincInterpolationType::Linear)
}

impl Converter {
    /// Builds the chain for this native format.
    pub fn new(cfg: ConverterConfig) -> Result<Self, ConvertError> {
        if !(1..=384_000).contains(&cfg.in_rate) {
            return Err(ConvertError::Format(format!(
                "sample rate {} Hz",
                cfg.in_rate
            )));
        }
        if !(1..=32).contains(&cfg.channels) {
            return Err(ConvertError::Format(format!("{} channels", cfg.channels)));
        }
        let res = |e: rubato::ResamplerConstructionError| ConvertError::Resampler(e.to_string());
        let stage1 = if cfg.in_rate != OUTPUT_RATE {
            // 10 ms of input per call.
            let chunk = (cfg.in_rate as usize / 100).max(1);
            Some(
                Fft::<f32>::new(
                    cfg.in_rate as usize,
                    OUTPUT_RATE as usize,
                    chunk,
                    1,
                    FixedSync::Input,
                )
                .map_err(res)?,
            )
        } else {
            None
        };
        let stage2 = if cfg.drift_correction {
            Some(
                Async::<f32>::new_sinc(
                    1.0,
                    1.0 + 2.0 * MAX_DRIFT,
                    &sinc_params(),
                    (OUTPUT_RATE / 100) as usize,
                    1,
                    FixedAsync::Input,
                )
                .map_err(res)?,
            )
        } else {
            None
        };
        let max_out = stage1.as_ref().map_or(0, |s| s.output_frames_max())
            + stage2.as_ref().map_or(0, |s| s.output_frames_max());
        let delay_total = stage1.as_ref().map_or(0, |s| s.output_delay())
            + stage2.as_ref().map_or(0, |s| s.output_delay());
        let mut c = Self {
            cfg,
            channels: cfg.channels as usize,
            mono: Vec::with_capacity(cfg.in_rate as usize),
            stage1,
            mid: Vec::with_capacity(OUTPUT_RATE as usize),
            stage2,
            scratch: vec![0.0; max_out.max(16)],
            out_buf: Vec::with_capacity(OUTPUT_RATE as usize),
            delay_left: delay_total,
            delay_total,
            in_frames: 0,
            out_raw: 0,
            out_trimmed: 0,
            ratio_rel: 1.0,
            chunk: Vec::with_capacity(OUTPUT_RATE as usize),
            chunk_len: 1600,
            chunk_first_index: 0,
            chunk_clipped: 0,
            anchor_mono_ns: None,
            next_seq: 0,
            prev_segment_end_unix_ns: None,
            segment_open: true,
            drift: DriftLoop::default(),
            stats: ConverterStats {
                peak_dbfs: SILENCE_DBFS,
                rms_dbfs: SILENCE_DBFS,
                ..Default::default()
            },
        };
        c.chunk.clear();
        Ok(c)
    }

    /// Carries the stream's continuity (seq, where the last segment ended, counters, drift)
    /// over from the converter this one replaces (the device came back in another format).
    pub fn inherit(&mut self, old: &Converter) {
        self.next_seq = old.next_seq;
        self.prev_segment_end_unix_ns = old.prev_segment_end_unix_ns;
        self.stats = old.stats;
        self.drift.integ = old.drift.integ;
        self.ratio_rel = old.ratio_rel;
        if let Some(s) = self.stage2.as_mut() {
            let _ = s.set_resample_ratio_relative(self.ratio_rel, false);
        }
        self.segment_open = false;
    }

    /// The static settings.
    pub fn config(&self) -> &ConverterConfig {
        &self.cfg
    }

    /// Total delay of the resampler stages, in 16 kHz samples (trimmed from the output).
    pub fn delay_samples(&self) -> usize {
        self.delay_total
    }

    /// Counters and levels.
    pub fn stats(&self) -> ConverterStats {
        self.stats
    }

    /// Current relative ratio of the drift stage (1.0 when off).
    pub fn ratio_rel(&self) -> f64 {
        self.ratio_rel
    }

    /// Whether a segment is open (data arrived since the last [`Self::end_segment`]).
    pub fn segment_open(&self) -> bool {
        self.segment_open
    }

    fn nominal_ratio(&self) -> f64 {
        OUTPUT_RATE as f64 / self.cfg.in_rate as f64
    }

    fn start_segment_if_needed(&mut self) {
        if self.segment_open {
            return;
        }
        self.segment_open = true;
        if let Some(s) = self.stage1.as_mut() {
            s.reset();
        }
        if let Some(s) = self.stage2.as_mut() {
            s.reset();
            // keep the drift estimate: the same device comes back with the same clock
            let _ = s.set_resample_ratio_relative(self.ratio_rel, false);
        }
        self.mono.clear();
        self.mid.clear();
        self.delay_left = self.delay_total;
        self.in_frames = 0;
        self.out_raw = 0;
        self.out_trimmed = 0;
        self.chunk.clear();
        self.chunk_clipped = 0;
        self.anchor_mono_ns = None;
        self.drift.first = None;
        self.drift.err_acc_ns = 0.0;
        self.drift.err_count = 0;
        self.drift.last_update_ns = None;
        self.drift.err_filt_s = 0.0;
    }

    /// A timing observation: by monotonic time `t_ns` the device had delivered `frames`
    /// frames in this segment (counting frames lost to overruns).
    pub fn observe(&mut self, frames: u64, t_ns: u64) {
        self.start_segment_if_needed();
        let rate = self.cfg.in_rate as f64;
        let anchor = *self
            .anchor_mono_ns
            .get_or_insert_with(|| t_ns as f64 - frames as f64 * 1e9 / rate);
        let first = *self.drift.first.get_or_insert((frames, t_ns));
        // Where the timeline puts frame `frames`: outputs so far plus the pending input
        // at the current ratio, minus the resampler delay.
        let r = self.nominal_ratio() * self.ratio_rel;
        let j = self.out_raw as f64 - self.delay_total as f64
            + (frames as f64 - self.in_frames as f64) * r;
        let stamped_ns = j * 1e9 / OUTPUT_RATE as f64;
        let wall_ns = t_ns as f64 - anchor;
        self.drift.err_acc_ns += stamped_ns - wall_ns;
        self.drift.err_count += 1;

        let elapsed = t_ns.saturating_sub(first.1) as f64 * 1e-9;
        if elapsed >= 10.0 {
            let dev_s = (frames - first.0.min(frames)) as f64 / rate;
            self.drift.raw_drift = dev_s / elapsed - 1.0;
        }
        let last = *self.drift.last_update_ns.get_or_insert(t_ns);
        let dt = t_ns.saturating_sub(last) as f64 * 1e-9;
        if dt >= LOOP_PERIOD_S {
            let e = self.drift.err_acc_ns / self.drift.err_count as f64 * 1e-9;
            self.drift.err_acc_ns = 0.0;
            self.drift.err_count = 0;
            self.drift.last_update_ns = Some(t_ns);
            let a = (dt / ERR_TAU_S).min(1.0);
            self.drift.err_filt_s += a * (e - self.drift.err_filt_s);
            self.stats.timing_error_ms = self.drift.err_filt_s * 1e3;
            if let Some(s2) = self.stage2.as_mut() {
                let kp = 2.0 * LOOP_OMEGA;
                let ki = LOOP_OMEGA * LOOP_OMEGA;
                let ef = self.drift.err_filt_s;
                self.drift.integ = (self.drift.integ + ki * ef * dt).clamp(-MAX_DRIFT, MAX_DRIFT);
                let u = (kp * ef + self.drift.integ).clamp(-2.0 * MAX_DRIFT, 2.0 * MAX_DRIFT);
                self.ratio_rel = 1.0 - u;
                let _ = s2.set_resample_ratio_relative(self.ratio_rel, true);
                self.stats.drift_ppm = self.drift.integ * 1e6;
            } else {
                self.stats.drift_ppm = self.drift.raw_drift * 1e6;
            }
        }
    }

    /// Feeds interleaved frames (two slices, as a ring buffer hands them out; each holds
    /// whole frames). `now_ns` anchors the timeline if no observation did yet.
    pub fn push(
        &mut self,
        a: &[f32],
        b: &[f32],
        now_ns: u64,
        control: &AudioControl,
        sink: &mut dyn FnMut(AudioChunk),
    ) -> Result<(), ConvertError> {
        self.start_segment_if_needed();
        for part in [a, b] {
            let ch = self.channels;
            if ch == 1 {
                self.mono.extend_from_slice(part);
            } else {
                let k = 1.0 / ch as f32;
                self.mono
                    .extend(part.chunks_exact(ch).map(|f| f.iter().sum::<f32>() * k));
            }
            self.in_frames += (part.len() / ch) as u64;
        }
        self.run(now_ns, control, sink)
    }

    /// Feeds `frames` frames of silence (frames an overrun dropped: keeps the timeline).
    pub fn push_silence(
        &mut self,
        frames: usize,
        now_ns: u64,
        control: &AudioControl,
        sink: &mut dyn FnMut(AudioChunk),
    ) -> Result<(), ConvertError> {
        self.start_segment_if_needed();
        self.mono.resize(self.mono.len() + frames, 0.0);
        self.in_frames += frames as u64;
        self.run(now_ns, control, sink)
    }

    /// Ends the segment (end of file, or device lost): flushes the resamplers so the last
    /// input samples come out, pads the last chunk with silence to full length and emits it.
    /// The next data starts a new segment with a new anchor; its seq skips the chunks the gap
    /// would have held.
    pub fn end_segment(
        &mut self,
        now_ns: u64,
        control: &AudioControl,
        sink: &mut dyn FnMut(AudioChunk),
    ) -> Result<(), ConvertError> {
        if !self.segment_open {
            return Ok(());
        }
        let expected =
            (self.in_frames as f64 * self.nominal_ratio() * self.ratio_rel).round() as u64;
        let mut guard = 0;
        while self.out_trimmed + (self.chunk.len() as u64) < expected && guard < 10_000 {
            guard += 1;
            let need = self
                .stage1
                .as_ref()
                .map(|s| s.input_frames_next())
                .or_else(|| self.stage2.as_ref().map(|s| s.input_frames_next()))
                .unwrap_or(0);
            if need == 0 {
                break;
            }
            self.mono.resize(self.mono.len() + need, 0.0);
            self.resample_available()?;
            self.emit_samples(expected, now_ns, control, sink);
        }
        // whatever is left (direct path, or rounding) goes out, up to `expected`
        self.resample_available()?;
        self.emit_samples(expected, now_ns, control, sink);
        if !self.chunk.is_empty() {
            let missing = self.chunk_len - self.chunk.len();
            self.chunk.resize(self.chunk_len, 0);
            self.out_trimmed += missing as u64;
            self.finish_chunk(now_ns, control, sink);
        }
        self.prev_segment_end_unix_ns = Some(self.unix_ns_of(self.out_trimmed, now_ns));
        self.segment_open = false;
        Ok(())
    }

    fn run(
        &mut self,
        now_ns: u64,
        control: &AudioControl,
        sink: &mut dyn FnMut(AudioChunk),
    ) -> Result<(), ConvertError> {
        self.resample_available()?;
        self.emit_samples(u64::MAX, now_ns, control, sink);
        Ok(())
    }

    /// Runs stage 1 on every whole input block available, into `mid`.
    fn resample_available(&mut self) -> Result<(), ConvertError> {
        let err = |e: rubato::ResampleError| ConvertError::Resampler(e.to_string());
        // stage 1: mono → mid
        match self.stage1.as_mut() {
            Some(s1) => {
                run_stage(s1, &mut self.mono, &mut self.mid, &mut self.scratch).map_err(err)?
            }
            None => {
                self.mid.extend_from_slice(&self.mono);
                self.mono.clear();
            }
        }
        Ok(())
    }

    /// Runs stage 2 (if any) and turns its output into int16 chunks, emitting at most
    /// `limit` trimmed samples in this segment.
    fn emit_samples(
        &mut self,
        limit: u64,
        now_ns: u64,
        control: &AudioControl,
        sink: &mut dyn FnMut(AudioChunk),
    ) {
        // final samples end up in `out`
        let mut out = std::mem::take(&mut self.out_buf);
        out.clear();
        match self.stage2.as_mut() {
            Some(s2) => {
                if let Err(e) = run_stage(s2, &mut self.mid, &mut out, &mut self.scratch) {
                    tracing::warn!("drift stage: {e}");
                }
            }
            None => {
                out.extend_from_slice(&self.mid);
                self.mid.clear();
            }
        }
        self.out_raw += out.len() as u64;
        let mut from = 0;
        if self.delay_left > 0 {
            let d = self.delay_left.min(out.len());
            self.delay_left -= d;
            from = d;
        }
        let gain = db_to_lin(control.gain_db());
        let muted = control.muted();
        for &x in &out[from..] {
            if self.out_trimmed + self.chunk.len() as u64 >= limit {
                break;
            }
            if self.chunk.is_empty() {
                self.chunk_len = control.chunk_ms() as usize * OUTPUT_RATE as usize / 1000;
                self.chunk_first_index = self.out_trimmed;
            }
            let v = if muted { 0.0 } else { x * gain * 32768.0 };
            let (s, clipped) = to_i16(v);
            self.chunk_clipped += clipped as u32;
            self.chunk.push(s);
            if self.chunk.len() == self.chunk_len {
                self.out_trimmed += self.chunk_len as u64;
                self.finish_chunk(now_ns, control, sink);
            }
        }
        self.out_buf = out;
    }

    fn unix_ns_of(&self, index: u64, now_ns: u64) -> i128 {
        let anchor = self
            .anchor_mono_ns
            .unwrap_or(now_ns as f64 - index as f64 * 1e9 / OUTPUT_RATE as f64);
        (anchor + index as f64 * 1e9 / OUTPUT_RATE as f64) as i128 + self.cfg.unix_offset_ns
    }

    fn finish_chunk(
        &mut self,
        now_ns: u64,
        control: &AudioControl,
        sink: &mut dyn FnMut(AudioChunk),
    ) {
        if self.anchor_mono_ns.is_none() {
            // no observation yet: the chunk just completed, so its end is about now
            let end = self.chunk_first_index + self.chunk.len() as u64;
            self.anchor_mono_ns = Some(now_ns as f64 - end as f64 * 1e9 / OUTPUT_RATE as f64);
        }
        let ts_ns = self.unix_ns_of(self.chunk_first_index, now_ns);
        if self.chunk_first_index == 0
            && let Some(prev_end) = self.prev_segment_end_unix_ns.take()
        {
            // a gap (device outage): skip the seq numbers of the chunks it would have held
            let chunk_ns = self.chunk_len as i128 * 1_000_000_000 / OUTPUT_RATE as i128;
            let gap = ts_ns - prev_end;
            if gap > 0 {
                self.next_seq += ((gap + chunk_ns / 2) / chunk_ns) as u64;
            }
        }
        let (peak, rms) = levels(&self.chunk);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.chunks += 1;
        self.stats.next_seq = self.next_seq;
        self.stats.clipped += self.chunk_clipped as u64;
        self.stats.peak_dbfs = peak;
        self.stats.rms_dbfs = rms;
        let clipped = self.chunk_clipped;
        self.chunk_clipped = 0;
        let samples = std::mem::replace(&mut self.chunk, Vec::with_capacity(self.chunk_len));
        if control.muted() && !control.send_while_muted() {
            self.chunk = samples;
            self.chunk.clear();
            return;
        }
        sink(AudioChunk {
            seq,
            ts_ms: (ts_ns.max(0) / 1_000_000) as u64,
            samples,
            peak_dbfs: peak,
            rms_dbfs: rms,
            clipped,
        });
    }
}

/// Runs a resampler on every whole input block of `input`, appending to `out`.
fn run_stage(
    r: &mut dyn Resampler<f32>,
    input: &mut Vec<f32>,
    out: &mut Vec<f32>,
    scratch: &mut Vec<f32>,
) -> Result<(), rubato::ResampleError> {
    let mut used = 0;
    loop {
        let need = r.input_frames_next();
        if input.len() - used < need || need == 0 {
            break;
        }
        let max_out = r.output_frames_max();
        if scratch.len() < max_out {
            scratch.resize(max_out, 0.0);
        }
        let inp = InterleavedSlice::new(&input[used..used + need], 1, need)
            .expect("slice length matches");
        let mut outp =
            InterleavedSlice::new_mut(&mut scratch[..max_out], 1, max_out).expect("sized above");
        let (nin, nout) = r.process_into_buffer(&inp, &mut outp, None)?;
        used += nin;
        out.extend_from_slice(&scratch[..nout]);
    }
    input.drain(..used);
    Ok(())
}

/// dB to a linear factor.
pub fn db_to_lin(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Rounds a value already scaled to int16 units, clipping to the int16 range.
/// Returns the sample and whether it was clipped.
#[inline]
pub fn to_i16(v: f32) -> (i16, bool) {
    let r = v.round();
    if r > i16::MAX as f32 {
        (i16::MAX, true)
    } else if r < i16::MIN as f32 {
        (i16::MIN, true)
    } else if r.is_nan() {
        (0, false)
    } else {
        (r as i16, false)
    }
}

/// Peak and RMS of int16 samples in dBFS (full scale = 32768), floored at [`SILENCE_DBFS`].
pub fn levels(samples: &[i16]) -> (f32, f32) {
    if samples.is_empty() {
        return (SILENCE_DBFS, SILENCE_DBFS);
    }
    let mut peak = 0i32;
    let mut sum = 0f64;
    for &s in samples {
        peak = peak.max((s as i32).abs());
        sum += (s as f64) * (s as f64);
    }
    let db = |x: f64| {
        if x > 0.0 {
            ((20.0 * (x / 32768.0).log10()) as f32).max(SILENCE_DBFS)
        } else {
            SILENCE_DBFS
        }
    };
    (db(peak as f64), db((sum / samples.len() as f64).sqrt()))
}
