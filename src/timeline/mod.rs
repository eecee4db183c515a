//! The live view's timeline model: pure state, one [`Command`] type applied in one place
//! ([`Timeline::apply`]), and cursor queries over the [`Store`].
//!
//! Time is viewer-clock nanoseconds (the [`crate::grimstream::LiveView`] epoch). The model
//! never touches sockets or the clock itself: the UI sends [`Command::Tick`] with
//! `LiveView::now_ns()` each frame, plus user commands, and then asks
//! [`query`] what to draw at [`Timeline::cursor_ns`]. Buffering never depends on the play
//! state: pausing only freezes the cursor.
//!
//! ```
//! use capdeck::timeline::{Command, PlayState, Timeline, TimeList};
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

use std::collections::VecDeque;

use crate::grimstream::FeedRole;
use crate::grimstream::store::{Store, StoredEvent, StoredFrame, StoredMark, StoredState};

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
        self.now_ns - self.live_delay_ns
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grimstream::codec::{Frame, Message, StateUpdate, TimelineMark};
    use bytes::Bytes;

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
}
