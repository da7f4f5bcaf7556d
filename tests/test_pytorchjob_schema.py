"""The generated PyTorchJobs against the Kubeflow training-operator v1.9.0 CRD schema and admission rules.

The schema is the operator's own CRD (``tests/data/training-operator/``, see the README there: tag
v1.9.0, ``manifests/base/crds/kubeflow.org_pytorchjobs.yaml``), validated with jsonschema, plus a
pruning check (the API server silently drops fields a structural schema does not know, so an unknown
field would be a silent no-op). The admission rules are those of the operator's validating webhook at
the same tag (``pkg/webhooks/pytorch/pytorchjob_webhook.go``: ``validatePyTorchJob``, ``validateSpec``,
``validatePyTorchReplicaSpecs``), restated here in Python, and the pod-level rules Kubernetes applies to
the template (volume and mount names, DNS labels).
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache

import pytest
import yaml
from click.testing import CliRunner
from golden_cases import CASES, ROOT, case_dir

from recipec.cli import main

jsonschema = pytest.importorskip("jsonschema")

CRD = ROOT / "tests" / "data" / "training-operator" / "kubeflow.org_pytorchjobs.yaml.gz"
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@lru_cache(maxsize=1)
def crd_schema() -> dict:
    crd = yaml.safe_load(gzip.decompress(CRD.read_bytes()))
    assert crd["spec"]["names"]["kind"] == "PyTorchJob" and crd["spec"]["group"] == "kubeflow.org"
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


def pruned_fields(doc, schema, path="") -> list[str]:
    """Fields of ``doc`` that a structural schema does not declare (the API server would drop them)."""
    out = []
    if isinstance(doc, dict) and schema.get("type") == "object" and not schema.get("x-kubernetes-preserve-unknown-fields"):
        props, extra = schema.get("properties"), schema.get("additionalProperties")
        for key, value in doc.items():
            if props is not None and key in props:
                out += pruned_fields(value, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                out += pruned_fields(value, extra, f"{path}.{key}")
            elif props is not None:
                out.append(f"{path}.{key}")
    elif isinstance(doc, list) and "items" in schema:
        for i, item in enumerate(doc):
            out += pruned_fields(item, schema["items"], f"{path}[{i}]")
    return out


def admission_errors(job: dict) -> list[str]:
    """training-operator v1.9.0's validating webhook for a new PyTorchJob, as field errors."""
    errs = []
    name = job["metadata"].get("name", "")
    if not (len(name) <= 63 and DNS1035.match(name)):
        errs.append(f"metadata.name: {name!r} is not a DNS-1035 label")
    spec = job["spec"]
    replicas = spec.get("pytorchReplicaSpecs")
    if spec.get("elasticPolicy") is not None:
        if "Worker" not in (replicas or {}):
            errs.append("spec.pytorchReplicaSpecs[Worker]: Required value: must be configured if elastic policy is used")
        if spec["elasticPolicy"].get("nProcPerNode") is not None and spec.get("nprocPerNode") is not None:
            errs.append("spec.elasticPolicy.nProcPerNode: Forbidden: must not be used with spec.nprocPerNode")
    if replicas is None:
        errs.append("spec.pytorchReplicaSpecs: Required value")
    for role, rs in (replicas or {}).items():
        if role not in ("Master", "Worker"):
            errs.append(f"spec.pytorchReplicaSpecs[{role}]: Unsupported value")
        containers = ((rs or {}).get("template") or {}).get("spec", {}).get("containers") or []
        if not containers:
            errs.append(f"spec.pytorchReplicaSpecs[{role}].template.spec.containers: Required value")
        if any(not c.get("image") for c in containers):
            errs.append(f"spec.pytorchReplicaSpecs[{role}]: a container has no image")
        if not any(c.get("name") == "pytorch" for c in containers):
            errs.append(f"spec.pytorchReplicaSpecs[{role}]: must have at least one container with name pytorch")
        count = rs.get("replicas")
        if role == "Master" and count != 1:
            errs.append(f"spec.pytorchReplicaSpecs[Master].replicas: Forbidden: must be 1 (got {count})")
        elif role == "Worker" and count is not None and count < 1:
            errs.append("spec.pytorchReplicaSpecs[Worker].replicas: Forbidden: must be at least 1")
    return errs


