"""The numbers and Plotly figures behind the review page and the managers' dashboard."""
