"""Download buttons under a dashboard table: CSV and Parquet, the same bytes as
``python -m va_app dashboard export`` writes (:func:`va_app.reports.analytics.table_bytes`)."""

from __future__ import annotations

import re
from functools import partial

import pandas as pd
import streamlit as st

from va_app.reports import analytics

MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
#: What each table is, in the line beside its buttons.
TITLES = {
    "label_progress": "progress per label",
    "annotator_activity": "clicks per annotator and day",
    "agreement": "agreement of this label",
    "agreement_pairs": "agreement per pair",
    "agreement_over_time": "agreement per pair and day",
    "score_history": "scores per model version",
}


def table_downloads(name: str, frame: pd.DataFrame, *, label: str = "") -> None:
    """One button per format; the file is made only when its button is clicked."""
    stem = re.sub(r"[^\w-]+", "_", f"{name}-{label}" if label else name).strip("_")
    with st.container(horizontal=True, gap="small", key=f"downloads-{name}"):
        st.caption(f"Download {TITLES.get(name, name)}")
        for fmt in analytics.EXPORT_FORMATS:
            st.download_button(
                fmt.upper(),
                data=partial(analytics.table_bytes, frame, fmt),
                file_name=f"{stem}.{fmt}",
                mime=MIME[fmt],
                key=f"download-{name}-{fmt}",
                icon=":material/download:",
                type="tertiary",
                on_click="ignore",
            )
