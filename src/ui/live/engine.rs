//! Engine state at the cursor: top-down trajectory on the x/y ground plane with position
//! and yaw arrow, active setup/hotspot/movie, coverage counters, recent events, and the
//! raw state as a tree.

use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2};

use super::LiveFrame;
use crate::ui::command::{CommandQueue, UiCommand};
use capdeck_grimstream::FeedRole;
use capdeck_grimstream::demo::heading;

/// The engine side of the live pane.
pub fn engine_ui(ui: &mut egui::Ui, frame: &LiveFrame, cmds: &mut CommandQueue) {
    movie_ui(ui, frame, cmds);
    let Some(s) = &frame.at.state else {
        ui.strong("Engine");
        ui.weak("waiting for the engine feed…");
        return;
    };
    let u = &s.state;
    ui.horizontal(|ui| {
        ui.strong("Engine");
        ui.monospace(format!(
            "seq {}  frame {}  t {:.3} s",
            u.seq,
            u.frame.map_or("-".into(), |f| f.to_string()),
            frame.at.state_shown_ns.unwrap_or(s.t_ns) as f64 / 1e9
        ));
    });
    trajectory_ui(ui, frame, u.yaw);
    egui::Grid::new("engine_active")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            for (k, v) in [
                ("setup", &u.active_setup),
                ("hotspot", &u.active_hotspot),
                ("movie", &u.active_movie),
            ] {
                ui.label(k);
                ui.monospace(v.as_deref().unwrap_or("—"));
                ui.end_row();
            }
            if let Some(p) = u.position {
                ui.label("position");
                ui.monospace(format!("{:.2}, {:.2}, {:.2}", p[0], p[1], p[2]));
                ui.end_row();
            }
            if let Some(y) = u.yaw {
                ui.label("yaw");
                ui.monospace(format!("{y:.1}°"));
                ui.end_row();
            }
        });
    ui.separator();
    ui.horizontal_wrapped(|ui| {
        ui.label("coverage:");
        for c in u.coverage.iter().flatten() {
            ui.monospace(format!("{} {}", c.key, c.value));
        }
    });
    egui::CollapsingHeader::new("recent events")
        .default_open(true)
        .show(ui, |ui| {
            if frame.recent_events.is_empty() {
                ui.weak("none");
            }
            for (t, e) in &frame.recent_events {
                ui.monospace(format!("{:8.3}  {e}", *t as f64 / 1e9));
            }
        });
    egui::CollapsingHeader::new("raw state")
        .default_open(false)
        .show(ui, |ui| {
            let raw = serde_json::to_value(u).unwrap_or(serde_json::Value::Null);
            egui::ScrollArea::vertical()
                .max_height(220.0)
                .show(ui, |ui| json_tree_ui(ui, "state", &raw, 0));
        });
}

/// What the HUD and the engine pane say about the engine's latest movie.
pub fn movie_text(frame: &LiveFrame) -> Option<String> {
    let m = frame.status(FeedRole::Engine)?.movie.as_ref()?;
    Some(match (&m.answer, m.took_ns()) {
        (Some(a), Some(took)) => format!(
            "movie {}: {}{} after {:.1} ms",
            m.name,
            a.action.name(),
            a.message
                .as_ref()
                .map_or(String::new(), |w| format!(" ({w})")),
            took as f64 / 1e6
        ),
        _ => {
            let now = frame.snap.as_ref().map_or(m.started_ns, |s| s.now_ns);
            format!(
                "movie {}: waiting for an answer {:.1} s",
                m.name,
                (now - m.started_ns).max(0) as f64 / 1e9
            )
        }
    })
}

/// The engine's movie and, while it waits for an answer, the skip button.
fn movie_ui(ui: &mut egui::Ui, frame: &LiveFrame, cmds: &mut CommandQueue) {
    let Some(text) = movie_text(frame) else {
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.label(text);
        let pending = frame
            .status(FeedRole::Engine)
            .and_then(|s| s.movie.as_ref())
            .filter(|m| m.answer.is_none());
        if let Some(m) = pending
            && ui
                .button("Skip movie")
                .on_hover_text("The engine waits inside the movie until it is answered")
                .clicked()
        {
            cmds.push(UiCommand::SkipMovie(m.skipped()));
        }
    });
}

