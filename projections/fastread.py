"""Reading a current view straight from the SQLite file, with `sqlite3` alone (fast CLI reads).

The views are written through SQLAlchemy, whose import costs more than a whole read command.
When a view has applied every event in the log, its rows are the answer and two `SELECT`s
return them; otherwise (view behind, table missing, file absent or busy) these functions
return None and the caller takes the normal path, which catches the view up first.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

# eventsourcing.sqlite's table of stored events; its max(rowid) is the log's head (the same
# query as the recorder's max_notification_id).
EVENTS_TABLE = "stored_events"


def current_state(database: Path, name: str) -> dict[str, Any] | None:
    """The state view's document for the live pipeline `name`, if the view is at the log head.

    Returns exactly what `projections.state.current_state` returns, or None when only the
    normal path can answer (including a name with no live pipeline, so its error is unchanged).
    """
    if not database.is_file():
        return None
    try:
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        # One read transaction: the head, the position and the row are from one snapshot.
        connection.execute("BEGIN")
        if not _view_at_head(connection, "state"):
            return None
        row = connection.execute(
            "SELECT document FROM view_state WHERE name = ? AND NOT deleted", (name,)
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    if row is None:
        return None
    document: dict[str, Any] = json.loads(row[0])
    return document


def _view_at_head(connection: sqlite3.Connection, view: str) -> bool:
    head = connection.execute(f"SELECT max(rowid) FROM {EVENTS_TABLE}").fetchone()[0] or 0
    found = connection.execute(
        "SELECT position FROM view_positions WHERE view = ?", (view,)
    ).fetchone()
    return found is not None and int(found[0]) == int(head)
