//! Crop and scale a [`RawFrame`] to the requested size, straight from the source format.
//!
//! BGRA/RGBA/RGB are resized by fast_image_resize reading the source rows in place
//! (any stride, no copy); when no resize or crop is needed the source buffer goes to the
//! encoder untouched. YUYV/NV12 are converted to RGB once (only the cropped region), and
//! MJPEG at the requested size passes through without decoding.

use std::marker::PhantomData;

use bytes::Bytes;
use fast_image_resize as fr;
use fr::pixels::{U8x3, U8x4};
use fr::{ImageView, ResizeAlg, ResizeOptions, Resizer};

use super::frame::{PixelFormat, RawFrame};

/// How the source is fitted to the requested size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ScaleMode {
    /// Largest size inside the requested box that keeps the source's aspect ratio
    /// (the JPEG is that size, with no bars).
    #[default]
    Fit,
    /// Exactly the requested size (the picture is stretched).
    Exact,
}

/// A region of the source in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Crop {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// Why a frame could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    /// The crop region lies outside the frame.
    #[error("crop region {crop:?} lies outside the {width}x{height} frame")]
    CropOutside {
        /// The region asked for.
        crop: Crop,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
    /// A camera's MJPEG frame did not decode.
    #[error("camera sent a JPEG that does not decode: {0}")]
    BadJpeg(String),
    /// fast_image_resize refused the images.
    #[error("resize failed: {0}")]
    Resize(String),
}

/// Pixel order of a prepared image, as the JPEG encoder takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelOrder {
    /// 3 bytes per pixel.
    Rgb,
    /// 4 bytes per pixel, alpha ignored.
    Rgba,
    /// 4 bytes per pixel, alpha ignored.
    Bgra,
}

impl PixelOrder {
    /// Bytes per pixel.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Rgb => 3,
            Self::Rgba | Self::Bgra => 4,
        }
    }
}

/// A frame ready for the encoder (or already encoded).
#[derive(Debug)]
pub enum Prepared<'a> {
    /// The camera's own JPEG at the requested size: send as is.
    Jpeg {
        /// The JPEG bytes.
        bytes: Bytes,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// Packed pixels at the output size.
    Pixels {
        /// `width*height*bpp` bytes.
        data: &'a [u8],
        /// Output width.
        width: u32,
        /// Output height.
        height: u32,
        /// Pixel order.
        order: PixelOrder,
    },
}

/// Output size for a source region of `src` pixels asked to fit `target`.
pub fn output_size(src: (u32, u32), target: (u32, u32), mode: ScaleMode) -> (u32, u32) {
    match mode {
        ScaleMode::Exact => target,
        ScaleMode::Fit => {
            let (sw, sh) = (f64::from(src.0), f64::from(src.1));
            let s = (f64::from(target.0) / sw).min(f64::from(target.1) / sh);
            let w = ((sw * s).round() as u32).clamp(1, target.0);
            let h = ((sh * s).round() as u32).clamp(1, target.1);
            (w, h)
        }
    }
}

/// Reusable scaler: keeps the resizer's and the output's buffers between frames.
pub struct Scaler {
    resizer: Resizer,
    /// A fixed algorithm, or `None` to choose per frame ([`auto_algorithm`]).
    algorithm: Option<ResizeAlg>,
    /// Resized output.
    dst: Vec<u8>,
    /// Converted (YUV/MJPEG → RGB) source.
    tmp: Vec<u8>,
    /// Whether camera JPEGs at the right size are handed on undecoded.
    jpeg_passthrough: bool,
}

impl Default for Scaler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scaler {
    /// A scaler choosing its filter per frame (see [`auto_algorithm`]).
    pub fn new() -> Self {
        Self {
            resizer: Resizer::new(),
            algorithm: None,
            dst: Vec::new(),
            tmp: Vec::new(),
            jpeg_passthrough: true,
        }
    }

