//! Small shared widgets: status lights, level meter.

use egui::{Color32, Sense, Vec2};

/// Streaming.
pub const GREEN: Color32 = Color32::from_rgb(70, 190, 90);
/// Connecting / buffering.
pub const YELLOW: Color32 = Color32::from_rgb(230, 190, 50);
/// Disconnected / error.
pub const RED: Color32 = Color32::from_rgb(220, 70, 60);
/// Idle.
pub const GREY: Color32 = Color32::from_gray(110);

/// A coloured dot with the state as its hover text (and accessible label).
pub fn status_light_ui(ui: &mut egui::Ui, color: Color32, text: &str) -> egui::Response {
    let (rect, resp) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
    ui.painter().circle_filled(rect.center(), 5.0, color);
    let text = text.to_owned();
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, text.clone()));
    resp.on_hover_text(text)
}

/// Horizontal level meter: RMS bar, peak tick, red zone above -3 dBFS.
pub fn level_meter_ui(
    ui: &mut egui::Ui,
    peak_dbfs: f32,
    rms_dbfs: f32,
    clipping: bool,
) -> egui::Response {
    let (rect, resp) = ui.allocate_exact_size(
        Vec2::new(ui.available_width().min(320.0), 14.0),
        Sense::hover(),
    );
    let p = ui.painter_at(rect);
    p.rect_filled(rect, 2.0, Color32::from_gray(30));
    let frac = |db: f32| ((db.max(-60.0) + 60.0) / 60.0).clamp(0.0, 1.0);
    let rms_x = rect.left() + rect.width() * frac(rms_dbfs);
    let color = if rms_dbfs > -3.0 {
        RED
    } else if rms_dbfs > -12.0 {
        YELLOW
    } else {
        GREEN
    };
    p.rect_filled(
        egui::Rect::from_min_max(rect.left_top(), egui::pos2(rms_x, rect.bottom())),
        2.0,
        color,
    );
    let peak_x = rect.left() + rect.width() * frac(peak_dbfs);
    p.line_segment(
        [
            egui::pos2(peak_x, rect.top()),
            egui::pos2(peak_x, rect.bottom()),
        ],
        egui::Stroke::new(2.0, Color32::WHITE),
    );
    if clipping {
        p.rect_filled(
            egui::Rect::from_min_size(
                egui::pos2(rect.right() - 8.0, rect.top()),
                Vec2::new(8.0, rect.height()),
            ),
            0.0,
            RED,
        );
    }
    resp.on_hover_text(format!("peak {peak_dbfs:.1} dBFS, RMS {rms_dbfs:.1} dBFS"))
}
