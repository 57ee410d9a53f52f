#!/usr/bin/env bash
# The GPU check of issue 23 in one command, for a machine with a CUDA GPU:
# the CUDA tests, then `aekl bench --device cuda` four ways (fp32/bf16, with
# and without CUDA graphs), then a short table of images/s against the floor
# of each run's precision. Everything lands in ${OUT:-gpu-check}/.
#
#   scripts/gpu-check.sh            # from the repository root, venv active
#   REPEATS=3 scripts/gpu-check.sh  # more repeats (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-check}"
repeats="${REPEATS:-2}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

python - <<'PY' || { echo "gpu-check: no CUDA GPU visible to torch; nothing to check" >&2; exit 2; }
import sys, torch
sys.exit(0 if torch.cuda.is_available() else 1)
PY
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt" || true

echo "== CUDA tests (pytest -m gpu)"
tests=0
python -m pytest -q -m gpu tests 2>&1 | tee "$out/pytest.txt" || tests=$?

for precision in fp32 bf16; do
  for graphs in no-cuda-graphs cuda-graphs; do
    name="$precision-$graphs"
    echo "== aekl bench --device cuda --precision $precision --$graphs"
    mkdir -p "$out/$name"
    python -m core.cli bench --device cuda --precision "$precision" "--$graphs" --repeats "$repeats" \
      --processes 1 --quality --out "$out/$name" > "$out/$name/tables.txt" 2> "$out/$name/log.txt" \
      || echo "   failed: see $out/$name/log.txt"
  done
done

python - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
b = None
print(f"\n{'run':28} {'images/s':>10} {'floor img/s':>12} {'/floor':>7} {'vs tutorial':>11} {'to 0.150':>9}")
for path in sorted(out.glob("*/bench.json")):
    b = json.loads(path.read_text())
    e, f = b["engine"]["256"], b["floor"]["256"]
    q = (b.get("ratios") or {}).get("time_to_quality") or {}
    print(f"{path.parent.name:28} {max(e['samples_per_s']['runs']):>10,.0f} {max(f['samples_per_s']['runs']):>12,.0f} "
          f"{b['ratios']['engine_vs_floor']['256']['from_min']:>6.2f}x "
          f"{b['ratios']['engine_vs_tutorial']['from_min']:>10.2f}x {q.get('from_min', float('nan')):>8.2f}x")
if b is None:
    sys.exit("no bench.json was written")
print(f"\ngpu: {b['machine'].get('gpu')}, torch {b['machine']['torch']}; host syncs/step: "
      f"{b['host_sync'].get('syncs_per_step')}")
PY
echo "CUDA tests: $([ "$tests" = 0 ] && echo passed || echo "FAILED (exit $tests), see $out/pytest.txt")"
exit "$tests"
