//! Camera formats through the real pipeline, behind the camera trait: a fake device
//! delivers golden frames (four colour quadrants) in MJPEG, YUYV (also with padded
//! rows), NV12, RGB and BGR; the JPEGs that come out must show the same colours at the
//! requested size. MJPEG at the requested size must pass through byte for byte.
//! Also: with no camera on the machine, listing is empty and opening fails cleanly; and the
//! YUYV/NV12 to RGB conversion against an independent converter (ffmpeg's libswscale).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use capdeck_capture::video::RawFrame;
use capdeck_capture::video::camera::{
    CameraDevice, CameraFourcc, CameraMode, CameraSource, cameras,
};
use capdeck_capture::video::scale::{PixelOrder, Prepared, Scaler};
use capdeck_capture::video::source::SourceError;
use capdeck_capture::video::yuv::rgb_to_yuv;
use capdeck_capture::video::{
    self, FrameSource, ScaleMode, VideoControl, VideoError, VideoFrame, VideoSourceSpec,
};

const QUADS: [[u8; 3]; 4] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];

fn quad_colour(x: u32, y: u32, w: u32, h: u32) -> [u8; 3] {
    QUADS[(x >= w / 2) as usize + 2 * (y >= h / 2) as usize]
}

fn golden_rgb(w: u32, h: u32) -> Vec<u8> {
    (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| quad_colour(x, y, w, h)))
        .collect()
}

/// The golden image in a camera format; `pad` extra bytes per row for YUYV.
fn golden(fourcc: CameraFourcc, w: u32, h: u32, pad: usize) -> Vec<u8> {
    let rgb = golden_rgb(w, h);
    let px = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        (rgb[i], rgb[i + 1], rgb[i + 2])
    };
    match fourcc {
        CameraFourcc::Rgb => rgb,
        CameraFourcc::Bgr => rgb
            .chunks_exact(3)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect(),
        CameraFourcc::Gray => unreachable!(),
        CameraFourcc::Yuyv => {
            let mut out = Vec::new();
            for y in 0..h {
                for x in (0..w).step_by(2) {
                    let (r, g, b) = px(x, y);
                    let (y0, u, v) = rgb_to_yuv(r, g, b);
                    let (r, g, b) = px(x + 1, y);
                    let (y1, _, _) = rgb_to_yuv(r, g, b);
                    out.extend_from_slice(&[y0, u, y1, v]);
                }
                out.extend(std::iter::repeat_n(0x55, pad));
            }
            out
        }
        CameraFourcc::Nv12 => {
            let mut out = Vec::new();
            for y in 0..h {
                for x in 0..w {
                    let (r, g, b) = px(x, y);
                    out.push(rgb_to_yuv(r, g, b).0);
                }
            }
            for y in (0..h).step_by(2) {
                for x in (0..w).step_by(2) {
                    let (r, g, b) = px(x, y);
                    let (_, u, v) = rgb_to_yuv(r, g, b);
                    out.extend_from_slice(&[u, v]);
                }
            }
            out
        }
        CameraFourcc::Mjpeg => {
            let mut out = Vec::new();
            let enc = jpeg_encoder::Encoder::new(&mut out, 90);
            enc.encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
                .unwrap();
            out
        }
    }
}

/// A camera that delivers the same golden frame at 30 fps on its own clock.
struct FakeCamera {
    mode: CameraMode,
    frame: Bytes,
}

impl CameraDevice for FakeCamera {
    fn name(&self) -> String {
        "fake".into()
    }
    fn mode(&self) -> CameraMode {
        self.mode
    }
    fn frame(&mut self) -> Result<Bytes, SourceError> {
        std::thread::sleep(Duration::from_millis(33)); // the device's own frame clock
        Ok(self.frame.clone())
    }
}

fn run(
    fourcc: CameraFourcc,
    cam: (u32, u32),
    pad: usize,
    want: (u32, u32),
) -> (VideoFrame, Bytes, video::VideoStats) {
    let mode = CameraMode {
        width: cam.0,
        height: cam.1,
        fourcc,
        fps: 30,
    };
    let frame = Bytes::from(golden(fourcc, cam.0, cam.1, pad));
    let fake = FakeCamera {
        mode,
        frame: frame.clone(),
    };
    let control = VideoControl::new(want.0, want.1, 10.0, 90);
    control.set_scale_mode(ScaleMode::Exact);
    let (tx, rx) = mpsc::channel();
    let p = video::start_source(
        Box::new(move || Ok(Box::new(CameraSource::new(fake)) as Box<dyn FrameSource>)),
        control,
        Box::new(move |f| {
            let _ = tx.send(f);
        }),
    )
    .unwrap();
    let f = rx.recv_timeout(Duration::from_secs(10)).expect("a frame");
    let stats = p.stats();
    p.stop();
    (f, frame, stats)
}

