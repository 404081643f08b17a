"""costaware's version (``pyproject.toml`` holds the same), in a module of its own: the tracer and
meter read it without importing the package root, whose lazy names reach every layer."""

__version__ = "0.1.0"
