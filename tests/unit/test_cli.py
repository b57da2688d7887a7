import json
import subprocess
import sys

import pytest

from builders import log
from builders.results import ImageBuilt, RolledBack
from builders.cli import COMMANDS, build_parser, main
from builders.tools import find
from builders.errors import StackdebError


def test_help_explains_every_stage():
    text = build_parser().format_help()
    for command in ("lock", "bundle", "services"):
        assert f"  {command}" in text


def test_an_unknown_suite_is_one_clear_error(stackdeb):
    code, err = stackdeb("bundle", "--suite", "sid")
    assert code == 1
    assert err.strip().splitlines()[0] == "stackdeb: error: unknown suite 'sid'"


def test_the_default_target_is_2026_1_on_debians_stable_release(monkeypatch):
    from builders.cli import build_parser
    monkeypatch.delenv("STACKDEB_RELEASE")
    monkeypatch.delenv("STACKDEB_SUITE")
    args = build_parser().parse_args(["lock"])
    assert (args.release, args.suite) == ("2026.1", "trixie")
    monkeypatch.setenv("STACKDEB_SUITE", "bookworm")         # the environment still chooses
    assert build_parser().parse_args(["lock"]).suite == "bookworm"


def test_a_missing_tool_names_the_tool_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("builders.tools._OWN_BIN", str(tmp_path))
    with pytest.raises(StackdebError, match="required tool 'dpkg-deb' was not found") as error:
        find("dpkg-deb")
    assert "apt-get install dpkg" in error.value.hint


def test_the_installed_command_runs():
    result = subprocess.run([sys.executable, "-m", "builders.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "stackdeb turns an OpenStack release" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["bundle", "--jobs", "0"], "argument --jobs: must be at least 1, got 0"),
    (["bundle", "--jobs", "lots"], "argument --jobs: expected a whole number, got 'lots'"),
    (["publish", "--keep", "-1"], "argument --keep: must be at least 1"),
    (["repo", "serve", "--port", "70000"], "argument --port: a port is at most 65535"),
    (["master", "start", "--web-port", "0"], "argument --web-port: must be at least 1"),
    (["master", "start", "--poll-interval", "x"], "argument --poll-interval: expected a whole number"),
    (["master", "start", "--nightly", "25:00"], "argument --nightly: expected HH:MM or off, got '25:00'"),
    (["inventory", "serve", "--listen", "127.0.0.1:http"], "--listen 127.0.0.1:http: expected ADDRESS:PORT"),
    (["inventory", "serve", "--reader", "10.0.0.0/33"], "trusted network"),
])
def test_a_bad_option_is_one_line_and_a_non_zero_exit(capsys, args, message):
    try:
        code = main(args)
    except SystemExit as exit:      # argparse's own refusals
        code = exit.code
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err


def test_json_says_the_error_on_stdout_and_the_message_stays_on_stderr(capfd):
    code = main(["package", "--json", "no-such-service"])
    out, err = capfd.readouterr()
    assert code == 1
    result = json.loads(out)             # stdout is the one JSON object, nothing else
    assert result == {"command": "package", "ok": False, "error": "unknown service 'no-such-service'",
                      "hint": result["hint"]} and "keystone" in result["hint"]
    assert err.startswith("stackdeb: error: unknown service 'no-such-service'")


def test_json_keeps_what_tools_print_off_stdout(capfd, monkeypatch):
    def noisy(args, project):
        subprocess.run(["echo", "a tool's own output"], check=True)     # fd 1 of a child process
        print("a stray print")
        log.info("did the thing")
        return RolledBack(generation=1)
    monkeypatch.setitem(COMMANDS, "rollback", noisy)
    assert main(["rollback", "--json"]) == 0
    out, err = capfd.readouterr()
    assert json.loads(out) == {"command": "rollback", "ok": True, "summary": "did the thing", "generation": 1}
    assert "a tool's own output" in err and "a stray print" in err


def test_a_command_gives_back_only_its_result_types(monkeypatch):
    """The envelope's fields are the result type's: a handler that gives back anything else is
    a bug of ours, caught here rather than by a reader."""
    monkeypatch.setitem(COMMANDS, "rollback", lambda args, project: {"generation": 1})
    with pytest.raises(TypeError, match="stackdeb rollback gave a dict, not one of its result types"):
        main(["rollback"])


