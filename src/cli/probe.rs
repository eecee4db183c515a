//! `capdeck probe`: connect to the feeds as a viewer for a while and report what came in.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use capdeck_grimstream::FeedRole;
use capdeck_grimstream::feed::{FeedStatus, MoviePolicy};
use capdeck_grimstream::live::{LiveOptions, LiveSnapshot, LiveView};
use capdeck_grimstream::transport::{DEFAULT_ENGINE_ADDR, DEFAULT_RETAIL_ADDR, FeedAddr};

/// `capdeck probe` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct ProbeArgs {
    /// Retail feed: tcp://host:port, host:port or unix:/path ("none" to skip).
    #[arg(long, default_value = DEFAULT_RETAIL_ADDR)]
    pub retail: String,
    /// Engine feed: tcp://host:port, host:port or unix:/path ("none" to skip).
    #[arg(long, default_value = DEFAULT_ENGINE_ADDR)]
    pub engine: String,
    /// How long to listen, seconds.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Print JSON (one object, keys "retail" and "engine") instead of text.
    #[arg(long)]
    pub json: bool,
    /// Largest message accepted, MiB.
    #[arg(long, default_value_t = 64)]
    pub max_message_mib: u32,
    /// Fixed stall limit in ms (default: four nominal periods).
    #[arg(long)]
    pub stall_ms: Option<u64>,
    /// A connection that receives nothing for this long is reported as
    /// "connected, no HELLO" (a one-viewer engine that must be restarted), ms.
    #[arg(long, default_value_t = capdeck_grimstream::feed::HELLO_TIMEOUT.as_millis() as u64)]
    pub hello_timeout_ms: u64,
    /// The game's data folder: the engine's movies are looked up under it and answered
    /// from there (this build has no movie decoder: `error` "no decoder" for a movie found,
    /// "file missing" with the path otherwise; without the folder: `error` at once, "this
    /// viewer does not play movies").
    #[arg(long, value_name = "DIR")]
    pub game_data: Option<std::path::PathBuf>,
    /// Recording.
    #[command(flatten)]
    pub rec: super::record::RecordArgs,
    /// How the two feeds are compared (the `comparison` of the report).
    #[command(flatten)]
    pub cmp: super::compare::CompareArgs,
}

fn parse_addr(s: &str) -> anyhow::Result<Option<FeedAddr>> {
    if s.eq_ignore_ascii_case("none") || s.is_empty() {
        return Ok(None);
    }
    Ok(Some(s.parse()?))
}

/// Per-feed report as JSON.
pub fn feed_json(role: FeedRole, st: &FeedStatus, snap: &LiveSnapshot) -> Value {
    let clock = match role {
        FeedRole::Retail => snap.retail_clock,
        FeedRole::Engine => snap.engine_clock,
    };
    let (gaps, missing) = match role {
        FeedRole::Retail => (snap.retail_gaps, snap.retail_missing),
        FeedRole::Engine => (snap.engine_gaps, snap.engine_missing),
    };
    let mut v = json!({
        "addr": st.addr,
        "connected": st.connected,
        "state": st.state.name(),
        "state_text": st.state.text(role),
        "silent_connections": st.silent_connections,
        "producer": st.producer,
        "build": st.build,
        "messages": st.messages,
        "unknown_skipped": st.unknown_skipped,
        "decode_errors": st.decode_errors,
        "frames": st.frames,
        "width": st.config.map(|c| c.width),
        "height": st.config.map(|c| c.height),
        "stride": st.config.map(|c| c.stride_bytes),
        "nominal_fps": st.config.and_then(|c| c.nominal_fps),
        "reconnects": st.reconnects,
        "gaps": gaps,
        "missing_frames": missing.frames,
        "missing_updates": missing.updates,
        "stalls": st.stalls,
        "bytes": st.bytes,
        "last_error": st.last_error,
        "clock": clock.map(|c| json!({
            "offset_ns": c.offset_ns,
            "drift_ppm": c.drift_ppm,
            "spread_ns": c.spread_ns,
            "samples": c.samples,
        })),
    });
    if role == FeedRole::Engine {
        v["viewer_ready_sent"] = json!(st.viewer_ready_sent);
        v["movie_answers"] = json!(st.movie_controls_sent);
        v["last_movie_answer"] = json!(st.last_movie_control);
        v["movie"] = json!(st.movie.as_ref().map(|m| json!({
            "name": m.name,
            "relative_path": m.relative_path,
            "answer": m.answer,
            "took_ms": m.took_ns().map(|t| t as f64 / 1e6),
        })));
        v["position"] = json!(st.last_position);
        v["yaw"] = json!(st.last_yaw);
    }
    v
}

