//! The live view's timeline model: pure state, one [`Command`] type applied in one place
//! ([`Timeline::apply`]), and cursor queries over the [`Store`].
//!
//! Time is viewer-clock nanoseconds (the [`capdeck_grimstream::LiveView`] epoch). The model
//! never touches sockets or the clock itself: the UI sends [`Command::Tick`] with
//! `LiveView::now_ns()` each frame, plus user commands, and then asks
//! [`query`] what to draw at [`Timeline::cursor_ns`]. Buffering never depends on the play
//! state: pausing only freezes the cursor.
//!
//! ```
//! use capdeck_timeline::{Command, PlayState, Timeline, TimeList};
//! let frames = TimeList::new(vec![0, 33, 66, 100]);
//! let states = TimeList::new(vec![0, 16, 32, 48, 64, 80, 96]);
//! let src = (&frames, &states);
//! let mut tl = Timeline::live_without_delay();
//! tl.apply(Command::Tick { now_ns: 100 }, &src);
//! tl.apply(Command::Pause, &src);
//! tl.apply(Command::StepFrame { forward: false }, &src);
//! assert_eq!(tl.cursor_ns, 66);
//! assert_eq!(tl.state, PlayState::Paused);
//! ```
//!
//! # For the desktop pane
//!
//! ```no_run
//! use capdeck_grimstream::{LiveOptions, LiveView, demo::spawn_demo_feeds};
//! use capdeck_timeline::{Command, Timeline, query};
//! // Default source: the in-process demo (port 0 picks free ports).
//! let demo = spawn_demo_feeds(&"tcp://127.0.0.1:0".parse()?, &"tcp://127.0.0.1:0".parse()?)?;
//! let view = LiveView::start(LiveOptions::new(
//!     Some(demo.retail_addr.clone()),
//!     Some(demo.engine_addr.clone()),
//! ))?;
//! let mut timeline = Timeline::default();
//! // Every UI frame:
//! let snap = view.snapshot(); // states, counters, clocks, memory use
//! let shown = view.with_store(|store| {
//!     timeline.apply(Command::Tick { now_ns: snap.now_ns }, store);
//!     query(store, timeline.cursor_ns, 2_000_000_000) // frame, state, skew, marks
//! });
//! // user input: view.with_store(|s| timeline.apply(Command::TogglePlay, s));
//! # let _ = shown;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!

use std::collections::VecDeque;

use capdeck_grimstream::FeedRole;
use capdeck_grimstream::store::{
    EventKind, GapReason, Store, StoredEvent, StoredFrame, StoredMark, StoredState,
};

/// Slowest playback speed.
pub const MIN_SPEED: f32 = 0.1;
/// Fastest playback speed.
pub const MAX_SPEED: f32 = 8.0;
/// Default delay behind live when following (smooth playback despite jitter).
pub const DEFAULT_LIVE_DELAY_NS: i64 = 200_000_000;

/// Play state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PlayState {
    /// Cursor follows the live edge minus [`Timeline::live_delay_ns`].
    FollowLive,
    /// Cursor advances at [`Timeline::speed`].
    Playing,
    /// Cursor stands still (data keeps buffering).
    Paused,
}

/// A selected time span (for looping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Start, ns.
    pub start_ns: i64,
    /// End, ns (> start).
    pub end_ns: i64,
}

/// Everything the timeline can be told.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    /// Advance the clock: the UI sends this every frame with the viewer clock.
    Tick {
        /// Viewer clock now, ns.
        now_ns: i64,
    },
    /// Play if paused (at the current speed), pause otherwise.
    TogglePlay,
    /// Play at the current speed from the cursor.
    Play,
    /// Pause at the cursor.
    Pause,
    /// Pause and move to the next/previous retail frame.
    StepFrame {
        /// Forward or back.
        forward: bool,
    },
    /// Pause and move to the next/previous engine state update.
    StepState {
        /// Forward or back.
        forward: bool,
    },
    /// Move the cursor (clamped to the data held); leaves live-follow for playing.
    Seek {
        /// Target, ns.
        t_ns: i64,
    },
    /// Move to the oldest data held.
    JumpToStart,
    /// Follow live again.
    JumpToLive,
    /// Playback speed, clamped to [`MIN_SPEED`]..[`MAX_SPEED`].
    SetSpeed(f32),
    /// Delay behind live when following (>= 0).
    SetLiveDelay {
        /// Delay, ns.
        delay_ns: i64,
    },
    /// Set or clear the selection.
    SetSelection(Option<Selection>),
    /// Toggle looping over the selection (no-op without one).
    ToggleLoop,
    /// Fix the end of the data (a recording opened for replay: its last message), or
    /// clear it (live feeds): with an end, the live edge is that end, so following
    /// "live" sits at the recording's end and playing stops there.
    SetEnd {
        /// End, ns, or None for live data.
        end_ns: Option<i64>,
    },
}

