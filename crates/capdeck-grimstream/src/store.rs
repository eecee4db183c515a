//! Time-indexed history of both feeds, bounded by a memory budget.
//!
//! Every decoded message enters through [`Store::ingest`] (one place), which stamps it
//! with a viewer-clock time `t_ns` (the producer's `host_time_ns` mapped through the feed's
//! [`ClockEstimator`], or the arrival time for messages that carry no send time), detects
//! gaps and stalls and evicts the oldest data of either feed once the budget is exceeded.
//!
//! One gap rule and one stall rule, for every source (socket, recording, script):
//! - A **gap** is a FRAME `frame_id` or STATE_UPDATE `seq` that does not follow the
//!   previous one, or a reconnect. Nothing else (mark seqs are not contiguous, and a
//!   producer's clock may jump): see `docs/grimstream-v1.md`.
//! - A **stall** is a connected feed silent for longer than [`FeedStore::stall_limit_ns`]
//!   ([`STALL_PERIODS`] nominal periods, clamped to 0.5..10 s). A live feed thread calls
//!   [`Store::tick`] so an ongoing stall shows at once; a source that only delivers
//!   messages gets the same stall recorded when data resumes.
//!
//! Frames are kept as received (their pixel bytes are the receive buffer, shared, not
//! copied).
//!
//! Paging: a store whose history is also on disk (a replayed or live-recorded session)
//! is told so with [`Store::set_paging`]. Over budget it then drops the *pixels* of the
//! oldest frames first and keeps their metadata ([`StoredFrame::paged_out`]), so the
//! timeline still knows every frame and the viewer reads the pixels back from the file
//! when the cursor lands on one. Metadata is evicted the usual way only when it alone
//! exceeds the budget.
//!
//! Times: all `*_ns: i64` here are viewer-clock nanoseconds since the [`super::live`]
//! epoch unless named `host_*`. Queries take a feed's manual nudge into account: a
//! feed's item at stored time `t_ns` is shown at `t_ns + nudge_ns`.

use std::collections::VecDeque;

use bytes::Bytes;

use super::FeedRole;
use super::clock::{ClockEstimate, ClockEstimator};
use capdeck_wire::grimstream::{
    Frame, Hello, Message, MovieControl, MovieStart, StateUpdate, StreamConfig, Telemetry,
    TimelineMark,
};

/// Default memory budget for both feeds together: 1 GiB.
pub const DEFAULT_BUDGET_BYTES: usize = 1 << 30;
/// Bookkeeping bytes counted per stored item on top of its payload.
const ITEM_OVERHEAD: usize = 128;
/// A stall is this many nominal periods without a message.
pub const STALL_PERIODS: f64 = 4.0;
/// Shortest stall limit.
pub const MIN_STALL_NS: i64 = 500_000_000;
/// Longest stall limit.
pub const MAX_STALL_NS: i64 = 10_000_000_000;
/// Stall limit before the feed's rate is known.
pub const DEFAULT_STALL_NS: i64 = 2_000_000_000;

/// A stored retail frame.
#[derive(Clone, Debug)]
pub struct StoredFrame {
    /// Connection generation.
    pub generation: u64,
    /// Producer frame id.
    pub frame_id: u64,
    /// Producer time.
    pub host_time_ns: u64,
    /// The game's tick, if sent.
    pub telemetry_time_ns: Option<u64>,
    /// Arrival, viewer clock.
    pub arrival_ns: i64,
    /// Viewer-clock time of the frame (estimated), before the nudge.
    pub t_ns: i64,
    /// The STREAM_CONFIG in effect when it arrived.
    pub config: Option<StreamConfig>,
    /// Pixel rows (`config.stride_bytes` apart), shared with the receive buffer; empty
    /// when the pixels were paged out ([`StoredFrame::paged_out`]).
    pub data: Bytes,
    /// Pixels dropped to stay within the budget while the frame stays listed (a paging
    /// store, see [`Store::set_paging`]): read them back from the recording.
    pub paged_out: bool,
}

/// Why a stored frame cannot be drawn as RGBA8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameShapeError {
    /// No STREAM_CONFIG arrived before the frame.
    #[error("no STREAM_CONFIG before this frame")]
    NoConfig,
    /// A pixel format other than RGBA8.
    #[error("pixel format {0} is not RGBA8 (1)")]
    PixelFormat(u16),
    /// Zero width or height.
    #[error("empty frame size {0}x{1}")]
    Empty(u32, u32),
    /// Rows shorter than `width * 4`.
    #[error("stride {stride} is less than width {width} x 4")]
    Stride {
        /// Bytes per row.
        stride: u32,
        /// Pixels per row.
        width: u32,
    },
    /// Fewer bytes than the rows need.
    #[error("{have} bytes of pixels, {need} needed")]
    Short {
        /// Bytes held.
        have: usize,
        /// Bytes the geometry needs.
        need: u64,
    },
}

impl StoredFrame {
    /// `(width, height, stride)` when the frame is RGBA8 and its data holds every row.
    pub fn rgba_geometry(&self) -> Result<(u32, u32, u32), FrameShapeError> {
        let c = self.config.ok_or(FrameShapeError::NoConfig)?;
        if c.pixel_format != capdeck_wire::grimstream::PIXEL_FORMAT_RGBA8 {
            return Err(FrameShapeError::PixelFormat(c.pixel_format));
        }
        if c.width == 0 || c.height == 0 {
            return Err(FrameShapeError::Empty(c.width, c.height));
        }
        let row = c.width as u64 * 4;
        if (c.stride_bytes as u64) < row {
            return Err(FrameShapeError::Stride {
                stride: c.stride_bytes,
                width: c.width,
            });
        }
        let need = c.stride_bytes as u64 * (c.height as u64 - 1) + row;
        if (self.data.len() as u64) < need {
            return Err(FrameShapeError::Short {
                have: self.data.len(),
                need,
            });
        }
        Ok((c.width, c.height, c.stride_bytes))
    }

