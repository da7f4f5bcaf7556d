#!/usr/bin/env bash
# Install everything the test suite needs (dev, verify and the `frameworks` extras) into the active
# environment; idempotent. This is the README's test set-up and what .ci/run runs.
#   torch 2.13 (CPU) first, pinned by a constraint so nothing pulls a CUDA build;
#   torchtitan 0.3 + triton, transformers 5 + accelerate (the `frameworks` extra);
#   megatron-core's source distribution with --no-deps --ignore-requires-python (its wheel needs
#   Python >= 3.12; the sdist ships megatron/training/arguments.py), plus what its parser imports;
#   and, when missing, shellcheck (apt).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "torch==2.13.0" >"$constraints"

python -m pip install -q -c "$constraints" "torch==2.13.0"
python -m pip install -q -c "$constraints" -e ".[dev,verify,frameworks]"
if ! python -c "import megatron.training.arguments" 2>/dev/null \
    && ! python -c "import typing, typing_extensions; typing.override = typing_extensions.override; import megatron.training.arguments" 2>/dev/null; then
  python -m pip install -q -c "$constraints" numpy packaging einops typing_extensions
  python -m pip install -q -c "$constraints" --no-deps --ignore-requires-python --no-binary megatron-core \
    "megatron-core==0.19.2"
fi

if ! command -v shellcheck >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=()
    if [[ "$(id -u)" != 0 ]]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq shellcheck
  else
    echo "install-frameworks: shellcheck is missing and apt-get is not available" >&2
    exit 1
  fi
fi
