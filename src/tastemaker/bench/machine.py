"""The machine a benchmark ran on, for its JSON (figures mean little without it)."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence


def machine_facts(load_before: Sequence[float]) -> dict[str, object]:
    """CPUs, Python, platform and the load average before the run (given) and now."""
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