    /// A scaler with a fixed fast_image_resize algorithm (benchmarks, comparisons).
    pub fn with_algorithm(algorithm: ResizeAlg) -> Self {
        Self {
            resizer: Resizer::new(),
            algorithm: Some(algorithm),
            dst: Vec::new(),
            tmp: Vec::new(),
            jpeg_passthrough: true,
        }
    }

    /// Whether camera JPEGs already at the output size are handed on undecoded (on by
    /// default; off when pixels are wanted, as for a GrimStream feed).
    pub fn set_jpeg_passthrough(&mut self, on: bool) {
        self.jpeg_passthrough = on;
    }

    /// Crops and scales `frame` for a `target` box.
    pub fn prepare<'a>(
        &'a mut self,
        frame: &'a RawFrame,
        target: (u32, u32),
        mode: ScaleMode,
        crop: Option<Crop>,
    ) -> Result<Prepared<'a>, ScaleError> {
        let (fw, fh) = (frame.width(), frame.height());
        let region = match crop {
            None => Crop {
                x: 0,
                y: 0,
                w: fw,
                h: fh,
            },
            Some(c) => {
                let inside = c.w > 0
                    && c.h > 0
                    && c.x.checked_add(c.w).is_some_and(|r| r <= fw)
                    && c.y.checked_add(c.h).is_some_and(|b| b <= fh);
                if !inside {
                    return Err(ScaleError::CropOutside {
                        crop: c,
                        width: fw,
                        height: fh,
                    });
                }
                c
            }
        };
        let out = output_size((region.w, region.h), target, mode);
        let whole = region.x == 0 && region.y == 0 && region.w == fw && region.h == fh;

        let order = match frame.format() {
            PixelFormat::Bgra => PixelOrder::Bgra,
            PixelFormat::Rgba => PixelOrder::Rgba,
            PixelFormat::Rgb => PixelOrder::Rgb,
            PixelFormat::Yuyv | PixelFormat::Nv12 => {
                let (x, y, w, h) = (
                    region.x as usize,
                    region.y as usize,
                    region.w as usize,
                    region.h as usize,
                );
                if frame.format() == PixelFormat::Yuyv {
                    super::yuv::yuyv_to_rgb(
                        frame.data(),
                        frame.stride(),
                        (x, y),
                        (w, h),
                        &mut self.tmp,
                    );
                } else {
                    super::yuv::nv12_to_rgb(
                        frame.data(),
                        frame.stride(),
                        fh as usize,
                        (x, y),
                        (w, h),
                        &mut self.tmp,
                    );
                }
                return self.resize_packed_tmp((region.w, region.h), out);
            }
            PixelFormat::Mjpeg => {
                if self.jpeg_passthrough && whole && out == (fw, fh) {
                    // Check the JPEG really is that size before sending it untouched.
                    let mut dec = jpeg_decoder::Decoder::new(frame.data());
                    dec.read_info()
                        .map_err(|e| ScaleError::BadJpeg(e.to_string()))?;
                    if let Some(info) = dec.info()
                        && (u32::from(info.width), u32::from(info.height)) == (fw, fh)
                    {
                        return Ok(Prepared::Jpeg {
                            bytes: frame.bytes().clone(),
                            width: fw,
                            height: fh,
                        });
                    }
                }
                let (w, h) = decode_jpeg_rgb(frame.data(), &mut self.tmp)?;
                if (w, h) != (fw, fh) && crop.is_some() {
                    return Err(ScaleError::BadJpeg(format!(
                        "camera announced {fw}x{fh} but sent {w}x{h}"
                    )));
                }
                if whole {
                    let out = output_size((w, h), target, mode);
                    return self.resize_packed_tmp((w, h), out);
                }
                // Crop inside the decoded RGB.
                let alg = self.algorithm_for(region, out);
                let view = Strided::<U8x3>::new(&self.tmp, w, h, w as usize * 3);
                let dst = &mut self.dst;
                return resize_view(&mut self.resizer, alg, &view, region, out, dst).map(|()| {
                    Prepared::Pixels {
                        data: &self.dst[..],
                        width: out.0,
                        height: out.1,
                        order: PixelOrder::Rgb,
                    }
                });
            }
        };

        if whole && out == (fw, fh) && frame.is_packed() {
            let len = fw as usize * fh as usize * order.bytes_per_pixel();
            return Ok(Prepared::Pixels {
                data: &frame.data()[..len],
                width: fw,
                height: fh,
                order,
            });
        }
        let alg = self.algorithm_for(region, out);
        match order {
            PixelOrder::Rgb => {
                let view = Strided::<U8x3>::new(frame.data(), fw, fh, frame.stride());
                resize_view(&mut self.resizer, alg, &view, region, out, &mut self.dst)?;
            }
            PixelOrder::Rgba | PixelOrder::Bgra => {
                let view = Strided::<U8x4>::new(frame.data(), fw, fh, frame.stride());
                resize_view(&mut self.resizer, alg, &view, region, out, &mut self.dst)?;
            }
        }
        Ok(Prepared::Pixels {
            data: &self.dst[..],
            width: out.0,
            height: out.1,
            order,
        })
    }

    /// Resizes the packed RGB image in `tmp` (or hands it on when the size matches).
    fn resize_packed_tmp(
        &mut self,
        src: (u32, u32),
        out: (u32, u32),
    ) -> Result<Prepared<'_>, ScaleError> {
        if src == out {
            return Ok(Prepared::Pixels {
                data: &self.tmp[..],
                width: out.0,
                height: out.1,
                order: PixelOrder::Rgb,
            });
        }
        let view = Strided::<U8x3>::new(&self.tmp, src.0, src.1, src.0 as usize * 3);
        let whole = Crop {
            x: 0,
            y: 0,
            w: src.0,
            h: src.1,
        };
        let alg = self.algorithm_for(whole, out);
        resize_view(&mut self.resizer, alg, &view, whole, out, &mut self.dst)?;
        Ok(Prepared::Pixels {
            data: &self.dst[..],
            width: out.0,
            height: out.1,
            order: PixelOrder::Rgb,
        })
    }
}

