//! The Live view pane: retail frame and engine state at the timeline cursor, the timeline
//! bar, the HUD, and the feed controls.
//!
//! The pane has no model of its own. It owns the one core [`grimstream::LiveView`] (both
//! feeds, one clock, one store under the budget from the settings) and the core
//! [`Timeline`]; every frame [`LiveRuntime::refresh`] ticks the timeline and takes what the
//! pane draws out of the store in one short lock ([`LiveFrame`]). Time control changes
//! only through [`capdeck_timeline::Command`]s carried inside the UI's commands.

pub mod bookmarks;
pub mod divergence;
pub mod engine;
pub mod hud;
pub mod latency;
pub mod overlay;
pub mod replay;
pub mod retail;
pub mod timeline;

pub use overlay::OverlayMode;

use super::command::{CommandQueue, UiCommand};
use capdeck_grimstream::demo::{DemoHandle, spawn_demo_feeds};
use capdeck_grimstream::feed::{FeedOptions, FeedState};
use capdeck_grimstream::live::LiveSnapshot;
use capdeck_grimstream::store::{StoredFrame, StoredState};
use capdeck_grimstream::{self as grimstream, FeedAddr, FeedRole};
use capdeck_timeline::{self as tl, Command, CursorView, Lane, Timeline};

/// Display state of the live pane: what the user chose to look at. Data and time live in
/// the core.
#[derive(Debug, Clone)]
pub struct LiveDisplay {
    /// Retail overlay mode.
    pub overlay: OverlayMode,
    /// Pinned reference frame.
    pub reference: Option<StoredFrame>,
    /// Wipe position / onion opacity.
    pub wipe: f32,
    /// 1:1 pixel zoom (else fit).
    pub pixel_zoom: bool,
    /// Pan of the 1:1 view (points).
    pub pan: egui::Vec2,
    /// Editable feed addresses, by [`FeedRole::index`].
    pub addr: [String; 2],
    /// Feeds come from the built-in demo.
    pub demo: bool,
    /// A manual disconnect of the engine waits for the user to confirm it.
    pub confirm_disconnect: Option<FeedRole>,
    /// Editable game data folder (the "play" movie policy looks movies up under it).
    pub game_data: String,
}

impl LiveDisplay {
    /// Initial display state.
    pub fn new(retail_addr: String, engine_addr: String, demo: bool) -> Self {
        Self {
            overlay: OverlayMode::Plain,
            reference: None,
            wipe: 0.5,
            pixel_zoom: false,
            pan: egui::Vec2::ZERO,
            addr: [retail_addr, engine_addr],
            demo,
            confirm_disconnect: None,
            game_data: String::new(),
        }
    }
}

/// Seconds of engine trajectory drawn before the cursor.
pub const TRAIL_NS: i64 = 20_000_000_000;
/// Window either side of the cursor for marks and events.
pub const NEARBY_NS: i64 = 2_000_000_000;
/// Engine events listed under "recent events".
pub const RECENT_EVENTS: usize = 6;

/// One feed's figures for the HUD, all from the core.
#[derive(Debug, Clone, Default)]
pub struct FeedFigures {
    /// Data messages in the last second.
    pub rate: f32,
    /// Transport delay of the newest item, ms.
    pub latency_ms: Option<f32>,
    /// Items evicted by the memory budget.
    pub dropped: u64,
    /// Gaps (`frame_id` / `seq` jumps, reconnects).
    pub gaps: u64,
}

/// What the pane draws this frame, taken from the core in one lock.
#[derive(Debug, Clone, Default)]
pub struct LiveFrame {
    /// Status, counters, clocks, memory.
    pub snap: Option<LiveSnapshot>,
    /// Frame, state, skew, marks and events at the cursor.
    pub at: CursorView,
    /// Up to three frames before the shown one (onion skin).
    pub previous: Vec<StoredFrame>,
    /// Lanes by [`FeedRole::index`].
    pub lanes: [Lane; 2],
    /// Time span the timeline shows (shown times, ns).
    pub range: (i64, i64),
    /// Engine positions (x, y) from the cursor back [`TRAIL_NS`], newest first.
    pub trail: Vec<[f32; 2]>,
    /// Engine events up to the cursor, newest first: (shown time, text).
    pub recent_events: Vec<(i64, String)>,
    /// Per-feed figures.
    pub figures: [FeedFigures; 2],
    /// The operator's marks (the bookmarks), oldest first.
    pub marks: Vec<grimstream::store::OperatorMark>,
    /// The comparison of the two feeds (whole session), once there is one.
    pub comparison: Option<std::sync::Arc<capdeck_compare::Report>>,
}

