//! The recording commands: `--record` on `send` and `probe`, and `verify`, `replay`,
//! `export`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use capdeck_grimstream::FeedRole;
use capdeck_grimstream::live::LiveView;
use capdeck_record::reader::{Recording, Verdict, verify};
use capdeck_record::recorder::{Recorder, RecorderState, RecorderStatus};
use capdeck_session::record::recorder_options;
use capdeck_session::replay::{ToHostOptions, into_view, to_host};

/// Where and how a headless command records.
#[derive(clap::Args, Debug, Clone)]
pub struct RecordArgs {
    /// Record everything sent and received into this new session folder.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Stop recording when the session's files reach this many MiB.
    #[arg(long, value_name = "MIB")]
    pub record_budget_mib: Option<u64>,
    /// Stop recording when the disk has less than this many MiB free.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    pub record_min_free_mib: u64,
    /// Seal a segment when it reaches this many MiB…
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub segment_mib: u64,
    /// … or spans this many seconds.
    #[arg(long, default_value_t = 60, value_name = "S")]
    pub segment_secs: u64,
}

impl RecordArgs {
    /// Starts the recorder when `--record` was given; returns it with a tap for a view
    /// whose clock starts at `view_epoch`.
    pub fn start(
        &self,
        view_epoch: std::time::Instant,
    ) -> anyhow::Result<Option<(Recorder, std::sync::Arc<capdeck_session::record::RecordTap>)>>
    {
        let Some(dir) = &self.record else {
            return Ok(None);
        };
        let opts = recorder_options(
            self.record_budget_mib,
            self.record_min_free_mib,
            self.segment_mib,
            self.segment_secs,
        );
        let r = capdeck_session::record::start(dir, opts, view_epoch)
            .with_context(|| format!("cannot record into {}", dir.display()))?;
        tracing::info!(dir = %dir.display(), "recording");
        Ok(Some(r))
    }
}

/// One status line for a recorder.
pub fn status_line(s: &RecorderStatus) -> String {
    let state = match &s.state {
        RecorderState::Recording => "recording".to_owned(),
        RecorderState::Stopped { reason, .. } => format!("stopped: {reason}"),
    };
    format!(
        "rec {state} | {:.0} s | {} msgs | {:.1} MiB on disk | {} dropped | {} segments sealed{}",
        s.elapsed.as_secs_f64(),
        s.messages,
        s.bytes_on_disk as f64 / 1048576.0,
        s.dropped,
        s.segments,
        s.disk_free
            .map(|f| format!(" | {:.1} GiB free", f as f64 / 1073741824.0))
            .unwrap_or_default()
    )
}

/// Stops a recorder with the reason the run ended and prints where the recording is.
pub fn finish(rec: Recorder, reason: &str) {
    let st = rec.status();
    let m = rec.stop_because(reason);
    let sealed = m.as_ref().map_or(0, |m| m.segments.len());
    eprintln!(
        "recorded {} messages into {} ({} segments sealed, {} dropped){}",
        st.messages,
        st.dir.display(),
        sealed,
        m.as_ref().map_or(st.dropped, |m| m.dropped),
        match &st.state {
            RecorderState::Stopped {
                reason,
                by_error: true,
            } => format!("; stopped early: {reason}"),
            _ => String::new(),
        }
    );
}

/// `capdeck verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The session folder.
    pub session: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `capdeck verify`: exit status 1 when any sealed segment changed.
pub fn run_verify(a: VerifyArgs) -> anyhow::Result<()> {
    let r = verify(&a.session).with_context(|| format!("verifying {}", a.session.display()))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        if let Some(p) = &r.manifest_problem {
            println!("manifest: {p}");
        }
        for (file, v) in &r.segments {
            match v {
                Verdict::Ok => println!("{file}: ok"),
                Verdict::Unsealed => println!("{file}: not sealed (recovered when opened)"),
                Verdict::HashMismatch { expected, actual } => println!(
                    "{file}: DAMAGED: BLAKE3 {actual} but the manifest sealed it as {expected}"
                ),
                Verdict::Missing { reason } => println!("{file}: MISSING: {reason}"),
            }
        }
    }
    if !r.ok() {
        anyhow::bail!("{} failed verification", a.session.display());
    }
    Ok(())
}

