"""The boundaries docs/internals.md promises, read from the source: every external program runs
through builders/tools/, and no stage needs Buildbot."""

import ast
from pathlib import Path

from builders import PROJECT_DIR

RUNS_A_PROGRAM = {("subprocess", name) for name in ("run", "Popen", "call", "check_call", "check_output")} | {
    ("os", name) for name in ("system", "popen", "execv", "execvp", "execve", "spawnv")}


def modules(folder: str) -> list[Path]:
    return sorted(p for p in (PROJECT_DIR / folder).rglob("*.py") if "__pycache__" not in p.parts)


def calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in RUNS_A_PROGRAM:
            found.append(f"{path.relative_to(PROJECT_DIR)}:{node.lineno} {node.func.value.id}.{node.func.attr}")
    return found


def test_every_external_program_runs_through_builders_tools():
    """One door per tool (its command lines, its failures said the same way): outside
    builders/tools/ nothing starts a program itself."""
    outside = [c for folder in ("builders", "master") for p in modules(folder)
               if "tools" not in p.relative_to(PROJECT_DIR / folder).parts[:1] for c in calls(p)]
    assert outside == []


def test_the_door_finds_a_program_run_directly():
    """The check above can fail: a module that runs a program itself is found."""
    sample = PROJECT_DIR / "builders" / "tools" / "dpkg_deb.py"
    assert any("subprocess.run" in c for c in calls(sample))


def imported(path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
    return names


def test_no_stage_imports_buildbot_or_master():
    """Stages are plain Python the CLI calls; Buildbot and its configuration are master/'s
    alone, and master/ imports builders/, never the other way."""
    found = [f"{path.relative_to(PROJECT_DIR)}: {name}" for path in modules("builders") for name in imported(path)
             if name.split(".")[0] in ("buildbot", "twisted", "master")]
    assert found == []


def test_dpkg_deb_reads_a_package_back_through_its_door(tmp_path):
    """What publish, the store and the reproducibility check read of a .deb, through
    builders/tools/dpkg_deb: a changed file named, a cut archive refused, a package unpacked."""
    import pytest
    from builders.debdiff import deb_differences
    from builders.errors import StackdebError
    from builders.tools import dpkg_deb
    from helpers import make_deb
    one, two = make_deb(tmp_path, "venv-alpha", "1.0-1", payload="one"), make_deb(tmp_path, "venv-alpha", "1.0-1",
                                                                                   payload="two")
    assert deb_differences(one, two) == ["data: ./usr/share/venv-alpha/version (differs)"]
    assert dpkg_deb.unreadable(one) is None
    cut = tmp_path / "cut.deb"
    cut.write_bytes(one.read_bytes()[:-200])
    assert dpkg_deb.unreadable(cut)
    with pytest.raises(StackdebError, match="cut.deb cannot be unpacked"):
        dpkg_deb.extract(cut, tmp_path / "nowhere")
    dpkg_deb.extract(one, tmp_path / "unpacked")
    assert (tmp_path / "unpacked/usr/share/venv-alpha/version").read_text() == "1.0-1 one\n"
