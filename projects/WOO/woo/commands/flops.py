"""``woo flops``: GFLOPs (fvcore, one multiply-add = one flop) and parameters per clip."""
import argparse

from woo.config import load_config
from woo.formats.json_io import write_json
from woo.modeling import build_model
from woo.modeling.flops import count_flops

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, help="WOO YAML config")
    parser.add_argument("--input-size", type=int, nargs=2, default=(256, 455), metavar=("H", "W"),
                        help="frame height and width (default 256 455: AVA's 16:9, short side 256)")
    parser.add_argument("--json", default="", help="also write the result to this JSON file")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config_file, args.opts)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.VIDEO_RESNET.PRETRAINED = ""  # weights do not change the count
    cfg.freeze()
    height, width = args.input_size
    result = count_flops(build_model(cfg), cfg.INPUT.NUM_FRAMES, height, width)
    result.update(config=args.config_file, input_size=[height, width],
                  num_frames=cfg.INPUT.NUM_FRAMES)
    print(f"{args.config_file}: {result['gflops']:.1f} GFLOPs, {result['params_m']:.2f} M "
          f"parameters per clip of {cfg.INPUT.NUM_FRAMES}x{height}x{width}")
    for name, gflops in result["by_module"].items():
        print(f"  {name}: {gflops:.2f} GFLOPs")
    if result["uncounted_ops"]:
        print("  not counted (no fvcore formula): " + ", ".join(
            f"{op} x{n}" for op, n in sorted(result["uncounted_ops"].items())))
    if args.json:
        write_json(args.json, result)
    return 0
