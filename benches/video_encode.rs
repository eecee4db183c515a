//! Video encode benchmark (one thread, quality 70, a photo-like synthetic image):
//! - JPEG encode time per frame at 640x480, 1280x720, 1920x1080 from RGB and BGRA with
//!   capdeck's jpeg-encoder settings, beside libjpeg-turbo (`--features bench-ref`);
//! - PSNR at equal bytes against libjpeg-turbo (printed before the timings), for
//!   jpeg-encoder's default chroma sampling and for capdeck's settings;
//! - the whole path 2560x1440 BGRA -> 640x480 JPEG (scale + encode).
//!
//! Run: `/work/cargo-locked bench --bench video_encode [--features bench-ref]`.
//!
//! Measured (2 shared cores, best of 3 runs; instructions from callgrind, per frame):
//! 2560x1440 -> 640x480 exact: 4.40 ms / 56.3 M instr. (bilinear, jpeg-encoder's chroma
//! averaging) -> 3.73 ms / 44.6 M (box filter, chroma averaged per 2x2 block in
//! encode.rs); fit 640x360: 3.53 ms / 47.0 M -> 2.65 ms / 34.6 M. PSNR at equal bytes
//! -0.01 to -0.02 dB from libjpeg-turbo. Instruction counts:
//! `CAPDECK_PATH_ITERS=5 CAPDECK_PATH_ALG=box CAPDECK_PATH_MODE=exact valgrind
//! --tool=callgrind --toggle-collect='*path_iters*' target/release/deps/video_encode-*`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::hint::black_box;

use capdeck_capture::video::encode::{JpegSettings, encode_jpeg};
use capdeck_capture::video::scale::{PixelOrder, Prepared, ScaleMode, Scaler};
use capdeck_capture::video::{PixelFormat, RawFrame};
use criterion::{Criterion, criterion_group};
use fast_image_resize::ResizeAlg;
use jpeg_encoder::ChromaSubsamplingMethod;

const SIZES: [(u32, u32); 3] = [(640, 480), (1280, 720), (1920, 1080)];
const QUALITY: u8 = 70;

/// A deterministic photo-like RGB image: smooth lighting, soft shapes with edges,
/// textured regions and a little sensor noise (not flat colour, not white noise).
fn photo_rgb(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    let mut seed = 0x1234_5678u32;
    let mut noise = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 9) as f32 - 4.0
    };
    let (fw, fh) = (w as f32, h as f32);
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (x as f32 / fw, y as f32 / fh);
            // Sky-to-ground lighting.
            let mut r = 90.0 + 120.0 * (1.0 - v) + 30.0 * (u * 6.0).sin();
            let mut g = 110.0 + 80.0 * (1.0 - v) + 25.0 * (v * 9.0 + u * 3.0).cos();
            let mut b = 150.0 + 90.0 * (1.0 - v) - 40.0 * u;
            // A disc (hard edge) and a textured band.
            let (dx, dy) = (u - 0.35, (v - 0.55) * fh / fw);
            if dx * dx + dy * dy < 0.02 {
                r = 200.0 + 40.0 * (u * 40.0).sin();
                g = 80.0;
                b = 50.0;
            }
            if (0.7..0.85).contains(&v) {
                let t = ((u * 120.0).sin() * (v * 90.0).cos()) * 35.0;
                r = 70.0 + t;
                g = 120.0 + t;
                b = 60.0 + t * 0.5;
            }
            let n = noise();
            for c in [r, g, b] {
                out.push((c + n).clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

fn rgb_to_bgra(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0], 255])
        .collect()
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

fn decode(jpeg: &[u8]) -> Vec<u8> {
    jpeg_decoder::Decoder::new(jpeg).decode().expect("decodes")
}

fn ours(rgb: &[u8], w: u32, h: u32, s: &JpegSettings) -> Vec<u8> {
    let mut out = Vec::new();
    encode_jpeg(rgb, w, h, PixelOrder::Rgb, s, &mut out).unwrap();
    out
}

/// (bytes, PSNR) of jpeg-encoder over qualities, to read PSNR at a given size.
fn curve(rgb: &[u8], w: u32, h: u32, base: JpegSettings) -> Vec<(usize, f64)> {
    (40..=95)
        .step_by(1)
        .map(|q| {
            let s = JpegSettings { quality: q, ..base };
            let j = ours(rgb, w, h, &s);
            (j.len(), psnr(rgb, &decode(&j)))
        })
        .collect()
}

/// PSNR at `bytes` by linear interpolation on a curve.
fn psnr_at(curve: &[(usize, f64)], bytes: usize) -> f64 {
    let mut pts = curve.to_vec();
    pts.sort_by_key(|p| p.0);
    for w in pts.windows(2) {
        let ((b0, p0), (b1, p1)) = (w[0], w[1]);
        if (b0..=b1).contains(&bytes) && b1 > b0 {
            let t = (bytes - b0) as f64 / (b1 - b0) as f64;
            return p0 + t * (p1 - p0);
        }
    }
    f64::NAN
}

