"""The builders and how they chain: pipeline -> bundle (lock + bundle) -> one package builder
per service, in parallel, only for the services that changed -> publish -> images ->
prove and images -> cluster -> promote (on a pass, unless the settings leave it to release
engineers). Staging gets a build set as soon as its packages are built once; the proof that
they rebuild bit for bit and pass lintian runs after, and gates promotion.

    pipeline         coordinates one run for one target; holds no stage itself
    bundle           stackdeb lock, stackdeb bundle
    package-<name>   stackdeb package <name>: one build, then its report
    publish          stackdeb publish, then the repository status
    prove            stackdeb prove --all: each new package built again elsewhere and judged by
                     lintian, beside the images; promote requires the proof (builders/proof)
    images           the suite's discovery system and the target's node image (no-ops when
                     their inputs did not change)
    cluster          stackdeb cluster on the settings' layout (by default `changed`: the services
                     whose package differs from the tested suite's, with those they need); its
                     report step shows each phase, the test counts and the logs
    promote          stackdeb promote --verdict: triggered by a pass, or forced by an engineer
"""

from buildbot.plugins import schedulers, steps, util

from master.changes import ConstraintsScheduler, DeliverableScheduler, IndexReleaseScheduler
from builders import results
from builders.cluster.network import REPO_URL
from master.steps import (TARGET, ClusterOff, ClusterReport, CollectingTrigger, PackageReport, Stackdeb,
                          TriggerPackages, artifacts, flag, plan_packages)

# One pipeline at a time: the stages of two runs would otherwise share build outputs.
PIPELINE_LOCK = util.MasterLock("pipeline")


def _index(settings) -> list:
    return ["--index-url", settings.index_url] if settings.index_url else []


def _sources(settings) -> list:
    return ["--releases", settings.releases_url, "--requirements", settings.requirements_url, *_index(settings)]


class Handover:
    """How a stage's outputs reach the next stage's worker. Without a store, every worker
    mounts the same STACKDEB_BUILD_DIR and nothing is handed over (one machine). With one
    (master.yaml `store`), workers share nothing: each builder uploads what it made and says
    so in a list property of entries (name, sha256); the next stage's worker fetches those by
    hash (`stackdeb store export|import`, builders/store/stages.py)."""

    def __init__(self, store):
        self.store = store

    def upload(self, what, prop: str, description: str) -> list:
        if not self.store:
            return []
        return [Stackdeb("store", "export", what, *TARGET, "--store", self.store.url, name="upload",
                         description=description, result=results.Exported, properties={prop: "artifacts"})]

    def fetch(self, prop: str, name: str, description: str) -> list:
        if not self.store:
            return []
        return [Stackdeb("store", "import", *TARGET, "--store", self.store.url, "--artifacts", artifacts(prop),
                         name=name, description=description, result=results.Imported)]

    def passed(self, *props: str) -> dict:
        return {prop: util.Property(prop, default=[]) for prop in props} if self.store else {}


