"""Terminal output shared by the commands: a console wide enough for their tables, and the
progress bar every long-running command shows."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def wide_console(width: int = 180) -> Console:
    """The terminal as it is, or a ``width``-column console when output goes to a file or a
    CI log (rich would otherwise wrap wide tables at 80 columns)."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=width)


def progress_bar(console: Console) -> Progress:
    """The commands' progress bar: what runs now, a bar, done/total and the elapsed time;
    removed when finished so only the results stay on screen."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
