//! Push-to-talk in the app: owns the `capdeck-ptt` key poller, pushes the settings into
//! the process-wide [`PttState`] the audio gate reads, feeds the window's own key events
//! as a fallback, and draws the push-to-talk row of the capture pane.

use super::command::{CommandQueue, UiCommand};
use super::settings::Settings;
use super::widgets::{GREEN, YELLOW};
use capdeck_capture::audio::gate::{self, MAX_PREROLL_MS};
use capdeck_capture::audio::{PttMode, PttState};
use capdeck_capture::hotkey::{HotkeyStatus, PttHotkey, PttKey, unix_now_us};
use std::sync::Arc;

/// What the push-to-talk row shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PttView {
    /// Push-to-talk enabled.
    pub enabled: bool,
    /// Key held now (audio open).
    pub talking: bool,
    /// How the key is watched ("global key via X11 :0", or why only the window's keys).
    pub status: String,
    /// Whether the key is watched globally (works while a game has focus).
    pub global: bool,
}

/// Push-to-talk runtime of the app.
pub struct PttRuntime {
    state: Arc<PttState>,
    hotkey: Option<PttHotkey>,
    spawn_error: Option<String>,
    key: PttKey,
    /// Whether this app has turned push-to-talk on (until then it leaves the process-wide
    /// state alone, so a second app in one process, e.g. in tests, does not fight over it).
    engaged: bool,
}

impl Default for PttRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl PttRuntime {
    /// Uses the process-wide state ([`gate::process_state`]); no thread until enabled.
    pub fn new() -> Self {
        Self {
            state: gate::process_state().clone(),
            hotkey: None,
            spawn_error: None,
            key: PttKey::default(),
            engaged: false,
        }
    }

    /// The shared state (tests read the key state from here).
    pub fn state(&self) -> &Arc<PttState> {
        &self.state
    }

    /// Applies the settings: enable, key, pre-roll, mode; starts the poller when enabled.
    pub fn sync(&mut self, s: &Settings) {
        self.key = s.ptt_key.parse().unwrap_or_default();
        self.engaged |= s.push_to_talk;
        if !self.engaged {
            return;
        }
        self.state.set_mode(s.ptt_mode);
        self.state.set_preroll_ms(s.ptt_preroll_ms);
        self.state.set_enabled(s.push_to_talk);
        if s.push_to_talk && self.hotkey.is_none() && self.spawn_error.is_none() {
            match PttHotkey::start(self.state.clone(), self.key) {
                Ok(h) => self.hotkey = Some(h),
                Err(e) => {
                    tracing::error!("{e}");
                    self.spawn_error = Some(e.to_string());
                }
            }
        }
        if let Some(h) = &self.hotkey
            && h.key() != self.key
        {
            h.set_key(self.key);
        }
    }

    /// Feeds the key as the capdeck window sees it (every frame).
    pub fn window_keys(&mut self, ctx: &egui::Context) {
        if !self.engaged || !self.state.enabled() {
            return;
        }
        let held = egui_key(self.key)
            .is_some_and(|k| !ctx.egui_wants_keyboard_input() && ctx.input(|i| i.key_down(k)));
        match &self.hotkey {
            Some(h) => h.set_window_key(held),
            // no poller thread: the window is the only writer
            None => self.state.set_key(held, unix_now_us()),
        }
        // keep the indicator current while enabled
        ctx.request_repaint_after(std::time::Duration::from_millis(50));
    }

    /// What the row shows.
    pub fn view(&self) -> PttView {
        let (status, global) = match (&self.hotkey, &self.spawn_error) {
            (_, Some(e)) => (format!("window keys only: {e}"), false),
            (Some(h), None) => match h.status() {
                HotkeyStatus::Watching(w) => (format!("global key via {w}"), true),
                HotkeyStatus::WindowOnly(why) => (format!("window keys only: {why}"), false),
                HotkeyStatus::Idle => ("starting".into(), false),
            },
            (None, None) => (String::new(), false),
        };
        let on = self.engaged && self.state.enabled();
        PttView {
            enabled: on,
            talking: on && self.state.key_down(),
            status,
            global,
        }
    }
}

