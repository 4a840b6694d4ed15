#!/usr/bin/env bash
# The GPU path, measured in a few minutes on an NVIDIA machine (issue 21, item 7):
# builds llama-cpp-python with CUDA for the one GPU architecture present, in a venv of its
# own (.venv-gpu, so the CPU venv stays as it is), loads the 1.5B root model with every
# layer on the GPU, answers the bundled sample question and runs `bench llm --quick`.
#
#   bash packaging/gpu-check.sh            # needs nvidia-smi, nvcc (CUDA toolkit), Python 3.11+
#   MODELS=/path/to/models bash packaging/gpu-check.sh   # GGUF files already there: no download
#
# Prints the device, the build time, the sample's answer and time, and the bench figures;
# writes them to gpu-check.json. Nothing here runs in `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-gpu}
OUT=${OUT:-gpu-check.json}

command -v nvidia-smi >/dev/null || { echo "gpu-check: no nvidia-smi: this is not an NVIDIA machine" >&2; exit 2; }
command -v nvcc >/dev/null || { echo "gpu-check: no nvcc: install the CUDA toolkit (the build needs it)" >&2; exit 2; }
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)
echo "gpu-check: $gpu, compute capability ${cap}, CUDA $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
started=$(date +%s)
# one architecture only: a build for every architecture takes many times longer
CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${cap}" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
  "$VENV/bin/pip" install --quiet --no-cache-dir 'llama-cpp-python>=0.3.16,<0.4'
"$VENV/bin/pip" install --quiet -e .
built=$(( $(date +%s) - started ))
"$VENV/bin/python" -c "import llama_cpp, sys; ok = llama_cpp.llama_supports_gpu_offload(); print('gpu offload:', ok); sys.exit(0 if ok else 1)"

export RLM_DESKTOP_DATA=${RLM_DESKTOP_DATA:-$(mktemp -d)}
[ -n "${MODELS:-}" ] && export RLM_DESKTOP_MODELS="$MODELS"
"$VENV/bin/rlm-desktop" models install --if-missing qwen2.5-coder-0.5b-instruct-q4_k_m qwen2.5-coder-1.5b-instruct-q4_k_m
"$VENV/bin/rlm-desktop" models list | tail -2

sample_dir=$("$VENV/bin/python" -c "from rlm_desktop import paths; print(paths.samples_dir())")
question=$("$VENV/bin/python" -c "from rlm_desktop.cli.gui import sample_question; print(sample_question())")
t0=$(date +%s.%N)
"$VENV/bin/rlm-desktop" ask "$question" --folder "$sample_dir" --json --quiet > gpu-sample.json || true
t1=$(date +%s.%N)
"$VENV/bin/rlm-desktop" bench llm --quick --json gpu-bench-llm.json

"$VENV/bin/python" - "$OUT" "$gpu" "$built" "$t0" "$t1" <<'EOF'
import json, sys
out, gpu, built, t0, t1 = sys.argv[1:]
sample = json.load(open("gpu-sample.json")) if open("gpu-sample.json").read().strip() else {}
bench = json.load(open("gpu-bench-llm.json"))
report = {"gpu": gpu, "build_s": int(built), "sample": {"answer": sample.get("answer"), "status": sample.get("status"),
          "wall_s": round(float(t1) - float(t0), 1)}, "bench_llm": bench}
json.dump(report, open(out, "w"), indent=2)
print(f"\nbuild {built} s; sample answered in {report['sample']['wall_s']} s: {sample.get('answer')!r} ({sample.get('status')})")
for name, figures in bench.get("models", {}).items():
    single = figures.get("single", {})
    print(f"{name}: prompt {single.get('prompt_tok_s')} tok/s, generation {single.get('gen_tok_s')} tok/s")
print(f"wrote {out}")
EOF
