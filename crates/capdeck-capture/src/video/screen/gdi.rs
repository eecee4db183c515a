//! Windows screens through GDI (BitBlt from the desktop's device context), for the systems
//! where Windows Graphics Capture is missing: before Windows 10 1903, some remote sessions,
//! Wine. Chosen by `screen/mod.rs` when scap says capture is unsupported, and named in the
//! source's description ("GDI"), so the operator sees which path runs.
//!
//! Each `grab` copies the monitor's rectangle into a DIB section made once (top-down BGRA)
//! and hands the pixels over in a pooled buffer: one BitBlt and one copy per frame, nothing
//! allocated once the pool is warm. The cursor is not drawn (BitBlt does not capture it).
//! Windows' own windows stay on scap: GDI cannot read a window hidden behind another.
//!
//! Run under Wine in CI (tests/wine: the Wine desktop reaches the pyzmq host as JPEG).

use std::ffi::c_void;
use std::sync::Arc;
use std::time::Instant;

use windows_sys::Win32::Foundation::{LPARAM, RECT, TRUE};
use windows_sys::Win32::Graphics::Gdi::{
    BI_RGB, BITMAPINFO, BITMAPINFOHEADER, BitBlt, CAPTUREBLT, CreateCompatibleDC, CreateDIBSection,
    DIB_RGB_COLORS, DeleteDC, DeleteObject, EnumDisplayMonitors, GdiFlush, GetDC, GetMonitorInfoW,
    HBITMAP, HDC, HGDIOBJ, HMONITOR, MONITORINFO, MONITORINFOEXW, ReleaseDC, SRCCOPY, SelectObject,
};

use super::ScreenInfo;
use crate::video::VideoError;
use crate::video::bufpool::BufPool;
use crate::video::frame::{PixelFormat, RawFrame};
use crate::video::source::{Clocking, FrameSource, SourceError};

/// One monitor as GDI sees it: its rectangle on the virtual desktop.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Monitor {
    name: String,
    left: i32,
    top: i32,
    width: u32,
    height: u32,
    primary: bool,
}

unsafe extern "system" fn collect(m: HMONITOR, _: HDC, _: *mut RECT, out: LPARAM) -> i32 {
    // SAFETY: `out` is the `&mut Vec<Monitor>` that `monitors` passed and keeps alive
    // for the whole (synchronous) enumeration.
    let list = unsafe { &mut *(out as *mut Vec<Monitor>) };
    // SAFETY: a zeroed MONITORINFOEXW is valid; cbSize says which struct it is.
    let mut info: MONITORINFOEXW = unsafe { std::mem::zeroed() };
    info.monitorInfo.cbSize = std::mem::size_of::<MONITORINFOEXW>() as u32;
    // SAFETY: `m` comes from EnumDisplayMonitors; `info` is a live MONITORINFOEXW.
    if unsafe { GetMonitorInfoW(m, (&raw mut info).cast::<MONITORINFO>()) } != 0 {
        let r = info.monitorInfo.rcMonitor;
        let end = info.szDevice.iter().position(|&c| c == 0).unwrap_or(32);
        list.push(Monitor {
            name: String::from_utf16_lossy(&info.szDevice[..end]),
            left: r.left,
            top: r.top,
            width: u32::try_from(r.right - r.left).unwrap_or(0),
            height: u32::try_from(r.bottom - r.top).unwrap_or(0),
            primary: info.monitorInfo.dwFlags & 1 != 0, // MONITORINFOF_PRIMARY
        });
    }
    TRUE
}

/// The monitors, the primary one first (so `screen:0` is the primary screen).
fn monitors() -> Vec<Monitor> {
    let mut list: Vec<Monitor> = Vec::new();
    // SAFETY: the callback only writes into `list`, which outlives the call.
    unsafe {
        EnumDisplayMonitors(
            std::ptr::null_mut(),
            std::ptr::null(),
            Some(collect),
            (&raw mut list) as LPARAM,
        );
    }
    list.retain(|m| m.width > 0 && m.height > 0);
    list.sort_by_key(|m| !m.primary);
    list
}

pub fn screens() -> Result<Vec<ScreenInfo>, VideoError> {
    Ok(monitors()
        .into_iter()
        .enumerate()
        .map(|(index, m)| ScreenInfo {
            index,
            name: format!("{} (GDI)", m.name),
            width: m.width,
            height: m.height,
            primary: m.primary,
        })
        .collect())
}

/// The desktop's DC and a memory DC holding a top-down BGRA DIB section of one monitor's
/// size; released on drop.
struct Canvas {
    screen: HDC,
    mem: HDC,
    bitmap: HBITMAP,
    old: HGDIOBJ,
    bits: *mut c_void,
    width: u32,
    height: u32,
}

// SAFETY: GDI handles may be used from any thread; the canvas is used by one at a time
// (the pipeline's), and `bits` points into the DIB section the canvas owns.
unsafe impl Send for Canvas {}

