//! The eframe app: window shell (panes, status bar, log panel, toasts), the one place
//! where [`UiCommand`]s are applied, repaint policy, settings persistence, and
//! [`run_app`], the entry point bare `capdeck` calls.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tracing::Level;

use super::capture::{self, CaptureBackend, PreviewTexture};
use super::command::{CommandQueue, UiCommand};
use super::live::{self, LiveDisplay, LiveRuntime};
use super::log_ring::{LogEntry, LogRing};
use super::ptt::PttRuntime;
use super::settings::{CaptureTarget, FeedTarget, Layout, Pane, Settings};
use capdeck_grimstream::FeedRole;
use capdeck_grimstream::store::{MarkKind, OperatorMark};
use capdeck_timeline::Command;

/// Options of [`run_app`], from the command line.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Exit with status 0 after this many seconds (smoke tests).
    pub exit_after: Option<f64>,
    /// Start from defaults: neither read nor write the settings file or window state.
    pub fresh: bool,
    /// Settings file (default: the platform config dir).
    pub settings_path: Option<PathBuf>,
    /// Override: send capture to this host address (uses the first host profile).
    pub host: Option<String>,
    /// Override: retail feed address.
    pub retail: Option<String>,
    /// Override: engine feed address.
    pub engine: Option<String>,
    /// Override: audio source (`--audio` spelling).
    pub audio: Option<String>,
    /// Override: video source (`--video` spelling).
    pub video: Option<String>,
    /// Override: pane layout.
    pub layout: Option<Layout>,
    /// Override: the game's data folder; the engine's movies are then looked up under it
    /// (the "play" movie policy; with no movie decoder in this build, answered `error`).
    pub game_data: Option<PathBuf>,
    /// Override: where the Record button puts recordings.
    pub recordings_dir: Option<PathBuf>,
    /// Open this recording in the live pane at start.
    pub open_recording: Option<PathBuf>,
    /// Do not start capture and feeds on launch (tests drive them).
    pub no_autostart: bool,
    /// `tracing` filter (env-filter syntax); default `info` with GPU stacks at `warn`.
    pub log_filter: Option<String>,
    /// Where [`run_app`] writes its log file (the binary passes the default file).
    pub log_file: super::logging::LogFileChoice,
    /// This app is the instance of its settings file: second launches ask it to show its
    /// window ([`super::instance`]); None when it runs on its own.
    pub instance: Option<std::sync::Arc<super::instance::Instance>>,
    /// Start with the window minimised (`--minimized`, the autostart entry's flag).
    pub minimized: bool,
    /// Put an icon in the desktop's tray (the app's own launch; tests leave it off).
    pub tray: bool,
}

impl AppOptions {
    /// Applies the command-line overrides to loaded settings.
    pub fn apply_overrides(&self, s: &mut Settings) {
        if let Some(h) = &self.host {
            if let Some(p) = s.host_profiles.first_mut() {
                p.address = h.clone();
            }
            s.capture_target = CaptureTarget::Profile(0);
        }
        if let Some(r) = &self.retail {
            s.retail_addr = r.clone();
            s.feed_target = FeedTarget::Real;
        }
        if let Some(e) = &self.engine {
            s.engine_addr = e.clone();
            s.feed_target = FeedTarget::Real;
        }
        if let Some(a) = &self.audio {
            s.audio_source = a.clone();
        }
        if let Some(v) = &self.video {
            s.video_source = v.clone();
        }
        if let Some(l) = self.layout {
            s.layout = l;
        }
        if let Some(d) = &self.recordings_dir {
            s.recordings_dir = Some(d.clone());
        }
        if let Some(d) = &self.game_data {
            s.game_data_dir = Some(d.clone());
            s.movie_policy = capdeck_grimstream::feed::MoviePolicy::Play {
                game_data: d.clone(),
            };
        }
    }
}

const MIB: usize = 1024 * 1024;

/// How long `--minimized` waits for the window manager to minimise the window before it
/// takes the window as shown (no window manager: it never will).
const MINIMIZE_GRACE: Duration = Duration::from_secs(5);

/// How often the log says what wgpu's allocator holds ([`CapdeckApp::gpu_memory_logic`]).
const GPU_REPORT_EVERY: Duration = Duration::from_secs(10);
/// How long the host may stay silent before the tray says it is lost.
const HOST_LOST_NOTICE: Duration = Duration::from_secs(5);
/// How long "host back" stays in the tray's tooltip.
const HOST_BACK_NOTICE: Duration = Duration::from_secs(10);

/// Notices when the control channel's host goes away and comes back.
#[derive(Debug, Default)]
struct HostWatch {
    down_since: Option<Instant>,
    told: bool,
    back: Option<(Instant, String)>,
}

impl HostWatch {
    /// Seconds the host has been lost (once past [`HOST_LOST_NOTICE`]) and a "back" notice.
    fn update(
        &mut self,
        control: &capture::LinkLight,
        now: Instant,
    ) -> (Option<u64>, Option<String>) {
        use capture::LinkLight as L;
        match control {
            L::Disconnected { .. } | L::Connecting { .. } => {
                let since = *self.down_since.get_or_insert(now);
                let down = now.saturating_duration_since(since);
                if down >= HOST_LOST_NOTICE && !self.told {
                    tracing::warn!(
                        "host lost: no answer on the control channel for {} s",
                        down.as_secs()
                    );
                    self.told = true;
                }
            }
            L::Streaming => {
                if let (true, Some(since)) = (self.told, self.down_since) {
                    let t = now.saturating_duration_since(since).as_secs();
                    tracing::info!("host back after {t} s");
                    self.back = Some((now + HOST_BACK_NOTICE, format!("host back after {t} s")));
                }
                self.down_since = None;
                self.told = false;
            }
            L::Idle => {
                self.down_since = None;
                self.told = false;
            }
        }
        self.back = self.back.take().filter(|(until, _)| *until > now);
        let lost = self
            .down_since
            .filter(|_| self.told)
            .map(|s| now.saturating_duration_since(s).as_secs());
        (lost, self.back.as_ref().map(|(_, n)| n.clone()))
    }
}

struct Toast {
    entry: LogEntry,
    until: Instant,
}

