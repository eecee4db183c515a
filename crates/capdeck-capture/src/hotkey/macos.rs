//! macOS key state: `CGEventSourceKeyState` on the HID system state (no event tap, nothing
//! consumed). macOS 10.15+ may ask for the "Input Monitoring" permission; without it the
//! keys read as up.

use super::{HotkeyError, KeyProbe, PttKey};

#[link(name = "CoreGraphics", kind = "framework")]
unsafe extern "C" {
    fn CGEventSourceKeyState(state_id: i32, key: u16) -> bool;
}

/// `kCGEventSourceStateHIDSystemState`.
const HID_SYSTEM_STATE: i32 = 1;

/// Reads keys with `CGEventSourceKeyState`.
pub struct MacProbe;

/// The virtual key code (`kVK_*`, physical ANSI positions) of `key`.
fn keycode(key: PttKey) -> u16 {
    const LETTERS: [u16; 26] = [
        0x00, 0x0B, 0x08, 0x02, 0x0E, 0x03, 0x05, 0x04, 0x22, 0x26, 0x28, 0x25, 0x2E, 0x2D, 0x1F,
        0x23, 0x0C, 0x0F, 0x01, 0x11, 0x20, 0x09, 0x0D, 0x07, 0x10, 0x06,
    ];
    const DIGITS: [u16; 10] = [0x1D, 0x12, 0x13, 0x14, 0x15, 0x17, 0x16, 0x1A, 0x1C, 0x19];
    const FKEYS: [u16; 12] = [
        0x7A, 0x78, 0x63, 0x76, 0x60, 0x61, 0x62, 0x64, 0x65, 0x6D, 0x67, 0x6F,
    ];
    match key {
        PttKey::Letter(c) => LETTERS[(c.to_ascii_uppercase() - b'A') as usize % 26],
        PttKey::Digit(d) => DIGITS[d as usize % 10],
        PttKey::F(n) => FKEYS[(n as usize).clamp(1, 12) - 1],
        PttKey::Backquote => 0x32,
        PttKey::CapsLock => 0x39,
        PttKey::RightCtrl => 0x3E,
        PttKey::RightAlt => 0x3D,
        PttKey::LeftAlt => 0x3A,
    }
}

impl KeyProbe for MacProbe {
    fn is_down(&mut self, key: PttKey) -> Result<bool, HotkeyError> {
        // SAFETY: a plain CoreGraphics call with integer arguments.
        Ok(unsafe { CGEventSourceKeyState(HID_SYSTEM_STATE, keycode(key)) })
    }

    fn describe(&self) -> String {
        "CGEventSourceKeyState".into()
    }
}
