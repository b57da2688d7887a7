"""Build steps: each runs one `stackdeb` command on the worker, the command a person would type.

A worker property says where stackdeb is (`stackdeb`); build properties say what to build
(`release`, `suite`, `services`, `rebuild`, `publish`). The environment is the worker
process's own: the master never sends it, and no step logs it (anonymous users read logs).
"""

import json

from buildbot.plugins import steps, util
from buildbot.process import buildstep, logobserver
from buildbot.process.results import FAILURE, SKIPPED, SUCCESS
from twisted.internet import defer

TARGET = ["--release", util.Property("release"), "--suite", util.Property("suite")]


class _StackdebLines(logobserver.LogLineObserver):
    """Remembers stackdeb's last progress line and its error line, for the step summary."""

    def __init__(self):
        super().__init__()
        self.last = self.error = None

    def _line(self, line: str) -> None:
        if line.startswith("stackdeb: error: "):
            self.error = line[len("stackdeb: error: "):]
        elif line.startswith("stackdeb: ") and not line.startswith("stackdeb: $ "):
            self.last = line[len("stackdeb: "):]

    outLineReceived = errLineReceived = _line


class Stackdeb(steps.ShellCommand):
    """`stackdeb ARGS`: the summary is stackdeb's last word, or on failure what failed."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("haltOnFailure", True)
        kwargs.setdefault("logEnviron", False)
        super().__init__(command=[util.Property("stackdeb", default="stackdeb"), *args], **kwargs)
        self.lines = _StackdebLines()
        self.addLogObserver("stdio", self.lines)

    def getResultSummary(self):
        if self.results != SUCCESS and self.lines.error:
            return {"step": f"{self.name} failed: {self.lines.error}"[:250]}
        if self.results == SUCCESS and self.lines.last:
            return {"step": f"{self.name}: {self.lines.last}"[:250]}
        return super().getResultSummary()


class PackageReport(Stackdeb):
    """`stackdeb package --report SERVICE`: the lintian summary and the reproducibility check
    become the step's summary and build properties."""

    def __init__(self, service: str, **kwargs):
        kwargs.setdefault("haltOnFailure", False)
        super().__init__("package", "--report", *TARGET, service, name="report", **kwargs)
        self.fields: dict[str, str] = {}
        self.addLogObserver("stdio", logobserver.LineConsumerLogObserver(self._consume))

    def _consume(self):
        while True:
            _stream, line = yield
            key, sep, value = line.partition(": ")
            if sep:
                self.fields[key] = value

    @defer.inlineCallbacks
    def run(self):
        result = yield super().run()
        for key in ("package", "lintian", "reproducible"):
            if key in self.fields:
                self.setProperty(key, self.fields[key], "PackageReport")
        return result

    def getResultSummary(self):
        if self.results == SUCCESS and self.fields:
            return {"step": f"{self.fields.get('package')}: lintian {self.fields.get('lintian')}; "
                            f"{self.fields.get('reproducible')}"}
        return super().getResultSummary()


@util.renderer
def plan_command(props):
    """What the pipeline must build: the services named (or all) whose package is out of
    date, or all of them when a rebuild was asked for."""
    services = list(props.getProperty("services") or [])
    return ([props.getProperty("stackdeb", "stackdeb"), "package", "--plan",
             "--release", props.getProperty("release"), "--suite", props.getProperty("suite")]
            + (["--force"] if props.getProperty("rebuild") else []) + (services or ["--all"]))


def plan_packages() -> steps.SetPropertyFromCommand:
    def extract(rc, stdout, stderr):
        return {"services_to_build": [line.strip() for line in stdout.splitlines() if line.strip()]}
    return steps.SetPropertyFromCommand(
        name="plan", command=plan_command, extract_fn=extract, haltOnFailure=True,
        logEnviron=False,
        description="which services changed", descriptionDone="planned")


