"""The Timeline page's way to the edit: choose a label's shots (positives, scored at least the
threshold, or the model's best), a format (EDL, FCP 7 XML, OpenTimelineIO), selects or markers,
then prepare and download the file — what ``python -m va_app export-edit`` writes."""

from __future__ import annotations

import streamlit as st

from va_app.errors import VAError
from va_app.formats.editorial import zipped
from va_app.services.bootstrap import Services
from va_app.services.editorial import EditChoice, edit_export, edit_stem
from va_app.ui import state

EXPORT = "_tl_export"
MIME = {".otio": "application/json", ".edl": "text/plain", ".xml": "application/xml"}


def edit_export_form(
    app: Services, label: str, *, threshold: float, video_keys: tuple[str, ...]
) -> None:
    """The export's choices, a button that prepares it and the download of what it made.
    ``video_keys``: the titles on the page (the export may be limited to them)."""
    a, b, d = st.columns(3)
    way = a.radio(
        "Shots",
        ("positives", "found", "top"),
        key="tl_x_way",
        format_func={
            "positives": "labelled positive",
            "found": "scored ≥ the threshold",
            "top": "the model's best",
        }.get,
    )
    top = a.number_input("How many (best)", 1, 100_000, 50, key="tl_x_top", disabled=way != "top")
    fmt = b.selectbox(
        "Format",
        ("edl", "fcpxml", "otio"),
        key="tl_x_fmt",
        format_func={
            "edl": "CMX 3600 EDL",
            "fcpxml": "Final Cut Pro 7 XML",
            "otio": "OpenTimelineIO (.otio)",
        }.get,
    )
    markers = b.toggle(
        "Markers per title",
        key="tl_x_markers",
        help="Per title the whole video with a marker per shot (name = label, "
        "comment = score), instead of one timeline of selects.",
    )
    only_page = d.toggle("Only the titles on this page", key="tl_x_page")
    order = d.selectbox(
        "Order",
        ("time", "score"),
        key="tl_x_order",
        format_func={"time": "title, then time", "score": "best first"}.get,
    )
    choice_args = {
        "positives": {"positives": True},
        "found": {"min_score": threshold},
        "top": {"top": int(top)},
    }[way]
    videos = video_keys if only_page else ()
    wanted = (label, way, threshold, int(top), fmt, markers, videos, order)

    def _prepare() -> None:
        try:
            export = edit_export(
                app,
                state.current_user(),
                label,
                EditChoice(**choice_args),
                fmt=fmt,
                markers=markers,
                videos=videos,
                order=order,
                stem=edit_stem(label, markers=markers),
            )
        except VAError as exc:
            st.session_state[EXPORT] = (wanted, None, str(exc))
            return
        name, data = zipped(export.files, name=edit_stem(label, markers=markers))
        note = f"{export.n_shots} shots of {export.n_videos} titles"
        st.session_state[EXPORT] = (wanted, (name, data), note)

    st.button("Prepare the export", key="tl_x_prepare", on_click=_prepare, icon=":material/build:")
    prepared = st.session_state.get(EXPORT)
    if prepared and prepared[0] == wanted:
        _, file, note = prepared
        if file is None:
            st.error(note)
        else:
            name, data = file
            mime = "application/zip" if name.endswith(".zip") else MIME[name[name.rfind(".") :]]
            st.download_button(
                f"Download {name} ({note})",
                data,
                file_name=name,
                mime=mime,
                key="tl_x_download",
                icon=":material/download:",
                on_click="ignore",
            )
    st.caption(
        "The same from the command line: `python -m va_app export-edit --label "
        f"{label!r} --positives --format edl --out selects.edl` (see README)."
    )
