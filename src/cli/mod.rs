//! Command line: parsing (clap) and the headless commands.
//!
//! Bare `capdeck` opens the desktop app; subcommands run headless. Argument parsing,
//! `anyhow` and printing live here (and in the app), not in the layers below.
//!
//! - [`probe`]: `capdeck probe`; [`demo_feeds`]: `capdeck demo-feeds`;
//!   [`serve_retail`]: `capdeck serve-retail`.

pub mod autostart;
pub mod compare;
pub mod demo_feeds;
pub mod probe;
pub mod record;
pub mod serve_retail;
pub mod voice;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::ui::logging::LogFileChoice;
use capdeck_capture::audio::AudioSourceSpec;
use capdeck_capture::audio::voice::{GameAudioSpec, VoiceConfig};
use capdeck_capture::video::VideoSourceSpec;
use capdeck_net::receiver::{Receiver, ReceiverConfig};
use capdeck_net::tap::TapPoint;
use capdeck_session::sender::{Sender, SenderConfig, defaults};
use capdeck_wire::capture::{Framing, HostConfig};

/// capdeck: desktop capture pushed to an inference host, and a live GrimStream viewer.
#[derive(Debug, Parser)]
#[command(name = "capdeck", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Log filter (tracing's env-filter syntax), e.g. `info`, `capdeck=debug`.
    #[arg(long, global = true, env = "CAPDECK_LOG", default_value = "info")]
    pub log: String,
    /// Also write the log to this file (`none`: no file). The desktop app writes one by
    /// default, at the path shown below; headless commands only when this is given.
    #[arg(long, global = true, env = "CAPDECK_LOG_FILE", value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// What to run; without one, the desktop app opens.
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    /// Options of the desktop app (used when no subcommand is given).
    #[command(flatten)]
    pub app: AppArgs,
}

/// Flags of the desktop app; they override the saved settings.
#[derive(Debug, Clone, Args)]
pub struct AppArgs {
    /// Close the window and exit with status 0 after SECS seconds (smoke tests).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub exit_after: Option<f64>,
    /// Start with the window minimised (what the autostart entry passes).
    #[arg(long)]
    pub minimized: bool,
    /// No icon in the desktop's tray (closing the window then quits).
    #[arg(long)]
    pub no_tray: bool,
    /// Run beside a capdeck that uses the same settings file (without it a second launch
    /// asks the running one to show its window and exits).
    #[arg(long)]
    pub new_instance: bool,
    /// Start from default settings; do not read or write the settings file.
    #[arg(long)]
    pub fresh: bool,
    /// Settings file to use instead of the platform config dir.
    #[arg(long, value_name = "PATH")]
    pub settings: Option<PathBuf>,
    /// Send capture to this inference host (address of the first host profile).
    #[arg(long, value_name = "ADDR")]
    pub host: Option<String>,
    /// Retail GrimStream feed address (host:port); the live view connects to it.
    #[arg(long, value_name = "ADDR")]
    pub retail: Option<String>,
    /// Engine GrimStream feed address (host:port).
    #[arg(long, value_name = "ADDR")]
    pub engine: Option<String>,
    /// Audio source: default, device:<name>, tone:<hz>, wav:<path> or none.
    #[arg(long, value_name = "SRC")]
    pub audio: Option<String>,
    /// Video source: pattern, camera[:N], screen[:N], window:<title> or none.
    #[arg(long, value_name = "SRC")]
    pub video: Option<String>,
    /// Pane layout.
    #[arg(long, value_name = "LAYOUT", value_parser = ["side-by-side", "tabs"])]
    pub layout: Option<String>,
    /// The game's data folder: the engine's movies are looked up under it (the movie
    /// policy becomes "play from game data"); saved as a setting. This build has no movie
    /// decoder: a movie found is answered `error` "no decoder", a missing one "file
    /// missing", with the path.
    #[arg(long, value_name = "DIR")]
    pub game_data: Option<PathBuf>,
    /// Where the Record button puts recordings (default: the platform's data folder,
    /// `recordings/`); saved as a setting.
    #[arg(long, value_name = "DIR")]
    pub recordings: Option<PathBuf>,
    /// Open this recording (a session folder or segment) in the live view at start.
    #[arg(long, value_name = "SESSION")]
    pub open: Option<PathBuf>,
}

