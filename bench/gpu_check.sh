#!/usr/bin/env bash
# Every GPU check in one prepared script, for a lent NVIDIA machine (H100/H200: about 8 minutes). The engine runs from
# the source tree with the machine's torch. Results land in $OUT; the summary lines go to stdout.
#   1. the card, torch, `minigpt doctor`
#   2. training throughput and MFU: tiny, small, medium, large x bf16 x eager / compiled (bench/train_throughput.py)
#   3. decode: batch-1 / batch-8 tokens/s and time to first token, ours vs transformers' generate (if installed)
#   4. a real short training run of the small preset on CUDA (RUNS=0 skips it; RUNS=2 adds the tiny pipeline)
# Usage: OUT=/some/folder bash bench/gpu_check.sh   (a .whl/ folder with missing pure-Python wheels is optional)
set -u
OUT=${OUT:-/tmp/gpu-check}
BATCH=${BATCH:-16}
RUNS=${RUNS:-1}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start ))s] $*"; }

stamp "== the card"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"
timeout 60 python3 -m engine.cli doctor > "$OUT/doctor.txt" 2>&1; head -5 "$OUT/doctor.txt"

stamp "== training throughput and MFU, bf16, eager vs compiled (batch $BATCH)"
# Small presets first, so a timeout still leaves their rows; every row is also printed to the .err file as it ends.
timeout 330 python3 bench/train_throughput.py --device cuda --presets tiny small medium large --precisions bf16 \
  --steps 20 --batch-size "$BATCH" --compile > "$OUT/throughput.json" 2> "$OUT/throughput.err"
echo "exit $?"
python3 - "$OUT" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = [json.loads(l) for l in (out / "throughput.err").read_text().splitlines() if l.startswith("{")]
print(f"{'preset':8} {'mode':9} {'tokens/s':>12} {'TFLOP/s':>9} {'MFU':>7}")
for r in rows:
    mode = "compiled" if r.get("compiled") else "eager"
    if "error" in r:
        print(f"{r['preset']:8} {mode:9} {r['error'][:80]}")
    else:
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
        print(f"{r['preset']:8} {mode:9} {r['tokens_per_s']:>12,.0f} {r['tflops']:>9.1f} {mfu:>7}")
EOF

stamp "== fp32 (TF32) eager, tiny and small, for the bf16 ratio"
timeout 60 python3 bench/train_throughput.py --device cuda --presets tiny small --precisions fp32 --steps 20 \
  --batch-size "$BATCH" > "$OUT/throughput_fp32.json" 2> "$OUT/throughput_fp32.err"; echo "exit $?"

if python3 -c "import transformers" 2>/dev/null; then
  stamp "== decode: ours vs transformers' generate on the exported copy (fp32), TTFT and tokens/s"
  timeout 150 python3 bench/decode.py --device cuda --presets tiny,small > "$OUT/decode.json" 2> "$OUT/decode.err"
  echo "exit $?"
  python3 -c "
import json; r = json.load(open('$OUT/decode.json'))
for n, p in r['presets'].items():
    o, t = p['ours'], p['transformers']
    print(f\"{n}: b1 {o['tokens_per_s_b1']:.0f} vs {t['tokens_per_s_b1']:.0f} tok/s ({p['speedup_b1']:.2f}x), \"
          f\"b8 {p['speedup_b8']:.2f}x, TTFT {1000 * o['ttft_s']:.1f} ms vs {1000 * t['ttft_s']:.1f} ms\")" 2>&1
else
  stamp "== decode: transformers is not installed here; skipped (pip install transformers, or put its wheel in .whl/)"
fi

if [ "$RUNS" -ge 1 ]; then
  stamp "== a real run on CUDA: small preset, built-in data, 300 steps"
  timeout 200 python3 -m engine.cli --workspace /tmp/ws train --stage pretrain --preset small --max-steps 300 \
    --eval-every 150 --set run.batch_size=32 --set run.task_eval_items=50 --set optim.lr=1e-3 \
    --out /tmp/run-small > "$OUT/run_small.log" 2>&1
  echo "exit $?"; tail -4 "$OUT/run_small.log" | cut -c1-200
  cp /tmp/run-small/events.jsonl "$OUT/run_small_events.jsonl" 2>/dev/null
fi
if [ "$RUNS" -ge 2 ]; then
  stamp "== the tiny pipeline on CUDA: pretrain 800 steps, then SFT 400 steps (held-out task accuracy)"
  ( time timeout 150 python3 -m engine.cli --workspace /tmp/ws train --stage pretrain --preset tiny --max-steps 800 \
    --out /tmp/tA ) > "$OUT/tiny_pretrain.log" 2>&1
  ( time timeout 100 python3 -m engine.cli --workspace /tmp/ws train --stage sft --preset tiny --init /tmp/tA \
    --max-steps 400 --out /tmp/tB ) > "$OUT/tiny_sft.log" 2>&1
  grep -hE "^eval|^real" "$OUT/tiny_pretrain.log" "$OUT/tiny_sft.log" | cut -c1-200
fi
stamp "== done"
ls -la "$OUT"