/// Where the data is: what step commands and clamping need. Implemented for [`Store`]
/// (retail frames, engine states, nudges applied) and for `(&TimeList, &TimeList)` in tests.
pub trait TimelineSource {
    /// Earliest and latest time held.
    fn range(&self) -> Option<(i64, i64)>;
    /// First frame time strictly after `t`.
    fn next_frame(&self, t: i64) -> Option<i64>;
    /// Last frame time strictly before `t`.
    fn prev_frame(&self, t: i64) -> Option<i64>;
    /// First state time strictly after `t`.
    fn next_state(&self, t: i64) -> Option<i64>;
    /// Last state time strictly before `t`.
    fn prev_state(&self, t: i64) -> Option<i64>;
}

/// A sorted list of times (a test and example source).
#[derive(Clone, Debug, Default)]
pub struct TimeList(Vec<i64>);

impl TimeList {
    /// From times (sorted here).
    pub fn new(mut v: Vec<i64>) -> TimeList {
        v.sort_unstable();
        TimeList(v)
    }

    fn next(&self, t: i64) -> Option<i64> {
        self.0.get(self.0.partition_point(|x| *x <= t)).copied()
    }

    fn prev(&self, t: i64) -> Option<i64> {
        let i = self.0.partition_point(|x| *x < t);
        i.checked_sub(1).map(|i| self.0[i])
    }
}

impl TimelineSource for (&TimeList, &TimeList) {
    fn range(&self) -> Option<(i64, i64)> {
        let lo = [self.0.0.first(), self.1.0.first()]
            .into_iter()
            .flatten()
            .min()?;
        let hi = [self.0.0.last(), self.1.0.last()]
            .into_iter()
            .flatten()
            .max()?;
        Some((*lo, *hi))
    }
    fn next_frame(&self, t: i64) -> Option<i64> {
        self.0.next(t)
    }
    fn prev_frame(&self, t: i64) -> Option<i64> {
        self.0.prev(t)
    }
    fn next_state(&self, t: i64) -> Option<i64> {
        self.1.next(t)
    }
    fn prev_state(&self, t: i64) -> Option<i64> {
        self.1.prev(t)
    }
}

fn next_in<T>(v: &VecDeque<T>, nudge: i64, t: i64, key: impl Fn(&T) -> i64) -> Option<i64> {
    let i = v.partition_point(|x| key(x) + nudge <= t);
    v.get(i).map(|x| key(x) + nudge)
}

fn prev_in<T>(v: &VecDeque<T>, nudge: i64, t: i64, key: impl Fn(&T) -> i64) -> Option<i64> {
    let i = v.partition_point(|x| key(x) + nudge < t);
    i.checked_sub(1)
        .and_then(|i| v.get(i))
        .map(|x| key(x) + nudge)
}

impl TimelineSource for Store {
    fn range(&self) -> Option<(i64, i64)> {
        self.time_range()
    }
    fn next_frame(&self, t: i64) -> Option<i64> {
        let f = self.feed(FeedRole::Retail);
        next_in(&f.frames, f.nudge_ns, t, |x| x.t_ns)
    }
    fn prev_frame(&self, t: i64) -> Option<i64> {
        let f = self.feed(FeedRole::Retail);
        prev_in(&f.frames, f.nudge_ns, t, |x| x.t_ns)
    }
    fn next_state(&self, t: i64) -> Option<i64> {
        let f = self.feed(FeedRole::Engine);
        next_in(&f.states, f.nudge_ns, t, |x| x.t_ns)
    }
    fn prev_state(&self, t: i64) -> Option<i64> {
        let f = self.feed(FeedRole::Engine);
        prev_in(&f.states, f.nudge_ns, t, |x| x.t_ns)
    }
}

