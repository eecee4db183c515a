//! Bookmarks: the operator's marks with a note and a kind, listed (click to seek, the note
//! edited in place, the kind chosen, removed), B / Shift+B to the next / previous one. A
//! recording keeps them (its `/marks` topic, the last state of each), and so does its
//! Foxglove export.

use capdeck_grimstream::store::{MarkKind, OperatorMark};
use capdeck_timeline::Command;
use egui::Color32;

use super::LiveFrame;
use crate::ui::command::{CommandQueue, UiCommand};

/// A bookmark's clip: this much either side of it, ns.
pub const CLIP_AROUND_NS: i64 = 2_000_000_000;

/// The colour of a kind.
pub fn color(kind: MarkKind) -> Color32 {
    match kind {
        MarkKind::Mark => super::timeline::OPERATOR_MARK,
        MarkKind::Divergence => Color32::from_rgb(240, 190, 60),
        MarkKind::Bug => Color32::from_rgb(240, 90, 90),
    }
}

/// The time of the next bookmark after `cursor_ns` (or the previous one before it).
pub fn neighbour(frame: &LiveFrame, cursor_ns: i64, forward: bool) -> Option<i64> {
    let mut times = frame.marks.iter().map(|m| m.t_ns);
    if forward {
        times.find(|&t| t > cursor_ns + 1_000_000)
    } else {
        times.rev().find(|&t| t < cursor_ns - 1_000_000)
    }
}

/// One bookmark's row: time and label (click to seek), kind, note, remove.
fn row_ui(ui: &mut egui::Ui, m: &OperatorMark, cmds: &mut CommandQueue) {
    ui.horizontal(|ui| {
        let title = format!("{:.3} s {}", m.t_ns as f64 / 1e9, m.label);
        if ui
            .add(egui::Button::new(egui::RichText::new(title).color(color(m.kind))).frame(false))
            .on_hover_text("Seek here")
            .clicked()
        {
            cmds.push(UiCommand::Timeline(Command::Seek { t_ns: m.t_ns }));
        }
        egui::ComboBox::from_id_salt(("mark_kind", m.id))
            .selected_text(m.kind.name())
            .width(90.0)
            .show_ui(ui, |ui| {
                for k in MarkKind::ALL {
                    if ui.selectable_label(m.kind == k, k.name()).clicked() && k != m.kind {
                        cmds.push(UiCommand::SetMarkKind { id: m.id, kind: k });
                    }
                }
            });
        if ui
            .small_button("clip")
            .on_hover_text("Select 2 s either side (Export selection as a clip writes it)")
            .clicked()
        {
            cmds.push(UiCommand::Timeline(Command::SetSelection(Some(
                capdeck_timeline::Selection {
                    start_ns: (m.t_ns - CLIP_AROUND_NS).max(0),
                    end_ns: m.t_ns + CLIP_AROUND_NS,
                },
            ))));
        }
        if ui
            .small_button("remove")
            .on_hover_text("Remove this bookmark")
            .clicked()
        {
            cmds.push(UiCommand::RemoveMark(m.id));
        }
    });
    let mut note = m.note.clone();
    let resp = ui.add(
        egui::TextEdit::multiline(&mut note)
            .id_salt(("mark_note", m.id))
            .hint_text("note")
            .desired_rows(1)
            .desired_width(f32::INFINITY),
    );
    if resp.changed() {
        cmds.push(UiCommand::EditMarkNote { id: m.id, note });
    }
    if resp.lost_focus() {
        cmds.push(UiCommand::RecordMark(m.id));
    }
}

/// The list of bookmarks.
pub fn list_ui(ui: &mut egui::Ui, frame: &LiveFrame, cmds: &mut CommandQueue) {
    egui::CollapsingHeader::new(format!("Bookmarks ({})", frame.marks.len()))
        .id_salt("bookmarks")
        .default_open(false)
        .show(ui, |ui| {
            if frame.marks.is_empty() {
                ui.weak("M marks the cursor; a divergence's bookmark button keeps it. B / Shift+B jump.");
            }
            egui::ScrollArea::vertical()
                .id_salt("bookmark_list")
                .max_height(220.0)
                .show(ui, |ui| {
                    for m in &frame.marks {
                        row_ui(ui, m, cmds);
                    }
                });
        });
}
