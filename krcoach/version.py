"""The version, in a module of its own so that anything (the cache key, the API's schema) can read it
without importing the public API in `krcoach/__init__.py`."""

__version__ = "0.1.0"