def pod_errors(job: dict) -> list[str]:
    """What Kubernetes checks of the pod template that the CRD does not: names, mounts, the working directory."""
    errs = []
    for role, rs in job["spec"]["pytorchReplicaSpecs"].items():
        pod = rs["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for n in volumes:
            if not (len(n) <= 63 and DNS1123.match(n)):
                errs.append(f"{role}: volume name {n!r} is not a DNS-1123 label")
        for c in pod["containers"]:
            mounts = c.get("volumeMounts", [])
            for m in mounts:
                if m["name"] not in volumes:
                    errs.append(f"{role}: mount {m['name']!r} has no volume")
            for e in c.get("env", []):
                if not re.match(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", e["name"]):
                    errs.append(f"{role}: env name {e['name']!r} is invalid")
            # A ConfigMap volume is read-only (Kubernetes mounts it so): the working directory must be elsewhere.
            work = c.get("workingDir", "/")
            for m in mounts:
                if "configMap" in volumes.get(m["name"], {}) and (work + "/").startswith(m["mountPath"].rstrip("/") + "/"):
                    errs.append(f"{role}: workingDir {work} is inside the read-only ConfigMap mount {m['mountPath']}")
    return errs


def check(job: dict) -> list[str]:
    schema = crd_schema()
    errors = [f"schema: {'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in jsonschema.Draft7Validator(schema).iter_errors(job)]
    errors += [f"pruned: {p}" for p in pruned_fields(job, schema)]
    return errors + admission_errors(job) + pod_errors(job)


def _jobs(d):
    return {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(d.glob("pytorchjob_*.yaml"))}


def test_the_checks_catch_what_the_operator_rejected():
    """The issue's rejected shape (a single-node job with an elastic policy and only a Master) fails here."""
    job = yaml.safe_load("""
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: x-1b-hf}
spec:
  nprocPerNode: "8"
  elasticPolicy: {rdzvBackend: c10d, minReplicas: 1, maxReplicas: 1, bogus: 1}
  pytorchReplicaSpecs:
    Master:
      replicas: 1
      template:
        spec:
          containers:
            - {name: pytorch, image: img, workingDir: /recipec, volumeMounts: [{name: recipec, mountPath: /recipec}]}
          volumes: [{name: recipec, configMap: {name: x}}]
""")
    errors = check(job)
    assert "spec.pytorchReplicaSpecs[Worker]: Required value: must be configured if elastic policy is used" in errors
    assert "pruned: .spec.elasticPolicy.bogus" in errors
    assert any("read-only ConfigMap mount" in e for e in errors)
    job["spec"]["nprocPerNode"] = 8
    assert any(e.startswith("schema: spec.nprocPerNode") for e in check(job))


@pytest.mark.parametrize("example,size,launcher", [c for c in CASES if c[2] == "k8s"])
def test_golden_pytorchjobs_are_accepted(example, size, launcher):
    jobs = _jobs(case_dir(example, size, launcher))
    assert set(jobs) == {"pytorchjob_torchtitan.yaml", "pytorchjob_megatron.yaml", "pytorchjob_hf.yaml"}
    for name, job in jobs.items():
        assert check(job) == [], name


def test_single_and_multi_node_shapes():
    one = _jobs(case_dir("completep-depth", "wide-deep", "k8s"))["pytorchjob_torchtitan.yaml"]  # 1 node
    assert "elasticPolicy" not in one["spec"] and list(one["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    assert one["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] == 1
    many = _jobs(case_dir("llama-proxy", "8b", "k8s"))["pytorchjob_torchtitan.yaml"]  # 8 nodes
    assert many["spec"]["elasticPolicy"] == {"rdzvBackend": "c10d", "minReplicas": 8, "maxReplicas": 8}
    assert list(many["spec"]["pytorchReplicaSpecs"]) == ["Worker"]
    assert many["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 8


def test_launch_options_reach_the_job_without_an_edit(tmp_path):
    out = tmp_path / "out"
    args = ["compile", str(ROOT / "examples" / "llama-proxy.yaml"), "--size", "1b", "--launcher", "k8s",
            "--out", str(out), "--image", "registry.example/train:1", "--k8s-volume", "corpus:/data",
            "--launch-env", "RECIPEC_DATA=/data/train.bin", "--launch-env", "MEGATRON_LM_DIR=/src/Megatron-LM",
            "--launch-arg", "--mock-data", "--launch-arg", "--tokenizer-type=NullTokenizer"]
    for t in ("torchtitan", "megatron", "hf", "neutral"):
        args += ["--target", t]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    jobs = _jobs(out)
    for name, job in jobs.items():
        assert check(job) == [], name
        (c,) = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
        assert c["image"] == "registry.example/train:1"
        assert c["args"] == ["--mock-data", "--tokenizer-type=NullTokenizer"]
        env = {e["name"]: e["value"] for e in c["env"]}
        assert env["RECIPEC_DATA"] == "/data/train.bin"
        assert {"name": "data-0-corpus", "mountPath": "/data"} in c["volumeMounts"]
        assert c["workingDir"] == "/workspace"
        assert "REPLACE-WITH" not in (out / name).read_text(encoding="utf-8")
    mega = jobs["pytorchjob_megatron.yaml"]["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    assert {"name": "MEGATRON_LM_DIR", "value": "/src/Megatron-LM"} in mega["containers"][0]["env"]
    hf = jobs["pytorchjob_hf.yaml"]["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert hf["command"][3:] == ["/recipec/hf_train.py", "hf_training_args.yaml"]  # found beside the script


def test_megatron_job_sets_megatron_lm_dir_by_default():
    job = _jobs(case_dir("llama-proxy", "8b", "k8s"))["pytorchjob_megatron.yaml"]
    (c,) = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
    assert {"name": "MEGATRON_LM_DIR", "value": "/opt/Megatron-LM"} in c["env"]
