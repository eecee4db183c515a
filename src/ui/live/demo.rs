//! Built-in demo feeds for the live view when no producer is running.
//!
//! [`DemoScript`] is pure: given a time window it returns the ingest messages a retail
//! producer (30 fps RGBA frames with a stride wider than `width * 4`, telemetry marks) and
//! an engine (30 Hz states walking a loop) would have sent, including a retail stall and an
//! engine reconnect on a fixed cycle so every lane state is visible. Tests drive it with
//! simulated time; [`spawn_demo_feeds`] drives it with the real clock on a named thread.
//!
//! Once the GrimStream issue's in-process demo producers are merged, the live view should
//! connect to those over TCP instead; this stays as the no-socket fallback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::model::{EngineState, Feed, Ingest, IngestTx, LinkState, Mark, RetailFrame};

/// Retail stalls (no frames) from `STALL_AT` to `STALL_AT + STALL_LEN` in every cycle.
const CYCLE_S: f64 = 30.0;
const STALL_AT: f64 = 8.0;
const STALL_LEN: f64 = 0.8;
/// The engine disconnects at `DROP_AT` and is back `DROP_LEN` later in every cycle.
const DROP_AT: f64 = 18.0;
const DROP_LEN: f64 = 1.0;
/// Extra bytes at the end of every row, to exercise stride handling.
pub const ROW_PADDING: u32 = 64;

/// Generator of demo feed messages.
#[derive(Debug, Clone)]
pub struct DemoScript {
    /// Retail frame size.
    pub width: u32,
    /// Retail frame size.
    pub height: u32,
    /// Retail frame rate.
    pub fps: f64,
    /// Engine update rate.
    pub engine_hz: f64,
    /// Producer clock start offsets (ns), different per feed so skew alignment matters.
    pub retail_clock0_ns: u64,
    /// See `retail_clock0_ns`.
    pub engine_clock0_ns: u64,
    retail_next: u64,
    engine_next: u64,
    engine_seq: u64,
    frame_id: u64,
    started: bool,
    engine_up: bool,
}

impl DemoScript {
    /// A script with this frame size and rates.
    pub fn new(width: u32, height: u32, fps: f64, engine_hz: f64) -> Self {
        Self {
            width,
            height,
            fps,
            engine_hz,
            retail_clock0_ns: 5_000_000_000,
            engine_clock0_ns: 120_000_000_000,
            retail_next: 0,
            engine_next: 0,
            engine_seq: 0,
            frame_id: 0,
            started: false,
            engine_up: false,
        }
    }

