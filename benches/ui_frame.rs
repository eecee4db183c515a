//! UI frame time with both panes live: 1280x720 RGBA retail frames arriving at 30 fps and
//! engine states at 30 Hz, the cursor following live, side-by-side layout at 1280x760.
//!
//! - `ui_pass`: ingest one new frame + state, then one egui pass of the whole app
//!   (layout, tessellation): the CPU work of a frame on the UI thread.
//! - `ui_pass_render_upload`: the same plus rendering through egui_wgpu on this machine's
//!   Mesa lavapipe (software GPU), which includes uploading the new 3.7 MB frame as a
//!   texture (`queue.write_texture` honouring the stride) and rasterising the window.
//!
//! Frames are rendered once up front (the producer's cost is not the UI's).

use std::sync::Arc;

use bytes::Bytes;
use capdeck::ui::app::{AppOptions, CapdeckApp};
use capdeck::ui::capture::preview::{Preview, decode};
use capdeck::ui::capture::sim::encode_pattern;
use capdeck::ui::capture::{CaptureBackend, CaptureSnapshot, ChannelStats, LinkLight};
use capdeck::ui::command::UiCommand;
use capdeck::ui::live::demo::{ROW_PADDING, render_pattern};
use capdeck::ui::live::model::{EngineState, Feed, Ingest, LinkState, RetailFrame};
use capdeck::ui::log_ring::LogRing;
use capdeck::ui::settings::Settings;
use criterion::{Criterion, criterion_group, criterion_main};
use egui_kittest::Harness;

struct BenchCapture {
    preview: Preview,
    n: u64,
}

impl CaptureBackend for BenchCapture {
    fn apply(&mut self, _cmd: &UiCommand, _settings: &Settings) {}
    fn snapshot(&mut self) -> CaptureSnapshot {
        self.n += 1;
        let mut s = CaptureSnapshot::default();
        s.audio.peak_dbfs = -10.0 - (self.n % 20) as f32 * 0.1;
        s.audio.rms_dbfs = -16.0;
        s.video.size = [640, 480];
        s.video.last_jpeg_bytes = self.preview.jpeg_bytes;
        for c in &mut s.channels {
            *c = ChannelStats {
                light: LinkLight::Streaming,
                sent: self.n,
                bytes: self.n * 3200,
                seq: Some(self.n),
                ..Default::default()
            };
        }
        s
    }
    fn preview(&self) -> Option<Preview> {
        Some(self.preview.clone())
    }
    fn is_live(&self) -> bool {
        true
    }
}

struct Feeder {
    frames: Vec<Bytes>,
    i: u64,
}

impl Feeder {
    fn new() -> Self {
        let (w, h) = (1280, 720);
        let frames = (0..8)
            .map(|k| {
                Bytes::from(render_pattern(
                    w,
                    h,
                    w * 4 + ROW_PADDING,
                    k as f64 / 30.0,
                    k,
                ))
            })
            .collect();
        Self { frames, i: 0 }
    }
    fn push(&mut self, app: &mut CapdeckApp) {
        let t = self.i as f64 / 30.0;
        let ns = (t * 1e9) as u64;
        let frame = RetailFrame {
            frame_id: self.i,
            host_time_ns: ns,
            telemetry_time_ns: None,
            width: 1280,
            height: 720,
            stride: 1280 * 4 + ROW_PADDING,
            pixels: self.frames[(self.i % self.frames.len() as u64) as usize].clone(),
            t: 0.0,
        };
        let a = t as f32 * 0.35;
        let state = EngineState {
            seq: self.i,
            host_time_ns: ns,
            frame: Some(self.i as u32),
            position: Some([6.0 * a.cos(), 0.0, 3.5 * (2.0 * a).sin()]),
            yaw: Some(a),
            active_setup: Some("mo_ws".into()),
            active_hotspot: Some("desk".into()),
            coverage: vec![("hotspots".into(), self.i / 100)],
            events: if self.i % 30 == 0 {
                vec!["hotspot.enter desk".into()]
            } else {
                vec![]
            },
            raw: serde_json::json!({"seq": self.i, "frame": self.i}),
            ..Default::default()
        };
        let store = &mut app.live.store;
        store.ingest(Ingest::Frame { frame, arrival: t });
        store.ingest(Ingest::State { state, arrival: t });
        self.i += 1;
    }
}

fn harness() -> Harness<'static, CapdeckApp> {
    let opts = AppOptions {
        fresh: true,
        no_autostart: true,
        ..Default::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 760.0))
        .with_accessibility_check(false)
        .wgpu()
        .build_eframe(move |cc| CapdeckApp::new(cc, &opts, LogRing::new(), None));
    let jpeg = encode_pattern([640, 480], 70, 1);
    let preview = Preview {
        seq: 1,
        image: Arc::new(decode(&jpeg).unwrap()),
        jpeg_bytes: jpeg.len(),
    };
    h.state_mut()
        .set_capture_backend(Box::new(BenchCapture { preview, n: 0 }));
    for f in Feed::ALL {
        h.state_mut().live.store.ingest(Ingest::Link {
            feed: f,
            state: LinkState::Live,
            at: 0.0,
            producer: None,
        });
    }
    h
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ui_frame");
    g.sample_size(30);

    let mut h = harness();
    let mut feeder = Feeder::new();
    for _ in 0..90 {
        feeder.push(h.state_mut());
        h.step();
    }
    g.bench_function("ui_pass", |b| {
        b.iter(|| {
            feeder.push(h.state_mut());
            h.step();
        })
    });

    let mut h = harness();
    let mut feeder = Feeder::new();
    for _ in 0..90 {
        feeder.push(h.state_mut());
        h.step();
    }
    let _ = h.render();
    let before = h.state().live.gpu.as_ref().map_or(0, |u| u.get());
    let mut iters = 0u64;
    g.bench_function("ui_pass_render_upload", |b| {
        b.iter(|| {
            feeder.push(h.state_mut());
            h.step();
            h.render().expect("render");
            iters += 1;
        })
    });
    let uploads = h.state().live.gpu.as_ref().map_or(0, |u| u.get()) - before;
    eprintln!(
        "ui_pass_render_upload: {uploads} texture uploads in {iters} frames (1 per new 1280x720 frame expected)"
    );

    // the upload alone: write_texture of a new 1280x720 frame (stride 5184) + submit + wait
    let rs = h
        .state()
        .live
        .render_state
        .clone()
        .expect("wgpu render state");
    let mut id = 1_000_000u64;
    let pixels = feeder.frames[0].clone();
    g.bench_function("texture_upload_1280x720", |b| {
        b.iter(|| {
            id += 1;
            let f = RetailFrame {
                frame_id: id,
                host_time_ns: id,
                telemetry_time_ns: None,
                width: 1280,
                height: 720,
                stride: 1280 * 4 + ROW_PADDING,
                pixels: pixels.clone(),
                t: 0.0,
            };
            assert!(capdeck::ui::live::overlay::preupload(&rs, &f));
            rs.queue.submit([]);
            let _ = rs.device.poll(eframe::wgpu::PollType::wait_indefinitely());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