/// The timeline state. Change it only through [`Timeline::apply`].
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// Play state.
    pub state: PlayState,
    /// Cursor, viewer-clock ns.
    pub cursor_ns: i64,
    /// Playback speed.
    pub speed: f32,
    /// Delay behind live when following.
    pub live_delay_ns: i64,
    /// Selection, if any.
    pub selection: Option<Selection>,
    /// Loop playback over the selection.
    pub looping: bool,
    /// Viewer clock at the last tick.
    pub now_ns: i64,
    /// End of the data when it is a recording ([`Command::SetEnd`]).
    pub end_ns: Option<i64>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            state: PlayState::FollowLive,
            cursor_ns: 0,
            speed: 1.0,
            live_delay_ns: DEFAULT_LIVE_DELAY_NS,
            selection: None,
            looping: false,
            now_ns: 0,
            end_ns: None,
        }
    }
}

impl Timeline {
    /// A timeline following live with no delay (for tools and tests).
    pub fn live_without_delay() -> Timeline {
        Timeline {
            live_delay_ns: 0,
            ..Default::default()
        }
    }

    /// The live edge: where follow-live puts the cursor.
    pub fn live_edge_ns(&self) -> i64 {
        self.end_ns.unwrap_or(self.now_ns - self.live_delay_ns)
    }

    fn clamp_to(&self, t: i64, src: &dyn TimelineSource) -> i64 {
        let hi = self.live_edge_ns();
        match src.range() {
            Some((lo, _)) => t.clamp(lo.min(hi), hi),
            None => t.min(hi),
        }
    }

    /// Apply one command. The only place the timeline changes.
    pub fn apply(&mut self, cmd: Command, src: &dyn TimelineSource) {
        match cmd {
            Command::Tick { now_ns } => {
                let dt = (now_ns - self.now_ns).max(0);
                self.now_ns = now_ns;
                match self.state {
                    PlayState::FollowLive => self.cursor_ns = self.live_edge_ns(),
                    PlayState::Paused => {}
                    PlayState::Playing => {
                        let mut t = self.cursor_ns + (dt as f64 * self.speed as f64) as i64;
                        if let (true, Some(sel)) = (self.looping, self.selection) {
                            if t > sel.end_ns || t < sel.start_ns {
                                let len = (sel.end_ns - sel.start_ns).max(1);
                                t = sel.start_ns + (t - sel.start_ns).rem_euclid(len);
                            }
                            self.cursor_ns = t;
                        } else if t >= self.live_edge_ns() {
                            // Caught up with live: follow it.
                            self.state = PlayState::FollowLive;
                            self.cursor_ns = self.live_edge_ns();
                        } else {
                            self.cursor_ns = t;
                        }
                    }
                }
            }
            Command::TogglePlay => {
                let next = match self.state {
                    PlayState::Paused => Command::Play,
                    _ => Command::Pause,
                };
                self.apply(next, src);
            }
            Command::Play => {
                if self.state == PlayState::Paused {
                    self.state = PlayState::Playing;
                }
            }
            Command::Pause => self.state = PlayState::Paused,
            Command::StepFrame { forward } => {
                self.state = PlayState::Paused;
                let t = if forward {
                    src.next_frame(self.cursor_ns)
                } else {
                    src.prev_frame(self.cursor_ns)
                };
                if let Some(t) = t {
                    self.cursor_ns = t;
                }
            }
            Command::StepState { forward } => {
                self.state = PlayState::Paused;
                let t = if forward {
                    src.next_state(self.cursor_ns)
                } else {
                    src.prev_state(self.cursor_ns)
                };
                if let Some(t) = t {
                    self.cursor_ns = t;
                }
            }
            Command::Seek { t_ns } => {
                self.cursor_ns = self.clamp_to(t_ns, src);
                if self.state == PlayState::FollowLive {
                    self.state = PlayState::Playing;
                }
            }
            Command::JumpToStart => {
                if let Some((lo, _)) = src.range() {
                    self.cursor_ns = lo;
                }
                if self.state == PlayState::FollowLive {
                    self.state = PlayState::Playing;
                }
            }
            Command::JumpToLive => {
                self.state = PlayState::FollowLive;
                self.cursor_ns = self.live_edge_ns();
            }
            Command::SetSpeed(s) => {
                self.speed = if s.is_finite() {
                    s.clamp(MIN_SPEED, MAX_SPEED)
                } else {
                    1.0
                };
            }
            Command::SetLiveDelay { delay_ns } => {
                self.live_delay_ns = delay_ns.max(0);
                if self.state == PlayState::FollowLive {
                    self.cursor_ns = self.live_edge_ns();
                }
            }
            Command::SetSelection(sel) => {
                self.selection = sel.and_then(|s| {
                    let (a, b) = (s.start_ns.min(s.end_ns), s.start_ns.max(s.end_ns));
                    (b > a).then_some(Selection {
                        start_ns: a,
                        end_ns: b,
                    })
                });
                if self.selection.is_none() {
                    self.looping = false;
                }
            }
            Command::SetEnd { end_ns } => {
                self.end_ns = end_ns;
                if self.state == PlayState::FollowLive {
                    self.cursor_ns = self.live_edge_ns();
                }
            }
            Command::ToggleLoop => {
                self.looping = !self.looping && self.selection.is_some();
                if let (true, Some(sel)) = (self.looping, self.selection) {
                    if self.state == PlayState::FollowLive {
                        self.state = PlayState::Playing;
                    }
                    if self.cursor_ns < sel.start_ns || self.cursor_ns > sel.end_ns {
                        self.cursor_ns = sel.start_ns;
                    }
                }
            }
        }
    }
}

