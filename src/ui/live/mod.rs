//! The Live view pane: retail frame and engine state at the timeline cursor, the timeline
//! bar, the HUD, and the feed controls.

pub mod demo;
pub mod engine;
pub mod grim;
pub mod hud;
pub mod model;
pub mod overlay;
pub mod retail;
pub mod timeline;

use std::time::Instant;

pub use model::{Feed, LiveStore};
pub use overlay::OverlayMode;

use self::model::{Ingest, IngestRx, IngestTx, LinkState, RetailFrame};
use super::command::{CommandQueue, UiCommand};

/// View state of the live pane (what the user chose; the data is in [`LiveStore`]).
#[derive(Debug, Clone)]
pub struct LiveView {
    /// Timeline cursor (aligned s).
    pub cursor: f64,
    /// Playing (cursor advances at `speed`).
    pub playing: bool,
    /// Playback speed factor.
    pub speed: f32,
    /// Cursor follows live minus `follow_delay`.
    pub follow: bool,
    /// Follow-live delay (s).
    pub follow_delay: f32,
    /// Loop selection.
    pub selection: Option<(f64, f64)>,
    /// Loop inside the selection.
    pub looping: bool,
    /// Retail overlay mode.
    pub overlay: OverlayMode,
    /// Pinned reference frame.
    pub reference: Option<RetailFrame>,
    /// Wipe position / onion opacity.
    pub wipe: f32,
    /// 1:1 pixel zoom (else fit).
    pub pixel_zoom: bool,
    /// Pan of the 1:1 view (points).
    pub pan: egui::Vec2,
    /// Engine clock nudge (ms).
    pub nudge_ms: f32,
    /// Editable feed addresses.
    pub addr: [String; 2],
    /// Feeds come from the built-in demo.
    pub demo: bool,
}

impl LiveView {
    /// Initial view state.
    pub fn new(retail_addr: String, engine_addr: String, demo: bool, follow_delay: f32) -> Self {
        Self {
            cursor: 0.0,
            playing: true,
            speed: 1.0,
            follow: true,
            follow_delay,
            selection: None,
            looping: false,
            overlay: OverlayMode::Plain,
            reference: None,
            wipe: 0.5,
            pixel_zoom: false,
            pan: egui::Vec2::ZERO,
            nudge_ms: 0.0,
            addr: [retail_addr, engine_addr],
            demo,
        }
    }

    /// Engine nudge in seconds.
    pub fn nudge_s(&self) -> f64 {
        self.nudge_ms as f64 / 1000.0
    }

    /// Moves the cursor for one frame of `dt` seconds (follow, play, loop).
    pub fn advance(&mut self, store: &LiveStore, dt: f64) {
        let (lo, hi) = (store.start(), store.now);
        if self.follow {
            self.cursor = (hi - self.follow_delay as f64).max(lo);
            return;
        }
        if self.playing {
            self.cursor += dt * self.speed as f64;
            if self.looping
                && let Some((a, b)) = self.selection
                && self.cursor > b
            {
                self.cursor = a;
            }
            if self.cursor >= hi - self.follow_delay as f64 && !self.looping {
                self.cursor = hi - self.follow_delay as f64;
            }
        }
        self.cursor = self.cursor.clamp(lo, hi.max(lo));
    }
}

/// Runtime of the live pane: the store, its ingest channel, and the running sources.
pub struct LiveRuntime {
    /// What the pane draws.
    pub store: LiveStore,
    /// Ingest channel (sources hold clones of the sender).
    pub tx: IngestTx,
    rx: IngestRx,
    /// Store time zero.
    pub epoch: Instant,
    demo: Option<demo::DemoFeeds>,
    /// Built-in demo producers (real GrimStream servers on 127.0.0.1).
    demo_producers: Option<crate::grimstream::demo::DemoHandle>,
    /// Connections to GrimStream producers.
    pub grim: grim::GrimFeeds,
    /// GPU retail view, when the wgpu renderer is running.
    pub gpu: Option<overlay::UploadCounter>,
    /// The wgpu render state, when the wgpu renderer is running.
    pub render_state: Option<eframe::egui_wgpu::RenderState>,
    /// CPU fallback texture (glow or no renderer).
    pub fallback: retail::FallbackTexture,
}

