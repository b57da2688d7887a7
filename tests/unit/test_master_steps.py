"""The steps that read stackdeb's results, with Buildbot's own step harness (no master
needed): the result travels as a file transferred whole, never as stdout; what the UI shows
and which properties later steps read; and a result that cannot be read said as such."""

import json

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest

from buildbot.process.results import FAILURE, SUCCESS
from buildbot.test.reactor import TestReactorMixin
from buildbot.test.steps import ExpectRemoteRef, ExpectRmdir, ExpectShell, ExpectUploadFile, TestBuildStepMixin

from builders import results
from master.steps import RESULT_MAX_BYTES, BytesWriter, ClusterReport, Stackdeb, parse_result

PHASES = [{"name": "boot", "result": "passed", "seconds": 1.0}, {"name": "smoke", "result": "passed", "seconds": 300.0}]
TARGET = ["--release", "2026.1", "--suite", "bookworm"]


def report(result: str, failure=None) -> str:
    return json.dumps({"command": "cluster", "ok": True, "summary": "cluster: pass",
                       "verdict": "/b/cluster/2026.1-bookworm/x/verdict.json", "result": result, "generation": 3,
                       "layout": "minimal", "phases": PHASES, "tempest": {"passed": 18, "failed": 0, "skipped": 0},
                       "tests": {"passed": 27, "failed": 0 if result == "pass" else 1, "skipped": 0},
                       "failure": failure, "logs": {"tempest": {"path": "/b/t.log"}}})


