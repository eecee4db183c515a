//! Feed addresses and the byte-stream transports behind them (TCP, Unix domain sockets).
//!
//! Thin blocking wrappers over `std::net` / `std::os::unix::net` so the feed client and the
//! producer-side server handle both transports the same way.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Default retail feed address.
pub const DEFAULT_RETAIL_ADDR: &str = "tcp://127.0.0.1:17400";
/// Default engine feed address.
pub const DEFAULT_ENGINE_ADDR: &str = "tcp://127.0.0.1:17500";

/// Where a feed is: `tcp://host:port` (or bare `host:port`) or `unix:/path`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FeedAddr {
    /// TCP `host:port`.
    Tcp(String),
    /// Unix domain socket path.
    Unix(PathBuf),
}

/// A feed address that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("bad feed address {input:?}: {reason} (expected tcp://host:port or unix:/path)")]
pub struct AddrError {
    input: String,
    reason: &'static str,
}

impl FromStr for FeedAddr {
    type Err = AddrError;

    /// `tcp://host:port`, `host:port` or `unix:/path`, spaces around ignored: the one
    /// parser of feed addresses (the app's fields, the command line, settings).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let err = |reason| AddrError {
            input: s.to_string(),
            reason,
        };
        if let Some(path) = s.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(err("empty socket path"));
            }
            if !cfg!(unix) {
                return Err(err(
                    "Unix domain sockets are not available on this platform",
                ));
            }
            return Ok(FeedAddr::Unix(PathBuf::from(path)));
        }
        let hp = s.strip_prefix("tcp://").unwrap_or(s);
        if s.contains("://") && !s.starts_with("tcp://") {
            return Err(err("unknown scheme"));
        }
        let Some((host, port)) = hp.rsplit_once(':') else {
            return Err(err("missing :port"));
        };
        if host.is_empty() {
            return Err(err("missing host"));
        }
        if port.parse::<u16>().is_err() {
            return Err(err("port is not a number 0..65535"));
        }
        Ok(FeedAddr::Tcp(hp.to_string()))
    }
}

impl fmt::Display for FeedAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedAddr::Tcp(hp) => write!(f, "tcp://{hp}"),
            FeedAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A connected byte stream.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain socket.
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    /// Connect with a timeout (TCP) to `addr`.
    pub fn connect(addr: &FeedAddr, timeout: Duration) -> io::Result<Stream> {
        match addr {
            FeedAddr::Tcp(hp) => {
                let mut last = None;
                for sa in hp.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&sa, timeout) {
                        Ok(s) => {
                            s.set_nodelay(true)?;
                            return Ok(Stream::Tcp(s));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("{hp}: no address"))
                }))
            }
            #[cfg(unix)]
            FeedAddr::Unix(p) => Ok(Stream::Unix(std::os::unix::net::UnixStream::connect(p)?)),
            #[cfg(not(unix))]
            FeedAddr::Unix(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Unix domain sockets are not available on this platform",
            )),
        }
    }

    /// A second handle to the same stream (for a reader thread).
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            #[cfg(unix)]
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    /// Set the read timeout.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }

    /// Set the write timeout.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(t),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_write_timeout(t),
        }
    }

    /// Shut both directions down (wakes a blocked reader on another handle).
    pub fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            #[cfg(unix)]
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            #[cfg(unix)]
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether an I/O error is a read timeout (the platforms disagree on the kind).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A listening socket (producer side).
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix domain socket; the path is removed on drop.
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener, PathBuf),
}

impl Listener {
    /// Bind `addr` (TCP port 0 picks a free port; see [`Listener::local_addr`]); a TCP
    /// address that is not loopback is logged as a warning. A stale
    /// Unix socket file nobody listens on is replaced.
    pub fn bind(addr: &FeedAddr) -> io::Result<Listener> {
        let l = match addr {
            FeedAddr::Tcp(hp) => {
                if !capdeck_util::is_loopback_host(capdeck_util::host_of(hp)) {
                    tracing::warn!(
                        "listening on {hp}: reachable from other machines (bind 127.0.0.1 to keep it local)"
                    );
                }
                Listener::Tcp(TcpListener::bind(hp.as_str())?)
            }
            #[cfg(unix)]
            FeedAddr::Unix(p) => {
                use std::os::unix::net::{UnixListener, UnixStream};
                let l = match UnixListener::bind(p) {
                    Ok(l) => l,
                    Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                        if UnixStream::connect(p).is_ok() {
                            return Err(e);
                        }
                        std::fs::remove_file(p)?;
                        UnixListener::bind(p)?
                    }
                    Err(e) => return Err(e),
                };
                Listener::Unix(l, p.clone())
            }
            #[cfg(not(unix))]
            FeedAddr::Unix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "Unix domain sockets are not available on this platform",
                ));
            }
        };
        match &l {
            Listener::Tcp(t) => t.set_nonblocking(true)?,
            #[cfg(unix)]
            Listener::Unix(u, _) => u.set_nonblocking(true)?,
        }
        Ok(l)
    }

    /// The bound address, with the real port when bound to port 0.
    pub fn local_addr(&self) -> io::Result<FeedAddr> {
        Ok(match self {
            Listener::Tcp(t) => FeedAddr::Tcp(t.local_addr()?.to_string()),
            #[cfg(unix)]
            Listener::Unix(_, p) => FeedAddr::Unix(p.clone()),
        })
    }

    /// Accept one connection if one is waiting (`Ok(None)` otherwise). The returned stream
    /// is blocking.
    pub fn try_accept(&self) -> io::Result<Option<Stream>> {
        let r = match self {
            Listener::Tcp(t) => t.accept().map(|(s, _)| {
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }),
            #[cfg(unix)]
            Listener::Unix(u, _) => u.accept().map(|(s, _)| Stream::Unix(s)),
        };
        match r {
            Ok(s) => {
                match &s {
                    Stream::Tcp(t) => t.set_nonblocking(false)?,
                    #[cfg(unix)]
                    Stream::Unix(u) => u.set_nonblocking(false)?,
                }
                Ok(Some(s))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Listener::Unix(_, p) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            "tcp://127.0.0.1:17400".parse::<FeedAddr>().unwrap(),
            FeedAddr::Tcp("127.0.0.1:17400".into())
        );
        assert_eq!(
            "localhost:1".parse::<FeedAddr>().unwrap(),
            FeedAddr::Tcp("localhost:1".into())
        );
        #[cfg(unix)]
        assert_eq!(
            "unix:/tmp/x.sock".parse::<FeedAddr>().unwrap(),
            FeedAddr::Unix("/tmp/x.sock".into())
        );
        for bad in [
            "",
            "tcp://",
            "tcp://host",
            "host:99999",
            "udp://a:1",
            "unix:",
            ":5",
        ] {
            let e = bad.parse::<FeedAddr>().unwrap_err();
            assert!(e.to_string().contains("bad feed address"), "{bad}: {e}");
        }
        assert_eq!(
            "tcp://[::1]:5".parse::<FeedAddr>().unwrap().to_string(),
            "tcp://[::1]:5"
        );
    }
}