def builder_configs(settings, catalog) -> list:
    workers = [w.name for w in settings.workers]
    # the builders that use the repository run where it is: the store's worker, when there is one
    repository_workers = [settings.store.worker] if settings.store else workers
    services = [svc.name for svc in catalog]
    cluster_on = settings.cluster_layout != "none"     # none: build and publish only; promote by hand
    handover = Handover(settings.store)

    def builder(name, factory, description, on=None, **kwargs):
        return util.BuilderConfig(name=name, workernames=on or workers, factory=factory,
                                  description=description, **kwargs)

    pipeline = util.BuildFactory([
        *handover.upload("bundle", "current_artifacts", "the current lock and bundle"),
        CollectingTrigger(name="bundle", schedulerNames=["bundle"], waitForFinish=True, haltOnFailure=True,
                          collect="bundle_artifacts" if settings.store else None,
                          set_properties={"release": util.Property("release"), "suite": util.Property("suite"),
                                          **handover.passed("current_artifacts")}),
        *handover.fetch("bundle_artifacts", "fetch bundle", "fetching the new lock and bundle"),
        plan_packages(),
        TriggerPackages(name="packages", schedulerNames=[f"package-{s}" for s in services],
                        waitForFinish=True, haltOnFailure=True,
                        collect="package_artifacts" if settings.store else None,
                        set_properties={"release": util.Property("release"), "suite": util.Property("suite"),
                                        "rebuild": util.Property("rebuild", default=False),
                                        **handover.passed("bundle_artifacts")}),
        *handover.fetch("package_artifacts", "fetch packages", "fetching the packages built"),
        steps.Trigger(name="publish", schedulerNames=["publish"], waitForFinish=True, haltOnFailure=True,
                      doStepIf=lambda step: step.getProperty("publish", True),
                      set_properties={"release": util.Property("release"), "suite": util.Property("suite")}),
        # the proof runs beside the images: neither needs the other, and staging already has the set
        steps.Trigger(name="prove", schedulerNames=["prove", *(["images"] if cluster_on else [])],
                      waitForFinish=True, haltOnFailure=True,
                      doStepIf=lambda step: step.getProperty("publish", True),
                      set_properties={"release": util.Property("release"), "suite": util.Property("suite")}),
        steps.Trigger(name="cluster", schedulerNames=["cluster"], waitForFinish=True, haltOnFailure=True,
                      doStepIf=lambda step: step.getProperty("publish", True),
                      set_properties={"release": util.Property("release"), "suite": util.Property("suite")})
        if cluster_on else ClusterOff(),
    ])
    images = util.BuildFactory([
        Stackdeb("image", "discovery", "--suite", util.Property("suite"), name="discovery",
                 description="discovery live system", result=results.ImageBuilt, properties={"discovery": "image"}),
        Stackdeb("image", "node", *TARGET, "--repo-url", REPO_URL, name="node", description="node image",
                 result=results.ImageBuilt, properties={"node_image": "image"}),
    ])
    cluster = util.BuildFactory([
        Stackdeb("cluster", *TARGET, "--layout", settings.cluster_layout, name="cluster",
                 description=f"cluster ({settings.cluster_layout})", haltOnFailure=False,
                 result=results.ClusterReport, properties={"cluster_outcome": "result"}),
        # nothing changed since the tested suite: no run, no verdict to report or promote
        ClusterReport(doStepIf=lambda step: step.getProperty("cluster_outcome") != "nothing-to-test"),
        steps.Trigger(name="promote", schedulerNames=["promote-tested"], waitForFinish=True, haltOnFailure=True,
                      doStepIf=lambda step: (settings.promote == "auto"
                                             and step.getProperty("cluster_result") == "pass"),
                      set_properties={"release": util.Property("release"), "suite": util.Property("suite"),
                                      "verdict": util.Property("verdict")}),
        # the runs and proofs beyond what is kept go, on the worker that made them (builders/gc)
        Stackdeb("gc", name="gc", description="removing old cluster runs and stale proofs", alwaysRun=True,
                 haltOnFailure=False, flunkOnFailure=False, warnOnFailure=True, result=results.Collected),
    ])
    bundle = util.BuildFactory([
        # the lock's generations count on from the last lock, wherever it was made
        *handover.fetch("current_artifacts", "fetch current", "fetching the current lock and bundle"),
        Stackdeb("lock", *TARGET, *_sources(settings), name="lock", description="resolving",
                 result=results.Locked, properties={"lock_generation": "generation", "lock_sha256": "sha256"}),
        Stackdeb("bundle", *TARGET, *_index(settings), name="bundle", description="bundling",
                 result=results.Bundled, properties={"bundle_sha256": "sha256"}),
        *handover.upload("bundle", "bundle_artifacts", "uploading the lock and bundle"),
    ])
    publish = util.BuildFactory([
        Stackdeb("publish", *TARGET, name="publish", description="publishing to staging",
                 result=results.Published, properties={"generation": "generation", "published": "packages"}),
        Stackdeb("repo", "status", *TARGET, name="status", haltOnFailure=False, result=None,
                 descriptionDone="repository status (see log)"),
    ])
    prove = util.BuildFactory([
        Stackdeb("prove", *TARGET, "--all", name="prove", description="building again beside lintian",
                 result=results.Proven, properties={"proofs": "proofs"}),
    ])
    promote = util.BuildFactory([
        Stackdeb("promote", *TARGET, "--verdict", util.Property("verdict"), name="promote",
                 result=results.Promoted, properties={"generation": "generation"}),
        Stackdeb("repo", "status", *TARGET, name="status", haltOnFailure=False, result=None,
                 descriptionDone="repository status (see log)"),
    ])
    configs = [
        builder("pipeline", pipeline, "one run for one target: bundle, changed packages, publish",
                on=repository_workers, locks=[PIPELINE_LOCK.access("exclusive")]),
        builder("bundle", bundle, "stackdeb lock and stackdeb bundle"),
        *(builder(f"package-{svc.name}", util.BuildFactory([
            *handover.fetch("bundle_artifacts", "fetch bundle", "fetching the lock and bundle"),
            Stackdeb("package", *TARGET, svc.name, "--no-lintian", flag("rebuild", "--force"),
                     name="package", description=f"building {svc.package_name}", result=results.PackagesBuilt),
            PackageReport(svc.name),
            *handover.upload(svc.name, "package_artifacts", f"uploading {svc.package_name}"),
        ]), f"stackdeb package {svc.name}: {svc.package_name}", tags=["package"]) for svc in catalog),
        builder("publish", publish, "stackdeb publish: the build set into the staging suite", on=repository_workers),
        builder("prove", prove, "stackdeb prove: each package built again and judged by lintian; promote "
                                "requires it", on=repository_workers),
        builder("images", images, "stackdeb image discovery and node: what the cluster boots", on=repository_workers),
        builder("cluster", cluster, f"stackdeb cluster --layout {settings.cluster_layout}: a throwaway cluster, "
                                    "smoke tests, a signed verdict", on=repository_workers),
        builder("promote", promote, "stackdeb promote: staging to tested, given a passing verdict",
                on=repository_workers),
    ]
    return configs