/// What to show at a cursor time.
#[derive(Clone, Debug, Default)]
pub struct CursorView {
    /// The cursor.
    pub cursor_ns: i64,
    /// Retail frame shown (last at or before the cursor), cheap clone (pixels shared).
    pub frame: Option<StoredFrame>,
    /// Its shown time (nudge applied).
    pub frame_shown_ns: Option<i64>,
    /// Engine state in effect.
    pub state: Option<StoredState>,
    /// Its shown time (nudge applied).
    pub state_shown_ns: Option<i64>,
    /// Retail-to-engine skew: frame shown time minus state shown time (positive: the frame
    /// is newer than the state).
    pub skew_ns: Option<i64>,
    /// Marks of both feeds within the window around the cursor (at most [`NEARBY_MAX`]
    /// per feed, nearest first).
    pub marks: Vec<(FeedRole, StoredMark)>,
    /// Events (gaps, stalls, telemetry, movies, ...) of both feeds in the window.
    pub events: Vec<(FeedRole, StoredEvent)>,
}

/// Cap on marks/events returned per feed by [`query`].
pub const NEARBY_MAX: usize = 64;

fn nearest<T: Clone>(items: impl Iterator<Item = T>, cursor: i64, t: impl Fn(&T) -> i64) -> Vec<T> {
    let mut v: Vec<T> = items.collect();
    v.sort_by_key(|x| (t(x) - cursor).abs());
    v.truncate(NEARBY_MAX);
    v
}

/// Answer "what is shown at `cursor_ns`": frame, state, skew, and marks/events within
/// `window_ns` either side.
pub fn query(store: &Store, cursor_ns: i64, window_ns: i64) -> CursorView {
    let r = store.feed(FeedRole::Retail);
    let e = store.feed(FeedRole::Engine);
    let frame = r.frame_at(cursor_ns).cloned();
    let state = e.state_at(cursor_ns).cloned();
    let frame_shown_ns = frame.as_ref().map(|f| r.shown_ns(f.t_ns));
    let state_shown_ns = state.as_ref().map(|s| e.shown_ns(s.t_ns));
    let skew_ns = match (frame_shown_ns, state_shown_ns) {
        (Some(a), Some(b)) => Some(a - b),
        _ => None,
    };
    let (lo, hi) = (cursor_ns - window_ns, cursor_ns + window_ns);
    let mut marks = Vec::new();
    let mut events = Vec::new();
    for role in FeedRole::ALL {
        let f = store.feed(role);
        let n = f.nudge_ns;
        marks.extend(
            nearest(f.marks_between(lo, hi).cloned(), cursor_ns, |m| m.t_ns + n)
                .into_iter()
                .map(|m| (role, m)),
        );
        events.extend(
            nearest(f.events_between(lo, hi).cloned(), cursor_ns, |m| m.t_ns + n)
                .into_iter()
                .map(|m| (role, m)),
        );
    }
    CursorView {
        cursor_ns,
        frame,
        frame_shown_ns,
        state,
        state_shown_ns,
        skew_ns,
        marks,
        events,
    }
}