class TriggerPackages(steps.Trigger):
    """Trigger the package builders of the planned services only, in parallel."""

    def getSchedulersAndProperties(self):
        wanted = self.getProperty("services_to_build") or []
        return [{"sched_name": f"package-{name}", "props_to_set": self.set_properties, "unimportant": False}
                for name in wanted]

    def getResultSummary(self):
        wanted = self.getProperty("services_to_build") or []
        if not wanted:
            return {"step": "no service changed: nothing to build"}
        return {"step": f"built {', '.join(wanted)}" if self.results == SUCCESS
                else f"packages failed among: {', '.join(wanted)}"}


class ClusterReport(steps.ShellCommand):
    """`stackdeb cluster --report`: the last run's verdict as data. Each phase becomes a step
    of its own (with its time and result), the consoles, journals and Tempest's output are
    attached as logs, and `cluster_result` and `verdict` become build properties."""

    def __init__(self, **kwargs):
        kwargs.setdefault("logEnviron", False)
        super().__init__(command=[util.Property("stackdeb", default="stackdeb"), "cluster", "--report", *TARGET],
                         name="report", alwaysRun=True, haltOnFailure=False, flunkOnFailure=True, **kwargs)
        self.output = logobserver.BufferLogObserver(wantStdout=True, wantStderr=False)
        self.addLogObserver("stdio", self.output)
        self.summary = None

    @defer.inlineCallbacks
    def run(self):
        result = yield super().run()
        if result != SUCCESS:
            return result
        try:
            report = json.loads(self.output.getStdout())
        except ValueError:
            return FAILURE
        counts = report["tests"]
        self.summary = (f"{report['result'].upper()}: {counts['passed']} passed, {counts['failed']} failed, "
                        f"{counts['skipped']} skipped (tempest {report['tempest'].get('passed', 0)} passed)")
        failure = report.get("failure")
        if failure:
            where = ", ".join(x for x in (failure.get("service"), failure.get("machine")) if x)
            self.summary += f"; {failure['phase']}{' (' + where + ')' if where else ''}: {failure['message']}"
        self.setProperty("cluster_result", report["result"], "ClusterReport")
        self.setProperty("verdict", report["verdict"], "ClusterReport")
        self.setProperty("cluster_tests", counts, "ClusterReport")
        for name, entry in sorted(report["logs"].items()):
            if "tail" in entry:
                yield self.addCompleteLog(name, f"{entry['path']} (last lines)\n{entry['tail']}\n")
        self.build.addStepsAfterCurrentStep([ClusterPhase(p) for p in report["phases"]])
        return SUCCESS if report["result"] == "pass" else FAILURE

    def getResultSummary(self):
        return {"step": self.summary[:250]} if self.summary else super().getResultSummary()


class ClusterPhase(buildstep.BuildStep):
    """One phase of the cluster run, as the verdict recorded it."""

    def __init__(self, phase: dict, **kwargs):
        super().__init__(name=f"phase {phase['name']}", **kwargs)
        self.phase = phase

    def run(self):
        return defer.succeed(SUCCESS if self.phase["result"] == "passed" else FAILURE)

    def getResultSummary(self):
        return {"step": f"{self.phase['name']}: {self.phase['result']} in {self.phase['seconds']:.0f}s"}


class ClusterOff(buildstep.BuildStep):
    """The pipeline of a master with no cluster layout: says that nothing is tested or
    promoted, and does nothing (it never reads as a pass of the cluster)."""

    SUMMARY = "no cluster (cluster.layout: none): nothing is promoted"

    def __init__(self, **kwargs):
        super().__init__(name="cluster", **kwargs)

    @defer.inlineCallbacks
    def run(self):
        yield self.addCompleteLog("cluster off", "master.yaml sets cluster.layout: none. The build set stays in "
                                                 "staging; a release engineer may promote it with a verdict.\n")
        return SKIPPED

    def getResultSummary(self):
        return {"step": self.SUMMARY}
