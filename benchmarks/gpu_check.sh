#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py) on a machine with a GPU, its own torch and transformers, and no registry.
#
#   bash benchmarks/gpu_check.sh --prepare   # here: copy the pure-Python packages the project imports besides
#                                            # torch/transformers/numpy (gymnasium, farama_notifications, < 5 MB)
#                                            # from this Python into results/gpu_deps/ (ignored by git: carry it)
#   bash benchmarks/gpu_check.sh [args]      # there: print the GPU and versions, run the check (args go to it)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--prepare" ]; then
    rm -rf results/gpu_deps && mkdir -p results/gpu_deps
    python - <<'PY'
import pathlib, shutil, farama_notifications, gymnasium
for module in (gymnasium, farama_notifications):
    folder = pathlib.Path(module.__file__).parent
    shutil.copytree(folder, pathlib.Path("results/gpu_deps") / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
PY
    du -sh results/gpu_deps
    exit 0
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
# The machine's own packages come first; results/gpu_deps only fills what it lacks.
if ! python -c "import gymnasium" 2>/dev/null; then export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/results/gpu_deps"; fi
python -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'transformers', transformers.__version__)"
timeout 280 python -m benchmarks.gpu_check "$@"
