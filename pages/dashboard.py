"""Dashboard for managers: progress of every label, score histories, people, agreement,
diversity. Every table downloads as CSV or Parquet (as `python -m va_app dashboard export`)."""

import pandas as pd
import streamlit as st

from va_app.errors import VAError
from va_app.reports import charts
from va_app.services import dashboard
from va_app.ui import resources, state
from va_app.ui.downloads import table_downloads
from va_app.ui.shell import page

page("Dashboard", ":material/monitoring:")
app = resources.services()
st.title("Dashboard")

table = dashboard.progress_table(app)
if table.empty:
    st.info("No labels yet.")
    st.stop()
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "label": "Label",
        "annotations": "Clicks",
        "positives": "Positives",
        "negatives": "Negatives",
        "annotators": "Annotators",
        "conflicts": "Conflicts",
        "model_score": st.column_config.NumberColumn("Model score", format="%.2f"),
        "data_score": st.column_config.NumberColumn("Data score", format="%.2f"),
        "versions": "Versions",
        "last_activity": st.column_config.DatetimeColumn("Last activity"),
        "ready": st.column_config.CheckboxColumn("Ready"),
        "readiness": st.column_config.TextColumn("What is missing", width="large"),
    },
)
st.caption(
    "Ready = the paper's stopping rule: ≥ 100 positives, ≥ 100 negatives, model and "
    "data scores ≥ 0.8."
)
table_downloads("label_progress", table)

names = table.label.tolist()
default = names.index(state.current_label()) if state.current_label() in names else 0
label = st.selectbox("Details for", names, index=default, key="dash_label")
try:
    tables = dashboard.label_tables(app, label)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.score_history_figure(tables["score_history"]), key="chart-history")
        table_downloads("score_history", tables["score_history"], label=label)
    with right:
        st.plotly_chart(
            charts.annotator_activity_figure(tables["annotator_activity"]), key="chart-activity"
        )
        table_downloads("annotator_activity", tables["annotator_activity"], label=label)
    st.subheader("Agreement between annotators")
    summary = tables["agreement"].iloc[0]
    a = st.columns(3)
    a[0].metric("Shots with several annotators", int(summary["n_shots_multi"]))
    a[1].metric(
        "Agreement rate",
        "—" if pd.isna(summary["agreement_rate"]) else f"{summary['agreement_rate']:.0%}",
    )
    a[2].metric(
        "Fleiss' kappa",
        "—" if pd.isna(summary["fleiss_kappa"]) else f"{summary['fleiss_kappa']:.2f}",
    )
    left, right = st.columns(2)
    with left:
        if tables["agreement_over_time"].empty:
            st.info(
                "Agreement over time appears once two annotators have labelled the same shots.",
                icon=":material/group:",
            )
        else:
            st.plotly_chart(
                charts.agreement_over_time_figure(tables["agreement_over_time"]),
                key="chart-agreement-time",
            )
            table_downloads("agreement_over_time", tables["agreement_over_time"], label=label)
    with right:
        st.dataframe(
            tables["agreement_pairs"].drop(columns="label"),
            hide_index=True,
            width="stretch",
            key="agreement-pairs",
            column_config={
                "annotator_a": "Annotator",
                "annotator_b": "and annotator",
                "n_shared": "Shared shots",
                "agreement_rate": st.column_config.NumberColumn("Agreement", format="percent"),
                "cohen_kappa": st.column_config.NumberColumn("Cohen's κ", format="%.2f"),
            },
        )
        table_downloads("agreement_pairs", tables["agreement_pairs"], label=label)
        table_downloads("agreement", tables["agreement"], label=label)
    left, right = st.columns(2)
    left.plotly_chart(
        charts.cluster_coverage_figure(dashboard.cluster_coverage(app, label)), key="chart-clusters"
    )
    right.plotly_chart(charts.corpus_map_figure(dashboard.corpus_map(app, label)), key="chart-map")
    left, right = st.columns(2)
    left.plotly_chart(resources.score_distribution_figure(label), key="chart-scores")
    curve = dashboard.reliability(app, label)
    right.plotly_chart(charts.reliability_figure(curve), key="chart-calibration")
    if not curve.empty:
        right.caption(
            f"Out-of-fold predictions on {curve.attrs['n']} labelled shots. Brier score "
            f"{curve.attrs['brier']['raw']:.3f} raw → "
            f"{curve.attrs['brier']['calibrated']:.3f} calibrated (lower is better)."
        )
except VAError as exc:
    st.error(str(exc))
