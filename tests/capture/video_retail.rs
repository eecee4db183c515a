//! `capdeck serve-retail --source pattern` read by a GrimStream client over real TCP:
//! header, config, sizes, consecutive frame ids, the pattern's own frame numbers in the
//! pixels, and a second viewer after the first one closes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use capdeck_capture::video::pattern;
use capdeck_grimstream::Decoder;
use capdeck_wire::grimstream::{Frame, Message, StreamConfig};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_capdeck"))
        .arg("serve-retail")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn capdeck");
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("address line");
    let addr = line
        .trim()
        .strip_prefix("retail tcp://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (server, addr)
}

struct Viewer {
    sock: TcpStream,
    dec: Decoder,
}

impl Viewer {
    fn connect(addr: &str) -> Self {
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Self {
            sock,
            dec: Decoder::default(),
        }
    }

    fn next(&mut self) -> Message {
        loop {
            if let Some(raw) = self.dec.next_message().expect("valid stream") {
                return raw.decode().expect("decodes");
            }
            let n = self.dec.read_from(&mut self.sock).expect("read");
            assert!(n > 0, "server closed the connection");
        }
    }

    /// HELLO then STREAM_CONFIG, as the retail capture tool sends them.
    fn handshake(&mut self) -> StreamConfig {
        match self.next() {
            Message::Hello(h) => {
                assert_eq!(h.protocol, "GrimStream");
                assert_eq!(h.producer, "retail_capture");
            }
            other => panic!("expected HELLO, got {other:?}"),
        }
        match self.next() {
            Message::StreamConfig(c) => c,
            other => panic!("expected STREAM_CONFIG, got {other:?}"),
        }
    }

    fn frame(&mut self) -> Frame {
        match self.next() {
            Message::Frame(f) => f,
            other => panic!("expected FRAME, got {other:?}"),
        }
    }
}

fn pattern_number(f: &Frame, c: &StreamConfig) -> u64 {
    let rgb: Vec<u8> = f
        .data
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    pattern::read_number(&rgb, c.width, c.height).expect("frame number readable")
}

#[test]
fn pattern_feed_serves_viewers_one_after_another() {
    let (_server, addr) = spawn(&[
        "--bind",
        "127.0.0.1:0",
        "--source",
        "pattern",
        "--fps",
        "30",
        "--size",
        "320x240",
    ]);

    let mut v = Viewer::connect(&addr);
    let c = v.handshake();
    assert_eq!(
        (c.width, c.height, c.pixel_format, c.stride_bytes),
        (320, 240, 1, 1280)
    );
    assert_eq!(c.nominal_fps, Some(30.0));
    let mut last_time = None;
    let mut last_number = None;
    for id in 0..10u64 {
        let f = v.frame();
        assert_eq!(f.frame_id, id, "consecutive frame ids from 0");
        assert_eq!(f.data.len(), 320 * 240 * 4);
        assert!(f.data.chunks_exact(4).all(|p| p[3] == 255), "opaque RGBA");
        if let Some(t) = last_time {
            assert!(f.host_time_ns > t, "host time increases");
        }
        last_time = Some(f.host_time_ns);
        let n = pattern_number(&f, &c);
        if let Some(prev) = last_number {
            assert!(n > prev, "pattern advances: {prev} then {n}");
        }
        last_number = Some(n);
    }
    drop(v);

    // A second viewer after the first closed: a fresh handshake, ids from 0 again, and
    // host time keeps counting from the same local start.
    let t_first = last_time.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut v2 = Viewer::connect(&addr);
    let c2 = v2.handshake();
    assert_eq!(c2, c);
    let f = v2.frame();
    assert_eq!(f.frame_id, 0);
    assert!(f.host_time_ns > t_first);
    assert_eq!(v2.frame().frame_id, 1);
    assert!(Instant::now() < deadline);
}

#[test]
fn bad_arguments_and_missing_sources_fail_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_capdeck"))
        .args(["serve-retail", "--source", "none"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("none"));

    let out = Command::new(env!("CARGO_BIN_EXE_capdeck"))
        .args(["serve-retail", "--size", "10x10", "--source", "pattern"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("16 to 7680"));
}
