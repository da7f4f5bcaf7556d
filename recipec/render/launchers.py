"""Launchers: torchrun (single or multi-node, c10d), SLURM sbatch (srun torchrun), Kubeflow PyTorchJob.

Every value from the recipe is quoted for the language it lands in (``sh`` filter in scripts, JSON
strings in YAML). Scripts start with ``set -euo pipefail`` and print the command instead of running
it when ``RECIPEC_DRY_RUN=1``.
"""

from __future__ import annotations

from recipec.render import LaunchCommand, RenderContext, RenderedFile

FILES = {
    "torchrun": ("launch_{target}_torchrun.sh", "launch_torchrun.sh.j2", True),
    "slurm": ("launch_{target}_slurm.sbatch", "launch_slurm.sbatch.j2", True),
    "k8s": ("pytorchjob_{target}.yaml", "pytorchjob.yaml.j2", False),
}


def render(ctx: RenderContext, launcher: str, command: LaunchCommand, notes: tuple[str, ...]) -> list[RenderedFile]:
    from recipec.render.env import render_template

    path, template, executable = FILES[launcher]
    text = render_template(template, header=ctx.header("#"), r=ctx.resolved, cmd=command, notes=notes,
                           job=f"{ctx.resolved.recipe_name}-{ctx.resolved.size}-{command.target}")
    return [RenderedFile(path.format(target=command.target), text, executable=executable)]