impl AppArgs {
    /// The app options these flags ask for.
    pub fn to_options(&self, log_filter: &str) -> crate::ui::AppOptions {
        use crate::ui::settings::Layout;
        crate::ui::AppOptions {
            exit_after: self.exit_after,
            fresh: self.fresh,
            settings_path: self.settings.clone(),
            host: self.host.clone(),
            retail: self.retail.clone(),
            engine: self.engine.clone(),
            audio: self.audio.clone(),
            video: self.video.clone(),
            layout: self.layout.as_deref().map(|l| {
                if l == "tabs" {
                    Layout::Tabs
                } else {
                    Layout::SideBySide
                }
            }),
            game_data: self.game_data.clone(),
            recordings_dir: self.recordings.clone(),
            open_recording: self.open.clone(),
            no_autostart: false,
            log_filter: Some(log_filter.to_owned()),
            log_file: LogFileChoice::None,
            instance: None,
            minimized: self.minimized,
            tray: !self.no_tray,
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Stream audio and video to an inference host, headless.
    Send(SendArgs),
    /// Run a reference inference host: receive, check and store what a sender pushes.
    Receive(ReceiveArgs),
    /// List audio inputs and video sources.
    Devices(DevicesArgs),
    /// Connect to GrimStream feeds as a viewer and report what arrives.
    Probe(probe::ProbeArgs),
    /// Serve a synthetic retail feed and a matching engine feed.
    DemoFeeds(demo_feeds::DemoFeedsArgs),
    /// Serve a screen, window or the pattern as a GrimStream retail feed.
    ServeRetail(serve_retail::ServeRetailArgs),
    /// Check every sealed segment of a recording against its BLAKE3 seal.
    Verify(record::VerifyArgs),
    /// Replay a recording: a summary through the live view's decoders, its capture side
    /// pushed to an inference host, or its feeds served as GrimStream producers.
    Replay(record::ReplayArgs),
    /// Export a recording with Foxglove's standard schemas (opens in Foxglove and Rerun),
    /// or a range of it for a report (PNG frames, MP4, the divergences and bookmarks).
    Export(record::ExportArgs),
    /// Compare the game and its re-implementation event by event in a recording of both
    /// feeds: what only one did, what was late or out of order (exit status 1 over --max).
    Compare(compare::CompareCmdArgs),
    /// Start capdeck with the system, minimised (enable | disable | status).
    Autostart(autostart::AutostartArgs),
    /// Remove the game's sound from a microphone file offline, as `send --game-audio` does
    /// live: what would be sent, and how much of it is speech.
    Voice(voice::VoiceArgs),
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if (0.0..=1e7).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?}: seconds must be 0 to 1e7"))
    }
}

fn parse_fps(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a frame rate"))?;
    if v.is_finite() && (0.1..=120.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?}: fps must be 0.1 to 120"))
    }
}

