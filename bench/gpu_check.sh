#!/usr/bin/env bash
# One prepared check on a lent NVIDIA machine (the engine runs from the source tree with the machine's torch):
# the GPU's name, training throughput and MFU per preset and precision, a real short run on CUDA, decode speed.
# Usage: OUT=/some/folder bash bench/gpu_check.sh   (a .whl/ folder with missing pure-Python wheels is optional)
set -u
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$OUT/gpu.txt"
python3 -m engine.cli doctor 2>&1 | tee -a "$OUT/gpu.txt"

echo "== training throughput (eager, fp32 vs bf16)"
timeout 200 python3 bench/train_throughput.py --device cuda --presets tiny small medium large --precisions fp32 bf16 \
  --steps 20 --batch-size 16 > "$OUT/throughput.json" 2> "$OUT/throughput.err"; tail -3 "$OUT/throughput.err"
echo "== training throughput (compiled, bf16)"
timeout 200 python3 bench/train_throughput.py --device cuda --presets small medium --precisions bf16 --steps 20 \
  --batch-size 16 --compile > "$OUT/throughput_compiled.json" 2> "$OUT/throughput_compiled.err"
tail -3 "$OUT/throughput_compiled.err"

echo "== a real run on CUDA: small preset, built-in data"
timeout 240 python3 -m engine.cli --workspace /tmp/ws train --stage pretrain --preset small --max-steps 300 \
  --eval-every 100 --set run.batch_size=32 --set run.task_eval_items=50 --set optim.lr=1e-3 \
  --out /tmp/run-small > "$OUT/run_small.log" 2>&1
echo "exit $?"; tail -5 "$OUT/run_small.log"; cp /tmp/run-small/events.jsonl "$OUT/run_small_events.jsonl" 2>/dev/null

echo "== the tiny pipeline on CUDA: pretrain 800 steps, then SFT 400 steps (held-out task accuracy)"
( time python3 -m engine.cli --workspace /tmp/ws train --stage pretrain --preset tiny --max-steps 800 --out /tmp/tA ) \
  > "$OUT/tiny_pretrain.log" 2>&1
( time python3 -m engine.cli --workspace /tmp/ws train --stage sft --preset tiny --init /tmp/tA --max-steps 400 \
  --out /tmp/tB ) > "$OUT/tiny_sft.log" 2>&1
grep -hE "^eval|^real" "$OUT/tiny_pretrain.log" "$OUT/tiny_sft.log" | cut -c1-200

if [ "${DECODE:-1}" = 1 ] && [ -f bench/decode.py ]; then
  echo "== decode speed"
  timeout 150 python3 bench/decode.py --device cuda > "$OUT/decode.json" 2> "$OUT/decode.err"; tail -3 "$OUT/decode.err"
fi
ls -la "$OUT"
