//! The demo world: a synthetic retail feed (an animated top-down scene with a moving hero)
//! and a matching engine feed (the same hero's position, yaw, hotspots, coverage), in the
//! real producers' dialect (`docs/grimstream-v1.md`: the hero walks the x/y plane,
//! yaw in degrees from `atan2(-dx, dy)`, marks only from retail telemetry, engine `seq`
//! never reset), so the live view can be shown and tested without the game.
//!
//! One world, two ways to run it:
//! - [`DemoScript`] is pure: for a time window it yields the messages a producer sends
//!   (and, on a fixed cycle, a retail stall and an engine disconnect, so every lane state
//!   is seen). No clock, no sockets.
//! - [`spawn_demo_feeds`] serves the scripts on real sockets, paced by the wall clock
//!   (`capdeck demo-feeds`, the app's built-in demo); [`ScriptedFeeds`] hands their bytes
//!   to a [`LiveView`] at chosen times (tests, snapshots), through the same decoder and
//!   store a socket's bytes go through.

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::FeedRole;
use super::live::{IngestError, LiveView};
use super::server::{ProducerServer, ServerOptions, Session, StopFlag};
use super::transport::FeedAddr;
use capdeck_wire::grimstream::decoder::DEFAULT_MAX_MESSAGE_LEN;
use capdeck_wire::grimstream::{
    CoverageEntry, Frame, Hello, Message, MovieStart, PIXEL_FORMAT_RGBA8, StateUpdate,
    StreamConfig, Telemetry, TimelineMark, encode,
};

/// Every cycle of this length the world misbehaves once on each feed.
pub const CYCLE_NS: u64 = 30_000_000_000;
/// The retail producer sends nothing from this point of each cycle ...
pub const STALL_AT_NS: u64 = 8_000_000_000;
/// ... for this long (longer than the stall limit of a 30 fps feed).
pub const STALL_LEN_NS: u64 = 800_000_000;
/// The engine drops its connection at this point of each cycle ...
pub const DROP_AT_NS: u64 = 18_000_000_000;
/// ... and sends again this much later.
pub const DROP_LEN_NS: u64 = 1_000_000_000;

/// Demo settings.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Retail listen address.
    pub retail_bind: FeedAddr,
    /// Engine listen address.
    pub engine_bind: FeedAddr,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames per second.
    pub fps: f32,
    /// Engine updates per second.
    pub engine_hz: f32,
}

impl DemoOptions {
    /// 1280x720 RGBA at 30 fps, engine at 60 Hz.
    pub fn new(retail_bind: FeedAddr, engine_bind: FeedAddr) -> DemoOptions {
        DemoOptions {
            retail_bind,
            engine_bind,
            width: 1280,
            height: 720,
            fps: 30.0,
            engine_hz: 60.0,
        }
    }
}

/// The running demo producers. Dropping it stops them.
pub struct DemoHandle {
    /// Where the retail feed listens (real port if bound to 0).
    pub retail_addr: FeedAddr,
    /// Where the engine feed listens.
    pub engine_addr: FeedAddr,
    stop: StopFlag,
    threads: Vec<JoinHandle<()>>,
}

