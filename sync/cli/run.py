"""``pingyi run``: the daemon (see ``sync.daemon``)."""

from __future__ import annotations

import logging
import sys

import click

from sync.cli import Context, pass_context


@click.command()
@click.option(
    "--once",
    is_flag=True,
    help="One pass over every bound survey, then exit (exit 1 if any failed). For cron.",
)
@pass_context
def run(ctx: Context, once: bool) -> None:
    """Keep every bound survey in sync: poll, take webhooks, serve /healthz and /metrics.

    Stops cleanly on SIGTERM or Ctrl-C: the current window is committed, exit code 0.
    """
    from sync import logging as pingyi_logging
    from sync.daemon import Daemon

    config = ctx.config
    verbose = click.get_current_context().find_root().params.get("verbose", 0) or 0
    level = logging.DEBUG if verbose >= 2 else logging.INFO
    pingyi_logging.setup(config.daemon.log_format, level=level)
    daemon = Daemon.from_config(config)
    if once:
        failed = daemon.run_once()
        sys.exit(1 if failed else 0)
    sys.exit(daemon.run_forever())
