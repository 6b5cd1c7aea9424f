"""The ``pingyi`` command: one module per command in this package.

Commands are imported lazily (``pingyi --help`` stays fast and a command's heavy
imports do not slow the others). To add one, create ``sync/cli/<name>.py`` with a click
command or group and list it in ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from sync import config as config_mod
from sync.errors import PingyiError

#: command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "validate": "sync.cli.validate:validate",
    "db": "sync.cli.db:db",
    "catalogue": "sync.cli.catalogue:catalogue",
    "doctor": "sync.cli.doctor:doctor",
    "run": "sync.cli.run:run",
    "resync": "sync.cli.resync:resync",
    "status": "sync.cli.status:status",
    "quarantine": "sync.cli.quarantine:quarantine",
    "results": "sync.cli.results:results",
    "ledger": "sync.cli.ledger:ledger",
    "appeal": "sync.cli.appeal:appeal",
    "demo": "sync.cli.demo:demo",
    "double": "sync.cli.double:double",
}


@dataclass
class Context:
    """What every command gets: the config, loaded once on first use."""

    config_path: Path | None = None
    _config: config_mod.Config | None = field(default=None, repr=False)

    @property
    def config(self) -> config_mod.Config:
        if self._config is None:
            self._config = config_mod.load(self.config_path)
        return self._config


pass_context = click.make_pass_decorator(Context)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        present = [
            name
            for name, target in COMMANDS.items()
            if importlib.util.find_spec(target.split(":")[0]) is not None
        ]
        return sorted(present)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        if importlib.util.find_spec(module_name) is None:
            return None
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        # A known Pingyi error is one clear line (exit 1), never a traceback.
        try:
            return super().invoke(ctx)
        except PingyiError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=LazyGroup)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="pingyi.toml to use (default: $PINGYI_CONFIG, ./pingyi.toml, embedded defaults).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="pingyi")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: int) -> None:
    """Pingyi (评议): LimeSurvey appraisal responses into the records database."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config_path=config_path)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point (``pingyi`` and ``python -m sync``)."""
    return cli.main(args=argv, prog_name="pingyi")