/// The desktop app.
pub struct CapdeckApp {
    /// Persistent settings (the UI's copy; written on exit).
    pub settings: Settings,
    settings_path: Option<PathBuf>,
    /// Second launches' requests to show the window.
    instance: Option<std::sync::Arc<super::instance::Instance>>,
    /// Minimise the window at the first frame (`--minimized`).
    start_minimized: bool,
    /// The tray icon, when the desktop shows one ([`super::tray`]).
    tray: Option<super::tray::Tray>,
    /// Quit was asked for (the tray's Quit): the window's close is not turned into a hide.
    quitting: bool,
    /// The window is hidden to the tray.
    hidden: bool,
    /// When the control channel stopped answering, and whether the user was told.
    host_down: HostWatch,
    /// The demo feeds start when the live view is first shown.
    demo_pending: bool,
    /// Started minimised (`--minimized`): the window has not yet been on screen, so the live
    /// view is not shown either (cleared when the window is restored, or when no window
    /// manager minimised it within [`MINIMIZE_GRACE`]).
    never_restored: bool,
    /// The window manager has minimised the window since the start.
    minimized_seen: bool,
    /// Whether capdeck starts with the system (read from the system), or why not known.
    autostart: Result<bool, String>,
    /// Live pane runtime (store + sources).
    pub live: LiveRuntime,
    /// Live pane display state (overlay, zoom, pan, addresses).
    pub view: LiveDisplay,
    capture: Box<dyn CaptureBackend>,
    /// Last capture snapshot drawn.
    pub capture_snap: capture::CaptureSnapshot,
    preview_tex: PreviewTexture,
    log: LogRing,
    log_seen: u64,
    toasts: Vec<Toast>,
    cmds: CommandQueue,
    started: Instant,
    /// When wgpu's allocator was last reported in the log ([`Self::gpu_memory_logic`]).
    gpu_reported: Instant,
    waker: Option<egui::Context>,
    exit_after: Option<f64>,
    /// Shown in the status bar when the GPU renderer could not start.
    pub renderer_notice: Option<String>,
    /// wgpu validation errors, caught by the app's own handler (wgpu's default panics).
    pub gpu_errors: super::gpu_errors::GpuErrors,
    /// Frames drawn.
    pub frames: u64,
    /// Push-to-talk: key poller and the state the audio gate reads.
    pub ptt: PttRuntime,
    /// The video source picker's list (listed on its own thread).
    pub video_sources: capture::sources::SourceLister,
    /// The seam every link and feed passes; a recording attaches to it.
    record_tap: std::sync::Arc<capdeck_session::record::SwitchTap>,
    /// The recording in progress.
    pub recorder: Option<capdeck_record::recorder::Recorder>,
    record_indicator: super::recordings::RecordIndicator,
    /// Why the last recording stopped by itself (a guard or an error), shown by Record.
    pub record_stopped: Option<String>,
    /// The open-a-recording window.
    pub open_window: super::recordings::OpenWindow,
    /// The settings as the recording in progress last recorded them.
    settings_recorded: Option<Settings>,
}

