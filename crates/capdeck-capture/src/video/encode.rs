//! Baseline JPEG encoding with jpeg-encoder (AVX2 when the CPU has it).
//!
//! Settings chosen for PSNR at equal bytes against libjpeg-turbo (see
//! `benches/video_encode.rs`): 4:2:0 chroma like libjpeg, but chroma averaged over each
//! 2x2 block (`ChromaSubsamplingMethod::Average`, libjpeg's `h2v2_downsample`) instead of
//! jpeg-encoder's default of taking the top-left sample, which aliases and costs about
//! half a dB; the Annex K quantisation tables libjpeg uses; sequential (baseline) Huffman
//! coding with standard tables, which every decoder, OpenCV included, reads.

use jpeg_encoder::{
    ChromaSubsamplingMethod, ColorType, Encoder, ImageBuffer, JpegColorType, SamplingFactor,
};

use super::scale::PixelOrder;

/// JPEG encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegSettings {
    /// Quality 1..=100 (libjpeg scale).
    pub quality: u8,
    /// Build per-image Huffman tables (a second pass; smaller files, slower).
    pub optimize_huffman: bool,
    /// Chroma subsampling (4:2:0 by default; 4:4:4 from quality 90 as libjpeg users do).
    pub sampling: SamplingFactor,
    /// How subsampled chroma is computed.
    pub chroma_method: ChromaSubsamplingMethod,
}

impl JpegSettings {
    /// The defaults for a quality.
    pub fn for_quality(quality: u8) -> Self {
        let quality = quality.clamp(1, 100);
        Self {
            quality,
            optimize_huffman: false,
            sampling: if quality >= 90 {
                SamplingFactor::R_4_4_4
            } else {
                SamplingFactor::R_4_2_0
            },
            chroma_method: ChromaSubsamplingMethod::Average,
        }
    }
}

/// JPEG encoding failed.
#[derive(Debug, thiserror::Error)]
#[error("JPEG encoding failed: {0}")]
pub struct EncodeError(String);

/// Encodes packed pixels into `out` (cleared first).
pub fn encode_jpeg(
    data: &[u8],
    width: u32,
    height: u32,
    order: PixelOrder,
    settings: &JpegSettings,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let w = u16::try_from(width).map_err(|_| EncodeError(format!("width {width} > 65535")))?;
    let h = u16::try_from(height).map_err(|_| EncodeError(format!("height {height} > 65535")))?;
    out.clear();
    // Typical q70 frames are a few bits per pixel at most; avoid regrowth.
    out.reserve(width as usize * height as usize / 3 + 1024);
    let mut enc = Encoder::new(&mut *out, settings.quality.clamp(1, 100));
    enc.set_sampling_factor(settings.sampling);
    enc.set_chroma_subsampling_method(settings.chroma_method);
    enc.set_optimized_huffman_tables(settings.optimize_huffman);
    let need = width as usize * height as usize * order.bytes_per_pixel();
    if data.len() < need {
        return Err(EncodeError(format!(
            "{} bytes for a {width}x{height} image that needs {need}",
            data.len()
        )));
    }
    if settings.sampling == SamplingFactor::R_4_2_0
        && settings.chroma_method == ChromaSubsamplingMethod::Average
    {
        // Same picture as jpeg-encoder's Average method, computed once per 2x2 block.
        enc.set_chroma_subsampling_method(ChromaSubsamplingMethod::Nearest);
        let image = Averaged420 {
            data,
            width: w,
            height: h,
            order,
        };
        return enc
            .encode_image(image)
            .map_err(|e| EncodeError(e.to_string()));
    }
    let color = match order {
        PixelOrder::Rgb => ColorType::Rgb,
        PixelOrder::Rgba => ColorType::Rgba,
        PixelOrder::Bgra => ColorType::Bgra,
    };
    enc.encode(data, w, h, color)
        .map_err(|e| EncodeError(e.to_string()))
}

/// Packed pixels fed to jpeg-encoder as Y, Cb, Cr rows with the chroma already averaged
/// over each 2x2 block (libjpeg's `h2v2_downsample`): the encoder, set to take the
/// top-left chroma sample of each block (`Nearest`), then reads these averages.
///
/// jpeg-encoder's own `Average` method gives the same picture but sums every sample of
/// every block in a scalar loop with bounds checks, which cost as much as its colour
/// conversion and DCT together (callgrind, 640x480). Here the block's RGB is summed once
/// and converted once (the conversion is linear, so this equals averaging Cb/Cr up to
/// rounding); odd rows' chroma, which the encoder never reads, is left at zero (except
/// the last row, which the encoder repeats as padding).
struct Averaged420<'a> {
    data: &'a [u8],
    width: u16,
    height: u16,
    order: PixelOrder,
}

