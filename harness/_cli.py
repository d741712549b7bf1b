"""The ``harness`` command: a thin layer that parses, calls core functions, and prints."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any
from typing import TypeVar

import click

from harness._errors import HarnessError

F = TypeVar("F", bound=Callable[..., Any])


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def reports_errors(func: F) -> F:
    """Turn a HarnessError into one line on stderr and its exit status — never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            damaged = _damaged_database(exc, kwargs.get("db"))
            if damaged is not None:
                click.echo(f"error: {damaged}", err=True)
                sys.exit(1)
            if not isinstance(exc, HarnessError):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


# What SQLite says when a file's pages are damaged or it is not a database at all.
_DAMAGE = ("database disk image is malformed", "file is not a database")


def _damaged_database(exc: BaseException, db: str | None) -> str | None:
    """One line for a damaged SQLite results file, wherever in the stack it surfaced (our
    store, Optuna's storage, the report's queries); None for any other error."""
    seen: BaseException | None = exc
    while seen is not None:
        if any(sign in str(seen) for sign in _DAMAGE):
            from harness._config import default_db_url
            from harness._store.results import safe_url

            url = _db_url(db) or default_db_url()
            where = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else \
                safe_url(url)
            return (f"results database {where} is damaged (SQLite: "
                    f"{next(s for s in _DAMAGE if s in str(seen))}); check it with "
                    f"`sqlite3 {where} 'PRAGMA integrity_check'` and restore a backup")
        seen = seen.__cause__ or seen.__context__
    return None


disable_option = click.option(
    "--disable-plugin", "disabled", multiple=True, metavar="NAME",
    help="Do not load this plugin (repeatable); see also HARNESS_DISABLE_PLUGINS.")
db_option = click.option("--db", default=None, metavar="URL",
                         help="Results database URL or SQLite path "
                              "[default: $HARNESS_DB or results/harness.db].")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harness")
def main() -> None:
    """Search architecture × optimizer × hyperparameters with Optuna; compare the results."""


@main.command()
@click.argument("task_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--n-trials", type=int, default=None, help="Total trials the study should hold.")
@click.option("--timeout", "timeout_s", type=float, default=None,
              help="Stop starting trials after this many seconds.")
@db_option
@click.option("--study", default=None, help="Study name [default: from the task file].")
@click.option("--workers", type=int, default=None,
              help="Trials at once, each in its own worker process (0: in this process) "
                   "[default: from the task file].")
@click.option("--retry-failed", is_flag=True,
              help="Re-run the study's failed trials (same hyperparameters) before new ones.")
@click.option("--new-study", is_flag=True,
              help="Start a new study beside an existing one of the same name (needed when "
                   "the task file's search space changed).")
@click.option("--confirm-only", is_flag=True,
              help="Add only the repeats of the best configurations ([budget] repeats, "
                   "confirm_top) to an existing study.")
@disable_option
@reports_errors
def run(task_file: Path, n_trials: int | None, timeout_s: float | None, db: str | None,
        study: str | None, workers: int | None, retry_failed: bool, new_study: bool,
        confirm_only: bool, disabled: tuple[str, ...]) -> None:
    """Run (or continue) the study a task file declares.

    Start the same command on several machines with one --db URL (PostgreSQL) and they share
    the study and its budget. Ctrl-C or SIGTERM ends the trials in flight and prints a summary.
    """
    from harness._progress import RichObserver
    from harness._progress import summary_line
    from harness._run.study import execute
    from harness._run.study import prepare

    prepared = prepare(task_file, n_trials=n_trials, timeout_s=timeout_s, db=_db_url(db),
                       study=study, workers=workers, disabled=disabled, start_workers=True)
    console = _console()
    objective = prepared.resolved.objectives[0].name
    console.print(f"harness: study '{prepared.config.study.name}' — task "
                  f"{prepared.resolved.task.name} on {prepared.resolved.dataset.name}, "
                  f"{len(prepared.resolved.architectures)} architecture(s) × "
                  f"{len(prepared.resolved.optimizers)} optimizer(s) × "
                  f"{len(prepared.resolved.schedulers)} scheduler(s), sampler "
                  f"{prepared.config.search.sampler}, pruner {prepared.config.search.pruner}")
    try:
        with _interrupt_on_sigterm(), RichObserver(console, objective) as observer:
            summary = execute(prepared, observer, warn=lambda m: click.echo(f"warning: {m}",
                                                                             err=True),
                              retry_failed=retry_failed, new_study=new_study,
                              confirm_only=confirm_only)
    except KeyboardInterrupt:  # before the study loop began (loading data, opening the study)
        click.echo("interrupted before any trial started", err=True)
        sys.exit(130)
    try:
        console.print(summary_line(summary))
        _print_top(prepared.config.db, summary.study_name)
    except KeyboardInterrupt:  # Ctrl-C again while the summary prints: everything is stored
        sys.exit(130)
    if summary.interrupted:
        sys.exit(130)


