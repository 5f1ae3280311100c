"""Writing one table three ways: CSV (for scripts), Markdown (for the report) and LaTeX (for papers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from jedi_bench.io import atomic_write_text


def _number(v: float, digits: int) -> str:
    if digits == 0:
        return str(round(v))
    if abs(v) >= 1e6:
        return f"{v:.3g}"
    return f"{round(v, digits) + 0.0:.{digits}f}"  # + 0.0 turns -0.0 into 0.0


def _formatted(table: pd.DataFrame, digits: int) -> pd.DataFrame:
    """Floats rounded for reading; integers and text untouched; missing values shown as '-'."""
    out = table.copy().astype(object)
    for col in table.columns:
        values = table[col]
        if pd.api.types.is_float_dtype(values):
            known = values.dropna()
            whole = len(known) > 0 and bool((known == known.round()).all())  # ints that NaN made floats
            out[col] = ["-" if pd.isna(v) else _number(v, 0 if whole else digits) for v in values]
        else:
            out[col] = ["-" if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in values]
    return out


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def write_table(
    table: pd.DataFrame, stem: str | Path, caption: str, digits: int = 3, display: pd.DataFrame | None = None
) -> list[Path]:
    """Write ``stem``.csv (full precision), .md and .tex (rounded, with the caption); return the paths.
    ``display``, when given, is what the Markdown and LaTeX show instead (e.g. intervals as text)."""
    stem = Path(stem)
    csv, md, tex = stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex")
    atomic_write_text(csv, table.to_csv())
    shown = table if display is None else display
    shown = shown.reset_index() if shown.index.nlevels > 1 else shown.rename_axis(shown.index.name or "")
    keep_index = shown.index.nlevels == 1 and not isinstance(shown.index, pd.RangeIndex)
    shown = _formatted(shown, digits)
    atomic_write_text(md, f"{caption}\n\n{shown.to_markdown(index=keep_index)}\n")
    shown.index = [_latex_escape(str(i)) for i in shown.index]
    shown.columns = [_latex_escape(str(c)) for c in shown.columns]
    shown = shown.map(lambda v: _latex_escape(v) if isinstance(v, str) else v)
    latex = shown.to_latex(
        caption=_latex_escape(caption), label=f"tab:{stem.name}", escape=False, index=keep_index
    )
    atomic_write_text(tex, latex)
    return [csv, md, tex]
