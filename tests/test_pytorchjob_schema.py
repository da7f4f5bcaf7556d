"""The generated PyTorchJobs against the Kubeflow training-operator v1.9 API types and admission rules.

The types are the operator's own API, as its Python SDK on PyPI ships them: ``kubeflow-training`` 1.9.x
(``kubeflow.training.models``, generated from the operator's OpenAPI spec) with the ``kubernetes``
client's core models for the pod template. Every field of a generated job must be a field those models
declare, with the declared type (the API server's structural schema drops unknown fields silently, so
an unknown field would be a silent no-op), and the models' own client-side validation must accept the
job (required fields). The admission rules are those of the operator's validating webhook at v1.9.0
(``validatePyTorchJob``, ``validateSpec``, ``validatePyTorchReplicaSpecs``), restated here in Python,
and the pod-level rules Kubernetes applies to the template (volume and mount names, DNS labels).
"""

from __future__ import annotations

import re

import pytest
import yaml
from click.testing import CliRunner
from golden_cases import CASES, ROOT, case_dir, targets_of

from recipec.cli import main

models = pytest.importorskip("kubeflow.training.models", reason="pip install 'kubeflow-training>=1.9,<1.10'")
k8s_models = pytest.importorskip("kubernetes.client.models")

DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(([^,]+), (.+)\)$")
_SCALARS = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}


def _model(name: str):
    return getattr(models, name, None) or getattr(k8s_models, name)


def type_errors(doc, type_name: str, path: str = "", quantity: bool = False) -> list[str]:
    """Fields of ``doc`` that the SDK's model ``type_name`` does not declare, or of another type."""
    if doc is None:
        return []
    if m := _LIST.match(type_name):
        if not isinstance(doc, list):
            return [f"{path}: a list expected ({type_name})"]
        return [e for i, item in enumerate(doc) for e in type_errors(item, m.group(1), f"{path}[{i}]")]
    if m := _DICT.match(type_name):
        if not isinstance(doc, dict):
            return [f"{path}: a mapping expected ({type_name})"]
        return [e for k, v in doc.items() for e in type_errors(v, m.group(2), f"{path}.{k}", quantity)]
    if type_name in _SCALARS:
        ok = isinstance(doc, _SCALARS[type_name]) and not (type_name in ("int", "float") and isinstance(doc, bool))
        # resource.Quantity is int-or-string in the API; the Python client types it str
        ok = ok or (type_name == "str" and quantity and isinstance(doc, int) and not isinstance(doc, bool))
        return [] if ok else [f"{path}: {type(doc).__name__} where the API has {type_name}"]
    cls = _model(type_name)
    if not isinstance(doc, dict):
        return [f"{path}: a mapping expected ({type_name})"]
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    out = []
    for key, value in doc.items():
        if key not in by_json:
            out.append(f"{path}.{key}: not a field of {type_name} (the API server would drop it)")
            continue
        out += type_errors(value, cls.openapi_types[by_json[key]], f"{path}.{key}",
                           type_name == "V1ResourceRequirements" and key in ("limits", "requests"))
    return out


def deserialize_errors(job: dict) -> list[str]:
    """The SDK's own client-side validation (required fields) while deserialising the whole job."""
    import json

    from kubeflow.training import ApiClient  # resolves kubeflow.org models, and V1* from the kubernetes client

    class _Response:
        data = json.dumps(job)

    try:
        ApiClient().deserialize(_Response(), "KubeflowOrgV1PyTorchJob")
    except (ValueError, TypeError) as e:
        return [f"sdk: {e}"]
    return []


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
            errs.append("spec.pytorchReplicaSpecs[Worker]: Required value: "
                        "must be configured if elastic policy is used")
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
                if ("configMap" in volumes.get(m["name"], {})
                        and (work + "/").startswith(m["mountPath"].rstrip("/") + "/")):
                    errs.append(f"{role}: workingDir {work} is inside the read-only ConfigMap mount {m['mountPath']}")
    return errs


def check(job: dict) -> list[str]:
    errors = [f"types: {e}" for e in type_errors(job, "KubeflowOrgV1PyTorchJob")] + deserialize_errors(job)
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
    assert ("spec.pytorchReplicaSpecs[Worker]: Required value: must be configured if elastic policy is used"
            in errors)
    assert ("types: .spec.elasticPolicy.bogus: not a field of KubeflowOrgV1ElasticPolicy "
            "(the API server would drop it)" in errors)
    assert any("read-only ConfigMap mount" in e for e in errors)
    job["spec"]["nprocPerNode"] = 8
    assert any(e.startswith("types: .spec.nprocPerNode: int where the API has str") for e in check(job))
    del job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["name"]
    assert any(e.startswith("sdk:") and "name" in e for e in check(job))


@pytest.mark.parametrize("example,size,launcher", [c for c in CASES if c[2] == "k8s"])
def test_golden_pytorchjobs_are_accepted(example, size, launcher):
    jobs = _jobs(case_dir(example, size, launcher))
    assert set(jobs) == {f"pytorchjob_{t}.yaml" for t in targets_of(example) if t != "neutral"}
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