impl DemoHandle {
    /// Stop both producers and wait for them.
    pub fn stop(&mut self) {
        self.stop.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for DemoHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where the hero is at world time `t` seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorldPose {
    /// World x (-9..9).
    pub x: f32,
    /// World y (-5..5); the ground is the x/y plane, z is up.
    pub y: f32,
    /// Heading in degrees, [0, 360): `atan2(-dx, dy)` of the step.
    pub yaw_deg: f32,
}

/// Hotspots: name, world x, world y, radius.
pub const HOTSPOTS: [(&str, f32, f32, f32); 3] = [
    ("door", -7.0, -3.0, 2.0),
    ("chest", 6.0, 4.0, 2.0),
    ("well", 0.0, 0.0, 1.5),
];

/// The hero's pose at `t` seconds (a Lissajous path).
pub fn pose_at(t: f64) -> WorldPose {
    let x = 9.0 * (0.35 * t).sin();
    let y = 5.0 * (0.5 * t).sin();
    let dx = 9.0 * 0.35 * (0.35 * t).cos();
    let dy = 5.0 * 0.5 * (0.5 * t).cos();
    let yaw = (-dx).atan2(dy).to_degrees().rem_euclid(360.0);
    WorldPose {
        x: x as f32,
        y: y as f32,
        yaw_deg: yaw as f32,
    }
}

/// The unit step (dx, dy) a yaw in degrees points along (inverse of `atan2(-dx, dy)`).
pub fn heading(yaw_deg: f32) -> (f32, f32) {
    let r = yaw_deg.to_radians();
    (-r.sin(), r.cos())
}

/// The hotspot the hero is in, if any.
pub fn hotspot_at(p: WorldPose) -> Option<&'static str> {
    HOTSPOTS
        .iter()
        .find(|(_, x, y, r)| (p.x - x).powi(2) + (p.y - y).powi(2) <= r * r)
        .map(|h| h.0)
}

fn to_px(w: u32, h: u32, x: f32, y: f32) -> (f32, f32) {
    (
        w as f32 / 2.0 + x * w as f32 / 22.0,
        h as f32 / 2.0 - y * h as f32 / 14.0,
    )
}

/// Renders the retail scene (RGBA8, stride = width*4).
#[derive(Debug)]
pub struct SceneRenderer {
    w: u32,
    h: u32,
    background: Vec<u8>,
}

impl SceneRenderer {
    /// Pre-render the static background.
    pub fn new(w: u32, h: u32) -> SceneRenderer {
        let (w, h) = (w.max(1), h.max(1));
        let mut bg = vec![0u8; w as usize * h as usize * 4];
        for y in 0..h {
            for x in 0..w {
                let i = (y as usize * w as usize + x as usize) * 4;
                let grid = x % 64 == 0 || y % 64 == 0;
                let (r, g, b) = if grid {
                    (70, 80, 90)
                } else {
                    (
                        (20 + 40 * y / h.max(1)) as u8,
                        (40 + 60 * x / w.max(1)) as u8,
                        60u8,
                    )
                };
                bg[i..i + 4].copy_from_slice(&[r, g, b, 255]);
            }
        }
        let mut s = SceneRenderer {
            w,
            h,
            background: bg,
        };
        for (_, x, y, r) in HOTSPOTS {
            let (px, py) = to_px(w, h, x, y);
            let rad = r * w as f32 / 22.0;
            let mut bg = std::mem::take(&mut s.background);
            s.disc(&mut bg, px, py, rad, [200, 170, 60, 255], Some(rad - 3.0));
            s.background = bg;
        }
        s
    }

    fn disc(&self, buf: &mut [u8], cx: f32, cy: f32, r: f32, c: [u8; 4], ring: Option<f32>) {
        let (w, h) = (self.w as i64, self.h as i64);
        let x0 = ((cx - r).floor() as i64).clamp(0, w);
        let x1 = ((cx + r).ceil() as i64).clamp(0, w);
        let y0 = ((cy - r).floor() as i64).clamp(0, h);
        let y1 = ((cy + r).ceil() as i64).clamp(0, h);
        for y in y0..y1 {
            for x in x0..x1 {
                let d2 = (x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2);
                let inside = d2 <= r * r && ring.is_none_or(|ir| d2 >= ir * ir);
                if inside {
                    let i = ((y * w + x) * 4) as usize;
                    buf[i..i + 4].copy_from_slice(&c);
                }
            }
        }
    }

    /// One frame at pose `p`.
    pub fn render(&self, p: WorldPose) -> Vec<u8> {
        let mut buf = self.background.clone();
        let (px, py) = to_px(self.w, self.h, p.x, p.y);
        let r = self.w as f32 / 60.0;
        self.disc(&mut buf, px, py, r, [230, 60, 50, 255], None);
        // Heading marker: yaw = atan2(-dx, dy), so the step is (-sin, cos); y is up.
        let (sx, sy) = heading(p.yaw_deg);
        let (hx, hy) = (px + sx * r * 1.6, py - sy * r * 1.6);
        self.disc(&mut buf, hx, hy, r * 0.4, [250, 250, 250, 255], None);
        buf
    }
}

/// What a producer does next.
#[derive(Clone, Debug, PartialEq)]
pub enum DemoItem {
    /// Send this message.
    Send(Message),
    /// Drop the connection (the engine's scripted disconnect).
    Disconnect,
}

/// One producer's script: pure, deterministic, driven by the caller's idea of time.
#[derive(Debug)]
pub struct DemoScript {
    role: FeedRole,
    opts: DemoOptions,
    scene: Option<Arc<SceneRenderer>>,
    /// Added to every `host_time_ns` (producers' clocks start anywhere).
    clock0_ns: u64,
    tick: u64,
    period_ns: f64,
    frame_id: u64,
    telemetry_seq: u64,
    last_second: Option<u64>,
    seq: u64,
    frame: u32,
    visits: Vec<(String, u64)>,
    prev_hot: Option<&'static str>,
    movie_sent: bool,
    dropped_in_cycle: Option<u64>,
}

impl DemoScript {
    /// The retail producer (frames, telemetry, timeline marks).
    pub fn retail(opts: &DemoOptions, scene: Arc<SceneRenderer>) -> DemoScript {
        Self::new(FeedRole::Retail, opts, Some(scene), opts.fps)
    }

