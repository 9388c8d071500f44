"""Serving the app: the gunicorn worker of the documented deployment."""
