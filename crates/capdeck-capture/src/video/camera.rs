//! Cameras: nokhwa (`input-native`: V4L2, Media Foundation, AVFoundation) behind the
//! small [`CameraDevice`] trait, wrapped into a [`FrameSource`] by [`CameraSource`].
//!
//! Frames stay in the camera's format (MJPEG, YUYV, NV12, RGB) until the encode thread
//! converts only the ones it sends. An MJPEG mode at exactly the requested size is
//! preferred and its JPEGs are sent untouched.

use bytes::Bytes;

use super::VideoError;
use super::frame::{PixelFormat, RawFrame};
use super::source::{Clocking, FrameSource, SourceError, guarded};

/// A camera's pixel format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CameraFourcc {
    /// Motion JPEG.
    Mjpeg,
    /// Packed 4:2:2.
    Yuyv,
    /// Planar 4:2:0.
    Nv12,
    /// 24-bit RGB.
    Rgb,
    /// 24-bit BGR.
    Bgr,
    /// 8-bit grey.
    Gray,
}

/// One capture mode a camera offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CameraMode {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel format.
    pub fourcc: CameraFourcc,
    /// Frames per second.
    pub fps: u32,
}

/// A camera as listed by `capdeck devices`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CameraInfo {
    /// Index for `camera:N`.
    pub index: usize,
    /// Device name.
    pub name: String,
    /// Backend's description (device path, bus).
    pub description: String,
    /// Modes the camera offers (empty when it could not be opened to ask).
    pub formats: Vec<CameraMode>,
    /// Why the formats are missing, if they are.
    pub problem: Option<String>,
}

/// A camera device, as the pipeline needs it. nokhwa implements it on real hardware;
/// tests implement it with golden frames.
pub trait CameraDevice {
    /// Name for status lines.
    fn name(&self) -> String;
    /// The mode frames arrive in.
    fn mode(&self) -> CameraMode;
    /// Blocks until the next frame; the bytes are one frame in [`Self::mode`].
    fn frame(&mut self) -> Result<Bytes, SourceError>;
}

/// Chooses a camera mode for a `want` output size at `fps`:
/// 1. MJPEG at exactly `want` and at least `fps` (sent without re-encoding);
/// 2. otherwise the cheapest mode covering `want` at `fps` or faster (pixel count, with
///    MJPEG weighted 3x for its decoding), lowest sufficient frame rate on ties;
/// 3. otherwise the largest mode (the fastest if none reaches `fps`).
pub fn choose_mode(modes: &[CameraMode], want: (u32, u32), fps: f32) -> Option<CameraMode> {
    let fast_enough = |m: &CameraMode| m.fps as f32 + 0.01 >= fps;
    if let Some(m) = modes
        .iter()
        .filter(|m| m.fourcc == CameraFourcc::Mjpeg && (m.width, m.height) == want)
        .filter(|m| fast_enough(m))
        .min_by_key(|m| m.fps)
    {
        return Some(*m);
    }
    let covers = |m: &CameraMode| m.width >= want.0 && m.height >= want.1;
    let cost = |m: &CameraMode| {
        let px = u64::from(m.width) * u64::from(m.height);
        if m.fourcc == CameraFourcc::Mjpeg {
            px * 3
        } else {
            px
        }
    };
    if let Some(m) = modes
        .iter()
        .filter(|m| covers(m) && fast_enough(m))
        .min_by_key(|m| (cost(m), m.fps))
    {
        return Some(*m);
    }
    modes.iter().copied().max_by_key(|m| {
        (
            fast_enough(m),
            u64::from(m.width) * u64::from(m.height),
            std::cmp::Reverse(cost(m)),
            m.fps,
        )
    })
}

/// Stride of a frame whose rows may be padded, from its byte length.
fn stride_for(len: usize, w: u32, h: u32, format: PixelFormat) -> usize {
    let (w, h) = (w as usize, h as usize);
    let (packed, rows) = match format {
        PixelFormat::Yuyv => (w.div_ceil(2) * 4, h),
        PixelFormat::Nv12 => (w.div_ceil(2) * 2, h + h.div_ceil(2)),
        f => (w * f.bytes_per_pixel(), h),
    };
    if rows > 0 && len.is_multiple_of(rows) && len / rows > packed {
        len / rows
    } else {
        packed
    }
}