/// What a stretch of a lane shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// Data held (frames or state updates) while connected.
    Data,
    /// Connected but silent beyond the stall limit.
    Stall,
    /// Not connected.
    Disconnected,
}

/// A stretch `[start_ns, end_ns]` of a lane (shown times, nudge applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Start.
    pub start_ns: i64,
    /// End (>= start).
    pub end_ns: i64,
    /// Kind.
    pub kind: SegmentKind,
}

/// A point on a lane.
#[derive(Clone, Debug, PartialEq)]
pub enum TickKind {
    /// A `frame_id` / `seq` jump.
    Gap(GapReason),
    /// The connection was re-established.
    Reconnect,
    /// A TIMELINE_MARK (label).
    Mark(String),
    /// A TELEMETRY event (label).
    Telemetry(String),
    /// MOVIE_START (name).
    Movie(String),
    /// The MOVIE_CONTROL this viewer sent for a movie.
    MovieAnswer {
        /// Movie name.
        name: String,
        /// The answer and its message (the reason of an `error`).
        answer: String,
        /// Time from MOVIE_START to the answer, ns (`None` when the start is no longer
        /// in the history).
        took_ns: Option<i64>,
    },
    /// A message skipped or refused (text).
    Problem(String),
}

/// A point on a lane at a shown time.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    /// Shown time.
    pub t_ns: i64,
    /// What.
    pub kind: TickKind,
}

/// One feed's lane: built from the store's data and events, nothing else.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lane {
    /// Data spans first, then stalls and disconnections (draw in this order).
    pub segments: Vec<Segment>,
    /// Gaps, reconnects, marks, telemetry, movies, problems, oldest first.
    pub ticks: Vec<Tick>,
}

