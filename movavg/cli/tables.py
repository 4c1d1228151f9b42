"""Tables on the terminal and in pipes: in a terminal, a rich table whose key columns never shrink (series ids
fold onto more lines instead of being cut) and whose long reason comes last; anywhere else (a file, a pipe, a
CI log) plain columns with every cell whole, whatever the width."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def plain_text(value: Any) -> str:
    """A cell as plain text: control characters (an ANSI escape in a series id, a newline) shown as escapes."""
    return CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), str(value))


def cell(value: Any) -> str:
    """`plain_text` for rich output, markup left unparsed."""
    return escape(plain_text(value))


@dataclass(frozen=True)
class Col:
    """One column: its header, whether it is a key column (never shrunk or cut), and right alignment."""

    header: str
    key: bool = False
    right: bool = False


def print_table(console: Console, columns: list[Col], rows: list[list[Any]]) -> None:
    """Print `rows` under `columns` on `console`: a rich table in a terminal, aligned plain columns elsewhere."""
    cells = [[plain_text(value) for value in row] for row in rows]
    if not console.is_terminal:
        widths = [max([len(col.header), *(len(row[i]) for row in cells)]) for i, col in enumerate(columns)]
        for line in [[col.header for col in columns], *cells]:
            text = "  ".join(
                value.rjust(width) if col.right else value.ljust(width)
                for value, width, col in zip(line, widths, columns, strict=True)
            )
            console.file.write(text.rstrip() + "\n")
        return
    shown = fitting_columns(columns, cells, console.width)
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    for i in shown:
        table.add_column(
            columns[i].header, justify="right" if columns[i].right else "left", no_wrap=i != shown[0], overflow="fold"
        )
    for row in cells:
        table.add_row(*(escape(row[i]) for i in shown))
    console.print(table)
    if len(shown) < len(columns):
        left = ", ".join(columns[i].header for i in range(len(columns)) if i not in shown)
        console.print(
            f"(not shown at this width: {escape(left)}; see --json, or pipe the output for every column)",
            style="dim",
            highlight=False,
        )


GAP = 2  # what a column costs beside its text: its padding and rule


def fitting_columns(columns: list[Col], cells: list[list[str]], width: int) -> list[int]:
    """The columns a terminal of `width` shows: every key column, then the others in order while they fit
    whole (the first column folds onto more lines if even the key columns do not fit)."""
    natural = [max([len(col.header), *(len(row[i]) for row in cells)]) for i, col in enumerate(columns)]
    shown = [i for i, col in enumerate(columns) if col.key]
    used = sum(natural[i] + GAP for i in shown)
    for i, col in enumerate(columns):
        if not col.key and used + natural[i] + GAP <= width:
            shown.append(i)
            used += natural[i] + GAP
    return sorted(shown)
