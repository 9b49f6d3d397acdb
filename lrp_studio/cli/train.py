"""``lrp-studio train``: train a network on a dataset with a progress bar and save it.

``--decay-at E`` trains in two phases (step decay, as the ResNet paper's schedule): epochs 1..E-1
at ``--lr`` and epochs E.. at ``--lr`` x ``--decay``, each phase with a fresh optimizer state
and its own shuffling seed (``--seed`` and ``--seed`` + 1). ``--shift S`` trains every epoch on
the training images translated by random offsets of up to S pixels
(:func:`lrp_studio.data.augment.random_shift`, offsets seeded by ``--seed`` and the epoch); each
epoch is then its own phase (fresh optimizer state, shuffling seed ``--seed`` + epoch - 1). ``--record FILE`` writes the run as
JSON: the command, the library versions, every epoch's metrics, the held-out accuracy and the
wall time (the bundled models' training records).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Iterator

import numpy as np

from tqdm import tqdm

from lrp_studio.cli.options import add_dataset, check_output_file
from lrp_studio.data import load_dataset
from lrp_studio.data.augment import random_shift
from lrp_studio.errors import ParameterError, TrainingDiverged
from lrp_studio.io import save_model
from lrp_studio.io.import_common import parse_channel_values
from lrp_studio.nn import Progress, evaluate, train
from lrp_studio.nn.builders import with_normalization
from lrp_studio.nn.training import every_k_batches
from lrp_studio.zoo import build_architecture

#: When stderr is not a terminal (a log file, a pipe, CI: no bar there), a progress line at most
#: every LOG_INTERVAL_S seconds, looked at every 1/LOG_LINES_PER_EPOCH of an epoch.
LOG_LINES_PER_EPOCH = 10
LOG_INTERVAL_S = 5.0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``train`` and its options."""
    parser = sub.add_parser("train", help="train a network and save it as a model file",
                            description="Train a network on a dataset and save it as a model file (.npz).")
    parser.add_argument("--arch", default="mlp",
                        help="mlp, cnn, resnet, mlp:H1,H2 or a layer list like 'conv:8:5,relu,maxpool:2,dense:10' "
                             "(residual blocks: 'conv:8:3:1:1,bn,relu,res:8,res:16:s2,gap,dense:10'; default: mlp)")
    add_dataset(parser, "mnist:train", what="training data: ")
    add_dataset(parser, None, "mnist:test when training on MNIST, else none", flag="--validation",
                what="validation data: ")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training data (default 10)")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per gradient step (default 64)")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    parser.add_argument("--optimizer", default="momentum", choices=("sgd", "momentum", "adam"),
                        help="default momentum")
    parser.add_argument("--loss", default=None, choices=("cross-entropy", "bce", "mse"),
                        help="default: cross-entropy (bce for two-class data with a 1-output network)")
    parser.add_argument("--decay-at", type=int, default=None, metavar="EPOCH",
                        help="from this epoch on (1-based) train with the learning rate times --decay, with a "
                             "fresh optimizer state (step decay; default: no decay)")
    parser.add_argument("--decay", type=float, default=0.1, help="learning-rate factor of --decay-at (default 0.1)")
    parser.add_argument("--shift", type=int, default=0, metavar="PIXELS",
                        help="augment: translate the training images of every epoch by random offsets of up to "
                             "this many pixels (zero fill; each epoch a fresh optimizer state; default 0: none)")
    parser.add_argument("--mean", default=None, metavar="M1,M2,...|auto",
                        help="normalise the inputs as the network's first node: per-channel mean in input units "
                             "(with --std), or 'auto' for the training data's per-channel mean and std")
    parser.add_argument("--std", default=None, metavar="S1,S2,...|auto",
                        help="per-channel standard deviation of the normalisation (with --mean)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the shuffling (default 0)")
    parser.add_argument("--out", required=True, help="model file to write (.npz)")
    parser.add_argument("--record", default=None, metavar="FILE",
                        help="also write the run (command, versions, per-epoch metrics, accuracy) as JSON")
    return parser


