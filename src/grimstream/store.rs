//! Time-indexed history of both feeds, bounded by a memory budget.
//!
//! Every decoded message enters through [`Store::ingest`] (one place), which stamps it
//! with a viewer-clock time `t_ns` (the producer's `host_time_ns` mapped through the feed's
//! [`ClockEstimator`], or the arrival time for messages that carry no send time), detects
//! gaps (frame_id / seq jumps, time gaps beyond a few nominal periods, reconnects) and
//! evicts the oldest data of either feed once the budget is exceeded. Frames are kept as
//! received (their pixel bytes are the receive buffer, shared, not copied).
//!
//! Times: all `*_ns: i64` here are viewer-clock nanoseconds since the [`super::live`]
//! epoch unless named `host_*`. Queries take a feed's manual nudge into account: a
//! feed's item at stored time `t_ns` is shown at `t_ns + nudge_ns`.

use std::collections::VecDeque;

use bytes::Bytes;

use super::FeedRole;
use super::clock::{ClockEstimate, ClockEstimator};
use super::codec::{
    Frame, Hello, Message, MovieControl, MovieStart, StateUpdate, StreamConfig, Telemetry,
    TimelineMark,
};

/// Default memory budget for both feeds together: 1 GiB.
pub const DEFAULT_BUDGET_BYTES: usize = 1 << 30;
/// Bookkeeping bytes counted per stored item on top of its payload.
const ITEM_OVERHEAD: usize = 128;
/// A time gap is this many nominal periods without a frame/update.
pub const GAP_PERIODS: i64 = 4;

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
    /// Pixel rows (`config.stride_bytes` apart), shared with the receive buffer.
    pub data: Bytes,
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
    /// A `seq` did not follow the previous one.
    SeqJump {
        /// Which stream: "STATE_UPDATE", "TELEMETRY" or "TIMELINE_MARK".
        stream: &'static str,
        /// Expected seq.
        expected: u64,
        /// Received seq.
        got: u64,
    },
    /// No frame/update for longer than [`GAP_PERIODS`] nominal periods (producer time).
    TimeGap {
        /// Length of the silence in ns.
        gap_ns: u64,
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
    /// Gaps recorded.
    pub gaps: u64,
    /// Bytes accounted to this feed.
    pub used_bytes: usize,
    last_frame: Option<(u64, u64)>,
    last_state: Option<(u64, u64)>,
    state_period_ns: Option<f64>,
    last_telemetry_seq: Option<u64>,
    last_mark_seq: Option<u64>,
}

