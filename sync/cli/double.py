"""``pingyi double``: run the LimeSurvey test double standalone until Ctrl-C.

For trying the daemon or the plugin against a LimeSurvey that needs no PHP or database:
it prints the RC2 URL and the test login to put in a ``pingyi.toml`` site.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from sync.config import DEFAULT_TIMEZONE
from sync.testing.faults import FAULT_KINDS, Faults

if TYPE_CHECKING:
    from sync.testing.double import LimeSurveyDouble


def build(
    surveys: tuple[str, ...],
    responses: int,
    user: str,
    password: str,
    seed: int,
    *,
    timezone: ZoneInfo | None = None,
) -> tuple[LimeSurveyDouble, list[int]]:
    """The double with its surveys: an .lss path is imported, a bare number becomes the
    sample satisfaction survey with that id (active, with ``responses`` rows); its dates
    written in ``timezone`` (a site's default one unless given)."""
    from sync.testing.double import LimeSurveyDouble
    from sync.testing.samples import satisfaction_rows, satisfaction_survey

    zone = timezone or ZoneInfo(DEFAULT_TIMEZONE)
    double = LimeSurveyDouble(users={user: password}, seed=seed, timezone=zone)
    sids: list[int] = []
    for item in (part for value in surveys for part in value.split(",") if part):
        if item.isdigit():
            sid = double.add_survey(satisfaction_survey(int(item)))
            if responses:
                double.load_responses(sid, satisfaction_rows(responses, seed=seed + sid))
        else:
            path = Path(item)
            if not path.is_file():
                raise click.BadParameter(
                    f"{item}: neither a survey id nor an .lss file", param_hint="--surveys"
                )
            sid = double.import_lss(path)
            double.activate(sid)
        sids.append(sid)
    return double, sids


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="Port (0: any free port).")
@click.option(
    "--surveys",
    multiple=True,
    default=("111111",),
    show_default=True,
    help="Survey ids (sample survey) or .lss files; repeat or separate with commas.",
)
@click.option("--responses", default=0, show_default=True, help="Sample rows per survey id.")
@click.option("--user", default="admin", show_default=True)
@click.option("--fault-rate", default=0.0, show_default=True, help="Share of requests to fail.")
@click.option(
    "--faults",
    "kinds",
    default=",".join(sorted(FAULT_KINDS)),
    show_default=True,
    help="Fault kinds, comma-separated.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for faults and sample rows.")
@click.option(
    "--timezone",
    default=DEFAULT_TIMEZONE,
    show_default=True,
    help="Zone the double writes its dates in, as LimeSurvey its server's (a site's "
    "default timezone in pingyi.toml).",
)
def double(
    *,
    host: str,
    port: int,
    surveys: tuple[str, ...],
    responses: int,
    user: str,
    fault_rate: float,
    kinds: str,
    seed: int,
    timezone: str,
) -> None:
    """Serve a LimeSurvey 6.2.1 RemoteControl 2 double until Ctrl-C.

    The test password comes from $PINGYI_DOUBLE_PASSWORD, else a random one is printed:
    passwords never go on a command line, not even a double's."""
    password = os.environ.get("PINGYI_DOUBLE_PASSWORD") or secrets.token_urlsafe(12)
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError) as exc:
        raise click.BadParameter(
            f"{timezone!r}: not an IANA timezone", param_hint="--timezone"
        ) from exc
    built, sids = build(surveys, responses, user, password, seed, timezone=zone)
    try:
        built.faults = Faults(rate=fault_rate, kinds={k for k in kinds.split(",") if k}, seed=seed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults/--fault-rate") from None
    url = built.start(host, port)
    click.echo(f"url: {url}")
    click.echo(f"user: {user}")
    click.echo(f"password: {password}  (test double credentials)")
    click.echo("surveys: " + ", ".join(str(s) for s in sids))
    click.echo("Ctrl-C to stop.", err=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        built.stop()