/// `capdeck send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Inference host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Audio PUSH port.
    #[arg(long, default_value_t = defaults::AUDIO_PORT)]
    pub audio_port: u16,
    /// Video PUSH port.
    #[arg(long, default_value_t = defaults::VIDEO_PORT)]
    pub video_port: u16,
    /// Control REQ port (0 = no control channel).
    #[arg(long, default_value_t = defaults::CONTROL_PORT)]
    pub control_port: u16,
    /// Message framing: `framed` (one length-prefixed part, what the inference host
    /// reads) or `multipart` (header part + payload part; warned about unless the host's
    /// config reply names it).
    #[arg(long, default_value = "framed")]
    pub framing: Framing,
    /// Audio source: default | device:<id or name> | tone:<hz> | wav:<path> | none.
    #[arg(long, default_value = "default")]
    pub audio: AudioSourceSpec,
    /// The game's sound, removed from the microphone by echo cancellation: output (what the
    /// default output device plays) | device:<id or name> (e.g. a `.monitor` source) |
    /// process:<name or pid> | wav:<path> (starts with a wav: microphone) | none.
    #[arg(long, default_value = "none")]
    pub game_audio: GameAudioSpec,
    /// WebRTC noise suppression on the microphone: on | off. Off by default: it helps steady
    /// fan noise but can hurt a recogniser on speech over speech (README).
    #[arg(long, default_value = "off", value_parser = parse_on_off, action = clap::ArgAction::Set)]
    pub noise_suppression: bool,
    /// Video source: camera[:N] | screen[:N] | window:<title> | pattern | none.
    #[arg(long, default_value = "none")]
    pub video: VideoSourceSpec,
    /// Audio chunk length in ms, 10 to 1000 (pins it: the host's config will not change it).
    #[arg(long, value_parser = clap::value_parser!(u32).range(10..=1000))]
    pub chunk_ms: Option<u32>,
    /// Video size WxH (default 640x480; pins it).
    #[arg(long, value_parser = capdeck_util::parse_size)]
    pub video_size: Option<(u32, u32)>,
    /// Video frames per second (default 5; pins it).
    #[arg(long, value_parser = parse_fps)]
    pub fps: Option<f32>,
    /// JPEG quality 1 to 100 (default 70; pins it).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: Option<u8>,
    /// Seconds of audio kept while the host is away, delivered in order on reconnect.
    #[arg(long, default_value_t = defaults::AUDIO_BUFFER_S, value_parser = parse_seconds)]
    pub audio_buffer_secs: f64,
    /// Newest video frames kept while the host is away.
    #[arg(long, default_value_t = defaults::VIDEO_QUEUE_FRAMES)]
    pub video_queue: usize,
    /// Largest reconnect interval in ms (backoff doubles from 250 ms up to it).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(250..=60_000))]
    pub reconnect_max_ms: u64,
    /// Client name on the control channel.
    #[arg(long, default_value = "capdeck")]
    pub client: String,
    /// How long to run and where the final stats go.
    #[command(flatten)]
    pub run: RunLimits,
    /// Recording.
    #[command(flatten)]
    pub rec: record::RecordArgs,
}

/// The end of a `send` or `receive` run and its report.
#[derive(Debug, Args)]
pub struct RunLimits {
    /// Stop after this many seconds (default: until Ctrl-C, or for `send` the end of an
    /// audio file).
    #[arg(long, value_parser = parse_seconds)]
    pub duration: Option<f64>,
    /// Write the stats as JSON to this file: replaced (atomically) once a second while
    /// running, so a script or a second terminal can watch it, and a last time at the end.
    #[arg(long)]
    pub stats_json: Option<PathBuf>,
}

/// `capdeck receive`.
#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// Address to bind: loopback by default; `0.0.0.0` (or another address) accepts
    /// other machines and is logged as a warning.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Audio PULL port.
    #[arg(long, default_value_t = defaults::AUDIO_PORT)]
    pub audio_port: u16,
    /// Video PULL port.
    #[arg(long, default_value_t = defaults::VIDEO_PORT)]
    pub video_port: u16,
    /// Control REP port (0 = no control channel).
    #[arg(long, default_value_t = defaults::CONTROL_PORT)]
    pub control_port: u16,
    /// Write audio.wav, video/NNNNNN.jpg and index.jsonl here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Disk budget of --out in MiB: writing stops with a message when it is reached
    /// (receiving goes on).
    #[arg(long, default_value_t = 1024)]
    pub out_budget_mib: u64,
    /// How long to run and where the final stats go.
    #[command(flatten)]
    pub run: RunLimits,
}

