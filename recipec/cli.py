"""The command line: parse arguments, call one function, map the outcome to an exit code.

Exit codes: 0 ok, 1 findings (lint/verify/--check), 2 bad input or usage. Expected user errors
(``RecipecError``) print located messages and never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from pathlib import Path

import click

from recipec import __version__
from recipec.diagnostics import RecipecError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _user_errors(fn):
    """Turn RecipecError into located messages on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RecipecError as e:
            for d in e.diagnostics:
                click.echo(f"error: {d.format()}" if d.location is None else d.format(), err=True)
            sys.exit(EXIT_USAGE)
        except BrokenPipeError:
            sys.exit(EXIT_OK)

    return wrapper


def _load_and_resolve(recipe: str, size: str | None, sets: tuple[str, ...]):
    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    loaded = load_recipe(recipe, sets=list(sets))
    return loaded, resolve_loaded(loaded, size)


def _print_warnings(resolved) -> None:
    for w in resolved.warnings:
        click.echo(f"warning: {w}", err=True)


def resolved_json(resolved) -> str:
    return json.dumps(resolved.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


size_option = click.option("--size", "-s", metavar="NAME", help="Target size from the recipe's 'sizes' (default: the proxy).")
set_option = click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
                          help="Override a recipe value before validation (repeatable).")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="recipec")
def main() -> None:
    """recipec: compile a tuned proxy training recipe to a target size, with provenance for every number."""


@main.command("compile")
@click.argument("recipe", type=click.Path(dir_okay=False))
@size_option
@set_option
@click.option("--out", "-o", "out", type=click.Path(file_okay=False), required=True, help="Output directory.")
@click.option("--target", "-t", "targets", multiple=True, metavar="NAME",
              help="Render for a framework: torchtitan, megatron, hf, neutral (repeatable).")
@click.option("--launcher", "-l", default=None, metavar="NAME",
              help="Also write launch files: torchrun, slurm or k8s (one per target that runs).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing each output that differs or is missing.")
@click.option("--force", is_flag=True, help="Overwrite existing files that recipec did not generate.")
@_user_errors
def compile_cmd(recipe: str, size: str | None, sets: tuple[str, ...], out: str, targets: tuple[str, ...],
                launcher: str | None, check: bool, force: bool) -> None:
    """Resolve RECIPE at a size; write OUT/resolved.json and the configs of each --target."""
    from recipec.render import RenderedFile, check_outputs, render, write_outputs

    loaded, resolved = _load_and_resolve(recipe, size, sets)
    _print_warnings(resolved)
    rendered = render(loaded, resolved, targets, launcher,
                      extra=(RenderedFile("resolved.json", resolved_json(resolved)),))
    for target, note in rendered.notes:
        click.echo(f"note: {target}: {note}", err=True)
    if check:
        problems = check_outputs(rendered.files, out)
        for path, what in problems:
            click.echo(f"{Path(out) / path}: {what}")
        if problems:
            click.echo(f"{len(problems)} of {len(rendered.files)} outputs are out of date; "
                       "run the same command without --check", err=True)
            sys.exit(EXIT_FINDINGS)
        click.echo(f"{len(rendered.files)} outputs up to date", err=True)
        return
    for path in write_outputs(rendered.files, out, force=force):
        click.echo(f"wrote {path}", err=True)


@main.command("explain")
@click.argument("recipe", type=click.Path(dir_okay=False))
@size_option
@set_option
@click.option("--only", multiple=True, metavar="KEY", help="Show only these values, e.g. hidden.lr (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_user_errors
def explain_cmd(recipe: str, size: str | None, sets: tuple[str, ...], only: tuple[str, ...], fmt: str) -> None:
    """Show every compiled number: proxy value, target value, and the rules behind it."""
    from recipec.explain import explain_rows, explain_text

    _, resolved = _load_and_resolve(recipe, size, sets)
    if fmt == "json":
        values = resolved.values()
        keys = [row[0] for row in explain_rows(resolved, only)]
        click.echo(json.dumps({k: values[k].model_dump(mode="json") for k in keys}, indent=2))
    else:
        click.echo(explain_text(resolved, only), nl=False)


@main.command("schema")
@click.option("--ruleset", is_flag=True, help="The rule-set file schema instead of the recipe schema.")
@click.option("--write", "write_dir", type=click.Path(file_okay=False), default=None,
              help="Write every schema into this directory (what schemas/ holds).")
@_user_errors
def schema_cmd(ruleset: bool, write_dir: str | None) -> None:
    """Print the recipe JSON Schema (generated from the models)."""
    from recipec.schema import SCHEMAS, dumps, recipe_schema, ruleset_schema

    if write_dir:
        for name, fn in SCHEMAS.items():
            write_atomic(Path(write_dir) / name, dumps(fn()))
            click.echo(f"wrote {Path(write_dir) / name}", err=True)
        return
    click.echo(dumps(ruleset_schema() if ruleset else recipe_schema()), nl=False)


@main.command("rules")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_user_errors
def rules_cmd(fmt: str) -> None:
    """List the built-in transfer rule sets with their sources."""
    from recipec.transfer import builtin_names, load_ruleset

    sets = [load_ruleset(n) for n in builtin_names()]
    if fmt == "json":
        click.echo(json.dumps([{"name": rs.name, "title": rs.spec.title, "citation": rs.spec.source.citation,
                                "url": rs.spec.source.url, "params": dict(rs.params)} for rs in sets], indent=2))
        return
    width = max(len(rs.name) for rs in sets)
    for rs in sets:
        click.echo(f"{rs.name:<{width}}  {rs.spec.title}")
        click.echo(f"{'':<{width}}  source: {rs.spec.source.citation}")
        if rs.params:
            click.echo(f"{'':<{width}}  params: " + ", ".join(f"{k}={v:g}" for k, v in rs.params))
