"""What the command line says about itself: the overview, and one-line usage on errors."""

from __future__ import annotations

import argparse
from typing import NoReturn

from harness.errors import EXIT_USAGE

OVERVIEW = """\
harness: how accurate, fast and memory-hungry are pretrained image classifiers
(torchvision's and timm's) on your images?

commands, each with an example:
  models    the classifiers with published accuracy, size and FLOPs
              python -m harness models 'resnet*' 'timm/tf_efficientnet_lite*'
  classes   the classes a model predicts
              python -m harness classes --model resnet101
  predict   the top-5 classes of images (table, --format json or csv)
              python -m harness predict photo.jpg --model resnet101
  test      top-1/top-5 accuracy on a folder of images (default: data/,
            with data/labels.csv when there)
              python -m harness test --model resnet101
  compare   accuracy, latency, throughput and memory of models side by side
              python -m harness compare --models alexnet vgg16 resnet101 --data data

Results: test and compare write a run directory (results.json, CSV files,
TensorBoard events) under lightning_logs/, or in --output DIR, and print its
path at the end; tensorboard --logdir lightning_logs shows the runs.
Offline, real weights come from --weights FILE.pth or --weights-dir DIR
(--weights none: random weights, for speed only).

python -m harness COMMAND --help explains every option.
"""


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors show one short usage line, not the whole usage."""

    last_error: str | None = None  # the latest usage error of any parser, for --format json

    def error(self, message: str) -> NoReturn:
        Parser.last_error = message
        self.exit(EXIT_USAGE, f"{self.short_usage()}\nharness: error: {message}\n")

    def short_usage(self) -> str:
        """``usage: PROG REQUIRED... [options] POSITIONAL...  (PROG --help: all options)``."""
        words = [self.prog]
        for a in self._actions:
            if a.option_strings and a.required:
                words.append(f"{a.option_strings[0]} {a.metavar or a.dest.upper()}")
        words.append("[options]")
        for a in self._actions:
            if not a.option_strings:
                name = str(a.metavar or a.dest)
                words.append(f"{name} [{name} ...]" if a.nargs in ("+", "*") else name)
        return f"usage: {' '.join(words)}  ({self.prog} --help: all options)"