#[cfg(feature = "bench-ref")]
fn turbo(pixels: &[u8], w: u32, h: u32, bgra: bool, optimize: bool) -> Vec<u8> {
    let format = if bgra {
        turbojpeg::PixelFormat::BGRA
    } else {
        turbojpeg::PixelFormat::RGB
    };
    let image = turbojpeg::Image {
        pixels,
        width: w as usize,
        pitch: w as usize * format.size(),
        height: h as usize,
        format,
    };
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_quality(i32::from(QUALITY)).unwrap();
    c.set_subsamp(turbojpeg::Subsamp::Sub2x2).unwrap();
    c.set_optimize(optimize).unwrap();
    c.compress_to_vec(image).unwrap()
}

fn report_psnr() {
    println!("# PSNR at equal bytes, quality {QUALITY}, photo-like image");
    for (w, h) in SIZES {
        let rgb = photo_rgb(w, h);
        let mut default = JpegSettings::for_quality(QUALITY);
        default.chroma_method = ChromaSubsamplingMethod::Nearest;
        let capdeck = JpegSettings::for_quality(QUALITY);
        let optimized = JpegSettings {
            optimize_huffman: true,
            ..capdeck
        };
        let j = ours(&rgb, w, h, &capdeck);
        let p = psnr(&rgb, &decode(&j));
        println!("{w}x{h}: capdeck q{QUALITY}: {} bytes, {p:.2} dB", j.len());
        #[cfg(feature = "bench-ref")]
        {
            for opt in [false, true] {
                let t = turbo(&rgb, w, h, false, opt);
                let pt = psnr(&rgb, &decode(&t));
                let label = if opt { "turbo+opt" } else { "turbo" };
                println!(
                    "  {label} q{QUALITY}: {} bytes, {pt:.2} dB; jpeg-encoder at that size: default {:+.2} dB, capdeck {:+.2} dB, capdeck+optimized huffman {:+.2} dB",
                    t.len(),
                    psnr_at(&curve(&rgb, w, h, default), t.len()) - pt,
                    psnr_at(&curve(&rgb, w, h, capdeck), t.len()) - pt,
                    psnr_at(&curve(&rgb, w, h, optimized), t.len()) - pt,
                );
            }
        }
        #[cfg(not(feature = "bench-ref"))]
        {
            let bytes = j.len();
            println!(
                "  (no libjpeg-turbo: --features bench-ref) at {bytes} bytes: default {:.2} dB, capdeck {:.2} dB, optimized {:.2} dB",
                psnr_at(&curve(&rgb, w, h, default), bytes),
                psnr_at(&curve(&rgb, w, h, capdeck), bytes),
                psnr_at(&curve(&rgb, w, h, optimized), bytes),
            );
        }
    }
}

fn bench_encode(c: &mut Criterion) {
    report_psnr();
    let mut g = c.benchmark_group("encode_q70");
    for (w, h) in SIZES {
        let rgb = photo_rgb(w, h);
        let bgra = rgb_to_bgra(&rgb);
        let s = JpegSettings::for_quality(QUALITY);
        let mut out = Vec::new();
        g.bench_function(format!("jpeg-encoder/rgb/{w}x{h}"), |b| {
            b.iter(|| {
                encode_jpeg(black_box(&rgb), w, h, PixelOrder::Rgb, &s, &mut out).unwrap();
            })
        });
        g.bench_function(format!("jpeg-encoder/bgra/{w}x{h}"), |b| {
            b.iter(|| {
                encode_jpeg(black_box(&bgra), w, h, PixelOrder::Bgra, &s, &mut out).unwrap();
            })
        });
        #[cfg(feature = "bench-ref")]
        {
            g.bench_function(format!("turbojpeg/rgb/{w}x{h}"), |b| {
                b.iter(|| black_box(turbo(black_box(&rgb), w, h, false, false)))
            });
            g.bench_function(format!("turbojpeg/bgra/{w}x{h}"), |b| {
                b.iter(|| black_box(turbo(black_box(&bgra), w, h, true, false)))
            });
        }
    }
    g.finish();
}

