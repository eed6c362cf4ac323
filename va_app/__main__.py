"""``python -m va_app`` — the command line."""

from va_app.cli import main

raise SystemExit(main())
