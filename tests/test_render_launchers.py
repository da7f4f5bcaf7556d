"""Launch files: structure of the PyTorchJob, torchrun rendezvous rules, SLURM layout."""

from __future__ import annotations

import os
import re
import shlex
import subprocess

import yaml
from golden_cases import case_dir

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RECIPEC_"))}


def _dry(script, **env):
    return subprocess.run(["bash", str(script)], env=dict(ENV, RECIPEC_DRY_RUN="1", **env), capture_output=True,
                          text=True, check=True).stdout


def test_pytorchjob_structure():
    d = case_dir("llama-proxy", "8b", "k8s")  # 8 nodes × 8 GPUs
    doc = yaml.safe_load((d / "pytorchjob_torchtitan.yaml").read_text(encoding="utf-8"))
    assert (doc["apiVersion"], doc["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    spec = doc["spec"]
    assert spec["nprocPerNode"] == "8" and spec["elasticPolicy"]["rdzvBackend"] == "c10d"
    replicas = spec["pytorchReplicaSpecs"]
    assert list(replicas) == ["Worker"] and replicas["Worker"]["replicas"] == 8
    for role in replicas.values():
        pod = role["template"]["spec"]
        (container,) = pod["containers"]
        assert container["name"] == "pytorch"
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 8
        assert container["command"][:4] == ["torchrun", "--nproc-per-node", "8", "-m"]
        assert container["command"][4:] == ["torchtitan.train", "--module", "recipec_torchtitan", "--config",
                                            "recipec_config"]
        # the configs are read from the read-only ConfigMap; the job works in an emptyDir
        assert container["workingDir"] == "/workspace"
        assert {"name": "recipec", "mountPath": "/recipec", "readOnly": True} in container["volumeMounts"]
        assert {"name": "workspace", "emptyDir": {}} in pod["volumes"]
        assert {"name": "PYTHONPATH", "value": "/recipec"} in container["env"]


def test_single_node_pytorchjob_is_one_master_without_elastic_policy():
    d = case_dir("completep-depth", "wide-deep", "k8s")  # 1 node
    doc = yaml.safe_load((d / "pytorchjob_megatron.yaml").read_text(encoding="utf-8"))
    assert list(doc["spec"]["pytorchReplicaSpecs"]) == ["Master"] and "elasticPolicy" not in doc["spec"]


def test_job_names_never_collide_and_are_dns_labels():
    from recipec.render.launchers import job_name

    long = "a" * 64
    names = {job_name(long, s, t) for s in ("1b", "8b") for t in ("torchtitan", "megatron", "hf")}
    assert len(names) == 6
    for n in names | {job_name("7b-proxy", "proxy", "hf"), job_name("x" * 200, "8b", "hf")}:
        assert len(n) <= 63 and re.match(r"^[a-z]([-a-z0-9]*[a-z0-9])?$", n), n
    assert job_name("llama3-proxy-256", "8b", "torchtitan") == "llama3-proxy-256-8b-torchtitan"  # short: unchanged
    assert job_name("7b-proxy", "proxy", "hf") == "r-7b-proxy-proxy-hf"  # DNS-1035 starts with a letter


def test_torchrun_single_node_uses_local_c10d():
    script = case_dir("completep-depth", "wide-deep", "torchrun") / "launch_torchtitan_torchrun.sh"
    words = shlex.split(_dry(script))
    assert words[:11] == ["torchrun", "--nnodes", "1", "--nproc-per-node", "8", "--rdzv-backend", "c10d",
                          "--rdzv-endpoint", "localhost:0", "--rdzv-id", "gpt-completep-proxy-wide-deep-torchtitan"]


def test_torchrun_multi_node_needs_an_endpoint(tmp_path):
    script = case_dir("llama-proxy", "8b", "torchrun") / "launch_torchtitan_torchrun.sh"
    result = subprocess.run(["bash", str(script)], cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert result.returncode != 0 and "RECIPEC_RDZV_ENDPOINT" in result.stderr
    words = shlex.split(_dry(script, RECIPEC_RDZV_ENDPOINT="head:29400", RECIPEC_RDZV_ID="run7"))
    assert words[words.index("--nnodes") + 1] == "8"
    assert words[words.index("--rdzv-endpoint") + 1] == "head:29400"
    assert words[words.index("--rdzv-id") + 1] == "run7"


def test_slurm_runs_one_torchrun_per_node_and_passes_extra_arguments():
    script = case_dir("llama-proxy", "8b", "slurm") / "launch_megatron_slurm.sbatch"
    text = script.read_text(encoding="utf-8")
    assert "#SBATCH --nodes=8\n#SBATCH --ntasks-per-node=1\n#SBATCH --gpus-per-node=8\n" in text
    words = shlex.split(subprocess.run(["bash", str(script), "--data-path", "/data/x y"],
                                       env=dict(ENV, RECIPEC_DRY_RUN="1", SLURM_JOB_ID="4242"),
                                       capture_output=True, text=True, check=True).stdout)
    assert words[:3] == ["srun", "--ntasks-per-node=1", "torchrun"]
    assert words[words.index("--rdzv-id") + 1] == "4242"
    assert words[-2:] == ["--data-path", "/data/x y"]


def test_launch_options_reach_the_scripts(tmp_path):
    from click.testing import CliRunner

    from recipec.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", "examples/llama-proxy.yaml", "--size", "1b", "--target", "megatron",
                                       "--launcher", "torchrun", "--out", str(out), "--launch-arg", "--mock-data",
                                       "--launch-env", "RECIPEC_DATA=/data/x y.bin"])
    assert result.exit_code == 0, result.output
    script = out / "launch_megatron_torchrun.sh"
    words = shlex.split(_dry(script, RECIPEC_RDZV_ENDPOINT="h:1"))
    assert words[-1] == "--mock-data"
    # what the script exports, with the program replaced by an echo
    text = script.read_text(encoding="utf-8").replace('exec "${cmd[@]}"', 'echo "$RECIPEC_DATA|$MEGATRON_LM_DIR"')
    (tmp_path / "probe.sh").write_text(text, encoding="utf-8")

    def probe(**env):
        return subprocess.run(["bash", str(tmp_path / "probe.sh")], env=dict(ENV, RECIPEC_RDZV_ENDPOINT="h:1", **env),
                              capture_output=True, text=True, check=True).stdout.strip()

    assert probe() == "/data/x y.bin|/opt/Megatron-LM"
    assert probe(RECIPEC_DATA="/mine", MEGATRON_LM_DIR="/src/m") == "/mine|/src/m"  # set at launch wins
