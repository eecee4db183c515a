//! The conversion chain, pure code with no I/O and no clock: interleaved native frames in,
//! 16 kHz mono int16 chunks out.
//!
//! downmix → resample (rubato) → gain / mute → int16 (round, clip, count) → sample-exact
//! chunker → timestamps from the sample count, anchored once, with the device clock's drift
//! measured against the wall clock and corrected by an adjustable-ratio resampler.
//!
//! Resampling is done in two stages when drift correction is on:
//! 1. rubato `Fft` (fixed ratio, native rate → 16 kHz): fast, 9 kHz rejected by ~148 dB.
//! 2. [`DriftResampler`] at 16 kHz → 16 kHz × (1 ± drift): the adjustable stage only has to
//!    bend the ratio by a few hundred ppm on a signal that is already band-limited, so a
//!    short sinc keeps its quality (see [`super::drift`] for why it is not rubato's `Async`).
//!    A single `Async` stage doing 48k→16k itself either costs far more per output sample
//!    or lets 9 kHz through at only ~-69 dB (its fast settings).
//!
//! With drift correction off, only stage 1 runs and drift is measured but not corrected.
//!
//! Time is given to the converter by the caller as *observations*: "by monotonic time `t`
//! the device had delivered `n` frames". That keeps this file clock-free, so tests can run a
//! simulated hour in seconds.

