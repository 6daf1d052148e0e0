#!/usr/bin/env bash
# The GPU checks of issue 32 in one command on a lent card, in about 9 minutes. Run
# bench/gpu_wheels.sh here first; then, through the device tool:
#
#     run(command="bash bench/gpu_run.sh", carry=[".whl", ".cache/gpu"], timeout_s=600)
#
# Each step has its own time limit, so one that hangs leaves the others their time;
# every figure lands in $OUT (the tool brings it back):
#   floor.json          SmolLM2-135M LoRA 8 x 1024: ftwizard (the plan's settings, Liger
#                       on), a plain PyTorch + peft loop, plain trl   (goal: <= 0.1 s)
#   floor_*.json        ftwizard without Liger, with torch.compile, and as before the fix
#   host_reads.json     tensor reads on the host per step on CUDA (goal: none unlogged)
#   check_liger.json    the estimator's memory on the Liger path against
#                       max_memory_allocated, and 8B QLoRA 2 x 2048 with checkpointing
#   speed.json          the throughput grid after the fix, to fit the time model again
#                       (bench/throughput_fit.py --fit, with bench/data/ and this file)
#   runs_view.txt       `ftwizard runs NAME` of a GPU run: the figures and step-time panels
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
PY=${PY:-python3}
TOK=.cache/gpu/tokenizer
MODELS=/tmp/gpu-models
started=$(date +%s)
step() {  # step NAME SECONDS COMMAND...: run with a limit, log to $OUT/NAME.log
  local name=$1 limit=$2; shift 2
  echo "== $name (at $(( $(date +%s) - started )) s, limit $limit s)"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "   exit $?"; tail -n 12 "$OUT/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/card.txt"
$PY -c "import torch, transformers, trl, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__)" | tee -a "$OUT/card.txt"
step build 90 $PY -c "
from pathlib import Path
from bench.gpu_check import build_model
print(build_model('demo', Path('$TOK'), Path('$MODELS')))"
DEMO=$MODELS/demo
FLOOR="bench/step_floor.py --model $DEMO --batch 8 --length 1024 --steps 40 --repeats 1"

step floor 170 $PY $FLOOR --ways ftwizard,plain,trl --json "$OUT/floor.json"
step floor_noliger 70 $PY $FLOOR --ways ftwizard --set training.use_liger_kernel=false \
  --json "$OUT/floor_noliger.json"
step floor_before 70 $PY $FLOOR --ways ftwizard --set training.use_liger_kernel=false \
  --set training.optim=adamw_torch --set training.logging_steps=1 --json "$OUT/floor_before.json"
step floor_compile 120 $PY $FLOOR --ways ftwizard --set training.torch_compile=true \
  --json "$OUT/floor_compile.json"

step host_reads 80 $PY - <<PYEOF
import json, subprocess, sys
from pathlib import Path
from tests.test_training import make_run
run = make_run(Path("/tmp/host-reads"), Path("$DEMO"), Path("data/demo/wizard-identity.jsonl"),
               "training.max_steps=9", "training.logging_steps=3", "checkpointing.save_steps=100",
               "model.dtype=bfloat16", "training.bf16=true", "training.use_liger_kernel=true")
result = subprocess.run([sys.executable, "-m", "tests.host_reads", str(run.path)],
                        capture_output=True, text=True)
print(result.stderr[-2000:])
found = json.loads(result.stdout.strip().splitlines()[-1])
Path("$OUT/host_reads.json").write_text(json.dumps(found, indent=1))
print(json.dumps(found, indent=1))
PYEOF

step check_liger 200 $PY bench/gpu_check.py --tokenizer $TOK --steps 10 \
  --only "demo lora,1.7b lora,8b qlora" --set training.use_liger_kernel=true \
  --json "$OUT/check_liger.json"

left=$(( 560 - ($(date +%s) - started) ))
if [ "$left" -gt 60 ]; then
  step speed $(( left - 20 )) $PY bench/gpu_speed.py --tokenizer $TOK --steps 8 \
    --budget-s $(( left - 90 )) --json "$OUT/speed.json"
fi

# The views of a GPU run, as `ftwizard runs NAME` prints them (the dashboard's panels).
step view 60 bash -c "$PY -m ftwizard.cli.main --preset demo-cpu --set model.model_name_or_path=$DEMO \
  --set training.max_steps=12 --set training.logging_steps=3 --set model.dtype=bfloat16 \
  --set training.bf16=true --set output.runs_root=/tmp/gpu-runs --set output.run_name=view \
  --set evaluation.val_size=0 > /dev/null 2>&1; \
  COLUMNS=100 $PY -m ftwizard.cli.main runs view --root /tmp/gpu-runs > $OUT/runs_view.txt 2>&1; \
  cat $OUT/runs_view.txt"
echo "total $(( $(date +%s) - started )) s"