/// Appends `n` zeroed values to `buf` and returns them to fill.
fn grow(buf: &mut Vec<u8>, n: usize) -> &mut [u8] {
    let base = buf.len();
    buf.resize(base + n, 0);
    &mut buf[base..]
}

/// Cb and Cr of the sum of `n = 2^shift` pixels' red, green and blue (their average's
/// chroma, rounded as jpeg-encoder's rgb_to_ycbcr rounds one pixel's).
#[inline(always)]
fn chroma_of_sum(r: i32, g: i32, b: i32, shift: u32) -> (u8, u8) {
    let s = 16 + shift;
    let (offset, round) = (128 << s, (1 << (s - 1)) - 1);
    let cb = (-11059 * r - 21709 * g + 32768 * b + offset + round) >> s;
    let cr = (32768 * r - 27439 * g - 5329 * b + offset + round) >> s;
    (cb.clamp(0, 255) as u8, cr.clamp(0, 255) as u8)
}

/// One row of Y, and of block-averaged Cb/Cr from the row pair `top`/`bottom` when
/// `chroma` is set, for pixels of `BPP` bytes with red, green, blue at `R`, `G`, `B`.
/// Monomorphised per layout so the loops have constant strides and no bounds checks.
fn fill_row<const BPP: usize, const R: usize, const G: usize, const B: usize>(
    top: &[u8],
    bottom: &[u8],
    chroma: bool,
    buffers: &mut [Vec<u8>; 4],
) {
    let w = top.len() / BPP;
    let luma = grow(&mut buffers[0], w);
    for (out, p) in luma.iter_mut().zip(top.chunks_exact(BPP)) {
        let (r, g, b) = (i32::from(p[R]), i32::from(p[G]), i32::from(p[B]));
        *out = ((19595 * r + 38470 * g + 7471 * b + 0x7FFF) >> 16) as u8;
    }
    let [_, cb_buf, cr_buf, _] = buffers;
    let cb = grow(cb_buf, w);
    let cr = grow(cr_buf, w);
    if !chroma {
        return;
    }
    let pairs = top
        .chunks_exact(2 * BPP)
        .zip(bottom.chunks_exact(2 * BPP))
        .zip(cb.chunks_exact_mut(2).zip(cr.chunks_exact_mut(2)));
    for ((t, u), (cb2, cr2)) in pairs {
        let r = i32::from(t[R]) + i32::from(t[BPP + R]) + i32::from(u[R]) + i32::from(u[BPP + R]);
        let g = i32::from(t[G]) + i32::from(t[BPP + G]) + i32::from(u[G]) + i32::from(u[BPP + G]);
        let b = i32::from(t[B]) + i32::from(t[BPP + B]) + i32::from(u[B]) + i32::from(u[BPP + B]);
        let (vb, vr) = chroma_of_sum(r, g, b, 2);
        cb2[0] = vb;
        cr2[0] = vr;
    }
    // The last column gets its own vertical average: with an odd width it has no
    // partner; with an even width its (odd) slot is what the encoder repeats to pad
    // the row to whole blocks, as libjpeg's edge replication gives.
    let x = w - 1;
    let (t, u) = (&top[x * BPP..][..BPP], &bottom[x * BPP..][..BPP]);
    let r = i32::from(t[R]) + i32::from(u[R]);
    let g = i32::from(t[G]) + i32::from(u[G]);
    let b = i32::from(t[B]) + i32::from(u[B]);
    let (vb, vr) = chroma_of_sum(r, g, b, 1);
    cb[x] = vb;
    cr[x] = vr;
}

