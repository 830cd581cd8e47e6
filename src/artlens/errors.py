"""One exception type whose message is the whole story.

Every user-facing failure (bad path, unknown backbone, corrupt bundle, missing weights) raises
:class:`ArtlensError` with a single line that names the thing and the problem. The CLI prints that
line and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

__all__ = ["ArtlensError"]


class ArtlensError(Exception):
    """A problem the user can fix; ``str(err)`` is a one-line explanation."""
