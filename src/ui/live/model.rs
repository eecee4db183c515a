//! The live view's store: what the UI draws, fed by ingest messages from the feed sources.
//!
//! Pure data, no I/O: sources (demo generator, GrimStream connections) send [`Ingest`]
//! messages through a bounded channel ([`IngestTx`], drop-newest when full, counted);
//! the UI drains them into [`LiveStore`] at the start of each frame and queries it at the
//! timeline cursor.
//!
//! Time: each feed's `host_time_ns` counts from its own start point. The store keeps a
//! per-feed clock offset (estimated from arrival time at the first message after each
//! (re)connect) and maps every record to *aligned seconds* `t` on one viewer timeline.
//! A manual nudge (ms) is added to the engine feed at query time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use bytes::Bytes;

/// The two GrimStream feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feed {
    /// The original game's framebuffer and telemetry.
    Retail,
    /// The re-implementation engine's state.
    Engine,
}

impl Feed {
    /// Both feeds, in lane order.
    pub const ALL: [Feed; 2] = [Feed::Retail, Feed::Engine];
    /// Array index.
    pub fn index(self) -> usize {
        self as usize
    }
    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Feed::Retail => "retail",
            Feed::Engine => "engine",
        }
    }
}

/// One retail framebuffer (RGBA8, top-down rows of `stride` bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct RetailFrame {
    /// Producer's frame counter (resets on reconnect).
    pub frame_id: u64,
    /// Producer clock.
    pub host_time_ns: u64,
    /// The game's own tick, when sent.
    pub telemetry_time_ns: Option<u64>,
    /// Pixels wide.
    pub width: u32,
    /// Pixels high.
    pub height: u32,
    /// Bytes per row (>= width * 4).
    pub stride: u32,
    /// `stride * height` bytes (shared, never copied by the store).
    pub pixels: Bytes,
    /// Aligned time in seconds (set by the store).
    pub t: f64,
}

impl RetailFrame {
    /// Checks the frame's geometry against its pixel buffer.
    pub fn is_valid(&self) -> bool {
        self.width > 0
            && self.height > 0
            && (self.stride as u64) >= self.width as u64 * 4
            && self.pixels.len() as u64
                >= self.stride as u64 * (self.height as u64 - 1) + self.width as u64 * 4
    }
    /// Identity of the pixels for texture caching.
    pub fn key(&self) -> (u64, u64, usize) {
        (
            self.frame_id,
            self.host_time_ns,
            self.pixels.as_ptr() as usize,
        )
    }
}

/// One engine state update.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EngineState {
    /// Producer sequence number.
    pub seq: u64,
    /// Producer clock.
    pub host_time_ns: u64,
    /// Engine frame number.
    pub frame: Option<u32>,
    /// Hero position (x, y, z); the top-down plot uses x and z.
    pub position: Option<[f32; 3]>,
    /// Hero yaw in radians.
    pub yaw: Option<f32>,
    /// Active setup.
    pub active_setup: Option<String>,
    /// Active hotspot.
    pub active_hotspot: Option<String>,
    /// Active movie.
    pub active_movie: Option<String>,
    /// Coverage counters.
    pub coverage: Vec<(String, u64)>,
    /// Hook events in this update.
    pub events: Vec<String>,
    /// The whole decoded payload, for the raw tree.
    pub raw: serde_json::Value,
    /// Aligned time in seconds (set by the store).
    pub t: f64,
}

/// A timeline mark or telemetry event.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Which feed sent it.
    pub feed: Feed,
    /// Producer clock.
    pub host_time_ns: u64,
    /// Label shown on hover.
    pub label: String,
    /// Extra detail (data as text).
    pub detail: String,
    /// Aligned time in seconds (set by the store).
    pub t: f64,
}

/// Connection state of one feed.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkState {
    /// Not connected, by choice.
    Idle,
    /// Connecting (or waiting for HELLO).
    Connecting,
    /// Receiving.
    Live,
    /// Lost; retrying at `retry_at` (aligned seconds), with the reason.
    Disconnected {
        /// Why.
        reason: String,
        /// When the next attempt is due.
        retry_at: Option<f64>,
    },
}