def _phases(args: argparse.Namespace) -> list[tuple[int, float, int]]:
    """(epochs, learning rate, seed) of each training phase.

    Raises
    ------
    ParameterError
        ``--decay-at`` outside 2..epochs or ``--decay`` not in (0, 1].
    """
    if args.decay_at is None:
        return [(args.epochs, args.lr, args.seed)]
    if not 2 <= args.decay_at <= args.epochs:
        raise ParameterError(f"--decay-at {args.decay_at}: must lie in 2..{args.epochs} (--epochs)")
    if not 0 < args.decay <= 1:
        raise ParameterError(f"--decay {args.decay}: must lie in (0, 1]")
    first = args.decay_at - 1
    return [(first, args.lr, args.seed), (args.epochs - first, float(f"{args.lr * args.decay:.6g}"), args.seed + 1)]


def _epochs(args: argparse.Namespace) -> list[tuple[int, float, int]]:
    """The phases, split into one phase per epoch when ``--shift`` augments every epoch anew."""
    phases = _phases(args)
    if args.shift == 0:
        return phases
    split = []
    for count, lr, _ in phases:
        split += [(1, lr, args.seed + len(split) + i) for i in range(count)]
    return split


def _normalized(net: Any, data: Any, mean: str | None, std: str | None) -> Any:
    """``net`` with a normalize node in front (``--mean/--std``; ``auto``: the data's per-channel statistics)."""
    if mean is None and std is None:
        return net
    if mean is None or std is None:
        raise ParameterError("--mean and --std go together (one value per channel each, or 'auto')")
    axes = (0, 2, 3) if data.x.ndim == 4 else (0,)
    mean_values = (data.x.mean(axis=axes, dtype=np.float64).tolist() if mean == "auto"
                   else parse_channel_values(mean, "--mean"))
    std_values = (data.x.std(axis=axes, dtype=np.float64).clip(1e-6).tolist() if std == "auto"
                  else parse_channel_values(std, "--std"))
    net = with_normalization(net, mean_values, std_values)
    print(f"input normalisation (x - mean) / std: mean {[round(v, 4) for v in mean_values]}, "
          f"std {[round(v, 4) for v in std_values]}")
    return net


