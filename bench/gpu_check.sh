#!/usr/bin/env bash
# One-shot GPU check of langsteer, under 8 minutes on one CUDA device; prints ONE table.
#
#   bench/gpu_check.sh            # on a CUDA machine (device cuda)
#   bench/gpu_check.sh cuda:1     # another device
#   GPU_CHECK_DEMO_ARGS="--set corpus.n_expert=8 ..." bench/gpu_check.sh cpu
#                                 # dry run of the plumbing on a CPU machine, with a shrunk demo
#
# It installs nothing. It assumes, from the repository root:
#     pip install -c constraints.txt -e ".[demo,test]"
# and, on a GPU machine, that torch is a CUDA build (python -c "import torch; print(torch.version.cuda)"
# prints a version, not None; otherwise install torch from https://download.pytorch.org/whl/).
#
# Rows: (1) bench/gpu_kernels.py: the CUDA paths of the ranking kernels (AUROC, AP, the one-pass
# expert fit) and the retrieval kernels against their CPU results; (2) bench/bench_throughput.py
# --model embedded on the device: tokens/s of the three passes as a fraction of the forward-pass
# bound; (3) `langsteer demo` on the device with a fresh cache folder: wall time. Every
# intermediate output goes to a temp folder (deleted at the end unless a step failed or
# GPU_CHECK_KEEP=1). Exit status: 0 all passed, 1 a check failed, 2 no CUDA device.
set -euo pipefail

DEVICE="${1:-cuda}"
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"

if [[ "$DEVICE" == cuda* ]]; then
    if ! "$PY" - "$DEVICE" <<'EOF'
import sys

import torch

dev = sys.argv[1]
if not torch.cuda.is_available():
    build = torch.version.cuda or "none: a CPU-only build"
    sys.exit(
        f"gpu_check: no CUDA device is visible to torch {torch.__version__} (its CUDA: {build}). "
        "Run this on a machine with an NVIDIA GPU and a CUDA build of torch, or dry-run the "
        "plumbing with: bench/gpu_check.sh cpu"
    )
index = torch.device(dev).index or 0
if index >= torch.cuda.device_count():
    sys.exit(f"gpu_check: {dev} asked for, but torch sees {torch.cuda.device_count()} device(s)")
print(f"gpu_check: torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"{dev} = {torch.cuda.get_device_name(index)}")
EOF
    then
        exit 2
    fi
    THROUGHPUT_ARGS=(--n 1024 --batch-size 64 --repeats 3)
    # limits that keep the whole check under 8 minutes
    T_KERNELS=90 T_THROUGHPUT=90 T_DEMO=270
elif [[ "$DEVICE" == cpu ]]; then
    echo "gpu_check: DRY RUN on the CPU (plumbing only; the figures mean nothing for a GPU)"
    THROUGHPUT_ARGS=(--n 32 --batch-size 16 --repeats 1)
    T_KERNELS=120 T_THROUGHPUT=300 T_DEMO=900
else
    echo "gpu_check: device must be cuda, cuda:N or cpu (dry run), got '$DEVICE'" >&2
    exit 2
fi

TMP="$(mktemp -d -t langsteer-gpu-check-XXXXXX)"
echo "gpu_check: intermediate outputs in $TMP"
START=$(date +%s)
STATUS="$TMP/status"
: >"$STATUS"

# step NAME LIMIT_S COMMAND...: run with a time limit, log to $TMP/NAME.log, record exit code
step() {
    local name=$1 limit=$2
    shift 2
    echo "gpu_check: $name ..."
    local t0 rc=0
    t0=$(date +%s%N)
    timeout "$limit" "$@" >"$TMP/$name.log" 2>&1 || rc=$?
    echo "$name $rc $((($(date +%s%N) - t0) / 1000000)) $limit" >>"$STATUS"
    if [[ $rc -ne 0 ]]; then
        echo "gpu_check: $name FAILED (exit $rc; last lines of $TMP/$name.log):" >&2
        tail -n 15 "$TMP/$name.log" >&2
    fi
}

step kernels "$T_KERNELS" "$PY" bench/gpu_kernels.py --device "$DEVICE" --json "$TMP/kernels.json"
step throughput "$T_THROUGHPUT" "$PY" bench/bench_throughput.py --model embedded \
    --device "$DEVICE" "${THROUGHPUT_ARGS[@]}" --json "$TMP/throughput.json"
read -r -a DEMO_EXTRA <<<"${GPU_CHECK_DEMO_ARGS:-}" # extra demo flags, split on spaces, no globs
step demo "$T_DEMO" "$PY" -m langsteer.cli demo --device "$DEVICE" --out "$TMP/demo" \
    --cache-dir "$TMP/cache" --no-progress "${DEMO_EXTRA[@]}"

RC=0
"$PY" - "$TMP" "$DEVICE" "$(($(date +%s) - START))" <<'EOF' || RC=$?
import json
import sys
from pathlib import Path

tmp, device, total = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
status = {}
for line in (tmp / "status").read_text().splitlines():
    name, rc, ms, limit = line.split()
    status[name] = (int(rc), int(ms) / 1000, int(limit))


def outcome(name):
    rc, secs, limit = status[name]
    if rc == 124:
        return f"TIMED OUT (> {limit} s)"
    return "ok" if rc == 0 else f"FAILED (exit {rc}, see {tmp / (name + '.log')})"


rows, failed = [], 0
if status["kernels"][0] == 0:
    kern = json.loads((tmp / "kernels.json").read_text())
    for c in kern["checks"]:
        failed += not c["ok"]
        rows.append(
            (c["check"], "ok" if c["ok"] else "MISMATCH", c["detail"],
             f"{c['seconds']:.2f} s (CPU {c['cpu_seconds']:.2f} s)")
        )
else:
    failed += 1
    rows.append(("ranking + retrieval kernels", outcome("kernels"), "", ""))
if status["throughput"][0] == 0:
    tp = json.loads((tmp / "throughput.json").read_text())
    bound = f"bound {tp['bound_tokens_per_s']:,.0f} tokens/s at {tp['matmul_gflops']:,.0f} GFLOP/s"
    for p in tp["passes"]:
        rows.append(
            (f"throughput: {p['pass'].split(' (')[0]} ({tp['dtype']})", "ok",
             f"{p['fraction']:.2f} of the bound, {p['tokens_per_s']:,.0f} tokens/s ({bound})",
             f"{p['seconds']:.3f} s")
        )
else:
    failed += 1
    rows.append(("throughput vs forward-pass bound", outcome("throughput"), "", ""))
rc, secs, _ = status["demo"]
failed += rc != 0
done = (tmp / "demo" / "results.json").is_file()
rows.append(
    ("demo (fresh cache folder)", outcome("demo"),
     "results.json written" if done else "no results.json", f"{secs:.0f} s wall")
)
print(f"\n## langsteer GPU check: device {device}, {total} s in all\n")
print("| check | result | figures | time |")
print("|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(str(c).replace("|", "/") for c in r) + " |")
print(f"\n{'all checks passed' if not failed else f'{failed} check(s) FAILED'}")
sys.exit(1 if failed else 0)
EOF

if [[ $RC -eq 0 && "${GPU_CHECK_KEEP:-0}" != 1 ]]; then
    rm -rf "$TMP"
else
    echo "gpu_check: outputs kept in $TMP"
fi
exit "$RC"