/// `capdeck devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    attach_parent_console();
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(e) => {
            // help and version go to stdout with status 0, usage errors to stderr with 2
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let log_file = match cli.log_file.as_deref() {
        Some(p) if p.as_os_str() == "none" => LogFileChoice::None,
        Some(p) => LogFileChoice::Path(p.into()),
        None if cli.command.is_none() => LogFileChoice::Default,
        None => LogFileChoice::None,
    };
    if cli.command.is_some() {
        // the app installs the subscriber itself, with the log panel's ring layer
        let _ = crate::ui::logging::init(&cli.log, None, &log_file);
    }
    let result = match cli.command {
        None => {
            let mut opts = cli.app.to_options(&cli.log);
            opts.log_file = log_file;
            // one app per settings file (a --fresh run touches none: it runs on its own)
            let settings = (!opts.fresh && !cli.app.new_instance)
                .then(|| {
                    opts.settings_path
                        .clone()
                        .or_else(crate::ui::settings::Settings::default_path)
                })
                .flatten();
            if let Some(settings) = settings {
                use crate::ui::instance::{Claim, claim};
                match claim(&settings) {
                    Claim::First(i) => opts.instance = Some(std::sync::Arc::new(i)),
                    Claim::HandedOver => {
                        eprintln!(
                            "capdeck is already running with {}: asked it to show its window",
                            settings.display()
                        );
                        return ExitCode::SUCCESS;
                    }
                    Claim::Alone(why) => eprintln!("capdeck: {why}"),
                }
            }
            crate::ui::run_app(opts)
        }
        Some(CliCommand::Send(a)) => run_send(a),
        Some(CliCommand::Receive(a)) => run_receive(a),
        Some(CliCommand::Devices(a)) => run_devices(a),
        Some(CliCommand::Probe(a)) => probe::run(a),
        Some(CliCommand::DemoFeeds(a)) => demo_feeds::run(a),
        Some(CliCommand::ServeRetail(a)) => serve_retail::run(a),
        Some(CliCommand::Verify(a)) => record::run_verify(a),
        Some(CliCommand::Replay(a)) => record::run_replay(a),
        Some(CliCommand::Export(a)) => record::run_export(a),
        Some(CliCommand::Voice(a)) => voice::run(a),
        Some(CliCommand::Compare(a)) => return compare::run(a),
        Some(CliCommand::Autostart(a)) => autostart::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capdeck: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the command line; `--help` names the app's log file.
fn parse_cli() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let log = match crate::ui::logging::default_log_path() {
        Some(p) => format!("The desktop app's log file: {}", p.display()),
        None => "The desktop app logs to stderr only (no data directory here).".to_owned(),
    };
    let matches = Cli::command().after_help(log).try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

/// A release build on Windows is a GUI program (no console window of its own). Run from a
/// console, it writes to that console: attach to the parent's, if there is one. Output
/// redirected to a file or pipe needs nothing (the handles are inherited).
#[cfg(windows)]
fn attach_parent_console() {
    use windows_sys::Win32::System::Console::{ATTACH_PARENT_PROCESS, AttachConsole};
    // SAFETY: AttachConsole takes a process id and has no memory arguments; failing (no
    // parent console, or one already attached) leaves the process as it was.
    unsafe {
        AttachConsole(ATTACH_PARENT_PROCESS);
    }
}

#[cfg(not(windows))]
fn attach_parent_console() {}

/// Set when Ctrl-C arrives (or SIGTERM on Unix; Ctrl-Break or the console closing on
/// Windows).
pub(crate) fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let spawned = std::thread::Builder::new()
        .name("capdeck-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{SignalKind, signal};
                    if let Ok(mut term) = signal(SignalKind::terminate()) {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = term.recv() => {}
                        }
                    } else {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
                // Windows: Ctrl-C, Ctrl-Break and the console window being closed (the
                // last leaves a few seconds, enough to write the stats).
                #[cfg(windows)]
                {
                    use tokio::signal::windows::{ctrl_break, ctrl_close};
                    match (ctrl_break(), ctrl_close()) {
                        (Ok(mut brk), Ok(mut close)) => {
                            tokio::select! {
                                _ = tokio::signal::ctrl_c() => {}
                                _ = brk.recv() => {}
                                _ = close.recv() => {}
                            }
                        }
                        _ => {
                            let _ = tokio::signal::ctrl_c().await;
                        }
                    }
                }
                #[cfg(not(any(unix, windows)))]
                let _ = tokio::signal::ctrl_c().await;
            });
            f.store(true, Ordering::Relaxed);
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for Ctrl-C: {e}");
    }
    flag
}

/// Why a command's run ended: what its recording says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RunEnd {
    /// Ctrl-C (or SIGTERM).
    Interrupted,
    /// The input ended (a `wav:` file played to its end).
    InputEnded,
    /// `--duration` seconds passed.
    Duration(f64),
}

