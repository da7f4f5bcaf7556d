"""The command line: parse arguments, call one function, map the outcome to an exit code.

Exit codes: 0 ok, 1 findings (lint/verify/--check), 2 bad input or usage. Expected user errors
(``RecipecError``) print located messages and never a traceback.

Over 300 lines on purpose: one short function per subcommand, and their click options are most of the text.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

# The CLI is a short-lived process: skip pydantic's scan of every installed distribution for plugins
# (tens of milliseconds on each start). Library users importing recipec keep their plugins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import click  # noqa: E402

from recipec import __version__  # noqa: E402
from recipec.cli_types import ENV_ASSIGNMENT, IMAGE, K8S_VOLUME, Between  # noqa: E402
from recipec.diagnostics import RecipecError  # noqa: E402
from recipec.frameworks import TARGETS  # noqa: E402
from recipec.io import write_atomic  # noqa: E402,F401  (re-exported for callers of the CLI layer)

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
        except OSError as e:  # an I/O failure outside the paths that report their own (a full disk, EIO)
            from recipec.diagnostics import one_line

            where = f"{e.filename}: " if e.filename else ""
            click.echo(one_line(f"error: {where}{e.strerror or e}"), err=True)
            sys.exit(EXIT_USAGE)

    return wrapper


class SafePath(click.Path):
    """``click.Path`` that refuses an empty path ('' would silently mean the working directory) and a NUL
    character (no file system takes one) with a usage error, before anything touches the file system."""

    def convert(self, value, param, ctx):
        text = os.fsdecode(value) if isinstance(value, bytes) else str(value)
        if not text:
            self.fail("the path is empty (give '.' for the working directory)", param, ctx)
        if "\x00" in text:
            self.fail("the path contains a NUL character", param, ctx)
        return super().convert(value, param, ctx)


def _load_and_resolve(recipe: str, size: str | None, sets: tuple[str, ...]):
    from recipec.load import load_recipe
    from recipec.transfer import resolve_loaded

    loaded = load_recipe(recipe, sets=list(sets))
    return loaded, resolve_loaded(loaded, size)


def _print_warnings(resolved) -> None:
    for w in resolved.warnings:  # coded diagnostics (lint reports the same ones), printed as every diagnostic is
        click.echo(w.format(), err=True)


def resolved_json(resolved) -> str:
    import json

    return json.dumps(resolved.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


size_option = click.option("--size", "-s", metavar="NAME",
                           help="Target size from the recipe's 'sizes' (default: the proxy).")
set_option = click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
                          help="Override a recipe value before validation (repeatable).")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="recipec")
def main() -> None:
    """recipec: compile a tuned proxy training recipe to a target size, with provenance for every number."""


@main.command("compile")
@click.argument("recipe", type=SafePath(dir_okay=False))
@size_option
@set_option
@click.option("--out", "-o", "out", type=SafePath(file_okay=False), required=True, help="Output directory.")
@click.option("--target", "-t", "targets", multiple=True, metavar="NAME",
              help="Render for a framework: torchtitan, megatron, hf, neutral (repeatable).")
@click.option("--launcher", "-l", "launchers", multiple=True, metavar="NAME",
              help="Also write launch files: torchrun, slurm or k8s (one per target that runs; give it once).")
@click.option("--launch-arg", "launch_args", multiple=True, metavar="ARG",
              help="Append ARG to the program's arguments in every launch file (repeatable; e.g. data flags).")
@click.option("--launch-env", "launch_env", multiple=True, type=ENV_ASSIGNMENT,
              help="Set NAME in every launch file unless already set at launch (repeatable; e.g. RECIPEC_DATA=…).")
@click.option("--image", default=None, type=IMAGE, help="The PyTorchJob's container image (k8s).")
@click.option("--k8s-volume", "k8s_volumes", multiple=True, type=K8S_VOLUME,
              help="Mount a PersistentVolumeClaim in the PyTorchJob's pods (repeatable; e.g. the data).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing each output that differs or is missing.")
@click.option("--strict", is_flag=True, help="Exit 1 listing each value a target cannot express (lint's RC603), "
                                             "writing nothing.")
@click.option("--quiet", "-q", is_flag=True, help="Print no notes and warnings (findings and errors still).")
@click.option("--force", is_flag=True, help="Overwrite existing files that recipec did not generate.")
@_user_errors
def compile_cmd(recipe: str, size: str | None, sets: tuple[str, ...], out: str, targets: tuple[str, ...],
                launchers: tuple[str, ...], launch_args: tuple[str, ...], launch_env: tuple[tuple[str, str], ...],
                image: str | None, k8s_volumes: tuple[tuple[str, str], ...], check: bool, strict: bool, quiet: bool,
                force: bool) -> None:
    """Resolve RECIPE at a size; write OUT/resolved.json and the configs of each --target."""
    from recipec.diagnostics import Diagnostic
    from recipec.frameworks.gaps import target_gaps
    from recipec.render import RenderedFile, check_outputs, render, write_outputs
    from recipec.render.launchers import LaunchOptions

    if len(set(launchers)) > 1:
        raise RecipecError(Diagnostic(f"--launcher given {len(launchers)} times ({', '.join(launchers)}): give it "
                                      "once, and compile again into another --out for another launcher",
                                      path="--launcher"))
    launch = LaunchOptions.build(launch_args, launch_env, image, k8s_volumes)
    loaded, resolved = _load_and_resolve(recipe, size, sets)
    if not quiet:
        _print_warnings(resolved)
    rendered = render(loaded, resolved, targets, launchers[0] if launchers else None,
                      extra=(RenderedFile("resolved.json", resolved_json(resolved)),), launch=launch)
    for target, note in () if quiet else rendered.notes:
        click.echo(f"note: {target}: {note}", err=True)
    gaps = target_gaps(targets, resolved) if strict else []
    for target, gap in gaps:
        click.echo(f"strict: {target}: {gap.note}")
    if gaps:
        click.echo(f"{len(gaps)} values the targets cannot express (--strict; lint --target reports them as "
                   "RC603)" + ("" if check else "; nothing written"), err=True)
    if check:
        problems = check_outputs(rendered.files, out)
        for path, what in problems:
            click.echo(f"{Path(out) / path}: {what}")
        if problems:
            click.echo(f"{len(problems)} of {len(rendered.files)} outputs are out of date; "
                       "run the same command without --check", err=True)
        elif not quiet:
            click.echo(f"{len(rendered.files)} outputs up to date", err=True)
        sys.exit(EXIT_FINDINGS if problems or gaps else EXIT_OK)
    if gaps:
        sys.exit(EXIT_FINDINGS)
    for path in write_outputs(rendered.files, out, force=force):
        if not quiet:
            click.echo(f"wrote {path}", err=True)


@main.command("explain")
@click.argument("recipe", type=SafePath(dir_okay=False))
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
        import json

        values = resolved.values()
        keys = [row[0] for row in explain_rows(resolved, only)]
        click.echo(json.dumps({k: values[k].model_dump(mode="json") for k in keys}, indent=2))
    else:
        click.echo(explain_text(resolved, only), nl=False)


@main.command("inspect")
@click.argument("out_dir", type=SafePath(file_okay=False))
@click.option("--target", "-t", "targets", multiple=True, metavar="NAME",
              help="torchtitan, megatron, hf or neutral (repeatable; default: every target in OUT_DIR).")
@click.option("--shrink", is_flag=True, help="Build a small model with the same parameter kinds on CPU and measure "
                                             "each matrix's init std after the framework's own initialisation.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_user_errors
def inspect_cmd(out_dir: str, targets: tuple[str, ...], shrink: bool, fmt: str) -> None:
    """Build each framework's own model and optimizer from a compile OUT_DIR and check every parameter.

    One row per parameter: its kind, the optimizer group's lr, weight_decay, eps, betas, the measured
    init std (--shrink) and the forward multipliers that apply, each against resolved.json. Exit 0
    when all agree, 1 listing every difference, 2 when a framework is not installed.
    """
    from recipec.diagnostics import Diagnostic
    from recipec.inspect import FrameworkMissing, inspect_dir, load_resolved, report_json, report_text, targets_in

    load_resolved(Path(out_dir))  # a located error before any framework is imported
    chosen = list(dict.fromkeys(targets)) or targets_in(Path(out_dir))
    if not chosen:
        raise RecipecError(Diagnostic(f"{out_dir} holds no target's files: compile with --target first",
                                      path="--target"))
    reports = []
    for target in chosen:
        try:
            reports.append(inspect_dir(Path(out_dir), target, shrink=shrink))
        except FrameworkMissing as e:
            click.echo(f"error: {e.target} is not installed; to inspect it: {e.pip}", err=True)
            sys.exit(EXIT_USAGE)
    if fmt == "json":
        import json

        click.echo(json.dumps([report_json(r) for r in reports], indent=2, ensure_ascii=False))
    else:
        click.echo("".join(report_text(r) for r in reports), nl=False)
    if not all(r.ok for r in reports):
        sys.exit(EXIT_FINDINGS)


@main.command("schema")
@click.option("--ruleset", is_flag=True, help="The rule-set file schema instead of the recipe schema.")
@click.option("--write", "write_dir", type=SafePath(file_okay=False), default=None,
              help="Write every schema into this directory (what schemas/ holds).")
@_user_errors
def schema_cmd(ruleset: bool, write_dir: str | None) -> None:
    """Print the recipe JSON Schema (generated from the models)."""
    from recipec.schema import SCHEMAS, dumps, recipe_schema, ruleset_schema

    if write_dir is not None:
        for name, fn in SCHEMAS.items():
            write_atomic(Path(write_dir) / name, dumps(fn()))
            click.echo(f"wrote {Path(write_dir) / name}", err=True)
        return
    click.echo(dumps(ruleset_schema() if ruleset else recipe_schema()), nl=False)


def _renamed(old: str, new: str) -> None:
    click.echo(f"recipec: '{old}' is renamed '{new}'", err=True)


@main.command("rulesets")
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_user_errors
def rulesets_cmd(name: str | None, fmt: str) -> None:
    """List the built-in transfer rule sets with their sources, or show rule set NAME's rules and exponents."""
    _rulesets(name, fmt)