impl CapdeckApp {
    /// Builds the app inside eframe (or a kittest harness).
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        opts: &AppOptions,
        log: LogRing,
        renderer_notice: Option<String>,
    ) -> Self {
        let settings_path = if opts.fresh {
            None
        } else {
            opts.settings_path.clone().or_else(Settings::default_path)
        };
        let mut settings = match &settings_path {
            Some(p) => Settings::load(p).unwrap_or_else(|e| {
                tracing::warn!("{e}");
                Settings::default()
            }),
            None => Settings::default(),
        };
        opts.apply_overrides(&mut settings);
        settings.sanitize();
        let ctx = cc.egui_ctx.clone();
        log.set_waker(ctx.clone());
        let gpu_errors = cc
            .wgpu_render_state
            .as_ref()
            .map(|rs| super::gpu_errors::GpuErrors::install(&rs.device))
            .unwrap_or_default();
        let gpu = cc.wgpu_render_state.as_ref().map(live::overlay::install);
        let record_tap = std::sync::Arc::new(capdeck_session::record::SwitchTap::default());
        let mut rt = LiveRuntime::new(
            settings.memory_budget_mib as usize * MIB,
            (settings.follow_delay_s * 1e9) as i64,
            Some(ctx.clone()),
            gpu,
        );
        rt.set_record_tap(record_tap.clone());
        rt.render_state = cc.wgpu_render_state.clone();
        rt.movie_policy = settings.movie_policy.clone();
        let demo = settings.feed_target == FeedTarget::Demo;
        let mut view = LiveDisplay::new(
            settings.retail_addr.clone(),
            settings.engine_addr.clone(),
            demo,
        );
        view.game_data = settings
            .game_data_dir
            .as_ref()
            .map_or_else(String::new, |d| d.display().to_string());
        // the demo starts when the live view is first shown: a capture-only window holds
        // no history (150 MB instead of the budget)
        let demo_pending = !opts.no_autostart && demo;
        let capture = start_capture(
            &settings,
            Some(ctx.clone()),
            !opts.no_autostart,
            record_tap.clone(),
        );
        let video_sources = capture::sources::SourceLister::new(Some(cc.egui_ctx.clone()));
        let log_seen = log.next_seq();
        let mut app = Self {
            settings,
            settings_path,
            live: rt,
            view,
            capture,
            capture_snap: Default::default(),
            preview_tex: Default::default(),
            log,
            log_seen,
            toasts: Vec::new(),
            cmds: CommandQueue::default(),
            started: Instant::now(),
            gpu_reported: Instant::now(),
            waker: Some(cc.egui_ctx.clone()),
            exit_after: opts.exit_after,
            renderer_notice,
            gpu_errors,
            frames: 0,
            ptt: PttRuntime::new(),
            video_sources,
            record_tap,
            recorder: None,
            record_indicator: Default::default(),
            record_stopped: None,
            open_window: Default::default(),
            settings_recorded: None,
            instance: opts.instance.clone(),
            demo_pending,
            never_restored: opts.minimized,
            minimized_seen: false,
            start_minimized: opts.minimized,
            tray: opts
                .tray
                .then(|| super::tray::Tray::start(ctx.clone()))
                .and_then(|r| {
                    r.map_err(|e| tracing::warn!("tray: {e}; capdeck runs without a tray icon"))
                        .ok()
                }),
            quitting: false,
            hidden: false,
            host_down: HostWatch::default(),
            autostart: super::autostart::enabled().map_err(|e| e.to_string()),
        };
        if let Some(i) = &app.instance {
            i.set_waker(cc.egui_ctx.clone());
            tracing::info!("single instance: listening as {}", i.name);
        }
        if let Some(p) = &opts.open_recording {
            app.apply(UiCommand::OpenRecording(p.clone()));
        }
        app.ptt.sync(&app.settings);
        if !demo && !opts.no_autostart {
            for f in FeedRole::ALL {
                app.apply(UiCommand::ConnectFeed(f));
            }
        }
        app
    }

    /// The log ring (recent warnings and errors) this app shows.
    pub fn log_ring(&self) -> &LogRing {
        &self.log
    }

    /// Replaces the capture backend (tests, and the real pipelines once merged).
    pub fn set_capture_backend(&mut self, b: Box<dyn CaptureBackend>) {
        self.capture = b;
    }

    /// Queues a command as if the UI had emitted it (applied at the end of the next frame).
    pub fn queue(&mut self, cmd: UiCommand) {
        self.cmds.push(cmd);
    }

    /// A new operator mark (recorded when recording).
    fn add_mark(&mut self, t_ns: i64, label: String, note: String, kind: MarkKind) {
        let id = self.live.core.with_store(|s| s.next_mark_id());
        let m = OperatorMark {
            id,
            t_ns,
            label,
            note,
            kind,
        };
        self.record_tap.mark(&m);
        tracing::info!("{} {} at {:.2} s", kind.name(), m.label, t_ns as f64 / 1e9);
        self.live.core.add_operator_mark(m);
    }

    /// Changes mark `id` by `edit`; records its new state when `record`.
    fn edit_mark(&mut self, id: u64, edit: impl FnOnce(&mut OperatorMark), record: bool) {
        let Some(mut m) = self.live.core.with_store(|s| s.operator_mark(id).cloned()) else {
            return;
        };
        edit(&mut m);
        if record {
            self.record_tap.mark(&m);
        }
        self.live.core.add_operator_mark(m);
    }

    /// Applies one command. The only place UI-driven state changes happen.
    pub fn apply(&mut self, cmd: UiCommand) {
        let v = &mut self.view;
        match &cmd {
            UiCommand::SetLayout(l) => self.settings.layout = *l,
            UiCommand::ShowPane(p) => self.settings.active_tab = *p,
            UiCommand::ToggleLog => self.settings.show_log = !self.settings.show_log,
            UiCommand::DismissToast(seq) => self.toasts.retain(|t| t.entry.seq != *seq),
            UiCommand::Timeline(c) => {
                if let Command::SetLiveDelay { delay_ns } = c {
                    self.settings.follow_delay_s = ((*delay_ns).max(0) as f64 / 1e9) as f32;
                }
                self.live.command(*c);
            }
            UiCommand::AddMark => {
                let t_ns = self.live.timeline().cursor_ns;
                let n = self.live.core.with_store(|s| s.operator_marks().len()) + 1;
                self.add_mark(t_ns, format!("mark {n}"), String::new(), MarkKind::Mark);
            }
            UiCommand::AddBookmark {
                t_ns,
                label,
                note,
                kind,
            } => self.add_mark(*t_ns, label.clone(), note.clone(), *kind),
            UiCommand::EditMarkNote { id, note } => {
                self.edit_mark(*id, |m| m.note.clone_from(note), false);
            }
            UiCommand::SetMarkKind { id, kind } => self.edit_mark(*id, |m| m.kind = *kind, true),
            UiCommand::RecordMark(id) => self.edit_mark(*id, |_| {}, true),
            UiCommand::RemoveMark(id) => {
                let t = self
                    .live
                    .core
                    .with_store(|s| s.operator_mark(*id).map(|m| m.t_ns));
                if let Some(t_ns) = t
                    && self.live.core.remove_operator_mark(*id)
                {
                    self.record_tap.mark_removed(*id, t_ns);
                }
            }
            UiCommand::SetOverlay(m) => v.overlay = *m,
            UiCommand::PinReference => v.reference = self.live.frame.at.frame.clone(),
            UiCommand::SetWipe(w) => v.wipe = w.clamp(0.0, 1.0),
            UiCommand::SetPixelZoom(z) => {
                v.pixel_zoom = *z;
                v.pan = egui::Vec2::ZERO;
            }
            UiCommand::Pan(d) => v.pan += *d,
            UiCommand::SetNudge(role, ns) => self.live.core.set_nudge(*role, *ns),
            UiCommand::SetMemoryBudgetMib(m) => {
                self.settings.memory_budget_mib = *m;
                self.settings.sanitize();
                self.live
                    .set_budget(self.settings.memory_budget_mib as usize * MIB);
            }
            UiCommand::SetFeedAddr(f, a) => {
                v.addr[f.index()] = a.clone();
                match f {
                    FeedRole::Retail => self.settings.retail_addr = a.clone(),
                    FeedRole::Engine => self.settings.engine_addr = a.clone(),
                }
            }
            UiCommand::ConnectFeed(f) => {
                let addr = v.addr[f.index()].clone();
                self.live.connect(*f, &addr);
            }
            UiCommand::DisconnectFeed(f) => match f {
                // the engine's history is what a developer compares against: ask first
                FeedRole::Engine => v.confirm_disconnect = Some(*f),
                FeedRole::Retail => self.live.core.disconnect(*f),
            },
            UiCommand::ConfirmDisconnect(f) => {
                v.confirm_disconnect = None;
                self.live.core.disconnect(*f);
            }
            UiCommand::CancelDisconnect => v.confirm_disconnect = None,
            UiCommand::SetMoviePolicy(p) => {
                self.settings.movie_policy = p.clone();
                self.live.movie_policy = p.clone();
            }
            UiCommand::SetGameDataDir(dir) => {
                use capdeck_grimstream::feed::MoviePolicy;
                v.game_data = dir.clone();
                let dir = dir.trim();
                let dir = (!dir.is_empty()).then(|| PathBuf::from(dir));
                self.settings.game_data_dir = dir.clone();
                if matches!(self.settings.movie_policy, MoviePolicy::Play { .. }) {
                    // playing needs a folder: without one, say so to the engine at once
                    let p = dir.map_or_else(MoviePolicy::default, |game_data| MoviePolicy::Play {
                        game_data,
                    });
                    self.settings.movie_policy = p.clone();
                    self.live.movie_policy = p;
                }
            }
            UiCommand::SkipMovie(m) => {
                if let Err(e) = self.live.core.send_movie_control(m.clone()) {
                    tracing::warn!("cannot skip the movie {}: {e}", m.name);
                }
            }
            UiCommand::RetryCaptureWorker => {
                self.capture = start_capture(
                    &self.settings,
                    self.waker.clone(),
                    true,
                    self.record_tap.clone(),
                );
            }
            UiCommand::StartRecording => self.start_recording(),
            UiCommand::StopRecording => self.stop_recording(),
            UiCommand::ToggleRecording => {
                if self.recorder.is_some() {
                    self.stop_recording();
                } else {
                    self.start_recording();
                }
            }
            UiCommand::ShowOpenRecording(show) => {
                self.open_window.open = *show;
                if *show {
                    self.open_window.refresh(self.settings.recordings_dir());
                }
            }
            UiCommand::SetOpenPath(p) => self.open_window.path = p.clone(),
            UiCommand::OpenRecording(p) => {
                if self.recorder.is_some() {
                    self.stop_recording();
                }
                self.open_window.open = false;
                self.live.open_recording(
                    p,
                    capdeck_wire::grimstream::decoder::DEFAULT_MAX_MESSAGE_LEN,
                );
            }
            UiCommand::CloseRecording => {
                self.live.close_recording();
                if self.settings.feed_target == FeedTarget::Demo {
                    self.live.start_demo();
                } else {
                    for f in FeedRole::ALL {
                        self.cmds.push(UiCommand::ConnectFeed(f));
                    }
                }
            }
            UiCommand::DeleteRecording(p) => self.delete_recording(p),
            UiCommand::SendRecordingToHost => self.send_recording_to_host(),
            UiCommand::ExportRecording => {
                if let Some(r) = &mut self.live.recording {
                    let out = r.beside(".foxglove.mcap");
                    r.job = Some(super::recordings::RecordingJob::export(
                        &r.path,
                        out,
                        self.waker.clone(),
                    ));
                }
            }
            UiCommand::SetAutostart(on) => {
                if let Err(e) = super::autostart::set(*on) {
                    tracing::error!("{e}");
                }
                // what the system holds now, whether or not the change took
                self.autostart = super::autostart::enabled().map_err(|e| e.to_string());
            }
            UiCommand::SetCloseToTray(on) => self.settings.close_to_tray = *on,
            UiCommand::ExportClip => {
                let sel = self.live.timeline().selection;
                let waker = self.waker.clone();
                if let (Some(r), Some(sel)) = (self.live.recording.as_mut(), sel)
                    && !r
                        .job
                        .as_ref()
                        .is_some_and(super::recordings::RecordingJob::running)
                {
                    let out = r.beside(&format!(
                        "-clip-{:.1}-{:.1}s",
                        sel.start_ns as f64 / 1e9,
                        sel.end_ns as f64 / 1e9
                    ));
                    let opts = capdeck_session::clip::ClipOptions {
                        from_ns: sel.start_ns,
                        to_ns: sel.end_ns,
                        out,
                        video: true,
                        rules: capdeck_compare::Rules::defaults(),
                        compare: capdeck_compare::CompareOptions::default(),
                    };
                    r.job = Some(super::recordings::RecordingJob::clip(&r.path, opts, waker));
                }
            }
            UiCommand::StopRecordingJob => {
                if let Some(j) = self.live.recording.as_ref().and_then(|r| r.job.as_ref()) {
                    j.stop();
                }
            }
            UiCommand::UseDemoFeeds(demo) => {
                v.demo = *demo;
                self.settings.feed_target = if *demo {
                    FeedTarget::Demo
                } else {
                    FeedTarget::Real
                };
                if *demo {
                    self.live.start_demo();
                } else {
                    self.live.stop_demo();
                    for f in FeedRole::ALL {
                        self.cmds.push(UiCommand::ConnectFeed(f));
                    }
                }
            }
            UiCommand::UseEmbeddedHost => self.settings.capture_target = CaptureTarget::Embedded,
            UiCommand::UseHostProfile(i) => {
                if *i < self.settings.host_profiles.len() {
                    self.settings.capture_target = CaptureTarget::Profile(*i);
                }
            }
            UiCommand::EditHostProfile(i, p) => {
                if let Some(slot) = self.settings.host_profiles.get_mut(*i) {
                    *slot = p.clone();
                }
            }
            UiCommand::SetAudioSource(s) => self.settings.audio_source = s.clone(),
            UiCommand::SetFollowDefaultMic(f) => self.settings.follow_default_mic = *f,
            UiCommand::SetGameAudio(g) => self.settings.game_audio = g.clone(),
            UiCommand::SetNoiseSuppression(on) => self.settings.noise_suppression = *on,
            UiCommand::SetGain(g) => self.settings.gain_db = g.clamp(-60.0, 40.0),
            UiCommand::SetPushToTalk(p) => self.settings.push_to_talk = *p,
            UiCommand::SetPttKey(k) => {
                if k.parse::<capdeck_capture::hotkey::PttKey>().is_ok() {
                    self.settings.ptt_key = k.clone();
                }
            }
            UiCommand::SetPttPreroll(ms) => {
                self.settings.ptt_preroll_ms =
                    (*ms).min(capdeck_capture::audio::gate::MAX_PREROLL_MS)
            }
            UiCommand::SetPttMode(m) => self.settings.ptt_mode = *m,
            UiCommand::RefreshVideoSources => self.video_sources.refresh(),
            UiCommand::SetVideoSource(s) => self.settings.video_source = s.clone(),
            UiCommand::SetVideoSize(s) => self.settings.video_size = *s,
            UiCommand::SetVideoFps(f) => self.settings.video_fps = f.clamp(0.1, 60.0),
            UiCommand::SetVideoQuality(q) => self.settings.video_quality = (*q).clamp(1, 100),
            UiCommand::StartChannel(_)
            | UiCommand::StopChannel(_)
            | UiCommand::RetryNow(_)
            | UiCommand::SetMuted(_)
            | UiCommand::SetPinned(..) => {}
        }
        // the capture backend sees every command after the settings changed
        self.capture.apply(&cmd, &self.settings);
        if matches!(
            cmd,
            UiCommand::SetPushToTalk(_)
                | UiCommand::SetPttKey(_)
                | UiCommand::SetPttPreroll(_)
                | UiCommand::SetPttMode(_)
        ) {
            self.ptt.sync(&self.settings);
        }
    }

    fn start_recording(&mut self) {
        if self.recorder.is_some() {
            return;
        }
        if self.live.is_replay() {
            tracing::warn!("a recording is open: go back to live to record");
            return;
        }
        let Some(root) = self.settings.recordings_dir() else {
            tracing::error!(
                "cannot record: this platform has no data folder; set one in the settings file (recordings_dir)"
            );
            return;
        };
        if let Err(e) = std::fs::create_dir_all(&root) {
            tracing::error!("cannot record: cannot create {}: {e}", root.display());
            return;
        }
        let dir = root.join(format!(
            "capdeck-{}",
            capdeck_util::utc_stamp(std::time::SystemTime::now())
        ));
        let opts = capdeck_session::record::recorder_options(
            None,
            self.settings.record_min_free_mib,
            256,
            60,
        );
        match capdeck_session::record::start(&dir, opts, self.live.core.epoch()) {
            Ok((rec, tap)) => {
                // what the open connections said at their start, then everything from now
                let now = self.live.core.now_ns();
                for role in FeedRole::ALL {
                    let said = self.live.core.with_store(|s| {
                        let f = s.feed(role);
                        let mut msgs = Vec::new();
                        if f.connected {
                            msgs.extend(
                                f.hello
                                    .clone()
                                    .map(capdeck_wire::grimstream::Message::Hello),
                            );
                            msgs.extend(
                                f.config
                                    .map(capdeck_wire::grimstream::Message::StreamConfig),
                            );
                        }
                        (f.generation, msgs)
                    });
                    tap.prime(role, said.0, now, &said.1);
                }
                // frames over the memory budget from now on are read back from the file
                self.live.page_to(crate::ui::live::replay::WrittenSession {
                    dir: dir.clone(),
                    spans: rec.written(),
                    tap: tap.clone(),
                });
                self.record_tap.attach(Some(tap));
                // the settings in force, then each change as it is made
                if let Ok(v) = serde_json::to_value(&self.settings) {
                    self.record_tap
                        .settings(&serde_json::json!({ "settings": v }));
                }
                self.settings_recorded = Some(self.settings.clone());
                tracing::info!("recording into {}", dir.display());
                self.recorder = Some(rec);
                self.record_stopped = None;
                self.record_indicator.reset();
            }
            Err(e) => tracing::error!("cannot record into {}: {e}", dir.display()),
        }
    }

    fn stop_recording(&mut self) {
        self.record_tap.attach(None);
        self.settings_recorded = None;
        self.live.stop_paging();
        let Some(rec) = self.recorder.take() else {
            return;
        };
        let st = rec.status();
        match rec.stop() {
            Some(m) => tracing::info!(
                "recording saved: {} ({} segments, {:.1} MB, {} messages dropped)",
                st.dir.display(),
                m.segments.len(),
                m.segments.iter().map(|s| s.bytes).sum::<u64>() as f64 / 1e6,
                m.dropped
            ),
            None => tracing::warn!("the recording {} could not be sealed", st.dir.display()),
        }
    }

    /// Sends the open recording's capture side where the capture pane sends: the built-in
    /// receiver (which must be running) or the chosen host profile.
    fn send_recording_to_host(&mut self) {
        let target = match self.settings.capture_target {
            CaptureTarget::Embedded => self
                .capture_snap
                .receiver
                .as_ref()
                .and_then(|r| r.ports)
                .map(|p| ("127.0.0.1".to_owned(), p))
                .ok_or_else(|| {
                    "the built-in receiver is not running: start a capture channel, or choose \
                     a host in the capture pane"
                        .to_owned()
                }),
            CaptureTarget::Profile(i) => self
                .settings
                .host_profiles
                .get(i)
                .map(|p| (p.address.clone(), (p.audio_port, p.video_port)))
                .ok_or_else(|| "the chosen host profile is gone".to_owned()),
        };
        let Some(r) = &mut self.live.recording else {
            return;
        };
        match target {
            Ok((host, ports)) => {
                let total = (r.capture.audio.len() + r.capture.video.len()) as u64;
                r.job = Some(super::recordings::RecordingJob::send_to_host(
                    &r.path,
                    &host,
                    ports,
                    total,
                    self.waker.clone(),
                ));
            }
            Err(e) => tracing::error!("cannot send the recording: {e}"),
        }
    }

    fn delete_recording(&mut self, p: &std::path::Path) {
        // only a folder listed in the recordings folder, never a path typed by hand
        let listed = self.open_window.recent.iter().any(|r| r.path == p);
        let recording_now = self.recorder.as_ref().is_some_and(|r| r.status().dir == p);
        let replaying = self.live.recording.as_ref().is_some_and(|r| r.path == p);
        if !listed || recording_now || replaying {
            tracing::warn!(
                "not deleting {}: not a closed recording in the list",
                p.display()
            );
            return;
        }
        match std::fs::remove_dir_all(p) {
            Ok(()) => tracing::info!("deleted the recording {}", p.display()),
            Err(e) => tracing::error!("cannot delete {}: {e}", p.display()),
        }
        self.open_window.refresh(self.settings.recordings_dir());
    }

    /// Records the settings changed since the recording last recorded them:
    /// `{"changed": {key: new value}}` (the pane widths, which move with the mouse, left
    /// out).
    fn record_setting_changes(&mut self) {
        let Some(before) = &self.settings_recorded else {
            return;
        };
        if *before == self.settings {
            return;
        }
        let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) = (
            serde_json::to_value(before),
            serde_json::to_value(&self.settings),
        ) else {
            return;
        };
        let changed: serde_json::Map<String, serde_json::Value> = b
            .into_iter()
            .filter(|(k, v)| k != "capture_width" && a.get(k) != Some(v))
            .collect();
        if !changed.is_empty() {
            self.record_tap
                .settings(&serde_json::json!({ "changed": changed }));
        }
        self.settings_recorded = Some(self.settings.clone());
    }

    /// Runs one frame's work that is not drawing: drain sources, advance the cursor.
    pub fn update_state(&mut self) {
        self.live.refresh();
        self.record_setting_changes();
        // a guard (disk budget, free space) or a write error stopped the recording
        if let Some(rec) = &self.recorder
            && let capdeck_record::recorder::RecorderState::Stopped { reason, .. } =
                rec.status().state
        {
            tracing::warn!("recording stopped: {reason}");
            self.record_stopped = Some(format!("recording stopped: {reason}"));
            self.stop_recording();
        }
        let now = Instant::now();
        self.capture_snap = self.capture.snapshot();
        for e in self.log.since(self.log_seen) {
            self.log_seen = e.seq + 1;
            if e.level == Level::ERROR {
                self.toasts.push(Toast {
                    entry: e,
                    until: now + Duration::from_secs(8),
                });
            }
        }
        self.toasts.retain(|t| t.until > now);
        if self.toasts.len() > 4 {
            self.toasts.drain(..self.toasts.len() - 4);
        }
    }

    /// Whether something is moving (streams live, playback): keep repainting.
    pub fn is_live(&self) -> bool {
        self.live.is_live() || self.capture.is_live()
    }

    fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            let status = self.recorder.as_ref().map(|r| r.status());
            super::recordings::record_controls_ui(
                ui,
                status.as_ref(),
                &mut self.record_indicator,
                self.record_stopped.as_deref(),
                self.live.is_replay(),
                &mut self.cmds,
            );
            ui.separator();
            let mut layout = self.settings.layout;
            if ui
                .selectable_label(layout == Layout::SideBySide, "side by side")
                .clicked()
            {
                layout = Layout::SideBySide;
                self.cmds.push(UiCommand::SetLayout(layout));
            }
            if ui
                .selectable_label(layout == Layout::Tabs, "tabs")
                .clicked()
            {
                self.cmds.push(UiCommand::SetLayout(Layout::Tabs));
            }
            ui.separator();
            let mut on = *self.autostart.as_ref().unwrap_or(&false);
            let r = ui
                .add_enabled(self.autostart.is_ok(), egui::Checkbox::new(&mut on, "start with the system"))
                .on_hover_text("Start capdeck minimised when you log in (the Windows Run key, an XDG autostart entry, a macOS login item)");
            let r = match &self.autostart {
                Err(e) => r.on_disabled_hover_text(e.as_str()),
                Ok(_) => r,
            };
            if r.changed() {
                self.cmds.push(UiCommand::SetAutostart(on));
            }
            self.tray_ui(ui);
            ui.separator();
            let s = &self.capture_snap;
            for ch in capture::PushChannel::ALL {
                let (c, t) = s.channels[ch.index()].light.describe();
                super::widgets::status_light_ui(ui, c, &format!("{}: {t}", ch.label()));
                ui.label(ch.label());
            }
            for f in FeedRole::ALL {
                let (c, t) = live::link_text(f, self.live.frame.status(f));
                super::widgets::status_light_ui(ui, c, &format!("{}: {t}", f.name()));
                ui.label(f.name());
            }

            ui.separator();
            if let Some(n) = &self.renderer_notice {
                ui.colored_label(super::widgets::YELLOW, n);
                ui.separator();
            }
            if let Some(e) = self.gpu_errors.last() {
                ui.colored_label(
                    super::widgets::RED,
                    format!("GPU errors: {} (last: {e})", self.gpu_errors.count()),
                )
                .on_hover_text(
                    "Caught by capdeck's wgpu error handler and logged; the app goes on",
                );
                ui.separator();
            }
            let errors = self
                .log
                .since(0)
                .iter()
                .filter(|e| e.level == Level::ERROR)
                .count();
            let warns = self
                .log
                .since(0)
                .iter()
                .filter(|e| e.level == Level::WARN)
                .count();
            if ui
                .selectable_label(
                    self.settings.show_log,
                    format!("log: {errors} errors, {warns} warnings"),
                )
                .clicked()
            {
                self.cmds.push(UiCommand::ToggleLog);
            }
        });
    }

    fn log_ui(&mut self, ui: &mut egui::Ui) {
        match super::logging::active_log_path() {
            Some(p) => ui.weak(format!("full log: {}", p.display())),
            None => ui.weak("full log: stderr only (no log file)"),
        };
        egui::ScrollArea::vertical()
            .stick_to_bottom(true)
            .show(ui, |ui| {
                let entries = self.log.since(0);
                if entries.is_empty() {
                    ui.weak("no warnings or errors");
                }
                for e in entries.iter().rev().take(200).rev() {
                    let color = if e.level == Level::ERROR {
                        super::widgets::RED
                    } else {
                        super::widgets::YELLOW
                    };
                    let secs = e
                        .time
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() % 86400)
                        .unwrap_or(0);
                    ui.colored_label(
                        color,
                        format!(
                            "{:02}:{:02}:{:02} {} {}: {}",
                            secs / 3600,
                            secs / 60 % 60,
                            secs % 60,
                            e.level,
                            e.target,
                            e.message
                        ),
                    );
                }
                if self.log.dropped() > 0 {
                    ui.weak(format!("({} older entries dropped)", self.log.dropped()));
                }
            });
    }

    fn toasts_ui(&mut self, ctx: &egui::Context) {
        let mut dismiss = None;
        for (i, t) in self.toasts.iter().enumerate() {
            egui::Area::new(egui::Id::unique(("toast", t.entry.seq)))
                .anchor(
                    egui::Align2::RIGHT_BOTTOM,
                    egui::vec2(-12.0, -40.0 - 64.0 * i as f32),
                )
                .order(egui::Order::Foreground)
                .show(ctx, |ui| {
                    egui::Frame::popup(ui.style())
                        .fill(egui::Color32::from_rgb(70, 25, 25))
                        .show(ui, |ui| {
                            ui.set_max_width(380.0);
                            ui.horizontal(|ui| {
                                ui.label(
                                    egui::RichText::new(format!("error: {}", t.entry.message))
                                        .color(egui::Color32::WHITE),
                                );
                                if ui.small_button("dismiss").clicked() {
                                    dismiss = Some(t.entry.seq);
                                }
                            });
                        });
                });
        }
        if let Some(s) = dismiss {
            self.cmds.push(UiCommand::DismissToast(s));
        }
    }

    /// Whether the live view is on screen (side by side, or its tab, in a window that has
    /// been on screen).
    pub fn live_view_shown(&self) -> bool {
        !self.never_restored
            && (self.settings.layout == Layout::SideBySide
                || self.settings.active_tab == Pane::LiveView)
    }

    fn panes_ui(&mut self, ui: &mut egui::Ui) {
        if self.demo_pending && self.live_view_shown() {
            self.demo_pending = false;
            if self.settings.feed_target == FeedTarget::Demo && !self.live.is_replay() {
                tracing::info!("the live view is shown: starting the demo feeds");
                self.live.start_demo();
            }
        }
        match self.settings.layout {
            Layout::SideBySide => {
                let r = egui::Panel::left("capture_pane")
                    .resizable(true)
                    .default_size(self.settings.capture_width)
                    .min_size(280.0)
                    .show(ui, |ui| {
                        ui.heading("Capture");
                        self.capture_pane_ui(ui);
                    });
                let w = r.response.rect.width();
                if (w - self.settings.capture_width).abs() > 0.5 {
                    self.settings.capture_width = w;
                }
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.heading("Live view");
                    live::live_view_ui(ui, &mut self.live, &self.view, &mut self.cmds);
                });
            }
            Layout::Tabs => {
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.horizontal(|ui| {
                        for (p, name) in [(Pane::Capture, "Capture"), (Pane::LiveView, "Live view")]
                        {
                            if ui
                                .selectable_label(
                                    self.settings.active_tab == p,
                                    egui::RichText::new(name).heading(),
                                )
                                .clicked()
                            {
                                self.cmds.push(UiCommand::ShowPane(p));
                            }
                        }
                    });
                    ui.separator();
                    match self.settings.active_tab {
                        Pane::Capture => self.capture_pane_ui(ui),
                        Pane::LiveView => {
                            live::live_view_ui(ui, &mut self.live, &self.view, &mut self.cmds)
                        }
                    }
                });
            }
        }
    }

    /// The tray's state and the close-to-tray choice, in the status bar.
    fn tray_ui(&mut self, ui: &mut egui::Ui) {
        use super::tray::TrayState;
        let state = self.tray.as_ref().map(|t| t.state());
        let mut on = self.settings.close_to_tray;
        let r = ui
            .add_enabled(
                matches!(state, Some(TrayState::Shown)),
                egui::Checkbox::new(&mut on, "close to tray"),
            )
            .on_hover_text(
                "The window's close button hides capdeck in the tray; it goes on streaming",
            );
        let r = match &state {
            Some(TrayState::Unavailable(e)) => r.on_disabled_hover_text(e.to_string()),
            Some(TrayState::Starting) => r.on_disabled_hover_text("the tray icon is starting"),
            None => r.on_disabled_hover_text("no tray icon (--no-tray)"),
            Some(TrayState::Shown) => r,
        };
        if r.changed() {
            self.cmds.push(UiCommand::SetCloseToTray(on));
        }
    }

    fn capture_pane_ui(&mut self, ui: &mut egui::Ui) {
        let cursor = self.live.timeline().cursor_ns;
        if let Some(rec) = &mut self.live.recording {
            super::recordings::sent_at_cursor_ui(ui, rec, cursor);
        }
        let preview = self.capture.preview();
        capture::capture_ui(
            ui,
            &self.capture_snap,
            capture::PaneExtras {
                ptt: &self.ptt.view(),
                sources: &self.video_sources.poll().clone(),
            },
            preview,
            &mut self.preview_tex,
            &self.settings,
            &mut self.cmds,
        );
    }

    /// The frame's work, whether or not it is drawn (eframe runs it while the window is
    /// hidden or minimised too): state from the sources, the tray, second launches, the
    /// window's close, deadlines. Drawing is [`Self::frame_ui`].
    pub fn frame_logic(&mut self, ctx: &egui::Context) {
        self.update_state();
        // nothing on screen: no preview decoding, and no pass faster than once a second
        let away = self.hidden || ctx.input(|i| i.viewport().minimized == Some(true));
        self.capture.set_preview_wanted(!away);
        self.tray_logic(ctx);
        self.window_logic(ctx);
        self.gpu_memory_logic();
        for cmd in self.cmds.take() {
            self.apply(cmd);
        }
        // repaint policy: only while something moves, or when a deadline is due
        if self.is_live() && !away {
            ctx.request_repaint_after(Duration::from_millis(33));
        } else if let Some(t) = self.toasts.iter().map(|t| t.until).min() {
            ctx.request_repaint_after(t.saturating_duration_since(Instant::now()));
        }
        if self.tray.is_some() {
            // the tray's lights and the host-lost clock move while nothing else does
            ctx.request_repaint_after(Duration::from_secs(1));
        }
        if let Some(secs) = self.exit_after {
            let left = secs - self.started.elapsed().as_secs_f64();
            if left <= 0.0 {
                tracing::info!("exit-after {secs} s reached: closing");
                self.log_latency();
                self.exit_after = None; // once: the close takes a pass or two
                self.quitting = true;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            } else {
                ctx.request_repaint_after(Duration::from_secs_f64(left.min(0.5)));
            }
        }
    }

    /// `--minimized`, a second launch asking to be shown, and the window's close button
    /// (with a tray, it hides the window there: streaming goes on).
    fn window_logic(&mut self, ctx: &egui::Context) {
        if std::mem::take(&mut self.start_minimized) {
            tracing::info!("started minimised");
            ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(true));
        }
        if self.never_restored {
            let minimized = ctx.input(|i| i.viewport().minimized);
            if minimized == Some(true) {
                self.minimized_seen = true;
            }
            let restored = self.minimized_seen && minimized == Some(false);
            let no_wm = !self.minimized_seen && self.started.elapsed() > MINIMIZE_GRACE;
            if restored || no_wm {
                self.never_restored = false;
            }
        }
        if self.instance.as_ref().is_some_and(|i| i.show_requested()) {
            // a second launch: bring this window back (from the taskbar, the tray or
            // behind others)
            tracing::info!("showing the window: a second launch asked");
            self.show_window(ctx);
        }
        let tray_up = self.tray.as_ref().is_some_and(super::tray::Tray::is_shown);
        if ctx.input(|i| i.viewport().close_requested())
            && !self.quitting
            && tray_up
            && self.settings.close_to_tray
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            ctx.send_viewport_cmd(egui::ViewportCommand::Visible(false));
            self.hidden = true;
            tracing::info!(
                "window hidden to the tray: capdeck goes on streaming (Quit is in the tray's menu)"
            );
        }
    }

    /// Every [`GPU_REPORT_EVERY`], what wgpu's allocator holds, at debug level
    /// (`--log capdeck=debug`): a process that grows while this stays flat grows below
    /// wgpu, in the driver (README, footprint).
    fn gpu_memory_logic(&mut self) {
        // the report lists every allocation: not made unless the line is logged
        if !tracing::enabled!(tracing::Level::DEBUG)
            || self.gpu_reported.elapsed() < GPU_REPORT_EVERY
        {
            return;
        }
        self.gpu_reported = Instant::now();
        let Some(rs) = &self.live.render_state else {
            return;
        };
        if let Some(r) = rs.device.generate_allocator_report() {
            tracing::debug!(
                allocations = r.allocations.len(),
                blocks = r.blocks.len(),
                allocated_kib = r.total_allocated_bytes / 1024,
                reserved_kib = r.total_reserved_bytes / 1024,
                "gpu memory"
            );
        }
    }

    fn show_window(&mut self, ctx: &egui::Context) {
        ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
        ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
        ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
        self.hidden = false;
        self.never_restored = false;
    }

    /// Shows the state in the tray and acts on what the user picked there.
    fn tray_logic(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        let s = &self.capture_snap;
        let (host_lost_s, notice) = self.host_down.update(&s.control.light, now);
        let Some(tray) = &mut self.tray else { return };
        let light = |l: &capture::LinkLight| match l {
            capture::LinkLight::Idle => super::tray::Light::Off,
            capture::LinkLight::Streaming => super::tray::Light::Ok,
            capture::LinkLight::Connecting { .. } => super::tray::Light::Busy,
            capture::LinkLight::Disconnected { .. } => super::tray::Light::Down,
        };
        let ptt = self.ptt.view();
        let view = super::tray::TrayView {
            lights: [
                light(&s.channels[capture::PushChannel::Audio.index()].light),
                light(&s.channels[capture::PushChannel::Video.index()].light),
                light(&s.control.light),
            ],
            streaming: capture::PushChannel::ALL
                .map(|c| !matches!(s.channels[c.index()].light, capture::LinkLight::Idle)),
            muted: s.audio.muted,
            ptt_talking: ptt.enabled.then_some(ptt.talking),
            host_lost_s,
            notice,
        };
        tray.sync(&view);
        let picked: Vec<_> = std::iter::from_fn(|| tray.try_action()).collect();
        for a in picked {
            use super::tray::TrayAction;
            match a {
                TrayAction::SetStreaming(ch, true) => self.cmds.push(UiCommand::StartChannel(ch)),
                TrayAction::SetStreaming(ch, false) => self.cmds.push(UiCommand::StopChannel(ch)),
                TrayAction::SetMuted(m) => self.cmds.push(UiCommand::SetMuted(m)),
                TrayAction::Show => {
                    tracing::info!("showing the window: the tray asked");
                    self.show_window(ctx);
                }
                TrayAction::Quit => {
                    tracing::info!("quitting: the tray asked");
                    self.quitting = true;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
        }
    }

    /// Draws one frame into `ui` and applies the commands it emitted.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        self.frames += 1;
        egui::Panel::bottom("status_bar")
            .resizable(false)
            .show(ui, |ui| self.status_bar_ui(ui));
        if self.settings.show_log {
            egui::Panel::bottom("log_panel")
                .resizable(true)
                .default_size(140.0)
                .show(ui, |ui| self.log_ui(ui));
        }
        self.panes_ui(ui);
        let ctx = ui.ctx().clone();
        self.ptt.window_keys(&ctx);
        super::recordings::open_window_ui(&ctx, &self.open_window, &mut self.cmds);
        self.recording_input(&ctx);
        self.toasts_ui(&ctx);
        for cmd in self.cmds.take() {
            self.apply(cmd);
        }
    }

    /// Shortcuts (Ctrl+R record, Ctrl+O open) and a recording dropped on the window.
    fn recording_input(&mut self, ctx: &egui::Context) {
        let (record, open, dropped) = ctx.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::R),
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::O),
                i.raw.dropped_files.first().map(|f| f.path().to_owned()),
            )
        });
        if record {
            self.cmds.push(UiCommand::ToggleRecording);
        }
        if open {
            self.cmds.push(UiCommand::ShowOpenRecording(true));
        }
        if let Some(p) = dropped.filter(|p| !p.as_os_str().is_empty()) {
            // a dropped segment file or any file inside a session opens the session
            let p = if p.is_file() && p.extension().is_none_or(|e| e != "mcap") {
                p.parent().map(|d| d.to_owned()).unwrap_or(p)
            } else {
                p
            };
            self.cmds.push(UiCommand::OpenRecording(p));
        }
    }

    /// Logs the retail frames' arrival-to-screen latency (measured while following live).
    pub fn log_latency(&self) {
        match self.live.latency.summary() {
            Some(l) => tracing::info!(
                "retail arrival to screen: {} frames; last {:.1} ms, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                l.frames,
                l.last_ms,
                l.p50_ms,
                l.p99_ms,
                l.max_ms
            ),
            None => tracing::info!("retail arrival to screen: no frame drawn while following live"),
        }
    }

    /// Writes the settings file (unless started with `fresh`).
    pub fn save_settings(&self) {
        if let Some(p) = &self.settings_path
            && let Err(e) = self.settings.save(p)
        {
            tracing::error!("{e}");
        }
    }
}

