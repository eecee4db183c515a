//! Linux: the inputs of a PulseAudio server (or PipeWire's pulse server) by the names the
//! system's sound settings show, and capture from a chosen one.
//!
//! Listing talks to the server with the pure-Rust `pulseaudio` client: the sources with their
//! descriptions, which of them monitor a sink, and the server's default source.
//!
//! Capture goes through ALSA's pulse plugin (`pulse:DEVICE="<source>"`, the `pcm.pulse`
//! definition of libasound2-plugins), read by a thread of its own in 10 ms periods. Why not
//! cpal 0.18's own PulseAudio host (the `pulseaudio` feature, built on the same client): against
//! a server whose source is a 440 Hz sine it delivered the audio in 2 s bursts with its default
//! buffer, and with a fixed 10 ms or 100 ms buffer it delivered 2 s bursts that had lost most
//! of the samples (measured on cpal 0.18.2 / pulseaudio 0.3.2). ALSA's pulse plugin (libpulse)
//! delivered the same source in 201 reads of 10 ms over 2 s, which is also what cpal's ALSA
//! `default` device uses when it follows the system default.

use super::AudioError;
use super::device::AudioDeviceInfo;
use super::feed::{FeedReader, MonoClock, feed};
use super::source::{NativeFormat, RING_SECONDS, Running};
use std::ffi::CString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Prefix of the ids of PulseAudio sources: `pulse:<source name>`.
pub const ID_PREFIX: &str = "pulse:";

/// How long listing waits for the server: the client has no timeouts of its own, and a hung
/// server must not hang the app.
const LIST_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the sources of a PulseAudio server could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum PulseListError {
    /// No server socket in the environment (`PULSE_SERVER`, `$XDG_RUNTIME_DIR/pulse/native`).
    #[error("no PulseAudio server socket found")]
    NoServer,
    /// The server did not answer in time.
    #[error("the PulseAudio server did not answer within {0:?}")]
    Timeout(Duration),
    /// The listing thread could not be started.
    #[error("cannot spawn the PulseAudio listing thread: {0}")]
    Thread(String),
    /// The server has no default sink (nothing plays anywhere).
    #[error("the PulseAudio server has no default output (sink)")]
    NoDefaultSink,
    /// The server refused or the connection failed.
    #[error("PulseAudio: {0}")]
    Client(#[from] pulseaudio::ClientError),
}

/// The sources of the PulseAudio server named by the environment, in the server's order with
/// the monitors last, the default marked. Never waits more than about two seconds.
pub fn list_sources() -> Result<Vec<AudioDeviceInfo>, PulseListError> {
    ask_server("capdeck-pulse-list", query_sources)
}

/// The monitor source of the server's default sink (`<sink>.monitor`): what the desktop
/// plays. Never waits more than about two seconds.
pub fn default_monitor() -> Result<String, PulseListError> {
    ask_server("capdeck-pulse-default-sink", query_default_sink)
}

/// Runs `query` against the server on a thread of its own named `thread`, waiting at most
/// [`LIST_TIMEOUT`]: the client has no timeouts, and a hung server must not hang the caller.
fn ask_server<T: Send + 'static>(
    thread: &str,
    query: fn() -> Result<T, PulseListError>,
) -> Result<T, PulseListError> {
    if pulseaudio::socket_path_from_env().is_none() {
        return Err(PulseListError::NoServer);
    }
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            let _ = tx.send(query());
        })
        .map_err(|e| PulseListError::Thread(e.to_string()))?;
    // A hung server leaves the thread blocked on its socket; it ends when the server does.
    rx.recv_timeout(LIST_TIMEOUT)
        .map_err(|_| PulseListError::Timeout(LIST_TIMEOUT))?
}

/// A client of the server named by the environment.
fn client() -> Result<pulseaudio::Client, PulseListError> {
    let name = CString::new(format!("capdeck-{}", std::process::id()))
        .unwrap_or_else(|_| c"capdeck".to_owned());
    Ok(pulseaudio::Client::from_env(name)?)
}

fn query_default_sink() -> Result<String, PulseListError> {
    let client = client()?;
    let server = block_on(client.server_info())?;
    let sink = server
        .default_sink_name
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or(PulseListError::NoDefaultSink)?;
    Ok(format!("{sink}.monitor"))
}

fn query_sources() -> Result<Vec<AudioDeviceInfo>, PulseListError> {
    let client = client()?;
    let server = block_on(client.server_info())?;
    let sources = block_on(client.list_sources())?;
    let default = server
        .default_source_name
        .map(|n| n.to_string_lossy().into_owned());
    let mut out: Vec<AudioDeviceInfo> = sources
        .into_iter()
        .map(|s| {
            let name = s.name.to_string_lossy().into_owned();
            let description = s
                .description
                .as_ref()
                .map(|d| d.to_string_lossy().into_owned())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| name.clone());
            AudioDeviceInfo {
                is_default: default.as_deref() == Some(name.as_str()),
                is_monitor: s.monitor_of_sink_index.is_some(),
                id: format!("{ID_PREFIX}{name}"),
                name: description,
                rate: Some(s.sample_spec.sample_rate),
                channels: Some(u16::from(s.sample_spec.channels)),
                format: Some(format_name(s.sample_spec.format).to_owned()),
            }
        })
        .collect();
    out.sort_by_key(|d| d.is_monitor); // stable: the server's order within each group
    Ok(out)
}

