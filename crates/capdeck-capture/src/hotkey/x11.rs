//! X11 key state: `QueryKeymap` (the 256-bit map of keys down) over a private `x11rb`
//! connection. No grab, no event selection: the focused window keeps every key.

use super::{HotkeyError, KeyProbe, PttKey};
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

/// How often the keyboard mapping is re-read (layout changes).
const REMAP: Duration = Duration::from_secs(5);

/// Reads the key state of an X display.
pub struct X11Probe {
    conn: RustConnection,
    name: String,
    mapped: Option<(PttKey, Vec<u8>, Instant)>,
}

/// The keysyms that mean `key` (any of them on a keycode makes it that key).
fn keysyms(key: PttKey) -> Vec<u32> {
    match key {
        PttKey::Letter(c) => vec![c.to_ascii_lowercase() as u32, c.to_ascii_uppercase() as u32],
        PttKey::Digit(d) => vec![0x30 + d as u32],
        PttKey::F(n) => vec![0xffbe + (n as u32 - 1)],
        PttKey::Backquote => vec![0x60],
        PttKey::CapsLock => vec![0xffe5],
        PttKey::RightCtrl => vec![0xffe4],
        // Alt_R, or ISO_Level3_Shift where the layout makes it AltGr
        PttKey::RightAlt => vec![0xffea, 0xfe03],
        PttKey::LeftAlt => vec![0xffe9],
    }
}

fn io(e: impl std::fmt::Display) -> HotkeyError {
    HotkeyError::Io(e.to_string())
}

impl X11Probe {
    /// Connects to `display` (None: `$DISPLAY`).
    pub fn open(display: Option<&str>) -> Result<Self, HotkeyError> {
        let (conn, _) = x11rb::connect(display).map_err(|e| {
            HotkeyError::Unavailable(format!(
                "cannot open X display {}: {e}",
                display
                    .map(str::to_owned)
                    .or_else(|| std::env::var("DISPLAY").ok())
                    .unwrap_or_else(|| "(DISPLAY unset)".into())
            ))
        })?;
        let mut name = format!(
            "X11 {}",
            display
                .map(str::to_owned)
                .or_else(|| std::env::var("DISPLAY").ok())
                .unwrap_or_default()
        );
        if std::env::var_os("WAYLAND_DISPLAY").is_some() {
            name.push_str(" (XWayland: keys typed into Wayland windows are not seen)");
        }
        Ok(Self {
            conn,
            name,
            mapped: None,
        })
    }

    /// The keycodes that carry `key` on the current layout.
    pub fn keycodes(&self, key: PttKey) -> Result<Vec<u8>, HotkeyError> {
        let setup = self.conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let count = max.saturating_sub(min).saturating_add(1);
        let map = self
            .conn
            .get_keyboard_mapping(min, count)
            .map_err(io)?
            .reply()
            .map_err(io)?;
        let per = map.keysyms_per_keycode.max(1) as usize;
        let want = keysyms(key);
        let mut out = Vec::new();
        for (i, syms) in map.keysyms.chunks(per).enumerate() {
            if syms.iter().any(|s| want.contains(s)) {
                out.push(min.saturating_add(i as u8));
            }
        }
        Ok(out)
    }
}

impl KeyProbe for X11Probe {
    fn is_down(&mut self, key: PttKey) -> Result<bool, HotkeyError> {
        let stale = match &self.mapped {
            Some((k, _, at)) => *k != key || at.elapsed() > REMAP,
            None => true,
        };
        if stale {
            let codes = self.keycodes(key)?;
            self.mapped = Some((key, codes, Instant::now()));
        }
        let codes = self
            .mapped
            .as_ref()
            .map(|m| m.1.clone())
            .unwrap_or_default();
        if codes.is_empty() {
            return Err(HotkeyError::NoSuchKey(key));
        }
        let keys = self
            .conn
            .query_keymap()
            .map_err(io)?
            .reply()
            .map_err(io)?
            .keys;
        Ok(codes
            .iter()
            .any(|&c| keys[c as usize / 8] & (1 << (c % 8)) != 0))
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}
