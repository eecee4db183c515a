//! The retail frame at the cursor: fit or 1:1 pixel zoom with pan, frame id and time,
//! overlay modes. Drawn on the GPU by [`super::overlay`] when wgpu runs; with the glow
//! fallback the frame goes through an egui texture (plain mode only).

use egui::{Align2, Color32, FontId, Rect, Sense, Vec2, pos2};

use super::overlay::{self, OverlayMode, RetailCallback};
use super::{LiveRuntime, LiveView, model::RetailFrame};
use crate::ui::command::{CommandQueue, UiCommand};

/// CPU-side texture used when the wgpu renderer is not available.
#[derive(Default)]
pub struct FallbackTexture {
    key: Option<(u64, u64, usize)>,
    handle: Option<egui::TextureHandle>,
    /// Uploads done.
    pub uploads: u64,
}

impl FallbackTexture {
    fn texture(&mut self, ctx: &egui::Context, f: &RetailFrame) -> &egui::TextureHandle {
        if self.key != Some(f.key()) || self.handle.is_none() {
            // egui textures want tight rows: copy each row out of the stride-padded buffer
            let (w, h, s) = (f.width as usize, f.height as usize, f.stride as usize);
            let mut tight = Vec::with_capacity(w * h * 4);
            for y in 0..h {
                tight.extend_from_slice(&f.pixels[y * s..y * s + w * 4]);
            }
            let img = egui::ColorImage::from_rgba_unmultiplied([w, h], &tight);
            match &mut self.handle {
                Some(hd) => hd.set(img, egui::TextureOptions::LINEAR),
                None => {
                    self.handle =
                        Some(ctx.load_texture("retail", img, egui::TextureOptions::LINEAR))
                }
            }
            self.key = Some(f.key());
            self.uploads += 1;
        }
        self.handle.as_ref().expect("set above")
    }
}

/// Retail view with its toolbar.
pub fn retail_ui(
    ui: &mut egui::Ui,
    rt: &mut LiveRuntime,
    view: &LiveView,
    cmds: &mut CommandQueue,
) {
    let store = &rt.store;
    let idx = store.frame_index_at(view.cursor);
    let frame = idx.map(|i| &store.frames[i]);
    ui.horizontal_wrapped(|ui| {
        ui.strong("Retail");
        match frame {
            Some(f) => ui.monospace(format!(
                "frame {}  t {:.3} s  {}x{}",
                f.frame_id, f.t, f.width, f.height
            )),
            None => ui.weak("no frame yet"),
        };
        ui.separator();
        let mut pz = view.pixel_zoom;
        if ui.selectable_label(!pz, "fit").clicked() {
            pz = false;
            cmds.push(UiCommand::SetPixelZoom(false));
        }
        if ui
            .selectable_label(pz, "1:1")
            .on_hover_text("Pixel zoom; drag to pan")
            .clicked()
        {
            cmds.push(UiCommand::SetPixelZoom(true));
        }
        ui.separator();
        let gpu = rt.gpu.is_some();
        egui::ComboBox::new("overlay_mode", "overlay")
            .selected_text(view.overlay.label())
            .show_ui(ui, |ui| {
                for m in OverlayMode::ALL {
                    let enabled = gpu || m == OverlayMode::Plain;
                    if ui
                        .add_enabled(
                            enabled,
                            egui::Button::selectable(view.overlay == m, m.label()),
                        )
                        .clicked()
                    {
                        cmds.push(UiCommand::SetOverlay(m));
                    }
                }
            });
        if ui
            .button("Pin reference")
            .on_hover_text("Use the frame at the cursor as the reference for difference and wipe")
            .clicked()
        {
            cmds.push(UiCommand::PinReference);
        }
        if let Some(r) = &view.reference {
            ui.weak(format!("ref #{}", r.frame_id));
        }
        if matches!(view.overlay, OverlayMode::Wipe | OverlayMode::Onion) {
            let mut w = view.wipe;
            if ui
                .add(egui::Slider::new(&mut w, 0.0..=1.0).show_value(false))
                .changed()
            {
                cmds.push(UiCommand::SetWipe(w));
            }
        }
    });
    let (rect, resp) = ui.allocate_exact_size(ui.available_size(), Sense::drag());
    ui.painter().rect_filled(rect, 0.0, Color32::from_gray(12));
    let Some(i) = idx else {
        ui.painter().text(
            rect.center(),
            Align2::CENTER_CENTER,
            "waiting for the retail feed…",
            FontId::proportional(16.0),
            Color32::GRAY,
        );
        return;
    };
    let f = &store.frames[i];
    let img = Vec2::new(f.width as f32, f.height as f32);
    let size = if view.pixel_zoom {
        img / ui.ctx().pixels_per_point()
    } else {
        let s = (rect.width() / img.x).min(rect.height() / img.y);
        img * s
    };
    let mut pan = if view.pixel_zoom {
        view.pan
    } else {
        Vec2::ZERO
    };
    if view.pixel_zoom && resp.dragged() {
        let d = resp.drag_delta();
        if d != Vec2::ZERO {
            cmds.push(UiCommand::Pan(d));
            pan += d;
        }
    }
    let image_rect = Rect::from_center_size(rect.center() + pan, size);
    let visible = image_rect.intersect(rect);
    if visible.width() <= 0.0 || visible.height() <= 0.0 {
        return;
    }
    let uv = Rect::from_min_max(
        pos2(
            (visible.min.x - image_rect.min.x) / size.x,
            (visible.min.y - image_rect.min.y) / size.y,
        ),
        pos2(
            (visible.max.x - image_rect.min.x) / size.x,
            (visible.max.y - image_rect.min.y) / size.y,
        ),
    );
    if rt.gpu.is_some() {
        let previous = (1..=3)
            .filter_map(|k| i.checked_sub(k).map(|j| store.frames[j].clone()))
            .collect();
        let cb = RetailCallback {
            current: f.clone(),
            reference: view.reference.clone(),
            previous,
            mode: view.overlay,
            amount: view.wipe,
            gain: 4.0,
            uv,
        };
        ui.painter()
            .with_clip_rect(rect)
            .add(overlay::paint_callback(visible, cb));
    } else {
        let f = f.clone();
        let tex = rt.fallback.texture(ui.ctx(), &f);
        ui.painter().image(tex.id(), visible, uv, Color32::WHITE);
    }
    if view.overlay.needs_reference() && view.reference.is_none() {
        ui.painter().text(
            rect.left_top() + Vec2::new(8.0, 8.0),
            Align2::LEFT_TOP,
            "pin a reference frame to compare",
            FontId::proportional(13.0),
            Color32::YELLOW,
        );
    }
}