impl LiveFrame {
    /// The feed status of `role`, if a snapshot was taken.
    pub fn status(&self, role: FeedRole) -> Option<&grimstream::feed::FeedStatus> {
        self.snap.as_ref().map(|s| match role {
            FeedRole::Retail => &s.retail,
            FeedRole::Engine => &s.engine,
        })
    }
}

fn collect(store: &grimstream::store::Store, t: &Timeline, now_ns: i64) -> LiveFrame {
    let at = tl::query(store, t.cursor_ns, NEARBY_NS);
    let r = store.feed(FeedRole::Retail);
    let e = store.feed(FeedRole::Engine);
    let previous = r
        .frame_index_at(t.cursor_ns)
        .map(|i| {
            (1..=3)
                .filter_map(|k| i.checked_sub(k))
                .filter_map(|j| r.frames.get(j).cloned())
                .collect()
        })
        .unwrap_or_default();
    let mut trail = Vec::new();
    let mut recent_events = Vec::new();
    if let Some(i) = e.state_index_at(t.cursor_ns) {
        let cur = e.states.get(i).map_or(0, |s: &StoredState| s.t_ns);
        for s in e
            .states
            .range(..=i)
            .rev()
            .take_while(|s| s.t_ns >= cur - TRAIL_NS)
        {
            if let Some(p) = s.state.position {
                trail.push([p[0], p[1]]);
            }
            if recent_events.len() < RECENT_EVENTS {
                for ev in s.state.events.iter().flatten() {
                    recent_events.push((e.shown_ns(s.t_ns), ev.clone()));
                }
            }
        }
        recent_events.truncate(RECENT_EVENTS);
    }
    let live_edge = match t.end_ns {
        // a recording: its end, whatever the clock says
        Some(end) => end,
        None => t.live_edge_ns().max(now_ns.min(t.now_ns)),
    };
    let range = match (store.time_range(), t.end_ns) {
        // a recording: from its start (replay time 0) to its end
        (r, Some(end)) => (r.map_or(0, |r| r.0.min(0)), end.max(1)),
        (Some((lo, hi)), None) => (lo, hi.max(live_edge).max(lo + 1_000_000_000)),
        (None, None) => (live_edge - 1_000_000_000, live_edge),
    };
    let figures = [r, e].map(|f| FeedFigures {
        rate: f.rate_per_s(now_ns),
        latency_ms: f.latency_ns().map(|l| l as f32 / 1e6),
        dropped: f.evicted_items,
        gaps: f.gaps,
    });
    let marks = store.operator_marks().to_vec();
    LiveFrame {
        snap: None,
        marks,
        at,
        previous,
        lanes: FeedRole::ALL.map(|role| tl::lane(store, role, now_ns)),
        range,
        trail,
        recent_events,
        figures,
        comparison: None,
    }
}

/// Runtime of the live pane: the core live view, the timeline, the demo producers and the
/// GPU side of the retail view.
pub struct LiveRuntime {
    /// Both feeds, one clock, one store.
    pub core: grimstream::LiveView,
    /// The timeline; changed only by [`LiveRuntime::command`] and the per-frame tick.
    timeline: Timeline,
    /// Built-in demo producers (real GrimStream servers on 127.0.0.1).
    demo: Option<DemoHandle>,
    /// What the pane draws this frame.
    pub frame: LiveFrame,
    /// GPU upload counter, when the wgpu renderer is running.
    pub gpu: Option<overlay::UploadCounter>,
    /// The wgpu render state, when the wgpu renderer is running.
    pub render_state: Option<eframe::egui_wgpu::RenderState>,
    /// CPU fallback texture (glow or no renderer).
    pub fallback: retail::FallbackTexture,
    /// The downscaled copy of the retail frame at the cursor, keyed by the original's
    /// key, when that frame is larger than the GPU's texture limit.
    pub scaled: Option<((u64, u64, usize), StoredFrame)>,
    /// Said in the HUD while the retail frame is shown downscaled.
    pub scale_note: Option<String>,
    /// Arrival-to-screen latency of retail frames.
    pub latency: latency::PresentLatency,
    /// How the engine feed answers MOVIE_START (used when a feed connects).
    pub movie_policy: grimstream::feed::MoviePolicy,
    /// The recording shown instead of the feeds, once opened.
    pub recording: Option<replay::ReplaySource>,
    /// A recording being opened (progress in the pane; the live data stays until done).
    pub opening: Option<replay::OpeningRecording>,
    /// While recording (and after, for what was recorded): the live history's frames over
    /// the memory budget, read back from the session being written.
    pub live_pager: Option<replay::FramePager>,
    budget_bytes: usize,
    follow_delay_ns: i64,
    record_tap: Option<std::sync::Arc<dyn grimstream::feed::MessageTap>>,
    waker: Option<egui::Context>,
    /// The game and the engine compared, kept up to date from the store.
    comparison: divergence::Comparison,
}

