//! Camera formats through the real pipeline, behind the camera trait: a fake device
//! delivers golden frames (four colour quadrants) in MJPEG, YUYV (also with padded
//! rows), NV12, RGB and BGR; the JPEGs that come out must show the same colours at the
//! requested size. MJPEG at the requested size must pass through byte for byte.
//! Also: with no camera on the machine, listing is empty and opening fails cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use capdeck::capture::video::camera::{
    CameraDevice, CameraFourcc, CameraMode, CameraSource, cameras,
};
use capdeck::capture::video::source::SourceError;
use capdeck::capture::video::yuv::rgb_to_yuv;
use capdeck::capture::video::{
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
