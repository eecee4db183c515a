#!/usr/bin/env python3
"""Soak benchmark: `capdeck send` against a pyzmq host (tests/peers/host.py, framed, the real
host's layout) that is killed with SIGKILL and restarted every --restart-every seconds.

Measures, from the host's arrival log and capdeck's own stats:
  - delivered audio share (distinct seqs received / chunks capdeck made), duplicates,
  - each lost chunk placed against the kills: "in the killed host" when it was made at most
    --inflight-ms before a kill (sent, then lost with the host's buffers), otherwise "elsewhere",
  - reconnect time per restart (host ready -> first audio chunk arriving),
  - capdeck's RSS over time (VmRSS, split into anonymous and file-backed pages), its drift
    and a least-squares slope.

  benches/soak.py --capdeck target/release/capdeck --minutes 60 --restart-every 60 --out DIR
  benches/soak.py ... --check    # exit 1 when a goal is missed (CI runs a short one)

Writes DIR/soak.json (every figure and the RSS series) and prints a summary.
"""
import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HOST_PY = os.path.join(HERE, "..", "tests", "peers", "host.py")


def free_port():
    """A free port below the kernel's ephemeral range: the host is restarted on the same ports,
    and in that range another process's outgoing connection may take one in between (the
    tests' support::free_port does the same)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(1000):
        port = random.randrange(10000, max(low, 10001))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mem_kb(pid):
    """VmRSS, RssAnon and RssFile of pid in kB (None when it has exited)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    out[key] = int(rest.split()[0])
    except OSError:
        return None
    return out


