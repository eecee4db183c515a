//! Timeline bar (one lane per feed: data, gaps, stalls, reconnects, marks), transport
//! controls and the keyboard shortcuts.

use egui::{Align2, Color32, FontId, Key, Pos2, Rect, Sense, Stroke, Vec2};

use super::model::{Feed, SegmentKind};
use super::{LiveStore, LiveView};
use crate::ui::command::{CommandQueue, UiCommand};

/// Lane colours.
pub const DATA: Color32 = Color32::from_rgb(60, 150, 90);
/// Stall colour.
pub const STALL: Color32 = Color32::from_rgb(220, 150, 40);
/// Gap colour.
pub const GAP: Color32 = Color32::from_rgb(190, 60, 60);
/// Reconnect marker colour.
pub const RECONNECT: Color32 = Color32::from_rgb(90, 160, 255);

/// Seek step of the arrow keys (s); Shift multiplies by 10.
pub const ARROW_SEEK_S: f64 = 1.0;

/// Play/pause, step, speed, follow-live, jump to live.
pub fn controls_ui(ui: &mut egui::Ui, store: &LiveStore, view: &LiveView, cmds: &mut CommandQueue) {
    ui.horizontal_wrapped(|ui| {
        if ui
            .button("|<")
            .on_hover_text("Jump to start (Home)")
            .clicked()
        {
            cmds.push(UiCommand::JumpStart);
        }
        if ui
            .button("<")
            .on_hover_text("Step back one frame (,)")
            .clicked()
        {
            cmds.push(UiCommand::Step(-1));
        }
        let playing = view.playing || view.follow;
        if ui
            .button(if playing { "Pause" } else { "Play" })
            .on_hover_text("Space")
            .clicked()
        {
            cmds.push(UiCommand::TogglePlay);
        }
        if ui
            .button(">")
            .on_hover_text("Step forward one frame (.)")
            .clicked()
        {
            cmds.push(UiCommand::Step(1));
        }
        if ui
            .button("Live >|")
            .on_hover_text("Jump to live and follow it (End)")
            .clicked()
        {
            cmds.push(UiCommand::JumpLive);
        }
        let mut follow = view.follow;
        if ui.checkbox(&mut follow, "follow live (F)").changed() {
            cmds.push(UiCommand::ToggleFollow);
        }
        let mut delay = view.follow_delay;
        if ui
            .add(
                egui::DragValue::new(&mut delay)
                    .range(0.0..=60.0)
                    .speed(0.05)
                    .suffix(" s delay"),
            )
            .changed()
        {
            cmds.push(UiCommand::SetFollowDelay(delay));
        }
        ui.separator();
        ui.label("speed");
        for s in [0.25f32, 0.5, 1.0, 2.0] {
            if ui
                .selectable_label((view.speed - s).abs() < 1e-3, format!("{s}x"))
                .clicked()
            {
                cmds.push(UiCommand::SetSpeed(s));
            }
        }
        ui.separator();
        let mut looping = view.looping;
        if ui
            .add_enabled(
                view.selection.is_some(),
                egui::Checkbox::new(&mut looping, "loop"),
            )
            .on_hover_text("Shift+drag on the timeline to select")
            .changed()
        {
            cmds.push(UiCommand::SetLoop(looping));
        }
        if view.selection.is_some() && ui.small_button("clear").clicked() {
            cmds.push(UiCommand::SetSelection(None));
        }
        ui.separator();
        let behind = store.now - view.cursor;
        ui.monospace(format!(
            "cursor {:.3} s  ({:.2} s behind live)",
            view.cursor,
            behind.max(0.0)
        ));
    });
}

/// Time range shown by the timeline: everything held.
fn range(store: &LiveStore) -> (f64, f64) {
    let lo = store.start();
    let hi = store.now.max(lo + 1.0);
    (lo, hi)
}

