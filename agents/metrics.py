"""Training metrics: one CSV row per logged step (columns fixed by the first row, later new keys are an error
so a file never silently changes shape), mirrored to TensorBoard when it is installed."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from tasm_env.errors import TasmError


class MetricsLogger:
    """``log(step, **values)`` appends a row to ``path`` (CSV); ``tensorboard=True`` also writes TensorBoard
    events into ``path``'s directory when the ``tensorboard`` package is present (silently skipped otherwise).
    ``append=True`` continues an existing file (resume)."""

    def __init__(self, path: str | Path | None, tensorboard: bool = True, append: bool = False):
        self.path = Path(path) if path is not None else None
        self._columns: list[str] | None = None
        self._writer = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if append and self.path.is_file() and self.path.stat().st_size:
                with open(self.path, newline="") as f:
                    self._columns = next(csv.reader(f), None)
            elif self.path.exists():
                self.path.unlink()
            if tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                    self._writer = SummaryWriter(str(self.path.parent / "tensorboard"))
                except ImportError:
                    self._writer = None

    def log(self, step: int, **values: float) -> None:
        if self.path is None:
            return
        row = {"step": step, **values}
        if self._columns is None:
            self._columns = list(row)
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self._columns)
        extra = set(row) - set(self._columns)
        if extra:
            raise TasmError(f"metrics {sorted(extra)} were not logged in the first row of {self.path}")
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([_format(row.get(c, "")) for c in self._columns])
        if self._writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _format(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """The rows of a metrics CSV as floats (empty cells -> NaN)."""
    with open(path, newline="") as f:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in row.items()} for row in csv.DictReader(f)]


__all__ = ["MetricsLogger", "read_metrics"]