use super::drift::DriftResampler;
use super::{AudioChunk, AudioControl, OUTPUT_RATE};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

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
/// After the first timing observation of a segment, chunks are held this long so a burst
/// of backlog (delivered over a few ms) is fully seen before the anchor is fixed.
const ANCHOR_SETTLE_NS: u64 = 100_000_000;
/// Window of the timing-error maximum (seconds): longer than the burst period of bursty
/// sources (ALSA's pulse plugin delivers a sine source every 2 s).
const ERR_WINDOW_S: f64 = 5.0;
/// Entries of the sliding window (one per loop period).
const ERR_WINDOW_LEN: usize = (ERR_WINDOW_S / LOOP_PERIOD_S) as usize;

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
///
/// A callback runs at or after the moment its last frame was captured, never before, so
/// each observation bounds the error from one side: `stamped - observed <= true error`.
/// The loop therefore takes the *maximum* error over a sliding window (callback jitter and
/// bursty delivery only ever push observations late), low-pass filters it, and drives it to
/// zero with a critically damped PI controller whose integral is the measured drift.
#[derive(Debug, Clone, Default)]
struct DriftLoop {
    /// Largest error seen in the current loop period (ns).
    period_max_ns: Option<f64>,
    /// Maxima of the last periods (ring of ERR_WINDOW_LEN).
    window: std::collections::VecDeque<f64>,
    last_update_ns: Option<u64>,
    err_filt_s: f64,
    integ: f64,
    /// First filtered error of the segment (t ns, error s) for the uncorrected drift.
    first: Option<(u64, f64)>,
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
    stage2: Option<DriftResampler>,
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
    anchor_frozen: bool,
    settle_until_ns: Option<u64>,
    next_seq: u64,
    /// Unix ns where the next chunk of the previous segment would have started.
    prev_segment_end_unix_ns: Option<i128>,
    segment_open: bool,
    drift: DriftLoop,
    stats: ConverterStats,
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
            Some(DriftResampler::new())
        } else {
            None
        };
        let max_out = stage1.as_ref().map_or(0, |s| s.output_frames_max());
        // the drift stage has no delay (only a look-ahead)
        let delay_total = stage1.as_ref().map_or(0, |s| s.output_delay());
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
            anchor_frozen: false,
            settle_until_ns: None,
            next_seq: 0,
            prev_segment_end_unix_ns: None,
            segment_open: true,
            drift: DriftLoop {
                window: std::collections::VecDeque::with_capacity(ERR_WINDOW_LEN),
                ..Default::default()
            },
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
            s.set_ratio(self.ratio_rel);
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
            // keeps the ratio: the same device comes back with the same clock
            s.reset();
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
        self.anchor_frozen = false;
        self.settle_until_ns = None;
        self.drift.first = None;
        self.drift.period_max_ns = None;
        self.drift.window.clear();
        self.drift.last_update_ns = None;
        self.drift.err_filt_s = 0.0;
    }

    /// A timing observation: by monotonic time `t_ns` the device had delivered `frames`
    /// frames in this segment (counting frames lost to overruns).
    pub fn observe(&mut self, frames: u64, t_ns: u64) {
        self.start_segment_if_needed();
        let rate = self.cfg.in_rate as f64;
        // The anchor (monotonic time of the segment's first frame) is the tightest bound
        // the observations give, until the first chunk goes out; then it is frozen.
        let bound = t_ns as f64 - frames as f64 * 1e9 / rate;
        self.settle_until_ns.get_or_insert(t_ns + ANCHOR_SETTLE_NS);
        let anchor = match self.anchor_mono_ns {
            Some(a) if self.anchor_frozen || a <= bound => a,
            _ => {
                self.anchor_mono_ns = Some(bound);
                bound
            }
        };
        // Where the timeline puts frame `frames`. The resamplers have produced `out_raw`
        // samples for the input they consumed: the first `delay_total` were start-up delay
        // (trimmed), so the consumed input ends at trimmed index `out_raw`. Add what waits
        // between the stages and in the drift stage's look-ahead, and what waits before
        // stage 1 (and what the callback delivered since), at the current ratio.
        let r = self.nominal_ratio() * self.ratio_rel;
        let consumed = self.in_frames as f64 - self.mono.len() as f64;
        let pending_mid = self.mid.len() as f64 + self.stage2.as_ref().map_or(0.0, |s| s.pending());
        let j = self.out_raw as f64 + pending_mid * self.ratio_rel + (frames as f64 - consumed) * r;
        let stamped_ns = j * 1e9 / OUTPUT_RATE as f64;
        let e_ns = stamped_ns - (t_ns as f64 - anchor);
        self.drift.period_max_ns = Some(self.drift.period_max_ns.map_or(e_ns, |m| m.max(e_ns)));

        let last = *self.drift.last_update_ns.get_or_insert(t_ns);
        let dt = t_ns.saturating_sub(last) as f64 * 1e-9;
        if dt < LOOP_PERIOD_S {
            return;
        }
        self.drift.last_update_ns = Some(t_ns);
        let m = self.drift.period_max_ns.take().unwrap_or(e_ns);
        if self.drift.window.len() == ERR_WINDOW_LEN {
            self.drift.window.pop_front();
        }
        self.drift.window.push_back(m);
        let e = self.drift.window.iter().copied().fold(f64::MIN, f64::max) * 1e-9;
        let a = (dt / ERR_TAU_S).min(1.0);
        self.drift.err_filt_s += a * (e - self.drift.err_filt_s);
        let ef = self.drift.err_filt_s;
        self.stats.timing_error_ms = ef * 1e3;
        match self.stage2.as_mut() {
            Some(s2) => {
                let kp = 2.0 * LOOP_OMEGA;
                let ki = LOOP_OMEGA * LOOP_OMEGA;
                self.drift.integ = (self.drift.integ + ki * ef * dt).clamp(-MAX_DRIFT, MAX_DRIFT);
                let u = (kp * ef + self.drift.integ).clamp(-2.0 * MAX_DRIFT, 2.0 * MAX_DRIFT);
                self.ratio_rel = 1.0 - u;
                s2.set_ratio(self.ratio_rel);
                self.stats.drift_ppm = self.drift.integ * 1e6;
            }
            None => {
                // uncorrected: the error grows at the drift rate
                let (t0, e0) = *self.drift.first.get_or_insert((t_ns, ef));
                let span = t_ns.saturating_sub(t0) as f64 * 1e-9;
                if span >= 10.0 {
                    self.drift.raw_drift = (ef - e0) / span;
                    self.stats.drift_ppm = self.drift.raw_drift * 1e6;
                }
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
            downmix_into(&mut self.mono, part, self.channels);
            self.in_frames += (part.len() / self.channels) as u64;
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
                .or_else(|| self.stage2.as_ref().map(|_| super::drift::HALF))
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
        if self.anchor_frozen || self.settle_until_ns.is_none_or(|t| now_ns >= t) {
            self.emit_samples(u64::MAX, now_ns, control, sink);
        }
        Ok(())
    }

    /// Emits what is ready without new input (chunks held while the anchor settles).
    pub fn poll(
        &mut self,
        now_ns: u64,
        control: &AudioControl,
        sink: &mut dyn FnMut(AudioChunk),
    ) -> Result<(), ConvertError> {
        if !self.segment_open {
            return Ok(());
        }
        self.run(now_ns, control, sink)
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
            Some(s2) => s2.process(&mut self.mid, &mut out),
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
        let gain = if control.muted() {
            0.0
        } else {
            db_to_lin(control.gain_db())
        };
        let room = limit.saturating_sub(self.out_trimmed + self.chunk.len() as u64);
        let mut src = &out[from..];
        src = &src[..src.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        // whole runs at a time: each run fills the current chunk or uses up the input
        while !src.is_empty() {
            if self.chunk.is_empty() {
                self.chunk_len = control.chunk_ms() as usize * OUTPUT_RATE as usize / 1000;
                self.chunk_first_index = self.out_trimmed;
            }
            let take = (self.chunk_len - self.chunk.len()).min(src.len());
            self.chunk_clipped += to_i16_into(&src[..take], gain, &mut self.chunk);
            src = &src[take..];
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
        self.anchor_frozen = true;
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
            voice: None,
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
        // Both views are exactly `need` / `max_out` frames of one channel: they cannot fail,
        // but if rubato ever disagrees the block is left for the next call, not a panic.
        let (Ok(inp), Ok(mut outp)) = (
            InterleavedSlice::new(&input[used..used + need], 1, need),
            InterleavedSlice::new_mut(&mut scratch[..max_out], 1, max_out),
        ) else {
            break;
        };
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

/// Downmixes interleaved frames (`channels` per frame; a trailing partial frame is ignored)
/// to mono by averaging, appending to `mono`. Loops specialised for mono and stereo so the
/// compiler vectorises them; the sum order is the same for every channel count.
fn downmix_into(mono: &mut Vec<f32>, part: &[f32], channels: usize) {
    let frames = part.len() / channels;
    let start = mono.len();
    mono.resize(start + frames, 0.0);
    let dst = &mut mono[start..];
    match channels {
        1 => dst.copy_from_slice(&part[..frames]),
        2 => {
            let (pairs, _) = part.as_chunks::<2>();
            for (d, [l, r]) in dst.iter_mut().zip(pairs) {
                *d = (l + r) * 0.5;
            }
        }
        ch => {
            let k = 1.0 / ch as f32;
            for (d, f) in dst.iter_mut().zip(part.chunks_exact(ch)) {
                *d = f.iter().sum::<f32>() * k;
            }
        }
    }
}

/// 1.5 × 2^23: adding and subtracting it rounds an f32 of magnitude below 2^22 to the nearest
/// integer (ties to even) in one IEEE operation, with no libm call.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Rounds a value already scaled to int16 units to the nearest integer (ties to even),
/// clipping to the int16 range. Returns the sample and whether it was clipped. NaN gives 0
/// (not counted as clipped).
#[inline]
pub fn to_i16(v: f32) -> (i16, bool) {
    // pre-clamp keeps the magic rounding exact (|v| < 2^22)
    let c = if v.is_nan() {
        0.0
    } else {
        v.clamp(-65_536.0, 65_536.0)
    };
    // in [2^23, 2^24) one unit of the last place is 1: the bits count integers
    let r = (c + ROUND_MAGIC).to_bits() as i32 - ROUND_MAGIC.to_bits() as i32;
    let s = r.clamp(i16::MIN as i32, i16::MAX as i32);
    (s as i16, s != r)
}

/// Converts `src × gain × 32768` to int16 with [`to_i16`], appending to `dst`; returns the
/// number of clipped samples. A branch-free loop the compiler vectorises.
pub fn to_i16_into(src: &[f32], gain: f32, dst: &mut Vec<i16>) -> u32 {
    let start = dst.len();
    dst.resize(start + src.len(), 0);
    let mut clipped = 0u32;
    for (d, &x) in dst[start..].iter_mut().zip(src) {
        let (s, c) = to_i16(x * gain * 32768.0);
        *d = s;
        clipped += c as u32;
    }
    clipped
}

/// Peak and RMS of int16 samples in dBFS (full scale = 32768), floored at [`SILENCE_DBFS`].
pub fn levels(samples: &[i16]) -> (f32, f32) {
    if samples.is_empty() {
        return (SILENCE_DBFS, SILENCE_DBFS);
    }
    // four f64 lanes of exact integer sums (the order does not change an exact sum)
    let mut peak = 0i32;
    let mut acc = [0f64; 4];
    let (quads, rest) = samples.as_chunks::<4>();
    for q in quads {
        for (a, &s) in acc.iter_mut().zip(q) {
            let v = s as i32;
            peak = peak.max(v.abs());
            *a += (v * v) as f64;
        }
    }
    for &s in rest {
        let v = s as i32;
        peak = peak.max(v.abs());
        acc[0] += (v * v) as f64;
    }
    let sum = acc.iter().sum::<f64>();
    let db = |x: f64| {
        if x > 0.0 {
            ((20.0 * (x / 32768.0).log10()) as f32).max(SILENCE_DBFS)
        } else {
            SILENCE_DBFS
        }
    };
    (db(peak as f64), db((sum / samples.len() as f64).sqrt()))
}
