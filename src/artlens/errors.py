"""One exception type whose message is the whole story.

Every user-facing failure (bad path, unknown backbone, corrupt bundle, missing weights) raises
:class:`ArtlensError` with a single line that names the thing and the problem. The CLI prints that
line and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

__all__ = ["ArtlensError", "yaml_error"]


class ArtlensError(Exception):
    """A problem the user can fix; ``str(err)`` is a one-line explanation."""


def yaml_error(path: object, err: Exception) -> ArtlensError:
    """A YAML parse error as one line that keeps where it is: ``recipe.yaml: not valid YAML at line 5,
    column 54 (mapping values are not allowed here)``. PyYAML puts the position on its later lines,
    which a one-line message would otherwise drop."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err).strip().splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return ArtlensError(f"{path}: not valid YAML{where} ({problem})")
