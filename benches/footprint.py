#!/usr/bin/env python3
"""Footprint of the desktop app (issue: the operator's background streamer): RSS and CPU of
`capdeck` as an operator leaves it running, each case its own process under the test
environment's Xvfb and PulseAudio (run it through tests/env/with-test-env.sh):

  capture   `--fresh --layout tabs` (the capture tab in front, the live view never shown):
            RSS after 10 s and at the end; goal <= 150 MB.
  both-vk   `--fresh` side by side with the demo, wgpu on Vulkan (lavapipe here): RSS at the
            end against the live view's memory budget + 200 MB, and the RSS slope after the
            first minute (least squares, MB per minute); goal <= 1 MB/min.
  both-gl   the same on OpenGL (WGPU_BACKEND=gl, llvmpipe).
  minimised `--fresh --minimized --audio tone:440 --video pattern`, streaming to the embedded
            host: CPU over the last half of the run (utime + stime of /proc/PID/stat);
            goal <= 1 % of a core.

  tests/env/with-test-env.sh benches/footprint.py --capdeck target/release/capdeck \\
      [--minutes 10] [--cases capture,both-gl,...] [--out DIR] [--check]

--check exits 1 when a goal is missed (for the slope: only with at least 2 minutes, the
first of which is not counted). Writes DIR/footprint.json (every sample) and prints a table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

BUDGET_MB = 1024  # the live view's default memory budget (Settings::memory_budget_mib)
CASES = {
    "capture": (["--fresh", "--layout", "tabs"], {}),
    "both-vk": (["--fresh"], {"WGPU_BACKEND": "vulkan"}),
    "both-gl": (["--fresh"], {"WGPU_BACKEND": "gl"}),
    "minimised": (["--fresh", "--minimized", "--audio", "tone:440", "--video", "pattern"], {}),
}
TICKS = os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    except OSError:
        return None


def slope_per_min(samples, after_s):
    pts = [(t, m) for t, m in samples if t >= after_s]
    if len(pts) < 3:
        return None
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mm = sum(m for _, m in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    if var == 0:
        return None
    return sum((t - mt) * (m - mm) for t, m in pts) / var * 60


def run_case(exe, name, secs, every):
    args, env_extra = CASES[name]
    home = tempfile.mkdtemp(prefix="footprint-")
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"), **env_extra)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # no tray: one fewer thing in the figures
    cmd = [exe, *args, "--new-instance", "--log-file", "none",
           "--exit-after", str(secs + 30)]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    samples, cpu = [], []
    try:
        while (t := time.monotonic() - t0) < secs:
            if p.poll() is not None:
                raise SystemExit(f"footprint: {name}: capdeck exited with {p.returncode}")
            m, c = rss_mb(p.pid), cpu_s(p.pid)
            if m is not None:
                samples.append((round(t, 1), round(m, 1)))
            if c is not None:
                cpu.append((t, c))
            time.sleep(every)
    finally:
        p.terminate()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    at = lambda s: min(samples, key=lambda x: abs(x[0] - s))[1] if samples else None
    half = [c for c in cpu if c[0] >= secs / 2]
    core = None
    if len(half) >= 2 and half[-1][0] > half[0][0]:
        core = (half[-1][1] - half[0][1]) / (half[-1][0] - half[0][0]) * 100
    return {
        "case": name,
        "args": args,
        "env": env_extra,
        "seconds": secs,
        "rss_10s_mb": at(10),
        "rss_end_mb": samples[-1][1] if samples else None,
        "rss_max_mb": max((m for _, m in samples), default=None),
        "slope_mb_per_min": slope_per_min(samples, 60) if secs >= 120 else
        slope_per_min(samples, secs / 3),
        "cpu_percent_of_core": core,
        "samples": samples,
    }


def goals(r):
    """(goal text, met) pairs of one case."""
    out = []
    name = r["case"]
    if name == "capture":
        out.append(("RSS <= 150 MB", r["rss_max_mb"] is not None and r["rss_max_mb"] <= 150))
    if name.startswith("both"):
        out.append((f"RSS <= budget + 200 MB ({BUDGET_MB + 200} MB)",
                    r["rss_max_mb"] is not None and r["rss_max_mb"] <= BUDGET_MB + 200))
        if r["seconds"] >= 120:
            s = r["slope_mb_per_min"]
            out.append(("RSS slope <= 1 MB/min after the first minute",
                        s is not None and s <= 1.0))
    if name == "minimised":
        c = r["cpu_percent_of_core"]
        out.append(("CPU <= 1 % of a core", c is not None and c <= 1.0))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--capdeck", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    ap.add_argument("--out", default="target/footprint")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        raise SystemExit("footprint: no DISPLAY: run it through tests/env/with-test-env.sh")
    names = [n for n in a.cases.split(",") if n]
    for n in names:
        if n not in CASES:
            raise SystemExit(f"footprint: unknown case {n!r} (cases: {', '.join(CASES)})")
    os.makedirs(a.out, exist_ok=True)
    results, missed = [], []
    for n in names:
        print(f"footprint: {n} for {a.minutes:g} min", flush=True)
        r = run_case(os.path.abspath(a.capdeck), n, int(a.minutes * 60), a.every)
        r["goals"] = [{"goal": g, "met": ok} for g, ok in goals(r)]
        missed += [f"{n}: {g}" for g, ok in goals(r) if not ok]
        results.append(r)
        fmt = lambda v, f: "-" if v is None else f.format(v)
        print(f"  RSS 10 s {fmt(r['rss_10s_mb'], '{:.0f}')} MB, end {fmt(r['rss_end_mb'], '{:.0f}')}"
              f" MB, max {fmt(r['rss_max_mb'], '{:.0f}')} MB, slope "
              f"{fmt(r['slope_mb_per_min'], '{:+.1f}')} MB/min, CPU "
              f"{fmt(r['cpu_percent_of_core'], '{:.1f}')} % of a core; "
              + "; ".join(f"{g['goal']}: {'met' if g['met'] else 'MISSED'}" for g in r["goals"]),
              flush=True)
    with open(os.path.join(a.out, "footprint.json"), "w") as f:
        json.dump({"minutes": a.minutes, "results": results}, f, indent=1)
    if a.check and missed:
        print("footprint: missed: " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
