"""``harness export`` and ``harness replay``: stored studies as replayable blackboxes."""

from __future__ import annotations

from pathlib import Path

import click

from harness._cli.options import db_option
from harness._cli.options import disable_option
from harness._cli.options import existing_store
from harness._cli.options import reports_errors
from harness._config import DEFAULT_PRUNER
from harness._config import DEFAULT_SAMPLER
from harness._errors import UsageError
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._replay import replay_candidates
from harness._replay.blackbox import from_database
from harness._replay.blackbox import read_blackbox
from harness._replay.blackbox import write_blackbox
from harness._replay.simulate import Candidate
from harness._replay.summary import render_markdown
from harness._replay.summary import summarise
from harness._replay.summary import write_outputs


@click.command("export")
@db_option
@click.option("--study", required=True, help="The study to export.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write: .parquet, or .json for anything else.")
@reports_errors
def export(db: str | None, study: str, out_path: Path) -> None:
    """Write a study as a blackbox (configuration → objective and seconds per epoch) that
    `harness replay` runs samplers and pruners on (format: harness/_replay/blackbox.py)."""

    store = existing_store(db)
    store.close()
    blackbox = from_database(store.url, study)
    write_blackbox(blackbox, out_path)
    click.echo(f"{out_path}: {len(blackbox.trials)} trials of study '{study}' "
               f"({blackbox.objective}, {blackbox.direction})")


@click.command("replay")
@click.argument("source", required=False, type=click.Path(dir_okay=False, path_type=Path))
@db_option
@click.option("--study", default=None, help="Replay this stored study (instead of a file).")
@click.option("--candidate", "candidates", multiple=True, metavar="SAMPLER/PRUNER",
              help="A registered sampler and pruner, e.g. tpe/median (repeatable; default: the "
                   "builtin default pair); random search without pruning is always replayed "
                   "as the baseline.")
@click.option("--seeds", type=click.IntRange(1), default=20, show_default=True)
@click.option("--budget-s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Simulated compute per replay [default: what the recorded study spent].")
@click.option("--tolerance", type=click.FloatRange(min=0), default=0.005, show_default=True,
              help="Target: the best recorded value, this far away (0.005: half a "
                   "percentage point of accuracy).")
@click.option("--warm-start", "warm_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="An earlier study's blackbox: also replay every candidate "
                                 "seeded with its trials ([search] warm_start).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write replay.md, replay.json and anytime.png here.")
@disable_option
@reports_errors
def replay_command(source: Path | None, db: str | None, study: str | None,
                   candidates: tuple[str, ...], seeds: int, budget_s: float | None,
                   tolerance: float, warm_path: Path | None, out_dir: Path | None,
                   disabled: tuple[str, ...]) -> None:
    """Replay samplers and pruners offline on a recorded study (or an exported file), with a
    simulated clock taken from the recorded epoch times: any-time curves, compute to reach
    the best recorded value, and the comparison with random search."""

    if (source is None) == (study is None):
        raise UsageError("replay: give a blackbox file, or --study NAME (with --db)")
    if source is not None:
        blackbox = read_blackbox(source)
    else:
        store = existing_store(db)
        store.close()
        blackbox = from_database(store.url, str(study))
    registry = load_registry(make_plugin_manager(block=disabled))
    chosen = ([Candidate.parse(c) for c in candidates]
              or [Candidate(DEFAULT_SAMPLER, DEFAULT_PRUNER)])
    warm = read_blackbox(warm_path) if warm_path is not None else None
    outcomes, budget, target = replay_candidates(blackbox, chosen, registry, seeds=seeds,
                                                 budget_s=budget_s, tolerance=tolerance,
                                                 warm_start=warm)
    rows = summarise(outcomes)
    markdown = render_markdown(blackbox, rows, seeds=seeds, budget_s=budget, target=target,
                               tolerance=tolerance)
    click.echo(markdown, nl=False)
    if out_dir is not None:
        for path in write_outputs(out_dir, blackbox, outcomes, rows, markdown, budget):
            click.echo(str(path))

