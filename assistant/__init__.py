"""assistant: quoted, cited answers over your own source texts."""

__version__ = "0.1.0"
