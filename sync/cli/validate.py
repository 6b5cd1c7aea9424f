"""``pingyi validate [PATH] [--sites]``: check mappings/ before the daemon reads it, and
with ``--sites`` the bindings the sites' Pingyi plugins serve."""

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
@click.option(
    "--sites",
    "--plugin",
    "sites",
    is_flag=True,
    help="Also ask each site's Pingyi plugin (plugin_url) for its bindings and check them "
    "(needs the shared secret in the environment). Without it, validate stays offline.",
)
@pass_context
def validate(ctx: Context, path: Path | None, as_json: bool, sites: bool) -> None:
    """Check the catalogue, campaigns and survey bindings in PATH (default: the config's
    mappings folder). Exit 1 when there is an error; warnings alone exit 0."""
    from sync.catalogue import load
    from sync.validate import check, ordered

    config = ctx.config
    root = path if path is not None else config.mappings
    loaded = load(root)
    problems = ordered(check(loaded, [site.name for site in config.sites]))
    plugin_note = ""
    if sites:
        from sync import sites as sites_mod

        secret = sites_mod.plugin_secret(config)  # a ConfigError says what to set
        asked, found = sites_mod.plugin_problems(
            config.model_copy(update={"mappings": root}), loaded.catalogue, secret
        )
        problems += ordered(found)
        served = sum(1 for s in config.sites if s.plugin_url)
        plugin_note = f"; plugin: {asked} survey{'' if asked == 1 else 's'} asked on {served} site"
        plugin_note += "" if served == 1 else "s"
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
        summary = f"{root}: {', '.join(words[:5])}{plugin_note}; {', '.join(words[5:])}"
        click.echo(summary, err=True)
    if errors:
        raise SystemExit(1)
