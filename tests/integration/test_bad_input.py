"""The bad-input corpus: one small file per case in tests/bad-input/, each a bad version of
one input of a stage (or bad options) and the message it must produce. Every case must end
with that one message and exit status 1: never a traceback, never a half-written output.

A case file:
    before:  commands that run first and must pass (e.g. [[lock]] before a bundle case)
    run:     the command that must fail ({base} is the case's directory)
    file:    what the bad content replaces (or, with mode: append, is added to), relative to
             the case's directory: project/..., releases/..., requirements/..., or a new file
    content: the bad content
    file_mode: its permissions, in octal (optional)
    env:     environment variables set for the command (optional)
    stdin:   what the command reads on its standard input (optional)
    status:  the exit status (default 1; 2 for a usage error, which argparse reports)
    message: what stderr must say
"""

import io
import re
from pathlib import Path

import pytest
import yaml

from helpers import snapshot

CORPUS = Path(__file__).parents[1] / "bad-input"
CASES = sorted(CORPUS.glob("*.yaml"))


def without_index_server_noise(err: str) -> str:
    """The test's fake package index prints a traceback when a client hangs up on it."""
    return re.sub(r"-{40}\nException occurred during processing of request.*?-{40}\n", "", err, flags=re.S)


def index_options(command: list[str], mini) -> list[str]:
    return ["--index-url", mini.index.url] if command[0] in ("lock", "bundle") else []


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_input_gives_one_clear_message(case, stackdeb, mini_project, tmp_path, monkeypatch, capfd):
    spec = yaml.safe_load(case.read_text())
    base = tmp_path
    for command in spec.get("before", []):
        code, err = stackdeb(*command, *index_options(command, mini_project))
        assert code == 0, err
    if "file" in spec:
        target = base / spec["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if spec.get("mode") == "append":
            target.write_text(target.read_text() + spec["content"])
        else:
            target.write_text(spec["content"])
        if "file_mode" in spec:
            target.chmod(int(str(spec["file_mode"]), 8))
    build = base / "build"
    before = snapshot(build) if build.exists() else {}
    command = [str(arg).replace("{base}", str(base)) for arg in spec["run"]]
    for name, value in (spec.get("env") or {}).items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setattr("sys.stdin", io.StringIO(spec.get("stdin", "")))
    try:
        code, err = stackdeb(*command, *index_options(command, mini_project))
    except SystemExit as usage:           # argparse ends a usage error this way
        code, err = usage.code, capfd.readouterr().err
    assert code == spec.get("status", 1), err
    assert spec["message"].replace("{base}", str(base)) in err, err[-2000:]
    assert "Traceback" not in without_index_server_noise(err)
    after = snapshot(build) if build.exists() else {}
    changed = {k for k in set(before) | set(after)
               if before.get(k) != after.get(k) and not k.endswith(".lock") and "/.cache" not in k}
    assert not changed, f"a failing run changed the build directory: {sorted(changed)[:5]}"