/// Capacity of the ingest channel: about 2 s of both feeds at 30 Hz plus marks.
pub const INGEST_CAPACITY: usize = 256;

impl LiveRuntime {
    /// A runtime with an empty store.
    pub fn new(
        budget_bytes: usize,
        waker: Option<egui::Context>,
        gpu: Option<overlay::UploadCounter>,
    ) -> Self {
        let (tx, rx) = model::ingest_channel(INGEST_CAPACITY, waker);
        Self {
            store: LiveStore::new(budget_bytes),
            tx,
            rx,
            epoch: Instant::now(),
            demo: None,
            demo_producers: None,
            grim: Default::default(),
            gpu,
            render_state: None,
            fallback: Default::default(),
        }
    }

    /// Starts the built-in demo: the GrimStream demo producers (1280x720 RGBA at 30 fps,
    /// engine at 60 Hz) on 127.0.0.1 ephemeral ports, connected through the real feed
    /// code. If they cannot bind, falls back to the in-process demo script.
    pub fn start_demo(&mut self) {
        if self.demo.is_some() || self.demo_producers.is_some() {
            return;
        }
        let any = crate::grimstream::FeedAddr::Tcp("127.0.0.1:0".into());
        match crate::grimstream::demo::spawn_demo_feeds(&any, &any) {
            Ok(h) => {
                let (r, e) = (h.retail_addr.clone(), h.engine_addr.clone());
                self.demo_producers = Some(h);
                for (feed, addr) in [(Feed::Retail, r), (Feed::Engine, e)] {
                    if let Err(err) = self.grim.connect(feed, &addr, self.epoch) {
                        tracing::error!("cannot connect to the demo {} feed: {err}", feed.label());
                    }
                }
            }
            Err(e) => {
                tracing::warn!("demo producers cannot bind ({e}); using the in-process demo");
                let script = demo::DemoScript::new(1280, 720, 30.0, 30.0);
                match demo::spawn_demo_feeds(script, self.tx.clone(), self.epoch) {
                    Ok(d) => self.demo = Some(d),
                    Err(e) => tracing::error!("cannot start the demo feeds: {e}"),
                }
            }
        }
    }

    /// Stops the demo feeds.
    pub fn stop_demo(&mut self) {
        let had = self.demo.take().is_some() | self.demo_producers.take().is_some();
        if had {
            for feed in Feed::ALL {
                self.disconnect(feed);
            }
        }
    }

    /// Whether the demo feeds run.
    pub fn demo_running(&self) -> bool {
        self.demo.is_some() || self.demo_producers.is_some()
    }

    /// Connects a feed to a producer address typed by the user.
    pub fn connect(&mut self, feed: Feed, addr: &str) {
        let at = self.now();
        let result = grim::parse_addr(addr).and_then(|a| {
            self.grim
                .connect(feed, &a, self.epoch)
                .map_err(|e| e.to_string())
        });
        if let Err(e) = result {
            tracing::error!("cannot connect the {} feed to {addr}: {e}", feed.label());
            self.store.ingest(Ingest::Link {
                feed,
                state: LinkState::Disconnected {
                    reason: e,
                    retry_at: None,
                },
                at,
                producer: None,
            });
        }
    }

    /// Disconnects a feed.
    pub fn disconnect(&mut self, feed: Feed) {
        self.grim.disconnect(feed);
        let at = self.now();
        self.store.ingest(Ingest::Link {
            feed,
            state: LinkState::Idle,
            at,
            producer: None,
        });
    }

