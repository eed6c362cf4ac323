"""Video Annotator — Streamlit entry script (``streamlit run app.py``)."""

import streamlit as st

from va_app.config import Settings
from va_app.errors import VAError
from va_app.services import corpus_info

st.set_page_config(page_title="Video Annotator", page_icon="🎬", layout="wide")
st.title("Video Annotator")
try:
    info = corpus_info(Settings.from_env())
except VAError as exc:
    st.error(str(exc))
    st.stop()
cols = st.columns(4)
cols[0].metric("Videos", info["videos"])
cols[1].metric("Shots", info["shots"])
cols[2].metric("Labels", info["labels"])
cols[3].metric("Annotations", info["annotations"])
st.caption(f"Encoder: {info['encoder'] or '—'} · data: {info['data_dir']}")
if info["skipped"]:
    with st.expander(f"{len(info['skipped'])} files skipped at ingest"):
        st.dataframe(info["skipped"], width="stretch")
