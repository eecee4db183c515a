//! Adapter from the GrimStream core ([`crate::grimstream::LiveView`]: feed connections,
//! decoding, clock estimation, store) to the live pane's [`LiveStore`].
//!
//! One `grimstream::LiveView` per feed, so each feed connects and disconnects on its own
//! while the pane's history stays. Each UI frame [`GrimFeeds::pull`] copies what arrived
//! since the last frame out of the core's store (a short lock; pixels are shared `Bytes`,
//! never copied) and converts it to [`Ingest`] messages whose times are the core's
//! estimated viewer-clock times, so the pane shows the core's alignment.

use std::time::Instant;

use super::model::{EngineState, Feed, Ingest, LinkState, LiveStore, Mark, RetailFrame};
use crate::grimstream::feed::FeedState;
use crate::grimstream::live::{LiveOptions, LiveView as CoreView};
use crate::grimstream::store::EventKind;
use crate::grimstream::{FeedAddr, FeedRole};

fn role(f: Feed) -> FeedRole {
    match f {
        Feed::Retail => FeedRole::Retail,
        Feed::Engine => FeedRole::Engine,
    }
}

/// Text of the core's clock estimate for the HUD.
#[derive(Debug, Clone, Default)]
pub struct ClockText {
    /// e.g. "offset +12.345 s ±0.4 ms drift +3 ppm".
    pub text: Option<String>,
}

struct Conn {
    view: CoreView,
    /// Core epoch minus the pane's epoch, s.
    epoch_shift: f64,
    /// Last arrival (core ns) forwarded, per item type: frames, states, marks, events.
    seen: [i64; 4],
    last_state: Option<LinkState>,
}

/// The connected feeds.
#[derive(Default)]
pub struct GrimFeeds {
    conns: [Option<Conn>; 2],
    /// Clock estimate per feed.
    pub clocks: [ClockText; 2],
}

/// Parses a feed address as typed in the pane (`host:port`, `tcp://host:port`, `unix:/path`).
pub fn parse_addr(s: &str) -> Result<FeedAddr, String> {
    let s = s.trim();
    let with_scheme = if s.contains("://") || s.starts_with("unix:") {
        s.to_owned()
    } else {
        format!("tcp://{s}")
    };
    with_scheme
        .parse::<FeedAddr>()
        .map_err(|e| format!("{s:?}: {e}"))
}

impl GrimFeeds {
    /// Connects `feed` to `addr` (replacing any previous connection of that feed).
    pub fn connect(&mut self, feed: Feed, addr: &FeedAddr, epoch: Instant) -> std::io::Result<()> {
        self.conns[feed.index()] = None;
        let opts = match feed {
            Feed::Retail => LiveOptions::new(Some(addr.clone()), None),
            Feed::Engine => LiveOptions::new(None, Some(addr.clone())),
        };
        let view = CoreView::start(opts)?;
        let epoch_shift = match view.epoch().checked_duration_since(epoch) {
            Some(d) => d.as_secs_f64(),
            None => -epoch.duration_since(view.epoch()).as_secs_f64(),
        };
        self.conns[feed.index()] = Some(Conn {
            view,
            epoch_shift,
            seen: [i64::MIN; 4],
            last_state: None,
        });
        Ok(())
    }

    /// Disconnects `feed` (its history stays in the pane).
    pub fn disconnect(&mut self, feed: Feed) {
        self.conns[feed.index()] = None;
        self.clocks[feed.index()] = ClockText::default();
    }

    /// Whether `feed` has a connection (in any state).
    pub fn is_connected(&self, feed: Feed) -> bool {
        self.conns[feed.index()].is_some()
    }

