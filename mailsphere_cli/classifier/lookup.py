"""Find a message's bytes for `train classifier --explain ID|FILE`."""
from __future__ import annotations

import sqlite3
from pathlib import Path


class NotFound(Exception):
    pass


def _from_source(origin: str, full_id: str) -> bytes | None:
    from mailsphere_cli.sources import RawMessage, SourceError, iter_sources
    path = origin.rsplit("#", 1)[0] if not Path(origin).exists() else origin
    if not Path(path).exists():
        return None
    try:
        for item in iter_sources([path]):
            if isinstance(item, RawMessage) and item.id == full_id:
                return item.data
    except SourceError:
        return None
    return None


def message_bytes(key: str, data_dir: Path) -> bytes:
    """A file's bytes, or the message with this id (or id prefix) from the scan record."""
    path = Path(key)
    if path.is_file():
        return path.read_bytes()
    if len(key) < 6 or not all(c in "0123456789abcdef" for c in key.lower()):
        raise NotFound(f"{key!r} is neither a file nor a message id (6+ hex characters)")
    db_path = data_dir / "mailsphere.db"
    if not db_path.is_file():
        raise NotFound(f"{key!r} is not a file, and there is no scan record in {data_dir}")
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        pattern = key.lower() + "%"
        ids = {r[0] for r in db.execute("SELECT id FROM messages WHERE id LIKE ?", (pattern,))}
        if len(ids) > 1:
            raise NotFound(f"{key!r} matches {len(ids)} messages: give more characters")
        if not ids:
            raise NotFound(f"no recorded message matches {key!r}")
        full_id = ids.pop()
        held = db.execute("SELECT path FROM quarantine WHERE message_id = ? AND path IS NOT NULL",
                          (full_id,)).fetchall()
        sources = [r[0] for r in db.execute("SELECT DISTINCT source FROM messages WHERE id = ?",
                                            (full_id,))]
    finally:
        db.close()
    for (held_path,) in held:
        if held_path and Path(held_path).is_file():
            return Path(held_path).read_bytes()
    for origin in sources:
        found = _from_source(origin, full_id)
        if found is not None:
            return found
    raise NotFound(f"message {full_id[:16]} is recorded but its bytes are gone (not in the "
                   f"quarantine, not at {', '.join(sources) or 'its source'})")
