"""The database file watch (storage/filewatch.py): deleted, replaced, or only unreadable."""

from __future__ import annotations

import os

from storage.filewatch import DatabaseFileWatch


def test_a_deleted_or_replaced_file_is_gone_and_the_same_file_is_not(tmp_path) -> None:
    path = tmp_path / "mm.db"
    path.write_bytes(b"x")
    watch = DatabaseFileWatch(path)
    assert watch.gone() is None
    other = tmp_path / "other.db"
    other.write_bytes(b"y")
    os.replace(other, path)  # another file at the same path (both existed: another inode)
    assert "was replaced by another file" in str(watch.gone())
    path.unlink()
    assert "was deleted while running" in str(watch.gone())


def test_a_folder_replaced_by_a_file_is_gone(tmp_path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "mm.db").write_bytes(b"x")
    watch = DatabaseFileWatch(folder / "mm.db")
    (folder / "mm.db").unlink()
    folder.rmdir()
    folder.write_bytes(b"not a folder")
    assert "was deleted while running" in str(watch.gone())


def test_a_file_that_cannot_be_looked_at_is_not_taken_for_gone(tmp_path, monkeypatch) -> None:
    # A stat refused (permissions, I/O error) ended the daemon's watch task for the rest of
    # the run. Mocked: as root (CI) no folder refuses a stat.
    path = tmp_path / "mm.db"
    path.write_bytes(b"x")
    watch = DatabaseFileWatch(path)

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "stat", refused)
    assert watch.gone() is None
