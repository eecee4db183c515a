#!/usr/bin/env python3
"""An independent inference host for capdeck's interop tests, on libzmq (pyzmq).

Behaves like the real host (docs/capture-wire.md): PULL audio, PULL video, optional
REP control answering hello/heartbeat/get_config. It records everything it receives and
writes a JSON summary (and the audio samples and JPEG payloads) when it gets SIGTERM or
its --duration ends.

  --framing framed     read like the real host today: sock.recv() -> one framed part
  --framing multipart  recv_multipart(): header part + payload part
  --framing any        tell them apart by part count
  --control-port 0     no control channel; --no-control-reply: receive, never answer
"""
import argparse
import json
import os
import signal
import struct
import sys
import time

import zmq

CONFIG = {
    "audio_chunk_ms": 100, "audio_sample_rate": 16000, "audio_channels": 1,
    "audio_format": "int16", "video_fps": 5, "video_res": [640, 480],
    "video_format": "jpeg", "video_quality": 70,
}


def now_ms():
    return int(time.time() * 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--audio-port", type=int, required=True)
    ap.add_argument("--video-port", type=int, required=True)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--framing", choices=["framed", "multipart", "any"], default="any")
    ap.add_argument("--no-control-reply", action="store_true")
    ap.add_argument("--config", help="JSON object merged into the config this host offers")
    ap.add_argument("--out", required=True, help="folder for summary.json, audio.raw, video/")
    ap.add_argument("--duration", type=float, default=3600)
    ap.add_argument("--seq-log", help="append 'audio|video <seq> <arrival_ms>' lines as they arrive")
    a = ap.parse_args()

    if a.config:
        CONFIG.update(json.loads(a.config))
    os.makedirs(os.path.join(a.out, "video"), exist_ok=True)
    ctx = zmq.Context()
    audio = ctx.socket(zmq.PULL)
    video = ctx.socket(zmq.PULL)
    audio.bind(f"tcp://{a.bind}:{a.audio_port}")
    video.bind(f"tcp://{a.bind}:{a.video_port}")
    control = None
    if a.control_port:
        # A host that never answers: a ROUTER takes every request and replies to none
        # (a REP socket would refuse a second request before the first is answered).
        control = ctx.socket(zmq.ROUTER if a.no_control_reply else zmq.REP)
        control.bind(f"tcp://{a.bind}:{a.control_port}")
    seq_log = open(a.seq_log, "a", buffering=1) if a.seq_log else None

    poller = zmq.Poller()
    for s in (audio, video, control):
        if s is not None:
            poller.register(s, zmq.POLLIN)

    summary = {"started_ms": now_ms(), "audio": [], "video": [], "control": [], "errors": []}
    raw = open(os.path.join(a.out, "audio.raw"), "wb")
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__("flag", True))

    def read(sock):
        if a.framing == "framed":
            msg = sock.recv()  # exactly what the host's code does today
            parts = [msg]
            while sock.getsockopt(zmq.RCVMORE):
                parts.append(sock.recv())
        else:
            parts = sock.recv_multipart()
        if a.framing == "multipart" or (a.framing == "any" and len(parts) == 2):
            if len(parts) != 2:
                raise ValueError(f"{len(parts)} parts in multipart mode")
            return parts[0], parts[1], "multipart"
        if len(parts) != 1:
            raise ValueError(f"{len(parts)} parts in framed mode")
        buf = parts[0]
        hlen, plen = struct.unpack(">II", buf[:8])
        if 8 + hlen + plen != len(buf):
            raise ValueError("framed lengths do not add up")
        return buf[8:8 + hlen], buf[8 + hlen:], "framed"

    summary["ready_ms"] = now_ms()
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    deadline = time.time() + a.duration
    while not stop["flag"] and time.time() < deadline:
        try:
            events = dict(poller.poll(100))
        except zmq.ZMQError:
            continue
        for sock, name in ((audio, "audio"), (video, "video")):
            if sock in events:
                arrival = now_ms()
                try:
                    header, payload, framing = read(sock)
                    h = json.loads(header)
                except Exception as e:  # noqa: BLE001 - record and go on, like a host
                    summary["errors"].append(f"{name}: {e}")
                    continue
                rec = {"header": h, "header_raw": header.decode(), "len": len(payload),
                       "arrival_ms": arrival, "framing": framing}
                if name == "audio":
                    raw.write(payload)
                else:
                    path = os.path.join(a.out, "video", "%06d.jpg" % h.get("seq", 0))
                    with open(path, "wb") as f:
                        f.write(payload)
                summary[name].append(rec)
                if seq_log is not None:
                    seq_log.write(f"{name} {h.get('seq')} {arrival}\n")
        if control is not None and control in events:
            if a.no_control_reply:
                req = control.recv_multipart()[-1]
                summary["control"].append({"request": req.decode(errors="replace"), "arrival_ms": now_ms()})
                continue
            req = control.recv()
            summary["control"].append({"request": req.decode(errors="replace"), "arrival_ms": now_ms()})
            try:
                msg = json.loads(req)
                cmd = msg.get("cmd")
                if cmd in ("hello", "get_config"):
                    reply = {"status": "ok", "config": CONFIG}
                elif cmd == "heartbeat":
                    reply = {"status": "ok", "ts": now_ms()}
                else:
                    reply = {"error": f"unknown command: {cmd}"}
            except json.JSONDecodeError:
                reply = {"error": "invalid JSON"}
            control.send(json.dumps(reply).encode())

    raw.close()
    summary["stopped_ms"] = now_ms()
    tmp = os.path.join(a.out, "summary.json.tmp")
    with open(tmp, "w") as f:
        json.dump(summary, f)
    os.replace(tmp, os.path.join(a.out, "summary.json"))
    ctx.destroy(linger=0)


if __name__ == "__main__":
    sys.exit(main())
