"""``train``'s command line -> TrainConfig: the parser's defaults, under a recorded configuration
(``--config FILE``, or the run's own config.json with ``--resume``), under the flags actually given.

Knowing which flags were given (not just their values) is what lets ``--out X --resume`` alone work and
a resume that changes ``--lr`` be refused instead of silently ignored.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from . import run_dir
from .train import TrainConfig


def given_flags(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations the command line sets explicitly (parsed again with every default suppressed)."""
    saved = [(a, a.default, a.required) for a in parser._actions]
    try:
        for action, _, _ in saved:
            action.default, action.required = argparse.SUPPRESS, False
        ns, _ = parser.parse_known_args(argv)
    finally:
        for action, default, required in saved:
            action.default, action.required = default, required
    return set(vars(ns))


def train_config(args: argparse.Namespace, parser: argparse.ArgumentParser, argv: list[str],
                 shared_backgrounds: Path) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    given = given_flags(parser, argv) & names
    values = {k: v for k, v in vars(args).items() if k in names}
    if args.config and args.resume:
        raise ValueError("--config starts a new run from recorded settings; --resume continues --out's own run")
    recorded = {}
    if args.config:
        recorded = run_dir.config_settings(run_dir.read_config(args.config), TrainConfig)
    elif args.resume:
        recorded = run_dir.config_settings(run_dir.read_config(Path(args.out) / "config.json"), TrainConfig)
    recorded.pop("out", None)
    merged = {**values, **recorded, **{k: values[k] for k in given}}
    if isinstance(merged.get("backgrounds"), str) and merged["backgrounds"].lower() == "none":
        merged["backgrounds"] = None
    elif merged.get("backgrounds") is None and "backgrounds" not in given and "backgrounds" not in recorded:
        print(f"note: training without background swaps: {shared_backgrounds} does not exist "
              "(pass --backgrounds DIR, or --backgrounds none to silence this)", file=sys.stderr)
    if merged.get("size") is not None:
        merged["size"] = tuple(merged["size"])
    return TrainConfig(**merged)
