//! The real-time boundary: a lock-free SPSC ring (rtrb) written by the device callback (or a
//! synthetic pacer thread) and read by the worker.
//!
//! The writer side ([`Feed`]) never allocates, locks, blocks or logs: it converts the native
//! samples to f32 while copying them into the ring, counts the frames that did not fit
//! (overruns, drop-newest policy: the worker inserts the same number of silent frames so the
//! timeline stays honest), and pushes a timing record (frames delivered, monotonic time) into
//! a second small ring for the drift measurement.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// A native sample format the callback may deliver.
pub trait NativeSample: Copy + Send + 'static {
    /// The sample as f32 in [-1, 1).
    fn to_f32(self) -> f32;
}
impl NativeSample for f32 {
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
}
impl NativeSample for f64 {
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32
    }
}
impl NativeSample for i16 {
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32 * (1.0 / 32768.0)
    }
}
impl NativeSample for u16 {
    #[inline]
    fn to_f32(self) -> f32 {
        (self as i32 - 32768) as f32 * (1.0 / 32768.0)
    }
}
impl NativeSample for i32 {
    #[inline]
    fn to_f32(self) -> f32 {
        (self as f64 * (1.0 / 2_147_483_648.0)) as f32
    }
}
impl NativeSample for i8 {
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32 * (1.0 / 128.0)
    }
}
impl NativeSample for u8 {
    #[inline]
    fn to_f32(self) -> f32 {
        (self as i32 - 128) as f32 * (1.0 / 128.0)
    }
}

/// Monotonic time base shared by writers and the worker.
#[derive(Debug, Clone, Copy)]
pub struct MonoClock {
    base: Instant,
}

impl MonoClock {
    /// A clock starting now.
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
        }
    }
    /// Nanoseconds since the clock's base.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

impl Default for MonoClock {
    fn default() -> Self {
        Self::new()
    }
}

/// State shared between one writer and the worker.
#[derive(Debug, Default)]
pub struct FeedShared {
    /// Frames dropped because the ring was full (since the feed was created).
    pub overrun_frames: AtomicU64,
    /// Number of writes that dropped frames.
    pub overrun_events: AtomicU64,
    /// Frames delivered by the source (written + dropped).
    pub frames: AtomicU64,
    /// The source reported an error it cannot recover from by itself (device lost).
    pub lost: AtomicBool,
    /// The source reached its end (a file); everything it delivered is in the ring.
    pub ended: AtomicBool,
    /// Why the source was lost (written by error callbacks, never by the data callback).
    pub error: Mutex<Option<String>>,
}

impl FeedShared {
    /// Marks the source as lost with a reason (not for the data callback: it locks).
    pub fn set_lost(&self, why: String) {
        if let Ok(mut e) = self.error.lock() {
            *e = Some(why);
        }
        self.lost.store(true, Ordering::Release);
    }
}

/// A timing record: by monotonic time `t_ns` the source had delivered `frames` frames.
pub type TimingRecord = (u64, u64);

/// The writer side of the ring, owned by the callback.
pub struct Feed {
    prod: rtrb::Producer<f32>,
    timing: rtrb::Producer<TimingRecord>,
    channels: usize,
    frames: u64,
    clock: MonoClock,
    shared: Arc<FeedShared>,
}

/// The reader side of the ring, owned by the worker.
pub struct FeedReader {
    /// Interleaved f32 samples, whole frames only.
    pub cons: rtrb::Consumer<f32>,
    /// Timing records.
    pub timing: rtrb::Consumer<TimingRecord>,
    /// Channels per frame.
    pub channels: usize,
    /// Shared state.
    pub shared: Arc<FeedShared>,
}

/// Creates a ring holding `seconds` of audio at this rate and channel count.
pub fn feed(rate: u32, channels: u16, seconds: f32, clock: MonoClock) -> (Feed, FeedReader) {
    let ch = channels.max(1) as usize;
    let frames = ((rate as f32 * seconds) as usize).max(1024);
    let (prod, cons) = rtrb::RingBuffer::new(frames * ch);
    let (tp, tc) = rtrb::RingBuffer::new(1024);
    let shared = Arc::new(FeedShared::default());
    (
        Feed {
            prod,
            timing: tp,
            channels: ch,
            frames: 0,
            clock,
            shared: shared.clone(),
        },
        FeedReader {
            cons,
            timing: tc,
            channels: ch,
            shared,
        },
    )
}

impl Feed {
    /// Copies one block of interleaved native samples into the ring. Real-time safe: no
    /// allocation, no lock, no blocking, no logging. A trailing partial frame is ignored.
    #[inline]
    pub fn push<S: NativeSample>(&mut self, data: &[S]) {
        self.push_map(data, S::to_f32)
    }

    /// [`Self::push`] with a given conversion of each sample to f32.
    #[inline]
    pub fn push_map<S: Copy>(&mut self, data: &[S], to_f32: impl Fn(S) -> f32) {
        let ch = self.channels;
        let frames = data.len() / ch;
        let fit = (self.prod.slots() / ch).min(frames);
        if fit > 0
            && let Ok(chunk) = self.prod.write_chunk_uninit(fit * ch)
        {
            chunk.fill_from_iter(data[..fit * ch].iter().map(|&s| to_f32(s)));
        }
        if fit < frames {
            self.shared
                .overrun_frames
                .fetch_add((frames - fit) as u64, Ordering::Relaxed);
            self.shared.overrun_events.fetch_add(1, Ordering::Relaxed);
        }
        self.frames += frames as u64;
        self.shared.frames.store(self.frames, Ordering::Relaxed);
        // a full timing ring only loses a measurement point
        let _ = self.timing.push((self.frames, self.clock.now_ns()));
    }

    /// The shared state (for error callbacks).
    pub fn shared(&self) -> &Arc<FeedShared> {
        &self.shared
    }

    /// Channels per frame.
    pub fn channels(&self) -> usize {
        self.channels
    }
}
