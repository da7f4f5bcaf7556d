#!/usr/bin/env bash
# The GPU measurements of the verify issues, in parts that each fit one 10-minute slot.
#
#   bash benchmarks/gpu_suite.sh part1 OUTDIR   # smoke ladder, σ estimator, trainer tokens/s + MFU (eager, compiled)
#   bash benchmarks/gpu_suite.sh part2 OUTDIR   # ladder 256→2048 under mup-adamw, mup-megatron, fan2025 (+ --calibrate)
#   bash benchmarks/gpu_suite.sh part3 OUTDIR   # ladder 256→4096 at 4 layers with the defaults, alone on the GPU, timed
#   bash benchmarks/gpu_suite.sh part4 OUTDIR   # issue 13: coord check on examples/models (128→1024), 256→1024 ladder
#                                               # on examples/models/gpt.py and on the reference model (not run yet)
#   bash benchmarks/gpu_suite.sh part5 OUTDIR   # issue 15: 256→1024 ladder with Muon (torch.optim.Muon) on
#                                               # examples/muon-proxy.yaml, its coord check, and the MoE example's
#                                               # coord check and ladder (not run yet)
#   TINY=1 bash benchmarks/gpu_suite.sh part5 OUTDIR   # the same steps at tiny CPU settings (no GPU needed):
#                                               # checks the script end to end; its numbers mean nothing
#
# Every step runs under its own time limit and logs to OUTDIR/<step>.log (progress included); the verify
# reports are packed into OUTDIR/reports.tar.gz. Part 2 runs its three ladders side by side on the one GPU
# (their timings are not reported) at batch 16 × 512 to fit the slot. Needs recipec importable
# (pip install .[verify] or PYTHONPATH) and a CUDA GPU.
set -u
part=${1:?part1 or part2}
out=${2:?output directory}
mkdir -p "$out"
work=$(mktemp -d)
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
recipe=examples/llama-proxy.yaml
t0=$(date +%s)

step() {  # step NAME LIMIT_S COMMAND...
    local name=$1 limit=$2
    shift 2
    local s
    s=$(date +%s)
    echo "=== $name (limit ${limit}s, at +$((s - t0))s)"
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    echo "--- $name: exit $rc in $(($(date +%s) - s))s"
    tail -n 40 "$out/$name.log"
    return $rc
}

pack() {
    tar -C "$work" -czf "$out/reports.tar.gz" . 2>/dev/null
    echo "=== total $(($(date +%s) - t0))s"
}
trap pack EXIT

tiny=${TINY:-0}
if [ "$tiny" = 1 ]; then
    echo "TINY=1: tiny CPU settings, no GPU"
else
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader
fi
$py -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__)"

case $part in
part1)
    # one short ladder end to end first: a broken CUDA path stops here, cheaply
    step smoke 120 "$py" -m recipec verify "$recipe" --size 8b --widths 256,512 --depth 2 --steps 40 \
        --out "$work/smoke" --quiet
    [ $? -le 1 ] || exit 1
    step sigma 90 "$py" benchmarks/sigma_bench.py --device cuda --repeat 5
    step trainer 200 "$py" benchmarks/trainer_bench.py --width 2048,4096 --compile both --steps 60
    ;;
part2)
    # the issue-5 experiment: one recipe, its width rule set swapped (completep and the batch rule kept); fan2025
    # is the recipe's own and runs with --calibrate (issue 6): its first ladder is the fan2025 table
    # shellcheck disable=SC2054  # the commas are the --widths value
    common=(--size 8b --widths 256,512,1024,2048 --depth 4 --batch 16)
    for rs in mup-adamw mup-megatron; do
        step "ladder-$rs" 420 "$py" -m recipec verify "$recipe" "${common[@]}" \
            --set "transfer=[$rs, completep, adam-sqrt-batch]" --out "$work/$rs" &
    done
    step calibrate-fan2025 570 "$py" -m recipec verify "$recipe" "${common[@]}" --calibrate --out "$work/fan2025" &
    wait
    ;;