impl LiveRuntime {
    /// A runtime with no feeds and this memory budget for their history.
    pub fn new(
        budget_bytes: usize,
        follow_delay_ns: i64,
        waker: Option<egui::Context>,
        gpu: Option<overlay::UploadCounter>,
    ) -> Self {
        let core = new_core(budget_bytes, waker.as_ref());
        let timeline = live_timeline(&core, follow_delay_ns);
        Self {
            core,
            timeline,
            demo: None,
            frame: LiveFrame::default(),
            gpu,
            render_state: None,
            fallback: Default::default(),
            scaled: None,
            scale_note: None,
            latency: Default::default(),
            movie_policy: Default::default(),
            recording: None,
            opening: None,
            live_pager: None,
            budget_bytes,
            follow_delay_ns,
            record_tap: None,
            waker,
            comparison: divergence::Comparison::new(capdeck_compare::Rules::defaults()),
        }
    }

    /// The recording seam of every feed connected from now on (and of the live views
    /// made when a recording is closed): install before connecting.
    pub fn set_record_tap(&mut self, tap: std::sync::Arc<dyn grimstream::feed::MessageTap>) {
        self.core.set_tap(Some(tap.clone()));
        self.record_tap = Some(tap);
    }

    /// Opens a recording in the pane, off the UI thread: until it is read the pane shows
    /// progress and the live data stays; then the feeds stop and the recording replaces
    /// the history (same decoder, store and timeline; frames over the memory budget are
    /// read back from the file as the cursor needs them).
    pub fn open_recording(&mut self, path: &std::path::Path, max_message_len: u32) {
        tracing::info!("opening the recording {}", path.display());
        self.opening = Some(replay::OpeningRecording::start(
            path,
            self.budget_bytes,
            max_message_len,
        ));
    }

    /// Recording started: from now on the live history's frames over the memory budget
    /// keep their place and are read back from `session` when the cursor needs them.
    pub fn page_to(&mut self, session: replay::WrittenSession) {
        let since = self.core.now_ns();
        self.live_pager = Some(replay::FramePager::new(
            std::sync::Arc::new(session),
            self.waker.clone(),
        ));
        self.core.set_paging_since(Some(since));
    }

    /// Recording stopped: frames arriving from now on are not on disk, so the memory
    /// rule applies to them again (frames already paged out stay readable).
    pub fn stop_paging(&mut self) {
        self.core.set_paging_since(None);
    }

    /// Leaves the recording (or stops opening one): an empty live history, feeds idle
    /// until connected again.
    pub fn close_recording(&mut self) {
        self.opening = None;
        if self.recording.take().is_some() {
            self.core.stop();
            self.core = new_core(self.budget_bytes, self.waker.as_ref());
            self.core.set_tap(self.record_tap.clone());
            self.comparison.reset();
            self.timeline = live_timeline(&self.core, self.follow_delay_ns);
            self.scaled = None;
        }
    }

    /// Whether a recording is shown (or being opened).
    pub fn is_replay(&self) -> bool {
        self.recording.is_some() || self.opening.is_some()
    }

    /// Remembers the budget for views made later (a recording, back to live).
    pub fn set_budget(&mut self, bytes: usize) {
        self.budget_bytes = bytes;
        self.core.set_budget(bytes);
    }