def test_buildbot_reads_a_result_only_when_it_is_one():
    from master.steps import parse_result
    assert parse_result(b'{"ok": true, "summary": "x"}\n', "f") == ({"ok": True, "summary": "x"}, None)
    for data in (b"", b"stackdeb: done\n", b"[1, 2]", b'{"summary": "no ok field"}', b'{"ok": true}\n{"ok": true}',
                 b'{"ok": "yes"}', b'{"ok": true, "s": "\xff"}'):
        result, problem = parse_result(data, "the result")
        assert result is None and problem.startswith("the result "), data


def test_the_result_file_holds_the_whole_result_even_on_failure(tmp_path, capfd, monkeypatch):
    long = "\u00e9\x07" * 3000 + "\n" * 5000

    def wordy(args, project):
        log.info("did it")
        return ImageBuilt(image=long)
    monkeypatch.setitem(COMMANDS, "image", wordy)
    assert main(["image", "discovery", "--result-file", str(tmp_path / "r/result.json")]) == 0
    text = (tmp_path / "r/result.json").read_text()
    assert text.isascii() and text.count("\n") == 1     # one line of ASCII, whatever it holds
    assert json.loads(text) == {"command": "image", "ok": True, "summary": "did it", "image": long}
    assert main(["package", "no-such-service", "--result-file", str(tmp_path / "r/result.json")]) == 1
    failed = json.loads((tmp_path / "r/result.json").read_text())
    assert failed["ok"] is False and failed["error"] == "unknown service 'no-such-service'"
    assert capfd.readouterr().out == ""        # without --json, stdout carries no result


def test_a_result_file_that_cannot_be_written_fails_the_command(tmp_path, capfd, monkeypatch):
    monkeypatch.setitem(COMMANDS, "rollback", lambda args, project: RolledBack(generation=2))
    (tmp_path / "file").write_text("")
    assert main(["rollback", "--result-file", str(tmp_path / "file/result.json")]) == 1
    err = capfd.readouterr().err
    assert "stackdeb: error: writing the result to" in err and "Traceback" not in err


# what each command needs beside --release and --suite to parse
# what each command needs beside --release and --suite to parse
POSITIONALS = {"promote": ["--verdict", "v.json"], "store export": ["bundle"], "store import": ["--artifacts", "[]"]}


def leaf_parsers(parser, prefix=()):
    """Every command as typed, with its parser: `lock`, `repo status`, `store put`..."""
    import argparse
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaf_parsers(sub, (*prefix, name))
            return
    yield prefix, parser


def test_every_command_takes_a_release_by_codename_exactly_as_by_its_id(tmp_path):
    """Resolved once, before any command runs: the same arguments reach every command, so the
    same directories are read and written and the same results come back."""
    from builders.cli import _resolve_release, build_parser
    from builders.project import Project
    parser = build_parser()
    with_release = [words for words, sub in leaf_parsers(parser) if any(a.dest == "release" for a in sub._actions)]
    assert {("lock",), ("bundle",), ("package",), ("publish",), ("promote",), ("cluster",), ("repo", "status"),
            ("repo", "rotate-key"), ("store", "export"), ("image", "node"), ("master", "start"),
            ("services",)} <= set(with_release)
    project = Project.from_env(cache_dir=tmp_path / "cache", build_dir=tmp_path / "build")
    for words in with_release:
        parsed = {}
        for release in ("gazpacho", "2026.1"):
            extra = [*POSITIONALS.get(" ".join(words), []), *(["--step", "add"] if words[-1] == "rotate-key" else [])]
            args = parser.parse_args([*words, *extra, "--release", release, "--suite", "trixie"])
            _resolve_release(args, project)
            parsed[release] = vars(args)
        assert parsed["gazpacho"] == parsed["2026.1"], words
    args = parser.parse_args(["repo", "status", "--release", "nosuch"])
    with pytest.raises(StackdebError, match="unknown release 'nosuch'"):
        _resolve_release(args, project)
