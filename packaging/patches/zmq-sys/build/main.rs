//! Builds libzmq 4.3.5 (vendored by `zeromq-src` 0.3.6) and links it statically.
//!
//! Why capdeck patches zmq-sys: upstream zmq-sys 0.12 pins `zeromq-src` 0.2 (libzmq 4.3.4),
//! which does not compile with MinGW at all, and `zeromq-src` 0.3.6 compiles for
//! `x86_64-pc-windows-gnu` but does not link there. capdeck needs libzmq itself (not the
//! pure-Rust `zeromq` crate) for its PUSH links and receiver: `zeromq` 0.7 has no send
//! high-water mark and no maximum message size. On MinGW targets this script fixes the three
//! gaps `zeromq-src` 0.3.6 leaves (zeromq-src-rs issue #49 and the notes in capdeck's
//! `../shared/notes/platform-facts.md`):
//!
//! 1. `wepoll` (epoll for Windows, which libzmq's I/O thread polls with) is skipped on
//!    `*-gnu`, so `epoll_create1`/`epoll_ctl`/`epoll_wait` are undefined at link time. It is
//!    compiled here, as C, from the copy `zeromq-src` leaves in `OUT_DIR/source/external`.
//! 2. MinGW ships `afunix.h`, so `zeromq-src` turns on the IPC transport, whose Windows code
//!    in 4.3.5 only builds with MSVC. capdeck uses only `tcp://`, so the probe is made to fail
//!    (see [`disable_ipc_probe`]) and IPC stays off.
//! 3. The STL condition variable needs the posix-thread flavour of MinGW's g++; the Win32 one
//!    is Debian's default. `ZMQ_USE_CV_IMPL_WIN32API` (a Windows CONDITION_VARIABLE) is
//!    selected instead; libzmq checks it before the STL one.
//!
//! 4. libstdc++ is linked statically (see [`link_static_libstdcxx`]).
//!
//! Every other target builds exactly as `zeromq-src` builds it.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");
    let target = env::var("TARGET").unwrap_or_default();
    let mingw = target.contains("windows") && target.contains("gnu");
    if mingw {
        append_env(&format!("CXXFLAGS_{}", target.replace('-', "_")), "-DZMQ_USE_CV_IMPL_WIN32API");
        disable_ipc_probe(&target);
        // No `-lstdc++` from cc (that is libstdc++-6.dll): linked statically below.
        env::set_var(format!("CXXSTDLIB_{}", target.replace('-', "_")), "");
    }

    // As upstream zmq-sys: no libsodium (CURVE off); capdeck does not use CURVE.
    zeromq_src::Build::new().with_libsodium(None).build();

    if mingw {
        restore_probe_env(&target);
        let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_default());
        let wepoll = out.join("source/external/wepoll");
        cc::Build::new()
            .cpp(false)
            .warnings(false)
            .file(wepoll.join("wepoll.c"))
            .include(&wepoll)
            .compile("wepoll");
        link_static_libstdcxx(&target);
        println!("cargo:rustc-link-lib=ws2_32");
        println!("cargo:rustc-link-lib=iphlpapi");
    }
}

/// Appends `flag` to the environment variable `name`, which `cc` reads for this build.
fn append_env(name: &str, flag: &str) {
    let value = match env::var(name) {
        Ok(v) if !v.trim().is_empty() => format!("{} {}", v, flag),
        _ => flag.to_string(),
    };
    env::set_var(name, value);
}

/// The variable `zeromq-src`'s C probes read (`has_icp_headers`, `has_strlcpy`): the target's
/// CFLAGS. The libzmq sources themselves are C++ and read CXXFLAGS, so this reaches only the
/// probes. MinGW has no `strlcpy` either, so that probe's answer is unchanged.
fn probe_var(target: &str) -> String {
    format!("CFLAGS_{}", target.replace('-', "_"))
}

/// Makes `zeromq-src`'s "does afunix.h compile" probe fail, so ZMQ_HAVE_IPC is not defined.
fn disable_ipc_probe(target: &str) {
    let name = probe_var(target);
    if let Ok(v) = env::var(&name) {
        env::set_var("CAPDECK_SAVED_PROBE_CFLAGS", v);
    }
    append_env(&name, "-DCAPDECK_NO_IPC_PROBE -include capdeck-no-ipc-probe.h");
}

/// Puts the target's CFLAGS back as they were before [`disable_ipc_probe`], for wepoll.c.
fn restore_probe_env(target: &str) {
    let name = probe_var(target);
    match env::var("CAPDECK_SAVED_PROBE_CFLAGS") {
        Ok(v) => env::set_var(&name, v),
        Err(_) => env::remove_var(&name),
    }
}

/// 4. Links MinGW's libstdc++ statically, so capdeck.exe needs no libstdc++-6.dll beside it:
/// the folder of `libstdc++.a` (asked of the target's g++) is added to the search path.
fn link_static_libstdcxx(target: &str) {
    let arch = target.split('-').next().unwrap_or("x86_64");
    let gxx = env::var(format!("CXX_{}", target.replace('-', "_")))
        .unwrap_or_else(|_| format!("{}-w64-mingw32-g++", arch));
    let out = std::process::Command::new(&gxx)
        .arg("-print-file-name=libstdc++.a")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let path = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_string());
            if let Some(dir) = path.parent().filter(|_| path.is_absolute()) {
                println!("cargo:rustc-link-search=native={}", dir.display());
                println!("cargo:rustc-link-lib=static=stdc++");
                return;
            }
            println!("cargo:warning=libstdc++.a not found by {}; linking it dynamically", gxx);
        }
        _ => println!("cargo:warning=cannot run {}; linking libstdc++ dynamically", gxx),
    }
    println!("cargo:rustc-link-lib=stdc++");
}