    fn finish_opening(&mut self) {
        let Some(result) = self.opening.as_ref().and_then(|o| o.poll()) else {
            return;
        };
        let Some(opening) = self.opening.take() else {
            return;
        };
        match result {
            Err(e) => tracing::error!("{e}"),
            Ok(o) => {
                self.stop_demo();
                self.core.stop();
                self.live_pager = None;
                let mut view = o.view;
                if let Some(ctx) = &self.waker {
                    let ctx = ctx.clone();
                    view.set_waker(Some(grimstream::feed::Waker(std::sync::Arc::new(
                        move || ctx.request_repaint(),
                    ))));
                }
                self.core = view;
                self.comparison.reset();
                let mut timeline = Timeline::default();
                self.core.with_store(|s| {
                    timeline.apply(
                        Command::SetEnd {
                            end_ns: Some(o.end_ns),
                        },
                        s,
                    );
                    timeline.apply(Command::JumpToStart, s);
                    timeline.apply(Command::Pause, s);
                });
                self.timeline = timeline;
                self.scaled = None;
                tracing::info!(
                    "opened {} in {:.1} s: {} messages, {} refused, {} unreadable stretches",
                    opening.path.display(),
                    opening.started.elapsed().as_secs_f32(),
                    o.replay.messages,
                    o.replay.refused,
                    o.replay.gaps.len()
                );
                for (a, b, why) in &o.replay.gaps {
                    tracing::warn!("recording gap {a}..{b} ns: {why}");
                }
                self.recording = Some(replay::ReplaySource::new(
                    opening.path,
                    o.recording,
                    o.replay,
                    self.waker.clone(),
                ));
            }
        }
    }

    /// Compare the feeds with these rules from now on (everything again).
    pub fn set_compare_rules(&mut self, rules: capdeck_compare::Rules) {
        self.comparison.set_rules(rules);
    }

    /// The timeline (read only: change it with [`LiveRuntime::command`]).
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Apply one time-control command against the store.
    pub fn command(&mut self, cmd: Command) {
        let t = &mut self.timeline;
        self.core.with_store(|s| t.apply(cmd, s));
    }

    /// Tick the timeline with the viewer clock and take this frame's data from the core.
    pub fn refresh(&mut self) {
        self.finish_opening();
        let now = self.core.now_ns();
        let t = &mut self.timeline;
        let mut frame = self.core.with_store(|s| {
            t.apply(Command::Tick { now_ns: now }, s);
            collect(s, t, now)
        });
        let snap = self.core.snapshot();
        let core = &self.core;
        self.comparison.refresh(
            std::time::Instant::now(),
            [snap.retail_nudge_ns, snap.engine_nudge_ns],
            |o| core.with_store(|s| o.update(s)),
        );
        frame.comparison = self.comparison.report();
        frame.snap = Some(snap);
        // a frame paged out of memory is read back from the disk (off this thread)
        let pager = match &mut self.recording {
            Some(rec) => {
                rec.poll();
                Some(&mut rec.pager)
            }
            None => {
                if let Some(p) = &mut self.live_pager {
                    p.poll_frames();
                }
                self.live_pager.as_mut()
            }
        };
        if let (Some(p), Some(f)) = (pager, &frame.at.frame)
            && f.paged_out
        {
            frame.at.frame = Some(p.frame_for(f));
        }
        self.frame = frame;
    }

    /// Starts the built-in demo: the demo producers (1280x720 RGBA at 30 fps, engine at
    /// 60 Hz) on 127.0.0.1 ephemeral ports, connected through the real feed code. If they
    /// cannot start, the error is logged and shown; nothing is simulated.
    pub fn start_demo(&mut self) {
        if self.demo.is_some() {
            return;
        }
        let any = FeedAddr::Tcp("127.0.0.1:0".into());
        match spawn_demo_feeds(&any, &any) {
            Ok(h) => {
                let (r, e) = (h.retail_addr.clone(), h.engine_addr.clone());
                self.demo = Some(h);
                for (role, addr) in [(FeedRole::Retail, r), (FeedRole::Engine, e)] {
                    self.connect_addr(role, addr);
                }
            }
            Err(e) => tracing::error!("cannot start the built-in demo producers: {e}"),
        }
    }

    /// Stops the demo producers and disconnects both feeds (the history stays).
    pub fn stop_demo(&mut self) {
        if self.demo.take().is_some() {
            for role in FeedRole::ALL {
                self.core.disconnect(role);
            }
        }
    }

    /// Whether the demo producers run.
    pub fn demo_running(&self) -> bool {
        self.demo.is_some()
    }

    fn connect_addr(&mut self, role: FeedRole, addr: FeedAddr) {
        let mut opts = FeedOptions::new(role, addr.clone());
        opts.movies = self.movie_policy.clone();
        if let Err(e) = self.core.connect(opts) {
            tracing::error!("cannot start the {} feed to {addr}: {e}", role.name());
        }
        if let Some(w) = &self.waker {
            w.request_repaint();
        }
    }

