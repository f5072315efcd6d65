"""The errors a ``woo`` command reports as one line (see :func:`woo.cli.main`)."""
from woo.runtime.output_dir import OutputDirError

__all__ = ["UsageError", "USER_ERRORS"]


class UsageError(Exception):
    """A bad command-line argument: one line, exit code 2 (as argparse's own errors)."""


# What bad input, a bad config, a missing or busy file or folder, a full disk or a diverging
# run raise; reported as ``woo <command>: error: <first line>`` with exit code 1.
# (VideoReadError is an OSError, CheckpointError a RuntimeError; AssertionError is what fvcore raises
# for a bad override value.) Nothing here imports torch: see woo.cli.
USER_ERRORS = (KeyError, ValueError, OSError, FloatingPointError, OutputDirError, AssertionError, RuntimeError)
