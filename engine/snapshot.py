"""What a run read: every file of a folder, by digest, with its content, read once. A run
records these digests and evaluates these very bytes (rules, facility.toml, facts), so that a
file saved again while it runs is not recorded as evaluated."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

Snapshot = tuple[dict[str, str], dict[str, bytes]]  # ({file name: sha256}, {sha256: content})


def folder_files(folder: Path, read: Mapping[str, bytes | None] | None = None) -> Snapshot:
    """Every file of a folder and its subfolders (links followed), by digest, in the order of
    their paths. Listed with scandir, which knows most entries' types without a stat, and read
    without Path objects: 47 against 69 microseconds a facility, which a run that finds a
    quarter appended pays for every facility. `read`: files read already, by name under the
    folder, taken as they were read (None: a file that was not there) and not read again."""
    found: list[tuple[list[str], str | None]] = []
    _files_under(str(folder), [], found)
    given = {name: content for name, content in (read or {}).items() if content is not None}
    if read:
        found = [item for item in found if "/".join(item[0]) not in read]
        found += [(name.split("/"), None) for name in given]
    names, files = {}, {}
    for parts, path in sorted(found):
        content = given["/".join(parts)] if path is None else read_bytes(path)
        sha = hashlib.sha256(content).hexdigest()
        names["/".join(parts)] = sha
        files[sha] = content
    return names, files


def read_bytes(path: str) -> bytes:
    """A file's content, read with bare descriptor calls: 9 against 20 us for a small file
    opened as a Python file object, and a run reads each facility's files."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(descriptor, _CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


_CHUNK = 1 << 16


def _files_under(path: str, parts: list[str], found: list[tuple[list[str], str | None]]) -> None:
    """(the parts of its name under the folder, its path) for each file under `path`; as
    os.walk does, a folder that cannot be listed is passed over."""
    try:
        with os.scandir(path) as listing:
            entries = list(listing)
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir():
                _files_under(entry.path, [*parts, entry.name], found)
            elif entry.is_file():
                found.append(([*parts, entry.name], entry.path))
        except OSError:
            continue
