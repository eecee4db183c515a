//! `capdeck serve-retail`: a screen, a window or the pattern served as a GrimStream v1
//! retail feed, like the existing retail capture tool (HELLO producer `retail_capture`,
//! STREAM_CONFIG RGBA8, FRAMEs with `frame_id` from 0 and `host_time_ns` from a local
//! start), but accepting again after a viewer disconnects, on every platform.
//!
//! Capture runs only while a viewer is connected. Between the pipeline and the socket
//! sits a one-frame hand-off: a viewer reading slower than the frame rate makes the
//! pipeline replace stale frames (counted in its stats), never queue them.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{VideoControl, VideoSourceSpec, VideoState, start_rgba};
use crate::grimstream::codec::{Frame, Hello, Message, StreamConfig};
use crate::grimstream::server::{ProducerServer, ServerOptions, Session, StopFlag};
use crate::grimstream::transport::FeedAddr;

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
    #[arg(long, default_value = "1280x720", value_parser = crate::util::parse_size)]
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
    let control = VideoControl::new(args.size.0, args.size.1, args.fps, 100);
    if args.exact {
        control.set_scale_mode(super::ScaleMode::Exact);
    }
    // Open the source once now, so a missing window or screen fails here, clearly.
    start_rgba(&args.source, control.clone(), Box::new(|_| {}))
        .with_context(|| format!("cannot capture {}", args.source))?
        .stop();
    let server = ProducerServer::bind(
        &addr,
        ServerOptions::retail(
            Hello::new(
                "retail_capture",
                Some(format!("capdeck {}", env!("CARGO_PKG_VERSION"))),
            ),
            None,
        ),
    )
    .with_context(|| format!("cannot listen on {addr}"))?;
    println!("retail {}", server.local_addr());
    eprintln!(
        "serve-retail: {} as RGBA8 {}x{} ({}) at {} fps on {}",
        args.source,
        args.size.0,
        args.size.1,
        if args.exact { "exact" } else { "fit inside" },
        args.fps,
        server.local_addr()
    );
    let stop = StopFlag::default();
    if let Some(d) = args.duration {
        anyhow::ensure!(d.is_finite() && d >= 0.0, "--duration must be seconds >= 0");
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("serve-retail-timer".into())
            .spawn(move || {
                std::thread::sleep(Duration::from_secs_f64(d));
                stop.stop();
            })?;
    }
    let start = Instant::now();
    server.run(&stop, |session| {
        serve_viewer(session, &args.source, &control, start)
    })?;
    Ok(())
}

/// One viewer: capture while it is connected, send STREAM_CONFIG (again whenever the
/// size changes) and FRAMEs numbered from 0.
fn serve_viewer(
    session: &mut Session<'_>,
    source: &VideoSourceSpec,
    control: &std::sync::Arc<VideoControl>,
    start: Instant,
) -> std::io::Result<()> {
    let (tx, rx) = mpsc::sync_channel(1);
    let pipeline = start_rgba(
        source,
        control.clone(),
        Box::new(move |f| {
            // Blocks while the previous frame is still being written: the pipeline
            // then keeps only the newest capture. Fails once the viewer is gone.
            let _ = tx.send(f);
        }),
    )
    .map_err(std::io::Error::other)?;
    tracing::info!(connection = session.connection, "retail viewer connected");
    let mut frame_id = 0u64;
    let mut size = None;
    let result = loop {
        if session.stopped() {
            break Ok(());
        }
        let f = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(f) => f,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let VideoState::Failed(reason) = pipeline.stats().state {
                    break Err(std::io::Error::other(reason));
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(std::io::Error::other("capture ended"));
            }
        };
        if size != Some((f.width, f.height)) {
            let config = StreamConfig {
                width: f.width,
                height: f.height,
                pixel_format: 1,
                stride_bytes: f.width * 4,
                nominal_fps: Some(control.fps()),
            };
            if let Err(e) = session.send(&Message::StreamConfig(config)) {
                break Err(e);
            }
            size = Some((f.width, f.height));
        }
        let host_time_ns = f
            .captured_at
            .saturating_duration_since(start)
            .as_nanos()
            .min(u128::from(u64::MAX)) as u64;
        let msg = Message::Frame(Frame {
            frame_id,
            host_time_ns,
            telemetry_time_ns: None,
            data: f.data,
        });
        if let Err(e) = session.send(&msg) {
            break Err(e);
        }
        frame_id += 1;
    };
    let stats = pipeline.stats();
    pipeline.stop();
    tracing::info!(
        connection = session.connection,
        frames = frame_id,
        dropped_stale = stats.dropped_stale,
        "retail viewer session ended"
    );
    result
}
