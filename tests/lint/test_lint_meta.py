"""Meta-tests: every lint check carries its metadata and documentation; docs/checks.md is generated;
the layering holds (the engine knows no checks, checks know no output formats, nothing imports torch)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from recipec.diagnostics import Severity
from recipec.lint.docs import checks_markdown
from recipec.lint.registry import CHECKS

LINT = Path(importlib.import_module("recipec.lint").__file__).parent
YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


@pytest.mark.parametrize("code", list(CHECKS))
def test_check_metadata_and_docstring(code: str) -> None:
    chk = CHECKS[code]
    assert re.fullmatch(r"RC\d{3}", chk.code)
    assert re.fullmatch(r"[a-z][a-z0-9-]+", chk.name)
    assert isinstance(chk.severity, Severity)
    assert chk.summary.endswith(".") and len(chk.summary) <= 120
    assert chk.rationale and chk.citation
    doc = chk.doc
    assert "**Anti-pattern**" in doc and "**Best practice**" in doc, code
    anti, best = doc.split("**Anti-pattern**", 1)[1].split("**Best practice**", 1)
    for part in (anti, best):
        blocks = YAML_BLOCK.findall(part)
        assert blocks, f"{code}: every example needs a ```yaml block"
        for block in blocks:
            YAML(typ="safe", pure=True).load(block)  # the examples are valid YAML


def test_codes_and_names_are_unique() -> None:
    names = [c.name for c in CHECKS.values()]
    assert len(set(names)) == len(names)


def test_registry_lists_every_check_module() -> None:
    modules = {p.stem for p in (LINT / "checks").glob("*.py") if p.stem != "__init__"}
    registered = {c.run.__module__.rsplit(".", 1)[1] for c in CHECKS.values() if c.run is not None}
    engine_made = {"recipe_error", "unused_suppression"}
    assert modules == registered | engine_made


def test_docs_checks_md_is_generated(repo: Path) -> None:
    text = (repo / "docs" / "checks.md").read_text(encoding="utf-8")
    assert text == checks_markdown(CHECKS), "docs/checks.md drifted: run `recipec checks --docs > docs/checks.md`"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_layering() -> None:
    for path in LINT.rglob("*.py"):
        imports = _imports(path)
        assert not any(i == "torch" or i.startswith("torch.") for i in imports), path
        assert "recipec.cli" not in imports, path
        assert "jsonschema" not in imports, path  # only the tests validate SARIF
    for core in ("engine.py", "base.py", "check.py", "config.py", "suppress.py", "formats.py"):
        imports = _imports(LINT / core)
        assert not any(i.startswith("recipec.lint.checks") or i == "recipec.lint.registry" for i in imports), core
    for path in (LINT / "checks").glob("*.py"):
        assert "recipec.lint.formats" not in _imports(path), path


ARXIV = re.compile(r"arXiv:\d{4}\.\d{4,5}")
URL = re.compile(r"https?://[^\s;,)]+")
REPO_PATH = re.compile(r"(?<![\w/.:-])((?:\.\./)*[\w.-]+(?:/[\w.-]+)*\.(?:md|py|json|yaml|yml|toml))\b")


@pytest.mark.parametrize("code", list(CHECKS))
def test_citation_is_a_public_source_or_a_file_in_the_repo(code: str, repo: Path) -> None:
    """Each ';'-separated source of a check's citation names an arXiv id, a URL, or a file that is in the
    repository; a file path that is not in the repository (a document the reader cannot open) fails."""
    citation = CHECKS[code].citation
    for path in REPO_PATH.findall(URL.sub("", citation)):
        assert (repo / path).is_file(), f"{code} cites {path}, which is not in the repository"
    for part in citation.split("; "):
        resolvable = ARXIV.search(part) or URL.search(part) or any(
            (repo / p).is_file() for p in REPO_PATH.findall(URL.sub("", part)))
        assert resolvable, f"{code}: {part!r} names no arXiv id, URL or file in the repository"
