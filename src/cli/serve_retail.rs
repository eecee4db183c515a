//! `capdeck serve-retail`: arguments and printing around [`RetailService`].

use std::time::Duration;

use anyhow::Context;

use capdeck_capture::video::VideoSourceSpec;
use capdeck_grimstream::server::StopFlag;
use capdeck_grimstream::transport::FeedAddr;
use capdeck_session::serve_retail::{RetailService, RetailServiceOptions};

fn parse_fps(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && (0.1..=240.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?}: frames per second must be 0.1 to 240"))
    }
}

fn parse_source(s: &str) -> Result<VideoSourceSpec, String> {
    match s.parse::<VideoSourceSpec>().map_err(|e| e.to_string())? {
        VideoSourceSpec::None => Err("--source none serves nothing".into()),
        spec => Ok(spec),
    }
}

/// `capdeck serve-retail` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeRetailArgs {
    /// Where to listen: tcp://host:port, host:port or unix:/path (port 0 picks one; the
    /// bound address is printed on stdout as `retail <addr>`).
    #[arg(long, default_value = "127.0.0.1:17400")]
    pub bind: String,
    /// What to serve: screen[:N], window:<title>, pattern (or camera[:N]).
    #[arg(long, default_value = "screen", value_parser = parse_source)]
    pub source: VideoSourceSpec,
    /// Frames per second.
    #[arg(long, default_value = "30", value_parser = parse_fps)]
    pub fps: f32,
    /// Frame size WxH; the source is fitted inside it keeping its aspect ratio (a new
    /// STREAM_CONFIG is sent when the fitted size changes).
    #[arg(long, default_value = "1280x720", value_parser = capdeck_util::parse_size)]
    pub size: (u32, u32),
    /// Stretch to exactly --size instead of fitting inside it.
    #[arg(long)]
    pub exact: bool,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    pub duration: Option<f64>,
}

/// Runs `capdeck serve-retail`.
pub fn run(args: ServeRetailArgs) -> anyhow::Result<()> {
    let addr: FeedAddr = args.bind.parse().context("--bind")?;
    if let Some(d) = args.duration {
        anyhow::ensure!(d.is_finite() && d >= 0.0, "--duration must be seconds >= 0");
    }
    let opts = RetailServiceOptions {
        source: args.source.clone(),
        fps: args.fps,
        size: args.size,
        exact: args.exact,
    };
    let service = RetailService::bind(&addr, &opts)?;
    println!("retail {}", service.local_addr());
    eprintln!(
        "serve-retail: {} as RGBA8 {}x{} ({}) at {} fps on {}",
        args.source,
        args.size.0,
        args.size.1,
        if args.exact { "exact" } else { "fit inside" },
        args.fps,
        service.local_addr()
    );
    let stop = StopFlag::default();
    if let Some(d) = args.duration {
        stop.stop_after(Duration::from_secs_f64(d), "serve-retail-timer")?;
    }
    service.run(&stop)?;
    Ok(())
}