def _interrupt_on_sigterm() -> contextlib.AbstractContextManager[None]:
    """Batch schedulers (Slurm, Kubernetes) stop jobs with SIGTERM: end like Ctrl-C."""
    import signal

    from harness._run.loop import signal_handler

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal_handler(signal.SIGTERM, interrupt)


def _print_top(db: str | None, study: str) -> None:
    from harness._config import default_db_url
    from harness._report import query_leaderboards
    from harness._report import render
    from harness._store import ResultsStore

    store = ResultsStore(db or default_db_url())
    try:
        boards = query_leaderboards(store.engine, study=study, limit=5)
    finally:
        store.close()
    click.echo(render(boards, "table"), nl=False)


@main.command()
@click.argument("task_files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@disable_option
@reports_errors
def validate(task_files: tuple[Path, ...], disabled: tuple[str, ...]) -> None:
    """Check task files against the installed plugins without running anything."""
    from harness._run.study import prepare

    for path in task_files:
        resolved = prepare(path, disabled=disabled).resolved
        open_params = sum(p.is_open for params in resolved.space.values() for p in params.values())
        click.echo(f"{path}: ok — task {resolved.task.name}, dataset {resolved.dataset.name}, "
                   f"{len(resolved.architectures)} architecture(s), {len(resolved.optimizers)} "
                   f"optimizer(s), {len(resolved.schedulers)} scheduler(s), objectives "
                   f"{', '.join(o.column for o in resolved.objectives)}, {open_params} plugin "
                   "hyperparameter(s) searched")


@main.command()
@db_option
@click.option("--task", default=None, help="Only studies of this task.")
@click.option("--study", default=None, help="Only this study.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md"]),
              default="table", show_default=True)
@click.option("--across-hardware", is_flag=True,
              help="Rank rows from different hardware classes together.")
@click.option("--limit", type=int, default=None, help="At most this many rows per table.")
@reports_errors
def leaderboard(db: str | None, task: str | None, study: str | None, fmt: str,
                across_hardware: bool, limit: int | None) -> None:
    """Best trial per (architecture, optimizer), ranked by the study's primary metric."""
    from harness._report import query_leaderboards
    from harness._report import render

    store = _existing_store(db)
    try:
        boards = query_leaderboards(store.engine, task=task, study=study,
                                    across_hardware=across_hardware, limit=limit)
    finally:
        store.close()
    if not boards and fmt == "table":
        raise HarnessError(f"no study{_filters(task, study)} in {store.safe_url}")
    click.echo(render(boards, fmt), nl=fmt != "table")


def _filters(task: str | None, study: str | None) -> str:
    parts = [f"task '{task}'" if task else "", f"named '{study}'" if study else ""]
    joined = " and ".join(p for p in parts if p)
    return f" of {joined}" if joined else ""


@main.command()
@db_option
@click.option("--task", default=None, help="Only studies of this task.")
@click.option("--study", default=None, help="Only this study.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/report"), show_default=True)
@click.option("--format", "formats", default="md,html,csv,json", show_default=True,
              help="Comma-separated: md, html, csv, json.")
@click.option("--across-hardware", is_flag=True,
              help="Rank rows from different hardware classes together.")