class StepTest(TestBuildStepMixin, TestReactorMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def expect_result_run(self, command: list[str], name: str, stdout: str, result: bytes | None, rc: int = 0):
        """The commands a result step sends: clear the result file, run stackdeb with it, fetch
        it whole, clear it again."""
        file = f".stackdeb-result-{self.build.number}-{name}.json"
        upload = ExpectUploadFile(workersrc=file, workdir="wkdir", blocksize=32 * 1024, maxsize=RESULT_MAX_BYTES,
                                  writer=ExpectRemoteRef(BytesWriter))
        self.expect_commands(
            ExpectRmdir(dir=f"wkdir/{file}", log_environ=False).exit(0),
            ExpectShell(workdir="wkdir", command=["stackdeb", "--verbose", *command, "--result-file", file], log_environ=False)
            .stdout(stdout).exit(rc),
            upload.upload_string(result).exit(0) if result is not None else upload.exit(1),
            ExpectRmdir(dir=f"wkdir/{file}", log_environ=False).exit(0))


class StackdebStepTest(StepTest):
    def test_a_result_far_longer_than_a_log_line_is_read_whole(self):
        # the master cuts stdout lines at 4096 characters; the file is not cut
        long = "é\x01\t\u2603" * 5000 + "\n" + "x" * 70000
        result = json.dumps({"command": "publish", "ok": True, "summary": "published", "generation": 7,
                             "packages": [{"deb": long, "sha256": "0" * 64}]}).encode()
        self.setup_step(Stackdeb("publish", name="publish", result=results.Published, properties={"generation": "generation",
                                                                        "published": "packages"}))
        self.expect_result_run(["publish"], "publish", stdout="x" * 5000 + "\n", result=result)
        self.expect_outcome(result=SUCCESS, state_string="publish: published")
        self.expect_property("generation", 7)
        self.expect_property("published", [{"deb": long, "sha256": "0" * 64}])
        return self.run_step()

    def test_a_result_without_a_field_a_property_takes_fails_the_step(self):
        """A later step reads the property: its absence is said where it arose, not guessed at later."""
        result = json.dumps({"command": "lock", "ok": True, "summary": "locked", "generation": 4}).encode()
        self.setup_step(Stackdeb("lock", name="lock", result=results.Locked, properties={"lock_generation": "generation",
                                                                  "lock_sha256": "sha256"}))
        self.expect_result_run(["lock"], "lock", stdout="", result=result)
        problem = "the result has no sha256 (the command's result changed?)"
        self.expect_outcome(result=FAILURE, state_string=f"lock: unreadable result: {problem}")
        self.expect_log_file("result", problem + "\n")
        self.expect_no_property("lock_generation")
        return self.run_step()

    def test_a_result_cut_in_two_is_named_with_where_it_broke(self):
        self.setup_step(Stackdeb("lock", name="lock", result=results.Locked))
        self.expect_result_run(["lock"], "lock", stdout="", result=b'{"ok": true, "summary": "a\nb"}')
        problem = (f".stackdeb-result-{self.build.number}-lock.json in the worker's wkdir is not JSON: Invalid "
                   "control character at (line 1, column 27, of 30 characters), near '{\"ok\": true, "
                   "\"summary\": \"a\\nb\"}'")
        self.expect_outcome(result=FAILURE, state_string=f"lock: unreadable result: {problem}")
        self.expect_log_file("result", problem + "\n")
        return self.run_step()

    def test_a_command_that_wrote_no_result_fails_and_says_so(self):
        self.setup_step(Stackdeb("bundle", name="bundle", result=results.Bundled))
        self.expect_result_run(["bundle"], "bundle", stdout="", result=None)
        self.expect_outcome(result=FAILURE, state_string=(
            f"bundle: unreadable result: stackdeb wrote no result: .stackdeb-result-{self.build.number}-bundle.json "
            "in the worker's wkdir could not be read"))
        return self.run_step()

    def test_a_failed_command_shows_its_error(self):
        self.setup_step(Stackdeb("bundle", name="bundle", result=results.Bundled))
        self.expect_result_run(["bundle"], "bundle", stdout="", rc=1, result=json.dumps(
            {"command": "bundle", "ok": False, "error": "no space left on device: /b", "hint": None}).encode())
        self.expect_outcome(result=FAILURE, state_string="bundle failed: no space left on device: /b")
        self.expect_property("stackdeb_error", {"step": "bundle", "error": "no space left on device: /b", "hint": None})
        return self.run_step()


class ClusterReportTest(StepTest):
    def expect_report(self, result: str):
        self.setup_step(ClusterReport())
        self.build.addStepsAfterCurrentStep = lambda steps: setattr(self, "added", steps)
        self.build.setProperty("release", "2026.1", "test")
        self.build.setProperty("suite", "bookworm", "test")
        self.expect_result_run(["cluster", "--report", *TARGET], "report", stdout="pass\n", result=result.encode())
        self.expect_commands(ExpectShell(workdir="wkdir", command=["tail", "-n", "300", "--", "/b/t.log"],
                                         log_environ=False).stdout("Totals: 18 passed\n").exit(0))

    def test_a_pass_sets_the_verdict_for_promotion_and_shows_each_phase_and_log(self):
        self.expect_report(report("pass"))
        self.expect_outcome(result=SUCCESS, state_string="PASS: 27 passed, 0 failed, 0 skipped (tempest 18 passed)")
        self.expect_property("cluster_result", "pass")
        self.expect_property("verdict", "/b/cluster/2026.1-bookworm/x/verdict.json")
        self.expect_log_file("tempest", "Totals: 18 passed\n")
        d = self.run_step()
        d.addCallback(lambda _: self.assertEqual([s.name for s in self.added], ["phase boot", "phase smoke"]))
        return d

    def test_a_failure_fails_the_step_and_says_where(self):
        failure = {"phase": "configure", "machine": "machine2", "service": "glance", "log": "/b/l",
                   "message": "glance on machine2 (image) did not start: glance-api.service died at start 3 times"}
        self.expect_report(report("fail", failure))
        self.expect_outcome(result=FAILURE, state_string=(
            "FAIL: 27 passed, 1 failed, 0 skipped (tempest 18 passed); configure (glance, machine2): glance on "
            "machine2 (image) did not start: glance-api.service died at start 3 times"))
        self.expect_property("cluster_result", "fail")
        return self.run_step()


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=9000),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner,
                                                                                         max_size=4),
                           max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(st.text(max_size=30), JSON_VALUES, max_size=5), ok=st.booleans(),
       block=st.integers(1, 70000))
def test_any_result_reads_back_as_written_whatever_the_blocks(fields, ok, block):
    """What the CLI writes (ASCII JSON) comes back equal through the byte writer, however the
    worker cuts the file into blocks."""
    result = {**fields, "ok": ok}
    data = (json.dumps(result, sort_keys=True) + "\n").encode()
    writer = BytesWriter()
    for start in range(0, len(data), block):
        writer.remote_write(data[start:start + block])
    assert parse_result(bytes(writer.data), "f") == (result, None)


@given(data=st.binary(max_size=200))
def test_anything_else_is_refused_with_a_reason(data):
    result, problem = parse_result(data, "f")
    assert (result is None) == (problem is not None)
    if result is not None:
        assert isinstance(result["ok"], bool)
    else:
        assert problem.startswith("f ")