    /// Copies everything new from the core into `store`. Returns messages applied.
    pub fn pull(&mut self, store: &mut LiveStore, now: f64) -> usize {
        let mut n = 0;
        for feed in Feed::ALL {
            let Some(c) = &mut self.conns[feed.index()] else {
                continue;
            };
            let r = role(feed);
            let shift = c.epoch_shift;
            let secs = |ns: i64| ns as f64 / 1e9 + shift;
            let seen = c.seen;
            // copy out under the core's lock; convert after
            let (frames, states, marks, events) = c.view.with_store(|s| {
                let fs = s.feed(r);
                let frames: Vec<_> = fs
                    .frames
                    .iter()
                    .rev()
                    .take_while(|f| f.arrival_ns > seen[0])
                    .cloned()
                    .collect();
                let states: Vec<_> = fs
                    .states
                    .iter()
                    .rev()
                    .take_while(|x| x.arrival_ns > seen[1])
                    .cloned()
                    .collect();
                let marks: Vec<_> = fs
                    .marks
                    .iter()
                    .rev()
                    .take_while(|x| x.arrival_ns > seen[2])
                    .cloned()
                    .collect();
                let events: Vec<_> = fs
                    .events
                    .iter()
                    .rev()
                    .take_while(|x| x.arrival_ns > seen[3])
                    .cloned()
                    .collect();
                (frames, states, marks, events)
            });
            let snap = c.view.snapshot();
            let status = match feed {
                Feed::Retail => &snap.retail,
                Feed::Engine => &snap.engine,
            };
            let link = match &status.state {
                FeedState::Idle | FeedState::Stopped => LinkState::Idle,
                FeedState::Connecting { .. } => LinkState::Connecting,
                // a stall shows in the lane; the link itself is up
                FeedState::Live | FeedState::Stalled { .. } => LinkState::Live,
                FeedState::Disconnected {
                    reason,
                    retry_in_ms,
                } => LinkState::Disconnected {
                    reason: reason.clone(),
                    retry_at: Some(now + *retry_in_ms as f64 / 1000.0),
                },
            };
            let changed = match (&c.last_state, &link) {
                (
                    Some(LinkState::Disconnected { reason: a, .. }),
                    LinkState::Disconnected { reason: b, .. },
                ) => a != b,
                (Some(a), b) => a != b,
                (None, _) => true,
            };
            if changed {
                store.ingest(Ingest::Link {
                    feed,
                    state: link.clone(),
                    at: now,
                    producer: status.producer.clone(),
                });
                c.last_state = Some(link);
                n += 1;
            } else if let (
                Some(LinkState::Disconnected { retry_at, .. }),
                LinkState::Disconnected { retry_at: r2, .. },
            ) = (store.feeds[feed.index()].link.as_mut(), &link)
            {
                *retry_at = *r2; // keep the countdown fresh without counting a change
            }
            let clock = match feed {
                Feed::Retail => snap.retail_clock,
                Feed::Engine => snap.engine_clock,
            };
            self.clocks[feed.index()].text = clock.map(|e| {
                format!(
                    "{:+.3} s ±{:.1} ms {:+.0} ppm",
                    e.offset_ns as f64 / 1e9,
                    e.spread_ns as f64 / 1e6,
                    e.drift_ppm
                )
            });
            for ev in events.iter().rev() {
                c.seen[3] = ev.arrival_ns;
                if let EventKind::Telemetry(t) = &ev.kind {
                    let at = secs(ev.t_ns);
                    store.ingest(Ingest::Mark {
                        mark: Mark {
                            feed,
                            host_time_ns: (at.max(0.0) * 1e9) as u64,
                            label: t.label.clone(),
                            detail: format!("{}", t.data),
                            t: 0.0,
                        },
                        arrival: at,
                    });
                    n += 1;
                }
            }
            for m in marks.iter().rev() {
                c.seen[2] = m.arrival_ns;
                let at = secs(m.t_ns);
                store.ingest(Ingest::Mark {
                    mark: Mark {
                        feed,
                        host_time_ns: (at.max(0.0) * 1e9) as u64,
                        label: m.mark.label.clone(),
                        detail: format!("{}", m.mark.data),
                        t: 0.0,
                    },
                    arrival: at,
                });
                n += 1;
            }
            for f in frames.iter().rev() {
                c.seen[0] = f.arrival_ns;
                let Some(cfg) = f.config else { continue };
                if cfg.pixel_format != 1 {
                    continue;
                }
                // host_time_ns carries the core's aligned time, so the pane's offset is 0
                let t = secs(f.t_ns);
                store.ingest(Ingest::Frame {
                    frame: RetailFrame {
                        frame_id: f.frame_id,
                        host_time_ns: (t.max(0.0) * 1e9) as u64,
                        telemetry_time_ns: f.telemetry_time_ns,
                        width: cfg.width,
                        height: cfg.height,
                        stride: cfg.stride_bytes,
                        pixels: f.data.clone(),
                        t: 0.0,
                    },
                    arrival: t,
                });
                n += 1;
            }
            if let Some(f) = frames.first() {
                store.ingest(Ingest::Latency {
                    feed,
                    ms: ((f.arrival_ns - f.t_ns) as f64 / 1e6) as f32,
                });
            }
            for s in states.iter().rev() {
                c.seen[1] = s.arrival_ns;
                let u = &s.state;
                let t = secs(s.t_ns);
                store.ingest(Ingest::State {
                    state: EngineState {
                        seq: u.seq,
                        host_time_ns: (t.max(0.0) * 1e9) as u64,
                        frame: u.frame,
                        position: u.position,
                        yaw: u.yaw,
                        active_setup: u.active_setup.clone(),
                        active_hotspot: u.active_hotspot.clone(),
                        active_movie: u.active_movie.clone(),
                        coverage: u
                            .coverage
                            .iter()
                            .flatten()
                            .map(|c| (c.key.clone(), c.value))
                            .collect(),
                        events: u.events.clone().unwrap_or_default(),
                        raw: serde_json::to_value(u).unwrap_or(serde_json::Value::Null),
                        t: 0.0,
                    },
                    arrival: t,
                });
                n += 1;
            }
            if let Some(s) = states.first() {
                store.ingest(Ingest::Latency {
                    feed,
                    ms: ((s.arrival_ns - s.t_ns) as f64 / 1e6) as f32,
                });
            }
        }
        n
    }
}
