//! Small shared helpers.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Locks `m`, surviving a panicked holder: every lock in this crate guards plain state
/// (counters, queues, history) that a panic cannot leave half-written in a way that matters
/// more than stopping the app. The one poison-tolerant lock of the crate.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`Condvar::wait`] with the same poison policy as [`lock`].
pub fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(g).unwrap_or_else(PoisonError::into_inner)
}

/// [`Condvar::wait_timeout`] with the same poison policy as [`lock`] (whether it timed
/// out is for the caller to see from the state and the clock).
pub fn wait_timeout<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>, d: Duration) -> MutexGuard<'a, T> {
    cv.wait_timeout(g, d)
        .unwrap_or_else(PoisonError::into_inner)
        .0
}

/// Whether a bind host (an address or name, without port; `[::1]` brackets allowed)
/// is loopback only: `127.0.0.0/8`, `::1` or `localhost`. Listeners bind loopback by
/// default; anything else is reachable from other machines and is warned about.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host part of `host:port` (`[v6]:port` allowed), for [`is_loopback_host`].
pub fn host_of(host_port: &str) -> &str {
    match host_port.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit() || c == '*') => h,
        _ => host_port,
    }
}

/// Parses a size given as `WxH` (each side 16 to 7680), for command-line flags.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?} is not WxH"))?;
    let w: u32 = w
        .trim()
        .parse()
        .map_err(|_| format!("bad width in {s:?}"))?;
    let h: u32 = h
        .trim()
        .parse()
        .map_err(|_| format!("bad height in {s:?}"))?;
    if !(16..=7680).contains(&w) || !(16..=7680).contains(&h) {
        return Err(format!("{s:?}: each side must be 16 to 7680"));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts_are_told_from_wider_binds() {
        for h in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(super::is_loopback_host(h), "{h}");
        }
        for h in ["0.0.0.0", "::", "192.168.1.20", "example.com", "*", ""] {
            assert!(!super::is_loopback_host(h), "{h}");
        }
        assert_eq!(super::host_of("127.0.0.1:17400"), "127.0.0.1");
        assert_eq!(super::host_of("[::1]:0"), "[::1]");
        assert_eq!(super::host_of("0.0.0.0"), "0.0.0.0");
    }

    #[test]
    fn parse_size_accepts_wxh_and_explains_errors() {
        assert_eq!(super::parse_size("640x480"), Ok((640, 480)));
        assert_eq!(super::parse_size("1920X1080"), Ok((1920, 1080)));
        assert!(super::parse_size("640").unwrap_err().contains("WxH"));
        assert!(
            super::parse_size("0x480")
                .unwrap_err()
                .contains("16 to 7680")
        );
        assert!(super::parse_size("ax480").unwrap_err().contains("width"));
    }
}

/// `YYYYMMDD-HHMMSS` in UTC, for names that sort by time (recording folders).
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // days since 1970-01-01 to a civil date (H. Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod stamp_tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn utc_stamps_match_known_dates() {
        let at = |s| super::utc_stamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "19700101-000000");
        assert_eq!(at(951_782_400), "20000229-000000"); // a leap day
        assert_eq!(at(1_796_425_204), "20261204-230004");
        assert_eq!(at(4_102_444_799), "20991231-235959");
    }
}
