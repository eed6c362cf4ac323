"""Tables out of the tool: a frame as a CSV or Parquet file, chosen by the file's name."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from va_app.errors import ValidationError


def write_table(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write ``frame`` to ``out`` (``.csv`` or ``.parquet``, no index); returns the path."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValidationError(f"{out.name}: use a .csv or .parquet file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    return out
