"""Atomic result writes: the file is the old one or the complete new one, never half, and no temporaries
stay."""

from pathlib import Path

import pytest

from jedi_bench.io import atomic_write_json, atomic_write_text


def test_write_replaces_the_file_and_keeps_a_plain_files_permissions(tmp_path):
    path = tmp_path / "sub" / "scores.json"
    atomic_write_json(path, {"returns": [1.0, -1.0]})
    atomic_write_json(path, {"returns": [0.5]})
    assert path.read_text() == '{\n  "returns": [\n    0.5\n  ]\n}\n'
    assert path.stat().st_mode & 0o044  # readable by others, as open() would make it, not mkstemp's 0600
    assert [p.name for p in path.parent.iterdir()] == ["scores.json"]


def test_a_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "table.md"
    atomic_write_text(path, "old table\n")

    def dies_midway(self, data):
        with open(self, "wb") as handle:
            handle.write(data[:3])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, "new table\n")
    assert path.read_text() == "old table\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]
