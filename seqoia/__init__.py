"""seqoia: clinical genome sequencing pipelines on object storage, driven by Dramatiq."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
