"""Repeatability of the meter: five runs of `harness bench resnet18 --batch-size 32`, each a
fresh process, and the coefficient of variation of the inference throughput.

    python benchmarks/meter_repeatability.py [--runs 5] [--arch resnet18] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    speeds = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-m", "harness", "bench", args.arch,
                              "--batch-size", str(args.batch_size), "--format", "json",
                              "--no-store"], capture_output=True, text=True, check=True)
        (row,) = json.loads(out.stdout)
        speeds.append(row["infer_samples_per_s"])
        print(f"  {row['infer_samples_per_s']:.2f} samples/s ({row['iterations']} iterations, "
              f"IQR/median {row['iqr_ratio']:.3f}, within-process CV {100 * row['cv']:.2f}% "
              f"over {row['runs']} runs, warm-up {row['warmup_s']:.2f} s, first call "
              f"+{row['compile_s']:.3f} s)", flush=True)
    cv = statistics.stdev(speeds) / statistics.mean(speeds)
    print(f"{args.arch} batch {args.batch_size}: mean {statistics.mean(speeds):.2f} samples/s, "
          f"coefficient of variation {100 * cv:.2f}% over {args.runs} runs; range "
          f"{min(speeds):.2f}–{max(speeds):.2f}"
          + (" — above 3%: this machine is noisy, quote the range" if cv > 0.03 else ""))


if __name__ == "__main__":
    main()
