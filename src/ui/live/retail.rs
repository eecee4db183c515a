//! The retail frame at the cursor: fit or 1:1 pixel zoom with pan, frame id and time,
//! overlay modes. Drawn on the GPU by [`super::overlay`] when wgpu runs; with the glow
//! fallback the frame goes through an egui texture (plain mode only).

use super::latency::PresentProbe;
use capdeck_timeline::PlayState;
use egui::{Align2, Color32, FontId, Rect, Sense, Vec2, pos2};

use super::overlay::{self, OverlayMode, RetailCallback};
use super::{LiveDisplay, LiveRuntime};
use crate::ui::command::{CommandQueue, UiCommand};
use capdeck_grimstream::store::StoredFrame;

/// CPU-side texture used when the wgpu renderer is not available.
#[derive(Default)]
pub struct FallbackTexture {
    key: Option<(u64, u64, usize)>,
    handle: Option<egui::TextureHandle>,
    /// Uploads done.
    pub uploads: u64,
}

impl FallbackTexture {
    /// The texture of a frame whose geometry was checked ([`StoredFrame::rgba_geometry`]).
    fn texture(
        &mut self,
        ctx: &egui::Context,
        f: &StoredFrame,
        (w, h, s): (u32, u32, u32),
    ) -> Option<&egui::TextureHandle> {
        if self.key != Some(f.key()) || self.handle.is_none() {
            // egui textures want tight rows: copy each row out of the stride-padded buffer
            let (w, h, s) = (w as usize, h as usize, s as usize);
            let mut tight = Vec::with_capacity(w * h * 4);
            for y in 0..h {
                tight.extend_from_slice(f.data.get(y * s..y * s + w * 4)?);
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
        self.handle.as_ref()
    }
}

/// Retail view with its toolbar.
pub fn retail_ui(
    ui: &mut egui::Ui,
    rt: &mut LiveRuntime,
    view: &LiveDisplay,
    cmds: &mut CommandQueue,
) {
    let frame = rt.frame.at.frame.clone();
    let shape = frame.as_ref().map(|f| f.rgba_geometry());
    ui.horizontal_wrapped(|ui| {
        ui.strong("Retail");
        match (&frame, &shape) {
            (Some(f), Some(Ok((w, h, _)))) => ui.monospace(format!(
                "frame {}  t {:.3} s  {w}x{h}",
                f.frame_id,
                rt.frame.at.frame_shown_ns.unwrap_or(f.t_ns) as f64 / 1e9,
            )),
            (Some(f), _) => ui.monospace(format!("frame {}", f.frame_id)),
            _ => ui.weak("no frame yet"),
        };
        ui.separator();
        if ui.selectable_label(!view.pixel_zoom, "fit").clicked() {
            cmds.push(UiCommand::SetPixelZoom(false));
        }
        if ui
            .selectable_label(view.pixel_zoom, "1:1")
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
    let message = |ui: &egui::Ui, text: &str, color: Color32| {
        ui.painter().text(
            rect.center(),
            Align2::CENTER_CENTER,
            text,
            FontId::proportional(16.0),
            color,
        );
    };
    let (f, geometry) = match (frame, shape) {
        (Some(f), Some(Ok(g))) => (f, g),
        (Some(f), Some(Err(e))) => {
            message(
                ui,
                &format!("frame {} cannot be shown: {e}", f.frame_id),
                Color32::YELLOW,
            );
            return;
        }
        _ => {
            message(ui, "waiting for the retail feed…", Color32::GRAY);
            return;
        }
    };
    let max_side = rt
        .render_state
        .as_ref()
        .map_or(8192, |rs| rs.device.limits().max_texture_dimension_2d);
    // Laid out at the frame's own size; drawn from a downscaled copy when it is larger
    // than the GPU's texture limit (overlays need same-sized frames and are off then).
    let img = Vec2::new(geometry.0 as f32, geometry.1 as f32);
    let (f, geometry) = if geometry.0 > max_side || geometry.1 > max_side {
        let key = f.key();
        if rt.scaled.as_ref().is_none_or(|(k, _)| *k != key) {
            rt.scaled = f.fit_within(max_side).map(|s| (key, s));
        }
        let Some((s, g)) = rt
            .scaled
            .as_ref()
            .and_then(|(_, s)| Some((s.clone(), s.rgba_geometry().ok()?)))
        else {
            message(
                ui,
                &format!("frame {} cannot be downscaled", f.frame_id),
                Color32::YELLOW,
            );
            return;
        };
        let note = format!(
            "retail {}x{} shown downscaled to {}x{} (GPU texture limit {max_side}); overlays off",
            geometry.0, geometry.1, g.0, g.1
        );
        if rt.scale_note.as_deref() != Some(note.as_str()) {
            tracing::warn!("{note}");
            rt.scale_note = Some(note);
        }
        (s, g)
    } else {
        rt.scale_note = None;
        rt.scaled = None;
        (f, geometry)
    };
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
    let probe = (rt.timeline().state == PlayState::FollowLive).then(|| PresentProbe {
        latency: rt.latency.clone(),
        clock: rt.core.clock().clone(),
        key: f.key(),
        arrival_ns: f.arrival_ns,
    });
    if rt.gpu.is_some() {
        let same_shape = |x: &StoredFrame| x.rgba_geometry().is_ok_and(|g| g == geometry);
        let cb = RetailCallback {
            current: f,
            reference: view.reference.clone().filter(same_shape),
            previous: rt
                .frame
                .previous
                .iter()
                .filter(|x| same_shape(x))
                .cloned()
                .collect(),
            mode: view.overlay,
            amount: view.wipe,
            gain: 4.0,
            uv,
            probe,
        };
        ui.painter()
            .with_clip_rect(rect)
            .add(overlay::paint_callback(visible, cb));
    } else if let Some(tex) = rt.fallback.texture(ui.ctx(), &f, geometry) {
        ui.painter().image(tex.id(), visible, uv, Color32::WHITE);
        // without wgpu there is no paint hook: measured when the texture is handed to egui
        if let Some(p) = probe {
            p.presented();
        }
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
