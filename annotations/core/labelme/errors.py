"""Errors of LabelMe documents and bundles; both are ``ValueError``."""

from __future__ import annotations


class LabelMeError(ValueError):
    """A LabelMe document is malformed.

    Parameters
    ----------
    message : str
        What is wrong, in words.
    path : str
        Where, as a JSONPath-like location (``"$"``, ``"$.shapes[2].points[0]"``).
    """

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{path}: {message}")
        self.message = message
        self.path = path


class BundleError(ValueError):
    """A folder or zip bundle is unsafe (path traversal, symlink, zip bomb) or unreadable.

    Parameters
    ----------
    message : str
        What is wrong, in words.
    member : str or None
        The offending member (zip entry name or path relative to the folder), if any.
    """

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message if member is None else f"{member!r}: {message}")
        self.message = message
        self.member = member
