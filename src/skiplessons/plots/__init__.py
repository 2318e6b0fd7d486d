"""The book's figures, one module per part (`part1` .. `part5`, named like `experiments.partN` and `claims.partN`)
and the shared house style (`style`). Chapters write `from skiplessons import plots` and call
`plots.part3.sweep(...)`."""
from . import part1, part2, part3, part4, part5, style

__all__ = ["part1", "part2", "part3", "part4", "part5", "style"]
