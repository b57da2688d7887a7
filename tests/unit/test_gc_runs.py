"""Which cluster runs `stackdeb gc` removes (builders/gc): whatever the runs, the newest kept,
the latest and the running ones are never among them."""

import os

from hypothesis import given, settings, strategies as st

from builders.gc import runs_to_remove

stamps = st.builds(lambda day, second, pid: (f"202612{day:02d}T{second:06d}Z", pid),
                   st.integers(1, 28), st.integers(0, 235959), st.integers(2, 99999))


@settings(max_examples=200, deadline=None)
@given(runs=st.lists(stamps, max_size=25, unique_by=lambda r: r[0]), keep=st.integers(1, 12),
       latest=st.integers(0, 30), living=st.sets(st.integers(2, 99999), max_size=5))
def test_the_newest_the_latest_and_the_running_runs_are_kept(tmp_path_factory, runs, keep, latest, living):
    target = tmp_path_factory.mktemp("target")
    names = [f"{stamp}-{pid}" for stamp, pid in runs]
    for name in names:
        (target / name).mkdir()
    (target / "not-a-run").mkdir()
    if names:
        os.symlink(names[latest % len(names)], target / "latest")
    removed = {p.name for p in runs_to_remove(target, keep, lives=lambda pid: pid in living)}
    newest = sorted(names, reverse=True)[:keep]
    protected = set(newest) | {n for n in names if int(n.rsplit("-", 1)[1]) in living}
    if names:
        protected.add(names[latest % len(names)])
    assert removed == set(names) - protected