def start_host(a, ports, out_dir, seq_log):
    p = subprocess.Popen(
        [sys.executable, HOST_PY, "--framing", "framed",
         "--audio-port", str(ports[0]), "--video-port", str(ports[1]),
         "--control-port", str(ports[2]), "--out", out_dir, "--seq-log", seq_log,
         "--duration", str(a.minutes * 60 + 60)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()  # {"ready": true, ...} once bound
    if '"ready"' not in line:
        raise SystemExit(f"soak: the host did not start: {line!r}")
    return p, time.time()


def slope_per_hour(points):
    """Least-squares slope of (t seconds, value) in value per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mt) * (v - mv) for t, v in points) / var * 3600


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capdeck", required=True)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--restart-every", type=float, default=60)
    ap.add_argument("--down-ms", type=float, default=500, help="how long the host stays dead")
    ap.add_argument("--inflight-ms", type=float, default=1500,
                    help="a chunk made this long before a kill counts as lost in the killed host")
    ap.add_argument("--warmup-s", type=float, default=60, help="RSS drift is measured from here")
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    ap.add_argument("--max-drift-mb", type=float, default=5.0)
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    seq_log = os.path.join(a.out, "arrivals.log")
    open(seq_log, "w").close()
    stats_path = os.path.join(a.out, "capdeck-stats.json")
    ports = (free_port(), free_port(), free_port())

    host, ready = start_host(a, ports, os.path.join(a.out, "host"), seq_log)
    restarts = []  # (kill wall time s, ready wall time s)
    duration = a.minutes * 60
    cd = subprocess.Popen(
        [a.capdeck, "send", "--host", "127.0.0.1", "--audio-port", str(ports[0]),
         "--video-port", str(ports[1]), "--control-port", str(ports[2]),
         "--audio", "tone:440", "--video", "pattern", "--duration", str(duration),
         "--stats-json", stats_path, "--log", "warn"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(a.out, "capdeck.log"), "w"))
    t0 = time.time()
    rss = []
    next_kill = t0 + a.restart_every
    next_sample = t0
    try:
        while cd.poll() is None:
            now = time.time()
            if now >= next_sample:
                m = mem_kb(cd.pid)
                if m:
                    rss.append({"t": round(now - t0, 1), **m})
                next_sample += 5
            if now >= next_kill and now - t0 < duration - 5:
                host.send_signal(signal.SIGKILL)
                host.wait()
                killed = time.time()
                time.sleep(a.down_ms / 1000)
                host, ready = start_host(a, ports, os.path.join(a.out, "host"), seq_log)
                restarts.append((killed, ready))
                next_kill += a.restart_every
                print(f"soak: {now - t0:7.1f} s  restart {len(restarts)}  "
                      f"rss {rss[-1]['VmRSS'] / 1024:.1f} MB" if rss else "", flush=True)
            time.sleep(0.05)
    finally:
        if cd.poll() is None:
            cd.send_signal(signal.SIGINT)
            cd.wait(timeout=10)
        time.sleep(1)
        host.send_signal(signal.SIGTERM)
        host.wait(timeout=10)

    with open(stats_path) as f:
        stats = json.load(f)
    made = stats["audio"]["pipeline"]["chunks"]
    arrivals = {"audio": [], "video": []}
    with open(seq_log) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] in arrivals:
                arrivals[parts[0]].append((int(parts[1]), int(parts[2]) / 1000))
    audio = arrivals["audio"]
    seqs = [s for s, _ in audio]
    distinct = set(seqs)
    duplicates = len(seqs) - len(distinct)
    lost = sorted(set(range(made)) - distinct)
    # When each chunk was made: its seq's step from the first arrival's seq, on the clock
    # of the first arrival (chunks are 100 ms; the tone source is clocked).
    chunk_s = stats["audio"]["pipeline"]["chunk_ms"] / 1000
    first_seq, first_t = audio[0]
    made_at = lambda s: first_t + (s - first_seq) * chunk_s  # noqa: E731
    in_host, elsewhere = [], []
    for s in lost:
        t = made_at(s)
        if any(0 <= k - t <= a.inflight_ms / 1000 + 0.2 for k, _ in restarts):
            in_host.append(s)
        else:
            elsewhere.append(s)
    reconnect_ms = []
    for _, r in restarts:
        after = [t for _, t in audio if t >= r]
        if after:
            reconnect_ms.append(round((after[0] - r) * 1000))
    out_of_order = sum(1 for x, y in zip(seqs, seqs[1:]) if y < x)
    later = [p for p in rss if p["t"] >= a.warmup_s] or rss
    drift_mb = (later[-1]["VmRSS"] - later[0]["VmRSS"]) / 1024 if later else 0.0
    result = {
        "minutes": a.minutes, "restart_every_s": a.restart_every, "restarts": len(restarts),
        "audio_made": made, "audio_delivered": len(distinct),
        "audio_share_pct": round(100 * len(distinct) / made, 3) if made else 0,
        "audio_duplicates": duplicates, "audio_out_of_order": out_of_order,
        "audio_lost": len(lost), "audio_lost_in_killed_host": len(in_host),
        "audio_lost_elsewhere": len(elsewhere), "audio_lost_elsewhere_seqs": elsewhere[:50],
        "lost_per_restart": round(len(lost) / len(restarts), 2) if restarts else 0,
        "video_made": stats["video"]["pipeline"]["frames"],
        "video_delivered": len({s for s, _ in arrivals["video"]}),
        "reconnect_ms": {"min": min(reconnect_ms, default=0), "max": max(reconnect_ms, default=0),
                         "mean": round(sum(reconnect_ms) / len(reconnect_ms)) if reconnect_ms else 0,
                         "all": reconnect_ms},
        "audio_link": stats["audio"]["link"], "control": {
            k: stats["control"][k] for k in ("connects", "connect_timeouts", "replies", "timeouts",
                                             "errors", "backoffs")},
        "rss_mb": {
            "first": round(rss[0]["VmRSS"] / 1024, 1) if rss else None,
            "at_warmup": round(later[0]["VmRSS"] / 1024, 1) if later else None,
            "last": round(rss[-1]["VmRSS"] / 1024, 1) if rss else None,
            "max": round(max(p["VmRSS"] for p in rss) / 1024, 1) if rss else None,
            "drift_after_warmup": round(drift_mb, 2),
            "slope_mb_per_hour": round(slope_per_hour([(p["t"], p["VmRSS"] / 1024) for p in later]), 2),
            "anon_slope_mb_per_hour": round(slope_per_hour(
                [(p["t"], p.get("RssAnon", 0) / 1024) for p in later]), 2),
            "file_slope_mb_per_hour": round(slope_per_hour(
                [(p["t"], p.get("RssFile", 0) / 1024) for p in later]), 2),
        },
        "rss_series": rss,
    }
    with open(os.path.join(a.out, "soak.json"), "w") as f:
        json.dump(result, f, indent=1)
    summary = {k: v for k, v in result.items() if k not in ("rss_series", "audio_link")}
    summary["reconnect_ms"] = {k: v for k, v in result["reconnect_ms"].items() if k != "all"}
    print(json.dumps(summary, indent=1))

    if a.check:
        failures = []
        if duplicates:
            failures.append(f"{duplicates} duplicate audio chunks")
        if out_of_order:
            failures.append(f"{out_of_order} audio chunks out of order")
        if elsewhere:
            failures.append(f"{len(elsewhere)} audio chunks lost away from a kill: {elsewhere[:10]}")
        if len(restarts) < 1:
            failures.append("no restart happened")
        if len(reconnect_ms) != len(restarts):
            failures.append("audio did not come back after every restart")
        if abs(drift_mb) > a.max_drift_mb:
            failures.append(f"RSS drifted {drift_mb:.1f} MB after warm-up (goal {a.max_drift_mb} MB)")
        if failures:
            print("soak: FAILED: " + "; ".join(failures), file=sys.stderr)
            return 1
        print("soak: goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
