"""tastemaker: a self-hosted recommendation and personalization platform."""

__version__ = "0.1.0"

__all__ = ["__version__"]