/// A message from a feed source to the store.
#[derive(Debug, Clone)]
pub enum Ingest {
    /// A retail frame; `arrival` in store seconds.
    Frame {
        /// The frame (its `t` is ignored and set by the store).
        frame: RetailFrame,
        /// When it arrived.
        arrival: f64,
    },
    /// An engine state.
    State {
        /// The state.
        state: EngineState,
        /// When it arrived.
        arrival: f64,
    },
    /// A mark or telemetry event.
    Mark {
        /// The mark.
        mark: Mark,
        /// When it arrived.
        arrival: f64,
    },
    /// A link state change.
    Link {
        /// Which feed.
        feed: Feed,
        /// New state.
        state: LinkState,
        /// When.
        at: f64,
        /// Producer name from HELLO, when known.
        producer: Option<String>,
    },
    /// One-way latency estimate for a feed, ms.
    Latency {
        /// Which feed.
        feed: Feed,
        /// Milliseconds.
        ms: f32,
    },
}

/// What a stretch of a lane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// Data arriving at the nominal rate.
    Data,
    /// No data while connected (producer stalled).
    Stall,
    /// No data while disconnected.
    Gap,
}

/// A stretch `[start, end]` of a lane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Start (aligned s).
    pub start: f64,
    /// End (aligned s).
    pub end: f64,
    /// Kind.
    pub kind: SegmentKind,
}

/// Per-feed counters and state.
#[derive(Debug, Clone, Default)]
pub struct FeedStatus {
    /// Link state.
    pub link: Option<LinkState>,
    /// Producer name.
    pub producer: Option<String>,
    /// Clock offset: aligned = host_time_s + offset_s.
    pub offset_s: Option<f64>,
    /// Messages received.
    pub received: u64,
    /// Messages dropped before the store (queue full).
    pub dropped: u64,
    /// Frames/seqs skipped by the producer (id gaps).
    pub skipped: u64,
    /// Reconnects seen.
    pub reconnects: u64,
    /// Last latency estimate (ms).
    pub latency_ms: Option<f32>,
    /// Arrival times of the last second (for the rate).
    arrivals: VecDeque<f64>,
    /// Last id/seq seen.
    last_id: Option<u64>,
    /// Last data time (aligned s).
    pub last_data_t: Option<f64>,
    /// Lane segments.
    pub segments: VecDeque<Segment>,
    /// Reconnect instants (aligned s).
    pub reconnect_marks: VecDeque<f64>,
}

impl FeedStatus {
    /// Messages per second over the last second before `now`.
    pub fn rate(&self, now: f64) -> f32 {
        self.arrivals.iter().filter(|&&a| a > now - 1.0).count() as f32
    }
}

/// Sender side of the bounded ingest channel (drop newest when full, counted per feed).
#[derive(Debug, Clone)]
pub struct IngestTx {
    tx: SyncSender<Ingest>,
    dropped: Arc<[AtomicU64; 2]>,
    waker: Option<egui::Context>,
}

impl IngestTx {
    /// Sends without blocking; a full queue drops this message and counts it.
    /// Returns false once the store side is gone (the source should stop).
    pub fn send(&self, msg: Ingest) -> bool {
        let feed = match &msg {
            Ingest::Frame { .. } => Some(Feed::Retail),
            Ingest::State { .. } => Some(Feed::Engine),
            Ingest::Mark { mark, .. } => Some(mark.feed),
            _ => None,
        };
        let ok = match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                if let Some(f) = feed {
                    self.dropped[f.index()].fetch_add(1, Ordering::Relaxed);
                }
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        };
        if let Some(w) = &self.waker {
            w.request_repaint();
        }
        ok
    }
}

/// Receiver side, drained by the UI.
#[derive(Debug)]
pub struct IngestRx {
    rx: Receiver<Ingest>,
    dropped: Arc<[AtomicU64; 2]>,
}

