"""``woo demo --show``: a window with each frame as it arrives, under the boxes of the newest
scored key frame (they lag the picture by the delay ``live.jsonl`` reports).

The window needs OpenCV built with a GUI and, on Linux, a display; without
either it is a clear error before the run starts, never a crash in its middle.
"""
import os
import re
import sys
from typing import Mapping, Optional

import cv2
import numpy as np

from .render import ActionOverlay

__all__ = ["display_problem", "LiveWindow"]

# Keys that close the window and end the run, as the end of the stream would: q and Esc.
_QUIT_KEYS = (ord("q"), 27)


def display_problem(build_information: str, platform: str, environ: Mapping[str, str]) -> Optional[str]:
    """Why a window cannot open here, or None.

    Args:
        build_information: ``cv2.getBuildInformation()``; its ``GUI:`` line is NONE
            in opencv-python-headless.
        platform: ``sys.platform``.
        environ: the environment (``DISPLAY`` / ``WAYLAND_DISPLAY`` on Linux).
    """
    gui = re.search(r"^\s*GUI:\s*(\S+)", build_information, re.MULTILINE)
    if gui is not None and gui.group(1).upper() == "NONE":
        return ("--show needs OpenCV with a GUI and this one has none (opencv-python-headless); "
                "install the GUI build: pip uninstall -y opencv-python-headless && pip install opencv-python")
    if platform.startswith("linux") and not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return "--show needs a display and none is set (DISPLAY or WAYLAND_DISPLAY); run without --show"
    return None


class LiveWindow:
    """An OpenCV window showing frames as they arrive.

    Args:
        title: the window's title.

    Raises:
        RuntimeError: no window can open here (:func:`display_problem`).
    """

    def __init__(self, title: str):
        problem = display_problem(cv2.getBuildInformation(), sys.platform, os.environ)
        if problem is not None:
            raise RuntimeError(problem)
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def show(self, image: np.ndarray, overlay: Optional[ActionOverlay] = None) -> bool:
        """Show (H, W, 3) uint8 RGB ``image`` with ``overlay`` drawn on a copy.

        Returns:
            False once the window was closed or q / Esc pressed in it.
        """
        shown = image.copy()
        if overlay is not None:
            overlay.draw(shown)
        cv2.imshow(self.title, np.ascontiguousarray(shown[:, :, ::-1]))  # OpenCV shows BGR
        if (cv2.waitKey(1) & 0xFF) in _QUIT_KEYS:
            return False
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)  # lets the GUI loop take the window down
