//! Decodes the JPEG that was sent back to pixels, off the UI thread, for the preview of
//! exactly what the host receives. Bounded: one pending JPEG; a newer one replaces it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;

/// A decoded preview frame.
#[derive(Clone)]
pub struct Preview {
    /// Sequence number of the frame it shows.
    pub seq: u64,
    /// Decoded image.
    pub image: Arc<egui::ColorImage>,
    /// Encoded size in bytes.
    pub jpeg_bytes: usize,
}

/// The decoder thread and its output slot.
pub struct PreviewDecoder {
    tx: Option<SyncSender<(u64, Bytes)>>,
    out: Arc<Mutex<Option<Preview>>>,
    thread: Option<JoinHandle<()>>,
    /// Whether anyone looks: a minimised or hidden window decodes nothing.
    wanted: AtomicBool,
}

impl PreviewDecoder {
    /// Starts the decoder thread; `waker` is asked to repaint after each decode.
    pub fn spawn(waker: Option<egui::Context>) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<(u64, Bytes)>(1);
        let out = Arc::new(Mutex::new(None));
        let out2 = out.clone();
        let thread = std::thread::Builder::new()
            .name("capdeck-preview-decode".into())
            .spawn(move || {
                while let Ok((seq, jpeg)) = rx.recv() {
                    match decode(&jpeg) {
                        Ok(image) => {
                            if let Ok(mut g) = out2.lock() {
                                *g = Some(Preview {
                                    seq,
                                    image: Arc::new(image),
                                    jpeg_bytes: jpeg.len(),
                                });
                            }
                            if let Some(w) = &waker {
                                w.request_repaint();
                            }
                        }
                        Err(e) => tracing::warn!(seq, "preview: cannot decode the sent JPEG: {e}"),
                    }
                }
            })?;
        Ok(Self {
            tx: Some(tx),
            out,
            thread: Some(thread),
            wanted: AtomicBool::new(true),
        })
    }

    /// Whether the preview is on screen; while not, offered JPEGs are not decoded.
    pub fn set_wanted(&self, on: bool) {
        self.wanted.store(on, Ordering::Relaxed);
    }

    /// Offers a JPEG; dropped if the decoder is still busy with the previous one, or if
    /// nobody looks.
    pub fn offer(&self, seq: u64, jpeg: Bytes) {
        if !self.wanted.load(Ordering::Relaxed) {
            return;
        }
        if let Some(tx) = &self.tx {
            match tx.try_send((seq, jpeg)) {
                Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// The latest decoded preview.
    pub fn latest(&self) -> Option<Preview> {
        self.out.lock().ok().and_then(|g| g.clone())
    }
}

impl Drop for PreviewDecoder {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Largest preview accepted (pixels), so a corrupt header cannot ask for gigabytes.
const MAX_PIXELS: usize = 7680 * 4320;

/// Decodes a baseline JPEG to an egui image.
pub fn decode(jpeg: &[u8]) -> Result<egui::ColorImage, String> {
    let mut d = jpeg_decoder::Decoder::new(jpeg);
    d.read_info().map_err(|e| e.to_string())?;
    let info = d.info().ok_or("no JPEG header")?;
    let (w, h) = (info.width as usize, info.height as usize);
    if w * h > MAX_PIXELS {
        return Err(format!("{w}x{h} is larger than the preview accepts"));
    }
    let px = d.decode().map_err(|e| e.to_string())?;
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 if px.len() >= w * h * 3 => {
            Ok(egui::ColorImage::from_rgb([w, h], &px[..w * h * 3]))
        }
        jpeg_decoder::PixelFormat::L8 if px.len() >= w * h => {
            Ok(egui::ColorImage::from_gray([w, h], &px[..w * h]))
        }
        other => Err(format!("unsupported JPEG pixel format {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_what_jpeg_encoder_wrote_and_refuses_garbage() {
        let (w, h) = (32u16, 16u16);
        let rgb: Vec<u8> = (0..w as usize * h as usize)
            .flat_map(|i| [(i % 256) as u8, 128, 30])
            .collect();
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 80)
            .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let img = super::decode(&out).unwrap();
        assert_eq!(img.size, [32, 16]);
        assert!(super::decode(b"not a jpeg").is_err());
        // a truncated JPEG must give an error or a partial image, never a panic
        let _ = super::decode(&out[..out.len() / 2]);
    }
}