fn trajectory_ui(ui: &mut egui::Ui, frame: &LiveFrame, yaw_deg: Option<f32>) {
    let h = (ui.available_height() * 0.45).clamp(120.0, 360.0);
    let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), h), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, Color32::from_gray(20));
    let trail = &frame.trail;
    if trail.is_empty() {
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "no position",
            egui::FontId::proportional(13.0),
            Color32::GRAY,
        );
        return;
    }
    // bounds of the trail, with a margin, aspect kept
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for p in trail {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1.0) * 1.15;
    let c = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let scale = rect.width().min(rect.height()) / span;
    // world y is up on screen
    let to_screen = |p: [f32; 2]| {
        Pos2::new(
            rect.center().x + (p[0] - c[0]) * scale,
            rect.center().y - (p[1] - c[1]) * scale,
        )
    };
    // grid: 1 world unit (skipped when too dense to read)
    let grid = Stroke::new(1.0, Color32::from_gray(35));
    let inner = Rect::from_center_size(rect.center(), Vec2::splat(span * scale));
    if span <= 200.0 {
        let mut g = (c[0] - span / 2.0).floor();
        while g <= c[0] + span / 2.0 {
            let x = to_screen([g, 0.0]).x;
            painter.line_segment(
                [Pos2::new(x, inner.top()), Pos2::new(x, inner.bottom())],
                grid,
            );
            g += 1.0;
        }
        let mut g = (c[1] - span / 2.0).floor();
        while g <= c[1] + span / 2.0 {
            let y = to_screen([0.0, g]).y;
            painter.line_segment(
                [Pos2::new(inner.left(), y), Pos2::new(inner.right(), y)],
                grid,
            );
            g += 1.0;
        }
    }
    let n = trail.len();
    for (k, w) in trail.windows(2).enumerate() {
        let a = 1.0 - k as f32 / n as f32;
        let col = Color32::from_rgba_unmultiplied(90, 170, 255, (40.0 + 215.0 * a) as u8);
        painter.line_segment([to_screen(w[0]), to_screen(w[1])], Stroke::new(2.0, col));
    }
    let pos = to_screen(trail[0]);
    painter.circle_filled(pos, 5.0, Color32::from_rgb(255, 200, 60));
    if let Some(yaw) = yaw_deg.filter(|y| y.is_finite()) {
        let (dx, dy) = heading(yaw);
        let dir = Vec2::new(dx, -dy) * 28.0;
        painter.arrow(pos, dir, Stroke::new(2.0, Color32::from_rgb(255, 120, 60)));
    }
    painter.text(
        rect.left_bottom() + Vec2::new(6.0, -4.0),
        egui::Align2::LEFT_BOTTOM,
        "top-down (x, y), last 20 s",
        egui::FontId::proportional(11.0),
        Color32::GRAY,
    );
}

/// The raw state as a collapsible tree.
pub fn json_tree_ui(ui: &mut egui::Ui, name: &str, v: &serde_json::Value, depth: usize) {
    use serde_json::Value;
    match v {
        Value::Object(map) if depth < 16 => {
            egui::CollapsingHeader::new(format!("{name} {{{}}}", map.len()))
                .id_salt((name, depth, "obj"))
                .default_open(depth == 0)
                .show(ui, |ui| {
                    for (k, v) in map {
                        json_tree_ui(ui, k, v, depth + 1);
                    }
                });
        }
        Value::Array(a) if depth < 16 && a.iter().any(|x| x.is_object() || x.is_array()) => {
            egui::CollapsingHeader::new(format!("{name} [{}]", a.len()))
                .id_salt((name, depth, "arr"))
                .show(ui, |ui| {
                    for (k, v) in a.iter().enumerate().take(200) {
                        json_tree_ui(ui, &k.to_string(), v, depth + 1);
                    }
                });
        }
        other => {
            let mut text = other.to_string();
            if text.len() > 200 {
                text.truncate(text.char_indices().nth(200).map_or(text.len(), |(i, _)| i));
                text.push('…');
            }
            // the engine's yaw is in degrees (spec "Engine state: units and axes")
            let unit = if depth == 1 && name == "yaw" && other.is_number() {
                " deg"
            } else {
                ""
            };
            ui.monospace(format!("{name}: {text}{unit}"));
        }
    }
}
