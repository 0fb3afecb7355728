#!/usr/bin/env bash
# Every GPU check in one prepared script, for a lent NVIDIA machine (H100/H200: about 8 minutes). The engine runs from
# the source tree with the machine's torch. Results land in $OUT; the summary lines go to stdout.
#   1. the card, torch, `minigpt doctor`
#   2. training throughput and MFU: tiny, small, medium, large x bf16 x eager / compiled (bench/train_throughput.py)
#   3. decode: batch-1 / batch-8 tokens/s and time to first token, ours vs transformers' generate (if installed)
#   4. a real short training run of the small preset on CUDA (RUNS=0 skips it; RUNS=2 adds the tiny pipeline)
#   0. (PROFILE=1) where the medium step's time goes: bench/gpu_profile.py, kernels by kind, matmul and attention
#      microbenchmarks
# Usage: OUT=/some/folder bash bench/gpu_check.sh   (a .whl/ folder with missing pure-Python wheels is optional)
#   5. (tests) the engine's CUDA tests (the graphed decode step, generation)
#   6. (loop) the real training loop on the medium preset (`minigpt train`, compiled, built-in data): its tokens/s
#      from the step events, to set beside the bare step's (what the loop itself costs)
#   PARTS="info profile throughput decode run tests loop" picks the parts (all by default); PRESETS, BATCH and
#   BATCH2 (a second, larger batch for medium and large) size the table.
set -u
OUT=${OUT:-/tmp/gpu-check}
BATCH=${BATCH:-16}
RUNS=${RUNS:-1}
PARTS=${PARTS:-info profile throughput decode run tests loop}
PRESETS=${PRESETS:-tiny small medium large}
has() { [[ " $PARTS " == *" $1 "* ]]; }
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start ))s] $*"; }

if has info; then
stamp "== the card"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"
timeout 60 python3 -m engine.cli doctor > "$OUT/doctor.txt" 2>&1; head -5 "$OUT/doctor.txt"
fi

if has profile; then
  stamp "== where the medium step's time goes (profiler; matmul and attention microbenchmarks)"
  timeout "${PROFILE_TIMEOUT:-240}" python3 bench/gpu_profile.py --preset medium --batch-size "$BATCH" \
    --compile ${PROFILE_MODES:-none blocks} ${PROFILE_MICRO---micro} \
    > "$OUT/profile.json" 2> "$OUT/profile.err"; echo "exit $?"
  grep -v "^{" "$OUT/profile.err" | grep -vi "warn" | head -70
  python3 -c "
import json; r = json.load(open('$OUT/profile.json'))
for s in r['steps']: print({k: s.get(k) for k in ('compile', 'step_ms', 'kernel_ms', 'gpu_busy', 'mfu_vs_989', 'by_kind_ms', 'peak_mem_gib', 'error')})
for k, v in r.get('gemm', {}).items(): print('gemm', k, v)
for k, v in r.get('attention', {}).items(): print('attn', k, v)" 2>&1 | cut -c1-400
fi

if has throughput; then
stamp "== training throughput and MFU, bf16, eager vs compiled (batch $BATCH)"
# Small presets first, so a timeout still leaves their rows; every row is also printed to the .err file as it ends.
timeout "${TP_TIMEOUT:-330}" python3 bench/train_throughput.py --device cuda --presets $PRESETS --precisions bf16 \
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

if [ -n "${BATCH2:-}" ]; then
  stamp "== medium and large at batch $BATCH2"
  timeout "${TP_TIMEOUT:-330}" python3 bench/train_throughput.py --device cuda --presets medium large --precisions bf16 \
    --steps 20 --batch-size "$BATCH2" --compile > "$OUT/throughput_b2.json" 2> "$OUT/throughput_b2.err"; echo "exit $?"
  grep "^{" "$OUT/throughput_b2.err" | python3 -c "
import json, sys
for r in map(json.loads, sys.stdin):
    print(r['preset'], 'compiled' if r['compiled'] else 'eager', r.get('batch'), r.get('tokens_per_s'), r.get('mfu'),
          r.get('error', ''))"