@main.command("rules", hidden=True)
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_user_errors
def rules_cmd(name: str | None, fmt: str) -> None:
    """Deprecated: recipec rulesets."""
    _renamed("rules", "rulesets")
    _rulesets(name, fmt)


def _rulesets(name: str | None, fmt: str) -> None:
    import json

    from recipec.transfer import builtin_names, load_ruleset
    from recipec.transfer.ruleset import ruleset_json, ruleset_text

    if name is not None:
        rs = load_ruleset(name, path_text="NAME")
        click.echo(json.dumps(ruleset_json(rs), indent=2, ensure_ascii=False) if fmt == "json" else ruleset_text(rs),
                   nl=fmt == "json")
        return
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


@main.command("verify")
@click.argument("recipe", type=SafePath(dir_okay=False))
@size_option
@set_option
@click.option("--widths", default="auto", show_default=True, metavar="W1,W2,…|auto",
              help="Ladder widths; auto doubles from the proxy towards the size's width (4 rungs).")
@click.option("--depth", type=int, default=4, show_default=True, help="Reduced depth of every rung.")
@click.option("--steps", type=int, default=None, help="Steps per rung (default: from the resolved AdamW timescales).")
@click.option("--device", type=click.Choice(["cuda", "cpu"]), default=None, help="Default: cuda when available.")
@click.option("--data", default="builtin", show_default=True, metavar="builtin|PATH",
              help="builtin: Python's own source, byte-level; PATH: a nanoGPT-style token file.")
