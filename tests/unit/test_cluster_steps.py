"""The cluster builder's report step, with Buildbot's own step harness: what the UI shows and
which properties a promotion reads, from `stackdeb cluster --report` (no master needed)."""

import json

from twisted.trial import unittest

from buildbot.process.results import FAILURE, SUCCESS
from buildbot.test.reactor import TestReactorMixin
from buildbot.test.steps import ExpectShell, TestBuildStepMixin

from master.steps import ClusterReport

PHASES = [{"name": "boot", "result": "passed", "seconds": 1.0}, {"name": "smoke", "result": "passed", "seconds": 300.0}]


def report(result: str, failure=None) -> str:
    return json.dumps({"verdict": "/b/cluster/2026.1-bookworm/x/verdict.json", "result": result, "generation": 3,
                       "layout": "minimal", "phases": PHASES, "tempest": {"passed": 18, "failed": 0, "skipped": 0},
                       "tests": {"passed": 27, "failed": 0 if result == "pass" else 1, "skipped": 0},
                       "failure": failure,
                       "logs": {"tempest": {"path": "/b/t.log", "tail": "Totals: 18 passed"}}})


class ClusterReportTest(TestBuildStepMixin, TestReactorMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()
        return self.setup_test_build_step()

    def expect_report(self, stdout: str):
        self.setup_step(ClusterReport())
        self.build.addStepsAfterCurrentStep = lambda steps: setattr(self, "added", steps)
        self.build.setProperty("release", "2026.1", "test")
        self.build.setProperty("suite", "bookworm", "test")
        self.expect_commands(ExpectShell(workdir="wkdir", command=["stackdeb", "cluster", "--report", "--release",
                                                                   "2026.1", "--suite", "bookworm"],
                                         log_environ=False)   # anonymous users read step logs
                             .stdout(stdout).exit(0))

    def test_a_pass_sets_the_verdict_for_promotion_and_shows_each_phase(self):
        self.expect_report(report("pass"))
        self.expect_outcome(result=SUCCESS, state_string="PASS: 27 passed, 0 failed, 0 skipped (tempest 18 passed)")
        self.expect_property("cluster_result", "pass")
        self.expect_property("verdict", "/b/cluster/2026.1-bookworm/x/verdict.json")
        self.expect_log_file("tempest", "/b/t.log (last lines)\nTotals: 18 passed\n")
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
