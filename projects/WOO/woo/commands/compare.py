"""``woo compare``: two or more runs' metrics.json side by side, with each later run's per-class AP
difference from the first, sorted; ``--report DIR`` draws it as a page."""
import argparse
import sys

from woo.reports.comparison import (check_same_classes, format_comparison, load_run, run_labels,
                                    write_comparison_report)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", help="metrics.json, or a run's OUTPUT_DIR holding one (the baseline)")
    parser.add_argument("runs", nargs="+", metavar="RUN_B", help="further runs, each compared with RUN_A")
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="write index.html and a chart of the per-class AP differences into DIR")


def main(args: argparse.Namespace) -> int:
    """Print the comparison (and write the report); a bad run prints one error line and returns 1."""
    paths = [args.run_a, *args.runs]
    try:
        runs = [load_run(path, label) for path, label in zip(paths, run_labels(len(paths)))]
        check_same_classes(runs)
        print(format_comparison(runs))
        if args.report:
            written = write_comparison_report(args.report, runs)
            print(f"report: {written['index.html']}")
    except (ValueError, OSError) as e:
        print(f"woo compare: error: {e}", file=sys.stderr)
        return 1
    return 0