    /// The engine (state updates and one MOVIE_START).
    pub fn engine(opts: &DemoOptions) -> DemoScript {
        Self::new(FeedRole::Engine, opts, None, opts.engine_hz)
    }

    fn new(role: FeedRole, opts: &DemoOptions, scene: Option<Arc<SceneRenderer>>, hz: f32) -> Self {
        DemoScript {
            role,
            opts: opts.clone(),
            scene,
            clock0_ns: 0,
            tick: 0,
            period_ns: 1e9 / hz.clamp(0.1, 10_000.0) as f64,
            frame_id: 0,
            telemetry_seq: 0,
            last_second: None,
            seq: 0,
            frame: 0,
            visits: HOTSPOTS.iter().map(|h| (h.0.to_string(), 0)).collect(),
            prev_hot: None,
            movie_sent: false,
            dropped_in_cycle: None,
        }
    }

    /// Start the producer's clock at `clock0_ns` instead of 0.
    pub fn with_clock0(mut self, clock0_ns: u64) -> DemoScript {
        self.clock0_ns = clock0_ns;
        self
    }

    /// Skip ahead so the next item is the first due at or after world time `t_ns` (a
    /// producer restarted mid-world; frame ids restart, the engine's seq does not).
    pub fn start_at(&mut self, t_ns: u64) {
        self.tick = self.tick.max((t_ns as f64 / self.period_ns).ceil() as u64);
        self.frame_id = 0;
    }

    /// What this producer sends right after HELLO: STREAM_CONFIG for retail.
    pub fn stream_config(&self) -> Option<StreamConfig> {
        (self.role == FeedRole::Retail).then(|| StreamConfig {
            width: self.opts.width,
            height: self.opts.height,
            pixel_format: PIXEL_FORMAT_RGBA8,
            stride_bytes: self.opts.width * 4,
            nominal_fps: Some(self.opts.fps),
        })
    }

    /// The HELLO this producer sends.
    pub fn hello(&self) -> Hello {
        let name = match self.role {
            FeedRole::Retail => "retail_capture",
            FeedRole::Engine => "grim_engine",
        };
        Hello::new(name, Some("capdeck-demo".into()))
    }

    /// World time of the next item, ns.
    pub fn next_due_ns(&self) -> u64 {
        (self.tick as f64 * self.period_ns) as u64
    }

    /// Everything due at world times up to `until_ns`, in order, with its world time.
    pub fn until(&mut self, until_ns: u64) -> Vec<(u64, DemoItem)> {
        let mut out = Vec::new();
        while self.next_due_ns() <= until_ns {
            let t = self.next_due_ns();
            self.tick += 1;
            match self.role {
                FeedRole::Retail => self.retail_tick(t, &mut out),
                FeedRole::Engine => self.engine_tick(t, &mut out),
            }
        }
        out
    }