fn seq_check(last: &mut Option<u64>, got: u64, stream: &'static str) -> Option<GapReason> {
    let r = match *last {
        Some(prev) if got != prev.wrapping_add(1) => Some(GapReason::SeqJump {
            stream,
            expected: prev.wrapping_add(1),
            got,
        }),
        _ => None,
    };
    *last = Some(got);
    r
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

    fn evict(&mut self, which: u8) -> usize {
        let freed = match which {
            0 => self
                .frames
                .pop_front()
                .map(|f| f.data.len() + ITEM_OVERHEAD),
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
        if matches!(kind, EventKind::Gap(_)) {
            self.gaps += 1;
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
}

/// Both feeds' history under one memory budget.
#[derive(Clone, Debug)]
pub struct Store {
    feeds: [FeedStore; 2],
    usage: StoreUsage,
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
        }
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
        f.last_frame = None;
        f.last_state = None;
        f.last_telemetry_seq = None;
        f.last_mark_seq = None;
        f.push_event(arrival_ns, arrival_ns, EventKind::Connected);
        if had {
            f.push_event(arrival_ns, arrival_ns, EventKind::Gap(GapReason::Reconnect));
        }
        self.enforce_budget();
    }

    /// Record a connection-level event (stall, disconnect, skipped message, ...).
    pub fn note(&mut self, role: FeedRole, arrival_ns: i64, kind: EventKind) {
        self.feeds[role.index()].push_event(arrival_ns, arrival_ns, kind);
        self.enforce_budget();
    }

    /// Take in one decoded message that arrived at `arrival_ns` on `role`'s current
    /// generation. `wire_len` is its size on the wire (for accounting small items).
    pub fn ingest(&mut self, role: FeedRole, arrival_ns: i64, msg: Message) {
        let f = &mut self.feeds[role.index()];
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
                if let Some((prev_seq, prev_host)) = f.last_state {
                    if s.seq != prev_seq.wrapping_add(1) {
                        let g = GapReason::SeqJump {
                            stream: "STATE_UPDATE",
                            expected: prev_seq.wrapping_add(1),
                            got: s.seq,
                        };
                        f.push_event(arrival_ns, t, EventKind::Gap(g));
                    }
                    let dt = s.host_time_ns.saturating_sub(prev_host) as f64;
                    if let Some(p) = f.state_period_ns {
                        let limit = (p * GAP_PERIODS as f64).max(100e6);
                        if dt > limit {
                            let g = GapReason::TimeGap { gap_ns: dt as u64 };
                            f.push_event(arrival_ns, t, EventKind::Gap(g));
                        } else {
                            f.state_period_ns = Some(p * 0.9 + dt * 0.1);
                        }
                    } else if dt > 0.0 {
                        f.state_period_ns = Some(dt);
                    }
                }
                f.last_state = Some((s.seq, s.host_time_ns));
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
                if let Some(g) = seq_check(&mut f.last_mark_seq, m.seq, "TIMELINE_MARK") {
                    f.push_event(arrival_ns, t, EventKind::Gap(g));
                }
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
                if let Some(g) = seq_check(&mut f.last_telemetry_seq, tm.seq, "TELEMETRY") {
                    f.push_event(arrival_ns, arrival_ns, EventKind::Gap(g));
                }
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
        if let Some((prev_id, prev_host)) = f.last_frame {
            if fr.frame_id != prev_id.wrapping_add(1) {
                let g = GapReason::FrameIdJump {
                    expected: prev_id.wrapping_add(1),
                    got: fr.frame_id,
                };
                f.push_event(arrival_ns, t, EventKind::Gap(g));
            }
            let fps = f
                .config
                .and_then(|c| c.nominal_fps)
                .filter(|x| x.is_finite() && *x > 0.0)
                .unwrap_or(30.0) as f64;
            let period = 1e9 / fps;
            let dt = fr.host_time_ns.saturating_sub(prev_host);
            if dt as f64 > period * GAP_PERIODS as f64 {
                f.push_event(
                    arrival_ns,
                    t,
                    EventKind::Gap(GapReason::TimeGap { gap_ns: dt }),
                );
            }
        }
        f.last_frame = Some((fr.frame_id, fr.host_time_ns));
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
        });
    }

    /// Evict the oldest items (across both feeds) until within budget.
    fn enforce_budget(&mut self) {
        while self.feeds[0].used_bytes + self.feeds[1].used_bytes > self.usage.budget_bytes {
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
            self.usage.evicted_bytes += freed as u64;
            self.usage.evicted_items += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn gaps_from_ids_time_and_reconnect() {
        let mut s = Store::default();
        s.begin_generation(FeedRole::Retail, 1, 0);
        s.ingest(FeedRole::Retail, 0, frame(0, 0, 4));
        s.ingest(FeedRole::Retail, 33, frame(1, 33_000_000, 4));
        s.ingest(FeedRole::Retail, 66, frame(3, 66_000_000, 4)); // id jump
        s.ingest(FeedRole::Retail, 1_000, frame(4, 1_000_000_000, 4)); // time gap
        s.begin_generation(FeedRole::Retail, 2, 2_000); // reconnect
        s.ingest(FeedRole::Retail, 2_001, frame(0, 0, 4)); // ids restart: no jump
        let f = s.feed(FeedRole::Retail);
        let gaps: Vec<_> = f
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Gap(g) => Some(g.clone()),
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
                GapReason::TimeGap {
                    gap_ns: 934_000_000
                },
                GapReason::Reconnect
            ]
        );
        assert_eq!(f.gaps, 3);
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
}
