"""Build steps: each runs one `stackdeb` command on the worker, the command a person would type.

A worker property says where stackdeb is (`stackdeb`); build properties say what to build
(`release`, `suite`, `services`, `rebuild`, `publish`). The environment is the worker
process's own: the master never sends it, and no step logs it (anonymous users read logs).
"""

import json

from buildbot.plugins import steps, util
from buildbot.process import buildstep, remotecommand
from buildbot.process.results import FAILURE, SKIPPED, SUCCESS, WARNINGS
from buildbot.steps.worker import CompositeStepMixin
from buildbot.worker.protocols.base import FileWriterImpl
from twisted.internet import defer

from builders import results

TARGET = ["--release", util.Property("release"), "--suite", util.Property("suite")]
# the lines of each cluster log the report step shows (the whole file stays on the worker)
LOG_TAIL_LINES = 300


def flag(name: str, option: str):
    """`option` when the build property `name` is true, else nothing."""
    return util.Transform(lambda value: [option] if value else [], util.Property(name, default=False))


def artifacts(prop: str):
    """A list property of artifact entries, as `stackdeb store import --artifacts` takes it."""
    return util.Transform(lambda value: json.dumps(value or []), util.Property(prop, default=[]))


# A result larger than this is no result: nothing stackdeb says comes near it.
RESULT_MAX_BYTES = 64 * 2**20