    fn retail_tick(&mut self, t: u64, out: &mut Vec<(u64, DemoItem)>) {
        let in_cycle = t % CYCLE_NS;
        if (STALL_AT_NS..STALL_AT_NS + STALL_LEN_NS).contains(&in_cycle) {
            return; // a stall: the producer is silent, the connection stays
        }
        let host = self.clock0_ns + t;
        let p = pose_at(t as f64 / 1e9);
        let data = match &self.scene {
            Some(s) => Bytes::from(s.render(p)),
            None => Bytes::new(),
        };
        let fps = self.opts.fps.max(0.1) as f64;
        out.push((
            t,
            DemoItem::Send(Message::Frame(Frame {
                frame_id: self.frame_id,
                host_time_ns: host,
                telemetry_time_ns: Some((self.frame_id as f64 * 1e9 / fps) as u64),
                data,
            })),
        ));
        self.frame_id += 1;
        // the game names the hero's hotspot changes as its telemetry shim does, so the
        // comparison with the engine (which names them in its events) has pairs
        let hot = hotspot_at(p);
        if hot != self.prev_hot {
            for (h, what) in [(self.prev_hot, "leave"), (hot, "enter")] {
                let Some(h) = h else { continue };
                let seq = self.telemetry_seq;
                self.telemetry_seq += 1;
                out.push((
                    t,
                    DemoItem::Send(Message::Telemetry(Telemetry {
                        seq,
                        label: "intro.timeline".into(),
                        timestamp: Some(host / 1000),
                        data: rmpv::Value::Map(vec![(
                            "event".into(),
                            format!("hotspot.{h}.{what}").into(),
                        )]),
                    })),
                ));
            }
            self.prev_hot = hot;
        }
        let sec = t / 1_000_000_000;
        if self.last_second != Some(sec) {
            self.last_second = Some(sec);
            let intro = sec.is_multiple_of(5);
            let label = if intro { "intro.timeline" } else { "tick" };
            let data = rmpv::Value::Map(vec![
                ("x".into(), rmpv::Value::F32(p.x)),
                ("y".into(), rmpv::Value::F32(p.y)),
            ]);
            let seq = self.telemetry_seq;
            self.telemetry_seq += 1;
            out.push((
                t,
                DemoItem::Send(Message::Telemetry(Telemetry {
                    seq,
                    label: label.into(),
                    timestamp: Some(host / 1000),
                    data: data.clone(),
                })),
            ));
            if intro {
                // A mark carries the seq of the telemetry event it came from.
                out.push((
                    t,
                    DemoItem::Send(Message::TimelineMark(TimelineMark {
                        seq,
                        host_time_ns: host,
                        label: format!("intro.timeline {sec}s"),
                        data,
                    })),
                ));
            }
        }
    }

    fn engine_tick(&mut self, t: u64, out: &mut Vec<(u64, DemoItem)>) {
        let cycle = t / CYCLE_NS;
        let in_cycle = t % CYCLE_NS;
        if (DROP_AT_NS..DROP_AT_NS + DROP_LEN_NS).contains(&in_cycle) {
            if self.dropped_in_cycle != Some(cycle) {
                self.dropped_in_cycle = Some(cycle);
                out.push((t, DemoItem::Disconnect));
            }
            return;
        }
        if !self.movie_sent {
            self.movie_sent = true;
            out.push((
                t,
                DemoItem::Send(Message::MovieStart(MovieStart {
                    name: "logos".into(),
                    relative_path: Some("MoviesHD/logos.ogv".into()),
                })),
            ));
        }
        let p = pose_at(t as f64 / 1e9);
        let hot = hotspot_at(p);
        let mut events = Vec::new();
        if hot != self.prev_hot {
            if let Some(h) = hot {
                events.push(format!("hotspot.{h}.enter"));
                if let Some(v) = self.visits.iter_mut().find(|v| v.0 == h) {
                    v.1 += 1;
                }
            }
            if let Some(h) = self.prev_hot {
                events.push(format!("hotspot.{h}.leave"));
            }
        }
        self.prev_hot = hot;
        out.push((
            t,
            DemoItem::Send(Message::StateUpdate(StateUpdate {
                seq: self.seq,
                host_time_ns: self.clock0_ns + t,
                frame: Some(self.frame),
                position: Some([p.x, p.y, 0.0]),
                yaw: Some(p.yaw_deg),
                active_setup: Some("cam_main".into()),
                active_hotspot: hot.map(str::to_string),
                coverage: Some(
                    self.visits
                        .iter()
                        .map(|(k, v)| CoverageEntry {
                            key: k.clone(),
                            value: *v,
                        })
                        .collect(),
                ),
                events: (!events.is_empty()).then_some(events),
                active_movie: None,
            })),
        ));
        self.seq += 1;
        self.frame = self.frame.wrapping_add(1);
    }
}

/// Both scripts fed to a [`LiveView`] as bytes at chosen viewer times: the demo world
/// without sockets or a wall clock, through the same decoder and store as a connection.
#[derive(Debug)]
pub struct ScriptedFeeds {
    scripts: [DemoScript; 2],
    /// Transport delay added to each feed's arrival times, ns.
    pub delay_ns: [i64; 2],
    up: [bool; 2],
    done_ns: i64,
}

impl ScriptedFeeds {
    /// The demo world with these options; the producers' clocks start 5 s (retail) and
    /// 120 s (engine) before the viewer's, so alignment has work to do.
    pub fn new(opts: &DemoOptions) -> ScriptedFeeds {
        let scene = Arc::new(SceneRenderer::new(opts.width, opts.height));
        ScriptedFeeds {
            scripts: [
                DemoScript::retail(opts, scene).with_clock0(5_000_000_000),
                DemoScript::engine(opts).with_clock0(120_000_000_000),
            ],
            delay_ns: [4_000_000, 2_000_000],
            up: [false, false],
            done_ns: -1,
        }
    }

