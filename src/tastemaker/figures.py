"""Figures for the offline HTML reports: a matplotlib figure as a base64 PNG data URI body."""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # reports are written without a display


def png_base64(fig: Any) -> str:
    """The figure as base64 PNG (for ``src="data:image/png;base64,..."``); closes it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")
