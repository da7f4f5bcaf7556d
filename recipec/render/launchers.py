"""Launchers: torchrun (single or multi-node, c10d), SLURM sbatch (srun torchrun), Kubeflow PyTorchJob.

Every value from the recipe is quoted for the language it lands in (``sh`` filter in scripts, JSON
strings in YAML). Scripts start with ``set -euo pipefail`` and print the command instead of running
it when ``RECIPEC_DRY_RUN=1``.

What a launch needs beyond the recipe — extra program arguments, environment variables, the
container image, volumes — comes from ``compile``'s launch options (``LaunchOptions``), so no
generated file needs a hand edit. The PyTorchJob follows the training-operator v1.9 admission rules
(``pkg/webhooks/pytorch/pytorchjob_webhook.go``): one node is a ``Master`` replica without an
elastic policy; several nodes are ``Worker`` replicas with ``elasticPolicy`` (c10d, min = max =
nodes); the name is a DNS-1035 label. The ConfigMap with the configs is mounted read-only at
``/recipec``; the job runs in an ``emptyDir`` at ``/workspace``, where the frameworks write.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from recipec.render import LaunchCommand, RenderContext, RenderedFile

FILES = {
    "torchrun": ("launch_{target}_torchrun.sh", "launch_torchrun.sh.j2", True),
    "slurm": ("launch_{target}_slurm.sbatch", "launch_slurm.sbatch.j2", True),
    "k8s": ("pytorchjob_{target}.yaml", "pytorchjob.yaml.j2", False),
}
# Environment every launch of a target sets unless the caller's environment (or --launch-env) already does.
TARGET_ENV = {"megatron": (("MEGATRON_LM_DIR", "/opt/Megatron-LM"),)}
K8S_CONFIG_DIR = "/recipec"  # the ConfigMap mount: read-only
K8S_WORK_DIR = "/workspace"  # an emptyDir: the job's working directory, where outputs and checkpoints go
PLACEHOLDER_IMAGE = "REPLACE-WITH-YOUR-TRAINING-IMAGE"
MAX_NAME = 63  # DNS labels (RFC 1035 / 1123)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLAIM = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Volume:
    claim: str  # a PersistentVolumeClaim
    mount_path: str
    name: str  # the pod's volume name (DNS label)


@dataclass(frozen=True)
class LaunchOptions:
    """What ``compile --launch-arg/--launch-env/--image/--k8s-volume`` adds to every launch file."""

    args: tuple[str, ...] = ()  # appended to the program's arguments (before the script's own "$@")
    env: tuple[tuple[str, str], ...] = ()  # defaults: a variable already set at launch time wins
    image: str | None = None  # the PyTorchJob's container image
    volumes: tuple[Volume, ...] = ()

    @classmethod
    def parse(cls, args=(), env=(), image=None, volumes=()) -> LaunchOptions:
        """From the command line's strings; bad values are a located ``RecipecError`` (the CLI checks each
        value as click parses it, with the same functions: ``recipec.cli_types``)."""
        from recipec.diagnostics import Diagnostic, RecipecError

        def checked(fn, item, option):
            try:
                return fn(item)
            except ValueError as e:
                raise RecipecError(Diagnostic(str(e), path=option)) from None

        return cls.build(args, [checked(parse_env_assignment, item, "--launch-env") for item in env],
                         None if image is None else checked(parse_image, image, "--image"),
                         [checked(parse_k8s_volume, item, "--k8s-volume") for item in volumes])

    @classmethod
    def build(cls, args=(), env=(), image=None, volumes=()) -> LaunchOptions:
        """From parsed values: (NAME, VALUE) pairs and (CLAIM, /MOUNT) pairs (a later NAME wins)."""
        vols = tuple(Volume(claim=claim, mount_path=mount, name=_label(f"data-{i}-{claim}"))
                     for i, (claim, mount) in enumerate(volumes))
        return cls(args=tuple(args), env=tuple(dict(env).items()), image=image, volumes=vols)


def parse_env_assignment(item: str) -> tuple[str, str]:
    """``NAME=VALUE`` (``--launch-env``) -> (NAME, VALUE); ValueError saying what is wrong."""
    key, sep, value = item.partition("=")
    if not sep or not _ENV_NAME.match(key):
        raise ValueError(f"expected NAME=VALUE with NAME a shell variable name (got {item!r})")
    return key, value


def parse_k8s_volume(item: str) -> tuple[str, str]:
    """``CLAIM:/MOUNT/PATH`` (``--k8s-volume``) -> (CLAIM, /MOUNT/PATH); ValueError saying what is wrong."""
    claim, sep, mount = item.partition(":")
    if not sep or not _CLAIM.match(claim) or not mount.startswith("/") or mount in (K8S_CONFIG_DIR, K8S_WORK_DIR):
        raise ValueError(f"expected CLAIM:/ABSOLUTE/MOUNT/PATH with CLAIM a PersistentVolumeClaim name (DNS-1123 "
                         f"subdomain) and the path not {K8S_CONFIG_DIR} or {K8S_WORK_DIR} (got {item!r})")
    return claim, mount


def parse_image(image: str) -> str:
    """``--image``: any non-blank container image reference."""
    if not image.strip():
        raise ValueError("must not be empty")
    return image


def _label(text: str) -> str:
    return job_name(text, "", "")


def job_name(recipe_name: str, size: str, target: str) -> str:
    """A DNS-1035 label (≤ 63 characters, starts with a letter) naming recipe × size × target.

    Size and target are part of the name before it is shortened, and a shortened name ends in a hash
    of the whole, so two jobs of one recipe never share a name.
    """
    from recipec.render.env import slug

    full = slug("-".join(p for p in (str(recipe_name), str(size), str(target)) if p), max_len=10**6)
    if not full[0].isalpha():
        full = "r-" + full
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256("\0".join((str(recipe_name), str(size), str(target))).encode("utf-8")).hexdigest()[:8]
    return full[:MAX_NAME - 9].rstrip("-") + "-" + digest


def render(ctx: RenderContext, launcher: str, command: LaunchCommand, notes: tuple[str, ...]) -> list[RenderedFile]:
    from recipec.render.env import render_template

    opts = ctx.launch or LaunchOptions()
    given = dict(opts.env)
    env = tuple(opts.env) + tuple((k, v) for k, v in TARGET_ENV.get(command.target, ()) if k not in given)
    notes = tuple(notes) + _data_notes(command.target, opts, launcher)
    path, template, executable = FILES[launcher]
    text = render_template(template, header=ctx.header("#"), r=ctx.resolved, cmd=command, notes=notes,
                           job=job_name(ctx.resolved.recipe_name, ctx.resolved.size, command.target),
                           extra_args=opts.args, launch_env=env, image=opts.image or PLACEHOLDER_IMAGE,
                           volumes=opts.volumes, config_dir=K8S_CONFIG_DIR, work_dir=K8S_WORK_DIR)
    return [RenderedFile(path.format(target=command.target), text, executable=executable)]


def _data_notes(target: str, opts: LaunchOptions, launcher: str) -> tuple[str, ...]:
    """Where the job's data comes from, when the launch options do not say."""
    has_data = "RECIPEC_DATA" in dict(opts.env) or (target == "hf" and _has_flag(opts.args, "--dataset"))
    out = []
    if target in ("torchtitan", "hf") and not has_data:
        where = ("set RECIPEC_DATA=<token file> at launch (or compile with --launch-env RECIPEC_DATA=…)"
                 if launcher != "k8s" else "compile with --launch-env RECIPEC_DATA=<path> (and --k8s-volume for it)")
        what = ("a nanoGPT-style token file, or torchtitan's HuggingFaceTextDataLoader settings as extra arguments"
                if target == "torchtitan" else "a nanoGPT-style token file or a datasets.save_to_disk directory")
        out.append(f"data: {what}; {where}")
    if target == "megatron" and not (_has_flag(opts.args, "--data-path") or _has_flag(opts.args, "--mock-data")):
        out.append("data: pretrain_gpt.py needs --data-path (or --mock-data) and the tokenizer arguments as extra "
                   "arguments (compile with --launch-arg …)")
    if launcher == "k8s" and opts.image is None:
        out.append(f"image: compile with --image <an image with {target} installed> ({PLACEHOLDER_IMAGE} is written)")
    return tuple(out)


def _has_flag(args: tuple[str, ...], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)