impl Scaler {
    fn algorithm_for(&self, region: Crop, out: (u32, u32)) -> ResizeAlg {
        self.algorithm
            .unwrap_or_else(|| auto_algorithm((region.w, region.h), out))
    }
}

/// The filter for shrinking `src` to `out`: area averaging (a box convolution: every
/// source pixel counted once, OpenCV's INTER_AREA) when both sides shrink by 2x or
/// more, as for a 1440p screen sent at 480p; bilinear convolution otherwise (a box
/// would be nearest-neighbour when enlarging and blocky near 1:1).
///
/// Trade-off (benches/video_encode.rs, photo-like 2560x1440 → 640x480): box is 50.4 dB
/// from Lanczos3, bilinear 51.4 dB, Hamming 52.5 dB: slightly softer/more aliased
/// than bilinear, visually the same at these factors, for about 12% fewer
/// instructions on the whole scale + encode path (half the filter taps).
pub fn auto_algorithm(src: (u32, u32), out: (u32, u32)) -> ResizeAlg {
    if src.0 >= out.0.saturating_mul(2) && src.1 >= out.1.saturating_mul(2) {
        ResizeAlg::Convolution(fr::FilterType::Box)
    } else {
        ResizeAlg::Convolution(fr::FilterType::Bilinear)
    }
}