def run(args: argparse.Namespace) -> int:
    """Train per the arguments, print per-epoch metrics and the final test accuracy, save the model."""
    if not args.out.endswith(".npz"):
        raise ParameterError(f"--out {args.out!r}: model files end in .npz")
    if args.record is not None and not args.record.endswith(".json"):
        raise ParameterError(f"--record {args.record!r}: training records end in .json")
    check_output_file(args.out, "--out")
    phases = _epochs(args)
    data = load_dataset(args.dataset)
    if args.shift and data.x.ndim != 4:
        raise ParameterError(f"--shift {args.shift}: needs image data (N, C, H, W), '{args.dataset}' has "
                             f"samples of shape {tuple(data.x.shape[1:])}")
    validation_spec = args.validation or ("mnist:test" if args.dataset.lower().startswith("mnist") else None)
    validation = load_dataset(validation_spec) if validation_spec else None
    two_class = len(data.classes) == 2
    loss = args.loss or "cross-entropy"
    n_outputs = 1 if loss == "bce" else len(data.classes)
    net = build_architecture(args.arch, input_shape=data.x.shape[1:], n_classes=n_outputs,
                             classes=(["1"] if n_outputs == 1 else list(data.classes)),
                             input_range=data.input_range, seed=args.seed)
    net = _normalized(net, data, args.mean, args.std)
    print(f"training {net} on {data.name} ({len(data)} samples), loss {loss}, {args.optimizer} lr {args.lr}"
          + (f", x {args.decay:g} from epoch {args.decay_at}" if args.decay_at is not None else "")
          + (f", random shifts of up to {args.shift} px" if args.shift else ""))
    if two_class and loss != "bce":
        print("note: two classes; --loss bce trains the single-output binary classifier of the notes")
    val = (validation.x, validation.y) if validation is not None else None
    batches = (len(data) + args.batch_size - 1) // args.batch_size
    epochs: list[dict[str, Any]] = []
    start = time.perf_counter()
    terminal = sys.stderr.isatty()
    every = 1 if terminal else max(1, batches // LOG_LINES_PER_EPOCH)
    logged = time.monotonic()
    # a live bar on a terminal; elsewhere (disable=None turns tqdm off there) a line every k batches
    with tqdm(total=args.epochs * batches, unit="batch", desc="training", disable=None) as bar:
        done, shown = 0, 0
        for count, lr, seed in phases:
            x = random_shift(data.x, args.shift, np.random.default_rng([args.seed, done])) if args.shift else data.x
            records = train(net, x, data.y, count, args.batch_size, lr, args.optimizer, loss, seed, val)
            for record in _diverged_names_the_file(every_k_batches(records, every), args.out):
                if record.kind == "batch":
                    position = (done + record.epoch) * batches + record.batch + 1
                    bar.update(position - shown)
                    shown = position
                    bar.set_postfix(loss=f"{record.loss:.4f}")
                    if bar.disable and time.monotonic() - logged >= LOG_INTERVAL_S:
                        logged = time.monotonic()
                        print(f"epoch {done + record.epoch + 1}/{args.epochs}: batch {record.batch + 1}/{batches}, "
                              f"loss {record.loss:.4f}", file=sys.stderr, flush=True)
                    continue
                number = done + record.epoch + 1
                line = f"epoch {number}: loss {record.loss:.4f}, accuracy {record.accuracy:.4f}"
                if record.val_accuracy is not None:
                    line += f", validation accuracy {record.val_accuracy:.4f}"
                bar.write(line)
                epochs.append({"epoch": number, "lr": lr, "loss": record.loss, "accuracy": record.accuracy,
                               "val_loss": record.val_loss, "val_accuracy": record.val_accuracy,
                               "seconds": round(time.perf_counter() - start, 1)})
            done += count
    save_model(net, args.out)
    accuracy = None
    if validation is not None:
        _, accuracy = evaluate(net, validation.x, validation.y, loss)
        print(f"{validation.name}: accuracy {accuracy:.4f} ({int(round(accuracy * len(validation)))}/{len(validation)})")
    print(f"saved {args.out}")
    if args.record is not None:
        _write_record(args, net, epochs, validation, accuracy, time.perf_counter() - start)
        print(f"saved {args.record}")
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The ``lrp-studio train`` command with every option of ``args`` spelt out (defaults included)."""
    parts = ["lrp-studio", "train"]
    for key in ("arch", "dataset", "validation", "epochs", "batch_size", "lr", "optimizer", "loss", "decay_at",
                "decay", "shift", "seed", "out", "record"):
        value = getattr(args, key, None)
        if value is None or (key == "decay" and args.decay_at is None) or (key == "shift" and not value):
            continue
        parts += [f"--{key.replace('_', '-')}", str(value)]
    return " ".join(parts)


def _write_record(args: argparse.Namespace, net: Any, epochs: list[dict[str, Any]], validation: Any,
                  accuracy: float | None, seconds: float) -> None:
    """The training record (JSON, atomically): command, versions, epochs, held-out accuracy."""
    import platform

    from lrp_studio import __version__
    from lrp_studio.backend import describe
    from lrp_studio.io import atomic_write

    record = {
        "command": command_line(args),
        "network": repr(net), "parameters": net.n_parameters(),
        "lrp_studio": __version__, "numpy": np.__version__, "python": platform.python_version(),
        "backend": describe(), "epochs": epochs,
        "validation": None if validation is None else {"dataset": validation.name, "samples": len(validation),
                                                        "accuracy": accuracy},
        "seconds": round(seconds, 1),
    }

    def write(temp: str) -> None:
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1, default=str)
            handle.write("\n")

    atomic_write(args.record, write)


def _diverged_names_the_file(records: Iterator[Progress], out: str) -> Iterator[Progress]:
    """Pass the training records on; a divergence says that ``out`` was left as it was."""
    try:
        yield from records
    except TrainingDiverged as error:
        raise TrainingDiverged(f"{str(error).split(';')[0]}; {out} was not written - try a smaller learning rate") from None