fn check_colours(f: &VideoFrame, want: (u32, u32)) {
    let mut dec = jpeg_decoder::Decoder::new(&f.jpeg[..]);
    let rgb = dec.decode().expect("decodes");
    let info = dec.info().unwrap();
    assert_eq!((u32::from(info.width), u32::from(info.height)), want);
    assert_eq!((f.width, f.height), want);
    let (w, h) = want;
    for (qx, qy) in [(1, 1), (3, 1), (1, 3), (3, 3)] {
        let (x, y) = (w * qx / 4, h * qy / 4);
        let i = ((y * w + x) * 3) as usize;
        let got = &rgb[i..i + 3];
        let exp = quad_colour(x, y, w, h);
        for c in 0..3 {
            assert!(
                (i32::from(got[c]) - i32::from(exp[c])).abs() <= 16,
                "at {x},{y}: {got:?} != {exp:?}"
            );
        }
    }
}

#[test]
fn yuyv_is_converted_and_scaled() {
    let (f, _, s) = run(CameraFourcc::Yuyv, (320, 240), 0, (160, 120));
    check_colours(&f, (160, 120));
    assert!(!s.passthrough);
    assert_eq!(s.source_format, Some(video::PixelFormat::Yuyv));
}

#[test]
fn yuyv_with_padded_rows() {
    let (f, _, _) = run(CameraFourcc::Yuyv, (320, 240), 64, (320, 240));
    check_colours(&f, (320, 240));
}

#[test]
fn nv12_is_converted_and_scaled() {
    let (f, _, s) = run(CameraFourcc::Nv12, (320, 240), 0, (200, 100));
    check_colours(&f, (200, 100));
    assert_eq!(s.source_format, Some(video::PixelFormat::Nv12));
}

#[test]
fn rgb_and_bgr() {
    let (f, _, _) = run(CameraFourcc::Rgb, (320, 240), 0, (160, 120));
    check_colours(&f, (160, 120));
    let (f, _, _) = run(CameraFourcc::Bgr, (320, 240), 0, (320, 240));
    check_colours(&f, (320, 240));
}

#[test]
fn mjpeg_at_the_requested_size_passes_through_untouched() {
    let (f, golden, s) = run(CameraFourcc::Mjpeg, (320, 240), 0, (320, 240));
    assert_eq!(f.jpeg, golden, "camera JPEG sent byte for byte");
    assert!(s.passthrough);
    assert_eq!(f.timing.encode_us, 0);
    check_colours(&f, (320, 240));
}

#[test]
fn mjpeg_at_another_size_is_decoded_and_reencoded() {
    let (f, golden, s) = run(CameraFourcc::Mjpeg, (320, 240), 0, (160, 120));
    assert_ne!(f.jpeg, golden);
    assert!(!s.passthrough);
    check_colours(&f, (160, 120));
}

#[test]
fn no_camera_lists_none_and_fails_cleanly() {
    let list = cameras().expect("listing works without cameras");
    if !list.is_empty() {
        eprintln!("skipped: this machine has cameras: {list:?}");
        return;
    }
    let control = VideoControl::new(640, 480, 5.0, 70);
    let e = video::start(
        &VideoSourceSpec::Camera(None),
        control.clone(),
        Box::new(|_| {}),
    )
    .unwrap_err();
    assert!(
        matches!(&e, VideoError::NotFound(m) if m.contains("no camera")),
        "{e}"
    );
    let e = video::start(&VideoSourceSpec::Camera(Some(3)), control, Box::new(|_| {})).unwrap_err();
    assert!(matches!(e, VideoError::NotFound(_)), "{e}");
    assert!(video::list_sources().cameras.is_empty());
}

/// A known picture for the converter check, 128x64: luma over the whole legal range
/// (16..=235) in a pattern that changes every pixel, chroma over the whole legal range
/// (16..=240), U across and V down, one value per 2x2 block (what both YUYV and NV12 can
/// carry exactly), so every matrix coefficient is exercised, including clipped results.
const KNOWN: (usize, usize) = (128, 64);

fn known_y(x: usize, y: usize) -> u8 {
    (16 + (x * 7 + y * 13) % 220) as u8
}

fn known_uv(cx: usize, cy: usize) -> (u8, u8) {
    (
        (16 + cx * 224 / (KNOWN.0 / 2 - 1)) as u8,
        (16 + cy * 224 / (KNOWN.1 / 2 - 1)) as u8,
    )
}

