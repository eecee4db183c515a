//! Global push-to-talk key: watched on its own thread while any application (a game) has
//! focus, feeding press and release edges into a [`PttState`] that the audio worker's gate
//! reads lock-free ([`crate::audio::gate`]).
//!
//! Why polling the key state, not a hotkey crate: for a game the key must **not** be
//! swallowed and we need press **and** release. `global-hotkey` (tauri) registers
//! system hotkeys (`RegisterHotKey` on Windows, `XGrabKey` on X11, `RegisterEventHotKey`
//! on macOS): all three deliver the key to us *instead of* the focused window, so the game
//! no longer sees it, an X11 grab fails when another client holds it, and it needs an event
//! loop on the registering (macOS: main) thread. `rdev` installs low-level hooks (XRecord
//! linked through libX11/libXtst, an accessibility-permission event tap on macOS) and has not
//! been released since 2023. `device_query` polls like we do but links libX11 through the
//! `x11` crate. Reading the key state is what those do underneath and is a few lines per
//! platform with what is already in the dependency tree: X11 `QueryKeymap` over `x11rb`
//! (winit's own X11 crate), `GetAsyncKeyState` on Windows (`windows-sys`), and
//! `CGEventSourceKeyState` from CoreGraphics on macOS. None of them grabs or consumes the
//! key. Cost: one cheap request every [`POLL`] (5 ms), only while push-to-talk is enabled;
//! the pre-roll more than covers the polling latency.
//!
//! Limits: Wayland gives no global key state to clients (X11 apps under XWayland only see
//! XWayland keys): the app falls back to the key while its own window has focus. On Windows
//! a game running elevated hides its keys from a non-elevated capdeck (UIPI). On macOS the
//! key state may need the "Input Monitoring" permission.

use crate::audio::PttState;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "windows")]
mod windows;
#[cfg(target_os = "linux")]
pub mod x11;

/// How often the key state is read while push-to-talk is enabled.
pub const POLL: Duration = Duration::from_millis(5);
/// Retry period after the key state cannot be read (display gone, ...).
pub const RETRY: Duration = Duration::from_secs(2);

/// Keys offered for push-to-talk (physical keys, US names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PttKey {
    /// A letter key A..Z (uppercase ASCII).
    Letter(u8),
    /// A digit key 0..9 on the main row.
    Digit(u8),
    /// F1..F12.
    F(u8),
    /// The key left of 1 (`` ` ``).
    Backquote,
    /// Caps Lock.
    CapsLock,
    /// Right Ctrl.
    RightCtrl,
    /// Right Alt (Option on macOS, AltGr on some layouts).
    RightAlt,
    /// Left Alt.
    LeftAlt,
}

impl PttKey {
    /// Every key offered, in menu order.
    pub fn all() -> Vec<PttKey> {
        let mut v: Vec<PttKey> = (1..=12).map(PttKey::F).collect();
        v.extend([
            PttKey::Backquote,
            PttKey::CapsLock,
            PttKey::RightCtrl,
            PttKey::RightAlt,
            PttKey::LeftAlt,
        ]);
        v.extend((b'A'..=b'Z').map(PttKey::Letter));
        v.extend((0..=9).map(PttKey::Digit));
        v
    }

    /// Index in [`Self::all`] (stored in an atomic for the poller).
    fn index(self) -> u8 {
        Self::all().iter().position(|k| *k == self).unwrap_or(0) as u8
    }

    fn from_index(i: u8) -> PttKey {
        Self::all().get(i as usize).copied().unwrap_or(PttKey::F(8))
    }
}

impl Default for PttKey {
    /// F8: rarely bound in games, never typed.
    fn default() -> Self {
        PttKey::F(8)
    }
}

impl fmt::Display for PttKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PttKey::Letter(c) => write!(f, "{}", *c as char),
            PttKey::Digit(d) => write!(f, "{d}"),
            PttKey::F(n) => write!(f, "F{n}"),
            PttKey::Backquote => write!(f, "Backquote"),
            PttKey::CapsLock => write!(f, "CapsLock"),
            PttKey::RightCtrl => write!(f, "RightCtrl"),
            PttKey::RightAlt => write!(f, "RightAlt"),
            PttKey::LeftAlt => write!(f, "LeftAlt"),
        }
    }
}

/// Error parsing a [`PttKey`] name.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown push-to-talk key {0:?} (F1..F12, A..Z, 0..9, Backquote, CapsLock, RightCtrl, RightAlt, LeftAlt)"
)]
pub struct ParsePttKeyError(String);