impl RunEnd {
    /// The reason a recording of the run is closed with.
    pub(crate) fn reason(self) -> String {
        match self {
            Self::Interrupted => capdeck_record::recorder::STOPPED_BY_THE_USER.to_owned(),
            Self::InputEnded => "the input ended".to_owned(),
            Self::Duration(d) => format!("the --duration of {d} s ended"),
        }
    }
}

/// Runs until `duration`, an interrupt, or `done()`; calls `tick` every 250 ms.
fn run_until(duration: Option<f64>, done: impl Fn() -> bool, mut tick: impl FnMut()) -> RunEnd {
    let stop = interrupt_flag();
    let start = Instant::now();
    let end = duration.map(|d| start + Duration::from_secs_f64(d));
    loop {
        if stop.load(Ordering::Relaxed) {
            return RunEnd::Interrupted;
        }
        if done() {
            return RunEnd::InputEnded;
        }
        if let (Some(e), Some(d)) = (end, duration)
            && Instant::now() >= e
        {
            return RunEnd::Duration(d);
        }
        let step = end.map_or(Duration::from_millis(250), |e| {
            e.saturating_duration_since(Instant::now())
                .min(Duration::from_millis(250))
        });
        std::thread::sleep(step);
        tick();
    }
}

/// Writes `value` as JSON to `path` through a temporary file beside it and a rename, so a
/// reader never sees half a file.
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text + "\n").with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// The `--stats-json` file while a command runs: rewritten at most once a second.
struct LiveStatsFile<'a> {
    path: Option<&'a std::path::Path>,
    last: Option<Instant>,
    failed: bool,
}

impl<'a> LiveStatsFile<'a> {
    fn new(path: Option<&'a std::path::Path>) -> Self {
        Self {
            path,
            last: None,
            failed: false,
        }
    }

    /// Writes `stats()` when a second has passed since the last write. A failure is logged
    /// once; the final write at the end still reports it as an error.
    fn tick<T: serde::Serialize>(&mut self, stats: impl FnOnce() -> T) {
        let Some(path) = self.path else { return };
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last = Some(Instant::now());
        if let Err(e) = write_json(path, &stats())
            && !self.failed
        {
            self.failed = true;
            tracing::warn!("stats file: {e:#}");
        }
    }
}

fn status(line: &str) {
    let mut err = std::io::stderr();
    let _ = write!(err, "\r\x1b[2K{line}");
    let _ = err.flush();
}

/// `on` or `off` (also true/false, yes/no, 1/0).
fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("{s:?}: expected on or off")),
    }
}

fn run_send(a: SendArgs) -> anyhow::Result<()> {
    let cfg = SenderConfig {
        host: a.host,
        audio_port: a.audio_port,
        video_port: a.video_port,
        control_port: a.control_port,
        framing: a.framing,
        audio: a.audio,
        voice: VoiceConfig {
            game_audio: a.game_audio,
            noise_suppression: a.noise_suppression,
        },
        video: a.video,
        chunk_ms: a.chunk_ms,
        video_size: a.video_size,
        fps: a.fps,
        quality: a.quality,
        audio_buffer_s: a.audio_buffer_secs,
        video_queue_frames: a.video_queue.max(1),
        reconnect_max: Duration::from_millis(a.reconnect_max_ms),
        client: a.client,
    };
    let video_none = cfg.video == VideoSourceSpec::None;
    let recording = a.rec.start(Instant::now())?;
    let tap = match &recording {
        Some((_, tap)) => TapPoint::new(tap.clone()),
        None => TapPoint::default(),
    };
    let sender = Sender::start(cfg, tap)?;
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let mut warned: Option<String> = None;
    let mut live_stats = LiveStatsFile::new(a.run.stats_json.as_deref());
    let ended = run_until(
        a.run.duration,
        || video_none && sender.audio_finished(),
        || {
            // Said once per change (the host's config can name framings later).
            let st = sender.stats();
            live_stats.tick(|| &st);
            let host_known = st.control.host_config.is_some()
                || st.control.state == capdeck_net::control_link::ControlState::Disabled;
            let now_warning = st.framing_warning.filter(|_| host_known);
            if now_warning.is_some() && now_warning != warned {
                tracing::warn!("framing: {}", now_warning.as_deref().unwrap_or_default());
            }
            warned = now_warning;
            if tty && last.elapsed() >= Duration::from_millis(500) {
                let mut line = sender.stats().status_line();
                if let Some((r, _)) = &recording {
                    line = format!("{line} | {}", record::status_line(&r.status()));
                }
                status(&line);
                last = Instant::now();
            }
        },
    );
    let stats = sender.stop(Duration::from_secs(2));
    if tty {
        status(&stats.status_line());
        eprintln!();
    }
    if let Some((r, _)) = recording {
        record::finish(r, &ended.reason());
    }
    if let Some(p) = &a.run.stats_json {
        write_json(p, &stats)?;
    }
    Ok(())
}

