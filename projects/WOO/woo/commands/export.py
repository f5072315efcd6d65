"""``woo export``: a WOO model as an ONNX or TorchScript graph (see :mod:`woo.inference.export`)."""
import argparse

import torch

from woo.config import load_config
from woo.inference.export import FORMATS, build_exportable, default_input_size, export_model

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, help="WOO YAML config")
    parser.add_argument("--format", required=True, choices=FORMATS, help="graph format")
    parser.add_argument("--output", required=True, help="file to write (.onnx or .pt)")
    parser.add_argument("--input-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="clip height and width the graph takes (default: the config's test size of its "
                             "dataset's frames, INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST: 120 160 for WOO_Tiny, "
                             "256 455 for AVA)")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="config overrides: KEY VALUE ... (MODEL.WEIGHTS for trained weights)")


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config_file, args.opts)
    cfg.freeze()
    height, width = args.input_size or default_input_size(cfg)
    module = build_exportable(cfg, args.format)
    clip = torch.zeros(1, 3, cfg.INPUT.NUM_FRAMES, height, width)
    export_model(module, clip, args.format, args.output)
    print(f"Wrote {args.output}: {args.format}, input 'clip' (1, 3, {cfg.INPUT.NUM_FRAMES}, {height}, "
          f"{width}), outputs boxes ({cfg.MODEL.WOO.NUM_PROPOSALS}, 4), scores, actions "
          f"({cfg.MODEL.WOO.NUM_PROPOSALS}, {cfg.MODEL.WOO.NUM_ACTIONS})")
    return 0
