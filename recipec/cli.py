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
@_user_errors
def compile_cmd(recipe: str, size: str | None, sets: tuple[str, ...], out: str) -> None:
    """Resolve RECIPE at a size and write OUT/resolved.json."""
    _, resolved = _load_and_resolve(recipe, size, sets)
    _print_warnings(resolved)
    target = Path(out) / "resolved.json"
    write_atomic(target, resolved_json(resolved))
    click.echo(f"wrote {target}", err=True)


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


# --------------------------------------------------------------------------- lint


@main.command("lint")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default=None,
              help="Output format [default: github under GitHub Actions (GITHUB_ACTIONS=true), else text].")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default=None,
              help="Exit 1 when a finding is at least this severe [default: warning, or fail-on in [tool.recipec]].")
@click.option("--target", type=click.Choice(["neutral", "torchtitan", "megatron", "hf"]), default=None,
              help="Check that this framework can express the recipe [default: neutral].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="A pyproject.toml with [tool.recipec] [default: the nearest one above the working directory].")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False), default=None,
              help="Write the report to this file instead of standard output.")
@click.option("--only-recipes", is_flag=True,
              help="Skip named files that do not look like recipes (no top-level model: and optimizer:), as "
                   "directory walks do; for pre-commit, which passes every YAML file.")
@_user_errors
def lint_cmd(paths: tuple[str, ...], fmt: str | None, fail_on: str | None, target: str | None,
             config_path: str | None, output: str | None, only_recipes: bool) -> None:
    """Lint recipe files and directories: settings that will not transfer, with codes and sources.

    Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 bad usage or configuration.
    """
    from recipec.diagnostics import Severity
    from recipec.lint.config import find_pyproject, load_config
    from recipec.lint.engine import collect_files, fails, lint_file
    from recipec.lint.formats import render
    from recipec.lint.registry import CHECKS

    cfg_file = Path(config_path) if config_path else find_pyproject(Path.cwd())
    cfg = load_config(cfg_file, CHECKS, required=config_path is not None)
    if target:
        cfg.target = target
    if fail_on:
        cfg.fail_on = Severity(fail_on)
    if fmt is None:
        fmt = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    diags = []
    for f in collect_files(paths, only_recipes=only_recipes):
        diags += lint_file(f, CHECKS, cfg)
    report = render(fmt, diags, CHECKS)
    if output:
        write_atomic(Path(output), report)
    else:
        click.echo(report, nl=False)
    sys.exit(EXIT_FINDINGS if fails(diags, cfg.fail_on) else EXIT_OK)


@main.command("rule")
@click.argument("code", required=False)
@click.option("--docs", is_flag=True, help="Print the documentation of every lint rule (docs/rules.md).")
@_user_errors
def rule_cmd(code: str | None, docs: bool) -> None:
    """Print a lint rule's documentation (by code or name), or list the lint rules."""
    from recipec.lint import registry
    from recipec.lint.docs import rule_text, rules_markdown

    if docs:
        click.echo(rules_markdown(registry.CHECKS), nl=False)
        return
    if code is None:
        for chk in registry.CHECKS.values():
            click.echo(f"{chk.code}  {chk.severity.value:<7}  {chk.name:<24}  {chk.summary}")
        return
    chk = registry.get(code)
    if chk is None:
        import difflib

        names = list(registry.CHECKS) + [c.name for c in registry.CHECKS.values()]
        close = difflib.get_close_matches(code, names, n=1)
        raise RecipecError(f"no lint rule {code!r}" + (f"; did you mean {close[0]!r}?" if close else
                                                      " (recipec rule lists them)"))
    click.echo(rule_text(chk))
