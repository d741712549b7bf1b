"""The ``harness`` command: a thin layer that parses, calls core functions, and prints.

Each module holds one family of commands; ``main`` imports a command's module only when that
command runs (``harness --help`` lists them all), so ``harness leaderboard`` never pays for
the imports of ``harness run``.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["main"]

COMMANDS = {
    "run": "run", "validate": "run", "reproduce": "run",
    "leaderboard": "results", "report": "results", "compare": "results",
    "export": "replay", "replay": "replay:replay_command",
    "bench": "bench", "plugins": "plugins",
    "weights": "admin", "cache": "admin", "db": "admin", "model": "model",
}
"""Command name → ``module[:attribute]`` under ``harness._cli`` (attribute: the name)."""


class LazyGroup(click.Group):
    """A group whose subcommands are imported when used (click's lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command: Any = getattr(importlib.import_module(f"harness._cli.{module}"),
                               attribute or cmd_name)
        return command  # type: ignore[no-any-return]


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harness")
def main() -> None:
    """Search architecture × optimizer × hyperparameters with Optuna; compare the results."""
