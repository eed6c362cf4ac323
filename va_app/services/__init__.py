"""The service layer: every user action (app, CLI, scripts) goes through
:class:`~va_app.services.workspace.Workspace`, access-checked by :mod:`va_app.services.access`."""