fn run_receive(a: ReceiveArgs) -> anyhow::Result<()> {
    let cfg = ReceiverConfig {
        bind: a.bind,
        audio_port: a.audio_port,
        video_port: a.video_port,
        control_port: (a.control_port != 0).then_some(a.control_port),
        out_dir: a.out,
        out_budget_bytes: a.out_budget_mib.saturating_mul(1 << 20),
        host_config: HostConfig::reference(),
    };
    let receiver = Receiver::spawn(cfg)?;
    let p = receiver.ports();
    tracing::info!(
        "receiving: audio :{} video :{} control {}",
        p.audio,
        p.video,
        p.control.map_or("off".to_owned(), |c| format!(":{c}"))
    );
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let mut live_stats = LiveStatsFile::new(a.run.stats_json.as_deref());
    let _ = run_until(
        a.run.duration,
        || false,
        || {
            live_stats.tick(|| receiver.stats());
            if tty && last.elapsed() >= Duration::from_millis(500) {
                let s = receiver.stats();
                status(&format!(
                    "audio {} msgs (missing {}) | video {} msgs (missing {}) | malformed {} | control hello {} hb {}{}",
                    s.audio.messages,
                    s.audio.missing,
                    s.video.messages,
                    s.video.missing,
                    s.audio.malformed + s.video.malformed,
                    s.control.hello,
                    s.control.heartbeat,
                    if s.output_stopped.is_some() {
                        " | output stopped: disk budget"
                    } else {
                        ""
                    }
                ));
                last = Instant::now();
            }
        },
    );
    let stats = receiver.stop();
    if tty {
        eprintln!();
    }
    if let Some(why) = &stats.output_stopped {
        eprintln!("receive: {why}");
    }
    if let Some(p) = &a.run.stats_json {
        write_json(p, &stats)?;
    }
    Ok(())
}

fn run_devices(a: DevicesArgs) -> anyhow::Result<()> {
    let audio = capdeck_capture::audio::list_devices();
    let video = capdeck_capture::video::list_sources();
    if a.json {
        let synthetic = serde_json::json!({
            "audio": ["tone:<hz>", "wav:<path>", "none"],
            "video": ["pattern", "none"],
        });
        let v = serde_json::json!({ "audio_inputs": audio, "video_sources": video, "synthetic": synthetic });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("Audio inputs (--audio default | device:<id or name>):");
    for line in capdeck_capture::audio::format_devices(&audio).lines() {
        println!("  {line}");
    }
    println!("Cameras (--video camera:N):");
    if video.cameras.is_empty() {
        println!("  (none found)");
    }
    for c in &video.cameras {
        let modes: Vec<String> = c.formats.iter().take(6).map(|m| format!("{m:?}")).collect();
        println!("  {:>2} {}  {}", c.index, c.name, modes.join(", "));
    }
    println!(
        "Screens (--video screen:N), backend {}:",
        video.screen_backend
    );
    if video.screens.is_empty() {
        println!("  (none found)");
    }
    for s in &video.screens {
        let primary = if s.primary { " (primary)" } else { "" };
        println!(
            "  {:>2} {} {}x{}{primary}",
            s.index, s.name, s.width, s.height
        );
    }
    println!("Windows (--video window:<title>):");
    if video.windows.is_empty() {
        println!("  (none found)");
    }
    for w in &video.windows {
        println!("  {:?} [{}] {}x{}", w.title, w.app, w.width, w.height);
    }
    for p in &video.problems {
        println!("  note: {p}");
    }
    println!("Synthetic: --audio tone:<hz> | wav:<path> | none; --video pattern | none");
    Ok(())
}
