//! `capdeck demo-feeds`: a synthetic retail feed (an animated scene with a moving
//! character) and a matching engine feed (the same character's position, yaw, hotspots,
//! coverage, marks), served like the real producers, so the live view can be shown and
//! tested without the game. Also startable in-process: [`spawn_demo_feeds`].

use std::io;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;

use super::codec::{
    CoverageEntry, Frame, Hello, Message, MovieStart, PIXEL_FORMAT_RGBA8, StateUpdate,
    StreamConfig, Telemetry, TimelineMark,
};
use super::server::{ProducerServer, ServerOptions, Session, StopFlag};
use super::transport::{DEFAULT_ENGINE_ADDR, DEFAULT_RETAIL_ADDR, FeedAddr};

/// `capdeck demo-feeds` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoFeedsArgs {
    /// Where the retail feed listens (tcp://host:port, host:port or unix:/path; port 0 picks one).
    #[arg(long, default_value = DEFAULT_RETAIL_ADDR)]
    pub retail_bind: String,
    /// Where the engine feed listens.
    #[arg(long, default_value = DEFAULT_ENGINE_ADDR)]
    pub engine_bind: String,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Retail frame width.
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    /// Retail frame height.
    #[arg(long, default_value_t = 720)]
    pub height: u32,
    /// Retail frames per second.
    #[arg(long, default_value_t = 30.0)]
    pub fps: f32,
    /// Engine state updates per second.
    #[arg(long, default_value_t = 60.0)]
    pub engine_hz: f32,
}

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

/// Start both demo producers with default settings (binds at once; port 0 allowed).
pub fn spawn_demo_feeds(retail_bind: &FeedAddr, engine_bind: &FeedAddr) -> io::Result<DemoHandle> {
    spawn_demo_feeds_with(DemoOptions::new(retail_bind.clone(), engine_bind.clone()))
}

/// The shared world both feeds describe: where the character is at time `t` seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorldPose {
    /// World x (-10..10).
    pub x: f32,
    /// World z (-6..6).
    pub z: f32,
    /// Heading, radians.
    pub yaw: f32,
}

/// Hotspots: name, world x, world z, radius.
pub const HOTSPOTS: [(&str, f32, f32, f32); 3] = [
    ("door", -7.0, -3.0, 2.0),
    ("chest", 6.0, 4.0, 2.0),
    ("well", 0.0, 0.0, 1.5),
];

/// Character pose at `t` seconds (a Lissajous path).
pub fn pose_at(t: f64) -> WorldPose {
    let x = 9.0 * (0.35 * t).sin();
    let z = 5.0 * (0.5 * t).sin();
    let dx = 9.0 * 0.35 * (0.35 * t).cos();
    let dz = 5.0 * 0.5 * (0.5 * t).cos();
    WorldPose {
        x: x as f32,
        z: z as f32,
        yaw: dz.atan2(dx) as f32,
    }
}

/// The hotspot the character is in, if any.
pub fn hotspot_at(p: WorldPose) -> Option<&'static str> {
    HOTSPOTS
        .iter()
        .find(|(_, x, z, r)| (p.x - x).powi(2) + (p.z - z).powi(2) <= r * r)
        .map(|h| h.0)
}

fn to_px(w: u32, h: u32, x: f32, z: f32) -> (f32, f32) {
    (
        w as f32 / 2.0 + x * w as f32 / 22.0,
        h as f32 / 2.0 + z * h as f32 / 14.0,
    )
}

/// Renders the retail scene (RGBA8, stride = width*4).
pub struct SceneRenderer {
    w: u32,
    h: u32,
    background: Vec<u8>,
}