part3)
    # the issue-6 timing: 256→4096 at 4 layers with the default run length and batch, alone on the GPU
    step ladder4096 570 "$py" -m recipec verify "$recipe" --size 8b --widths 256,512,1024,2048,4096 --depth 4 \
        --out "$work/ladder4096"
    ;;
part4)
    # issue 13: the coord check passes the correct example and flags each broken one; the σ ladder on the
    # user's model beside the reference model, same recipe and rungs
    models=examples/models
    for m in gpt gpt_no_readout_multiplier gpt_init_over_m gpt_attn_sqrt_scale; do
        step "coord-$m" 60 "$py" -m recipec verify "$models/gpt-recipe.yaml" --size xl --widths 128,256,512,1024 \
            --coord-check --model "$models/$m.py:build" --out "$work/coord-$m" --quiet
    done
    step ladder-gpt 240 "$py" -m recipec verify "$models/gpt-recipe.yaml" --size xl --widths 256,512,1024 --depth 4 \
        --model "$models/gpt.py:build" --out "$work/ladder-gpt"
    step ladder-reference 200 "$py" -m recipec verify "$models/gpt-recipe.yaml" --size xl --widths 256,512,1024 \
        --depth 4 --out "$work/ladder-reference"
    ;;
part5)
    # issue 15: the acceptance's GPU part — the σ ladder 256→1024 with Muon on the Muon example (Muon trains the
    # attention and MLP matrices, AdamW the rest), its coord check, and the MoE example's coord check and ladder.
    # Exit status 0 pass, 1 fail or inconclusive, 2 an error; only 2 stops the part.
    muon=examples/muon-proxy.yaml
    moe=examples/moe-proxy.yaml
    if [ "$tiny" = 1 ]; then  # CPU: head_dim 16 (kv_heads 8 keeps 2 query heads per kv head) so widths start at 32
        small=(--device cpu --set model.head_dim=16 --set model.kv_heads=8)
        # shellcheck disable=SC2054  # the commas are the --widths value
        mladder=(--widths 32,64 --depth 1 --steps 12 --batch 2 --seq-len 16 --checkpoints 3 "${small[@]}")
        # shellcheck disable=SC2054
        mcoord=(--widths 32,64,96,128 --depth 1 --coord-steps 3 --coord-seeds 2 --batch 2 --seq-len 16 "${small[@]}")
        # shellcheck disable=SC2054
        eladder=(--widths 64,128 --depth 1 --steps 12 --batch 2 --seq-len 16 --checkpoints 3 --device cpu)
        # shellcheck disable=SC2054
        ecoord=(--widths 64,128,192,256 --depth 1 --coord-steps 3 --coord-seeds 2 --batch 2 --seq-len 16 --device cpu)
        limit=600
    else
        # shellcheck disable=SC2054
        mladder=(--widths 256,512,1024 --depth 4)
        # shellcheck disable=SC2054
        mcoord=(--widths 256,512,768,1024 --depth 2)
        # shellcheck disable=SC2054
        eladder=(--widths 256,512,1024 --depth 4)
        # shellcheck disable=SC2054
        ecoord=(--widths 256,512,768,1024 --depth 2)
        limit=420
    fi
    step muon-coord 180 "$py" -m recipec verify "$muon" --size wide --coord-check "${mcoord[@]}" \
        --out "$work/muon-coord" --quiet
    [ $? -le 1 ] || exit 1
    step muon-ladder "$limit" "$py" -m recipec verify "$muon" --size wide "${mladder[@]}" --out "$work/muon-ladder"
    [ $? -le 1 ] || exit 1
    step moe-coord 180 "$py" -m recipec verify "$moe" --size wide --coord-check "${ecoord[@]}" \
        --out "$work/moe-coord" --quiet
    [ $? -le 1 ] || exit 1
    step moe-ladder "$limit" "$py" -m recipec verify "$moe" --size wide "${eladder[@]}" --out "$work/moe-ladder"
    [ $? -le 1 ] || exit 1
    ;;
*)
    echo "unknown part $part" >&2
    exit 2
    ;;
esac