impl ImageBuffer for Averaged420<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let (w, h) = (usize::from(self.width), usize::from(self.height));
        let len = w * self.order.bytes_per_pixel();
        let row = |y: usize| &self.data[y * len..(y + 1) * len];
        let y = usize::from(y);
        let (top, bottom) = (row(y), row((y + 1).min(h - 1)));
        // The encoder samples chroma on even rows, and repeats the last row to pad the
        // image to whole blocks: that one must carry chroma even when it is odd.
        let chroma = y % 2 == 0 || y == h - 1;
        match self.order {
            PixelOrder::Bgra => fill_row::<4, 2, 1, 0>(top, bottom, chroma, buffers),
            PixelOrder::Rgba => fill_row::<4, 0, 1, 2>(top, bottom, chroma, buffers),
            PixelOrder::Rgb => fill_row::<3, 0, 1, 2>(top, bottom, chroma, buffers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }

    /// A smooth, colourful test picture (odd size: edge blocks are partial).
    fn picture(w: u32, h: u32) -> Vec<u8> {
        let mut rgb = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
                rgb.push((128.0 + 100.0 * (u * 9.0).sin()) as u8);
                rgb.push((128.0 + 90.0 * (v * 7.0 + u * 3.0).cos()) as u8);
                rgb.push((40.0 + 200.0 * u * v) as u8);
            }
        }
        rgb
    }

    #[test]
    fn block_averaged_chroma_matches_jpeg_encoders_average_method() {
        // Odd and even sizes, none a whole number of 16x16 blocks (padded edges).
        for (w, h) in [(101u32, 77u32), (100, 76), (64, 32)] {
            averaged_matches_reference(w, h);
        }
    }

    fn averaged_matches_reference(w: u32, h: u32) {
        let rgb = picture(w, h);
        let bgra: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[2], p[1], p[0], 0])
            .collect();
        let settings = JpegSettings::for_quality(70);
        // jpeg-encoder's own Average method, as the reference.
        let mut reference = Vec::new();
        let mut enc = Encoder::new(&mut reference, 70);
        enc.set_sampling_factor(SamplingFactor::R_4_2_0);
        enc.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
        enc.encode(&rgb, w as u16, h as u16, ColorType::Rgb)
            .unwrap();
        let ref_px = jpeg_decoder::Decoder::new(&reference[..]).decode().unwrap();
        for (data, order) in [(&rgb, PixelOrder::Rgb), (&bgra, PixelOrder::Bgra)] {
            let mut ours = Vec::new();
            encode_jpeg(data, w, h, order, &settings, &mut ours).unwrap();
            let px = jpeg_decoder::Decoder::new(&ours[..]).decode().unwrap();
            // The same picture up to rounding: as close to the original as the
            // reference (within 0.1 dB), and about the same size.
            let (p_ref, p_ours) = (psnr(&rgb, &ref_px), psnr(&rgb, &px));
            assert!(
                p_ours > p_ref - 0.1,
                "{w}x{h} {order:?}: {p_ours:.2} dB vs reference {p_ref:.2} dB"
            );
            assert!(psnr(&ref_px, &px) > 40.0);
            let (a, b) = (reference.len() as f64, ours.len() as f64);
            assert!(
                (a - b).abs() / a < 0.01,
                "{w}x{h} {order:?}: {a} vs {b} bytes"
            );
        }
    }

    #[test]
    fn short_buffers_are_refused() {
        let mut out = Vec::new();
        let r = encode_jpeg(
            &[0; 10],
            4,
            4,
            PixelOrder::Rgb,
            &JpegSettings::for_quality(70),
            &mut out,
        );
        assert!(r.is_err());
    }

    #[test]
    fn encodes_baseline_that_decodes_to_size() {
        let (w, h) = (37u32, 21u32);
        let data: Vec<u8> = (0..w * h * 4).map(|i| (i * 7) as u8).collect();
        let mut out = Vec::new();
        encode_jpeg(
            &data,
            w,
            h,
            PixelOrder::Bgra,
            &JpegSettings::for_quality(70),
            &mut out,
        )
        .unwrap();
        assert_eq!(&out[..2], &[0xFF, 0xD8]);
        // SOF0 (baseline) marker present, no SOF2 (progressive).
        assert!(out.windows(2).any(|m| m == [0xFF, 0xC0]));
        assert!(!out.windows(2).any(|m| m == [0xFF, 0xC2]));
        let mut dec = jpeg_decoder::Decoder::new(&out[..]);
        let px = dec.decode().unwrap();
        let info = dec.info().unwrap();
        assert_eq!((u32::from(info.width), u32::from(info.height)), (w, h));
        assert_eq!(px.len(), (w * h * 3) as usize);
    }
}
