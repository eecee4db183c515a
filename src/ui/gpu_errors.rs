//! The app's own wgpu error handler. wgpu's default handler panics on any uncaptured
//! validation error (a texture over the device's limit, say), which takes the whole app
//! down; this one logs the error and keeps it for the status bar.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use eframe::wgpu;

use capdeck_util::lock;

/// GPU errors seen since start: shared by the handler and the status bar.
#[derive(Debug, Clone, Default)]
pub struct GpuErrors {
    count: Arc<AtomicU64>,
    last: Arc<Mutex<Option<String>>>,
}

impl GpuErrors {
    /// Installs the handler on `device` (replacing wgpu's panicking default).
    pub fn install(device: &wgpu::Device) -> Self {
        let me = Self::default();
        let handler = me.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| handler.record(&e)));
        me
    }

    fn record(&self, e: &wgpu::Error) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        // wgpu's text is "Validation Error", then the cause chain, most specific last.
        let text = e.to_string();
        let last = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("unknown error")
            .to_owned();
        // An error in every frame would flood the log: the first ten, then every 1000th.
        if n <= 10 || n.is_multiple_of(1000) {
            tracing::error!("GPU error #{n} (the app goes on): {text}");
        }
        *lock(&self.last) = Some(last);
    }

    /// Errors so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The most specific line of the last error.
    pub fn last(&self) -> Option<String> {
        lock(&self.last).clone()
    }
}