    /// Seconds since the store epoch.
    pub fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    /// Drains the ingest channel into the store (non-blocking).
    pub fn drain(&mut self) -> usize {
        let now = self.now();
        self.store.drain(&self.rx) + self.grim.pull(&mut self.store, now)
    }

    /// Whether any feed is live (the UI keeps repainting).
    pub fn is_live(&self) -> bool {
        self.store
            .feeds
            .iter()
            .any(|f| matches!(f.link, Some(LinkState::Live) | Some(LinkState::Connecting)))
    }
}

/// The whole live pane.
pub fn live_view_ui(
    ui: &mut egui::Ui,
    rt: &mut LiveRuntime,
    view: &LiveView,
    cmds: &mut CommandQueue,
) {
    feeds_bar_ui(ui, rt, view, cmds);
    ui.separator();
    egui::Panel::bottom("live_bottom")
        .resizable(false)
        .show(ui, |ui| {
            timeline::controls_ui(ui, &rt.store, view, cmds);
            timeline::timeline_ui(ui, &rt.store, view, cmds);
            hud::hud_ui(ui, rt, view, cmds);
        });
    egui::Panel::right("live_engine")
        .resizable(true)
        .default_size(ui.available_width() * 0.42)
        .min_size(220.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("engine_scroll")
                .show(ui, |ui| engine::engine_ui(ui, &rt.store, view));
        });
    egui::CentralPanel::no_frame().show(ui, |ui| {
        retail::retail_ui(ui, rt, view, cmds);
    });
    timeline::keys_ui(ui, &rt.store, view, cmds);
}

/// Colour and text of a feed link state.
pub fn link_text(link: &Option<LinkState>, now: f64) -> (egui::Color32, String) {
    use crate::ui::widgets::{GREEN, GREY, RED, YELLOW};
    match link {
        None | Some(LinkState::Idle) => (GREY, "idle".into()),
        Some(LinkState::Connecting) => (YELLOW, "connecting".into()),
        Some(LinkState::Live) => (GREEN, "live".into()),
        Some(LinkState::Disconnected { reason, retry_at }) => {
            let retry = retry_at
                .map(|r| format!(", retry in {:.1} s", (r - now).max(0.0)))
                .unwrap_or_default();
            (RED, format!("disconnected: {reason}{retry}"))
        }
    }
}

fn feeds_bar_ui(ui: &mut egui::Ui, rt: &LiveRuntime, view: &LiveView, cmds: &mut CommandQueue) {
    ui.horizontal_wrapped(|ui| {
        ui.strong("Feeds");
        let mut demo = view.demo;
        if ui
            .radio_value(&mut demo, true, "built-in demo")
            .on_hover_text("In-process demo producers")
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
        for feed in Feed::ALL {
            ui.separator();
            let st = &rt.store.feeds[feed.index()];
            let (color, text) = link_text(&st.link, rt.store.now);
            crate::ui::widgets::status_light_ui(ui, color, &text);
            let l = ui.label(feed.label());
            let mut addr = view.addr[feed.index()].clone();
            let r = ui
                .add_enabled(
                    !view.demo,
                    egui::TextEdit::singleline(&mut addr)
                        .desired_width(120.0)
                        .id_salt(("feed_addr", feed.index())),
                )
                .labelled_by(l.id);
            if r.changed() {
                cmds.push(UiCommand::SetFeedAddr(feed, addr));
            }
            let live = matches!(st.link, Some(LinkState::Live) | Some(LinkState::Connecting));
            if live {
                if ui
                    .add_enabled(!view.demo, egui::Button::new("Disconnect"))
                    .clicked()
                {
                    cmds.push(UiCommand::DisconnectFeed(feed));
                }
            } else if ui
                .add_enabled(!view.demo, egui::Button::new("Connect"))
                .clicked()
            {
                cmds.push(UiCommand::ConnectFeed(feed));
            }
        }
    });
}
