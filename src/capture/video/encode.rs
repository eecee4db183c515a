//! Baseline JPEG encoding with jpeg-encoder (AVX2 when the CPU has it).
//!
//! Settings chosen for PSNR at equal bytes against libjpeg-turbo (see
//! `benches/video_encode.rs`): 4:2:0 chroma like libjpeg, but chroma averaged over each
//! 2x2 block (`ChromaSubsamplingMethod::Average`, libjpeg's `h2v2_downsample`) instead of
//! jpeg-encoder's default of taking the top-left sample, which aliases and costs about
//! half a dB; the Annex K quantisation tables libjpeg uses; sequential (baseline) Huffman
//! coding with standard tables, which every decoder, OpenCV included, reads.

use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};

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
    let color = match order {
        PixelOrder::Rgb => ColorType::Rgb,
        PixelOrder::Rgba => ColorType::Rgba,
        PixelOrder::Bgra => ColorType::Bgra,
    };
    enc.encode(data, w, h, color)
        .map_err(|e| EncodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
