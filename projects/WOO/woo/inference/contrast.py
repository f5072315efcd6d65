"""Text colour for a coloured background, by WCAG 2 relative luminance and contrast ratio.

WCAG 2.x (https://www.w3.org/TR/WCAG21/#dfn-contrast-ratio) asks for a contrast ratio of at
least 4.5:1 for normal text (``AA_TEXT_CONTRAST``).
"""
from typing import Sequence, Tuple

__all__ = ["AA_TEXT_CONTRAST", "relative_luminance", "contrast_ratio", "text_color"]

AA_TEXT_CONTRAST = 4.5
BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def relative_luminance(rgb: Sequence[int]) -> float:
    """WCAG relative luminance of an 8-bit sRGB colour: 0 for black, 1 for white."""
    linear = []
    for c in rgb:
        c = c / 255.0
        linear.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = linear
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: Sequence[int], b: Sequence[int]) -> float:
    """WCAG contrast ratio of two 8-bit sRGB colours, from 1 (equal) to 21 (black on white)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def text_color(background: Sequence[int]) -> Tuple[int, int, int]:
    """Black or white, whichever contrasts more with ``background`` (black on a tie)."""
    return BLACK if contrast_ratio(BLACK, background) >= contrast_ratio(WHITE, background) else WHITE