class TargetParameter(util.ChoiceStringParameter):
    """One of the configured targets, chosen by name; sets the release and suite properties
    the builders read. A name not in the settings is refused by the form (strict choice)."""

    def __init__(self, targets):
        names = [t.name for t in targets]
        super().__init__(name="target", label="Target (release-suite)", choices=names, default=names[0],
                         strict=True)
        self.by_name = {t.name: t for t in targets}

    def updateFromKwargs(self, properties, kwargs, collector, **unused):
        name = self.getFromKwargs(kwargs)
        target = self.by_name[name]
        properties.update({"target": name, "release": target.release, "suite": target.suite})


def _target_parameters(settings) -> list:
    return [TargetParameter(settings.targets)]


def scheduler_configs(settings, catalog) -> list:
    services = [svc.name for svc in catalog]
    no_source = [util.CodebaseParameter(codebase="", hide=True)]
    found = [
        schedulers.Triggerable(name="bundle", builderNames=["bundle"]),
        *(schedulers.Triggerable(name=f"package-{name}", builderNames=[f"package-{name}"]) for name in services),
        schedulers.Triggerable(name="publish", builderNames=["publish"]),
        schedulers.Triggerable(name="prove", builderNames=["prove"]),
        schedulers.Triggerable(name="images", builderNames=["images"]),
        schedulers.Triggerable(name="cluster", builderNames=["cluster"]),
        schedulers.Triggerable(name="promote-tested", builderNames=["promote"]),
        schedulers.ForceScheduler(
            name="build", label="Build a target", buttonName="Build", builderNames=["pipeline"],
            codebases=no_source, reason=util.StringParameter(name="reason", label="Reason", default="forced"),
            properties=[
                *_target_parameters(settings),
                util.ChoiceStringParameter(name="services", label="Services (none selected: all)",
                                           choices=services, multiple=True, default=[]),
                util.BooleanParameter(name="rebuild", label="Rebuild even if unchanged", default=False),
                util.BooleanParameter(name="publish", label="Publish to staging", default=True),
            ]),
        schedulers.ForceScheduler(
            name="promote", label="Promote staging to tested", buttonName="Promote", builderNames=["promote"],
            codebases=no_source, reason=util.StringParameter(name="reason", label="Reason", default="promote"),
            properties=[*_target_parameters(settings),
                        util.StringParameter(name="verdict", label="Verdict file (verdict.json of a cluster run, on the worker)",
                                             required=True, size=60)]),
        DeliverableScheduler("new-release", settings.targets, catalog, settings.watched, settings.basedir),
        ConstraintsScheduler("new-constraints", settings.targets),
        IndexReleaseScheduler("new-on-index", settings.targets),
    ]
    if settings.nightly:
        hour, minute = settings.nightly
        found += [schedulers.Nightly(
            name=f"nightly-{t.name}", builderNames=["pipeline"], hour=hour, minute=minute,
            properties={"target": t.name, "release": t.release, "suite": t.suite, "services": [], "rebuild": True,
                        "publish": True}) for t in settings.targets]
    return found
