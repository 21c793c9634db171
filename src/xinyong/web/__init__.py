"""Base templates, static files, i18n and the shared page views (login, home, errors)."""