@click.option("--data-dtype", type=click.Choice(["uint16", "uint32"]), default="uint16", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch", type=int, default=None, help="Sequences per step (default 32 on GPU, 8 on CPU).")
@click.option("--seq-len", type=int, default=None, help="Tokens per sequence (default 512 on GPU, 64 on CPU).")
@click.option("--micro-batches", type=int, default=None,
              help="Split each step's batch into this many slices and sum their gradients (default: one per "
                   "process; under torchrun a multiple of the process count).")
@click.option("--checkpoints", type=int, default=20, show_default=True, help="σ measurements per rung.")
@click.option("--wd-compression", default="auto", show_default=True, metavar="auto|none|FACTOR",
              help="Multiply every rung's weight decay by one common factor to reach steady state sooner.")
@click.option("--max-slope", type=float, default=0.1, show_default=True,
              help="Tolerance on |slope of log σ vs log width|.")
@click.option("--ratio-range", default="0.8,1.25", show_default=True, metavar="LOW,HIGH",
              help="Every σ ratio to the reference rung must lie in this range.")
@click.option("--plateau", type=float, default=0.1, show_default=True,
              help="σ counts as at steady state when a line through the last 40%% of its checkpoints moves by at "
                   "most this fraction.")
@click.option("--budget", "budget", type=float, default=None, metavar="MINUTES",
              help="Refuse a plan estimated beyond this many minutes (and print a ladder that fits); with --widths "
                   "auto, the widest doubling ladder that fits. Default: 5 on a CPU, none on a GPU.")
@click.option("--model", "model", default=None, metavar="MODULE:CALLABLE|FILE.py:CALLABLE",
              help="Train your own model: a factory that takes the rung's RungSpec (resolved shape, multipliers, "
                   "init) and returns a torch.nn.Module with forward(tokens) -> logits (see docs/verify-model.md).")
@click.option("--kind-map", "kind_map", multiple=True, metavar="REGEX=KIND",
              help="With --model: parameters whose name matches REGEX are of KIND (q, k, v, o, mlp_in, mlp_out, "
                   "embedding, output, norm, …), over recipec.torch's structural classification (repeatable).")
@click.option("--coord-check", "coord", type=click.Choice(["only", "also"]), default=None, is_flag=False,
              flag_value="only", help="muP's coord check: a few steps at ≥ 4 widths, RMS of activations and of "
              "ΔW·x per kind against width. Alone ('--coord-check', seconds) or 'also' before the ladder.")
@click.option("--coord-steps", type=int, default=10, show_default=True, help="Steps of the coord check.")
@click.option("--coord-seeds", type=int, default=3, show_default=True, help="Seeds per width of the coord check.")
@click.option("--coord-max-slope", type=float, default=0.25, show_default=True,
              help="Coord check tolerance on |slope of log RMS vs log width|.")
@click.option("--compile", "use_compile", is_flag=True, help="torch.compile the reference model (faster steps, "
              "slower start).")
@click.option("--calibrate", is_flag=True,
              help="Fit the hidden weight-decay width exponent from the σ slopes (e' = e + 2·slope), write the "
                   "calibrated rule set and re-run the ladder with it to confirm.")
@click.option("--out", "-o", "out", type=SafePath(file_okay=False), default="verify-out", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_user_errors
def verify_cmd(recipe: str, sets: tuple[str, ...], out: str, **flags) -> None:
    """Short training runs at a width ladder: do top singular values stay flat? Exit 0 pass, 1 fail or
    inconclusive, 2 error."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise RecipecError("recipec verify needs torch: pip install 'recipec[verify]' "
                           "(on a CPU-only machine install torch==2.13.0 first)") from None
    from recipec.load import load_recipe
    from recipec.verify.options import VerifyOptions, flag_names
    from recipec.verify.run import coord_to, verify_to

    with flag_names():  # the library names options by field; report them by flag
        opts = VerifyOptions.from_flags(flags, command=["recipec", *sys.argv[1:]] if sys.argv[1:2] == ["verify"]
                                        else None)
        loaded = load_recipe(recipe, sets=list(sets))
        run = coord_to if opts.coord == "only" else verify_to  # rank 0 writes and prints (_echo)
        report = run(loaded, opts, Path(out), _echo)
    sys.exit(EXIT_OK if report.verdict == "pass" else EXIT_FINDINGS)


def _echo(text: str, err: bool = False) -> None:
    click.echo(text, nl=False, err=err)


# --------------------------------------------------------------------------- lint


@main.command("lint")
@click.argument("paths", nargs=-1, required=True, type=SafePath())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default=None,
              help="Output format [default: github under GitHub Actions (GITHUB_ACTIONS=true), else text].")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default=None,
              help="Exit 1 when a finding is at least this severe [default: warning, or fail-on in [tool.recipec]].")
@click.option("--target", type=click.Choice(TARGETS), default=None,
              help="Check that this framework can express the recipe [default: neutral].")
@click.option("--config", "config_path", type=SafePath(dir_okay=False), default=None,
              help="A pyproject.toml with [tool.recipec] [default: the nearest one above the working directory].")
@click.option("--output", "-o", "output", type=SafePath(dir_okay=False), default=None,
              help="Write the report to this file instead of standard output.")
@click.option("--only-recipes", is_flag=True,
              help="Skip named files that do not look like recipes (no top-level model: and optimizer:), as "
                   "directory walks do; for pre-commit, which passes every YAML file.")
@_user_errors
def lint_cmd(paths: tuple[str, ...], fmt: str | None, fail_on: str | None, target: str | None,
             config_path: str | None, output: str | None, only_recipes: bool) -> None:
    """Lint recipe files and directories: settings that will not transfer, with codes and sources.

    Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 a recipe that cannot be loaded (reported
    as RC001 in the report too), bad usage or configuration.
    """
    from recipec.diagnostics import Severity
    from recipec.lint.config import find_pyproject, load_config
    from recipec.lint.engine import collect_files, fails, is_fatal, lint_file
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
    if any(is_fatal(d) for d in diags):
        sys.exit(EXIT_USAGE)  # a broken recipe is not a finding: CI must tell it from a warning
    sys.exit(EXIT_FINDINGS if fails(diags, cfg.fail_on) else EXIT_OK)


@main.command("checks")
@click.argument("code", required=False)
@click.option("--docs", is_flag=True, help="Print the documentation of every lint check (docs/checks.md).")
@_user_errors
def checks_cmd(code: str | None, docs: bool) -> None:
    """Print a lint check's documentation (by code or name), or list the lint checks."""
    _checks(code, docs)


@main.command("rule", hidden=True)
@click.argument("code", required=False)
@click.option("--docs", is_flag=True)
@_user_errors
def rule_cmd(code: str | None, docs: bool) -> None:
    """Deprecated: recipec checks."""
    _renamed("rule", "checks")
    _checks(code, docs)


def _checks(code: str | None, docs: bool) -> None:
    from recipec.lint import registry
    from recipec.lint.docs import check_text, checks_markdown

    if docs:
        click.echo(checks_markdown(registry.CHECKS), nl=False)
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
        raise RecipecError(f"no lint check {code!r}" + (f"; did you mean {close[0]!r}?" if close else
                                                       " (recipec checks lists them)"))
    click.echo(check_text(chk))


@main.command("estimate")
@click.argument("recipe", type=SafePath(dir_okay=False))
@size_option
@set_option
@click.option("--gpus", type=Between(1, "recipec.recipe.MAX_SHAPE", integer=True), default=None,
              help="Number of GPUs (default: the size's cluster).")
@click.option("--gpu", type=click.Choice(["h100", "h200", "a100"]), default=None,
              help="GPU type (default: the size's cluster.gpu, else h100).")
@click.option("--mfu", type=Between(0.001, 1), default=0.4, show_default=True,  # below 0.1%: no planning figure
              help="Model-FLOPs utilisation for the wall time.")
@click.option("--sharding", type=click.Choice(["fsdp", "zero1", "none"]), default="fsdp", show_default=True,
              help="fsdp: weights, gradients and optimizer states sharded over data parallel (FSDP2 / ZeRO-3); "
                   "zero1: optimizer states only (Megatron's distributed optimizer).")
@click.option("--micro-batch", type=Between(1, "recipec.recipe.MAX_SHAPE", integer=True), default=None,
              help="Sequences per GPU per step (default: the recipe's).")
@click.option("--kernels", type=click.Choice(["fused", "eager"]), default="fused", show_default=True,
              help="Which activations autograd keeps: fused (GPU frameworks: fused RMSNorm, flash attention) or "
                   "eager (PyTorch's composite RMSNorm, as on a CPU).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_user_errors
def estimate_cmd(recipe, size, sets, gpus, gpu, mfu, sharding, micro_batch, kernels, fmt) -> None:
    """Parameters, training FLOPs, memory per GPU and wall time of a launch. Exit 1 when a GPU would run out
    of memory even with activation checkpointing."""
    import json

    from recipec.estimate import GPUS, estimate, text, to_json

    _, resolved = _load_and_resolve(recipe, size, sets)
    gpu = gpu or (resolved.cluster.gpu.lower() if resolved.cluster.gpu.lower() in GPUS else "h100")
    result = estimate(resolved, gpus or resolved.cluster.world_size, gpu=gpu, mfu=mfu, sharding=sharding,
                      micro_batch=micro_batch, kernels=kernels)
    if fmt == "json":
        click.echo(json.dumps(to_json(result, resolved.recipe_name), indent=2))
    else:
        click.echo(text(result, resolved.recipe_name), nl=False)
    budget = result.gpu.memory_gib * 2**30
    sys.exit(EXIT_FINDINGS if result.memory.total_checkpointed > budget else EXIT_OK)
