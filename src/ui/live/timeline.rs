//! Timeline bar (one lane per feed: data, stalls, disconnections, gaps, reconnects,
//! marks), transport controls and the keyboard shortcuts. Everything drawn comes from the
//! core's lanes ([`capdeck_timeline::lane`]); every change is a timeline [`Command`].

use egui::{Align2, Color32, FontId, Key, Pos2, Rect, Sense, Stroke, Vec2};

use super::LiveFrame;
use crate::ui::command::{CommandQueue, UiCommand};
use capdeck_grimstream::FeedRole;
use capdeck_timeline::{
    Command, MAX_SPEED, MIN_SPEED, PlayState, SegmentKind, Selection, TickKind, Timeline,
};

/// Lane colours.
pub const DATA: Color32 = Color32::from_rgb(60, 150, 90);
/// Stall colour.
pub const STALL: Color32 = Color32::from_rgb(220, 150, 40);
/// Disconnected / gap colour.
pub const GAP: Color32 = Color32::from_rgb(190, 60, 60);
/// Reconnect marker colour.
pub const RECONNECT: Color32 = Color32::from_rgb(90, 160, 255);

/// Operator mark colour.
pub const OPERATOR_MARK: Color32 = Color32::from_rgb(255, 120, 220);

/// Seek step of the arrow keys (ns); Shift multiplies by 10.
pub const ARROW_SEEK_NS: i64 = 1_000_000_000;
/// Speeds offered by the buttons (all within [`MIN_SPEED`]..[`MAX_SPEED`]).
pub const SPEEDS: [f32; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

fn push(cmds: &mut CommandQueue, c: Command) {
    cmds.push(UiCommand::Timeline(c));
}

/// Leave or re-enter follow-live, as the F key and the checkbox do.
pub fn toggle_follow(t: &Timeline) -> Command {
    if t.state == PlayState::FollowLive {
        Command::Seek { t_ns: t.cursor_ns }
    } else {
        Command::JumpToLive
    }
}

/// Play/pause, step, speed, follow-live, jump to live.
pub fn controls_ui(ui: &mut egui::Ui, t: &Timeline, _frame: &LiveFrame, cmds: &mut CommandQueue) {
    ui.horizontal_wrapped(|ui| {
        if ui
            .button("|<")
            .on_hover_text("Jump to start (Home)")
            .clicked()
        {
            push(cmds, Command::JumpToStart);
        }
        if ui
            .button("<")
            .on_hover_text("Step back one frame (,)")
            .clicked()
        {
            push(cmds, Command::StepFrame { forward: false });
        }
        let paused = t.state == PlayState::Paused;
        if ui
            .button(if paused { "Play" } else { "Pause" })
            .on_hover_text("Space")
            .clicked()
        {
            push(cmds, Command::TogglePlay);
        }
        if ui
            .button(">")
            .on_hover_text("Step forward one frame (.)")
            .clicked()
        {
            push(cmds, Command::StepFrame { forward: true });
        }
        if ui
            .button("<s")
            .on_hover_text("Step back one engine state ([)")
            .clicked()
        {
            push(cmds, Command::StepState { forward: false });
        }
        if ui
            .button("s>")
            .on_hover_text("Step forward one engine state (])")
            .clicked()
        {
            push(cmds, Command::StepState { forward: true });
        }
        if ui
            .button("Live >|")
            .on_hover_text("Jump to live and follow it (End)")
            .clicked()
        {
            push(cmds, Command::JumpToLive);
        }
        if ui
            .button("Mark")
            .on_hover_text("Mark the cursor (M); a recording keeps the marks")
            .clicked()
        {
            cmds.push(UiCommand::AddMark);
        }
        let mut follow = t.state == PlayState::FollowLive;
        if ui.checkbox(&mut follow, "follow live (F)").changed() {
            push(cmds, toggle_follow(t));
        }
        let mut delay = secs(t.live_delay_ns) as f32;
        if ui
            .add(
                egui::DragValue::new(&mut delay)
                    .range(0.0..=60.0)
                    .speed(0.05)
                    .suffix(" s delay"),
            )
            .on_hover_text("How far behind live the cursor follows")
            .changed()
        {
            push(
                cmds,
                Command::SetLiveDelay {
                    delay_ns: (delay as f64 * 1e9) as i64,
                },
            );
        }
        ui.separator();
        ui.label("speed");
        for s in SPEEDS {
            if ui
                .selectable_label((t.speed - s).abs() < 1e-3, format!("{s}x"))
                .on_hover_text(format!("{MIN_SPEED}x to {MAX_SPEED}x"))
                .clicked()
            {
                push(cmds, Command::SetSpeed(s));
            }
        }
        ui.separator();
        let mut looping = t.looping;
        if ui
            .add_enabled(
                t.selection.is_some(),
                egui::Checkbox::new(&mut looping, "loop"),
            )
            .on_hover_text("Shift+drag on the timeline to select")
            .changed()
        {
            push(cmds, Command::ToggleLoop);
        }
        if t.selection.is_some() && ui.small_button("clear").clicked() {
            push(cmds, Command::SetSelection(None));
        }
        ui.separator();
        let behind = (t.live_edge_ns() + t.live_delay_ns - t.cursor_ns).max(0);
        ui.monospace(format!(
            "cursor {:.3} s  ({:.2} s behind live)",
            secs(t.cursor_ns),
            secs(behind)
        ));
    });
}

fn tick_text(k: &TickKind) -> String {
    match k {
        TickKind::Gap(g) => format!("gap: {g:?}"),
        TickKind::Reconnect => "reconnected".into(),
        TickKind::Mark(l) => format!("mark: {l}"),
        TickKind::Telemetry(l) => format!("telemetry: {l}"),
        TickKind::Movie(n) => format!("movie: {n}"),
        TickKind::MovieAnswer {
            name,
            answer,
            took_ns,
        } => match took_ns {
            Some(t) => format!("movie {name}: {answer} after {:.1} ms", *t as f64 / 1e6),
            None => format!("movie {name}: {answer}"),
        },
        TickKind::Problem(p) => p.clone(),
    }
}

/// The lanes. Click or drag to seek; Shift+drag selects a loop range; hover a tick for
/// its label.
pub fn timeline_ui(ui: &mut egui::Ui, t: &Timeline, frame: &LiveFrame, cmds: &mut CommandQueue) {
    let lane_h = 18.0;
    let ruler_h = 14.0;
    let label_w = 56.0;
    // the two feeds' lanes, then the divergence lane
    let h = ruler_h + lane_h * 3.0 + 6.0;
    let (rect, resp) =
        ui.allocate_exact_size(Vec2::new(ui.available_width(), h), Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, Color32::from_gray(22));
    let track = Rect::from_min_max(
        Pos2::new(rect.left() + label_w, rect.top()),
        rect.right_bottom() - Vec2::new(6.0, 0.0),
    );
    let (lo, hi) = frame.range;
    let span_ns = (hi - lo).max(1);
    let x_of = |t: i64| track.left() + ((t - lo) as f64 / span_ns as f64) as f32 * track.width();
    let t_of = |x: f32| {
        lo + (((x - track.left()) / track.width()).clamp(0.0, 1.0) as f64 * span_ns as f64) as i64
    };

    // ruler: a tick per "nice" step
    let span = secs(span_ns);
    let step = [0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]
        .into_iter()
        .find(|s| span / s <= 12.0)
        .unwrap_or(600.0);
    let mut s = (secs(lo) / step).ceil() * step;
    while s <= secs(hi) {
        let x = x_of((s * 1e9) as i64);
        painter.line_segment(
            [Pos2::new(x, rect.top()), Pos2::new(x, rect.top() + 4.0)],
            Stroke::new(1.0, Color32::GRAY),
        );
        painter.text(
            Pos2::new(x + 2.0, rect.top()),
            Align2::LEFT_TOP,
            if step < 1.0 {
                format!("{s:.1}s")
            } else {
                format!("{s:.0}s")
            },
            FontId::monospace(9.0),
            Color32::GRAY,
        );
        s += step;
    }
    if let Some(sel) = t.selection {
        let r = Rect::from_x_y_ranges(
            x_of(sel.start_ns)..=x_of(sel.end_ns),
            track.top() + ruler_h..=track.bottom(),
        );
        painter.rect_filled(r, 0.0, Color32::from_rgba_unmultiplied(120, 120, 255, 40));
    }
    let pointer = resp.hover_pos();
    let mut hover_label: Option<String> = None;
    for role in FeedRole::ALL {
        let y0 = rect.top() + ruler_h + lane_h * role.index() as f32 + 2.0;
        let lane_rect = Rect::from_min_max(
            Pos2::new(track.left(), y0),
            Pos2::new(track.right(), y0 + lane_h - 4.0),
        );
        painter.text(
            Pos2::new(rect.left() + 4.0, lane_rect.center().y),
            Align2::LEFT_CENTER,
            role.name(),
            FontId::proportional(11.0),
            Color32::LIGHT_GRAY,
        );
        let lane = &frame.lanes[role.index()];
        for seg in &lane.segments {
            if seg.end_ns < lo {
                continue;
            }
            let color = match seg.kind {
                SegmentKind::Data => DATA,
                SegmentKind::Stall => STALL,
                SegmentKind::Disconnected => GAP,
            };
            let x0 = x_of(seg.start_ns.max(lo));
            let r = Rect::from_x_y_ranges(x0..=x_of(seg.end_ns).max(x0 + 1.0), lane_rect.y_range());
            painter.rect_filled(r, 0.0, color);
            if seg.kind != SegmentKind::Data
                && pointer.is_some_and(|p| r.expand2(Vec2::new(2.0, 0.0)).contains(p))
            {
                hover_label = Some(format!(
                    "{} {:?}: {:.2} s from {:.2} s",
                    role.name(),
                    seg.kind,
                    secs(seg.end_ns - seg.start_ns),
                    secs(seg.start_ns)
                ));
            }
        }
        for tick in lane.ticks.iter().filter(|k| k.t_ns >= lo && k.t_ns <= hi) {
            let x = x_of(tick.t_ns);
            let (color, top, width) = match tick.kind {
                TickKind::Reconnect => (RECONNECT, lane_rect.top() - 2.0, 2.0),
                TickKind::Gap(_) | TickKind::Problem(_) => (GAP, lane_rect.top() - 2.0, 2.0),
                _ => (Color32::WHITE, lane_rect.top(), 1.0),
            };
            let bottom = match tick.kind {
                TickKind::Mark(_)
                | TickKind::Telemetry(_)
                | TickKind::Movie(_)
                | TickKind::MovieAnswer { .. } => lane_rect.top() + 6.0,
                _ => lane_rect.bottom() + 2.0,
            };
            painter.line_segment(
                [Pos2::new(x, top), Pos2::new(x, bottom)],
                Stroke::new(width, color),
            );
            if pointer.is_some_and(|p| (p.x - x).abs() < 3.0 && lane_rect.y_range().contains(p.y)) {
                hover_label = Some(format!(
                    "{} @ {:.2} s: {}",
                    role.name(),
                    secs(tick.t_ns),
                    tick_text(&tick.kind)
                ));
            }
        }
    }
    // divergences between the game and the engine
    let y0 = rect.top() + ruler_h + lane_h * 2.0 + 2.0;
    let diff_rect = Rect::from_min_max(
        Pos2::new(track.left(), y0),
        Pos2::new(track.right(), y0 + lane_h - 4.0),
    );
    painter.text(
        Pos2::new(rect.left() + 4.0, diff_rect.center().y),
        Align2::LEFT_CENTER,
        "diff",
        FontId::proportional(11.0),
        Color32::LIGHT_GRAY,
    );
    let (diff_hover, diff_ticks) =
        super::divergence::lane_paint(&painter, diff_rect, frame, x_of, pointer);
    if diff_hover.is_some() {
        hover_label = diff_hover;
    }
    // the operator's marks: across both lanes
    for m in frame.marks.iter().filter(|m| m.t_ns >= lo && m.t_ns <= hi) {
        let x = x_of(m.t_ns);
        let color = super::bookmarks::color(m.kind);
        painter.line_segment(
            [Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())],
            Stroke::new(1.5, color),
        );
        painter.text(
            Pos2::new(x + 2.0, rect.bottom() - 2.0),
            Align2::LEFT_BOTTOM,
            &m.label,
            FontId::proportional(10.0),
            color,
        );
        if pointer.is_some_and(|p| (p.x - x).abs() < 3.0) {
            hover_label = Some(if m.note.is_empty() {
                format!("{} @ {:.2} s (M adds one)", m.label, secs(m.t_ns))
            } else {
                format!("{} @ {:.2} s: {}", m.label, secs(m.t_ns), m.note)
            });
        }
    }
    // cursor
    let cx = x_of(t.cursor_ns);
    painter.line_segment(
        [Pos2::new(cx, rect.top()), Pos2::new(cx, rect.bottom())],
        Stroke::new(2.0, Color32::from_rgb(255, 230, 90)),
    );

    let shift = ui.input(|i| i.modifiers.shift);
    if let Some(p) = resp.interact_pointer_pos() {
        if shift && resp.dragged() {
            let origin = ui.input(|i| i.pointer.press_origin()).unwrap_or(p);
            let (a, b) = (t_of(origin.x), t_of(p.x));
            push(
                cmds,
                Command::SetSelection(Some(Selection {
                    start_ns: a.min(b),
                    end_ns: a.max(b),
                })),
            );
        } else if resp.clicked() || resp.dragged() {
            push(cmds, Command::Seek { t_ns: t_of(p.x) });
        }
    }
    // what a screen reader (and a UI test) is told: the divergence ticks drawn
    resp.widget_info(|| {
        let mut w = egui::WidgetInfo::labeled(egui::Role::Label, true, "timeline");
        w.value = Some(diff_ticks as f64);
        w
    });
    if let Some(label) = hover_label {
        resp.on_hover_text_at_pointer(label);
    }
}