impl Canvas {
    fn new(width: u32, height: u32) -> Result<Self, SourceError> {
        let fail = |what: &str| SourceError::Fatal(format!("GDI screen capture: {what} failed"));
        // SAFETY: plain GDI calls; every handle made here is released in Drop (or below
        // when a later step fails).
        unsafe {
            let screen = GetDC(std::ptr::null_mut());
            if screen.is_null() {
                return Err(fail("GetDC"));
            }
            let mem = CreateCompatibleDC(screen);
            if mem.is_null() {
                ReleaseDC(std::ptr::null_mut(), screen);
                return Err(fail("CreateCompatibleDC"));
            }
            let mut info: BITMAPINFO = std::mem::zeroed();
            info.bmiHeader = BITMAPINFOHEADER {
                biSize: std::mem::size_of::<BITMAPINFOHEADER>() as u32,
                biWidth: width as i32,
                biHeight: -(height as i32), // negative: rows top to bottom
                biPlanes: 1,
                biBitCount: 32,
                biCompression: BI_RGB,
                ..std::mem::zeroed()
            };
            let mut bits: *mut c_void = std::ptr::null_mut();
            let bitmap = CreateDIBSection(
                mem,
                &info,
                DIB_RGB_COLORS,
                &mut bits,
                std::ptr::null_mut(),
                0,
            );
            if bitmap.is_null() || bits.is_null() {
                DeleteDC(mem);
                ReleaseDC(std::ptr::null_mut(), screen);
                return Err(fail("CreateDIBSection"));
            }
            let old = SelectObject(mem, bitmap);
            Ok(Self {
                screen,
                mem,
                bitmap,
                old,
                bits,
                width,
                height,
            })
        }
    }

    /// Copies the desktop's rectangle at `(left, top)` into the DIB section.
    fn blit(&self, left: i32, top: i32) -> bool {
        // SAFETY: both DCs are live; the DIB section holds width x height pixels.
        unsafe {
            let ok = BitBlt(
                self.mem,
                0,
                0,
                self.width as i32,
                self.height as i32,
                self.screen,
                left,
                top,
                SRCCOPY | CAPTUREBLT,
            ) != 0;
            GdiFlush();
            ok
        }
    }

    fn pixels(&self) -> &[u8] {
        // SAFETY: the DIB section is width * height * 4 bytes, alive as long as self,
        // and GDI is done writing it (GdiFlush after BitBlt).
        unsafe {
            std::slice::from_raw_parts(
                self.bits.cast::<u8>(),
                self.width as usize * self.height as usize * 4,
            )
        }
    }
}

impl Drop for Canvas {
    fn drop(&mut self) {
        // SAFETY: the handles were made in `new` and are released once.
        unsafe {
            SelectObject(self.mem, self.old);
            DeleteObject(self.bitmap);
            DeleteDC(self.mem);
            ReleaseDC(std::ptr::null_mut(), self.screen);
        }
    }
}

pub fn open_screen(index: Option<usize>, why: &str) -> Result<Box<dyn FrameSource>, VideoError> {
    let i = index.unwrap_or(0);
    let all = monitors();
    let n = all.len();
    let monitor = all
        .into_iter()
        .nth(i)
        .ok_or_else(|| VideoError::NotFound(format!("no screen {i}: {n} screen(s) found")))?;
    let canvas = Canvas::new(monitor.width, monitor.height)
        .map_err(|e| VideoError::Backend(e.to_string()))?;
    let desc = format!(
        "screen {i} ({}x{}, GDI: {why})",
        monitor.width, monitor.height
    );
    tracing::info!("{desc}");
    Ok(Box::new(GdiSource {
        index: i,
        monitor,
        canvas,
        pool: BufPool::new(4),
        desc,
    }))
}

struct GdiSource {
    index: usize,
    monitor: Monitor,
    canvas: Canvas,
    pool: Arc<BufPool>,
    desc: String,
}

impl FrameSource for GdiSource {
    fn describe(&self) -> String {
        self.desc.clone()
    }

    fn clocking(&self) -> Clocking {
        Clocking::OnDemand
    }

    fn grab(&mut self, _want: (u32, u32)) -> Result<RawFrame, SourceError> {
        let started = Instant::now();
        if !self.canvas.blit(self.monitor.left, self.monitor.top) {
            return Err(SourceError::Gone(
                "GDI could not read the screen (locked, or the display changed)".into(),
            ));
        }
        let mut buf = self.pool.take();
        buf.clear();
        buf.extend_from_slice(self.canvas.pixels());
        let (w, h) = (self.canvas.width, self.canvas.height);
        let mut frame = RawFrame::new(
            w,
            h,
            w as usize * 4,
            PixelFormat::Bgra,
            self.pool.freeze(buf),
        )
        .map_err(|e| SourceError::Fatal(format!("GDI frame: {e}")))?;
        frame.capture_us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        Ok(frame)
    }

    fn recover(&mut self) -> Result<(), SourceError> {
        // the display may have changed: find the monitor again, at its new size
        let m = monitors().into_iter().nth(self.index).ok_or_else(|| {
            SourceError::Gone(format!("waiting for screen {} to come back", self.index))
        })?;
        if m.width != self.canvas.width || m.height != self.canvas.height {
            self.canvas = Canvas::new(m.width, m.height)?;
        }
        self.monitor = m;
        Ok(())
    }
}
