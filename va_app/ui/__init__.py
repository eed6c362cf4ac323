"""The only Streamlit-aware code of va_app: cached resources, session state, shared widgets."""