    /// Feed everything the world produced up to viewer time `t_ns` (world time 0 is
    /// viewer time 0) and let both feeds notice silence at `t_ns`.
    pub fn advance(&mut self, view: &mut LiveView, t_ns: i64) -> Result<(), IngestError> {
        if t_ns <= self.done_ns {
            return Ok(());
        }
        for role in FeedRole::ALL {
            let i = role.index();
            let delay = self.delay_ns[i];
            let until = (t_ns - delay).max(0) as u64;
            if t_ns < delay {
                continue;
            }
            for (t, item) in self.scripts[i].until(until) {
                let at = t as i64 + delay;
                match item {
                    DemoItem::Disconnect => {
                        if self.up[i] {
                            view.close_source(role, at, "connection reset by peer");
                            self.up[i] = false;
                        }
                    }
                    DemoItem::Send(msg) => {
                        if !self.up[i] {
                            self.up[i] = true;
                            view.open_source(role, at, DEFAULT_MAX_MESSAGE_LEN);
                            let s = &self.scripts[i];
                            let mut hs = vec![Message::Hello(s.hello())];
                            hs.extend(s.stream_config().map(Message::StreamConfig));
                            for m in hs {
                                feed(view, role, at, &m)?;
                            }
                        }
                        feed(view, role, at, &msg)?;
                    }
                }
            }
            view.tick_source(role, t_ns);
        }
        self.done_ns = t_ns;
        Ok(())
    }
}

fn feed(view: &mut LiveView, role: FeedRole, at: i64, msg: &Message) -> Result<(), IngestError> {
    match encode(msg) {
        Ok(bytes) => view.ingest_bytes(role, at, &bytes).map(|_| ()),
        // The script only builds encodable messages; say so loudly if that ever changes.
        Err(e) => {
            tracing::error!("demo script built an unencodable message: {e}");
            Ok(())
        }
    }
}

fn pace_until(start: Instant, t_ns: u64, stop: &dyn Fn() -> bool) {
    let due = start + Duration::from_nanos(t_ns);
    // Sleep in short steps so a stop request is seen within 50 ms.
    while !stop() {
        let now = Instant::now();
        if now >= due {
            return;
        }
        std::thread::sleep((due - now).min(Duration::from_millis(50)));
    }
}

/// Serve a script on one connection, paced by the wall clock from `start`.
fn serve_script(s: &mut Session<'_>, script: &mut DemoScript, start: Instant) -> io::Result<()> {
    script.start_at(start.elapsed().as_nanos() as u64);
    while !s.stopped() {
        if s.peer_closed() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "viewer closed",
            ));
        }
        for m in s.take_received() {
            tracing::info!("demo {} received {:?}", script.role.name(), m);
        }
        let now = start.elapsed().as_nanos() as u64;
        for (_, item) in script.until(now) {
            match item {
                DemoItem::Send(m) => s.send(&m)?,
                DemoItem::Disconnect => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "scripted disconnect",
                    ));
                }
            }
        }
        let next = script.next_due_ns();
        pace_until(start, next, &|| s.stopped());
    }
    Ok(())
}

/// Start both demo producers with default settings (binds at once; port 0 allowed).
pub fn spawn_demo_feeds(retail_bind: &FeedAddr, engine_bind: &FeedAddr) -> io::Result<DemoHandle> {
    spawn_demo_feeds_with(DemoOptions::new(retail_bind.clone(), engine_bind.clone()))
}