/// `capdeck replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The session folder (or one segment file).
    pub session: PathBuf,
    /// Print per-channel counts, the time range, and the GrimStream feeds as the live view
    /// decodes them (the same report as `probe --json`).
    #[arg(long)]
    pub summary: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Push the recorded audio and video to this inference host.
    #[arg(long, value_name = "HOST")]
    pub to_host: Option<String>,
    /// Audio PULL port of the host.
    #[arg(long, default_value_t = capdeck_session::sender::defaults::AUDIO_PORT)]
    pub audio_port: u16,
    /// Video PULL port of the host.
    #[arg(long, default_value_t = capdeck_session::sender::defaults::VIDEO_PORT)]
    pub video_port: u16,
    /// Send as fast as the host takes them instead of with the recorded pacing.
    #[arg(long)]
    pub as_fast: bool,
    /// Pacing speed (2 = twice as fast as recorded).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Serve the recorded retail feed as a GrimStream producer here (host:port,
    /// tcp://host:port or unix:/path; port 0 picks one, printed as `retail <addr>`): each
    /// viewer gets the recording from its start, with its pacing.
    #[arg(long, value_name = "ADDR")]
    pub serve_retail: Option<String>,
    /// Serve the recorded engine feed the same way (`engine <addr>` on stdout).
    #[arg(long, value_name = "ADDR")]
    pub serve_engine: Option<String>,
    /// With --serve-*: stop serving after this many seconds (default: until interrupted).
    #[arg(long)]
    pub duration: Option<f64>,
    /// How the two feeds are compared (the summary's `comparison`).
    #[command(flatten)]
    pub cmp: super::compare::CompareArgs,
}

/// The summary of a recording as JSON, with the comparison of its two feeds by `cmp`.
pub fn summary_json(rec: &Recording, cmp: &super::compare::CompareArgs) -> anyhow::Result<Value> {
    let rules = cmp.rules()?;
    let mut view = LiveView::new(usize::MAX / 4);
    let fed = into_view(rec, &mut view, 64 * 1024 * 1024)?;
    let snap = view.snapshot();
    let comparison = view.with_store(|s| {
        capdeck_compare::compare(&capdeck_compare::observe(s, &rules), &cmp.options())
    });
    let range = rec.time_range();
    let mut feeds = serde_json::Map::new();
    for role in [FeedRole::Retail, FeedRole::Engine] {
        let st = view.status(role);
        if st.messages.values().sum::<u64>() > 0 {
            feeds.insert(
                role.name().to_owned(),
                super::probe::feed_json(role, &st, &snap),
            );
        }
    }
    view.stop();
    let both = feeds.len() == 2;
    Ok(json!({
        "session": rec.dir(),
        "start_unix_ns": range.map(|r| r.0),
        "end_unix_ns": range.map(|r| r.1),
        "duration_s": range.map(|r| (r.1 - r.0) as f64 / 1e9),
        "channels": rec.per_topic(),
        "segments": rec.segments.iter().map(|s| json!({
            "file": s.file, "sealed": s.sealed, "recovered": s.recovered, "bytes": s.bytes,
            "messages": s.per_topic.values().sum::<u64>(),
        })).collect::<Vec<_>>(),
        "problems": rec.problems,
        "gaps": fed.gaps.iter().map(|(a, b, why)| json!({"start_unix_ns": a, "end_unix_ns": b, "reason": why})).collect::<Vec<_>>(),
        "unknown_topic_messages": fed.unknown_topics,
        "dropped_while_recording": rec.manifest.as_ref().map(|m| m.dropped),
        "stopped": rec.manifest.as_ref().and_then(|m| m.stopped.clone()),
        "feeds": feeds,
        "comparison": both.then_some(comparison),
    }))
}

/// `replay --serve-retail/--serve-engine`: each recorded feed as a producer on its own
/// named thread, until `--duration` or interrupted.
fn serve(a: &ReplayArgs) -> anyhow::Result<()> {
    use capdeck_grimstream::server::StopFlag;
    use capdeck_grimstream::transport::FeedAddr;
    use capdeck_session::replay::FeedServer;
    if let Some(d) = a.duration {
        anyhow::ensure!(d.is_finite() && d >= 0.0, "--duration must be seconds >= 0");
    }
    let mut servers = Vec::new();
    for (role, addr) in [
        (FeedRole::Retail, &a.serve_retail),
        (FeedRole::Engine, &a.serve_engine),
    ] {
        let Some(addr) = addr else { continue };
        let at: FeedAddr = addr
            .parse()
            .with_context(|| format!("--serve-{} {addr}", role.name()))?;
        // each server reads the recording on its own
        let rec = Recording::open(&a.session)
            .with_context(|| format!("opening {}", a.session.display()))?;
        let server = FeedServer::bind(&rec, role, &at, a.speed)?;
        println!("{} {}", role.name(), server.local_addr());
        servers.push((role, rec, server));
    }
    use std::io::Write as _;
    std::io::stdout().flush()?;
    let stop = StopFlag::default();
    if let Some(d) = a.duration {
        stop.stop_after(Duration::from_secs_f64(d), "replay-serve-timer")?;
    }
    std::thread::scope(|s| -> anyhow::Result<()> {
        let mut handles = Vec::new();
        for (role, rec, server) in &servers {
            let stop = &stop;
            handles.push(
                std::thread::Builder::new()
                    .name(format!("replay-serve-{}", role.name()))
                    .spawn_scoped(s, move || server.run(rec, stop))?,
            );
        }
        for h in handles {
            match h.join() {
                Ok(r) => r?,
                Err(_) => anyhow::bail!("a replay server thread panicked"),
            }
        }
        Ok(())
    })
}

