"""Memory of running processes, read from /proc (psutil is not a dependency): bench/load.py
samples the worker's and the web server's resident set size every second and summarises each
series, so that growth over a long run shows.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path


def _own_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name in parentheses may hold spaces; the parent pid follows it.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process and its descendants from /proc (psutil is not a
    dependency): gunicorn's arbiter and a prefork pool's parent do no work themselves, their
    children do. None once the process is gone."""
    own = _own_rss_mb(pid)
    if own is None:
        return None
    return own + sum(rss_mb(child) or 0.0 for child in _children(pid))


class RssSampler(threading.Thread):
    def __init__(self, pids: dict[str, int], interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pids, self.interval = pids, interval
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self.halt = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while True:
            now = time.monotonic() - self.t0
            for name, pid in self.pids.items():
                value = rss_mb(pid)
                if value is not None:
                    self.samples[name].append((now, value))
            if self.halt.wait(self.interval):
                return

    def stop(self) -> None:
        self.halt.set()
        self.join()


def _slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_y = sum(y for _, y in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return sum((t - mean_t) * (y - mean_y) for t, y in samples) / var * 60 if var else 0.0


def rss_summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Start, middle, end and peak (MB) of a series; its slope (MB/min) over the whole run and
    over the second half; and its floor (minimum) in each half. A worker's RSS swings by the
    activations of the image in hand, so the floors (between tasks) show growth better than
    any single sample."""
    if not samples:
        return {}
    ys = [y for _, y in samples]
    mid_t = (samples[0][0] + samples[-1][0]) / 2
    early = [s for s in samples if s[0] <= mid_t]
    late = [s for s in samples if s[0] >= mid_t]
    return {
        "start": ys[0], "middle": min(samples, key=lambda s: abs(s[0] - mid_t))[1],
        "end": ys[-1], "peak": max(ys), "slope": _slope(samples), "slope_late": _slope(late),
        "floor_early": min(y for _, y in early), "floor_late": min(y for _, y in late),
        "minutes": (samples[-1][0] - samples[0][0]) / 60, "samples": len(samples),
    }  # fmt: skip
