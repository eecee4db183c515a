#!/usr/bin/env python3
"""Benchmark check: each README figure as a ratio to a reference timed in the same run.

Wall-clock figures move with the machine and its load; a ratio to a reference measured in
the same run, on the same machine, moves much less. For each benchmark below this runs the
capdeck function and its reference (criterion, short measurement), divides capdeck's
median time by the reference's and compares the quotient with the same quotient of the
README's figures. A quotient more than FACTOR times the README's is a failure (exit 1).

  benches/check.py [--factor 1.5] [--bench audio_chain ...] [--runs N]

Runs `$CARGO bench --profile release --features bench-ref` (CARGO defaults to cargo; the
references need libsoxr and libjpeg-turbo's build: packaging/linux/install-deps.sh bench).
Criterion's output goes to a temporary directory (CRITERION_HOME), not target/criterion.
With --runs N each benchmark is run N times and every run is printed (for the README's
figures of how stable the quotients are); the check uses the median quotient.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# GrimStream figures of the README's bench-check row (GB/s, 1280x720 RGBA frames).
GS_COLD_GBPS = 29.3
GS_DECODE_GBPS = 16.8
GS_SOCKET_GBPS = 3.45

# (bench, criterion filter, checks), each check:
#   (what, capdeck's full id, the reference's full id, README quotient, README source)
# The README quotient is capdeck's time over the reference's, from the README's figures
# (README.md, "Figures"): a rate of A x real time against B x is a time quotient of B / A.
CHECKS = [
    (
        "audio_chain",
        "audio_chain_1s_48k_stereo_to_16k_mono_10ms_blocks/",
        [
            (
                "audio chain, drift correction off, vs rubato Fft alone",
                "audio_chain_1s_48k_stereo_to_16k_mono_10ms_blocks/capdeck_drift_off",
                "audio_chain_1s_48k_stereo_to_16k_mono_10ms_blocks/rubato_fft_alone",
                4900 / 4140,
                "4,140x vs 4,900x real time",
            ),
            (
                "audio chain, drift correction on, vs rubato Fft alone",
                "audio_chain_1s_48k_stereo_to_16k_mono_10ms_blocks/capdeck_drift_on",
                "audio_chain_1s_48k_stereo_to_16k_mono_10ms_blocks/rubato_fft_alone",
                4900 / 1675,
                "1,675x vs 4,900x real time",
            ),
            (
                "audio chain, drift correction off, vs libsoxr HQ chain",
                "audio_chain_1s_48k_stereo_to_16k_mono_10ms_blocks/capdeck_drift_off",
                "audio_chain_1s_48k_stereo_to_16k_mono_10ms_blocks/libsoxr_hq",
                5180 / 4140,
                "4,140x vs 5,180x real time",
            ),
        ],
    ),
    (
        "grimstream_decode",
        "grimstream_decode_1280x720_rgba/",
        [
            # Against the copy into 16 buffers in turn (memcpy_cold): the store's frames
            # are not in cache either. Over the one-buffer memcpy the quotients were 2.84 to
            # 2.99 and 14.1 to 18.7 (3 runs), 1.56 and 3.07 in the README's first figures,
            # 7.9 and 5.5 in its re-run: the cache-hot copy is no reference.
            (
                "GrimStream 1280x720 decode in memory vs memcpy into 59 MB",
                "grimstream_decode_1280x720_rgba/decode_in_memory",
                "grimstream_decode_1280x720_rgba/memcpy_cold",
                GS_COLD_GBPS / GS_DECODE_GBPS,
                f"{GS_DECODE_GBPS} GB/s vs memcpy_cold {GS_COLD_GBPS} GB/s",
            ),
            (
                "GrimStream 1280x720 loopback socket to store vs memcpy into 59 MB",
                "grimstream_decode_1280x720_rgba/socket_to_store",
                "grimstream_decode_1280x720_rgba/memcpy_cold",
                GS_COLD_GBPS / GS_SOCKET_GBPS,
                f"{GS_SOCKET_GBPS} GB/s vs memcpy_cold {GS_COLD_GBPS} GB/s",
            ),
        ],
    ),
    (
        "video_encode",
        "encode_q70/(jpeg-encoder|turbojpeg)/rgb/",
        [
            (
                f"JPEG q70 {w}x{h} vs libjpeg-turbo",
                f"encode_q70/jpeg-encoder/rgb/{w}x{h}",
                f"encode_q70/turbojpeg/rgb/{w}x{h}",
                ours / turbo,
                f"{ours} ms vs libjpeg-turbo {turbo} ms",
            )
            for (w, h, ours, turbo) in [
                (640, 480, 3.1, 0.74),
                (1280, 720, 7.9, 2.1),
                (1920, 1080, 18.0, 5.15),
            ]
        ],
    ),
]


def run_bench(cargo, bench, flt, home, args):
    env = dict(os.environ, CRITERION_HOME=str(home))
    cmd = cargo + [
        "bench", "--locked", "--profile", "release", "--features", "bench-ref",
        "--bench", bench, "--", flt,
        "--warm-up-time", str(args.warm_up), "--measurement-time", str(args.measure),
        "--sample-size", "20", "--noplot",
    ]
    print("bench-check: " + " ".join(cmd), flush=True)
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if done.returncode != 0:
        sys.stdout.write(done.stdout)
        sys.exit(f"bench-check: {bench} failed (exit {done.returncode})")
    medians = {}
    for f in Path(home).rglob("benchmark.json"):
        if f.parent.name != "new":
            continue
        full_id = json.loads(f.read_text())["full_id"]
        est = json.loads((f.parent / "estimates.json").read_text())
        medians[full_id] = est["median"]["point_estimate"]  # ns
    return medians


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--factor", type=float, default=1.5,
                    help="fail when a quotient is more than this times the README's (1.5)")
    ap.add_argument("--bench", action="append", help="only these benchmarks")
    ap.add_argument("--runs", type=int, default=1, help="runs of each benchmark (1)")
    ap.add_argument("--warm-up", type=float, default=1.0, help="criterion warm-up, s")
    ap.add_argument("--measure", type=float, default=3.0, help="criterion measurement, s")
    args = ap.parse_args()
    cargo = os.environ.get("CARGO", "cargo").split()

    failed = []
    rows = []
    for bench, flt, checks in CHECKS:
        if args.bench and bench not in args.bench:
            continue
        quotients = {c[0]: [] for c in checks}
        for run in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="bench-check-") as home:
                m = run_bench(cargo, bench, flt, home, args)
            for what, ours, ref, _, _ in checks:
                if ours not in m or ref not in m:
                    sys.exit(f"bench-check: {bench} did not report {ours} and {ref}: {sorted(m)}")
                q = m[ours] / m[ref]
                quotients[what].append(q)
                print(f"  run {run + 1}: {what}: {m[ours] / 1e6:.3f} ms / "
                      f"{m[ref] / 1e6:.3f} ms = {q:.2f}", flush=True)
        for what, _, _, readme, source in checks:
            q = statistics.median(quotients[what])
            bound = readme * args.factor
            ok = q <= bound
            rows.append((what, readme, source, quotients[what], bound, ok))
            if not ok:
                failed.append(what)

    print(f"\nbench-check: capdeck time / reference time (fail above {args.factor}x the README's)")
    for what, readme, source, qs, bound, ok in rows:
        runs = ", ".join(f"{q:.2f}" for q in qs)
        print(f"  {'ok  ' if ok else 'FAIL'} {what}: {runs} (README {readme:.2f}: {source}; "
              f"bound {bound:.2f})")
    if failed:
        print(f"bench-check: {len(failed)} worse than {args.factor}x the README: "
              + "; ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