/// Runs `capdeck replay` (headless modes).
pub fn run_replay(a: ReplayArgs) -> anyhow::Result<()> {
    let rec =
        Recording::open(&a.session).with_context(|| format!("opening {}", a.session.display()))?;
    for p in &rec.problems {
        tracing::warn!("{p}");
    }
    if a.serve_retail.is_some() || a.serve_engine.is_some() {
        return serve(&a);
    }
    if let Some(host) = &a.to_host {
        let r = to_host(
            &rec,
            &ToHostOptions {
                host: host.clone(),
                audio_port: a.audio_port,
                video_port: a.video_port,
                paced: !a.as_fast,
                speed: a.speed,
                send_timeout: Duration::from_secs(10),
                progress: Default::default(),
            },
        )?;
        eprintln!("{r} to {host}");
        if a.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        }
        return Ok(());
    }
    if a.summary || a.json {
        let s = summary_json(&rec, &a.cmp)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else if let Value::Object(m) = s {
            for (k, v) in m {
                println!("{k}: {v}");
            }
        }
        return Ok(());
    }
    anyhow::bail!(
        "say what to do with {}: --summary, --json or --to-host HOST",
        a.session.display()
    )
}

/// `capdeck export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The session folder.
    pub session: PathBuf,
    /// Write one MCAP file with Foxglove's standard schemas.
    #[arg(long, value_name = "OUT.mcap", required_unless_present = "range")]
    pub foxglove: Option<PathBuf>,
    /// Export a range for a report instead (seconds from the recording's start): each
    /// retail frame beside the engine's view as PNG, an MP4 when ffmpeg is on the PATH,
    /// report.json and events.csv with the divergences and bookmarks in it.
    #[arg(long, num_args = 2, value_names = ["FROM", "TO"], requires = "out", conflicts_with = "foxglove")]
    pub range: Option<Vec<f64>>,
    /// The folder the range goes into (created; must not exist).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --range: PNG frames only, no video.
    #[arg(long)]
    pub no_video: bool,
    /// How the two feeds are compared (the range's divergences).
    #[command(flatten)]
    pub cmp: super::compare::CompareArgs,
}

/// Runs `capdeck export`.
pub fn run_export(a: ExportArgs) -> anyhow::Result<()> {
    if let (Some(range), Some(out)) = (&a.range, &a.out) {
        return run_clip(&a, range, out);
    }
    let Some(foxglove) = &a.foxglove else {
        anyhow::bail!("say what to export: --foxglove OUT.mcap, or --range FROM TO --out DIR");
    };
    let s = capdeck_record::foxglove::export(&a.session, foxglove)
        .with_context(|| format!("exporting {}", a.session.display()))?;
    println!("{}", serde_json::to_string_pretty(&s)?);
    Ok(())
}

/// `capdeck export --range FROM TO --out DIR`: a clip, with progress on stderr; Ctrl-C
/// cancels it (nothing is left behind).
fn run_clip(a: &ExportArgs, range: &[f64], out: &std::path::Path) -> anyhow::Result<()> {
    use capdeck_session::clip::{ClipOptions, ClipProgress, export_clip};
    use std::sync::atomic::Ordering;
    let [from, to] = range else {
        anyhow::bail!("--range takes two numbers: FROM TO (seconds)");
    };
    anyhow::ensure!(
        from.is_finite() && to.is_finite() && *from >= 0.0 && to >= from,
        "--range {from} {to}: two times in seconds, 0 <= FROM <= TO"
    );
    let rec =
        Recording::open(&a.session).with_context(|| format!("opening {}", a.session.display()))?;
    let opts = ClipOptions {
        from_ns: (from * 1e9) as i64,
        to_ns: (to * 1e9) as i64,
        out: out.to_path_buf(),
        video: !a.no_video,
        rules: a.cmp.rules()?,
        compare: a.cmp.options(),
    };
    let progress = ClipProgress::default();
    let stop = super::interrupt_flag();
    let clip = std::thread::scope(|s| -> anyhow::Result<_> {
        let (rec, opts, p) = (&rec, &opts, &progress);
        let worker = std::thread::Builder::new()
            .name("capdeck-clip".into())
            .spawn_scoped(s, move || export_clip(rec, opts, p))?;
        let mut said = u64::MAX;
        while !worker.is_finished() {
            if stop.load(Ordering::Relaxed) {
                progress.cancel.store(true, Ordering::Relaxed);
            }
            let (done, total) = (
                progress.done.load(Ordering::Relaxed),
                progress.total.load(Ordering::Relaxed),
            );
            if total > 0 && done * 10 / total != said {
                said = done * 10 / total;
                eprintln!("clip: {done} of {total} frames");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("the clip's thread panicked"))?
            .map_err(anyhow::Error::from)
    })?;
    if let Some(note) = &clip.video_note {
        eprintln!("clip: no video: {note}");
    }
    println!("{}", serde_json::to_string_pretty(&clip)?);
    Ok(())
}
