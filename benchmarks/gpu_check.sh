#!/usr/bin/env bash
# One device call that checks the CuPy backend: the CuPy half of the numerical tests, then the CuPy benchmark.
# Run from the repository root on a machine with an NVIDIA GPU:  bash benchmarks/gpu_check.sh  (about 9 minutes at
# most; results under $OUT, default /tmp/gpu-out). The device image has python3 with cupy-cuda13x, numpy, pytest,
# hypothesis, pillow, tqdm, onnx, torch, but no PySide6/pyqtgraph: only the Qt-free tests run there, with the
# package on PYTHONPATH (nothing is installed).
set -u
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen
{
  nvidia-smi -L
  python3 -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'devices', cupy.cuda.runtime.getDeviceCount())"
  timeout 300 python3 -m pytest -q -p no:cacheprovider -x -k cupy tests/nn tests/lrp 2>&1 | tail -25
  timeout 180 python3 -m lrp_studio.cli bench --backend cupy --quick --json "$OUT/bench_cupy.json" 2>&1 | tail -40
} 2>&1 | tee "$OUT/gpu_check.log"