    /// The frame shrunk by the smallest whole factor that brings both sides within
    /// `max_side` (each output pixel the mean of a factor x factor block; edge blocks
    /// are clipped), as tight RGBA8 rows with a matching config. `None` when the frame
    /// already fits, cannot be drawn ([`Self::rgba_geometry`] fails) or `max_side` is 0.
    /// Used to show frames larger than the GPU's texture limit.
    pub fn fit_within(&self, max_side: u32) -> Option<StoredFrame> {
        let (w, h, stride) = self.rgba_geometry().ok()?;
        if max_side == 0 || (w <= max_side && h <= max_side) {
            return None;
        }
        let factor = w.max(h).div_ceil(max_side);
        let (ow, oh) = (w.div_ceil(factor), h.div_ceil(factor));
        let (f, stride) = (factor as usize, stride as usize);
        let mut out = Vec::with_capacity(ow as usize * oh as usize * 4);
        let mut sums = vec![0u32; ow as usize * 4];
        for oy in 0..oh as usize {
            sums.iter_mut().for_each(|s| *s = 0);
            let rows = (oy * f..((oy + 1) * f).min(h as usize)).len();
            for y in oy * f..oy * f + rows {
                let row = self.data.get(y * stride..y * stride + w as usize * 4)?;
                for (x, px) in row.chunks_exact(4).enumerate() {
                    let o = (x / f) * 4;
                    for c in 0..4 {
                        sums[o + c] += u32::from(px[c]);
                    }
                }
            }
            for ox in 0..ow as usize {
                let cols = (ox * f..((ox + 1) * f).min(w as usize)).len();
                let n = (rows * cols) as u32;
                for c in 0..4 {
                    out.push(((sums[ox * 4 + c] + n / 2) / n) as u8);
                }
            }
        }
        let config = self.config.map(|c| StreamConfig {
            width: ow,
            height: oh,
            stride_bytes: ow * 4,
            ..c
        });
        Some(StoredFrame {
            config,
            data: Bytes::from(out),
            ..self.clone()
        })
    }

    /// Identity of the pixels (for texture caches).
    pub fn key(&self) -> (u64, u64, usize) {
        (self.generation, self.frame_id, self.data.as_ptr() as usize)
    }
}

/// A stored engine state update.
#[derive(Clone, Debug)]
pub struct StoredState {
    /// Connection generation.
    pub generation: u64,
    /// Arrival, viewer clock.
    pub arrival_ns: i64,
    /// Viewer-clock time (estimated), before the nudge.
    pub t_ns: i64,
    /// The update.
    pub state: StateUpdate,
}

/// A point the operator flagged on the timeline (the app's Mark button or `M`): not from
/// a feed, so it belongs to neither lane. A recording keeps it (its marks topic) and a
/// replay reads it back.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OperatorMark {
    /// Names the mark across its edits (unique in a session, from 1); 0 in recordings made
    /// before marks had ids (each such mark stands alone).
    #[serde(default)]
    pub id: u64,
    /// Viewer-clock time of the point flagged.
    pub t_ns: i64,
    /// What the operator called it.
    pub label: String,
    /// The operator's note (a bookmark's text for a report).
    #[serde(default)]
    pub note: String,
    /// What it marks.
    #[serde(default)]
    pub kind: MarkKind,
}

/// What an operator's mark is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    /// A point the operator flagged (M, the Mark button).
    #[default]
    Mark,
    /// A divergence between the game and the engine, bookmarked from the list.
    Divergence,
    /// A bug to report.
    Bug,
}

impl MarkKind {
    /// Every kind.
    pub const ALL: [MarkKind; 3] = [Self::Mark, Self::Divergence, Self::Bug];

    /// One word.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mark => "mark",
            Self::Divergence => "divergence",
            Self::Bug => "bug",
        }
    }
}

/// Operator marks kept at most (the oldest go first; a mark is a few dozen bytes).
pub const OPERATOR_MARKS_MAX: usize = 10_000;

/// A stored timeline mark.
#[derive(Clone, Debug)]
pub struct StoredMark {
    /// Connection generation.
    pub generation: u64,
    /// Arrival, viewer clock.
    pub arrival_ns: i64,
    /// Viewer-clock time (estimated), before the nudge.
    pub t_ns: i64,
    /// The mark.
    pub mark: TimelineMark,
}

/// Why a gap was recorded.
#[derive(Clone, Debug, PartialEq)]
pub enum GapReason {
    /// `frame_id` did not follow the previous one.
    FrameIdJump {
        /// Expected id.
        expected: u64,
        /// Received id.
        got: u64,
    },
    /// A STATE_UPDATE `seq` did not follow the previous one.
    SeqJump {
        /// Expected seq.
        expected: u64,
        /// Received seq.
        got: u64,
    },
    /// The connection was re-established (ids and clock restart).
    Reconnect,
}

/// Something that happened on a feed (besides frames, states and marks).
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// Connected (a new generation started).
    Connected,
    /// HELLO received.
    Hello(Hello),
    /// STREAM_CONFIG received.
    StreamConfig(StreamConfig),
    /// TELEMETRY received.
    Telemetry(Telemetry),
    /// MOVIE_START received.
    MovieStart(MovieStart),
    /// MOVIE_CONTROL sent by this viewer.
    MovieControlSent(MovieControl),
    /// A gap.
    Gap(GapReason),
    /// The feed went silent.
    StallStarted,
    /// Data flows again after a stall of this long.
    StallEnded {
        /// Stall length.
        stalled_ns: i64,
    },
    /// The connection ended.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// A message of an unknown kind was skipped.
    UnknownSkipped {
        /// Wire kind.
        kind: u16,
        /// Payload length.
        len: usize,
    },
    /// A payload could not be decoded (the stream stayed in sync).
    DecodeError(String),
}

/// A stored event.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// Connection generation.
    pub generation: u64,
    /// Arrival (or occurrence), viewer clock.
    pub arrival_ns: i64,
    /// Viewer-clock time (arrival unless the message carries a send time).
    pub t_ns: i64,
    /// What happened.
    pub kind: EventKind,
}