fn known_yuyv() -> Vec<u8> {
    let (w, h) = KNOWN;
    let mut out = Vec::with_capacity(w * h * 2);
    for y in 0..h {
        for x in (0..w).step_by(2) {
            let (u, v) = known_uv(x / 2, y / 2);
            out.extend_from_slice(&[known_y(x, y), u, known_y(x + 1, y), v]);
        }
    }
    out
}

fn known_nv12() -> Vec<u8> {
    let (w, h) = KNOWN;
    let mut out: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).map(move |x| known_y(x, y)))
        .collect();
    for cy in 0..h / 2 {
        for cx in 0..w / 2 {
            let (u, v) = known_uv(cx, cy);
            out.extend_from_slice(&[u, v]);
        }
    }
    out
}

/// ffmpeg's rgb24 of a raw frame: BT.601, limited ("tv") range in, as capdeck reads
/// webcam YUV (src/capture/video/yuv.rs); nearest chroma (each 2x2 block's U/V for its
/// four pixels, as capdeck does) and accurate rounding, so the only difference left is the
/// fixed-point arithmetic.
fn ffmpeg_rgb(dir: &Path, pix_fmt: &str, raw: &[u8]) -> Vec<u8> {
    let (w, h) = KNOWN;
    let input = dir.join(format!("in.{pix_fmt}"));
    let output = dir.join(format!("out.{pix_fmt}.rgb"));
    std::fs::write(&input, raw).unwrap();
    let out = Command::new("ffmpeg")
        .args([
            "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", pix_fmt,
        ])
        .args(["-s", &format!("{w}x{h}"), "-i"])
        .arg(&input)
        .args([
            "-vf",
            "scale=in_color_matrix=bt601:in_range=tv:out_range=pc:\
             flags=neighbor+accurate_rnd+full_chroma_int+full_chroma_inp+bitexact",
        ])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
        .arg(&output)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "ffmpeg could not be run ({e}): this test needs it as the independent \
                 converter; `make test` installs it (packaging/linux/install-deps.sh test)"
            )
        });
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rgb = std::fs::read(&output).unwrap();
    assert_eq!(rgb.len(), w * h * 3, "ffmpeg's rgb24 size");
    rgb
}

/// capdeck's conversion as the camera pipeline does it: the scaler's YUV path at the
/// frame's own size.
fn capdeck_rgb(format: video::PixelFormat, raw: Vec<u8>) -> Vec<u8> {
    let (w, h) = (KNOWN.0 as u32, KNOWN.1 as u32);
    let frame = RawFrame::packed(w, h, format, raw).unwrap();
    let mut scaler = Scaler::new();
    match scaler
        .prepare(&frame, (w, h), ScaleMode::Exact, None)
        .unwrap()
    {
        Prepared::Pixels {
            data,
            width,
            height,
            order,
        } => {
            assert_eq!((width, height, order), (w, h, PixelOrder::Rgb));
            data.to_vec()
        }
        Prepared::Jpeg { .. } => panic!("raw YUV came out as JPEG"),
    }
}

#[test]
#[ignore = "needs ffmpeg (packaging/linux/install-deps.sh test): `make test` runs it"]
fn yuv_conversion_matches_ffmpeg() {
    // Measured: at most 1 per channel (fixed point with 8 fractional bits against
    // swscale's accurate rounding), 95 % of the bytes equal. A matrix coefficient off by
    // 3/256 (about 1 %) already gives 2 or 3, so the bound is 1.
    const MAX_DIFF: u8 = 1;
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = KNOWN;
    for (pix_fmt, format, raw) in [
        ("yuyv422", video::PixelFormat::Yuyv, known_yuyv()),
        ("nv12", video::PixelFormat::Nv12, known_nv12()),
    ] {
        let want = ffmpeg_rgb(dir.path(), pix_fmt, &raw);
        let got = capdeck_rgb(format, raw);
        assert_eq!(got.len(), want.len());
        let mut worst = (0u8, 0usize);
        let mut equal = 0usize;
        for (i, (&a, &b)) in got.iter().zip(&want).enumerate() {
            let d = a.abs_diff(b);
            equal += usize::from(d == 0);
            if d > worst.0 {
                worst = (d, i);
            }
        }
        let (d, i) = worst;
        let (x, y, c) = ((i / 3) % w, i / 3 / w, i % 3);
        eprintln!(
            "{pix_fmt}: max difference {d} (at {x},{y} channel {c}), {:.1} % of bytes equal",
            100.0 * equal as f64 / got.len() as f64
        );
        assert!(
            d <= MAX_DIFF,
            "{pix_fmt}: capdeck and ffmpeg differ by {d} at {x},{y} channel {c} \
             (capdeck {:?}, ffmpeg {:?}); at most {MAX_DIFF} expected",
            &got[i - c..i - c + 3],
            &want[i - c..i - c + 3]
        );
    }
}
