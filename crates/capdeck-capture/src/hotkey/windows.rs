//! Windows key state: `GetAsyncKeyState` (the physical state, whatever window has focus).
//! No hook and no `RegisterHotKey`: the game still receives the key. A game running
//! elevated hides its input from a non-elevated process (UIPI): run capdeck alike.
//!
//! Under Wine (the CI's Windows run) the key state comes from the X events Wine's own
//! windows receive, so a key pressed while another X client has focus is not seen there;
//! on Windows itself GetAsyncKeyState is global. This is from Wine's documented design, not
//! measured here: the push-to-talk key has no headless path to drive it under Wine.

use super::{HotkeyError, KeyProbe, PttKey};
use windows_sys::Win32::UI::Input::KeyboardAndMouse::GetAsyncKeyState;

/// Reads keys with `GetAsyncKeyState`.
pub struct WinProbe;

/// The virtual-key code of `key`.
fn vk(key: PttKey) -> i32 {
    match key {
        PttKey::Letter(c) => c.to_ascii_uppercase() as i32, // VK_A.. = 'A'..
        PttKey::Digit(d) => 0x30 + d as i32,                // VK_0.. = '0'..
        PttKey::F(n) => 0x70 + (n as i32 - 1),              // VK_F1
        PttKey::Backquote => 0xC0,                          // VK_OEM_3 (US layout)
        PttKey::CapsLock => 0x14,                           // VK_CAPITAL
        PttKey::RightCtrl => 0xA3,                          // VK_RCONTROL
        PttKey::RightAlt => 0xA5,                           // VK_RMENU
        PttKey::LeftAlt => 0xA4,                            // VK_LMENU
    }
}

impl KeyProbe for WinProbe {
    fn is_down(&mut self, key: PttKey) -> Result<bool, HotkeyError> {
        // SAFETY: a plain Win32 call with an integer argument.
        let s = unsafe { GetAsyncKeyState(vk(key)) };
        Ok((s as u16) & 0x8000 != 0)
    }

    fn describe(&self) -> String {
        "GetAsyncKeyState".into()
    }
}