/// Turns one camera frame into a [`RawFrame`], without a copy for MJPEG, YUYV, NV12 and
/// RGB (BGR and grey, rare in practice, are converted to RGB here).
pub fn camera_frame(mode: CameraMode, data: Bytes) -> Result<RawFrame, SourceError> {
    let bad = |e: super::frame::FrameError| {
        SourceError::Transient(format!("camera sent a bad {:?} frame: {e}", mode.fourcc))
    };
    let (w, h) = (mode.width, mode.height);
    let format = match mode.fourcc {
        CameraFourcc::Mjpeg => {
            return RawFrame::new(w, h, 0, PixelFormat::Mjpeg, data).map_err(bad);
        }
        CameraFourcc::Yuyv => PixelFormat::Yuyv,
        CameraFourcc::Nv12 => PixelFormat::Nv12,
        CameraFourcc::Rgb => PixelFormat::Rgb,
        CameraFourcc::Bgr => {
            let need = w as usize * h as usize * 3;
            let src = data.get(..need).ok_or_else(|| {
                SourceError::Transient(format!("camera sent {} bytes for BGR {w}x{h}", data.len()))
            })?;
            let rgb: Vec<u8> = src
                .chunks_exact(3)
                .flat_map(|p| [p[2], p[1], p[0]])
                .collect();
            return RawFrame::packed(w, h, PixelFormat::Rgb, rgb).map_err(bad);
        }
        CameraFourcc::Gray => {
            let need = w as usize * h as usize;
            let src = data.get(..need).ok_or_else(|| {
                SourceError::Transient(format!("camera sent {} bytes for grey {w}x{h}", data.len()))
            })?;
            let rgb: Vec<u8> = src.iter().flat_map(|&l| [l, l, l]).collect();
            return RawFrame::packed(w, h, PixelFormat::Rgb, rgb).map_err(bad);
        }
    };
    let stride = stride_for(data.len(), w, h, format);
    RawFrame::new(w, h, stride, format, data).map_err(bad)
}

/// Any [`CameraDevice`] as a [`FrameSource`] on the device's own clock.
pub struct CameraSource<D> {
    device: D,
}

impl<D: CameraDevice> CameraSource<D> {
    /// Wraps a device.
    pub fn new(device: D) -> Self {
        Self { device }
    }
}

impl<D: CameraDevice> FrameSource for CameraSource<D> {
    fn describe(&self) -> String {
        let m = self.device.mode();
        format!(
            "camera {} ({}x{} {:?} at {} fps)",
            self.device.name(),
            m.width,
            m.height,
            m.fourcc,
            m.fps
        )
    }

    fn clocking(&self) -> Clocking {
        Clocking::Free
    }

    fn grab(&mut self, _want: (u32, u32)) -> Result<RawFrame, SourceError> {
        let t = std::time::Instant::now();
        let data = self.device.frame()?;
        let mut f = camera_frame(self.device.mode(), data)?;
        f.capture_us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        Ok(f)
    }
}

mod native {
    //! nokhwa: the real devices.
    use super::*;
    use nokhwa::pixel_format::RgbFormat;
    use nokhwa::utils::{
        ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    };

    fn fourcc(f: FrameFormat) -> CameraFourcc {
        match f {
            FrameFormat::MJPEG => CameraFourcc::Mjpeg,
            FrameFormat::YUYV => CameraFourcc::Yuyv,
            FrameFormat::NV12 => CameraFourcc::Nv12,
            FrameFormat::GRAY => CameraFourcc::Gray,
            FrameFormat::RAWRGB => CameraFourcc::Rgb,
            FrameFormat::RAWBGR => CameraFourcc::Bgr,
        }
    }

    fn mode(f: &CameraFormat) -> CameraMode {
        CameraMode {
            width: f.width(),
            height: f.height(),
            fourcc: fourcc(f.format()),
            fps: f.frame_rate(),
        }
    }

    fn query() -> Result<Vec<nokhwa::utils::CameraInfo>, VideoError> {
        let api = nokhwa::native_api_backend()
            .ok_or_else(|| VideoError::Unsupported("no camera backend on this platform".into()))?;
        nokhwa::query(api).map_err(|e| VideoError::Backend(format!("cannot list cameras: {e}")))
    }

    fn open_raw(index: &CameraIndex) -> Result<nokhwa::Camera, VideoError> {
        let req = RequestedFormat::new::<RgbFormat>(RequestedFormatType::AbsoluteHighestFrameRate);
        nokhwa::Camera::with_backend(index.clone(), req, ApiBackend::Auto)
            .map_err(|e| VideoError::Backend(format!("cannot open camera: {e}")))
    }

    pub fn cameras() -> Result<Vec<CameraInfo>, VideoError> {
        let mut err = None;
        let r = guarded("listing cameras", || {
            let list = match query() {
                Ok(l) => l,
                Err(e) => {
                    err = Some(e);
                    return Ok(Vec::new());
                }
            };
            Ok(list
                .iter()
                .enumerate()
                .map(|(index, info)| {
                    let (formats, problem) = match open_raw(info.index()).and_then(|mut c| {
                        c.compatible_camera_formats()
                            .map_err(|e| VideoError::Backend(e.to_string()))
                    }) {
                        Ok(f) => (f.iter().map(mode).collect(), None),
                        Err(e) => (Vec::new(), Some(e.to_string())),
                    };
                    CameraInfo {
                        index,
                        name: info.human_name(),
                        description: info.description().to_owned(),
                        formats,
                        problem,
                    }
                })
                .collect())
        });
        match (r, err) {
            (_, Some(e)) => Err(e),
            (Ok(v), None) => Ok(v),
            (Err(e), None) => Err(VideoError::Backend(e.to_string())),
        }
    }

    pub struct NokhwaCamera {
        cam: nokhwa::Camera,
        name: String,
        mode: CameraMode,
    }

