"""``lrp-studio train``: train a network on a dataset with a progress bar and save it."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Iterator

from tqdm import tqdm

from lrp_studio.cli.options import add_dataset, check_output_file
from lrp_studio.data import load_dataset
from lrp_studio.errors import ParameterError, TrainingDiverged
from lrp_studio.io import save_model
from lrp_studio.nn import Progress, evaluate, train
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
                        help="mlp, cnn, mlp:H1,H2 or a layer list like 'conv:8:5,relu,maxpool:2,dense:10' "
                             "(default: mlp)")
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
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the shuffling (default 0)")
    parser.add_argument("--out", required=True, help="model file to write (.npz)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Train per the arguments, print per-epoch metrics and the final test accuracy, save the model."""
    if not args.out.endswith(".npz"):
        raise ParameterError(f"--out {args.out!r}: model files end in .npz")
    check_output_file(args.out, "--out")
    data = load_dataset(args.dataset)
    validation_spec = args.validation or ("mnist:test" if args.dataset.lower().startswith("mnist") else None)
    validation = load_dataset(validation_spec) if validation_spec else None
    two_class = len(data.classes) == 2
    loss = args.loss or "cross-entropy"
    n_outputs = 1 if loss == "bce" else len(data.classes)
    net = build_architecture(args.arch, input_shape=data.x.shape[1:], n_classes=n_outputs,
                             classes=(["1"] if n_outputs == 1 else list(data.classes)),
                             input_range=data.input_range, seed=args.seed)
    print(f"training {net} on {data.name} ({len(data)} samples), loss {loss}, {args.optimizer} lr {args.lr}")
    if two_class and loss != "bce":
        print("note: two classes; --loss bce trains the single-output binary classifier of the notes")
    val = (validation.x, validation.y) if validation is not None else None
    batches = (len(data) + args.batch_size - 1) // args.batch_size
    records = train(net, data.x, data.y, args.epochs, args.batch_size, args.lr, args.optimizer, loss, args.seed, val)
    terminal = sys.stderr.isatty()
    every = 1 if terminal else max(1, batches // LOG_LINES_PER_EPOCH)
    done, logged = 0, time.monotonic()
    # a live bar on a terminal; elsewhere (disable=None turns tqdm off there) a line every k batches
    with tqdm(total=args.epochs * batches, unit="batch", desc="training", disable=None) as bar:
        for record in _diverged_names_the_file(every_k_batches(records, every), args.out):
            if record.kind == "batch":
                position = record.epoch * batches + record.batch + 1
                bar.update(position - done)
                done = position
                bar.set_postfix(loss=f"{record.loss:.4f}")
                if bar.disable and time.monotonic() - logged >= LOG_INTERVAL_S:
                    logged = time.monotonic()
                    print(f"epoch {record.epoch + 1}/{args.epochs}: batch {record.batch + 1}/{batches}, "
                          f"loss {record.loss:.4f}", file=sys.stderr, flush=True)
            else:
                line = f"epoch {record.epoch + 1}: loss {record.loss:.4f}, accuracy {record.accuracy:.4f}"
                if record.val_accuracy is not None:
                    line += f", validation accuracy {record.val_accuracy:.4f}"
                bar.write(line)
    save_model(net, args.out)
    if validation is not None:
        _, accuracy = evaluate(net, validation.x, validation.y, loss)
        print(f"{validation.name}: accuracy {accuracy:.4f} ({int(round(accuracy * len(validation)))}/{len(validation)})")
    print(f"saved {args.out}")
    return 0


def _diverged_names_the_file(records: Iterator[Progress], out: str) -> Iterator[Progress]:
    """Pass the training records on; a divergence says that ``out`` was left as it was."""
    try:
        yield from records
    except TrainingDiverged as error:
        raise TrainingDiverged(f"{str(error).split(';')[0]}; {out} was not written - try a smaller learning rate") from None
