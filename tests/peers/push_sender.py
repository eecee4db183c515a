#!/usr/bin/env python3
"""A libzmq (pyzmq) sender for testing `capdeck receive`: pushes well-formed audio and
video in both framings, then malformed messages of every kind, then exercises the
control channel. Prints a JSON report of what it sent and the control replies."""
import argparse
import json
import struct
import time

import zmq


def header(kind, seq, **kw):
    h = {"type": kind, "ts": int(time.time() * 1000), "seq": seq}
    h.update(kw)
    return json.dumps(h).encode()


def framed(h, p):
    return struct.pack(">II", len(h), len(p)) + h + p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--audio-port", type=int, required=True)
    ap.add_argument("--video-port", type=int, required=True)
    ap.add_argument("--control-port", type=int, required=True)
    ap.add_argument("--jpeg", required=True, help="a JPEG file to send as video payload")
    a = ap.parse_args()
    jpeg = open(a.jpeg, "rb").read()

    ctx = zmq.Context()
    audio = ctx.socket(zmq.PUSH)
    video = ctx.socket(zmq.PUSH)
    audio.connect(f"tcp://{a.host}:{a.audio_port}")
    video.connect(f"tcp://{a.host}:{a.video_port}")
    chunk = struct.pack("<1600h", *([1000, -1000] * 800))
    ahdr = dict(sr=16000, ch=1, fmt="int16")
    # seq 0..9 multipart, 10..19 framed, then a gap: 25..29 multipart
    for seq in range(0, 10):
        audio.send_multipart([header("audio", seq, **ahdr), chunk])
    for seq in range(10, 20):
        audio.send(framed(header("audio", seq, **ahdr), chunk))
    for seq in range(25, 30):
        audio.send_multipart([header("audio", seq, **ahdr), chunk])
    vhdr = dict(w=640, h=480, fmt="jpeg", quality=70)
    for seq in range(0, 3):
        video.send_multipart([header("video", seq, **vhdr), jpeg])
    for seq in range(3, 6):
        video.send(framed(header("video", seq, **vhdr), jpeg))

    malformed = {
        "short_frame": [b"\x00\x00\x01"],
        "length_mismatch": [struct.pack(">II", 500, 500) + b"{}"],
        "bad_json": [b"{not json", chunk],
        "unknown_type": [header("text", 1), b"hello"],
        "part_count": [header("audio", 99, **ahdr), chunk, b"extra"],
        "audio_format": [header("audio", 98, sr=48000, ch=2, fmt="f32"), chunk],
    }
    for parts in malformed.values():
        audio.send_multipart(parts)

    control = ctx.socket(zmq.REQ)
    control.setsockopt(zmq.RCVTIMEO, 3000)
    control.connect(f"tcp://{a.host}:{a.control_port}")
    replies = {}
    for name, req in [
        ("hello", b'{"cmd":"hello","client":"pytest","capabilities":["audio","video"]}'),
        ("heartbeat", b'{"cmd":"heartbeat","client":"pytest","uptime_s":1.5}'),
        ("get_config", b'{"cmd":"get_config"}'),
        ("unknown", b'{"cmd":"dance"}'),
        ("invalid", b"{oops"),
    ]:
        control.send(req)
        replies[name] = json.loads(control.recv())
    # linger so everything queued leaves before we exit
    audio.close(linger=3000)
    video.close(linger=3000)
    control.close(linger=0)
    ctx.term()
    print(json.dumps({"malformed": sorted(malformed), "replies": replies}))


if __name__ == "__main__":
    main()
