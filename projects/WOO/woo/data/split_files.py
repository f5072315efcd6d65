"""Where datasets live, and the check that a split's files are there."""
import os

__all__ = ["datasets_root", "check_split_files"]


def datasets_root() -> str:
    """``$WOO_DATASETS`` or ``./datasets``."""
    return os.environ.get("WOO_DATASETS", "./datasets")


def check_split_files(split) -> None:
    """Raise a one-line ``FileNotFoundError`` naming the first missing file of ``split``
    (an :class:`~woo.data.ava_dataset.AVASplit` or a :class:`~woo.data.tube_dataset.TubeSplit`)
    and the README section that says where it comes from."""
    for what, path in split.required_files():
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"dataset {split.name!r}: {what} {path} not found; datasets/README.md, section "
                f"'{split.readme_section}', lists the files it needs (datasets root "
                f"{datasets_root()!r}, set by $WOO_DATASETS)"
            )
