"""GUI latency benchmark (not a test): ``python benchmarks/gui_latency.py [--picks 50]``.

Same as ``lrp-studio bench --gui``; the measurement lives in ``lrp_studio/gui/latency.py``.
"""

import argparse

from lrp_studio.gui.latency import run_latency

if __name__ == "__main__":
    from lrp_studio.backend import tune_host_allocator

    tune_host_allocator()  # as the lrp-studio entry points do (importing lrp_studio changes nothing)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picks", type=int, default=50)
    parser.add_argument("--models", default="mlp,cnn")
    args = parser.parse_args()
    run_latency(args.picks, tuple(args.models.split(",")))
