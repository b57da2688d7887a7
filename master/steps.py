"""Build steps: each runs one `stackdeb` command on the worker, the command a person would type.

A worker property says where stackdeb is (`stackdeb`); build properties say what to build
(`release`, `suite`, `services`, `rebuild`, `publish`). The environment is the worker
process's own: the master never sends it, and no step logs it (anonymous users read logs).
"""

import json

from buildbot.plugins import steps, util
from buildbot.process import buildstep, logobserver
from buildbot.process.results import FAILURE, SKIPPED, SUCCESS, WARNINGS
from twisted.internet import defer

TARGET = ["--release", util.Property("release"), "--suite", util.Property("suite")]


def artifacts(prop: str):
    """A list property of artifact entries, as `stackdeb store import --artifacts` takes it."""
    return util.Transform(lambda value: json.dumps(value or []), util.Property(prop, default=[]))


def read_result(stdout: str) -> dict | None:
    """What `stackdeb ... --json` says it did: the one JSON object on its stdout."""
    try:
        result = json.loads(stdout)
    except ValueError:
        return None
    return result if isinstance(result, dict) and "ok" in result else None


class Stackdeb(steps.ShellCommand):
    """`stackdeb ARGS --json`: the step's summary and build properties come from the result
    stackdeb prints on stdout (builders/cli.py), never from its progress lines. `properties`
    maps a build property to the result's field it takes. `result=False` is for the commands
    whose output is for people (`repo status`): their log is the point."""

    def __init__(self, *args, result: bool = True, properties: dict[str, str] | None = None, **kwargs):
        kwargs.setdefault("haltOnFailure", True)
        kwargs.setdefault("logEnviron", False)
        super().__init__(command=[util.Property("stackdeb", default="stackdeb"), *args,
                                  *(["--json"] if result else [])], **kwargs)
        self.wants_result = result
        self.properties_from = properties or {}
        self.output = logobserver.BufferLogObserver(wantStdout=True, wantStderr=False)
        self.addLogObserver("stdio", self.output)
        self.result: dict | None = None

    @defer.inlineCallbacks
    def run(self):
        outcome = yield super().run()
        if not self.wants_result:
            return outcome
        self.result = read_result(self.output.getStdout())
        if self.result is None:
            return FAILURE if outcome == SUCCESS else outcome   # a success that says nothing is not one
        if self.result["ok"]:
            for name, field in self.properties_from.items():
                if field in self.result:
                    self.setProperty(name, self.result[field], "stackdeb")
            self.took_result(self.result)
        return outcome

    def took_result(self, result: dict) -> None:
        """A subclass's hook: more properties from a successful result."""

    def getResultSummary(self):
        if self.result and not self.result["ok"]:
            return {"step": f"{self.name} failed: {self.result['error']}"[:250]}
        if self.results == SUCCESS and self.result and self.result.get("summary"):
            return {"step": f"{self.name}: {self.result['summary']}"[:250]}
        if self.wants_result and self.result is None and self.results is not None:
            return {"step": f"{self.name}: stackdeb gave no result (see the log)"}
        return super().getResultSummary()


class PackageReport(Stackdeb):
    """`stackdeb package --report SERVICE --json`: the lintian summary and the
    reproducibility check become the step's summary and build properties."""

    def __init__(self, service: str, **kwargs):
        kwargs.setdefault("haltOnFailure", False)
        super().__init__("package", "--report", *TARGET, service, name="report", **kwargs)
        self.report: dict = {}

    def took_result(self, result: dict) -> None:
        self.report = result["reports"][0]
        self.setProperty("package", f"{self.report['package']} {self.report['version']}", "PackageReport")
        for key in ("sha256", "lintian", "reproducible"):
            self.setProperty(key, self.report[key], "PackageReport")

    def getResultSummary(self):
        if self.results == SUCCESS and self.report:
            return {"step": f"{self.report['package']} {self.report['version']}: lintian {self.report['lintian']}; "
                            f"{self.report['reproducible']}"}
        return super().getResultSummary()


@util.renderer
def plan_command(props):
    """What the pipeline must build: the services named (or all) whose package is out of
    date, or all of them when a rebuild was asked for."""
    services = list(props.getProperty("services") or [])
    return ([props.getProperty("stackdeb", "stackdeb"), "package", "--plan", "--json",
             "--release", props.getProperty("release"), "--suite", props.getProperty("suite")]
            + (["--force"] if props.getProperty("rebuild") else []) + (services or ["--all"]))


def plan_packages() -> steps.SetPropertyFromCommand:
    def extract(rc, stdout, stderr):
        result = read_result(stdout)
        if rc != 0 or not result or not result["ok"]:
            return {}
        return {"services_to_build": result["services"]}
    return steps.SetPropertyFromCommand(
        name="plan", command=plan_command, extract_fn=extract, haltOnFailure=True,
        logEnviron=False,
        description="which services changed", descriptionDone="planned")


class CollectingTrigger(steps.Trigger):
    """A Trigger that waits, then gathers the list property `collect` from each build it
    started into one list property of its own build: how the manifests of what the builders
    made (names, sha256) come back to the pipeline. Only the successful build of each request
    counts, so a build retried after its worker was lost is taken once, from the retry."""

    def __init__(self, *args, collect: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.collect = collect

    @defer.inlineCallbacks
    def run(self):
        outcome = yield super().run()
        if not self.collect or outcome not in (SUCCESS, WARNINGS):
            return outcome
        gathered = []
        for brid in self.brids:
            builds = yield self.master.db.builds.getBuilds(buildrequestid=brid)
            for build in [b for b in builds if b.results in (SUCCESS, WARNINGS)][-1:]:
                found = yield self.master.db.builds.getBuildProperties(build.id)
                if self.collect not in found:
                    # a build that says it succeeded but handed nothing over: never publish around it
                    yield self.addCompleteLog("handover", f"build {build.id} succeeded without {self.collect}\n")
                    return FAILURE
                gathered += found[self.collect][0]
        self.setProperty(self.collect, gathered, self.name)
        missing = self.missing(gathered)
        if missing:
            yield self.addCompleteLog("handover", f"nothing handed over for: {', '.join(missing)}\n")
            return FAILURE
        return outcome

    def missing(self, gathered: list) -> list[str]:
        """What should have been handed over and was not (a subclass knows)."""
        return [] if gathered else ["the triggered build"]


class TriggerPackages(CollectingTrigger):
    """Trigger the package builders of the planned services only, in parallel."""

    def missing(self, gathered: list) -> list[str]:
        handed = {entry.get("service") for entry in gathered if entry.get("file", "").endswith(".deb")}
        return [name for name in self.getProperty("services_to_build") or [] if name not in handed]

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
