//! Raw frames as sources deliver them: pixel format, size and row stride, validated once
//! so every later stage can index without checks failing.

use std::time::Instant;

use bytes::Bytes;

/// Largest accepted side of a source frame (8K plus margin); larger frames are refused.
pub const MAX_SIDE: u32 = 16_384;

/// Pixel layout of a [`RawFrame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PixelFormat {
    /// 4 bytes per pixel: blue, green, red, alpha (ignored). Windows/macOS screens.
    Bgra,
    /// 4 bytes per pixel: red, green, blue, alpha (ignored). xcap.
    Rgba,
    /// 3 bytes per pixel: red, green, blue.
    Rgb,
    /// Packed 4:2:2, `Y0 U Y1 V` per pixel pair (BT.601, limited range). Webcams.
    Yuyv,
    /// Planar 4:2:0: a Y plane then an interleaved UV plane at half size, both with
    /// `stride` bytes per row (BT.601, limited range). Webcams.
    Nv12,
    /// One JPEG image (the stride is ignored). Webcams.
    Mjpeg,
}

impl PixelFormat {
    /// Bytes per pixel in the first (or only) plane; 0 for compressed formats.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Bgra | Self::Rgba => 4,
            Self::Rgb => 3,
            Self::Yuyv => 2,
            Self::Nv12 => 1,
            Self::Mjpeg => 0,
        }
    }
}

/// A frame is inconsistent with its declared layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Zero or oversized dimensions.
    #[error("bad frame size {width}x{height} (each side 1..={MAX_SIDE})")]
    BadSize {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// Stride shorter than a row of pixels.
    #[error("row stride {stride} is shorter than {min} bytes for {format:?} at width {width}")]
    BadStride {
        /// Declared stride.
        stride: usize,
        /// Minimum stride.
        min: usize,
        /// Declared width.
        width: u32,
        /// Declared format.
        format: PixelFormat,
    },
    /// Fewer bytes than the layout needs.
    #[error("frame has {len} bytes, {format:?} {width}x{height} needs {need}")]
    Truncated {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        need: usize,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Declared format.
        format: PixelFormat,
    },
}

/// One uncompressed (or MJPEG) frame from a source.
#[derive(Debug, Clone)]
pub struct RawFrame {
    width: u32,
    height: u32,
    stride: usize,
    format: PixelFormat,
    data: Bytes,
    /// When the source delivered the frame.
    pub captured_at: Instant,
    /// Unix time in milliseconds when the source delivered the frame.
    pub ts_ms: u64,
    /// Microseconds the source spent producing it.
    pub capture_us: u32,
}

impl RawFrame {
    /// Validates the layout. `stride` is bytes per row (of the Y plane for NV12; ignored
    /// for MJPEG). Extra bytes after the last row are allowed.
    pub fn new(
        width: u32,
        height: u32,
        stride: usize,
        format: PixelFormat,
        data: impl Into<Bytes>,
    ) -> Result<Self, FrameError> {
        let data = data.into();
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(FrameError::BadSize { width, height });
        }
        let (w, h) = (width as usize, height as usize);
        let need = match format {
            PixelFormat::Mjpeg => 2,
            _ => {
                let min = match format {
                    // YUYV rows hold whole pixel pairs.
                    PixelFormat::Yuyv => w.div_ceil(2) * 4,
                    f => w * f.bytes_per_pixel(),
                };
                if stride < min {
                    return Err(FrameError::BadStride {
                        stride,
                        min,
                        width,
                        format,
                    });
                }
                match format {
                    PixelFormat::Nv12 => {
                        // Y plane, then h/2 rows of interleaved UV (w rounded up to even).
                        let uv_min = w.div_ceil(2) * 2;
                        if stride < uv_min {
                            return Err(FrameError::BadStride {
                                stride,
                                min: uv_min,
                                width,
                                format,
                            });
                        }
                        stride * h + stride * (h.div_ceil(2) - 1) + uv_min
                    }
                    _ => stride * (h - 1) + min,
                }
            }
        };
        if data.len() < need {
            return Err(FrameError::Truncated {
                len: data.len(),
                need,
                width,
                height,
                format,
            });
        }
        Ok(Self {
            width,
            height,
            stride,
            format,
            data,
            captured_at: Instant::now(),
            ts_ms: crate::video::unix_ms(),
            capture_us: 0,
        })
    }

    /// Packed frame (stride = width × bytes per pixel).
    pub fn packed(
        width: u32,
        height: u32,
        format: PixelFormat,
        data: impl Into<Bytes>,
    ) -> Result<Self, FrameError> {
        let stride = match format {
            PixelFormat::Yuyv => (width as usize).div_ceil(2) * 4,
            PixelFormat::Nv12 => (width as usize).div_ceil(2) * 2,
            f => width as usize * f.bytes_per_pixel(),
        };
        Self::new(width, height, stride, format, data)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Bytes per row.
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Pixel layout.
    pub fn format(&self) -> PixelFormat {
        self.format
    }
    /// The bytes, at least as many as the layout needs.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    /// The shared bytes (MJPEG passthrough hands them on without a copy).
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }
    /// Whether rows are contiguous (no padding between them).
    pub fn is_packed(&self) -> bool {
        self.format == PixelFormat::Mjpeg
            || self.stride == self.width as usize * self.format.bytes_per_pixel()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_layouts() {
        assert!(RawFrame::packed(4, 2, PixelFormat::Rgba, vec![0; 32]).is_ok());
        assert!(matches!(
            RawFrame::packed(4, 2, PixelFormat::Rgba, vec![0; 31]),
            Err(FrameError::Truncated { need: 32, .. })
        ));
        assert!(matches!(
            RawFrame::new(4, 2, 15, PixelFormat::Rgba, vec![0; 64]),
            Err(FrameError::BadStride { .. })
        ));
        // Padded stride: last row needs only width bytes.
        assert!(RawFrame::new(4, 2, 20, PixelFormat::Bgra, vec![0; 36]).is_ok());
        assert!(matches!(
            RawFrame::packed(0, 2, PixelFormat::Rgb, vec![]),
            Err(FrameError::BadSize { .. })
        ));
        // NV12 4x4: 16 Y + 8 UV.
        assert!(RawFrame::packed(4, 4, PixelFormat::Nv12, vec![0; 24]).is_ok());
        assert!(RawFrame::packed(4, 4, PixelFormat::Nv12, vec![0; 23]).is_err());
        // YUYV odd width rounds up to a pair.
        assert!(RawFrame::packed(3, 1, PixelFormat::Yuyv, vec![0; 8]).is_ok());
        assert!(RawFrame::packed(3, 1, PixelFormat::Yuyv, vec![0; 7]).is_err());
        assert!(RawFrame::packed(3, 1, PixelFormat::Mjpeg, vec![0; 1]).is_err());
    }
}
