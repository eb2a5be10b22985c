"""Attaché: analyst personas answer news items as typed JSON, from a versioned prompt registry."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("attache")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