/// History of one feed.
#[derive(Clone, Debug, Default)]
pub struct FeedStore {
    /// Frames, oldest first (retail).
    pub frames: VecDeque<StoredFrame>,
    /// State updates, oldest first (engine).
    pub states: VecDeque<StoredState>,
    /// Timeline marks, oldest first.
    pub marks: VecDeque<StoredMark>,
    /// Events (hello, config, telemetry, movies, gaps, stalls, ...), oldest first.
    pub events: VecDeque<StoredEvent>,
    /// Current STREAM_CONFIG.
    pub config: Option<StreamConfig>,
    /// Latest HELLO.
    pub hello: Option<Hello>,
    /// Clock estimator of the current generation.
    pub clock: ClockEstimator,
    /// Manual offset added to this feed's times, ns.
    pub nudge_ns: i64,
    /// Current generation.
    pub generation: u64,
    /// Gaps recorded (each jump of the ids, and each reconnect, is one).
    pub gaps: u64,
    /// Frames the `frame_id` jumps say never arrived (3 lost in two places: 2 gaps, 3
    /// missing).
    pub missing_frames: u64,
    /// State updates the `seq` jumps say never arrived.
    pub missing_updates: u64,
    /// Bytes accounted to this feed.
    pub used_bytes: usize,
    /// Items of this feed evicted to stay within the budget.
    pub evicted_items: u64,
    /// Stalls recorded.
    pub stalls: u64,
    /// Whether a connection is open (between [`Store::begin_generation`] and
    /// [`Store::end_generation`]).
    pub connected: bool,
    /// Arrival of the last message of the current connection.
    pub last_arrival_ns: Option<i64>,
    /// Start of the ongoing stall, if the feed is stalled now.
    pub stalled_since_ns: Option<i64>,
    /// Observed time between messages (moving average), ns.
    pub period_ns: Option<f64>,
    /// A fixed stall limit instead of the rate-based one (see [`Store::set_stall_limit`]).
    pub stall_limit_override_ns: Option<i64>,
    /// Index of the oldest frame whose pixels are in memory (frames before it are paged
    /// out; always 0 in a store without paging).
    resident_from: usize,
    last_frame_id: Option<u64>,
    last_state_seq: Option<u64>,
}

/// Index of the last item with key <= t in a deque sorted by key.
fn last_at_or_before<T>(v: &VecDeque<T>, t: i64, key: impl Fn(&T) -> i64) -> Option<usize> {
    let n = v.partition_point(|x| key(x) <= t);
    n.checked_sub(1)
}

impl FeedStore {
    /// The clock estimate of the current generation.
    pub fn clock_estimate(&self) -> Option<ClockEstimate> {
        self.clock.estimate()
    }

    /// How long this feed may be silent before it counts as stalled: [`STALL_PERIODS`]
    /// nominal periods (STREAM_CONFIG fps, else the observed message rate), clamped to
    /// [`MIN_STALL_NS`]..[`MAX_STALL_NS`]; [`DEFAULT_STALL_NS`] before either is known.
    pub fn stall_limit_ns(&self) -> i64 {
        if let Some(l) = self.stall_limit_override_ns {
            return l.max(1);
        }
        let fps_period = self
            .config
            .and_then(|c| c.nominal_fps)
            .filter(|f| f.is_finite() && *f > 0.0)
            .map(|f| 1e9 / f as f64);
        match fps_period.or(self.period_ns) {
            Some(p) => ((p * STALL_PERIODS) as i64).clamp(MIN_STALL_NS, MAX_STALL_NS),
            None => DEFAULT_STALL_NS,
        }
    }

    /// Data messages (frames and state updates) that arrived in the second before `now_ns`.
    pub fn rate_per_s(&self, now_ns: i64) -> f32 {
        let since = now_ns - 1_000_000_000;
        let f = self
            .frames
            .iter()
            .rev()
            .take_while(|x| x.arrival_ns > since);
        let s = self
            .states
            .iter()
            .rev()
            .take_while(|x| x.arrival_ns > since);
        (f.count() + s.count()) as f32
    }

    /// Transport delay of the newest frame or state: arrival minus its estimated
    /// viewer-clock send time, ns.
    pub fn latency_ns(&self) -> Option<i64> {
        let f = self
            .frames
            .back()
            .map(|x| (x.arrival_ns, x.arrival_ns - x.t_ns));
        let s = self
            .states
            .back()
            .map(|x| (x.arrival_ns, x.arrival_ns - x.t_ns));
        [f, s].into_iter().flatten().max().map(|x| x.1)
    }

    /// Count a message arrival: period estimate, stall end (or a whole stall seen only
    /// now, for sources without a ticking thread).
    fn arrived(&mut self, arrival_ns: i64) {
        if let Some(since) = self.stalled_since_ns.take() {
            let stalled_ns = arrival_ns - since;
            self.push_event(arrival_ns, arrival_ns, EventKind::StallEnded { stalled_ns });
        } else if let Some(last) = self.last_arrival_ns {
            let limit = self.stall_limit_ns();
            if arrival_ns - last > limit {
                self.stalls += 1;
                let start = last + limit;
                self.push_event(start, start, EventKind::StallStarted);
                let stalled_ns = arrival_ns - start;
                self.push_event(arrival_ns, arrival_ns, EventKind::StallEnded { stalled_ns });
            }
        }
        if let Some(last) = self.last_arrival_ns {
            let dt = (arrival_ns - last).max(0) as f64;
            // Back-to-back messages (a frame and its telemetry) do not shorten the period.
            if dt > 1e6 {
                self.period_ns = Some(self.period_ns.map_or(dt, |p| p * 0.95 + dt * 0.05));
            }
        }
        self.last_arrival_ns = Some(arrival_ns);
    }

    /// The frame shown at viewer time `t` (nudge applied): the last one at or before it.
    pub fn frame_at(&self, t: i64) -> Option<&StoredFrame> {
        let i = last_at_or_before(&self.frames, t - self.nudge_ns, |f| f.t_ns)?;
        self.frames.get(i)
    }

