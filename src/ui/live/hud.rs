//! HUD: per-feed state, rate, latency, gaps, skipped unknown kinds, refused oversize
//! messages, drops and reconnects; skew at the cursor with the clock estimates and the
//! engine nudge; memory used of the budget (editable); texture uploads. Every figure comes
//! from the core.

use super::LiveRuntime;
use crate::ui::command::{CommandQueue, UiCommand};
use capdeck_grimstream::FeedRole;

/// Largest manual nudge, ms either way.
pub const MAX_NUDGE_MS: f32 = 5000.0;

/// The HUD strip under the timeline.
pub fn hud_ui(ui: &mut egui::Ui, rt: &LiveRuntime, cmds: &mut CommandQueue) {
    let frame = &rt.frame;
    ui.horizontal_wrapped(|ui| {
        for role in FeedRole::ALL {
            let st = frame.status(role);
            let fig = &frame.figures[role.index()];
            let (color, text) = super::link_text(role, st);
            crate::ui::widgets::status_light_ui(ui, color, &text);
            ui.monospace(format!("{} {:4.1}/s", role.name(), fig.rate));
            ui.monospace(format!(
                "lat {}",
                fig.latency_ms.map_or("–".into(), |l| format!("{l:.0} ms"))
            ));
            ui.monospace(format!("gaps {}", fig.gaps));
            if let Some(st) = st {
                ui.monospace(format!("skipped {}", st.unknown_skipped))
                    .on_hover_text("Messages of unknown kind, skipped by their length");
                ui.monospace(format!("refused {}", st.oversize_refused))
                    .on_hover_text(
                        "Messages over the size cap (the connection was re-established)",
                    );
                ui.monospace(format!("reconnects {}", st.reconnects));
            }
            if role == FeedRole::Engine
                && let Some(m) = super::engine::movie_text(frame)
            {
                ui.monospace(m)
                    .on_hover_text("The engine's latest MOVIE_START and this viewer's answer");
            }
            ui.monospace(format!("dropped {}", fig.dropped))
                .on_hover_text("Items evicted to stay within the memory budget");
            ui.separator();
        }
    });
    ui.horizontal_wrapped(|ui| {
        if let Some(text) = super::divergence::hud_text(frame) {
            ui.monospace(text).on_hover_text(
                "The game's events against the engine's (D / Shift+D: next / previous)",
            );
            ui.separator();
        }
        match frame.at.skew_ns {
            Some(skew) => ui.monospace(format!("skew retail−engine {:+.1} ms", skew as f64 / 1e6)),
            None => ui.monospace("skew –"),
        };
        let snap = frame.snap.as_ref();
        let clock = |role: FeedRole| {
            let est = snap.and_then(|s| match role {
                FeedRole::Retail => s.retail_clock,
                FeedRole::Engine => s.engine_clock,
            });
            est.map_or("–".into(), |e| {
                format!(
                    "{:+.3} s ±{:.1} ms {:+.0} ppm",
                    e.offset_ns as f64 / 1e9,
                    e.spread_ns as f64 / 1e6,
                    e.drift_ppm
                )
            })
        };
        ui.monospace(format!("offset retail {}", clock(FeedRole::Retail)));
        ui.monospace(format!("engine {}", clock(FeedRole::Engine)));
        let mut nudge = snap.map_or(0.0, |s| s.engine_nudge_ns as f32 / 1e6);
        ui.label("nudge");
        if ui
            .add(
                egui::DragValue::new(&mut nudge)
                    .range(-MAX_NUDGE_MS..=MAX_NUDGE_MS)
                    .speed(1.0)
                    .suffix(" ms"),
            )
            .on_hover_text("Added to the engine's estimated clock")
            .changed()
        {
            cmds.push(UiCommand::SetNudge(
                FeedRole::Engine,
                (nudge.clamp(-MAX_NUDGE_MS, MAX_NUDGE_MS) as f64 * 1e6) as i64,
            ));
        }
        ui.separator();
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        if let Some(s) = snap {
            ui.monospace(format!("memory {:.0} /", mib(s.usage.used_bytes)));
            let mut budget = (s.usage.budget_bytes / (1024 * 1024)) as u32;
            if ui
                .add(
                    egui::DragValue::new(&mut budget)
                        .range(
                            crate::ui::settings::MIN_BUDGET_MIB
                                ..=crate::ui::settings::MAX_BUDGET_MIB,
                        )
                        .speed(8.0)
                        .suffix(" MiB"),
                )
                .on_hover_text("Memory budget of the history; the oldest data goes first")
                .changed()
            {
                cmds.push(UiCommand::SetMemoryBudgetMib(budget));
            }
            ui.monospace(format!("evicted {}", s.usage.evicted_items));
        }
        if let Some(note) = &rt.scale_note {
            ui.colored_label(crate::ui::widgets::YELLOW, note)
                .on_hover_text("Frames larger than the GPU's texture limit are averaged down by a whole factor");
        }
        let uploads = rt.gpu.as_ref().map_or(rt.fallback.uploads, |u| u.get());
        ui.monospace(format!("uploads {uploads}"));
        match rt.latency.summary() {
            Some(l) => ui.monospace(format!(
                "on screen {:.1} ms (p50 {:.1}, max {:.1})",
                l.last_ms, l.p50_ms, l.max_ms
            )),
            None => ui.monospace("on screen –"),
        }
        .on_hover_text(
            "Retail frame latency from socket arrival to the render pass that draws it, \
             while following live",
        );
    });
}
