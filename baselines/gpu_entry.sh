#!/usr/bin/env bash
# Train and evaluate one leaderboard entry on a fresh GPU machine, in one command.
#
#   baselines/gpu_entry.sh ENTRY OUT_DIR [BUDGET_SECONDS] [run.py options...]
#
# ENTRY is a name in baselines/configs/ (simclr, invclr) or the path of an entry file.
# On a machine that holds only this repository and a Python with torch, it installs the
# package (offline: no dependencies are fetched; a plain PYTHONPATH if pip cannot install),
# trains with a time limit so that training, evaluation and writing fit in BUDGET_SECONDS
# of wall time (default 510, 8.5 minutes), evaluates with the paper's protocol (the
# robustness table only if the time left allows it), and writes to OUT_DIR:
#   <entry>.json            the result file (the training history and step records included)
#   penalty-breakdown.json  the penalty against the observed change, per nuisance parameter, of
#                           the trained encoder (baselines/penalty_breakdown.py), if time allows
#   run.log                 everything the run printed
# Checkpoints go to a temporary folder, never to OUT_DIR. If training is cut short the
# result file says how far it got (training.stopped_early, steps_done, steps_total).
# Set PYTHON to choose the interpreter (default python3), DEVICE (default cuda) and
# BREAKDOWN_EXAMPLES (test targets of the breakdown, default 1024).
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: baselines/gpu_entry.sh ENTRY OUT_DIR [BUDGET_SECONDS] [run.py options...]" >&2
    exit 2
fi
entry="$1"
out="$2"
budget="${3:-510}"
shift $(($# < 3 ? $# : 3))
python="${PYTHON:-python3}"
device="${DEVICE:-cuda}"
start=$(date +%s)

cd "$(dirname "$0")/.."
root="$PWD"
if [[ -f "$entry" ]]; then
    config="$entry"
else
    config="baselines/configs/$entry.json"
fi
if [[ ! -f "$config" ]]; then
    echo "gpu_entry: no entry file $config" >&2
    exit 2
fi
if ! [[ "$budget" =~ ^[0-9]+$ ]] || ((budget < 60)); then
    echo "gpu_entry: BUDGET_SECONDS must be a whole number >= 60, got $budget" >&2
    exit 2
fi
mkdir -p "$out"
log="$out/run.log"

{
    echo "== $(date -u +%FT%TZ) entry $config, budget $budget s, device $device"
    # The package itself, without touching the machine's packages: torch, numpy, pillow and
    # tqdm are expected to be there already.
    if ! "$python" -c "import spirograph, sys; sys.exit(not spirograph.__file__.startswith('$root/'))" 2>/dev/null; then
        if ! "$python" -m pip install --quiet --no-deps --no-build-isolation --no-index -e "$root"; then
            echo "pip could not install the package; using PYTHONPATH=$root"
            export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
        fi
    fi
    "$python" - "$device" <<'PY'
import sys

import torch

import spirograph

device = sys.argv[1]
print("spirograph", spirograph.__version__, "torch", torch.__version__, "from", spirograph.__file__)
if device.startswith("cuda"):
    if not torch.cuda.is_available():
        sys.exit("gpu_entry: DEVICE is cuda but torch sees no CUDA device")
    print("device:", torch.cuda.get_device_name())
PY
} >>"$log" 2>&1 || {
    tail -20 "$log" >&2
    exit 1
}

spent=$(($(date +%s) - start))
left=$((budget - spent - 15)) # 15 s for the interpreter's start and the result file
checkpoints="$(mktemp -d "${TMPDIR:-/tmp}/spirograph-checkpoints.XXXXXX")"
trap 'rm -rf "$checkpoints"' EXIT
set +e
"$python" baselines/run.py "$config" --device "$device" --results-dir "$out" --checkpoint-dir "$checkpoints" \
    --deadline "$left" --robustness --quiet "$@" >>"$log" 2>&1
status=$?
if ((status == 0)) && [[ -f "$checkpoints/last.pt" ]] && ((budget - ($(date +%s) - start) >= 30)); then
    name="$(basename "$config" .json)"
    "$python" baselines/penalty_breakdown.py "$name=$checkpoints/last.pt" --output "$out/penalty-breakdown.json" \
        --device "$device" --n-examples "${BREAKDOWN_EXAMPLES:-1024}" >>"$log" 2>&1 ||
        echo "the penalty breakdown failed; the result file stands" >>"$log"
fi
set -e
echo "== $(date -u +%FT%TZ) finished with status $status after $(($(date +%s) - start)) s" >>"$log"
tail -5 "$log"
exit "$status"
