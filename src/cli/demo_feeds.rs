//! `capdeck demo-feeds`: the demo producers ([`capdeck_grimstream::demo`]) on real sockets.

use std::time::Duration;

use anyhow::Context as _;

use capdeck_grimstream::demo::{DemoOptions, spawn_demo_feeds_with};
use capdeck_grimstream::transport::{DEFAULT_ENGINE_ADDR, DEFAULT_RETAIL_ADDR, FeedAddr};

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