/// Keyboard: Space play/pause, `.`/`,` step a frame, `]`/`[` step a state, arrows seek
/// (Shift ×10), Home/End, F follow, M mark the cursor, B / Shift+B the next / previous
/// bookmark, D / Shift+D the next / previous divergence. Ignored while a text field has
/// focus.
pub fn keys_ui(ui: &mut egui::Ui, t: &Timeline, frame: &LiveFrame, cmds: &mut CommandQueue) {
    if ui.ctx().text_edit_focused() {
        return;
    }
    ui.input(|i| {
        let mul = if i.modifiers.shift { 10 } else { 1 };
        let keys = [
            (Key::Space, Command::TogglePlay),
            (Key::Period, Command::StepFrame { forward: true }),
            (Key::Comma, Command::StepFrame { forward: false }),
            (Key::CloseBracket, Command::StepState { forward: true }),
            (Key::OpenBracket, Command::StepState { forward: false }),
            (
                Key::ArrowRight,
                Command::Seek {
                    t_ns: t.cursor_ns + ARROW_SEEK_NS * mul,
                },
            ),
            (
                Key::ArrowLeft,
                Command::Seek {
                    t_ns: t.cursor_ns - ARROW_SEEK_NS * mul,
                },
            ),
            (Key::Home, Command::JumpToStart),
            (Key::End, Command::JumpToLive),
            (Key::F, toggle_follow(t)),
        ];
        for (k, c) in keys {
            if i.key_pressed(k) {
                push(cmds, c);
            }
        }
        if i.key_pressed(Key::M) {
            cmds.push(UiCommand::AddMark);
        }
        if i.key_pressed(Key::B)
            && let Some(t_ns) = super::bookmarks::neighbour(frame, t.cursor_ns, !i.modifiers.shift)
        {
            push(cmds, Command::Seek { t_ns });
        }
        if i.key_pressed(Key::D)
            && let Some(t_ns) = super::divergence::neighbour(frame, t.cursor_ns, !i.modifiers.shift)
        {
            push(cmds, Command::Seek { t_ns });
        }
    });
}
