"""Number formatting shared by the HTML report, the markdown summary and the plots, so every view
prints the same value the same way."""
from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

DASH = "—"


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers as the reader wants them: ints whole, floats rounded, missing values as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return str(value)


def fmt_short(value: Any) -> str:
    """Settings as written in a config: 1 not 1.000, 0.5 not 0.500."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{float(value):g}"


def fmt_signed(value: Any, digits: int = 3) -> str:
    """Gains carry their sign, so a loss is never mistaken for a gain."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{float(value):+.{digits}f}"


def interval_text(low: Any, high: Any, signed: bool = False) -> str:
    """'[0.801, 0.823]', or a dash when the interval is missing."""
    if low is None or high is None:
        return DASH
    format_ = fmt_signed if signed else fmt
    return f"[{format_(low)}, {format_(high)}]"


def round_or_none(value: Any, digits: int | None) -> Any:
    """Rows for display are rounded; the report formats from unrounded values (no double rounding)."""
    if value is None or digits is None:
        return value
    return round(float(value), digits)


def png_data_uri(png: bytes) -> str:
    """Images go inline: the report is one file that opens offline."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
