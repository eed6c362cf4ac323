"""Benchmarks (``python -m va_app bench``): engine, search and load figures; app click timing."""