/// Decodes a JPEG into packed RGB in `out`; returns its size.
fn decode_jpeg_rgb(jpeg: &[u8], out: &mut Vec<u8>) -> Result<(u32, u32), ScaleError> {
    let mut dec = jpeg_decoder::Decoder::new(jpeg);
    let pixels = dec
        .decode()
        .map_err(|e| ScaleError::BadJpeg(e.to_string()))?;
    let info = dec
        .info()
        .ok_or_else(|| ScaleError::BadJpeg("no frame header".into()))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    if w == 0 || h == 0 {
        return Err(ScaleError::BadJpeg("empty image".into()));
    }
    out.clear();
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => out.extend_from_slice(&pixels),
        jpeg_decoder::PixelFormat::L8 => out.extend(pixels.iter().flat_map(|&l| [l, l, l])),
        other => {
            return Err(ScaleError::BadJpeg(format!(
                "unsupported JPEG pixel format {other:?}"
            )));
        }
    }
    Ok((w, h))
}

fn resize_view<P: BytePixel>(
    resizer: &mut Resizer,
    algorithm: ResizeAlg,
    src: &Strided<'_, P>,
    region: Crop,
    out: (u32, u32),
    dst: &mut Vec<u8>,
) -> Result<(), ScaleError> {
    dst.resize(out.0 as usize * out.1 as usize * P::size(), 0);
    let mut dst_img = fr::images::TypedImage::<P>::from_buffer(out.0, out.1, dst)
        .map_err(|e| ScaleError::Resize(e.to_string()))?;
    let options = ResizeOptions::new()
        .resize_alg(algorithm)
        // Screens carry junk (often 0) in alpha: never premultiply by it.
        .use_alpha(false)
        .crop(
            f64::from(region.x),
            f64::from(region.y),
            f64::from(region.w),
            f64::from(region.h),
        );
    resizer
        .resize_typed(src, &mut dst_img, &options)
        .map_err(|e| ScaleError::Resize(e.to_string()))
}

/// A pixel type made of plain bytes (alignment 1), so a byte row can be viewed as pixels.
///
/// # Safety
/// Implementors must be `repr(C)` wrappers of `[u8; N]` with `size_of == N`, align 1.
unsafe trait BytePixel: fr::PixelTrait {}
// SAFETY: U8x3/U8x4 are `Pixel<[u8; N], u8, N>`, `repr(C)`, alignment 1.
unsafe impl BytePixel for U8x3 {}
// SAFETY: as above.
unsafe impl BytePixel for U8x4 {}

/// A borrowed image with any row stride, viewed by fast_image_resize without copying.
struct Strided<'a, P> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
    _pixel: PhantomData<P>,
}

impl<'a, P: BytePixel> Strided<'a, P> {
    /// `data` must hold `stride*(height-1) + width*size` bytes ([`RawFrame`] checks it).
    fn new(data: &'a [u8], width: u32, height: u32, stride: usize) -> Self {
        assert!(
            height == 0
                || data.len() >= stride * (height as usize - 1) + width as usize * P::size(),
            "strided view out of bounds"
        );
        Self {
            data,
            width,
            height,
            stride,
            _pixel: PhantomData,
        }
    }

    fn row(&self, y: usize) -> &'a [P] {
        let w = self.width as usize;
        let start = y * self.stride;
        let bytes = &self.data[start..start + w * P::size()];
        debug_assert_eq!(std::mem::align_of::<P>(), 1);
        // SAFETY: `BytePixel` types are `repr(C)` byte arrays with alignment 1 and size
        // `P::size()`; `bytes` holds exactly `w` of them and lives for 'a.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<P>(), w) }
    }
}

