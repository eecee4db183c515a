//! One app per settings file: the first `capdeck` (no subcommand) listens on a local socket
//! named after its settings file (a named pipe on Windows, an abstract Unix socket on
//! Linux, a socket file in the temporary folder on macOS); a second launch finds it
//! there, asks it to show its window and exits 0. Headless subcommands, `--fresh` runs and
//! `--new-instance` are not affected.
//!
//! The names vanish with the process on Windows and Linux, so a crashed run leaves nothing
//! to take over; a socket file (macOS) that nobody answers on is removed and bound again.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interprocess::local_socket::prelude::*;
use interprocess::local_socket::{
    GenericFilePath, GenericNamespaced, ListenerOptions, Name, Stream,
};

/// How long a second launch waits for the first to answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(3);

/// What a second launch says, and the first's answer.
const SHOW: &str = "show";
const SHOWING: &str = "showing";

/// The first instance's end: requests to show the window, and who to wake for them.
pub struct Instance {
    rx: Mutex<Receiver<()>>,
    waker: Arc<Mutex<Option<egui::Context>>>,
    /// The socket's name, for the log.
    pub name: String,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("name", &self.name)
            .finish()
    }
}

impl Instance {
    /// Wake this context when a second launch asks (the app's, once it exists).
    pub fn set_waker(&self, ctx: egui::Context) {
        *capdeck_util::lock(&self.waker) = Some(ctx);
    }

    /// Whether a second launch asked to show the window since the last call.
    pub fn show_requested(&self) -> bool {
        let rx = capdeck_util::lock(&self.rx);
        let mut any = false;
        while rx.try_recv().is_ok() {
            any = true;
        }
        any
    }
}

/// The outcome of [`claim`].
#[derive(Debug)]
pub enum Claim {
    /// This is the first: it listens.
    First(Instance),
    /// Another one runs and was asked to show its window.
    HandedOver,
    /// Another one holds the name but did not answer (hung?), or the name could not be
    /// used: this one runs on its own, and says why.
    Alone(String),
}

/// The socket name for a settings file (a hash of its path, so any path is a valid name).
fn socket_name(settings: &Path) -> String {
    let h = blake3::hash(settings.as_os_str().to_string_lossy().as_bytes());
    format!("capdeck-{}", &h.to_hex()[..16])
}

fn name_of(base: &str) -> std::io::Result<(Name<'static>, Option<std::path::PathBuf>)> {
    if GenericNamespaced::is_supported() {
        Ok((
            format!("{base}.sock").to_ns_name::<GenericNamespaced>()?,
            None,
        ))
    } else {
        let path = std::env::temp_dir().join(format!("{base}.sock"));
        Ok((path.clone().to_fs_name::<GenericFilePath>()?, Some(path)))
    }
}

/// Becomes the app instance of `settings`, or hands over to the one that is.
///
/// Asks first, then binds: a Windows named pipe may accept a second server of the same
/// name (Wine does, whatever `FILE_FLAG_FIRST_PIPE_INSTANCE` says), so a failed bind is
/// not the only sign of a running instance.
pub fn claim(settings: &Path) -> Claim {
    let base = socket_name(settings);
    let (name, file) = match name_of(&base) {
        Ok(n) => n,
        Err(e) => return Claim::Alone(format!("no single-instance socket ({e})")),
    };
    let first_ask = match ask_to_show(&name) {
        Ok(()) => return Claim::HandedOver,
        Err(why) => why,
    };
    for attempt in 0..2 {
        match ListenerOptions::new().name(name.borrow()).create_sync() {
            Ok(listener) => return Claim::First(listen(listener, base)),
            Err(e) => {
                // a socket file nobody answered on: a crashed run's; take it over once
                if let (Some(f), 0) = (&file, attempt)
                    && f.exists()
                    && std::fs::remove_file(f).is_ok()
                {
                    continue;
                }
                // or one that started between the ask and the bind
                if ask_to_show(&name).is_ok() {
                    return Claim::HandedOver;
                }
                return Claim::Alone(format!(
                    "the single-instance socket {base} is taken ({e}) and nobody answers on it \
                     ({first_ask}): running without the single-instance check"
                ));
            }
        }
    }
    Claim::Alone(format!(
        "could not take over the single-instance socket {base}"
    ))
}

/// Connects to the running instance and asks it to show its window; Ok once it said so.
fn ask_to_show(name: &Name<'_>) -> Result<(), String> {
    let name = name.clone().into_owned();
    let (tx, rx) = sync_channel(1);
    // the exchange on a thread of its own, so a hung first instance cannot hang this one
    let spawned = std::thread::Builder::new()
        .name("capdeck-instance-ask".into())
        .spawn(move || {
            let r = (|| -> std::io::Result<String> {
                let mut s = Stream::connect(name)?;
                s.write_all(format!("{SHOW}\n").as_bytes())?;
                let mut line = String::new();
                BufReader::new(&mut s).read_line(&mut line)?;
                Ok(line.trim().to_owned())
            })();
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start a thread: {e}"));
    }
    match rx.recv_timeout(ANSWER_WAIT) {
        Ok(Ok(answer)) if answer == SHOWING => Ok(()),
        Ok(Ok(other)) => Err(format!("it answered {other:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(RecvTimeoutError::Timeout) => Err(format!("no answer within {ANSWER_WAIT:?}")),
        Err(RecvTimeoutError::Disconnected) => Err("the asking thread ended".into()),
    }
}

/// Serves second launches on a named thread: each `show` is passed on (bounded: a burst
/// of launches shows the window once) and answered.
fn listen(listener: interprocess::local_socket::Listener, name: String) -> Instance {
    let (tx, rx) = sync_channel(1);
    let waker: Arc<Mutex<Option<egui::Context>>> = Arc::default();
    let w = waker.clone();
    let spawned = std::thread::Builder::new()
        .name("capdeck-instance".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let mut conn = match conn {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("single instance: accept failed: {e}");
                        continue;
                    }
                };
                let mut line = String::new();
                // a line of at most 64 bytes: anything else is not a capdeck asking
                let read = std::io::Read::take(BufReader::new(&mut conn), 64).read_line(&mut line);
                if read.is_err() || line.trim() != SHOW {
                    tracing::warn!("single instance: ignored {:?}", line.trim());
                    continue;
                }
                tracing::info!("a second launch asked to show the window");
                // full: a request is pending already
                let _ = tx.try_send(());
                if let Some(ctx) = capdeck_util::lock(&w).as_ref() {
                    ctx.request_repaint();
                }
                let _ = conn.write_all(format!("{SHOWING}\n").as_bytes());
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("single instance: cannot start its thread: {e}");
    }
    tracing::info!("single instance: listening as {name}");
    Instance {
        rx: Mutex::new(rx),
        waker,
        name,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_second_claim_hands_over_and_the_first_hears_it() {
        let dir = tempfile::tempdir().unwrap();
        let settings = dir.path().join("settings.json");
        let Claim::First(first) = claim(&settings) else {
            panic!("the first claim listens");
        };
        assert!(!first.show_requested());
        assert!(matches!(claim(&settings), Claim::HandedOver));
        assert!(first.show_requested());
        assert!(!first.show_requested(), "once");
        // another settings file: another instance
        let other = dir.path().join("other.json");
        assert!(matches!(claim(&other), Claim::First(_)));
    }
}