impl std::str::FromStr for PttKey {
    type Err = ParsePttKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::all()
            .into_iter()
            .find(|k| k.to_string().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParsePttKeyError(s.to_owned()))
    }
}

/// Errors reading the global key state.
#[derive(Debug, thiserror::Error)]
pub enum HotkeyError {
    /// No global key state on this platform or session (e.g. Wayland, no DISPLAY).
    #[error("global push-to-talk key unavailable: {0}")]
    Unavailable(String),
    /// The key has no key code on this keyboard layout.
    #[error("key {0} is not on this keyboard")]
    NoSuchKey(PttKey),
    /// Reading the state failed (e.g. the display connection was lost).
    #[error("reading the key state failed: {0}")]
    Io(String),
    /// The thread could not be spawned.
    #[error("cannot spawn the push-to-talk thread: {0}")]
    Thread(String),
}

/// Reads whether a key is held now, whatever window has focus. Never grabs the key.
pub trait KeyProbe: Send {
    /// Whether `key` is down now.
    fn is_down(&mut self, key: PttKey) -> Result<bool, HotkeyError>;
    /// What reads the keys ("X11 :0", "GetAsyncKeyState", ...).
    fn describe(&self) -> String;
}

/// Opens this platform's key-state probe.
pub fn open_probe() -> Result<Box<dyn KeyProbe>, HotkeyError> {
    #[cfg(target_os = "linux")]
    {
        x11::X11Probe::open(None).map(|p| Box::new(p) as Box<dyn KeyProbe>)
    }
    #[cfg(target_os = "windows")]
    {
        Ok(Box::new(windows::WinProbe))
    }
    #[cfg(target_os = "macos")]
    {
        Ok(Box::new(macos::MacProbe))
    }
    #[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
    {
        Err(HotkeyError::Unavailable("unsupported platform".into()))
    }
}

/// State of the poller, for the UI.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum HotkeyStatus {
    /// Not started yet or push-to-talk off.
    #[default]
    Idle,
    /// Watching the key globally, with what reads it.
    Watching(String),
    /// No global key: only the capdeck window's own key events count; the reason.
    WindowOnly(String),
}

struct Shared {
    stop: AtomicBool,
    key: AtomicU8,
    /// The key as the capdeck window itself sees it (fallback, and where no global state).
    window: AtomicBool,
    status: Mutex<HotkeyStatus>,
}

