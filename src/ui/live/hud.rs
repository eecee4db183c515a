//! HUD: per-feed rate, latency and state; skew at the cursor with the clock offsets and a
//! nudge; skipped and dropped counts; memory used of the budget; texture uploads.

use super::{Feed, LiveRuntime, LiveView};
use crate::ui::command::{CommandQueue, UiCommand};

/// The HUD strip under the timeline.
pub fn hud_ui(ui: &mut egui::Ui, rt: &LiveRuntime, view: &LiveView, cmds: &mut CommandQueue) {
    let store = &rt.store;
    ui.horizontal_wrapped(|ui| {
        for feed in Feed::ALL {
            let st = &store.feeds[feed.index()];
            let (color, text) = super::link_text(&st.link, store.now);
            crate::ui::widgets::status_light_ui(ui, color, &text);
            ui.monospace(format!("{} {:4.1}/s", feed.label(), st.rate(store.now)));
            ui.monospace(format!(
                "lat {}",
                st.latency_ms.map_or("–".into(), |l| format!("{l:.0} ms"))
            ));
            ui.monospace(format!("skipped {}", st.skipped));
            ui.monospace(format!("dropped {}", st.dropped));
            ui.monospace(format!("reconnects {}", st.reconnects));
            ui.separator();
        }
    });
    ui.horizontal_wrapped(|ui| {
        let fi = store.frame_index_at(view.cursor).map(|i| &store.frames[i]);
        let si = store
            .state_index_at(view.cursor, view.nudge_s())
            .map(|i| &store.states[i]);
        match (fi, si) {
            (Some(f), Some(s)) => {
                let skew = (f.t - (s.t + view.nudge_s())) * 1000.0;
                ui.monospace(format!("skew retail−engine {skew:+.1} ms"));
            }
            _ => {
                ui.monospace("skew –");
            }
        }
        let off = |f: Feed| match &rt.grim.clocks[f.index()].text {
            Some(t) => t.clone(),
            None => store.feeds[f.index()]
                .offset_s
                .map_or("–".into(), |o| format!("{o:+.3} s")),
        };
        ui.monospace(format!("offset retail {}", off(Feed::Retail)));
        ui.monospace(format!("engine {}", off(Feed::Engine)));
        let mut nudge = view.nudge_ms;
        ui.label("nudge");
        if ui
            .add(
                egui::DragValue::new(&mut nudge)
                    .range(-5000.0..=5000.0)
                    .speed(1.0)
                    .suffix(" ms"),
            )
            .on_hover_text("Added to the engine clock offset")
            .changed()
        {
            cmds.push(UiCommand::SetNudgeMs(nudge));
        }
        ui.separator();
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        ui.monospace(format!(
            "memory {:.0} / {:.0} MiB",
            mib(store.frame_bytes),
            mib(store.budget_bytes)
        ));
        ui.monospace(format!("evicted {}", store.evicted));
        let uploads = rt.gpu.as_ref().map_or(rt.fallback.uploads, |u| u.get());
        ui.monospace(format!("uploads {uploads}"));
    });
}