@reports_errors
def report(db: str | None, task: str | None, study: str | None, out_dir: Path, formats: str,
           across_hardware: bool) -> None:
    """Write leaderboard reports: Markdown, self-contained HTML with plots, CSV, JSON."""
    from harness._report.writer import REPORT_FORMATS
    from harness._report.writer import write_report

    chosen = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in REPORT_FORMATS]
    if unknown or not chosen:
        raise HarnessError(f"--format: unknown format '{unknown[0] if unknown else ''}' "
                           f"(choose from: {', '.join(REPORT_FORMATS)})")
    store = _existing_store(db)
    try:
        written = write_report(store.engine, out_dir, chosen, db=store.safe_url, task=task,
                               study=study, across_hardware=across_hardware)
    finally:
        store.close()
    for path in written:
        click.echo(str(path))


@main.command()
@click.argument("a")
@click.argument("b")
@db_option
@click.option("--fail-if-slower", type=float, default=None, metavar="PCT",
              help="Exit 1 if B's inference throughput is more than PCT% below A's anywhere.")
@click.option("--fail-if-worse", type=float, default=None, metavar="PCT",
              help="Exit 1 if B's primary metric is more than PCT% worse than A's anywhere "
                   "(where both sides have seed intervals, only if they do not overlap).")
@reports_errors
def compare(a: str, b: str, db: str | None, fail_if_slower: float | None,
            fail_if_worse: float | None) -> None:
    """Compare two studies (names in --db) or two databases (paths or URLs)."""
    from harness._report.compare import compare_boards

    stores: list[Any] = []
    studies: list[str | None] = []
    for side in (a, b):
        if "://" in side or side.endswith(".db") or Path(side).is_file():
            stores.append(_existing_store(side))
            studies.append(None)
        else:
            stores.append(_existing_store(db))
            studies.append(side)
    try:
        deltas = compare_boards(stores[0].engine, stores[1].engine, studies[0], studies[1])
    finally:
        for store in stores:
            store.close()
    if not deltas:
        raise HarnessError(f"nothing to compare: '{a}' and '{b}' share no (hardware, "
                           "architecture, optimizer) with complete trials")
    failed = False
    for d in deltas:
        slower = d.slower_pct
        flags = []
        if fail_if_worse is not None and d.worse_pct > fail_if_worse:
            flags.append("worse, within seed noise (95% intervals overlap)" if d.within_noise
                         else f"WORSE > {fail_if_worse:g}%")
        if fail_if_slower is not None and slower is not None and slower > fail_if_slower:
            flags.append(f"SLOWER > {fail_if_slower:g}%")
        failed = failed or any(f.startswith(("WORSE", "SLOWER")) for f in flags)
        speed = f"{-slower:+.1f}%" if slower is not None else "n/a"
        click.echo(f"{d.study} | {d.hardware} | {d.architecture} · {d.optimizer}: {d.metric} "
                   f"{d.before:.4f} → {d.after:.4f} ({-d.worse_pct:+.1f}% better), inference "
                   f"samples/s {speed}" + (f"  {' '.join(flags)}" if flags else ""))
    if failed:
        sys.exit(1)


