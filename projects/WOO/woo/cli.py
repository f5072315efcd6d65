"""The ``woo`` command: one sub-command per job.

Each sub-command lives in its own module, which defines
``add_arguments(parser)`` and ``main(args) -> int``; modules are imported only
when their sub-command runs.
"""
import argparse
import importlib
import sys
from typing import List, Optional

# sub-command -> (module, one-line help)
SUBCOMMANDS = {
    "train": ("woo.engine.launch", "train and/or evaluate a model from a config"),
    "synth": ("woo.data.synthetic", "write the synthetic AVA-format dataset"),
    "ava-eval": ("woo.evaluation.cli", "frame-mAP of an AVA detection CSV"),
    "flops": ("woo.modeling.flops", "GFLOPs and parameters of a config's model"),
    "latency": ("woo.inference.latency", "milliseconds per key frame, beside the two-stage pipeline"),
    "export": ("woo.inference.export", "export a model to ONNX or TorchScript"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="woo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_module=module_name)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    # Parse the sub-command name first, then let its module define its arguments.
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # prints help or a clear "invalid choice" error
        return 2
    name = argv[0]
    module_name, help_text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    sub_parser = argparse.ArgumentParser(prog=f"woo {name}", description=help_text)
    module.add_arguments(sub_parser)
    args = sub_parser.parse_args(argv[1:])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