impl eframe::App for CapdeckApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.frame_logic(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, _storage: &mut dyn eframe::Storage) {
        self.save_settings();
    }

    fn auto_save_interval(&self) -> Duration {
        Duration::from_secs(120)
    }

    fn persist_egui_memory(&self) -> bool {
        self.settings_path.is_some()
    }
}

/// The real capture backend, or one that says why it could not start (never a simulation).
fn start_capture(
    settings: &Settings,
    waker: Option<egui::Context>,
    autostart: bool,
    record: std::sync::Arc<capdeck_session::record::SwitchTap>,
) -> Box<dyn CaptureBackend> {
    match capture::real::RealBackend::new(settings, waker, autostart, Some(record)) {
        Ok(b) => Box::new(b),
        Err(e) => {
            tracing::error!("cannot start the capture worker: {e}");
            Box::new(capture::UnavailableBackend::new(e))
        }
    }
}

/// The window's icon (the same picture as the packages' and capdeck.exe's icon).
fn with_app_icon(viewport: egui::ViewportBuilder) -> egui::ViewportBuilder {
    match eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon/capdeck-64.png")) {
        Ok(icon) => viewport.with_icon(std::sync::Arc::new(icon)),
        Err(e) => {
            tracing::warn!("window icon not set: {e}");
            viewport
        }
    }
}

