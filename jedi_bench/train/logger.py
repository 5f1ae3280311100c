"""Per-epoch metrics of a run: ``metrics/train.jsonl``, ``metrics/train.csv``, ``metrics/eval.csv``, ``tb/``.

The JSONL file is the record; the CSV files are rewritten atomically from it after every epoch, so a
reader never sees a half-written CSV. On resume, rows of epochs after the checkpoint (written by the
killed process but not covered by its last checkpoint) are dropped, because the resumed run computes
those epochs again; TensorBoard is told to purge them too.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from jedi_bench.io import atomic_write_text

EVAL_COLUMNS = ("epoch", "env_steps", "mean_return", "std_return", "episodes")


class RunLogger:
    def __init__(self, run_dir: str | Path, resume_epoch: int | None = None, tensorboard: bool = True):
        self.metrics_dir = Path(run_dir) / "metrics"
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        self.train_jsonl = self.metrics_dir / "train.jsonl"
        self.eval_jsonl = self.metrics_dir / "eval.jsonl"
        keep = -1 if resume_epoch is None else resume_epoch
        self.train_rows = _read_rows(self.train_jsonl, keep)
        self.eval_rows = _read_rows(self.eval_jsonl, keep)
        for path, rows in ((self.train_jsonl, self.train_rows), (self.eval_jsonl, self.eval_rows)):
            atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
        self._write_csvs()
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_epoch is None else resume_epoch + 1
            self.tb = SummaryWriter(log_dir=str(Path(run_dir) / "tb"), purge_step=purge)

    def log_train(self, row: dict) -> None:
        self.train_rows.append(row)
        _append(self.train_jsonl, row)
        if self.tb is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.tb.add_scalar(f"train/{key}", value, row["epoch"])
        self._write_csvs()

    def log_eval(self, epoch: int, env_steps: int, returns: list[float]) -> dict:
        row = {
            "epoch": epoch,
            "env_steps": env_steps,
            "mean_return": float(np.mean(returns)),
            "std_return": float(np.std(returns)),
            "episodes": len(returns),
        }
        self.eval_rows.append(row)
        _append(self.eval_jsonl, row)
        if self.tb is not None:
            self.tb.add_scalar("eval/mean_return", row["mean_return"], epoch)
            self.tb.add_scalar("eval/mean_return_vs_env_steps", row["mean_return"], env_steps)
        self._write_csvs()
        return row

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None

    def _write_csvs(self) -> None:
        atomic_write_text(self.metrics_dir / "train.csv", _to_csv(self.train_rows))
        atomic_write_text(self.metrics_dir / "eval.csv", _to_csv(self.eval_rows, EVAL_COLUMNS))


def _read_rows(path: Path, keep_through_epoch: int) -> list[dict]:
    """Rows of a JSONL file with epoch <= keep_through_epoch (a torn last line is dropped)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("epoch", 0) <= keep_through_epoch:
            rows.append(row)
    return rows


def _append(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def _to_csv(rows: list[dict], columns: tuple[str, ...] | None = None) -> str:
    if columns is None:
        columns = tuple(dict.fromkeys(key for row in rows for key in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