    /// Index form of [`FeedStore::frame_at`].
    pub fn frame_index_at(&self, t: i64) -> Option<usize> {
        last_at_or_before(&self.frames, t - self.nudge_ns, |f| f.t_ns)
    }

    /// The state in effect at viewer time `t` (nudge applied).
    pub fn state_at(&self, t: i64) -> Option<&StoredState> {
        let i = last_at_or_before(&self.states, t - self.nudge_ns, |s| s.t_ns)?;
        self.states.get(i)
    }

    /// Index form of [`FeedStore::state_at`].
    pub fn state_index_at(&self, t: i64) -> Option<usize> {
        last_at_or_before(&self.states, t - self.nudge_ns, |s| s.t_ns)
    }

    /// Shown time (nudge applied) of a frame.
    pub fn shown_ns(&self, t_ns: i64) -> i64 {
        t_ns + self.nudge_ns
    }

    /// Marks with shown time in `[from, to]`.
    pub fn marks_between(&self, from: i64, to: i64) -> impl Iterator<Item = &StoredMark> {
        let a = self
            .marks
            .partition_point(|m| m.t_ns + self.nudge_ns < from);
        let b = self.marks.partition_point(|m| m.t_ns + self.nudge_ns <= to);
        self.marks.range(a..b.max(a))
    }

    /// Events with shown time in `[from, to]`.
    pub fn events_between(&self, from: i64, to: i64) -> impl Iterator<Item = &StoredEvent> {
        let a = self
            .events
            .partition_point(|m| m.t_ns + self.nudge_ns < from);
        let b = self
            .events
            .partition_point(|m| m.t_ns + self.nudge_ns <= to);
        self.events.range(a..b.max(a))
    }

    /// Earliest and latest shown times held.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let firsts = [
            self.frames.front().map(|x| x.t_ns),
            self.states.front().map(|x| x.t_ns),
            self.marks.front().map(|x| x.t_ns),
            self.events.front().map(|x| x.t_ns),
        ];
        let lasts = [
            self.frames.back().map(|x| x.t_ns),
            self.states.back().map(|x| x.t_ns),
            self.marks.back().map(|x| x.t_ns),
            self.events.back().map(|x| x.t_ns),
        ];
        let lo = firsts.iter().flatten().min()?;
        let hi = lasts.iter().flatten().max()?;
        Some((lo + self.nudge_ns, hi + self.nudge_ns))
    }

    fn oldest_t(&self) -> Option<(i64, u8)> {
        [
            self.frames.front().map(|x| (x.t_ns, 0u8)),
            self.states.front().map(|x| (x.t_ns, 1)),
            self.marks.front().map(|x| (x.t_ns, 2)),
            self.events.front().map(|x| (x.t_ns, 3)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Drops the pixels of the oldest frame that still has them (a paging store); the
    /// frame stays listed. None when every frame is paged out already.
    fn page_out_oldest(&mut self) -> Option<usize> {
        let f = self.frames.get_mut(self.resident_from)?;
        let freed = f.data.len();
        f.data = Bytes::new();
        f.paged_out = true;
        self.resident_from += 1;
        self.used_bytes = self.used_bytes.saturating_sub(freed);
        Some(freed)
    }

    fn evict(&mut self, which: u8) -> usize {
        let freed = match which {
            0 => self.frames.pop_front().map(|f| {
                self.resident_from = self.resident_from.saturating_sub(1);
                f.data.len() + ITEM_OVERHEAD
            }),
            1 => self.states.pop_front().map(|s| state_size(&s.state)),
            2 => self
                .marks
                .pop_front()
                .map(|m| m.mark.label.len() + ITEM_OVERHEAD * 2),
            _ => self.events.pop_front().map(|_| ITEM_OVERHEAD * 2),
        }
        .unwrap_or(0);
        self.used_bytes = self.used_bytes.saturating_sub(freed);
        freed
    }

    fn push_event(&mut self, arrival_ns: i64, t_ns: i64, kind: EventKind) -> usize {
        if let EventKind::Gap(g) = &kind {
            self.gaps += 1;
            match *g {
                GapReason::FrameIdJump { expected, got } => {
                    self.missing_frames += got.saturating_sub(expected);
                }
                GapReason::SeqJump { expected, got } => {
                    self.missing_updates += got.saturating_sub(expected);
                }
                GapReason::Reconnect => {}
            }
        }
        let t_ns = self.events.back().map_or(t_ns, |e| e.t_ns.max(t_ns));
        self.events.push_back(StoredEvent {
            generation: self.generation,
            arrival_ns,
            t_ns,
            kind,
        });
        self.used_bytes += ITEM_OVERHEAD * 2;
        ITEM_OVERHEAD * 2
    }

    fn map_time(&mut self, arrival_ns: i64, host_ns: u64) -> i64 {
        self.clock.observe(arrival_ns, host_ns);
        self.clock
            .to_viewer(host_ns, arrival_ns)
            .unwrap_or(arrival_ns)
    }
}

fn state_size(s: &StateUpdate) -> usize {
    let strs = [&s.active_setup, &s.active_hotspot, &s.active_movie]
        .iter()
        .map(|x| x.as_ref().map_or(0, |s| s.len() + 24))
        .sum::<usize>();
    let cov = s
        .coverage
        .as_ref()
        .map_or(0, |c| c.iter().map(|e| e.key.len() + 40).sum());
    let ev = s
        .events
        .as_ref()
        .map_or(0, |e| e.iter().map(|x| x.len() + 24).sum());
    ITEM_OVERHEAD + std::mem::size_of::<StateUpdate>() + strs + cov + ev
}

/// Totals for display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreUsage {
    /// Bytes held (estimated: payload sizes plus bookkeeping).
    pub used_bytes: usize,
    /// The budget.
    pub budget_bytes: usize,
    /// Bytes evicted so far to stay within the budget.
    pub evicted_bytes: u64,
    /// Items evicted so far.
    pub evicted_items: u64,
    /// Frames whose pixels were paged out (a paging store, [`Store::set_paging`]).
    pub paged_frames: u64,
}

/// Both feeds' history under one memory budget.
#[derive(Clone, Debug)]
pub struct Store {
    feeds: [FeedStore; 2],
    usage: StoreUsage,
    /// Frames arriving at or after this (viewer clock) are on disk: over budget their
    /// pixels are dropped first ([`Store::set_paging`]); `None`: no paging.
    paging_since: Option<i64>,
    operator_marks: Vec<OperatorMark>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(DEFAULT_BUDGET_BYTES)
    }
}