    impl NokhwaCamera {
        pub fn open(index: Option<usize>, want: (u32, u32), fps: f32) -> Result<Self, VideoError> {
            let list = query()?;
            if list.is_empty() {
                return Err(VideoError::NotFound("no camera found".into()));
            }
            let i = index.unwrap_or(0);
            let info = list.get(i).ok_or_else(|| {
                VideoError::NotFound(format!(
                    "no camera {i}: {} camera(s) found (camera:0..camera:{})",
                    list.len(),
                    list.len() - 1
                ))
            })?;
            let mut cam = open_raw(info.index())?;
            let formats = cam
                .compatible_camera_formats()
                .map_err(|e| VideoError::Backend(format!("camera formats: {e}")))?;
            let modes: Vec<CameraMode> = formats.iter().map(mode).collect();
            let chosen = choose_mode(&modes, want, fps)
                .ok_or_else(|| VideoError::Backend("camera offers no usable format".into()))?;
            let fmt = modes
                .iter()
                .position(|m| *m == chosen)
                .and_then(|i| formats.get(i).copied())
                .ok_or_else(|| VideoError::Backend("camera format list changed".into()))?;
            cam.set_camera_requset(RequestedFormat::new::<RgbFormat>(
                RequestedFormatType::Exact(fmt),
            ))
            .map_err(|e| VideoError::Backend(format!("camera refused {chosen:?}: {e}")))?;
            cam.open_stream()
                .map_err(|e| VideoError::Backend(format!("camera stream: {e}")))?;
            let mode = mode(&cam.camera_format());
            Ok(Self {
                cam,
                name: info.human_name(),
                mode,
            })
        }
    }

    impl CameraDevice for NokhwaCamera {
        fn name(&self) -> String {
            self.name.clone()
        }
        fn mode(&self) -> CameraMode {
            self.mode
        }
        fn frame(&mut self) -> Result<Bytes, SourceError> {
            let cam = &mut self.cam;
            guarded("camera", || {
                cam.frame()
                    .map(|b| b.buffer_bytes())
                    .map_err(|e| SourceError::Gone(format!("camera stopped delivering: {e}")))
            })
        }
    }

    impl Drop for NokhwaCamera {
        fn drop(&mut self) {
            let _ = self.cam.stop_stream();
        }
    }
}

/// Lists cameras with their modes. `Ok(empty)` when there are none.
pub fn cameras() -> Result<Vec<CameraInfo>, VideoError> {
    native::cameras()
}

/// Opens camera `index` (the first when `None`) in the mode [`choose_mode`] picks.
pub fn open(
    index: Option<usize>,
    want: (u32, u32),
    fps: f32,
) -> Result<Box<dyn FrameSource>, VideoError> {
    let mut out = None;
    let r = guarded("opening camera", || {
        out = Some(native::NokhwaCamera::open(index, want, fps));
        Ok(())
    });
    match (r, out) {
        (Ok(()), Some(Ok(cam))) => Ok(Box::new(CameraSource::new(cam))),
        (Ok(()), Some(Err(e))) => Err(e),
        (Err(e), _) => Err(VideoError::Backend(e.to_string())),
        (Ok(()), None) => Err(VideoError::Backend("camera open returned nothing".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(width: u32, height: u32, fourcc: CameraFourcc, fps: u32) -> CameraMode {
        CameraMode {
            width,
            height,
            fourcc,
            fps,
        }
    }

    #[test]
    fn mode_choice() {
        use CameraFourcc::*;
        let modes = [
            m(1920, 1080, Mjpeg, 30),
            m(640, 480, Mjpeg, 30),
            m(640, 480, Yuyv, 30),
            m(1280, 720, Yuyv, 10),
            m(320, 240, Yuyv, 30),
        ];
        // MJPEG at the exact size: passthrough.
        assert_eq!(choose_mode(&modes, (640, 480), 5.0), Some(modes[1]));
        // 800x600: cheapest covering mode fast enough is 1280x720 YUYV (10 fps >= 5).
        assert_eq!(choose_mode(&modes, (800, 600), 5.0), Some(modes[3]));
        // At 30 fps the YUYV 720p mode is too slow: 1080p MJPEG.
        assert_eq!(choose_mode(&modes, (800, 600), 30.0), Some(modes[0]));
        // Bigger than anything: the largest.
        assert_eq!(choose_mode(&modes, (4000, 3000), 5.0), Some(modes[0]));
        assert_eq!(choose_mode(&[], (640, 480), 5.0), None);
    }

    #[test]
    fn padded_rows_are_detected() {
        assert_eq!(stride_for(640 * 2 * 480, 640, 480, PixelFormat::Yuyv), 1280);
        assert_eq!(stride_for(1344 * 480, 640, 480, PixelFormat::Yuyv), 1344);
        assert_eq!(stride_for(640 * 720, 640, 480, PixelFormat::Nv12), 640);
        assert_eq!(stride_for(704 * 720, 640, 480, PixelFormat::Nv12), 704);
    }
}
