"""Video Annotator: build a binary video classifier for a concept of your own.

The core library (everything here except ``va_app.ui``) is pure Python and never imports
streamlit; the Streamlit pages are thin views over it.
"""

__version__ = "0.1.0"