// SAFETY: every row returned has exactly `width` pixels.
unsafe impl<P: BytePixel> ImageView for Strided<'_, P> {
    type Pixel = P;

    fn width(&self) -> u32 {
        self.width
    }

    fn height(&self) -> u32 {
        self.height
    }

    fn iter_rows(&self, start_row: u32) -> impl Iterator<Item = &[Self::Pixel]> {
        (start_row as usize..self.height as usize).map(move |y| self.row(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_filter_is_area_average_only_for_big_shrinks() {
        use fr::FilterType::{Bilinear, Box};
        let conv = |f| ResizeAlg::Convolution(f);
        let same = |a: ResizeAlg, b: ResizeAlg| format!("{a:?}") == format!("{b:?}");
        assert!(same(auto_algorithm((2560, 1440), (640, 480)), conv(Box)));
        assert!(same(auto_algorithm((1280, 960), (640, 480)), conv(Box)));
        assert!(same(
            auto_algorithm((1280, 720), (640, 480)),
            conv(Bilinear)
        ));
        assert!(same(
            auto_algorithm((640, 480), (1280, 960)),
            conv(Bilinear)
        ));
    }

    #[test]
    fn fit_keeps_aspect() {
        assert_eq!(
            output_size((2560, 1440), (640, 480), ScaleMode::Fit),
            (640, 360)
        );
        assert_eq!(
            output_size((640, 480), (640, 480), ScaleMode::Fit),
            (640, 480)
        );
        assert_eq!(
            output_size((100, 400), (640, 480), ScaleMode::Fit),
            (120, 480)
        );
        assert_eq!(
            output_size((2560, 1440), (640, 480), ScaleMode::Exact),
            (640, 480)
        );
    }

    fn solid(w: u32, h: u32, stride: usize, px: [u8; 4]) -> RawFrame {
        let mut data = vec![7u8; stride * h as usize];
        for y in 0..h as usize {
            for x in 0..w as usize {
                data[y * stride + x * 4..y * stride + x * 4 + 4].copy_from_slice(&px);
            }
        }
        RawFrame::new(w, h, stride, PixelFormat::Bgra, data).unwrap()
    }

    #[test]
    fn packed_same_size_is_zero_copy() {
        let f = RawFrame::packed(8, 4, PixelFormat::Rgba, vec![9u8; 128]).unwrap();
        let mut s = Scaler::new();
        match s.prepare(&f, (8, 4), ScaleMode::Fit, None).unwrap() {
            Prepared::Pixels { data, .. } => assert_eq!(data.as_ptr(), f.data().as_ptr()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strided_downscale_ignores_padding_and_alpha() {
        // Padding bytes are 7; alpha 0 must not blacken the picture.
        let f = solid(64, 32, 64 * 4 + 12, [10, 200, 30, 0]);
        let mut s = Scaler::new();
        let p = s.prepare(&f, (16, 16), ScaleMode::Fit, None).unwrap();
        let Prepared::Pixels {
            data,
            width,
            height,
            order,
        } = p
        else {
            panic!()
        };
        assert_eq!((width, height, order), (16, 8, PixelOrder::Bgra));
        for px in data.chunks_exact(4) {
            assert_eq!(&px[..3], &[10, 200, 30]);
        }
    }

    #[test]
    fn crop_selects_region_and_rejects_outside() {
        let mut data = vec![0u8; 32 * 16 * 3];
        // Right half red.
        for y in 0..16 {
            for x in 16..32 {
                data[(y * 32 + x) * 3] = 255;
            }
        }
        let f = RawFrame::packed(32, 16, PixelFormat::Rgb, data).unwrap();
        let mut s = Scaler::new();
        let crop = Crop {
            x: 16,
            y: 0,
            w: 16,
            h: 16,
        };
        let Prepared::Pixels {
            data,
            width,
            height,
            ..
        } = s.prepare(&f, (8, 8), ScaleMode::Exact, Some(crop)).unwrap()
        else {
            panic!()
        };
        assert_eq!((width, height), (8, 8));
        // The filter may read one source pixel past the crop edge (fast_image_resize
        // resamples a crop like a sub-image): the edge column is mostly red.
        for (i, p) in data.chunks_exact(3).enumerate() {
            let min_red = if i % 8 == 0 { 200 } else { 255 };
            assert!(p[0] >= min_red && p[1] == 0 && p[2] == 0, "{i}: {p:?}");
        }
        let bad = Crop {
            x: 20,
            y: 0,
            w: 16,
            h: 16,
        };
        assert!(matches!(
            s.prepare(&f, (8, 8), ScaleMode::Exact, Some(bad)),
            Err(ScaleError::CropOutside { .. })
        ));
    }
}