impl Store {
    /// An empty store with a budget in bytes.
    pub fn new(budget_bytes: usize) -> Store {
        Store {
            feeds: [FeedStore::default(), FeedStore::default()],
            usage: StoreUsage {
                budget_bytes,
                ..Default::default()
            },
            paging_since: None,
            operator_marks: Vec::new(),
        }
    }

    /// Adds an operator's mark, or replaces the one with its id (an edit); kept in time
    /// order; at most [`OPERATOR_MARKS_MAX`], the oldest dropped first.
    pub fn add_operator_mark(&mut self, m: OperatorMark) {
        if m.id != 0 {
            self.remove_operator_mark(m.id);
        }
        let at = self.operator_marks.partition_point(|x| x.t_ns <= m.t_ns);
        self.operator_marks.insert(at, m);
        if self.operator_marks.len() > OPERATOR_MARKS_MAX {
            self.operator_marks.remove(0);
        }
    }

    /// Removes the operator's mark with this id; whether there was one.
    pub fn remove_operator_mark(&mut self, id: u64) -> bool {
        let before = self.operator_marks.len();
        self.operator_marks.retain(|m| m.id != id);
        self.operator_marks.len() != before
    }

    /// The operator's mark with this id.
    pub fn operator_mark(&self, id: u64) -> Option<&OperatorMark> {
        self.operator_marks.iter().find(|m| m.id == id && id != 0)
    }

    /// An id no mark held has (for a new mark).
    pub fn next_mark_id(&self) -> u64 {
        self.operator_marks.iter().map(|m| m.id).max().unwrap_or(0) + 1
    }

    /// The operator's marks, oldest first.
    pub fn operator_marks(&self) -> &[OperatorMark] {
        &self.operator_marks
    }

    /// Whether the history is also on disk: over budget, drop the oldest frames' pixels
    /// first and keep the frames listed ([`StoredFrame::paged_out`]).
    pub fn set_paging(&mut self, on: bool) {
        self.set_paging_since(on.then_some(i64::MIN));
    }

    /// Paging for the frames arriving from `since` (viewer clock) on: a recording started
    /// then holds them, older frames are not on disk and are evicted whole as before.
    /// `None` turns paging off (frames already paged out stay listed).
    pub fn set_paging_since(&mut self, since: Option<i64>) {
        self.paging_since = since;
        self.enforce_budget();
    }

    /// One feed's history.
    pub fn feed(&self, role: FeedRole) -> &FeedStore {
        &self.feeds[role.index()]
    }

    /// Memory use.
    pub fn usage(&self) -> StoreUsage {
        StoreUsage {
            used_bytes: self.feeds[0].used_bytes + self.feeds[1].used_bytes,
            ..self.usage
        }
    }

    /// Change the budget (evicts at once if needed).
    pub fn set_budget(&mut self, budget_bytes: usize) {
        self.usage.budget_bytes = budget_bytes;
        self.enforce_budget();
    }

    /// Use a fixed stall limit for a feed (`None`: the rate-based rule).
    pub fn set_stall_limit(&mut self, role: FeedRole, limit_ns: Option<i64>) {
        self.feeds[role.index()].stall_limit_override_ns = limit_ns;
    }

    /// Set a feed's manual clock nudge (ns added to its times).
    pub fn set_nudge(&mut self, role: FeedRole, nudge_ns: i64) {
        self.feeds[role.index()].nudge_ns = nudge_ns;
    }

