"""HTTP serving: the FastAPI app and its routers."""

from tastemaker.serving.app import create_app

__all__ = ["create_app"]