/// A bounded ingest channel of `capacity` messages.
pub fn ingest_channel(capacity: usize, waker: Option<egui::Context>) -> (IngestTx, IngestRx) {
    let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
    let dropped = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    (
        IngestTx {
            tx,
            dropped: dropped.clone(),
            waker,
        },
        IngestRx { rx, dropped },
    )
}

/// Time between two messages of a feed above which the lane shows a gap or stall.
pub const GAP_THRESHOLD_S: f64 = 0.25;
const MAX_STATES: usize = 200_000;
const MAX_MARKS: usize = 20_000;
const MAX_SEGMENTS: usize = 10_000;

/// Everything the live view draws.
#[derive(Debug)]
pub struct LiveStore {
    /// Retail frames, oldest first, by aligned time.
    pub frames: VecDeque<RetailFrame>,
    /// Engine states, oldest first.
    pub states: VecDeque<EngineState>,
    /// Marks and telemetry events.
    pub marks: VecDeque<Mark>,
    /// Per-feed status.
    pub feeds: [FeedStatus; 2],
    /// Pixel bytes held by `frames`.
    pub frame_bytes: usize,
    /// Budget for `frame_bytes`; oldest frames are evicted beyond it.
    pub budget_bytes: usize,
    /// Frames evicted for the budget.
    pub evicted: u64,
    /// Latest time seen (aligned s): "live".
    pub now: f64,
    /// Bumped on every change (for repaint decisions and caches).
    pub generation: u64,
}