    /// All messages for simulated times in `(.., until]` not yet produced, in order.
    pub fn advance(&mut self, until: f64) -> Vec<Ingest> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(Ingest::Link {
                feed: Feed::Retail,
                state: LinkState::Live,
                at: 0.0,
                producer: Some("demo retail".into()),
            });
            out.push(Ingest::Link {
                feed: Feed::Engine,
                state: LinkState::Live,
                at: 0.0,
                producer: Some("demo engine".into()),
            });
            self.engine_up = true;
        }
        loop {
            let tr = self.retail_next as f64 / self.fps;
            let te = self.engine_next as f64 / self.engine_hz;
            let t = tr.min(te);
            if t > until {
                break;
            }
            if tr <= te {
                self.retail_next += 1;
                let c = tr % CYCLE_S;
                if (STALL_AT..STALL_AT + STALL_LEN).contains(&c) {
                    continue;
                }
                out.push(Ingest::Frame {
                    frame: self.frame(tr),
                    arrival: tr + 0.004,
                });
                if self.frame_id % 45 == 0 {
                    out.push(Ingest::Mark {
                        mark: Mark {
                            feed: Feed::Retail,
                            host_time_ns: self.retail_clock0_ns + (tr * 1e9) as u64,
                            label: "intro.timeline".into(),
                            detail: format!("beat {}", self.frame_id / 45),
                            t: 0.0,
                        },
                        arrival: tr + 0.004,
                    });
                }
            } else {
                self.engine_next += 1;
                let c = te % CYCLE_S;
                let down = (DROP_AT..DROP_AT + DROP_LEN).contains(&c);
                if down && self.engine_up {
                    self.engine_up = false;
                    out.push(Ingest::Link {
                        feed: Feed::Engine,
                        state: LinkState::Disconnected {
                            reason: "connection reset by peer".into(),
                            retry_at: Some(te + DROP_LEN),
                        },
                        at: te,
                        producer: None,
                    });
                }
                if down {
                    continue;
                }
                if !self.engine_up {
                    self.engine_up = true;
                    self.engine_seq = 0; // reconnects reset seq
                    out.push(Ingest::Link {
                        feed: Feed::Engine,
                        state: LinkState::Live,
                        at: te,
                        producer: Some("demo engine".into()),
                    });
                }
                out.push(Ingest::State {
                    state: self.state(te),
                    arrival: te + 0.002,
                });
                if self.engine_seq % 60 == 1 {
                    out.push(Ingest::Mark {
                        mark: Mark {
                            feed: Feed::Engine,
                            host_time_ns: self.engine_clock0_ns + (te * 1e9) as u64,
                            label: "hook: hotspot.enter".into(),
                            detail: format!("hotspot {}", hotspot_name(te)),
                            t: 0.0,
                        },
                        arrival: te + 0.002,
                    });
                }
            }
        }
        out
    }

    fn frame(&mut self, t: f64) -> RetailFrame {
        let (w, h) = (self.width, self.height);
        let stride = w * 4 + ROW_PADDING;
        let id = self.frame_id;
        self.frame_id += 1;
        RetailFrame {
            frame_id: id,
            host_time_ns: self.retail_clock0_ns + (t * 1e9) as u64,
            telemetry_time_ns: Some(id * 33_333_333),
            width: w,
            height: h,
            stride,
            pixels: Bytes::from(render_pattern(w, h, stride, t, id)),
            t: 0.0,
        }
    }

    fn state(&mut self, t: f64) -> EngineState {
        let seq = self.engine_seq;
        self.engine_seq += 1;
        let a = t * 0.35;
        let pos = [(6.0 * a.cos()) as f32, 0.0, (3.5 * (2.0 * a).sin()) as f32];
        // heading along the path's tangent
        let (dx, dz) = (-6.0 * a.sin(), 7.0 * (2.0 * a).cos());
        let yaw = dz.atan2(dx) as f32;
        let hotspot = hotspot_name(t);
        let visited = (t / 4.0) as u64;
        let events = if seq % 60 == 1 {
            vec![format!("hotspot.enter {hotspot}")]
        } else {
            vec![]
        };
        let coverage = vec![
            ("hotspots".to_owned(), visited.min(24)),
            ("setups".to_owned(), (visited / 3).min(8)),
            ("dialogs".to_owned(), visited * 2),
        ];
        let host_time_ns = self.engine_clock0_ns + (t * 1e9) as u64;
        let frame = (t * self.engine_hz) as u32;
        let raw = serde_json::json!({
            "seq": seq,
            "host_time_ns": host_time_ns,
            "frame": frame,
            "position": pos,
            "yaw": yaw,
            "active_setup": "mo_ws",
            "active_hotspot": hotspot,
            "coverage": coverage.iter().map(|(k, v)| serde_json::json!({"key": k, "value": v})).collect::<Vec<_>>(),
            "events": events,
        });
        EngineState {
            seq,
            host_time_ns,
            frame: Some(frame),
            position: Some(pos),
            yaw: Some(yaw),
            active_setup: Some("mo_ws".into()),
            active_hotspot: Some(hotspot.into()),
            active_movie: ((t % CYCLE_S) < 3.0).then(|| "logos".to_owned()),
            coverage,
            events,
            raw,
            t: 0.0,
        }
    }
}

fn hotspot_name(t: f64) -> &'static str {
    const H: [&str; 4] = ["door", "desk", "window", "phone"];
    H[((t / 4.0) as usize) % H.len()]
}