/// The key in egui's terms (for the window fallback); modifiers and Caps Lock have none.
fn egui_key(k: PttKey) -> Option<egui::Key> {
    use egui::Key;
    match k {
        PttKey::Letter(_) | PttKey::F(_) => Key::from_name(&k.to_string()),
        PttKey::Digit(d) => [
            Key::Num0,
            Key::Num1,
            Key::Num2,
            Key::Num3,
            Key::Num4,
            Key::Num5,
            Key::Num6,
            Key::Num7,
            Key::Num8,
            Key::Num9,
        ]
        .get(d as usize)
        .copied(),
        PttKey::Backquote => Some(Key::Backtick),
        PttKey::CapsLock | PttKey::RightCtrl | PttKey::RightAlt | PttKey::LeftAlt => None,
    }
}

/// The push-to-talk row: enable, key, pre-roll, mode, and the TALKING indicator.
pub fn ptt_ui(ui: &mut egui::Ui, view: &PttView, settings: &Settings, cmds: &mut CommandQueue) {
    ui.horizontal_wrapped(|ui| {
        let mut on = settings.push_to_talk;
        if ui
            .checkbox(&mut on, "push-to-talk")
            .on_hover_text(
                "Hold the key to talk, even while a game has focus (the key still reaches the game)",
            )
            .changed()
        {
            cmds.push(UiCommand::SetPushToTalk(on));
        }
        ui.add_enabled_ui(settings.push_to_talk, |ui| {
            egui::ComboBox::new("ptt_key", "key")
                .selected_text(&settings.ptt_key)
                .width(80.0)
                .show_ui(ui, |ui| {
                    for k in PttKey::all() {
                        let name = k.to_string();
                        if ui
                            .selectable_label(settings.ptt_key == name, &name)
                            .clicked()
                        {
                            cmds.push(UiCommand::SetPttKey(name));
                        }
                    }
                });
            let mut pre = settings.ptt_preroll_ms;
            if ui
                .add(
                    egui::DragValue::new(&mut pre)
                        .range(0..=MAX_PREROLL_MS)
                        .speed(5)
                        .suffix(" ms"),
                )
                .on_hover_text("pre-roll: audio kept from before the press")
                .changed()
            {
                cmds.push(UiCommand::SetPttPreroll(pre));
            }
            ui.label("pre-roll");
            let mode_label = |m: PttMode| match m {
                PttMode::SendSilence => "send silence",
                PttMode::StopSending => "stop sending",
            };
            egui::ComboBox::new("ptt_mode", "when not talking")
                .selected_text(mode_label(settings.ptt_mode))
                .show_ui(ui, |ui| {
                    for m in [PttMode::SendSilence, PttMode::StopSending] {
                        if ui
                            .selectable_label(settings.ptt_mode == m, mode_label(m))
                            .on_hover_text(match m {
                                PttMode::SendSilence => {
                                    "chunks keep flowing as silence, delayed by the pre-roll"
                                }
                                PttMode::StopSending => {
                                    "nothing is sent (seq skips); the pre-roll goes out on press"
                                }
                            })
                            .clicked()
                        {
                            cmds.push(UiCommand::SetPttMode(m));
                        }
                    }
                });
        });
    });
    if view.enabled {
        ui.horizontal_wrapped(|ui| {
            if view.talking {
                ui.label(
                    egui::RichText::new(" TALKING ")
                        .strong()
                        .color(egui::Color32::WHITE)
                        .background_color(GREEN),
                );
            } else {
                ui.label(egui::RichText::new("not talking").weak());
            }
            let c = if view.global {
                ui.visuals().weak_text_color()
            } else {
                YELLOW
            };
            ui.colored_label(c, &view.status);
        });
    }
}
