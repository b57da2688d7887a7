"""Replacing a stage's outputs: whole or not at all, across SIGKILL, with readers that are
never pulled out from under."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from builders import outputs
from builders.outputs import replacing, using

WRITER = """
import sys, time
from pathlib import Path
from builders.outputs import replacing
out, generation = Path(sys.argv[1]), sys.argv[2]
while True:
    with replacing(out) as staged:
        for n in range(40):
            (staged / f"part-{n}").write_text(generation * 2000)
    generation = str(int(generation) + 1)
"""


def generations_seen(out: Path) -> set[str]:
    return {p.read_text()[:1] for p in out.iterdir()} if out.exists() else set()


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))


def test_a_replacement_is_whole_and_an_error_changes_nothing(tmp_path):
    out = tmp_path / "thing"
    with replacing(out) as staged:
        (staged / "a").write_text("1")
        (staged / "b").write_text("1")
    with pytest.raises(RuntimeError):
        with replacing(out) as staged:
            (staged / "a").write_text("2")
            raise RuntimeError("the build failed")
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a": "1", "b": "1"}
    with replacing(out) as staged:
        (staged / "c").write_text("3")
    assert [p.name for p in out.iterdir()] == ["c"]        # not a merge: the old files are gone
    assert leftovers(tmp_path) == []


def test_sigkill_at_random_points_leaves_one_whole_generation_and_the_next_run_cleans_up(tmp_path):
    out = tmp_path / "thing"
    rng = random.Random(20261203)
    env = {**os.environ, "PYTHONPATH": str(Path(outputs.__file__).parents[1])}
    seen_leftovers = False
    for run in range(15):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(run % 9 + 1)], env=env)
        time.sleep(rng.uniform(0.15, 0.6))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert len(generations_seen(out)) <= 1, f"run {run}: a mixed directory"
        if out.exists():
            assert len(list(out.iterdir())) == 40
        seen_leftovers |= bool(leftovers(tmp_path))
    assert seen_leftovers            # some kills landed mid-write: there was something to clean
    with replacing(out) as staged:
        (staged / "part-0").write_text("z")
    assert leftovers(tmp_path) == []


def test_two_renames_cut_in_the_middle_are_repaired(tmp_path):
    """Where RENAME_EXCHANGE is missing, a kill between the two renames leaves the old outputs
    aside and none in place: the next writer puts them back before anything else."""
    out = tmp_path / "thing"
    aside = tmp_path / ".thing.old-x1y2"
    aside.mkdir()
    (aside / "a").write_text("old")
    (tmp_path / ".thing.new-x1y2").mkdir()
    outputs.clean_leftovers(out)
    assert (out / "a").read_text() == "old" and leftovers(tmp_path) == []


def test_the_fallback_without_exchange_still_replaces(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)
    out = tmp_path / "thing"
    for generation in "12":
        with replacing(out) as staged:
            (staged / "a").write_text(generation)
    assert (out / "a").read_text() == "2" and leftovers(tmp_path) == []


def test_a_reader_holds_off_the_swap_until_it_is_done(tmp_path):
    out = tmp_path / "thing"
    with replacing(out) as staged:
        (staged / "a").write_text("1")
    events = []

    def write():
        with replacing(out) as staged:
            (staged / "a").write_text("2")
            events.append("staged")
        events.append("swapped")

    with using(out):
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.5)
        assert events == ["staged"] and (out / "a").read_text() == "1"
        events.append("reader done")
    writer.join(10)
    assert events == ["staged", "reader done", "swapped"] and (out / "a").read_text() == "2"


def test_an_older_bundle_symlink_is_replaced_by_a_directory(tmp_path):
    generations = tmp_path / ".generations"
    (generations / "thing-abc").mkdir(parents=True)
    (generations / "thing-dead").mkdir()             # a killed run's
    (tmp_path / "thing").symlink_to(".generations/thing-abc")
    with replacing(tmp_path / "thing") as staged:
        (staged / "a").write_text("new")
    assert not (tmp_path / "thing").is_symlink() and (tmp_path / "thing" / "a").read_text() == "new"
    assert list(generations.iterdir()) == []