def parse_result(data: bytes, where: str) -> tuple[dict | None, str | None]:
    """What `stackdeb ... --result-file` says it did, or why that could not be read: the one
    JSON object in the file, with its `ok`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"{where} is not UTF-8 (byte {exc.start} of {len(data)})"
    try:
        result = json.loads(text)
    except json.JSONDecodeError as exc:
        around = text[max(exc.pos - 40, 0):exc.pos + 40]
        return None, (f"{where} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}, of "
                      f"{len(text)} characters), near {around!r}")
    if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
        return None, f"{where} holds no stackdeb result (a JSON object with a boolean 'ok'): {text[:80]!r}"
    return result, None


class BytesWriter(FileWriterImpl):
    """The master's end of a file upload, kept in memory as bytes and decoded only when whole
    (Buildbot's StringFileWriter decodes each block: a character cut by a block fails)."""

    def __init__(self):
        self.data = bytearray()         # grows in place: a long result costs no quadratic copying

    def remote_write(self, data):
        self.data += data if isinstance(data, bytes) else data.encode()

    def remote_utime(self, accessed_modified):
        pass

    def remote_close(self):
        pass


class Stackdeb(CompositeStepMixin, steps.ShellCommand):
    """`stackdeb ARGS --result-file F`: the step's summary and build properties come from the
    result stackdeb writes to F on the worker (builders/cli.py), which the step then transfers
    whole. Never from stdout: the master cuts every line longer than 4096 characters, and a
    result would no longer parse. `properties` maps a build property to the result's field it
    takes, named through `result`, the command's result type (builders/results.py): a field it
    does not have fails when the master loads. `result=None` is for the commands whose output
    is for people (`repo status`): their log is the point."""

    def __init__(self, *args, result: type[results.Result] | None, properties: dict[str, str] | None = None,
                 **kwargs):
        kwargs.setdefault("haltOnFailure", True)
        kwargs.setdefault("logEnviron", False)
        if properties and result is None:
            raise ValueError(f"stackdeb {' '.join(map(str, args))}: properties need the command's result type")
        for field in (properties or {}).values():
            result.field(field)         # a KeyError naming the type and its fields
        # verbose: the build's log keeps every command the stage ran
        super().__init__(command=[util.Property("stackdeb", default="stackdeb"), "--verbose", *args], **kwargs)
        self.result_type = result
        self.wants_result = result is not None
        self.properties_from = properties or {}
        self.result: dict | None = None
        self.result_problem: str | None = None

    def result_file(self) -> str:
        """Where this step's result is written, in its working directory: one name per build
        and step, removed before the command runs (a stale result is never read) and after."""
        return f".stackdeb-result-{self.build.number}-{self.name}.json".replace("/", "_").replace(" ", "_")

    @defer.inlineCallbacks
    def run(self):
        if not self.wants_result:
            return (yield super().run())
        name = self.result_file()
        yield self.remove_result(name)
        self.command = [*self.command, "--result-file", name]
        outcome = yield super().run()
        if self.stopped:             # stopped by a release engineer: the outcome says so
            return outcome
        self.result, self.result_problem = yield self.fetch_result(name)
        yield self.remove_result(name)
        if self.result is None:
            yield self.addCompleteLog("result", f"{self.result_problem}\n")
            return FAILURE if outcome == SUCCESS else outcome   # a success that says nothing is not one
        if self.result["ok"]:
            missing = [field for field in self.properties_from.values() if field not in self.result]
            if missing:     # a later step would read a property nobody set: say so here
                self.result_problem = f"the result has no {', '.join(missing)} (the command's result changed?)"
                self.result = None
                yield self.addCompleteLog("result", f"{self.result_problem}\n")
                return FAILURE
            for prop, field in self.properties_from.items():
                self.setProperty(prop, self.result[field], "stackdeb")
            self.took_result(self.result)
        else:   # whole, for whoever reads the build through the REST API; the summary is cut
            self.setProperty("stackdeb_error", {"step": self.name, "error": self.result.get("error"),
                                                "hint": self.result.get("hint")}, "stackdeb")
        return outcome

    @defer.inlineCallbacks
    def fetch_result(self, name: str):
        """The result file, transferred from the worker whole and parsed: (result, None) or
        (None, what could not be read and where)."""
        writer = BytesWriter()
        transfer = remotecommand.RemoteCommand("uploadFile", {
            "workdir": self.workdir, "workersrc": name, "writer": writer, "maxsize": RESULT_MAX_BYTES,
            "blocksize": 32 * 1024})
        yield self.runCommand(transfer)
        where = f"{name} in the worker's {self.workdir}"
        if transfer.didFail():
            if len(writer.data) >= RESULT_MAX_BYTES:
                return None, f"{where} is larger than {RESULT_MAX_BYTES // 2**20} MiB"
            return None, f"stackdeb wrote no result: {where} could not be read"
        return parse_result(bytes(writer.data), where)

    def remove_result(self, name: str):
        return self.runRmdir(self.build.path_module.join(self.workdir, name), abandonOnFailure=False)

    def took_result(self, result: dict) -> None:
        """A subclass's hook: more properties from a successful result."""

    def getResultSummary(self):
        if self.result and not self.result["ok"]:
            return {"step": f"{self.name} failed: {self.result['error']}"[:250]}
        if self.results == SUCCESS and self.result and self.result.get("summary"):
            return {"step": f"{self.name}: {self.result['summary']}"[:250]}
        if self.wants_result and self.result_problem and self.results is not None:
            return {"step": f"{self.name}: unreadable result: {self.result_problem}"[:250]}
        return super().getResultSummary()


class PackageReport(Stackdeb):
    """`stackdeb package --report SERVICE --json`: the lintian summary and the
    reproducibility check become the step's summary and build properties."""

    def __init__(self, service: str, **kwargs):
        kwargs.setdefault("haltOnFailure", False)
        super().__init__("package", "--report", *TARGET, service, name="report", result=results.PackageReports,
                         **kwargs)
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


def plan_packages() -> Stackdeb:
    """What the pipeline must build: the services named (or all) whose package is out of
    date, or all of them when a rebuild was asked for."""
    named = util.Transform(lambda services: list(services or []) or ["--all"], util.Property("services", default=[]))
    return Stackdeb("package", "--plan", *TARGET, flag("rebuild", "--force"), named, name="plan",
                    description="which services changed", descriptionDone="planned",
                    result=results.PackagePlan, properties={"services_to_build": "services"})


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


class ClusterReport(Stackdeb):
    """`stackdeb cluster --report`: the last run's verdict as data. Each phase becomes a step
    of its own (with its time and result), the tail of each log the verdict names (consoles,
    journals, Tempest's output) a log of this step, and `cluster_result` and `verdict` build
    properties. The step fails unless the verdict passed."""

    def __init__(self, **kwargs):
        super().__init__("cluster", "--report", *TARGET, name="report", alwaysRun=True, haltOnFailure=False,
                         flunkOnFailure=True, result=results.ClusterReport, **kwargs)
        self.summary = None

    @defer.inlineCallbacks
    def run(self):
        outcome = yield super().run()
        if outcome != SUCCESS or not self.result or not self.result["ok"]:
            return outcome
        report = self.result
        counts = report["tests"]
        self.summary = (f"{str(report['result']).upper()}: {counts['passed']} passed, {counts['failed']} failed, "
                        f"{counts['skipped']} skipped (tempest {report['tempest'].get('passed', 0)} passed)")
        failure = report.get("failure")
        if failure:
            where = ", ".join(x for x in (failure.get("service"), failure.get("machine")) if x)
            self.summary += f"; {failure['phase']}{' (' + where + ')' if where else ''}: {failure['message']}"
        self.setProperty("cluster_result", report["result"], "ClusterReport")
        self.setProperty("verdict", report["verdict"], "ClusterReport")
        self.setProperty("cluster_tests", counts, "ClusterReport")
        for name, entry in sorted(report["logs"].items()):
            yield self.tail_log(name, entry["path"])
        self.build.addStepsAfterCurrentStep([ClusterPhase(p) for p in report["phases"]])
        return SUCCESS if report["result"] == "pass" else FAILURE

    @defer.inlineCallbacks
    def tail_log(self, name: str, path: str):
        """The last lines of one of the run's logs, as a log of this step: it travels as a log
        (the master may cut its long lines), never inside the result."""
        log = yield self.addLog(name)
        yield log.addHeader(f"{path} (last {LOG_TAIL_LINES} lines)\n")
        tail = remotecommand.RemoteShellCommand(self.workdir, ["tail", "-n", str(LOG_TAIL_LINES), "--", path],
                                                logEnviron=False)
        tail.useLog(log, closeWhenFinished=True, logfileName="stdio")
        yield self.runCommand(tail)

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
