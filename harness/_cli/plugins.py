"""``harness plugins list | show | check``: what is installed, and whether it conforms."""

from __future__ import annotations

import json
import sys

import click

from harness._cli.options import disable_option
from harness._cli.options import reports_errors
from harness._plugins import describe_plugin
from harness._plugins import list_plugins
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._plugins import require_plugin
from harness._plugins import third_party_plugins
from harness.testing import check_registry


@click.group()
def plugins() -> None:
    """Installed plugins and what they register."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@disable_option
@reports_errors
def plugins_list(as_json: bool, disabled: tuple[str, ...]) -> None:
    """Each plugin, its distribution and version, its hooks, and what it registered."""
    infos = list_plugins(disabled)
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