/// The lanes. Click or drag to seek; Shift+drag selects a loop range; hover a tick for
/// its label.
pub fn timeline_ui(ui: &mut egui::Ui, store: &LiveStore, view: &LiveView, cmds: &mut CommandQueue) {
    let lane_h = 18.0;
    let ruler_h = 14.0;
    let label_w = 56.0;
    let h = ruler_h + lane_h * 2.0 + 6.0;
    let (rect, resp) =
        ui.allocate_exact_size(Vec2::new(ui.available_width(), h), Sense::click_and_drag());
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, "timeline"));
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, Color32::from_gray(22));
    let track = Rect::from_min_max(
        Pos2::new(rect.left() + label_w, rect.top()),
        rect.right_bottom() - Vec2::new(6.0, 0.0),
    );
    let (lo, hi) = range(store);
    let x_of = |t: f64| track.left() + ((t - lo) / (hi - lo)) as f32 * track.width();
    let t_of =
        |x: f32| lo + ((x - track.left()) / track.width()).clamp(0.0, 1.0) as f64 * (hi - lo);

    // ruler: a tick per "nice" step
    let span = hi - lo;
    let step = [0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]
        .into_iter()
        .find(|s| span / s <= 12.0)
        .unwrap_or(600.0);
    let mut t = (lo / step).ceil() * step;
    while t <= hi {
        let x = x_of(t);
        painter.line_segment(
            [Pos2::new(x, rect.top()), Pos2::new(x, rect.top() + 4.0)],
            Stroke::new(1.0, Color32::GRAY),
        );
        painter.text(
            Pos2::new(x + 2.0, rect.top()),
            Align2::LEFT_TOP,
            if step < 1.0 {
                format!("{t:.1}s")
            } else {
                format!("{t:.0}s")
            },
            FontId::monospace(9.0),
            Color32::GRAY,
        );
        t += step;
    }
    if let Some((a, b)) = view.selection {
        let sel = Rect::from_x_y_ranges(x_of(a)..=x_of(b), track.top() + ruler_h..=track.bottom());
        painter.rect_filled(sel, 0.0, Color32::from_rgba_unmultiplied(120, 120, 255, 40));
    }
    let pointer = resp.hover_pos();
    let mut hover_label: Option<String> = None;
    for feed in Feed::ALL {
        let y0 = rect.top() + ruler_h + lane_h * feed.index() as f32 + 2.0;
        let lane = Rect::from_min_max(
            Pos2::new(track.left(), y0),
            Pos2::new(track.right(), y0 + lane_h - 4.0),
        );
        painter.text(
            Pos2::new(rect.left() + 4.0, lane.center().y),
            Align2::LEFT_CENTER,
            feed.label(),
            FontId::proportional(11.0),
            Color32::LIGHT_GRAY,
        );
        let st = &store.feeds[feed.index()];
        for seg in &st.segments {
            if seg.end < lo {
                continue;
            }
            let color = match seg.kind {
                SegmentKind::Data => DATA,
                SegmentKind::Stall => STALL,
                SegmentKind::Gap => GAP,
            };
            let r = Rect::from_x_y_ranges(
                x_of(seg.start.max(lo))..=x_of(seg.end).max(x_of(seg.start.max(lo)) + 1.0),
                lane.y_range(),
            );
            painter.rect_filled(r, 0.0, color);
            if seg.kind != SegmentKind::Data
                && pointer.is_some_and(|p| r.expand2(Vec2::new(2.0, 0.0)).contains(p))
            {
                hover_label = Some(format!(
                    "{} {:?}: {:.2} s from {:.2} s",
                    feed.label(),
                    seg.kind,
                    seg.end - seg.start,
                    seg.start
                ));
            }
        }
        // open stall: connected, but nothing for a while
        if let Some(last) = st.last_data_t
            && matches!(st.link, Some(super::model::LinkState::Live))
            && store.now - last > super::model::GAP_THRESHOLD_S
        {
            let r = Rect::from_x_y_ranges(x_of(last)..=x_of(store.now), lane.y_range());
            painter.rect_filled(r, 0.0, STALL);
        }
        for &rc in &st.reconnect_marks {
            if rc >= lo {
                let x = x_of(rc);
                painter.line_segment(
                    [
                        Pos2::new(x, lane.top() - 2.0),
                        Pos2::new(x, lane.bottom() + 2.0),
                    ],
                    Stroke::new(2.0, RECONNECT),
                );
                if pointer.is_some_and(|p| (p.x - x).abs() < 3.0 && lane.y_range().contains(p.y)) {
                    hover_label = Some(format!("{} reconnected at {rc:.2} s", feed.label()));
                }
            }
        }
        for m in store.marks_in(lo, hi).filter(|m| m.feed == feed) {
            let x = x_of(m.t);
            painter.line_segment(
                [Pos2::new(x, lane.top()), Pos2::new(x, lane.top() + 6.0)],
                Stroke::new(1.0, Color32::WHITE),
            );
            if pointer.is_some_and(|p| (p.x - x).abs() < 3.0 && lane.y_range().contains(p.y)) {
                hover_label = Some(format!("{} @ {:.2} s: {}", m.label, m.t, m.detail));
            }
        }
    }
    // cursor
    let cx = x_of(view.cursor);
    painter.line_segment(
        [Pos2::new(cx, rect.top()), Pos2::new(cx, rect.bottom())],
        Stroke::new(2.0, Color32::from_rgb(255, 230, 90)),
    );

    let shift = ui.input(|i| i.modifiers.shift);
    if let Some(p) = resp.interact_pointer_pos() {
        if shift && resp.dragged() {
            let origin = resp
                .interact_pointer_pos()
                .map(|_| ui.input(|i| i.pointer.press_origin()))
                .flatten()
                .unwrap_or(p);
            let (a, b) = (t_of(origin.x), t_of(p.x));
            cmds.push(UiCommand::SetSelection(Some((a.min(b), a.max(b)))));
        } else if resp.clicked() || resp.dragged() {
            cmds.push(UiCommand::SeekTo(t_of(p.x)));
        }
    }
    if let Some(label) = hover_label {
        resp.on_hover_text_at_pointer(label);
    }
}

/// Keyboard: Space play/pause, `.`/`,` step, arrows seek (Shift ×10), Home/End, F follow.
/// Ignored while a text field has focus.
pub fn keys_ui(ui: &mut egui::Ui, _store: &LiveStore, _view: &LiveView, cmds: &mut CommandQueue) {
    if ui.ctx().text_edit_focused() {
        return;
    }
    ui.input(|i| {
        let mul = if i.modifiers.shift { 10.0 } else { 1.0 };
        if i.key_pressed(Key::Space) {
            cmds.push(UiCommand::TogglePlay);
        }
        if i.key_pressed(Key::Period) {
            cmds.push(UiCommand::Step(1));
        }
        if i.key_pressed(Key::Comma) {
            cmds.push(UiCommand::Step(-1));
        }
        if i.key_pressed(Key::ArrowRight) {
            cmds.push(UiCommand::SeekBy(ARROW_SEEK_S * mul));
        }
        if i.key_pressed(Key::ArrowLeft) {
            cmds.push(UiCommand::SeekBy(-ARROW_SEEK_S * mul));
        }
        if i.key_pressed(Key::Home) {
            cmds.push(UiCommand::JumpStart);
        }
        if i.key_pressed(Key::End) {
            cmds.push(UiCommand::JumpLive);
        }
        if i.key_pressed(Key::F) {
            cmds.push(UiCommand::ToggleFollow);
        }
    });
}