@main.command()
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
@disable_option
@reports_errors
def bench(architectures: tuple[str, ...], task: str, batch_size: int, img_size: int,
          precision: str, memory_format: str, device_name: str, fmt: str, db: str | None,
          study: str, no_store: bool, disabled: tuple[str, ...]) -> None:
    """Benchmark untrained models: throughput, latency, FLOPs, memory (timm-style)."""
    from harness._bench import bench_architecture
    from harness._devices import check_precision
    from harness._devices import hardware_class
    from harness._devices import resolve_device
    from harness._environment import environment
    from harness._plugins import load_registry
    from harness._plugins import make_plugin_manager

    pm = make_plugin_manager(block=disabled)
    registry = load_registry(pm)
    device = resolve_device(device_name, "--device")
    check_precision(precision, device, "--precision")
    results = []
    for name in architectures:
        try:
            results.append(bench_architecture(
                registry, name, task=task, batch_size=batch_size, img_size=img_size,
                precision=precision, memory_format=memory_format, device=device))
        except LookupError as exc:
            raise HarnessError(str(exc).strip("'\"")) from None
    env = environment(pm.distributions, device)
    hardware = hardware_class(device)
    if not no_store:
        from harness._config import default_db_url
        from harness._store import ResultsStore

        store = ResultsStore(_db_url(db) or default_db_url())
        try:
            store.record_bench(study, task, results, hardware, env)
        finally:
            store.close()
    if fmt == "json":
        click.echo(json.dumps([{**r.as_dict(), "hardware": hardware, "environment": env}
                               for r in results], indent=2, default=str))
        return
    for r in results:
        gflops = f"{r.gflops_per_sample:.2f}" if r.gflops_per_sample is not None else "n/a"
        train = f"{r.train_samples_per_s:,.1f}" if r.train_samples_per_s else "n/a"
        click.echo(f"{r.architecture}: infer {r.infer_samples_per_s:,.1f} samples/s at batch "
                   f"{r.batch_size} (p50 {r.infer_latency_ms_p50:.2f} ms, p99 "
                   f"{r.infer_latency_ms_p99:.2f} ms, IQR/median {r.iqr_ratio:.3f}); batch-1 "
                   f"p50 {r.latency_b1_ms_p50:.2f} ms; train {train} samples/s; "
                   f"{r.param_count / 1e6:.2f} M params; {gflops} GFLOPs/sample; peak "
                   f"{r.peak_memory_mb:,.0f} MB — {hardware} | {r.precision}")


