"""The REST API and the web pages, built by ``create_app(settings, ...)``."""