impl LiveStore {
    /// An empty store with this memory budget for frames.
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            frames: VecDeque::new(),
            states: VecDeque::new(),
            marks: VecDeque::new(),
            feeds: Default::default(),
            frame_bytes: 0,
            budget_bytes,
            evicted: 0,
            now: 0.0,
            generation: 0,
        }
    }

    /// Drains everything waiting in `rx` (non-blocking). Returns messages applied.
    pub fn drain(&mut self, rx: &IngestRx) -> usize {
        let mut n = 0;
        while let Ok(msg) = rx.rx.try_recv() {
            self.ingest(msg);
            n += 1;
        }
        for f in Feed::ALL {
            self.feeds[f.index()].dropped = rx.dropped[f.index()].load(Ordering::Relaxed);
        }
        n
    }

    fn aligned(&mut self, feed: Feed, host_time_ns: u64, arrival: f64) -> f64 {
        let st = &mut self.feeds[feed.index()];
        let host_s = host_time_ns as f64 / 1e9;
        let offset = *st.offset_s.get_or_insert(arrival - host_s);
        let mut t = host_s + offset;
        if let Some(last) = st.last_data_t
            && t < last
        {
            t = last; // producer clock went backwards: keep the lane monotonic
        }
        t
    }

    fn note_data(&mut self, feed: Feed, t: f64, arrival: f64, id: u64) {
        let st = &mut self.feeds[feed.index()];
        st.received += 1;
        st.arrivals.push_back(arrival);
        while st.arrivals.front().is_some_and(|&a| a < arrival - 1.0) {
            st.arrivals.pop_front();
        }
        if let Some(last) = st.last_id
            && id > last + 1
        {
            st.skipped += id - last - 1;
        }
        st.last_id = Some(id);
        let connected_gap = !matches!(st.link, Some(LinkState::Disconnected { .. }));
        match st.segments.back_mut() {
            Some(seg) if seg.kind == SegmentKind::Data && t - seg.end <= GAP_THRESHOLD_S => {
                seg.end = t
            }
            Some(seg) => {
                let start = seg.end;
                let kind = if connected_gap && st.reconnect_marks.back().is_none_or(|&r| r < start)
                {
                    SegmentKind::Stall
                } else {
                    SegmentKind::Gap
                };
                st.segments.push_back(Segment {
                    start,
                    end: t,
                    kind,
                });
                st.segments.push_back(Segment {
                    start: t,
                    end: t,
                    kind: SegmentKind::Data,
                });
            }
            None => st.segments.push_back(Segment {
                start: t,
                end: t,
                kind: SegmentKind::Data,
            }),
        }
        while st.segments.len() > MAX_SEGMENTS {
            st.segments.pop_front();
        }
        st.last_data_t = Some(t);
        self.now = self.now.max(t);
        self.generation += 1;
    }

    /// Applies one message.
    pub fn ingest(&mut self, msg: Ingest) {
        match msg {
            Ingest::Frame { mut frame, arrival } => {
                if !frame.is_valid() {
                    tracing::warn!(
                        frame_id = frame.frame_id,
                        "retail frame with inconsistent size/stride dropped"
                    );
                    return;
                }
                frame.t = self.aligned(Feed::Retail, frame.host_time_ns, arrival);
                self.note_data(Feed::Retail, frame.t, arrival, frame.frame_id);
                self.frame_bytes += frame.pixels.len();
                self.frames.push_back(frame);
                while self.frame_bytes > self.budget_bytes && self.frames.len() > 1 {
                    if let Some(old) = self.frames.pop_front() {
                        self.frame_bytes -= old.pixels.len();
                        self.evicted += 1;
                    }
                }
            }
            Ingest::State { mut state, arrival } => {
                state.t = self.aligned(Feed::Engine, state.host_time_ns, arrival);
                self.note_data(Feed::Engine, state.t, arrival, state.seq);
                self.states.push_back(state);
                while self.states.len() > MAX_STATES {
                    self.states.pop_front();
                }
            }
            Ingest::Mark { mut mark, arrival } => {
                mark.t = self.aligned(mark.feed, mark.host_time_ns, arrival);
                self.marks.push_back(mark);
                while self.marks.len() > MAX_MARKS {
                    self.marks.pop_front();
                }
                self.generation += 1;
            }
            Ingest::Link {
                feed,
                state,
                at,
                producer,
            } => {
                let st = &mut self.feeds[feed.index()];
                let was_live_before = st.received > 0;
                if state == LinkState::Live && was_live_before {
                    st.reconnects += 1;
                    st.reconnect_marks.push_back(at);
                    while st.reconnect_marks.len() > MAX_SEGMENTS {
                        st.reconnect_marks.pop_front();
                    }
                }
                if state == LinkState::Live {
                    // a new connection: the producer's clock may have restarted
                    st.offset_s = None;
                    st.last_id = None;
                }
                if producer.is_some() {
                    st.producer = producer;
                }
                st.link = Some(state);
                self.now = self.now.max(at);
                self.generation += 1;
            }
            Ingest::Latency { feed, ms } => self.feeds[feed.index()].latency_ms = Some(ms),
        }
    }

    /// Earliest time held.
    pub fn start(&self) -> f64 {
        let f = self.frames.front().map(|f| f.t);
        let s = self.states.front().map(|s| s.t);
        match (f, s) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => self.now,
        }
    }

    /// Index of the retail frame shown at `t` (latest at or before `t`).
    pub fn frame_index_at(&self, t: f64) -> Option<usize> {
        let n = self.frames.partition_point(|f| f.t <= t);
        if n == 0 {
            (!self.frames.is_empty()).then_some(0)
        } else {
            Some(n - 1)
        }
    }

    /// Index of the engine state shown at `t` (engine time = `t - nudge_s`).
    pub fn state_index_at(&self, t: f64, nudge_s: f64) -> Option<usize> {
        let te = t - nudge_s;
        let n = self.states.partition_point(|s| s.t <= te);
        if n == 0 {
            (!self.states.is_empty()).then_some(0)
        } else {
            Some(n - 1)
        }
    }

    /// Time of the frame `steps` frames away from the one shown at `t` (clamped).
    pub fn step_frames(&self, t: f64, steps: i64) -> Option<f64> {
        let i = self.frame_index_at(t)? as i64;
        let j = (i + steps).clamp(0, self.frames.len() as i64 - 1) as usize;
        Some(self.frames[j].t)
    }

    /// Marks whose time lies in `[t0, t1]`.
    pub fn marks_in(&self, t0: f64, t1: f64) -> impl Iterator<Item = &Mark> {
        self.marks.iter().filter(move |m| m.t >= t0 && m.t <= t1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u64, host_ms: u64) -> RetailFrame {
        RetailFrame {
            frame_id: id,
            host_time_ns: host_ms * 1_000_000,
            telemetry_time_ns: None,
            width: 2,
            height: 2,
            stride: 12,
            pixels: Bytes::from(vec![0u8; 24]),
            t: 0.0,
        }
    }

    #[test]
    fn aligns_steps_segments_and_budget() {
        let mut s = LiveStore::new(24 * 3);
        s.ingest(Ingest::Link {
            feed: Feed::Retail,
            state: LinkState::Live,
            at: 10.0,
            producer: None,
        });
        // producer clock starts at 1000 ms, arrives at store time 10 s
        for i in 0..4 {
            s.ingest(Ingest::Frame {
                frame: frame(i, 1000 + i * 33),
                arrival: 10.0 + i as f64 * 0.033,
            });
        }
        assert!((s.frames.back().unwrap().t - (10.0 + 0.099)).abs() < 1e-9);
        assert_eq!(s.frames.len(), 3, "budget of 3 frames");
        assert_eq!(s.evicted, 1);
        // a stall of 1 s, then frame id jumps by 2
        s.ingest(Ingest::Frame {
            frame: frame(6, 2100),
            arrival: 11.1,
        });
        assert_eq!(s.feeds[0].skipped, 2);
        let kinds: Vec<_> = s.feeds[0].segments.iter().map(|g| g.kind).collect();
        assert_eq!(
            kinds,
            [SegmentKind::Data, SegmentKind::Stall, SegmentKind::Data]
        );
        let t_mid = 10.07;
        let i = s.frame_index_at(t_mid).unwrap();
        assert_eq!(s.frames[i].frame_id, 2);
        assert_eq!(s.step_frames(t_mid, 1), Some(s.frames[i + 1].t));
        assert_eq!(s.step_frames(t_mid, -10), Some(s.frames[0].t));
        // reconnect then gap
        s.ingest(Ingest::Link {
            feed: Feed::Retail,
            state: LinkState::Disconnected {
                reason: "reset".into(),
                retry_at: Some(12.0),
            },
            at: 11.2,
            producer: None,
        });
        s.ingest(Ingest::Link {
            feed: Feed::Retail,
            state: LinkState::Live,
            at: 12.0,
            producer: None,
        });
        s.ingest(Ingest::Frame {
            frame: frame(0, 5),
            arrival: 12.1,
        });
        assert_eq!(s.feeds[0].reconnects, 1);
        assert_eq!(
            s.feeds[0].segments.iter().rev().nth(1).unwrap().kind,
            SegmentKind::Gap
        );
        assert!(
            s.frames.back().unwrap().t > 12.0,
            "offset re-estimated after reconnect"
        );
    }

    #[test]
    fn channel_is_bounded_and_counts_drops() {
        let (tx, rx) = ingest_channel(2, None);
        for i in 0..5 {
            assert!(tx.send(Ingest::Frame {
                frame: frame(i, i),
                arrival: 0.0
            }));
        }
        let mut s = LiveStore::new(1 << 20);
        assert_eq!(s.drain(&rx), 2);
        assert_eq!(s.feeds[0].dropped, 3);
        drop(rx);
        assert!(!tx.send(Ingest::Latency {
            feed: Feed::Engine,
            ms: 1.0
        }));
    }

    #[test]
    fn invalid_frame_is_refused() {
        let mut s = LiveStore::new(1 << 20);
        let mut f = frame(0, 0);
        f.stride = 4; // less than width * 4
        s.ingest(Ingest::Frame {
            frame: f,
            arrival: 0.0,
        });
        assert!(s.frames.is_empty());
    }
}