    /// Earliest and latest shown time over both feeds.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        match (self.feeds[0].time_range(), self.feeds[1].time_range()) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
            (a, b) => a.or(b),
        }
    }

    /// A new connection (generation) on a feed: the producer's ids and clock restart.
    pub fn begin_generation(&mut self, role: FeedRole, generation: u64, arrival_ns: i64) {
        let f = &mut self.feeds[role.index()];
        let had = f.generation > 0;
        f.generation = generation;
        f.clock.reset();
        f.last_frame_id = None;
        f.last_state_seq = None;
        f.connected = true;
        f.last_arrival_ns = Some(arrival_ns);
        f.stalled_since_ns = None;
        f.push_event(arrival_ns, arrival_ns, EventKind::Connected);
        if had {
            f.push_event(arrival_ns, arrival_ns, EventKind::Gap(GapReason::Reconnect));
        }
        self.enforce_budget();
    }

    /// The connection of a feed ended (the reason is shown on its lane).
    pub fn end_generation(&mut self, role: FeedRole, at_ns: i64, reason: String) {
        let f = &mut self.feeds[role.index()];
        if !f.connected {
            return;
        }
        f.connected = false;
        if let Some(since) = f.stalled_since_ns.take() {
            f.push_event(
                at_ns,
                at_ns,
                EventKind::StallEnded {
                    stalled_ns: at_ns - since,
                },
            );
        }
        f.last_arrival_ns = None;
        f.push_event(at_ns, at_ns, EventKind::Disconnected { reason });
        self.enforce_budget();
    }

    /// Time passes with no message: records the start of a stall once a connected feed
    /// has been silent for longer than its stall limit. Returns whether it is stalled.
    pub fn tick(&mut self, role: FeedRole, now_ns: i64) -> bool {
        let f = &mut self.feeds[role.index()];
        if f.stalled_since_ns.is_some() {
            return true;
        }
        let Some(last) = f.last_arrival_ns.filter(|_| f.connected) else {
            return false;
        };
        let start = last + f.stall_limit_ns();
        if now_ns <= start {
            return false;
        }
        f.stalls += 1;
        f.stalled_since_ns = Some(start);
        f.push_event(start, start, EventKind::StallStarted);
        self.enforce_budget();
        true
    }

    /// Record a connection-level event (a skipped message, a decode error, ...).
    pub fn note(&mut self, role: FeedRole, arrival_ns: i64, kind: EventKind) {
        self.feeds[role.index()].push_event(arrival_ns, arrival_ns, kind);
        self.enforce_budget();
    }

    /// Take in one decoded message that arrived at `arrival_ns` on `role`'s current
    /// generation: the single ingest point.
    pub fn ingest(&mut self, role: FeedRole, arrival_ns: i64, msg: Message) {
        let f = &mut self.feeds[role.index()];
        f.arrived(arrival_ns);
        match msg {
            Message::Hello(h) => {
                f.hello = Some(h.clone());
                f.push_event(arrival_ns, arrival_ns, EventKind::Hello(h));
            }
            Message::StreamConfig(c) => {
                f.config = Some(c);
                f.push_event(arrival_ns, arrival_ns, EventKind::StreamConfig(c));
            }
            Message::Frame(fr) => Self::ingest_frame(f, arrival_ns, fr),
            Message::StateUpdate(s) => {
                let t = f.map_time(arrival_ns, s.host_time_ns);
                if let Some(expected) = jumped(f.last_state_seq, s.seq) {
                    let g = GapReason::SeqJump {
                        expected,
                        got: s.seq,
                    };
                    f.push_event(arrival_ns, t, EventKind::Gap(g));
                }
                f.last_state_seq = Some(s.seq);
                let t = f.states.back().map_or(t, |b| b.t_ns.max(t));
                let size = state_size(&s);
                f.states.push_back(StoredState {
                    generation: f.generation,
                    arrival_ns,
                    t_ns: t,
                    state: s,
                });
                f.used_bytes += size;
            }
            Message::TimelineMark(m) => {
                let t = f.map_time(arrival_ns, m.host_time_ns);
                let t = f.marks.back().map_or(t, |b| b.t_ns.max(t));
                f.used_bytes += m.label.len() + ITEM_OVERHEAD * 2;
                f.marks.push_back(StoredMark {
                    generation: f.generation,
                    arrival_ns,
                    t_ns: t,
                    mark: m,
                });
            }
            Message::Telemetry(tm) => {
                f.push_event(arrival_ns, arrival_ns, EventKind::Telemetry(tm));
            }
            Message::MovieStart(m) => {
                f.push_event(arrival_ns, arrival_ns, EventKind::MovieStart(m));
            }
            Message::MovieControl(_) | Message::Control(_) | Message::Heartbeat => {}
            Message::Unknown { kind, payload } => {
                f.push_event(
                    arrival_ns,
                    arrival_ns,
                    EventKind::UnknownSkipped {
                        kind,
                        len: payload.len(),
                    },
                );
            }
        }
        self.enforce_budget();
    }

    fn ingest_frame(f: &mut FeedStore, arrival_ns: i64, fr: Frame) {
        let t = f.map_time(arrival_ns, fr.host_time_ns);
        if let Some(expected) = jumped(f.last_frame_id, fr.frame_id) {
            let g = GapReason::FrameIdJump {
                expected,
                got: fr.frame_id,
            };
            f.push_event(arrival_ns, t, EventKind::Gap(g));
        }
        f.last_frame_id = Some(fr.frame_id);
        let t = f.frames.back().map_or(t, |b| b.t_ns.max(t));
        f.used_bytes += fr.data.len() + ITEM_OVERHEAD;
        f.frames.push_back(StoredFrame {
            generation: f.generation,
            frame_id: fr.frame_id,
            host_time_ns: fr.host_time_ns,
            telemetry_time_ns: fr.telemetry_time_ns,
            arrival_ns,
            t_ns: t,
            config: f.config,
            data: fr.data,
            paged_out: false,
        });
    }

    /// Evict the oldest items (across both feeds) until within budget.
    fn enforce_budget(&mut self) {
        while self.feeds[0].used_bytes + self.feeds[1].used_bytes > self.usage.budget_bytes {
            if let Some(since) = self.paging_since {
                let oldest_resident = (0..2)
                    .filter_map(|fi| {
                        let f = &self.feeds[fi];
                        f.frames
                            .get(f.resident_from)
                            .map(|x| (x.t_ns, x.arrival_ns, fi))
                    })
                    .min();
                if let Some((_, arrival, fi)) = oldest_resident
                    && arrival >= since
                    && self.feeds[fi].page_out_oldest().is_some()
                {
                    self.usage.paged_frames += 1;
                    continue;
                }
            }
            let a = self.feeds[0].oldest_t();
            let b = self.feeds[1].oldest_t();
            let (fi, which) = match (a, b) {
                (Some(a), Some(b)) if a.0 <= b.0 => (0, a.1),
                (Some(_), Some(b)) => (1, b.1),
                (Some(a), None) => (0, a.1),
                (None, Some(b)) => (1, b.1),
                (None, None) => break,
            };
            let freed = self.feeds[fi].evict(which);
            self.feeds[fi].evicted_items += 1;
            self.usage.evicted_bytes += freed as u64;
            self.usage.evicted_items += 1;
        }
    }
}