/// Opens the desktop app and returns when its window closes (or after `exit_after`).
///
/// Starts with the wgpu renderer; if wgpu cannot start, retries with glow and says so in
/// the status bar (overlays need wgpu; the plain retail view works on both).
pub fn run_app(opts: AppOptions) -> anyhow::Result<()> {
    let ring = LogRing::new();
    // A file that cannot be opened is a warning in the log panel; logging goes on.
    let _ = super::logging::init(
        opts.log_filter.as_deref().unwrap_or("info"),
        Some(&ring),
        &opts.log_file,
    );
    let native = |renderer: eframe::Renderer| eframe::NativeOptions {
        renderer,
        viewport: with_app_icon(egui::ViewportBuilder::default())
            .with_title("capdeck")
            // matches StartupWMClass in packaging/linux/capdeck.desktop
            .with_app_id("capdeck")
            .with_inner_size([1280.0, 760.0])
            .with_min_inner_size([720.0, 480.0]),
        persist_window: !opts.fresh,
        ..Default::default()
    };
    let make = |notice: Option<String>| {
        let (opts, ring) = (opts.clone(), ring.clone());
        Box::new(move |cc: &eframe::CreationContext<'_>| -> Result<Box<dyn eframe::App>, Box<dyn std::error::Error + Send + Sync>> {
            Ok(Box::new(CapdeckApp::new(cc, &opts, ring, notice)))
        }) as eframe::AppCreator<'_>
    };
    let result = match eframe::run_native("capdeck", native(eframe::Renderer::Wgpu), make(None)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let msg =
                format!("GPU renderer (wgpu) failed: {e}; running on OpenGL (glow), overlays off");
            tracing::error!("{msg}");
            eframe::run_native("capdeck", native(eframe::Renderer::Glow), make(Some(msg)))
        }
    };
    result.map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