/// Resize algorithms compared on the 1440p -> 480p path (the first, box, is what the
/// scaler picks for shrinks of 2x or more; bilinear was the default before).
fn path_algorithms() -> [(&'static str, ResizeAlg); 4] {
    use fast_image_resize::FilterType;
    [
        ("box", ResizeAlg::Convolution(FilterType::Box)),
        ("bilinear", ResizeAlg::Convolution(FilterType::Bilinear)),
        ("hamming", ResizeAlg::Convolution(FilterType::Hamming)),
        (
            "supersample2_bilinear",
            ResizeAlg::SuperSampling(FilterType::Bilinear, 2),
        ),
    ]
}

const PATH_MODES: [(&str, ScaleMode); 2] = [
    ("fit_640x360", ScaleMode::Fit),
    ("exact_640x480", ScaleMode::Exact),
];

fn path_frame() -> RawFrame {
    let (sw, sh) = (2560u32, 1440u32);
    let bgra = rgb_to_bgra(&photo_rgb(sw, sh));
    RawFrame::packed(sw, sh, PixelFormat::Bgra, bgra).unwrap()
}

/// One frame through the path: scale (and convert) then encode.
fn scale_encode(scaler: &mut Scaler, frame: &RawFrame, mode: ScaleMode, out: &mut Vec<u8>) {
    let s = JpegSettings::for_quality(QUALITY);
    match scaler.prepare(frame, (640, 480), mode, None).unwrap() {
        Prepared::Pixels {
            data,
            width,
            height,
            order,
        } => encode_jpeg(data, width, height, order, &s, out).unwrap(),
        Prepared::Jpeg { .. } => unreachable!(),
    }
}

/// How far each filter's 640x480 picture is from Lanczos3's (PSNR over RGB): the
/// quality cost of a cheaper filter, printed before the timings.
fn report_filters(frame: &RawFrame) {
    use fast_image_resize::FilterType;
    let rgb_of = |alg| {
        let mut sc = Scaler::with_algorithm(alg);
        match sc
            .prepare(frame, (640, 480), ScaleMode::Exact, None)
            .unwrap()
        {
            Prepared::Pixels { data, .. } => data
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect::<Vec<u8>>(),
            Prepared::Jpeg { .. } => unreachable!(),
        }
    };
    let reference = rgb_of(ResizeAlg::Convolution(FilterType::Lanczos3));
    println!("# 2560x1440 -> 640x480: PSNR of each filter against Lanczos3");
    for (name, alg) in path_algorithms() {
        println!("  {name}: {:.2} dB", psnr(&reference, &rgb_of(alg)));
    }
}

fn bench_path(c: &mut Criterion) {
    let frame = path_frame();
    report_filters(&frame);
    let mut g = c.benchmark_group("path_2560x1440_bgra_to_640x480");
    for (alg_name, alg) in path_algorithms() {
        for (name, mode) in PATH_MODES {
            let mut scaler = Scaler::with_algorithm(alg);
            let mut out = Vec::new();
            g.bench_function(format!("scale_only/{alg_name}/{name}"), |b| {
                b.iter(|| {
                    black_box(scaler.prepare(&frame, (640, 480), mode, None).unwrap());
                })
            });
            g.bench_function(format!("scale_encode/{alg_name}/{name}"), |b| {
                b.iter(|| scale_encode(&mut scaler, &frame, mode, &mut out))
            });
        }
    }
    g.finish();
}

/// `CAPDECK_PATH_ITERS=N [CAPDECK_PATH_ALG=box] [CAPDECK_PATH_MODE=exact]`: runs the
/// whole path N times in [`path_iters`] and exits, for instruction counts:
/// `valgrind --tool=callgrind --toggle-collect='*path_iters*' <bench binary>`.
fn callgrind_mode() -> bool {
    let Some(n) = std::env::var("CAPDECK_PATH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
    else {
        return false;
    };
    let want = std::env::var("CAPDECK_PATH_ALG").unwrap_or_else(|_| "box".into());
    let alg = path_algorithms()
        .into_iter()
        .find(|(name, _)| *name == want)
        .map(|(_, a)| a)
        .expect("CAPDECK_PATH_ALG: box, bilinear, hamming or supersample2_bilinear");
    let mode = match std::env::var("CAPDECK_PATH_MODE").as_deref() {
        Ok("fit") => ScaleMode::Fit,
        _ => ScaleMode::Exact,
    };
    let frame = path_frame();
    let mut scaler = Scaler::with_algorithm(alg);
    let mut out = Vec::new();
    scale_encode(&mut scaler, &frame, mode, &mut out); // warm buffers
    path_iters(n, &mut scaler, &frame, mode, &mut out);
    println!("{n} x {want} {mode:?}: {} bytes", out.len());
    true
}

#[inline(never)]
fn path_iters(n: u32, scaler: &mut Scaler, frame: &RawFrame, mode: ScaleMode, out: &mut Vec<u8>) {
    for _ in 0..n {
        scale_encode(scaler, black_box(frame), mode, out);
    }
}

criterion_group! {
    name = encode_benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench_encode, bench_path
}

fn main() {
    if callgrind_mode() {
        return;
    }
    encode_benches();
    Criterion::default().configure_from_args().final_summary();
}
