//! Windows resources for `capdeck.exe`: the icon (`assets/icon/capdeck.ico`) and the version
//! information Explorer shows (product, version, description), compiled with MinGW's
//! `windres` and linked into the binary. Other targets need nothing from this script.
//!
//! Why by hand: a resource script is ten lines and `windres` ships with the MinGW toolchain
//! CI cross-builds with; a crate for it would be one more build dependency for every target.
//! MSVC builds (not made by CI or the release workflow, which use MinGW) get no resources and
//! a build warning.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=assets/icon/capdeck.ico");
    println!("cargo:rerun-if-env-changed=WINDRES");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let abi = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "windows" {
        return;
    }
    if abi != "gnu" {
        println!("cargo:warning=no icon or version resource: only MinGW builds embed them");
        return;
    }
    if let Err(e) = embed_resources() {
        // A binary without an icon still works: say so, do not fail the build.
        println!("cargo:warning=no icon or version resource: {e}");
    }
}

fn embed_resources() -> Result<(), String> {
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let version = env::var("CARGO_PKG_VERSION").map_err(|e| e.to_string())?;
    let mut nums: Vec<u16> = version
        .split(['.', '-', '+'])
        .take(3)
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    nums.resize(4, 0);
    let commas = nums
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let icon = root.join("assets/icon/capdeck.ico");
    let icon = icon.to_string_lossy().replace('\\', "/");
    let rc = format!(
        r#"#include <winver.h>
1 ICON "{icon}"
1 VERSIONINFO
FILEVERSION {commas}
PRODUCTVERSION {commas}
FILEOS VOS_NT_WINDOWS32
FILETYPE VFT_APP
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904B0"
    BEGIN
      VALUE "CompanyName", "capdeck"
      VALUE "FileDescription", "capdeck: desktop capture and live analysis"
      VALUE "FileVersion", "{version}"
      VALUE "InternalName", "capdeck"
      VALUE "LegalCopyright", "MIT OR Apache-2.0"
      VALUE "OriginalFilename", "capdeck.exe"
      VALUE "ProductName", "capdeck"
      VALUE "ProductVersion", "{version}"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"#
    );
    let rc_path = out.join("capdeck.rc");
    std::fs::write(&rc_path, rc).map_err(|e| format!("writing {}: {e}", rc_path.display()))?;
    let obj = out.join("capdeck-resources.o");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let windres = env::var("WINDRES").unwrap_or_else(|_| format!("{arch}-w64-mingw32-windres"));
    let status = Command::new(&windres)
        .arg("--input")
        .arg(&rc_path)
        .arg("--output")
        .arg(&obj)
        .args(["--output-format", "coff"])
        .status()
        .map_err(|e| format!("cannot run {windres}: {e} (set WINDRES)"))?;
    if !status.success() {
        return Err(format!("{windres} failed: {status}"));
    }
    println!("cargo:rustc-link-arg-bins={}", obj.display());
    Ok(())
}