fi
[ "${FP32:-1}" = 1 ] && stamp "== fp32 (TF32) eager, tiny and small, for the bf16 ratio" &&
timeout 60 python3 bench/train_throughput.py --device cuda --presets tiny small --precisions fp32 --steps 20 \
  --batch-size "$BATCH" > "$OUT/throughput_fp32.json" 2> "$OUT/throughput_fp32.err"; echo "exit $?"
fi

if has decode && python3 -c "import transformers" 2>/dev/null; then
  stamp "== decode: ours vs transformers' generate on the exported copy (fp32), TTFT and tokens/s"
  timeout "${DECODE_TIMEOUT:-150}" python3 bench/decode.py --device cuda --presets tiny,small > "$OUT/decode.json" 2> "$OUT/decode.err"
  echo "exit $?"
  python3 -c "
import json; r = json.load(open('$OUT/decode.json'))
for n, p in r['presets'].items():
    o, t = p['ours'], p['transformers']
    print(f\"{n}: b1 {o['tokens_per_s_b1']:.0f} vs {t['tokens_per_s_b1']:.0f} tok/s ({p['speedup_b1']:.2f}x), \"
          f\"b8 {p['speedup_b8']:.2f}x, TTFT {1000 * o['ttft_s']:.1f} ms vs {1000 * t['ttft_s']:.1f} ms\")" 2>&1
else
  has decode && stamp "== decode: transformers is not installed here; skipped (pip install transformers, or put its wheel in .whl/)"
fi

if has run && [ "$RUNS" -ge 1 ]; then
  stamp "== a real run on CUDA: small preset, built-in data, 300 steps"
  timeout 200 python3 -m engine.cli --workspace /tmp/ws train --stage pretrain --preset small --max-steps 300 \
    --eval-every 150 --set run.batch_size=32 --set run.task_eval_items=50 --set optim.lr=1e-3 \
    --out /tmp/run-small > "$OUT/run_small.log" 2>&1
  echo "exit $?"; tail -4 "$OUT/run_small.log" | cut -c1-200
  cp /tmp/run-small/events.jsonl "$OUT/run_small_events.jsonl" 2>/dev/null
fi
if has run && [ "$RUNS" -ge 2 ]; then
  stamp "== the tiny pipeline on CUDA: pretrain 800 steps, then SFT 400 steps (held-out task accuracy)"
  ( time timeout 150 python3 -m engine.cli --workspace /tmp/ws train --stage pretrain --preset tiny --max-steps 800 \
    --out /tmp/tA ) > "$OUT/tiny_pretrain.log" 2>&1
  ( time timeout 100 python3 -m engine.cli --workspace /tmp/ws train --stage sft --preset tiny --init /tmp/tA \
    --max-steps 400 --out /tmp/tB ) > "$OUT/tiny_sft.log" 2>&1
  grep -hE "^eval|^real" "$OUT/tiny_pretrain.log" "$OUT/tiny_sft.log" | cut -c1-200
fi
if has tests; then
  stamp "== the engine's CUDA tests"
  timeout 150 python3 -m pytest -q -p no:cacheprovider -o addopts="" --tb=short ${TESTS_K:+-k "$TESTS_K"} tests/engine/test_decode_graph.py \
    tests/engine/test_generate.py 2>&1 | tail -${TESTS_TAIL:-5}
fi

if has loop; then
  stamp "== the real loop: medium preset, built-in data, compiled, ${LOOP_STEPS:-60} steps"
  timeout "${LOOP_TIMEOUT:-240}" python3 -m engine.cli --workspace /tmp/ws train --stage pretrain --preset medium \
    --max-steps "${LOOP_STEPS:-60}" --eval-every 0 --set run.log_every=10 --set run.task_eval_items=0 \
    --out /tmp/run-medium > "$OUT/loop_medium.log" 2>&1; echo "exit $?"
  tail -3 "$OUT/loop_medium.log" | cut -c1-240
  python3 -c "
import json
for e in map(json.loads, open('/tmp/run-medium/events.jsonl')):
    if e.get('event') == 'step':
        print(f\"step {e['step']:4} loss {e['loss']:.3f} tokens/s {e['tokens_per_s']:,.0f}\")"
fi
stamp "== done"
ls -la "$OUT"