fn format_name(f: pulseaudio::protocol::SampleFormat) -> &'static str {
    use pulseaudio::protocol::SampleFormat as F;
    match f {
        F::U8 => "u8",
        F::S16Le | F::S16Be => "i16",
        F::S24Le | F::S24Be | F::S24In32Le | F::S24In32Be => "i24",
        F::S32Le | F::S32Be => "i32",
        F::Float32Le | F::Float32Be => "f32",
        F::Alaw => "alaw",
        F::Ulaw => "ulaw",
        F::Invalid => "invalid",
    }
}

/// Drives one future of the `pulseaudio` client to completion on this thread (its reactor
/// runs on a thread of its own; these futures only wait for the reply).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// The ALSA PCM name that opens PulseAudio source `source` through the pulse plugin.
pub fn alsa_pcm_name(source: &str) -> String {
    let quoted = source.replace('\\', "\\\\").replace('"', "\\\"");
    format!("pulse:DEVICE=\"{quoted}\"")
}

/// A PulseAudio source being read through ALSA's pulse plugin by a thread of its own.
pub struct PulseRunning {
    format: NativeFormat,
    stop: Arc<AtomicBool>,
    /// Disconnected when the reader thread has ended.
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Running for PulseRunning {
    fn format(&self) -> &NativeFormat {
        &self.format
    }
}

impl Drop for PulseRunning {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Each read returns within one 10 ms period while the server runs; a server that
        // hung would block the read, so wait at most half a second for the thread to end
        // (its sender is dropped then) and otherwise let it finish and close the PCM alone.
        match self.done.recv_timeout(Duration::from_millis(500)) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!("audio: the PulseAudio reader did not stop within 500 ms");
            }
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

/// Opens source `source` (a PulseAudio source name) in its native rate and channel count as
/// 32-bit float (the server converts), with 10 ms periods.
pub fn open(
    source: &str,
    rate: u32,
    channels: u16,
    clock: MonoClock,
) -> Result<(PulseRunning, FeedReader), AudioError> {
    use alsa::pcm::{Access, Format, HwParams, PCM};
    use alsa::{Direction, ValueOr};
    let pcm_name = alsa_pcm_name(source);
    let err = |what: &str, e: alsa::Error| AudioError::Device(format!("{source}: {what}: {e}"));
    let pcm = PCM::new(&pcm_name, Direction::Capture, false).map_err(|e| err("cannot open", e))?;
    let period = u64::from(rate / 100).max(64);
    let (rate, channels) = {
        let hwp = HwParams::any(&pcm).map_err(|e| err("no parameters", e))?;
        hwp.set_access(Access::RWInterleaved)
            .map_err(|e| err("access", e))?;
        hwp.set_format(Format::float())
            .map_err(|e| err("format", e))?;
        hwp.set_channels(u32::from(channels))
            .map_err(|e| err("channels", e))?;
        hwp.set_rate(rate, ValueOr::Nearest)
            .map_err(|e| err("rate", e))?;
        let period = alsa::pcm::Frames::try_from(period).unwrap_or(480);
        hwp.set_period_size_near(period, ValueOr::Nearest)
            .map_err(|e| err("period", e))?;
        hwp.set_buffer_size_near(period * 8)
            .map_err(|e| err("buffer", e))?;
        pcm.hw_params(&hwp)
            .map_err(|e| err("cannot open the stream", e))?;
        let rate = hwp.get_rate().map_err(|e| err("rate", e))?;
        let ch = hwp.get_channels().map_err(|e| err("channels", e))?;
        (rate, u16::try_from(ch).unwrap_or(channels))
    };
    let format = NativeFormat {
        rate,
        channels,
        format: "f32".into(),
    };
    let (mut f, reader) = feed(rate, channels, RING_SECONDS, clock);
    pcm.start().map_err(|e| err("cannot start", e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let (done_tx, done) = mpsc::channel::<()>();
    let frames = usize::try_from(period).unwrap_or(480);
    let ch = usize::from(channels);
    let thread = std::thread::Builder::new()
        .name("capdeck-pulse-read".into())
        .spawn(move || {
            let _done = done_tx; // dropped when this thread ends
            let io = match pcm.io_f32() {
                Ok(io) => io,
                Err(e) => {
                    f.shared().set_lost(format!("cannot read: {e}"));
                    return;
                }
            };
            let mut buf = vec![0f32; frames * ch];
            while !stop2.load(Ordering::Relaxed) {
                match io.readi(&mut buf) {
                    Ok(n) => f.push(&buf[..n * ch]),
                    Err(e) => {
                        // an overrun is recovered by preparing again (the next read starts
                        // the stream); anything else (the server went away) is a loss,
                        // which reopens
                        if let Err(e) = pcm.try_recover(e, true) {
                            f.shared().set_lost(format!("read failed: {e}"));
                            return;
                        }
                        f.shared().overrun_events.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
        .map_err(|e| AudioError::Thread(e.to_string()))?;
    Ok((
        PulseRunning {
            format,
            stop,
            done,
            thread: Some(thread),
        },
        reader,
    ))
}
