//! Screen and window capture behind [`FrameSource`], one backend per platform:
//!
//! - Linux: xcap (X11 and Wayland). scap's Linux backend needs a PipeWire desktop portal
//!   (no X11), panics without one, and its pipewire version cannot link beside other
//!   users of libpipewire in one binary (see `shared/notes/platform-facts.md`).
//! - Windows and macOS: scap, the team's named crate. It ignores the frame rate on
//!   Windows, which does not matter here: the pipeline paces at the source.
//!
//! Every backend call runs inside [`guarded`](super::source::guarded), so a panicking
//! backend becomes a status, never a crash.

use super::VideoError;
use super::source::FrameSource;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as backend;

#[cfg(any(target_os = "windows", target_os = "macos"))]
mod scap_backend;
#[cfg(any(target_os = "windows", target_os = "macos"))]
use scap_backend as backend;
#[cfg(target_os = "windows")]
mod gdi;

#[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
mod backend {
    use super::*;
    pub const NAME: &str = "none";
    pub fn screens() -> Result<Vec<ScreenInfo>, VideoError> {
        Ok(Vec::new())
    }
    pub fn windows() -> Result<Vec<WindowInfo>, VideoError> {
        Ok(Vec::new())
    }
    pub fn open_screen(_: Option<usize>) -> Result<Box<dyn FrameSource>, VideoError> {
        Err(VideoError::Unsupported(
            "screen capture is not supported on this platform".into(),
        ))
    }
    pub fn open_window(_: &str) -> Result<Box<dyn FrameSource>, VideoError> {
        Err(VideoError::Unsupported(
            "window capture is not supported on this platform".into(),
        ))
    }
}

/// A monitor that can be captured.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScreenInfo {
    /// Index for `screen:N`.
    pub index: usize,
    /// Backend's name for it.
    pub name: String,
    /// Size in pixels.
    pub width: u32,
    /// Size in pixels.
    pub height: u32,
    /// Whether it is the primary monitor (chosen by plain `screen`).
    pub primary: bool,
}

/// A window that can be captured by title.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WindowInfo {
    /// Its title (`window:<title>` matches part of it, ignoring case).
    pub title: String,
    /// The application owning it, when known.
    pub app: String,
    /// Size in pixels.
    pub width: u32,
    /// Size in pixels.
    pub height: u32,
}

/// Which capture backend this build uses for screens and windows.
pub fn backend_name() -> &'static str {
    backend::NAME
}

/// Monitors, in `screen:N` order. Errors say why the backend cannot list them.
pub fn screens() -> Result<Vec<ScreenInfo>, VideoError> {
    #[cfg(target_os = "windows")]
    if scap_backend::graphics_capture_missing().is_some() {
        return gdi::screens();
    }
    backend::screens()
}

/// Capturable windows with a title.
pub fn windows() -> Result<Vec<WindowInfo>, VideoError> {
    backend::windows()
}

/// Opens a monitor (the primary one when `index` is `None`).
pub fn open_screen(index: Option<usize>) -> Result<Box<dyn FrameSource>, VideoError> {
    // without Windows Graphics Capture, GDI (said in the source's description)
    #[cfg(target_os = "windows")]
    if let Some(why) = scap_backend::graphics_capture_missing() {
        return gdi::open_screen(index, &why);
    }
    backend::open_screen(index)
}

/// Opens the window whose title matches `title` (see [`pick_window`]).
pub fn open_window(title: &str) -> Result<Box<dyn FrameSource>, VideoError> {
    backend::open_window(title)
}

/// Chooses among window titles for `window:<query>`: an exact title first, then the
/// first (topmost) title containing the query, ignoring case. Returns the index.
pub fn pick_window<'a>(titles: impl IntoIterator<Item = &'a str>, query: &str) -> Option<usize> {
    let titles: Vec<&str> = titles.into_iter().collect();
    if let Some(i) = titles.iter().position(|t| *t == query) {
        return Some(i);
    }
    let q = query.to_lowercase();
    titles
        .iter()
        .position(|t| !t.is_empty() && t.to_lowercase().contains(&q))
}

/// The "no such window" error, listing what exists.
pub(crate) fn window_not_found(query: &str, titles: &[String]) -> VideoError {
    let mut shown: Vec<&str> = titles
        .iter()
        .map(String::as_str)
        .filter(|t| !t.is_empty())
        .take(12)
        .collect();
    shown.sort_unstable();
    VideoError::NotFound(if shown.is_empty() {
        format!("no window titled {query:?}: no capturable windows found")
    } else {
        format!("no window titled {query:?}; windows: {}", shown.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_matching_prefers_exact_then_substring() {
        let t = ["Game - Launcher", "Game", "notes.txt - Editor"];
        assert_eq!(pick_window(t, "Game"), Some(1));
        assert_eq!(pick_window(t, "game"), Some(0));
        assert_eq!(pick_window(t, "EDITOR"), Some(2));
        assert_eq!(pick_window(t, "nothing"), None);
    }
}
