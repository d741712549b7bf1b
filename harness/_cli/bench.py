"""``harness bench``: the speed of untrained models."""

from __future__ import annotations

import json

import click

from harness._bench import run_bench
from harness._bench import store_bench
from harness._cli.options import db_option
from harness._cli.options import db_url
from harness._cli.options import disable_option
from harness._cli.options import reports_errors
from harness._config import default_db_url
from harness._store import ResultsStore


@click.command()
@click.argument("architectures", nargs=-1, required=True)
@click.option("--task", default="classification", show_default=True,
              help="The task whose inputs the models get (classification: synthetic images).")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--img-size", type=int, default=224, show_default=True,
              help="Image side for classification models.")
@click.option("--precision", type=click.Choice(["fp32", "amp", "bf16", "fp16"]),
              default="fp32", show_default=True)
@click.option("--memory-format", type=click.Choice(["contiguous", "channels_last"]),
              default="contiguous", show_default=True)
@click.option("--device", "device_name", default="auto", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@db_option
@click.option("--study", default="bench", show_default=True,
              help="Study the rows are stored under.")
@click.option("--no-store", is_flag=True, help="Measure only; write nothing.")
@click.option("--tf32", is_flag=True, help="TF32 matmuls and convolutions (GPUs that have it).")
@click.option("--cudnn-benchmark", is_flag=True,
              help="cuDNN autotuning (its cost lands in the warm-up, never in the figures).")
@click.option("--runs", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Fresh throughput measurements; the median is reported, with their range "
                   "when they disagree by more than 3%.")
@disable_option
@reports_errors
def bench(architectures: tuple[str, ...], task: str, batch_size: int, img_size: int,
          precision: str, memory_format: str, device_name: str, fmt: str, db: str | None,
          study: str, no_store: bool, tf32: bool, cudnn_benchmark: bool, runs: int,
          disabled: tuple[str, ...]) -> None:
    """Benchmark untrained models: throughput, latency, FLOPs, memory (timm-style)."""
    run = run_bench(architectures, task=task, batch_size=batch_size, img_size=img_size,
                    precision=precision, memory_format=memory_format, device_name=device_name,
                    disabled=disabled, runs=runs, tf32=tf32, cudnn_benchmark=cudnn_benchmark)
    if not no_store:
        store = ResultsStore(db_url(db) or default_db_url())
        try:
            store_bench(store, study, task, run)
        finally:
            store.close()
    if fmt == "json":
        click.echo(json.dumps([{**r.as_dict(), "hardware": run.hardware,
                                "environment": run.environment} for r in run.results],
                              indent=2, default=str))
        return
    hardware = run.hardware
    results = run.results
    for r in results:
        gflops = f"{r.gflops_per_sample:.2f}" if r.gflops_per_sample is not None else "n/a"
        train = f"{r.train_samples_per_s:,.1f}" if r.train_samples_per_s else "n/a"
        spread = (f" (median of {r.runs} runs; noisy machine: they vary {100 * r.cv:.1f}% "
                  f"(CV), range {r.interval[0]:,.1f}–{r.interval[1]:,.1f})" if r.noisy
                  else f" (median of {r.runs} runs, CV {100 * r.cv:.1f}%)" if r.runs > 1
                  else "")
        click.echo(f"{r.architecture}: infer {r.infer_samples_per_s:,.1f} samples/s at batch "
                   f"{r.batch_size}{spread} (p50 {r.infer_latency_ms_p50:.2f} ms, p99 "
                   f"{r.infer_latency_ms_p99:.2f} ms, IQR/median {r.iqr_ratio:.3f}); batch-1 "
                   f"p50 {r.latency_b1_ms_p50:.2f} ms; train {train} samples/s; "
                   f"{r.param_count / 1e6:.2f} M params; {gflops} GFLOPs/sample; peak "
                   f"{r.peak_memory_mb:,.0f} MB; warm-up {r.warmup_s:.2f} s (first call "
                   f"+{r.compile_s:.2f} s) — {hardware} | {r.precision}")

