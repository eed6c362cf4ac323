"""The oracle simulator (``python -m va_app simulate``): VA against the paper's baselines."""
