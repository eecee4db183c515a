//! UI frame time with both panes live: the demo world's 1280x720 RGBA retail frames at
//! 30 fps and engine states at 30 Hz, fed through the real decoder and store of the core
//! live view, the timeline following live, side-by-side layout at 1280x760.
//!
//! - `ui_pass`: one egui pass of the whole app (timeline tick, store query, layout,
//!   tessellation) after 33 ms of new data: the CPU work of a frame on the UI thread.
//! - `ui_pass_render_upload`: the same plus rendering through egui_wgpu on this machine's
//!   Mesa lavapipe (software GPU), which includes uploading the new 3.7 MB frame as a
//!   texture (`queue.write_texture` honouring the stride) and rasterising the window.
//!
//! Producing and ingesting the data is not timed (the producer's and the feed thread's
//! cost are not the UI's): each iteration advances the scripted feeds untimed, then times
//! the frame.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::sync::Arc;
use std::time::{Duration, Instant};

use capdeck::ui::app::{AppOptions, CapdeckApp};
use capdeck::ui::capture::preview::{Preview, decode};
use capdeck::ui::capture::{CaptureBackend, CaptureSnapshot, LinkLight, PushCounters};
use capdeck::ui::command::UiCommand;
use capdeck::ui::log_ring::LogRing;
use capdeck::ui::settings::Settings;
use capdeck_capture::video::pattern;
use capdeck_grimstream::FeedAddr;
use capdeck_grimstream::demo::{DemoOptions, ScriptedFeeds};
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
            *c = PushCounters {
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

/// The demo world, fed into the app's core live view on a held viewer clock.
struct Feeder {
    feeds: ScriptedFeeds,
    t_ns: i64,
}

impl Feeder {
    fn new() -> Self {
        let any = FeedAddr::Tcp("127.0.0.1:0".into());
        let mut opts = DemoOptions::new(any.clone(), any);
        opts.engine_hz = 30.0;
        Self {
            feeds: ScriptedFeeds::new(&opts),
            t_ns: 0,
        }
    }
    /// 33 ms of world time, through the decoder into the store.
    fn push(&mut self, app: &mut CapdeckApp) {
        self.t_ns += 33_333_333;
        app.live.core.clock().set_manual(Some(self.t_ns));
        self.feeds
            .advance(&mut app.live.core, self.t_ns)
            .expect("demo bytes decode");
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
    let jpeg = pattern::jpeg(1, 640, 480, 70).unwrap();
    let preview = Preview {
        seq: 1,
        image: Arc::new(decode(&jpeg).unwrap()),
        jpeg_bytes: jpeg.len(),
    };
    h.state_mut()
        .set_capture_backend(Box::new(BenchCapture { preview, n: 0 }));
    h
}

/// The app after 3 s of live data (history, textures and layout warmed up).
fn warmed() -> (Harness<'static, CapdeckApp>, Feeder) {
    let mut h = harness();
    let mut feeder = Feeder::new();
    for _ in 0..90 {
        feeder.push(h.state_mut());
        h.step();
    }
    (h, feeder)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ui_frame");
    g.sample_size(30);

    let (mut h, mut feeder) = warmed();
    g.bench_function("ui_pass", |b| {
        b.iter_custom(|n| {
            let mut spent = Duration::ZERO;
            for _ in 0..n {
                feeder.push(h.state_mut());
                let t0 = Instant::now();
                h.step();
                spent += t0.elapsed();
            }
            spent
        })
    });

    let (mut h, mut feeder) = warmed();
    let _ = h.render();
    let before = h.state().live.gpu.as_ref().map_or(0, |u| u.get());
    let mut iters = 0u64;
    g.bench_function("ui_pass_render_upload", |b| {
        b.iter_custom(|n| {
            let mut spent = Duration::ZERO;
            for _ in 0..n {
                feeder.push(h.state_mut());
                let t0 = Instant::now();
                h.step();
                h.render().expect("render");
                spent += t0.elapsed();
                iters += 1;
            }
            spent
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
    let mut f = h
        .state()
        .live
        .frame
        .at
        .frame
        .clone()
        .expect("a retail frame at the cursor");
    g.bench_function("texture_upload_1280x720", |b| {
        b.iter(|| {
            f.frame_id += 1_000_000;
            assert!(capdeck::ui::live::overlay::preupload(&rs, &f));
            rs.queue.submit([]);
            let _ = rs.device.poll(eframe::wgpu::PollType::wait_indefinitely());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