    /// Connects a feed to a producer address typed by the user.
    pub fn connect(&mut self, role: FeedRole, addr: &str) {
        match addr.parse::<FeedAddr>() {
            Ok(a) => self.connect_addr(role, a),
            Err(e) => tracing::error!("cannot connect the {} feed: {e}", role.name()),
        }
    }

    /// Whether any feed has a source or playback moves (the UI keeps repainting).
    pub fn is_live(&self) -> bool {
        FeedRole::ALL.iter().any(|r| self.core.has_source(*r))
            || self.timeline.state != tl::PlayState::Paused
            || self.opening.is_some()
    }
}

fn new_core(budget_bytes: usize, waker: Option<&egui::Context>) -> grimstream::LiveView {
    let mut core = grimstream::LiveView::new(budget_bytes);
    // new data repaints at once (not at the next 33 ms timer tick)
    if let Some(ctx) = waker {
        let ctx = ctx.clone();
        core.set_waker(Some(grimstream::feed::Waker(std::sync::Arc::new(
            move || ctx.request_repaint(),
        ))));
    }
    core
}

fn live_timeline(core: &grimstream::LiveView, follow_delay_ns: i64) -> Timeline {
    let mut timeline = Timeline::default();
    core.with_store(|s| {
        timeline.apply(
            Command::SetLiveDelay {
                delay_ns: follow_delay_ns,
            },
            s,
        )
    });
    timeline
}

/// The whole live pane.
pub fn live_view_ui(
    ui: &mut egui::Ui,
    rt: &mut LiveRuntime,
    view: &LiveDisplay,
    cmds: &mut CommandQueue,
) {
    crate::ui::recordings::replay_banner_ui(ui, rt, cmds);
    feeds_bar_ui(ui, rt, view, cmds);
    ui.separator();
    egui::Panel::bottom("live_bottom")
        .resizable(false)
        .show(ui, |ui| {
            timeline::controls_ui(ui, rt.timeline(), &rt.frame, cmds);
            timeline::timeline_ui(ui, rt.timeline(), &rt.frame, cmds);
            hud::hud_ui(ui, rt, cmds);
        });
    egui::Panel::right("live_engine")
        .resizable(true)
        .default_size(ui.available_width() * 0.42)
        .min_size(220.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("engine_scroll")
                .show(ui, |ui| {
                    divergence::list_ui(ui, &rt.frame, cmds);
                    bookmarks::list_ui(ui, &rt.frame, cmds);
                    engine::engine_ui(ui, &rt.frame, cmds);
                });
        });
    egui::CentralPanel::no_frame().show(ui, |ui| {
        retail::retail_ui(ui, rt, view, cmds);
    });
    timeline::keys_ui(ui, rt.timeline(), &rt.frame, cmds);
}

/// Colour and text of a feed's connection state, with what to do about it.
pub fn link_text(
    role: FeedRole,
    st: Option<&grimstream::feed::FeedStatus>,
) -> (egui::Color32, String) {
    use crate::ui::widgets::{GREEN, GREY, RED, YELLOW};
    let Some(st) = st else {
        return (GREY, "idle".into());
    };
    let color = match &st.state {
        FeedState::Idle | FeedState::Stopped => GREY,
        FeedState::Live if st.producer.is_none() => {
            // a caller-fed source before its HELLO
            return (YELLOW, "connected, waiting for HELLO".into());
        }
        FeedState::Live => GREEN,
        FeedState::Connecting { .. }
        | FeedState::AwaitingHello { .. }
        | FeedState::Stalled { .. } => YELLOW,
        FeedState::NoHello { .. } | FeedState::Disconnected { .. } => RED,
    };
    (color, st.state.text(role))
}

