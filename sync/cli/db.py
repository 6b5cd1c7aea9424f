"""``pingyi db``: migrate the records database (upgrade, downgrade, current)."""

from __future__ import annotations

import click
from sqlalchemy.engine import Engine

from sync import db as database
from sync.cli import Context, pass_context


@click.group()
def db() -> None:
    """Create or migrate Pingyi's tables in the records database."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_context
def upgrade(ctx: Context, revision: str) -> None:
    """Migrate to the newest revision (creates the tables on an empty database)."""
    with database.opened(ctx.config) as engine:
        database.upgrade(engine, revision)
        click.echo(f"database at {_revisions(engine)} ({_where(ctx)})")


@db.command()
@click.argument("revision", default="-1")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def downgrade(ctx: Context, revision: str, yes: bool) -> None:
    """Migrate down to REVISION (default: one step back; "base" drops every Pingyi
    table and the data in them)."""
    if not yes:
        click.confirm(
            f"Downgrade {_where(ctx)} to {revision}? Tables and data may be dropped",
            abort=True,
        )
    with database.opened(ctx.config) as engine:
        database.downgrade(engine, revision)
        click.echo(f"database at {_revisions(engine)} ({_where(ctx)})")


@db.command()
@pass_context
def current(ctx: Context) -> None:
    """Show the database's revision and whether it is the newest."""
    with database.opened(ctx.config) as engine:
        state = (
            "up to date" if database.is_current(engine) else "NOT at head: run pingyi db upgrade"
        )
        heads = ", ".join(sorted(database.head_revisions()))
        click.echo(f"database at {_revisions(engine)}, head {heads}: {state}")


def _revisions(engine: Engine) -> str:
    return ", ".join(sorted(database.current_revisions(engine))) or "base (no Pingyi tables)"


def _where(ctx: Context) -> str:
    return database.describe(ctx.config)