/// The lane of `role` up to `now_ns`: data spans per connection, stalls and
/// disconnections from the store's events (an ongoing one runs to `now_ns`), and ticks.
pub fn lane(store: &Store, role: FeedRole, now_ns: i64) -> Lane {
    let f = store.feed(role);
    let n = f.nudge_ns;
    let mut lane = Lane::default();
    let span = |generation: u64, t: i64, segs: &mut Vec<(u64, Segment)>| match segs.last_mut() {
        Some((g, s)) if *g == generation => s.end_ns = t + n,
        _ => segs.push((
            generation,
            Segment {
                start_ns: t + n,
                end_ns: t + n,
                kind: SegmentKind::Data,
            },
        )),
    };
    let mut data = Vec::new();
    match role {
        FeedRole::Retail => f
            .frames
            .iter()
            .for_each(|x| span(x.generation, x.t_ns, &mut data)),
        FeedRole::Engine => f
            .states
            .iter()
            .for_each(|x| span(x.generation, x.t_ns, &mut data)),
    }
    lane.segments.extend(data.into_iter().map(|(_, s)| s));
    let mut stall_since = None;
    let mut movie_started: Option<(&str, i64)> = None;
    let mut down_since = None;
    let mut other = Vec::new();
    for e in &f.events {
        let t = e.t_ns + n;
        let tick = |kind| Tick { t_ns: t, kind };
        match &e.kind {
            EventKind::Connected => {
                if let Some(d) = down_since.take() {
                    other.push(Segment {
                        start_ns: d,
                        end_ns: t,
                        kind: SegmentKind::Disconnected,
                    });
                }
            }
            EventKind::Disconnected { .. } => down_since = Some(t),
            EventKind::StallStarted => stall_since = Some(t),
            EventKind::StallEnded { stalled_ns } => {
                let start = stall_since.take().unwrap_or(t - stalled_ns);
                other.push(Segment {
                    start_ns: start,
                    end_ns: t,
                    kind: SegmentKind::Stall,
                });
            }
            EventKind::Gap(GapReason::Reconnect) => lane.ticks.push(tick(TickKind::Reconnect)),
            EventKind::Gap(g) => lane.ticks.push(tick(TickKind::Gap(g.clone()))),
            EventKind::Telemetry(m) => lane.ticks.push(tick(TickKind::Telemetry(m.label.clone()))),
            EventKind::MovieStart(m) => {
                movie_started = Some((&m.name, e.arrival_ns));
                lane.ticks.push(tick(TickKind::Movie(m.name.clone())))
            }
            EventKind::MovieControlSent(c) => {
                let took_ns = movie_started
                    .filter(|(name, _)| *name == c.name)
                    .map(|(_, at)| e.arrival_ns - at);
                let action = c.action.name();
                lane.ticks.push(tick(TickKind::MovieAnswer {
                    name: c.name.clone(),
                    answer: match &c.message {
                        Some(m) => format!("{action} ({m})"),
                        None => action.into(),
                    },
                    took_ns,
                }))
            }
            EventKind::UnknownSkipped { kind, len } => lane.ticks.push(tick(TickKind::Problem(
                format!("skipped unknown kind 0x{kind:04x} ({len} bytes)"),
            ))),
            EventKind::DecodeError(text) => lane.ticks.push(tick(TickKind::Problem(text.clone()))),
            _ => {}
        }
    }
    if let Some(s) = stall_since {
        other.push(Segment {
            start_ns: s,
            end_ns: now_ns.max(s),
            kind: SegmentKind::Stall,
        });
    }
    if let Some(d) = down_since {
        other.push(Segment {
            start_ns: d,
            end_ns: now_ns.max(d),
            kind: SegmentKind::Disconnected,
        });
    }
    lane.segments.extend(other);
    lane.ticks.extend(f.marks.iter().map(|m| Tick {
        t_ns: m.t_ns + n,
        kind: TickKind::Mark(m.mark.label.clone()),
    }));
    lane.ticks.sort_by_key(|t| t.t_ns);
    lane
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use capdeck_wire::grimstream::{Frame, Message, StateUpdate, TimelineMark};

    fn src() -> (TimeList, TimeList) {
        (
            TimeList::new((0..=30).map(|i| i * 100).collect()), // frames every 100
            TimeList::new((0..=60).map(|i| i * 50 + 10).collect()), // states every 50, +10
        )
    }

    #[test]
    fn follow_live_with_delay_then_pause_keeps_cursor() {
        let (f, s) = src();
        let s = (&f, &s);
        let mut tl = Timeline::default();
        tl.apply(Command::SetLiveDelay { delay_ns: 200 }, &s);
        tl.apply(Command::Tick { now_ns: 3000 }, &s);
        assert_eq!(tl.cursor_ns, 2800);
        tl.apply(Command::TogglePlay, &s);
        assert_eq!(tl.state, PlayState::Paused);
        tl.apply(Command::Tick { now_ns: 5000 }, &s);
        assert_eq!(tl.cursor_ns, 2800, "paused cursor stays");
        tl.apply(Command::JumpToLive, &s);
        assert_eq!(tl.cursor_ns, 4800);
        assert_eq!(tl.state, PlayState::FollowLive);
    }

    #[test]
    fn playing_at_speed_and_catching_up_with_live() {
        let (f, s) = src();
        let s = (&f, &s);
        let mut tl = Timeline::live_without_delay();
        tl.apply(Command::Tick { now_ns: 3000 }, &s);
        tl.apply(Command::Seek { t_ns: 1000 }, &s);
        assert_eq!(tl.state, PlayState::Playing);
        tl.apply(Command::SetSpeed(2.0), &s);
        tl.apply(Command::Tick { now_ns: 3100 }, &s);
        assert_eq!(tl.cursor_ns, 1200);
        tl.apply(Command::SetSpeed(100.0), &s);
        assert_eq!(tl.speed, MAX_SPEED);
        tl.apply(Command::SetSpeed(0.0), &s);
        assert_eq!(tl.speed, MIN_SPEED);
        tl.apply(Command::SetSpeed(8.0), &s);
        tl.apply(Command::Tick { now_ns: 3400 }, &s);
        // 1200 + 300*8 = 3600 > live edge 3400: follows live.
        assert_eq!(tl.state, PlayState::FollowLive);
        assert_eq!(tl.cursor_ns, 3400);
    }

    #[test]
    fn a_recording_plays_on_the_real_clock_and_stops_at_its_end() {
        let (f, s) = src();
        let s = (&f, &s);
        let mut tl = Timeline::default();
        // the viewer clock is small (the recording was just opened); the data is 0..3000
        tl.apply(Command::SetEnd { end_ns: Some(3000) }, &s);
        tl.apply(Command::Tick { now_ns: 10 }, &s);
        assert_eq!(tl.cursor_ns, 3000, "following sits at the recording's end");
        tl.apply(Command::JumpToStart, &s);
        tl.apply(Command::Pause, &s);
        tl.apply(Command::Seek { t_ns: 5000 }, &s);
        assert_eq!(
            tl.cursor_ns, 3000,
            "seek clamps to the end, not to the clock"
        );
        tl.apply(Command::Seek { t_ns: 1000 }, &s);
        tl.apply(Command::Play, &s);
        tl.apply(Command::Tick { now_ns: 510 }, &s);
        assert_eq!(tl.cursor_ns, 1500, "plays with the clock's steps");
        tl.apply(Command::Tick { now_ns: 5000 }, &s);
        assert_eq!((tl.state, tl.cursor_ns), (PlayState::FollowLive, 3000));
        tl.apply(Command::SetEnd { end_ns: None }, &s);
        assert_eq!(tl.cursor_ns, 5000 - DEFAULT_LIVE_DELAY_NS, "live again");
    }

    #[test]
    fn stepping_frames_and_states() {
        let (f, s) = src();
        let s = (&f, &s);
        let mut tl = Timeline::live_without_delay();
        tl.apply(Command::Tick { now_ns: 1000 }, &s);
        tl.apply(Command::StepFrame { forward: false }, &s);
        assert_eq!((tl.state, tl.cursor_ns), (PlayState::Paused, 900));
        tl.apply(Command::StepFrame { forward: true }, &s);
        assert_eq!(tl.cursor_ns, 1000);
        tl.apply(Command::StepState { forward: true }, &s);
        assert_eq!(tl.cursor_ns, 1010);
        tl.apply(Command::StepState { forward: false }, &s);
        assert_eq!(tl.cursor_ns, 960);
        tl.apply(Command::JumpToStart, &s);
        assert_eq!(tl.cursor_ns, 0);
        tl.apply(Command::StepFrame { forward: false }, &s);
        assert_eq!(tl.cursor_ns, 0, "nothing before the start");
        tl.apply(Command::Seek { t_ns: -500 }, &s);
        assert_eq!(tl.cursor_ns, 0, "seek clamps to data");
        tl.apply(Command::Seek { t_ns: 99_999 }, &s);
        assert_eq!(tl.cursor_ns, 1000, "seek clamps to the live edge");
    }

    #[test]
    fn loop_over_selection() {
        let (f, s) = src();
        let s = (&f, &s);
        let mut tl = Timeline::live_without_delay();
        tl.apply(Command::Tick { now_ns: 3000 }, &s);
        tl.apply(Command::ToggleLoop, &s);
        assert!(!tl.looping, "no selection, no loop");
        tl.apply(
            Command::SetSelection(Some(Selection {
                start_ns: 2000,
                end_ns: 1000,
            })),
            &s,
        );
        tl.apply(Command::ToggleLoop, &s);
        assert!(tl.looping);
        assert_eq!(tl.selection.unwrap().start_ns, 1000);
        assert_eq!((tl.state, tl.cursor_ns), (PlayState::Playing, 1000));
        tl.apply(Command::Tick { now_ns: 3900 }, &s);
        assert_eq!(tl.cursor_ns, 1900);
        tl.apply(Command::Tick { now_ns: 4300 }, &s);
        assert_eq!(tl.cursor_ns, 1300, "wrapped");
        tl.apply(Command::ToggleLoop, &s);
        assert!(!tl.looping);
    }

    #[test]
    fn query_answers_frame_state_skew_and_marks() {
        let mut store = Store::default();
        store.begin_generation(FeedRole::Retail, 1, 0);
        store.begin_generation(FeedRole::Engine, 1, 0);
        for i in 0..10u64 {
            // Both producers started at viewer time 0; no delay.
            store.ingest(
                FeedRole::Retail,
                (i * 100) as i64,
                Message::Frame(Frame {
                    frame_id: i,
                    host_time_ns: i * 100,
                    telemetry_time_ns: None,
                    data: Bytes::from(vec![i as u8; 4]),
                }),
            );
            store.ingest(
                FeedRole::Engine,
                (i * 100 + 30) as i64,
                Message::StateUpdate(StateUpdate {
                    seq: i,
                    host_time_ns: i * 100 + 30,
                    position: Some([i as f32, 0.0, 0.0]),
                    ..Default::default()
                }),
            );
        }
        store.ingest(
            FeedRole::Engine,
            540,
            Message::TimelineMark(TimelineMark {
                seq: 0,
                host_time_ns: 540,
                label: "door".into(),
                data: rmpv::Value::Nil,
            }),
        );
        let v = query(&store, 550, 100);
        assert_eq!(v.frame.as_ref().unwrap().frame_id, 5);
        assert_eq!(v.state.as_ref().unwrap().state.seq, 5);
        assert_eq!(v.skew_ns, Some(500 - 530));
        assert_eq!(v.marks.len(), 1);
        assert_eq!(v.marks[0].1.mark.label, "door");
        // Nudging the engine 100 ns later changes which state is in effect and the skew.
        store.set_nudge(FeedRole::Engine, 100);
        let v = query(&store, 550, 100);
        assert_eq!(v.state.as_ref().unwrap().state.seq, 4);
        assert_eq!(v.skew_ns, Some(500 - 530));
        let v = query(&store, 650, 0);
        assert_eq!(v.skew_ns, Some(600 - 630));
        // Store-backed stepping sees the nudge.
        let mut tl = Timeline::live_without_delay();
        tl.apply(Command::Tick { now_ns: 2000 }, &store);
        tl.apply(Command::Seek { t_ns: 550 }, &store);
        tl.apply(Command::StepState { forward: true }, &store);
        assert_eq!(tl.cursor_ns, 630);
    }

    #[test]
    fn lanes_come_from_the_store_data_and_events() {
        const MS: i64 = 1_000_000;
        let mut store = Store::default();
        store.begin_generation(FeedRole::Engine, 1, 0);
        let state = |seq: u64, host_ms: u64| {
            Message::StateUpdate(StateUpdate {
                seq,
                host_time_ns: host_ms * 1_000_000,
                ..Default::default()
            })
        };
        for i in 0..10u64 {
            store.ingest(FeedRole::Engine, (i * 16) as i64 * MS, state(i, i * 16));
        }
        // silent 1 s: a stall, seen when data resumes
        store.ingest(FeedRole::Engine, 1_144 * MS, state(10, 1_144));
        store.ingest(FeedRole::Engine, 1_160 * MS, state(12, 1_160)); // seq jump
        store.end_generation(FeedRole::Engine, 1_200 * MS, "reset".into());
        store.begin_generation(FeedRole::Engine, 2, 2_000 * MS);
        store.ingest(FeedRole::Engine, 2_016 * MS, state(13, 2_016));
        store.ingest(FeedRole::Engine, 2_032 * MS, state(14, 2_032));
        let l = lane(&store, FeedRole::Engine, 2_100 * MS);
        let segs: Vec<_> = l
            .segments
            .iter()
            .map(|s| (s.kind, s.start_ns / MS, s.end_ns / MS))
            .collect();
        assert_eq!(segs.len(), 4, "{segs:?}");
        assert_eq!(segs[0].0, SegmentKind::Data);
        assert_eq!((segs[0].1, segs[0].2), (0, 1_160));
        assert_eq!(segs[1].0, SegmentKind::Data);
        assert_eq!(segs[1].2, 2_032);
        // last message at 144 ms, limit 500 ms (4 periods of 16 ms, clamped up)
        assert!(segs.contains(&(SegmentKind::Stall, 644, 1_144)), "{segs:?}");
        assert!(
            segs.contains(&(SegmentKind::Disconnected, 1_200, 2_000)),
            "{segs:?}"
        );
        let ticks: Vec<_> = l.ticks.iter().map(|t| t.kind.clone()).collect();
        assert_eq!(
            ticks,
            vec![
                TickKind::Gap(GapReason::SeqJump {
                    expected: 11,
                    got: 12
                }),
                TickKind::Reconnect
            ]
        );
        // The nudge moves the whole lane.
        store.set_nudge(FeedRole::Engine, 50 * MS);
        let moved = lane(&store, FeedRole::Engine, 2_100 * MS);
        assert_eq!(moved.segments[0].start_ns, 50 * MS);
        assert_eq!(moved.ticks[1].t_ns, l.ticks[1].t_ns + 50 * MS);
    }
}