/// The counter value expected after `prev`, if `got` is not it (a gap).
fn jumped(prev: Option<u64>, got: u64) -> Option<u64> {
    prev.map(|p| p.wrapping_add(1)).filter(|e| *e != got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgba_frame(w: u32, h: u32, stride: u32, px: impl Fn(u32, u32) -> [u8; 4]) -> StoredFrame {
        let mut data = vec![0u8; (stride * h) as usize];
        for y in 0..h {
            for x in 0..w {
                let o = (y * stride + x * 4) as usize;
                data[o..o + 4].copy_from_slice(&px(x, y));
            }
        }
        StoredFrame {
            paged_out: false,
            generation: 1,
            frame_id: 7,
            host_time_ns: 0,
            telemetry_time_ns: None,
            arrival_ns: 0,
            t_ns: 0,
            config: Some(StreamConfig {
                width: w,
                height: h,
                pixel_format: capdeck_wire::grimstream::PIXEL_FORMAT_RGBA8,
                stride_bytes: stride,
                nominal_fps: None,
            }),
            data: Bytes::from(data),
        }
    }

    #[test]
    fn fit_within_shrinks_by_a_whole_factor_averaging_blocks() {
        // 10x3 with padded rows; limit 4 -> factor 3 -> 4x1 (the last column block is 1 wide)
        let f = rgba_frame(10, 3, 48, |x, y| [(x * 10) as u8, (y * 30) as u8, 200, 255]);
        assert!(
            f.fit_within(10).is_none(),
            "a frame that fits is left alone"
        );
        assert!(f.fit_within(0).is_none());
        let s = f.fit_within(4).unwrap();
        assert_eq!(s.rgba_geometry().unwrap(), (4, 1, 16));
        assert_eq!(s.frame_id, 7);
        // block x 0..3, y 0..3: mean red 10, mean green 30
        assert_eq!(&s.data[0..4], &[10, 30, 200, 255]);
        // last block: x 9 only: red 90
        assert_eq!(&s.data[12..16], &[90, 30, 200, 255]);
        // the triple-4K case: 12000x1000 -> factor 2 -> 6000x500
        let wide = rgba_frame(12000, 2, 48000, |_, _| [1, 2, 3, 4]);
        let s = wide.fit_within(8192).unwrap();
        assert_eq!(s.rgba_geometry().unwrap(), (6000, 1, 24000));
        assert_eq!(&s.data[..4], &[1, 2, 3, 4]);
    }

    fn frame(id: u64, host: u64, len: usize) -> Message {
        Message::Frame(Frame {
            frame_id: id,
            host_time_ns: host,
            telemetry_time_ns: None,
            data: Bytes::from(vec![0u8; len]),
        })
    }

    #[test]
    fn budget_evicts_oldest_and_usage_is_visible() {
        let mut s = Store::new(10 * (1000 + ITEM_OVERHEAD));
        s.begin_generation(FeedRole::Retail, 1, 0);
        for i in 0..100u64 {
            s.ingest(
                FeedRole::Retail,
                (i * 33_000_000) as i64,
                frame(i, i * 33_000_000, 1000),
            );
            assert!(s.usage().used_bytes <= s.usage().budget_bytes);
        }
        let f = s.feed(FeedRole::Retail);
        assert!(
            f.frames.len() <= 10 && f.frames.len() >= 8,
            "{}",
            f.frames.len()
        );
        assert_eq!(f.frames.back().unwrap().frame_id, 99);
        assert!(s.usage().evicted_items > 80);
    }

    #[test]
    fn paging_drops_pixels_first_and_keeps_every_frame_listed() {
        // room for about 10 frames' pixels plus the metadata of 100
        let mut s = Store::new(10 * (1000 + ITEM_OVERHEAD) + 100 * ITEM_OVERHEAD);
        s.set_paging(true);
        s.begin_generation(FeedRole::Retail, 1, 0);
        for i in 0..100u64 {
            let t = (i * 33_000_000) as i64;
            s.ingest(FeedRole::Retail, t, frame(i, i * 33_000_000, 1000));
            assert!(s.usage().used_bytes <= s.usage().budget_bytes);
        }
        let f = s.feed(FeedRole::Retail);
        assert_eq!(f.frames.len(), 100, "every frame stays on the timeline");
        let resident: Vec<u64> = f
            .frames
            .iter()
            .filter(|x| !x.paged_out)
            .map(|x| x.frame_id)
            .collect();
        assert!((8..=11).contains(&resident.len()), "{resident:?}");
        assert_eq!(
            resident.last(),
            Some(&99),
            "the newest frames keep their pixels"
        );
        assert!(resident.windows(2).all(|w| w[1] == w[0] + 1));
        assert!(f.frames.iter().all(|x| x.paged_out == x.data.is_empty()));
        assert_eq!(s.usage().paged_frames, 100 - resident.len() as u64);
        assert_eq!(s.usage().evicted_items, 0);
        // metadata alone over budget: whole frames go, oldest first
        s.set_budget(50 * ITEM_OVERHEAD);
        let f = s.feed(FeedRole::Retail);
        assert!(f.frames.len() < 100 && f.frames.back().map(|x| x.frame_id) == Some(99));
        assert!(s.usage().used_bytes <= s.usage().budget_bytes);
        // and a store without paging drops whole frames (the old rule)
        let mut plain = Store::new(10 * (1000 + ITEM_OVERHEAD));
        plain.begin_generation(FeedRole::Retail, 1, 0);
        for i in 0..20u64 {
            plain.ingest(FeedRole::Retail, i as i64, frame(i, i, 1000));
        }
        assert!(
            plain
                .feed(FeedRole::Retail)
                .frames
                .iter()
                .all(|x| !x.paged_out)
        );
    }

    fn kinds(s: &Store, role: FeedRole) -> Vec<EventKind> {
        s.feed(role).events.iter().map(|e| e.kind.clone()).collect()
    }

    #[test]
    fn gaps_only_from_frame_ids_state_seqs_and_reconnects() {
        const MS: i64 = 1_000_000;
        let mut s = Store::default();
        s.begin_generation(FeedRole::Retail, 1, 0);
        s.ingest(FeedRole::Retail, 0, frame(0, 0, 4));
        s.ingest(FeedRole::Retail, 33 * MS, frame(1, 33_000_000, 4));
        s.ingest(FeedRole::Retail, 66 * MS, frame(3, 66_000_000, 4)); // id jump
        // The producer clock jumps 50 s while arrivals stay 33 ms apart: not a gap.
        s.ingest(FeedRole::Retail, 99 * MS, frame(4, 50_000_000_000, 4));
        s.begin_generation(FeedRole::Retail, 2, 200 * MS); // reconnect
        s.ingest(FeedRole::Retail, 201 * MS, frame(0, 0, 4)); // ids restart: no jump
        // Marks and telemetry seqs are not contiguous on the real producers: no gaps.
        for seq in [3, 9] {
            s.ingest(
                FeedRole::Retail,
                210 * MS,
                Message::TimelineMark(TimelineMark {
                    seq,
                    host_time_ns: 5,
                    label: "m".into(),
                    data: rmpv::Value::Nil,
                }),
            );
        }
        let gaps: Vec<_> = kinds(&s, FeedRole::Retail)
            .into_iter()
            .filter_map(|k| match k {
                EventKind::Gap(g) => Some(g),
                _ => None,
            })
            .collect();
        assert_eq!(
            gaps,
            vec![
                GapReason::FrameIdJump {
                    expected: 2,
                    got: 3
                },
                GapReason::Reconnect
            ]
        );
        assert_eq!(s.feed(FeedRole::Retail).gaps, 2);
        assert_eq!(s.feed(FeedRole::Retail).missing_frames, 1);
        // A state seq jump is a gap too.
        s.begin_generation(FeedRole::Engine, 1, 0);
        for (i, seq) in [7u64, 8, 10].into_iter().enumerate() {
            let state = StateUpdate {
                seq,
                host_time_ns: i as u64 * 16_000_000,
                ..Default::default()
            };
            s.ingest(
                FeedRole::Engine,
                i as i64 * 16 * MS,
                Message::StateUpdate(state),
            );
        }
        assert_eq!(
            kinds(&s, FeedRole::Engine).last(),
            Some(&EventKind::Gap(GapReason::SeqJump {
                expected: 9,
                got: 10
            }))
        );
    }

    #[test]
    fn one_stall_rule_for_ticking_and_message_only_sources() {
        const MS: i64 = 1_000_000;
        let cfg = StreamConfig {
            width: 2,
            height: 2,
            pixel_format: 1,
            stride_bytes: 8,
            nominal_fps: Some(30.0),
        };
        // Limit: 4 periods of 30 fps = 133 ms, clamped up to 500 ms.
        let mut live = Store::default();
        live.begin_generation(FeedRole::Retail, 1, 0);
        live.ingest(FeedRole::Retail, 0, Message::StreamConfig(cfg));
        assert_eq!(live.feed(FeedRole::Retail).stall_limit_ns(), 500 * MS);
        live.ingest(FeedRole::Retail, 10 * MS, frame(0, 0, 4));
        assert!(
            !live.tick(FeedRole::Retail, 510 * MS),
            "at the limit: not yet"
        );
        assert!(live.tick(FeedRole::Retail, 511 * MS));
        assert!(live.tick(FeedRole::Retail, 900 * MS), "still stalled");
        live.ingest(FeedRole::Retail, 1_000 * MS, frame(1, 33_000_000, 4));
        // A source with no ticking thread (a file, a script) gets the same stall.
        let mut replay = Store::default();
        replay.begin_generation(FeedRole::Retail, 1, 0);
        replay.ingest(FeedRole::Retail, 0, Message::StreamConfig(cfg));
        replay.ingest(FeedRole::Retail, 10 * MS, frame(0, 0, 4));
        replay.ingest(FeedRole::Retail, 1_000 * MS, frame(1, 33_000_000, 4));
        for st in [&live, &replay] {
            let stalls: Vec<_> = st
                .feed(FeedRole::Retail)
                .events
                .iter()
                .filter(|e| {
                    matches!(
                        e.kind,
                        EventKind::StallStarted | EventKind::StallEnded { .. }
                    )
                })
                .map(|e| (e.t_ns, e.kind.clone()))
                .collect();
            assert_eq!(
                stalls,
                vec![
                    (510 * MS, EventKind::StallStarted),
                    (
                        1_000 * MS,
                        EventKind::StallEnded {
                            stalled_ns: 490 * MS
                        }
                    )
                ]
            );
            assert_eq!(st.feed(FeedRole::Retail).stalls, 1);
        }
        // Silence after a disconnect is not a stall.
        live.end_generation(FeedRole::Retail, 1_100 * MS, "closed".into());
        assert!(!live.tick(FeedRole::Retail, 60_000 * MS));
    }

    #[test]
    fn lookups_follow_the_clock_and_the_nudge() {
        let mut s = Store::default();
        s.begin_generation(FeedRole::Engine, 1, 0);
        // Producer started 1 s after the viewer epoch; 10 ms transport delay.
        for i in 0..10u64 {
            let host = i * 100_000_000;
            s.ingest(
                FeedRole::Engine,
                (host + 1_010_000_000) as i64,
                Message::StateUpdate(StateUpdate {
                    seq: i,
                    host_time_ns: host,
                    ..Default::default()
                }),
            );
        }
        let f = s.feed(FeedRole::Engine);
        assert_eq!(
            f.state_at(1_010_000_000 + 450_000_000).unwrap().state.seq,
            4
        );
        assert!(f.state_at(1_000_000_000).is_none());
        s.set_nudge(FeedRole::Engine, 200_000_000);
        let f = s.feed(FeedRole::Engine);
        assert_eq!(
            f.state_at(1_010_000_000 + 450_000_000).unwrap().state.seq,
            2
        );
    }

    #[test]
    fn a_mark_with_an_id_is_replaced_by_its_edit_and_removed_by_id() {
        let mut s = Store::new(1 << 20);
        let mark = |id, t_ns, note: &str| OperatorMark {
            id,
            t_ns,
            label: format!("m{id}"),
            note: note.into(),
            kind: MarkKind::Mark,
        };
        s.add_operator_mark(mark(1, 5, ""));
        s.add_operator_mark(mark(2, 3, ""));
        assert_eq!(s.next_mark_id(), 3);
        s.add_operator_mark(mark(1, 5, "edited"));
        assert_eq!(s.operator_marks().len(), 2);
        assert_eq!(s.operator_mark(1).unwrap().note, "edited");
        assert_eq!(s.operator_marks()[0].id, 2, "time order");
        // id 0: marks of old recordings, each its own
        s.add_operator_mark(mark(0, 1, ""));
        s.add_operator_mark(mark(0, 1, ""));
        assert_eq!(s.operator_marks().len(), 4);
        assert!(s.remove_operator_mark(1));
        assert!(!s.remove_operator_mark(1));
        assert_eq!(s.operator_marks().len(), 3);
    }
}