@main.group()
def plugins() -> None:
    """Installed plugins and what they register."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@disable_option
@reports_errors
def plugins_list(as_json: bool, disabled: tuple[str, ...]) -> None:
    """Each plugin, its distribution and version, its hooks, and what it registered."""
    from harness._plugins import load_registry
    from harness._plugins import make_plugin_manager
    from harness._specs import ArchitectureCatalogSpec

    pm = make_plugin_manager(block=disabled)
    registry = load_registry(pm)
    registered: dict[str, dict[str, list[str]]] = {}
    for kind, spec in registry.all_specs():
        owner = registry.owner_of(spec)
        catalog = isinstance(spec, ArchitectureCatalogSpec)
        label = f"{spec.name} (catalog)" if catalog else spec.name
        registered.setdefault(owner, {}).setdefault(kind + "s", []).append(label)
    infos: list[dict[str, Any]] = [
        {"name": i.name, "distribution": i.distribution, "version": i.version,
         "hooks": list(i.hooks), "registers": registered.get(i.name, {})}
        for i in pm.plugin_infos()]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    for info in infos:
        dist = f"{info['distribution']} {info['version']}" if info["distribution"] else "-"
        click.echo(f"{info['name']}  [{dist}]  hooks: {', '.join(info['hooks'])}")
        for kind, names in info["registers"].items():
            click.echo(f"    {kind}: {', '.join(names)}")


@plugins.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@disable_option
@reports_errors
def plugins_show(name: str, as_json: bool, disabled: tuple[str, ...]) -> None:
    """What one plugin registered, its hooks, distribution, and every hyperparameter."""
    from harness._plugins import describe_plugin

    info = describe_plugin(name, disabled)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    dist = f"{info['distribution']} {info['version']}" if info["distribution"] else "-"
    click.echo(f"{info['name']}  [{dist}]")
    click.echo(f"hooks: {', '.join(info['hooks']) or '-'}")
    for item in info["registers"]:
        click.echo(f"{item['kind']} {item['name']} — {item['description']}")
        for key, value in item["facts"].items():
            click.echo(f"    {key}: {value}")
        for pname, record in item["params"].items():
            click.echo(f"    {pname}: {record['summary']}")


@plugins.command("check")
@click.argument("name", required=False)
@click.option("--all", "check_all", is_flag=True,
              help="Also check harness's own builtin plugins (about two minutes on two cores).")
@click.option("--verbose", "-v", is_flag=True, help="List every check, not only failures.")
@disable_option
@reports_errors
def plugins_check(name: str | None, check_all: bool, verbose: bool,
                  disabled: tuple[str, ...]) -> None:
    """Run the conformance kit on third-party plugins (or one, or --all); exit 1 on any
    failure, 2 for an unknown plugin name."""
    from harness._plugins import load_registry
    from harness._plugins import make_plugin_manager
    from harness._plugins import require_plugin
    from harness._plugins import third_party_plugins
    from harness.testing import check_registry

    pm = make_plugin_manager(block=disabled)
    if name is not None:
        require_plugin(pm, name)
        chosen: set[str] | None = {name}
    elif check_all:
        chosen = None
    else:
        chosen = third_party_plugins(pm)
        if not chosen:
            click.echo("no third-party plugin is installed; `harness plugins check --all` "
                       "checks the builtins too")
            return
    failures = passes = skips = 0
    for result in check_registry(load_registry(pm), plugins=chosen):
        label = f"{result.kind} {result.name}: {result.check}"
        if result.ok is False:
            failures += 1
            click.echo(f"FAIL {label} — {result.detail}")
        elif result.ok is None:
            skips += 1
            click.echo(f"SKIP {label} — {result.detail}")
        else:
            passes += 1
            if verbose:
                click.echo(f"PASS {label}")
    click.echo(f"{passes} passed, {failures} failed, {skips} skipped")
    if failures:
        sys.exit(1)


@main.command("export")
@db_option
@click.option("--study", required=True, help="The study to export.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write: .parquet, or .json for anything else.")
@reports_errors
def export(db: str | None, study: str, out_path: Path) -> None:
    """Write a study as a blackbox (configuration → objective and seconds per epoch) that
    `harness replay` runs samplers and pruners on (format: harness/_replay/blackbox.py)."""
    from harness._replay.blackbox import from_database
    from harness._replay.blackbox import write_blackbox

    store = _existing_store(db)
    store.close()
    blackbox = from_database(store.url, study)
    write_blackbox(blackbox, out_path)
    click.echo(f"{out_path}: {len(blackbox.trials)} trials of study '{study}' "
               f"({blackbox.objective}, {blackbox.direction})")


@main.command("replay")
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
    from harness._config import DEFAULT_PRUNER
    from harness._config import DEFAULT_SAMPLER
    from harness._errors import UsageError
    from harness._plugins import load_registry
    from harness._plugins import make_plugin_manager
    from harness._replay import replay_candidates
    from harness._replay.blackbox import from_database
    from harness._replay.blackbox import read_blackbox
    from harness._replay.simulate import Candidate
    from harness._replay.summary import render_markdown
    from harness._replay.summary import summarise
    from harness._replay.summary import write_outputs

    if (source is None) == (study is None):
        raise UsageError("replay: give a blackbox file, or --study NAME (with --db)")
    if source is not None:
        blackbox = read_blackbox(source)
    else:
        store = _existing_store(db)
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


@main.command()
@click.argument("study")
@click.argument("trial", type=int)
@db_option
@reports_errors
def reproduce(study: str, trial: int, db: str | None) -> None:
    """Run TRIAL of STUDY again from its stored row and compare: bit-identical, within the
    configuration's seed interval, or outside it (exit 1)."""
    from harness._config import default_db_url
    from harness._run.reproduce import reproduce as run_again

    store = _existing_store(db)
    try:
        found = run_again(store, study, trial, _db_url(db) or default_db_url(),
                          warn=lambda m: click.echo(f"warning: {m}", err=True))
    finally:
        store.close()
    for key in sorted(found.stored.keys() | found.new.keys()):
        before, after = found.stored.get(key), found.new.get(key)
        click.echo(f"{key}: stored {_number(before)}, now {_number(after)}")
    interval = (f" (95% interval over its seeds: {found.interval[0]:.4f}–"
                f"{found.interval[1]:.4f})" if found.interval else "")
    click.echo(f"trial {trial} of '{study}': {found.verdict}{interval}")
    if not found.agrees:
        sys.exit(1)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.6g}"


@main.group()
def weights() -> None:
    """Pretrained weights for machines without network access (see docs/fine-tuning.md)."""