fn feeds_bar_ui(ui: &mut egui::Ui, rt: &LiveRuntime, view: &LiveDisplay, cmds: &mut CommandQueue) {
    ui.horizontal_wrapped(|ui| {
        ui.strong("Feeds");
        let mut demo = view.demo;
        if ui
            .radio_value(&mut demo, true, "built-in demo")
            .on_hover_text("Demo producers on this machine, over real sockets")
            .clicked()
        {
            cmds.push(UiCommand::UseDemoFeeds(true));
        }
        if ui
            .radio_value(&mut demo, false, "real producers")
            .on_hover_text("Connect to the addresses below")
            .clicked()
        {
            cmds.push(UiCommand::UseDemoFeeds(false));
        }
        for role in FeedRole::ALL {
            ui.separator();
            let st = rt.frame.status(role);
            let (color, text) = link_text(role, st);
            crate::ui::widgets::status_light_ui(ui, color, &text);
            let l = ui.label(role.name());
            let mut addr = view.addr[role.index()].clone();
            let r = ui
                .add_enabled(
                    !view.demo,
                    egui::TextEdit::singleline(&mut addr)
                        .desired_width(120.0)
                        .id_salt(("feed_addr", role.index())),
                )
                .labelled_by(l.id);
            if r.changed() {
                cmds.push(UiCommand::SetFeedAddr(role, addr));
            }
            if rt.core.has_source(role) {
                if ui
                    .add_enabled(!view.demo, egui::Button::new("Disconnect"))
                    .clicked()
                {
                    cmds.push(UiCommand::DisconnectFeed(role));
                }
            } else if ui
                .add_enabled(!view.demo, egui::Button::new("Connect"))
                .clicked()
            {
                cmds.push(UiCommand::ConnectFeed(role));
            }
            // a one-viewer engine accepts and then says nothing: the core names that state
            if let Some(FeedState::NoHello { silent_ms }) = st.map(|s| &s.state) {
                ui.colored_label(crate::ui::widgets::RED, text)
                    .on_hover_text(format!(
                        "The connection was accepted {:.0} s ago and nothing came, not even \
                     HELLO. A running engine serves one viewer per run: restart it, and this \
                     viewer connects again by itself.",
                        *silent_ms as f64 / 1e3
                    ));
            }
        }
    });
    movies_ui(ui, rt, view, cmds);
    if let Some(role) = view.confirm_disconnect {
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(
                crate::ui::widgets::YELLOW,
                format!(
                    "Disconnect the {} feed? A running engine serves one viewer per run: it \
                     will not accept this viewer again until it restarts.",
                    role.name()
                ),
            );
            if ui.button("Disconnect anyway").clicked() {
                cmds.push(UiCommand::ConfirmDisconnect(role));
            }
            if ui.button("Keep connected").clicked() {
                cmds.push(UiCommand::CancelDisconnect);
            }
        });
    }
}

/// The answer to the engine's MOVIE_START (the engine waits inside a movie until it comes),
/// and the game data folder the "play" policy looks movies up under.
fn movies_ui(ui: &mut egui::Ui, rt: &LiveRuntime, view: &LiveDisplay, cmds: &mut CommandQueue) {
    use grimstream::feed::MoviePolicy;
    ui.horizontal_wrapped(|ui| {
        let l = ui.label("engine movies:");
        let skip = rt.movie_policy == MoviePolicy::Skip;
        let error = matches!(rt.movie_policy, MoviePolicy::Error(_));
        let play = matches!(rt.movie_policy, MoviePolicy::Play { .. });
        if ui
            .selectable_label(error, "answer error")
            .on_hover_text("This viewer plays no movies: tell the engine at once, with the reason")
            .labelled_by(l.id)
            .clicked()
        {
            cmds.push(UiCommand::SetMoviePolicy(MoviePolicy::default()));
        }
        if ui
            .selectable_label(skip, "skip")
            .on_hover_text("Answer `skipped` at once")
            .clicked()
        {
            cmds.push(UiCommand::SetMoviePolicy(MoviePolicy::Skip));
        }
        if ui
            .selectable_label(rt.movie_policy == MoviePolicy::Manual, "ask me")
            .on_hover_text("Leave the engine inside the movie until you press Skip movie")
            .clicked()
        {
            cmds.push(UiCommand::SetMoviePolicy(MoviePolicy::Manual));
        }
        let folder = view.game_data.trim();
        if ui
            .add_enabled(
                !folder.is_empty(),
                egui::Button::selectable(play, "play from game data"),
            )
            .on_hover_text(
                "Look the movie up under the game data folder and answer from there \
                 (this build has no movie decoder: a movie found is answered `error` with \
                 \"no decoder\", a missing one `error` with \"file missing\")",
            )
            .on_disabled_hover_text("Set the game data folder first")
            .clicked()
        {
            cmds.push(UiCommand::SetMoviePolicy(MoviePolicy::Play {
                game_data: folder.into(),
            }));
        }
        let l = ui.label("game data folder");
        let mut text = view.game_data.clone();
        if ui
            .add(
                egui::TextEdit::singleline(&mut text)
                    .desired_width(180.0)
                    .hint_text("path to the game's data")
                    .id_salt("game_data"),
            )
            .labelled_by(l.id)
            .changed()
        {
            cmds.push(UiCommand::SetGameDataDir(text));
        }
        ui.weak("(applies when the engine feed connects)");
    });
}
