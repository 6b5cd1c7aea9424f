"""``pingyi validate [PATH]``: check mappings/ before the daemon reads it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sync.cli import Context, pass_context


@click.command()
@click.argument(
    "path", required=False, type=click.Path(file_okay=False, path_type=Path), default=None
)
@click.option("--json", "as_json", is_flag=True, help="Print the problems as a JSON list.")
@pass_context
def validate(ctx: Context, path: Path | None, as_json: bool) -> None:
    """Check the catalogue, campaigns and survey bindings in PATH (default: the config's
    mappings folder). Exit 1 when there is an error; warnings alone exit 0."""
    from sync.catalogue import load
    from sync.validate import check, ordered

    config = ctx.config
    root = path if path is not None else config.mappings
    loaded = load(root)
    problems = ordered(check(loaded, [site.name for site in config.sites]))
    errors = sum(p.severity == "error" for p in problems)
    if as_json:
        click.echo(json.dumps([p.to_json() for p in problems], ensure_ascii=False, indent=2))
    else:
        for problem in problems:
            click.echo(str(problem))
        cat = loaded.catalogue
        counts = [
            (len(cat.systems), "system"),
            (len(cat.units), "unit"),
            (len(cat.dimensions), "dimension"),
            (len(cat.campaigns), "campaign"),
            (len(cat.bindings), "survey binding"),
            (errors, "error"),
            (len(problems) - errors, "warning"),
        ]
        words = [f"{n} {word}{'' if n == 1 else 's'}" for n, word in counts]
        summary = f"{root}: {', '.join(words[:5])}; {', '.join(words[5:])}"
        click.echo(summary, err=True)
    if errors:
        raise SystemExit(1)