@weights.command("fetch")
@click.argument("models", nargs=-1, required=True)
@click.option("--to", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=Path("weights"), show_default=True,
              help="Folder to fill (Hugging Face cache layout).")
@reports_errors
def weights_fetch(models: tuple[str, ...], folder: Path) -> None:
    """Download timm MODELS' published weights into a folder a task file can point at
    (pretrained = "weights")."""
    from harness._fetch import fetch_weights

    for path in fetch_weights(list(models), folder):
        click.echo(str(path))


@main.group()
def cache() -> None:
    """Dataset caches: the decoded data every trial reads (see docs/data.md)."""


@cache.command("list")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@reports_errors
def cache_list(db: str | None, as_json: bool) -> None:
    """Every cache entry: dataset, kind, samples per split, size, age."""
    from harness._config import default_db_url
    from harness._run.dataset import open_cache

    store = open_cache(_db_url(db) or default_db_url())
    rows = [_entry_row(entry) for entry in store.entries()]
    if as_json:
        click.echo(json.dumps({"root": str(store.root), "entries": rows}, indent=2))
        return
    shared = f" (shared: {store.remote.url})" if store.remote else ""
    click.echo(f"dataset cache {store.root}{shared}: {len(rows)} entr"
               f"{'y' if len(rows) == 1 else 'ies'}")
    for row in rows:
        if row.get("damaged"):
            click.echo(f"  {row['entry']}  DAMAGED (rebuilt on next use; or clear it)")
            continue
        counts = ", ".join(f"{k} {v}" for k, v in row["samples"].items())
        click.echo(f"  {row['entry']}  {row['dataset']} ({row['kind']}): {counts}; "
                   f"{row['megabytes']:,.1f} MB; built {row['age']}")


def _entry_row(entry: Any) -> dict[str, Any]:
    import time

    manifest = entry.manifest
    if manifest.get("damaged"):
        return {"entry": entry.path.name, "damaged": True}
    splits = manifest.get("splits", {})
    size = sum(s["bytes"] for shards in splits.values() for s in shards)
    built = float(manifest.get("built_at", 0))
    hours = (time.time() - built) / 3600
    return {"entry": entry.path.name, "dataset": manifest.get("dataset"),
            "kind": manifest.get("kind"), "path": str(entry.path),
            "samples": {k: sum(s["rows"] for s in v) for k, v in splits.items()},
            "megabytes": size / 2**20, "built_at": built,
            "age": f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"}


@cache.command("clear")
@click.argument("dataset", required=False)
@db_option
@reports_errors
def cache_clear(dataset: str | None, db: str | None) -> None:
    """Remove every entry, or the entries of DATASET (each under its build lock)."""
    from harness._config import default_db_url
    from harness._run.dataset import open_cache

    store = open_cache(_db_url(db) or default_db_url())
    removed = store.clear(dataset)
    what = f"of dataset '{dataset}' " if dataset else ""
    click.echo(f"removed {len(removed)} cache entr{'y' if len(removed) == 1 else 'ies'} "
               f"{what}from {store.root}")


@main.group()
def db() -> None:
    """Results database maintenance."""


@db.command("upgrade")
@db_option
@reports_errors
def db_upgrade(db: str | None) -> None:
    """Bring the results database schema up to date (Alembic migrations)."""
    from harness._config import default_db_url
    from harness._store import ResultsStore

    store = ResultsStore(_db_url(db) or default_db_url(), upgrade=True)
    click.echo(f"{store.safe_url}: schema at {store.schema_revision()}")
    store.close()


def _db_url(db: str | None) -> str | None:
    """Accept a bare path for SQLite; anything with ``://`` is a SQLAlchemy URL."""
    if db is None or "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve().as_posix()}"


def _existing_store(db: str | None) -> Any:
    from sqlalchemy.engine import make_url

    from harness._config import default_db_url
    from harness._store import ResultsStore

    url = _db_url(db) or default_db_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(
            parsed.database).exists():
        raise HarnessError(f"no results database at {parsed.database}: run "
                           "`harness run TASK.toml` first (or pass --db)")
    return ResultsStore(url)


if __name__ == "__main__":  # pragma: no cover
    main()
