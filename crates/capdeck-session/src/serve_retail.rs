//! Serve-retail: a screen, a window or the pattern served as a GrimStream v1 retail feed,
//! like the existing retail capture tool (HELLO producer `retail_capture`, STREAM_CONFIG
//! RGBA8, FRAMEs with `frame_id` from 0 and `host_time_ns` from a local start), but
//! accepting again after a viewer disconnects, on every platform. `capdeck serve-retail`
//! (in the `cli` layer) is a thin command around [`RetailService`].
//!
//! Capture runs only while a viewer is connected. Between the pipeline and the socket
//! sits a one-frame hand-off: a viewer reading slower than the frame rate makes the
//! pipeline replace stale frames (counted in its stats), never queue them.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use capdeck_capture::video::{
    ScaleMode, VideoControl, VideoError, VideoSourceSpec, VideoState, start_rgba,
};
use capdeck_grimstream::server::{ProducerServer, ServerOptions, Session, StopFlag};
use capdeck_grimstream::transport::FeedAddr;
use capdeck_wire::grimstream::{Frame, Hello, Message, PIXEL_FORMAT_RGBA8, StreamConfig};

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct RetailServiceOptions {
    /// The capture source (not `none`).
    pub source: VideoSourceSpec,
    /// Frames per second.
    pub fps: f32,
    /// Frame size; the source is fitted inside it keeping its aspect ratio.
    pub size: (u32, u32),
    /// Stretch to exactly `size` instead of fitting inside it.
    pub exact: bool,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum RetailServiceError {
    /// The source could not be opened.
    #[error("cannot capture {source_name}: {error}")]
    Source {
        /// The source as written.
        source_name: String,
        /// The capture error.
        error: VideoError,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: FeedAddr,
        /// The socket error.
        error: std::io::Error,
    },
}

/// A bound retail feed producer, ready to [`RetailService::run`].
pub struct RetailService {
    server: ProducerServer,
    source: VideoSourceSpec,
    control: Arc<VideoControl>,
}

impl RetailService {
    /// Opens the source once (so a missing window or screen fails here, clearly) and
    /// binds the listen address.
    pub fn bind(
        addr: &FeedAddr,
        opts: &RetailServiceOptions,
    ) -> Result<RetailService, RetailServiceError> {
        let control = VideoControl::new(opts.size.0, opts.size.1, opts.fps, 100);
        if opts.exact {
            control.set_scale_mode(ScaleMode::Exact);
        }
        start_rgba(&opts.source, control.clone(), Box::new(|_| {}))
            .map_err(|error| RetailServiceError::Source {
                source_name: opts.source.to_string(),
                error,
            })?
            .stop();
        let server = ProducerServer::bind(
            addr,
            ServerOptions::retail(
                Hello::new(
                    "retail_capture",
                    Some(format!("capdeck {}", env!("CARGO_PKG_VERSION"))),
                ),
                None,
            ),
        )
        .map_err(|error| RetailServiceError::Bind {
            addr: addr.clone(),
            error,
        })?;
        Ok(RetailService {
            server,
            source: opts.source.clone(),
            control,
        })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> &FeedAddr {
        self.server.local_addr()
    }

    /// Serves viewers one after another until `stop` is set.
    pub fn run(&self, stop: &StopFlag) -> std::io::Result<()> {
        let start = Instant::now();
        self.server.run(stop, |session| {
            serve_viewer(session, &self.source, &self.control, start)
        })
    }
}

/// One viewer: capture while it is connected, send STREAM_CONFIG (again whenever the
/// size changes) and FRAMEs numbered from 0.
fn serve_viewer(
    session: &mut Session<'_>,
    source: &VideoSourceSpec,
    control: &Arc<VideoControl>,
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
                pixel_format: PIXEL_FORMAT_RGBA8,
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