/// Renders a recognisable moving test image: gradient, a bouncing block, frame-id bars.
pub fn render_pattern(w: u32, h: u32, stride: u32, t: f64, id: u64) -> Vec<u8> {
    let mut px = vec![0u8; (stride * h) as usize];
    let bx = ((t * 0.4).sin() * 0.5 + 0.5) * (w as f64 * 0.75);
    let by = ((t * 0.7).cos() * 0.5 + 0.5) * (h as f64 * 0.7);
    let (bw, bh) = (w as f64 * 0.2, h as f64 * 0.25);
    let shift = (t * 40.0) as u32;
    for y in 0..h {
        let row = &mut px[(y * stride) as usize..(y * stride + w * 4) as usize];
        let g = (y * 255 / h.max(1)) as u8;
        for (x, p) in row.chunks_exact_mut(4).enumerate() {
            let x = x as u32;
            let in_box = (x as f64) >= bx
                && (x as f64) < bx + bw
                && (y as f64) >= by
                && (y as f64) < by + bh;
            let c = if in_box {
                [240, 200, 40]
            } else if y < h / 16 {
                // frame-id bars: 16 bits of the id
                let bit = (x * 16 / w.max(1)) as u64;
                if (id >> (15 - bit)) & 1 == 1 {
                    [230, 230, 230]
                } else {
                    [30, 30, 30]
                }
            } else {
                let r = (((x + shift) * 255 / w.max(1)) & 0xff) as u8;
                [r / 2, g / 2 + 40, 120]
            };
            p.copy_from_slice(&[c[0], c[1], c[2], 255]);
        }
    }
    px
}

/// Handle of the demo feed thread; stops it when dropped.
#[derive(Debug)]
pub struct DemoFeeds {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for DemoFeeds {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the demo feeds on a named thread, sending into `tx` in real time from `epoch`
/// (store time = seconds since `epoch`).
pub fn spawn_demo_feeds(
    mut script: DemoScript,
    tx: IngestTx,
    epoch: Instant,
) -> std::io::Result<DemoFeeds> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let t0 = epoch.elapsed().as_secs_f64();
    let thread = std::thread::Builder::new()
        .name("capdeck-demo-feeds".into())
        .spawn(move || {
            let period = Duration::from_secs_f64(1.0 / script.fps.max(script.engine_hz));
            while !stop2.load(Ordering::Relaxed) {
                let now = epoch.elapsed().as_secs_f64() - t0;
                for mut msg in script.advance(now) {
                    shift(&mut msg, t0);
                    if !tx.send(msg) {
                        return;
                    }
                }
                std::thread::sleep(period);
            }
        })?;
    Ok(DemoFeeds {
        stop,
        thread: Some(thread),
    })
}

fn shift(msg: &mut Ingest, by: f64) {
    match msg {
        Ingest::Frame { arrival, .. }
        | Ingest::State { arrival, .. }
        | Ingest::Mark { arrival, .. } => *arrival += by,
        Ingest::Link { at, state, .. } => {
            *at += by;
            if let LinkState::Disconnected {
                retry_at: Some(r), ..
            } = state
            {
                *r += by;
            }
        }
        Ingest::Latency { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{LiveStore, SegmentKind};
    use super::*;

    #[test]
    fn script_shows_stall_reconnect_and_marks() {
        let mut s = DemoScript::new(64, 36, 30.0, 30.0);
        let mut store = LiveStore::new(1 << 30);
        for m in s.advance(20.0) {
            store.ingest(m);
        }
        let retail = &store.feeds[Feed::Retail.index()];
        assert!(retail.segments.iter().any(|g| g.kind == SegmentKind::Stall));
        let engine = &store.feeds[Feed::Engine.index()];
        assert_eq!(engine.reconnects, 1);
        assert!(engine.segments.iter().any(|g| g.kind == SegmentKind::Gap));
        assert!(store.marks.len() > 10);
        let f = store.frames.back().unwrap();
        assert_eq!(f.stride, 64 * 4 + ROW_PADDING);
        assert!(
            (f.t - 20.0).abs() < 0.1,
            "retail aligned to arrival time: {}",
            f.t
        );
        assert!((store.states.back().unwrap().t - 20.0).abs() < 0.1);
    }
}