/// Start both demo producers on real sockets, each on its own named thread.
pub fn spawn_demo_feeds_with(opts: DemoOptions) -> io::Result<DemoHandle> {
    if opts.width == 0 || opts.height == 0 || opts.width > 8192 || opts.height > 8192 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "demo frame size must be 1..8192 in each direction",
        ));
    }
    let scene = Arc::new(SceneRenderer::new(opts.width, opts.height));
    let retail_script = DemoScript::retail(&opts, scene);
    let engine_script = DemoScript::engine(&opts);
    let retail = ProducerServer::bind(
        &opts.retail_bind,
        ServerOptions::retail(retail_script.hello(), retail_script.stream_config()),
    )?;
    let engine = ProducerServer::bind(
        &opts.engine_bind,
        ServerOptions::engine(engine_script.hello()),
    )?;
    let retail_addr = retail.local_addr().clone();
    let engine_addr = engine.local_addr().clone();
    let stop = StopFlag::default();
    let start = Instant::now();
    let mut threads = Vec::new();
    for (name, server, mut script) in [
        ("demo-retail", retail, retail_script),
        ("demo-engine", engine, engine_script),
    ] {
        let stop = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    if let Err(e) = server.run(&stop, |s| serve_script(s, &mut script, start)) {
                        tracing::error!("{name} server: {e}");
                    }
                })?,
        );
    }
    Ok(DemoHandle {
        retail_addr,
        engine_addr,
        stop,
        threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> DemoOptions {
        let any: FeedAddr = "tcp://127.0.0.1:0".parse().unwrap();
        let mut o = DemoOptions::new(any.clone(), any);
        o.width = 320;
        o.height = 180;
        o
    }

    #[test]
    fn scene_draws_the_hero_where_the_engine_says() {
        let scene = SceneRenderer::new(320, 180);
        let p = pose_at(3.0);
        let img = scene.render(p);
        let (px, py) = to_px(320, 180, p.x, p.y);
        let i = ((py as usize) * 320 + px as usize) * 4;
        assert_eq!(&img[i..i + 4], &[230, 60, 50, 255]);
        assert_ne!(scene.render(pose_at(0.0)), scene.render(pose_at(5.0)));
    }

    #[test]
    fn yaw_is_degrees_of_atan2_minus_dx_dy() {
        // Moving along +y (dx = 0, dy > 0) is yaw 0; along -x is 90.
        for t in [0.0, 1.0, 2.5, 7.0, 12.0] {
            let (a, b) = (pose_at(t), pose_at(t + 1e-4));
            let (dx, dy) = ((b.x - a.x) as f64, (b.y - a.y) as f64);
            let want = (-dx).atan2(dy).to_degrees().rem_euclid(360.0);
            assert!(
                (a.yaw_deg as f64 - want).abs() < 0.5,
                "t {t}: {} vs {want}",
                a.yaw_deg
            );
            assert!((0.0..360.0).contains(&a.yaw_deg));
            let (hx, hy) = heading(a.yaw_deg);
            let n = (dx * dx + dy * dy).sqrt();
            assert!((hx as f64 - dx / n).abs() < 0.01 && (hy as f64 - dy / n).abs() < 0.01);
        }
    }

    #[test]
    fn scripts_stall_retail_and_drop_the_engine_once_a_cycle() {
        let o = opts();
        let mut r = DemoScript::retail(&o, Arc::new(SceneRenderer::new(8, 8)));
        let frames: Vec<u64> = r
            .until(10_000_000_000)
            .into_iter()
            .filter(|(_, i)| matches!(i, DemoItem::Send(Message::Frame(_))))
            .map(|(t, _)| t)
            .collect();
        let longest = frames.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        assert!(
            longest >= STALL_LEN_NS,
            "the stall is a silence of {longest} ns"
        );
        let mut e = DemoScript::engine(&o);
        let items = e.until(2 * CYCLE_NS);
        let drops = items
            .iter()
            .filter(|(_, i)| *i == DemoItem::Disconnect)
            .count();
        assert_eq!(drops, 2);
        let seqs: Vec<u64> = items
            .iter()
            .filter_map(|(_, i)| match i {
                DemoItem::Send(Message::StateUpdate(s)) => Some(s.seq),
                _ => None,
            })
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "engine seq never resets"
        );
    }
}