/// Run `capdeck probe`.
pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let retail = parse_addr(&args.retail).context("--retail")?;
    let engine = parse_addr(&args.engine).context("--engine")?;
    let rules = args.cmp.rules()?;
    if retail.is_none() && engine.is_none() {
        anyhow::bail!("nothing to probe: both --retail and --engine are \"none\"");
    }
    if !(args.duration.is_finite() && args.duration >= 0.0) {
        anyhow::bail!("--duration must be a number of seconds >= 0");
    }
    let cap = args
        .max_message_mib
        .checked_mul(1024 * 1024)
        .context("--max-message-mib too large (max 4095)")?;
    let mut opts = LiveOptions::new(retail.clone(), engine.clone()).with_max_message_len(cap);
    for f in [&mut opts.retail, &mut opts.engine].into_iter().flatten() {
        if let Some(ms) = args.stall_ms {
            f.stall_after = Some(Duration::from_millis(ms));
        }
        f.hello_timeout = Duration::from_millis(args.hello_timeout_ms);
    }
    if let Some(dir) = &args.game_data
        && !dir.is_dir()
    {
        anyhow::bail!("--game-data {}: not a folder", dir.display());
    }
    if let (Some(dir), Some(e)) = (&args.game_data, &mut opts.engine) {
        e.movies = MoviePolicy::Play {
            game_data: dir.clone(),
        };
    }
    // The view first, so the recorder's tap knows the view's clock before any message.
    let mut view = LiveView::new(opts.budget_bytes);
    let recording = args.rec.start(view.epoch())?;
    if let Some((_, tap)) = &recording {
        view.set_tap(Some(tap.clone()));
    }
    for o in [opts.retail, opts.engine].into_iter().flatten() {
        view.connect(o).context("starting feed threads")?;
    }
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let mut next_progress = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20).min(deadline - Instant::now().min(deadline)));
        if !args.json && Instant::now() >= next_progress {
            next_progress += Duration::from_secs(1);
            let s = view.snapshot();
            eprintln!(
                "retail {} ({} frames)  engine {} ({} updates)",
                s.retail.state.text(FeedRole::Retail),
                s.retail.frames,
                s.engine.state.text(FeedRole::Engine),
                s.engine.messages.get("STATE_UPDATE").copied().unwrap_or(0)
            );
        }
    }
    // The states as they were at the end (stopping turns them into "stopped").
    let before = view.snapshot();
    // Stop first: the report then counts exactly what was taken in (and recorded).
    view.stop();
    let mut snap = view.snapshot();
    snap.retail.state = before.retail.state;
    snap.engine.state = before.engine.state;
    if let Some((r, _)) = recording {
        super::record::finish(r, &super::RunEnd::Duration(args.duration).reason());
    }
    let mut out = serde_json::Map::new();
    if retail.is_some() {
        out.insert(
            "retail".into(),
            feed_json(FeedRole::Retail, &snap.retail, &snap),
        );
    }
    if engine.is_some() {
        out.insert(
            "engine".into(),
            feed_json(FeedRole::Engine, &snap.engine, &snap),
        );
    }
    if retail.is_some() && engine.is_some() {
        let r = view.with_store(|s| {
            capdeck_compare::compare(&capdeck_compare::observe(s, &rules), &args.cmp.options())
        });
        out.insert("comparison".into(), serde_json::to_value(r)?);
    }
    out.insert(
        "store".into(),
        json!({"used_bytes": snap.usage.used_bytes, "budget_bytes": snap.usage.budget_bytes,
               "evicted_bytes": snap.usage.evicted_bytes}),
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    } else {
        for (name, v) in &out {
            println!("{name}: {v}");
        }
    }
    Ok(())
}