/// The `capdeck-ptt` thread: polls the chosen key while push-to-talk is enabled and records
/// press/release edges (wall-clock stamped) into the [`PttState`]. Stops on drop.
pub struct PttHotkey {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Unix time now in µs (the clock the audio chunks' `ts` use).
pub fn unix_now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl PttHotkey {
    /// Starts the poller with this platform's probe (opened on the thread, retried every
    /// [`RETRY`] while it fails).
    pub fn start(state: Arc<PttState>, key: PttKey) -> Result<Self, HotkeyError> {
        Self::start_with(state, key, Box::new(open_probe))
    }

    /// Starts the poller with a probe factory (tests: a probe on a chosen display).
    pub fn start_with(
        state: Arc<PttState>,
        key: PttKey,
        open: Box<dyn FnMut() -> Result<Box<dyn KeyProbe>, HotkeyError> + Send>,
    ) -> Result<Self, HotkeyError> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            key: AtomicU8::new(key.index()),
            window: AtomicBool::new(false),
            status: Mutex::new(HotkeyStatus::Idle),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("capdeck-ptt".into())
            .spawn(move || poll_loop(&sh, &state, open))
            .map_err(|e| HotkeyError::Thread(e.to_string()))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Changes the key (the state is released if the old key was held).
    pub fn set_key(&self, key: PttKey) {
        self.shared.key.store(key.index(), Ordering::Relaxed);
    }

    /// Whether the key is held according to the capdeck window's own key events: counts
    /// too (the only source when the global state is unavailable). The poller stays the
    /// one writer of the [`PttState`].
    pub fn set_window_key(&self, down: bool) {
        self.shared.window.store(down, Ordering::Relaxed);
    }

    /// The key watched.
    pub fn key(&self) -> PttKey {
        PttKey::from_index(self.shared.key.load(Ordering::Relaxed))
    }

    /// What the poller is doing.
    pub fn status(&self) -> HotkeyStatus {
        capdeck_util::lock(&self.shared.status).clone()
    }
}

impl Drop for PttHotkey {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn set_status(sh: &Shared, s: HotkeyStatus) {
    if let Ok(mut g) = sh.status.lock()
        && *g != s
    {
        match &s {
            HotkeyStatus::Watching(w) => tracing::info!("push-to-talk key watched via {w}"),
            HotkeyStatus::WindowOnly(why) => tracing::warn!("push-to-talk: {why}"),
            HotkeyStatus::Idle => {}
        }
        *g = s;
    }
}

fn poll_loop(
    sh: &Shared,
    state: &PttState,
    mut open: Box<dyn FnMut() -> Result<Box<dyn KeyProbe>, HotkeyError> + Send>,
) {
    let mut probe: Option<Box<dyn KeyProbe>> = None;
    let mut next_open = std::time::Instant::now();
    let mut last_key = None;
    while !sh.stop.load(Ordering::Relaxed) {
        if !state.enabled() {
            state.set_key(false, unix_now_us());
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        if probe.is_none() && std::time::Instant::now() >= next_open {
            next_open = std::time::Instant::now() + RETRY;
            match open() {
                Ok(p) => {
                    set_status(sh, HotkeyStatus::Watching(p.describe()));
                    probe = Some(p);
                }
                Err(e) => set_status(sh, HotkeyStatus::WindowOnly(e.to_string())),
            }
        }
        let key = PttKey::from_index(sh.key.load(Ordering::Relaxed));
        if last_key != Some(key) {
            last_key = Some(key);
            state.set_key(false, unix_now_us());
            // a new key: a "not on this keyboard" status no longer applies
            if let Some(p) = &probe {
                set_status(sh, HotkeyStatus::Watching(p.describe()));
            }
        }
        let window = sh.window.load(Ordering::Relaxed);
        if let Some(p) = probe.as_mut() {
            match p.is_down(key) {
                Ok(down) => state.set_key(down || window, unix_now_us()),
                Err(e @ HotkeyError::NoSuchKey(_)) => {
                    state.set_key(window, unix_now_us());
                    set_status(sh, HotkeyStatus::WindowOnly(e.to_string()));
                }
                Err(e) => {
                    state.set_key(window, unix_now_us());
                    set_status(sh, HotkeyStatus::WindowOnly(format!("{e}; retrying")));
                    probe = None;
                }
            }
        } else {
            state.set_key(window, unix_now_us());
        }
        std::thread::sleep(POLL);
    }
    state.set_key(false, unix_now_us());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_round_trip() {
        for k in PttKey::all() {
            assert_eq!(k.to_string().parse::<PttKey>().unwrap(), k);
            assert_eq!(PttKey::from_index(k.index()), k);
        }
        assert!("f8".parse::<PttKey>().is_ok());
        assert!("Hyper".parse::<PttKey>().is_err());
    }

    struct Scripted(Arc<AtomicBool>);
    impl KeyProbe for Scripted {
        fn is_down(&mut self, _key: PttKey) -> Result<bool, HotkeyError> {
            Ok(self.0.load(Ordering::Relaxed))
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    fn wait_for(mut f: impl FnMut() -> bool) -> bool {
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < until {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    #[test]
    fn poller_records_press_and_release_edges() {
        let state = Arc::new(PttState::default());
        state.set_enabled(true);
        let key = Arc::new(AtomicBool::new(false));
        let k2 = key.clone();
        let hk = PttHotkey::start_with(
            state.clone(),
            PttKey::F(8),
            Box::new(move || Ok(Box::new(Scripted(k2.clone())) as Box<dyn KeyProbe>)),
        )
        .unwrap();
        assert!(wait_for(
            || hk.status() == HotkeyStatus::Watching("scripted".into())
        ));
        let mut cur = state.edge_count();
        key.store(true, Ordering::Relaxed);
        assert!(wait_for(|| state.key_down()));
        key.store(false, Ordering::Relaxed);
        assert!(wait_for(|| !state.key_down()));
        let mut edges = Vec::new();
        state.drain_edges(&mut cur, |e| edges.push(e));
        assert_eq!(edges.len(), 2);
        assert!(edges[0].down && !edges[1].down);
        assert!(edges[0].at_us <= edges[1].at_us);
        // disabling releases
        key.store(true, Ordering::Relaxed);
        assert!(wait_for(|| state.key_down()));
        state.set_enabled(false);
        assert!(wait_for(|| !state.key_down()));
    }
}