impl SceneRenderer {
    /// Pre-render the static background.
    pub fn new(w: u32, h: u32) -> SceneRenderer {
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
        for (_, x, z, r) in HOTSPOTS {
            let (px, py) = to_px(w, h, x, z);
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
        let (px, py) = to_px(self.w, self.h, p.x, p.z);
        let r = self.w as f32 / 60.0;
        self.disc(&mut buf, px, py, r, [230, 60, 50, 255], None);
        // Heading marker.
        let (hx, hy) = (px + p.yaw.cos() * r * 1.6, py + p.yaw.sin() * r * 1.6);
        self.disc(&mut buf, hx, hy, r * 0.4, [250, 250, 250, 255], None);
        buf
    }
}

fn pace(next: &mut Instant, period: Duration) {
    let now = Instant::now();
    if *next > now {
        std::thread::sleep(*next - now);
        *next += period;
    } else {
        // Behind: do not burst to catch up.
        *next = now + period;
    }
}

fn retail_session(
    s: &mut Session<'_>,
    opts: &DemoOptions,
    scene: &SceneRenderer,
    start: Instant,
) -> io::Result<()> {
    let period = Duration::from_secs_f64(1.0 / opts.fps.max(0.1) as f64);
    let mut next = Instant::now();
    let (mut frame_id, mut tseq, mut mseq) = (0u64, 0u64, 0u64);
    let mut last_tel = 0u64;
    while !s.stopped() {
        let host = start.elapsed().as_nanos() as u64;
        let t = host as f64 / 1e9;
        let p = pose_at(t);
        s.send(&Message::Frame(Frame {
            frame_id,
            host_time_ns: host,
            telemetry_time_ns: Some(frame_id * 1_000_000_000 / opts.fps.max(0.1) as u64),
            data: Bytes::from(scene.render(p)),
        }))?;
        frame_id += 1;
        let sec = host / 1_000_000_000;
        if sec != last_tel {
            last_tel = sec;
            let intro = sec.is_multiple_of(5);
            let label = if intro { "intro.timeline" } else { "tick" };
            let data = rmpv::Value::Map(vec![
                ("x".into(), rmpv::Value::F32(p.x)),
                ("z".into(), rmpv::Value::F32(p.z)),
            ]);
            s.send(&Message::Telemetry(Telemetry {
                seq: tseq,
                label: label.into(),
                timestamp: Some(host / 1000),
                data: data.clone(),
            }))?;
            tseq += 1;
            if intro {
                s.send(&Message::TimelineMark(TimelineMark {
                    seq: mseq,
                    host_time_ns: host,
                    label: format!("intro.timeline {sec}s"),
                    data,
                }))?;
                mseq += 1;
            }
        }
        pace(&mut next, period);
    }
    Ok(())
}

fn engine_session(s: &mut Session<'_>, opts: &DemoOptions, start: Instant) -> io::Result<()> {
    let period = Duration::from_secs_f64(1.0 / opts.engine_hz.max(0.1) as f64);
    let mut next = Instant::now();
    let (mut seq, mut frame, mut mseq) = (0u64, 0u32, 0u64);
    let mut visits: Vec<(String, u64)> = HOTSPOTS.iter().map(|h| (h.0.to_string(), 0)).collect();
    let mut prev_hot: Option<&str> = None;
    s.send(&Message::MovieStart(MovieStart {
        name: "logos".into(),
        relative_path: Some("MoviesHD/logos.ogv".into()),
    }))?;
    while !s.stopped() {
        if s.peer_closed() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "viewer closed",
            ));
        }
        for m in s.take_received() {
            tracing::info!("demo engine received {:?}", m);
        }
        let host = start.elapsed().as_nanos() as u64;
        let p = pose_at(host as f64 / 1e9);
        let hot = hotspot_at(p);
        let mut events = Vec::new();
        if hot != prev_hot {
            if let Some(h) = hot {
                events.push(format!("enter:{h}"));
                if let Some(v) = visits.iter_mut().find(|v| v.0 == h) {
                    v.1 += 1;
                }
            }
            if let Some(h) = prev_hot {
                events.push(format!("leave:{h}"));
            }
        }
        s.send(&Message::StateUpdate(StateUpdate {
            seq,
            host_time_ns: host,
            frame: Some(frame),
            position: Some([p.x, 0.0, p.z]),
            yaw: Some(p.yaw),
            active_setup: Some("cam_main".into()),
            active_hotspot: hot.map(str::to_string),
            coverage: Some(
                visits
                    .iter()
                    .map(|(k, v)| CoverageEntry {
                        key: k.clone(),
                        value: *v,
                    })
                    .collect(),
            ),
            events: (!events.is_empty()).then_some(events),
            active_movie: None,
        }))?;
        if hot.is_some() && hot != prev_hot {
            s.send(&Message::TimelineMark(TimelineMark {
                seq: mseq,
                host_time_ns: host,
                label: format!("hotspot {}", hot.unwrap_or_default()),
                data: rmpv::Value::Nil,
            }))?;
            mseq += 1;
        }
        prev_hot = hot;
        seq += 1;
        frame = frame.wrapping_add(1);
        pace(&mut next, period);
    }
    Ok(())
}

/// Start both demo producers.
pub fn spawn_demo_feeds_with(opts: DemoOptions) -> io::Result<DemoHandle> {
    if opts.width == 0 || opts.height == 0 || opts.width > 8192 || opts.height > 8192 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "demo frame size must be 1..8192 in each direction",
        ));
    }
    let retail = ProducerServer::bind(
        &opts.retail_bind,
        ServerOptions::retail(
            Hello::new("retail_capture", Some("capdeck-demo".into())),
            Some(StreamConfig {
                width: opts.width,
                height: opts.height,
                pixel_format: PIXEL_FORMAT_RGBA8,
                stride_bytes: opts.width * 4,
                nominal_fps: Some(opts.fps),
            }),
        ),
    )?;
    let engine = ProducerServer::bind(
        &opts.engine_bind,
        ServerOptions::engine(Hello::new("grim_engine", Some("capdeck-demo".into()))),
    )?;
    let retail_addr = retail.local_addr().clone();
    let engine_addr = engine.local_addr().clone();
    let stop = StopFlag::default();
    let start = Instant::now();
    let mut threads = Vec::new();
    {
        let stop = stop.clone();
        let opts = opts.clone();
        threads.push(
            std::thread::Builder::new()
                .name("demo-retail".into())
                .spawn(move || {
                    let scene = SceneRenderer::new(opts.width, opts.height);
                    if let Err(e) = retail.run(&stop, |s| retail_session(s, &opts, &scene, start)) {
                        tracing::error!("demo retail server: {e}");
                    }
                })?,
        );
    }
    {
        let stop = stop.clone();
        let opts = opts.clone();
        threads.push(
            std::thread::Builder::new()
                .name("demo-engine".into())
                .spawn(move || {
                    if let Err(e) = engine.run(&stop, |s| engine_session(s, &opts, start)) {
                        tracing::error!("demo engine server: {e}");
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

/// Run `capdeck demo-feeds`.
pub fn run(args: DemoFeedsArgs) -> anyhow::Result<()> {
    let retail: FeedAddr = args.retail_bind.parse().context("--retail-bind")?;
    let engine: FeedAddr = args.engine_bind.parse().context("--engine-bind")?;
    if !(args.fps.is_finite() && args.fps > 0.0 && args.fps <= 1000.0) {
        anyhow::bail!("--fps must be in (0, 1000]");
    }
    if !(args.engine_hz.is_finite() && args.engine_hz > 0.0 && args.engine_hz <= 10000.0) {
        anyhow::bail!("--engine-hz must be in (0, 10000]");
    }
    let mut opts = DemoOptions::new(retail, engine);
    opts.width = args.width;
    opts.height = args.height;
    opts.fps = args.fps;
    opts.engine_hz = args.engine_hz;
    let mut h = spawn_demo_feeds_with(opts).context("starting demo feeds")?;
    // Printed on stdout so scripts (and the tests) can read the bound addresses.
    println!("retail {}", h.retail_addr);
    println!("engine {}", h.engine_addr);
    eprintln!(
        "demo-feeds: retail on {} ({}x{} RGBA @ {} fps), engine on {} ({} Hz)",
        h.retail_addr, args.width, args.height, args.fps, h.engine_addr, args.engine_hz
    );
    match args.duration {
        Some(d) if d.is_finite() && d >= 0.0 => {
            std::thread::sleep(Duration::from_secs_f64(d));
        }
        Some(_) => anyhow::bail!("--duration must be a number of seconds >= 0"),
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
    h.stop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_draws_the_character_where_the_engine_says() {
        let scene = SceneRenderer::new(320, 180);
        let p = pose_at(3.0);
        let img = scene.render(p);
        let (px, py) = to_px(320, 180, p.x, p.z);
        let i = ((py as usize) * 320 + px as usize) * 4;
        assert_eq!(&img[i..i + 4], &[230, 60, 50, 255]);
        assert_ne!(scene.render(pose_at(0.0)), scene.render(pose_at(5.0)));
    }
}
