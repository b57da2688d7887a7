"""The builders and how they chain: pipeline -> bundle (lock + bundle) -> one package builder
per service, in parallel, only for the services that changed -> publish -> images ->
cluster -> promote (on a pass, unless the settings leave it to release engineers).

    pipeline         coordinates one run for one target; holds no stage itself
    bundle           stackdeb lock, stackdeb bundle
    package-<name>   stackdeb package <name>, then its lintian and reproducibility report
    publish          stackdeb publish, then the repository status
    images           the suite's discovery system and the target's node image (no-ops when
                     their inputs did not change)
    cluster          stackdeb cluster on the settings' layout; its report step shows each phase,
                     the test counts and the logs
    promote          stackdeb promote --verdict: triggered by a pass, or forced by an engineer
"""

from buildbot.plugins import schedulers, steps, util

from master.changes import ConstraintsScheduler, DeliverableScheduler, IndexReleaseScheduler
from builders.cluster.network import REPO_URL
from master.steps import TARGET, ClusterOff, ClusterReport, PackageReport, Stackdeb, TriggerPackages, plan_packages

# One pipeline at a time: the stages of two runs would otherwise share build outputs.
PIPELINE_LOCK = util.MasterLock("pipeline")


def _index(settings) -> list:
    return ["--index-url", settings.index_url] if settings.index_url else []


def _sources(settings) -> list:
    return ["--releases", settings.releases_url, "--requirements", settings.requirements_url, *_index(settings)]


def _flag(name: str, option: str):
    """`option` when the build property `name` is true, else nothing."""
    return util.Transform(lambda value: [option] if value else [], util.Property(name, default=False))


def builder_configs(settings, catalog) -> list:
    workers = [w.name for w in settings.workers]
    services = [svc.name for svc in catalog]
    cluster_on = settings.cluster_layout != "none"     # none: build and publish only; promote by hand

    def builder(name, factory, description, **kwargs):
        return util.BuilderConfig(name=name, workernames=workers, factory=factory,
                                  description=description, **kwargs)

    pipeline = util.BuildFactory([
        steps.Trigger(name="bundle", schedulerNames=["bundle"], waitForFinish=True, haltOnFailure=True,
                      set_properties={"release": util.Property("release"), "suite": util.Property("suite")}),
        plan_packages(),
        TriggerPackages(name="packages", schedulerNames=[f"package-{s}" for s in services],
                        waitForFinish=True, haltOnFailure=True,
                        set_properties={"release": util.Property("release"), "suite": util.Property("suite"),
                                        "rebuild": util.Property("rebuild", default=False)}),
        steps.Trigger(name="publish", schedulerNames=["publish"], waitForFinish=True, haltOnFailure=True,
                      doStepIf=lambda step: step.getProperty("publish", True),
                      set_properties={"release": util.Property("release"), "suite": util.Property("suite")}),
        *([steps.Trigger(name="images", schedulerNames=["images"], waitForFinish=True, haltOnFailure=True,
                         doStepIf=lambda step: step.getProperty("publish", True),
                         set_properties={"release": util.Property("release"), "suite": util.Property("suite")}),
           steps.Trigger(name="cluster", schedulerNames=["cluster"], waitForFinish=True, haltOnFailure=True,
                         doStepIf=lambda step: step.getProperty("publish", True),
                         set_properties={"release": util.Property("release"), "suite": util.Property("suite")})]
          if cluster_on else [ClusterOff()]),
    ])
    images = util.BuildFactory([
        Stackdeb("image", "discovery", "--suite", util.Property("suite"), name="discovery",
                 description="discovery live system", properties={"discovery": "image"}),
        Stackdeb("image", "node", *TARGET, "--repo-url", REPO_URL, name="node", description="node image",
                 properties={"node_image": "image"}),
    ])
    cluster = util.BuildFactory([
        Stackdeb("cluster", *TARGET, "--layout", settings.cluster_layout, name="cluster", result=False,
                 description=f"cluster ({settings.cluster_layout})", haltOnFailure=False),
        ClusterReport(),
        steps.Trigger(name="promote", schedulerNames=["promote-tested"], waitForFinish=True, haltOnFailure=True,
                      doStepIf=lambda step: (settings.promote == "auto"
                                             and step.getProperty("cluster_result") == "pass"),
                      set_properties={"release": util.Property("release"), "suite": util.Property("suite"),
                                      "verdict": util.Property("verdict")}),
    ])
    bundle = util.BuildFactory([
        Stackdeb("lock", *TARGET, *_sources(settings), name="lock", description="resolving",
                 properties={"lock_generation": "generation", "lock_sha256": "sha256"}),
        Stackdeb("bundle", *TARGET, *_index(settings), name="bundle", description="bundling",
                 properties={"bundle_sha256": "sha256"}),
    ])
    publish = util.BuildFactory([
        Stackdeb("publish", *TARGET, name="publish", description="publishing to staging",
                 properties={"generation": "generation", "published": "packages"}),
        Stackdeb("repo", "status", *TARGET, name="status", haltOnFailure=False, result=False,
                 descriptionDone="repository status (see log)"),
    ])
    promote = util.BuildFactory([
        Stackdeb("promote", *TARGET, "--verdict", util.Property("verdict"), name="promote",
                 properties={"generation": "generation"}),
        Stackdeb("repo", "status", *TARGET, name="status", haltOnFailure=False, result=False,
                 descriptionDone="repository status (see log)"),
    ])
    configs = [
        builder("pipeline", pipeline, "one run for one target: bundle, changed packages, publish",
                locks=[PIPELINE_LOCK.access("exclusive")]),
        builder("bundle", bundle, "stackdeb lock and stackdeb bundle"),
        *(builder(f"package-{svc.name}", util.BuildFactory([
            Stackdeb("package", *TARGET, svc.name, "--check-reproducible", _flag("rebuild", "--force"),
                     name="package", description=f"building {svc.package_name}"),
            PackageReport(svc.name),
        ]), f"stackdeb package {svc.name}: {svc.package_name}", tags=["package"]) for svc in catalog),
        builder("publish", publish, "stackdeb publish: the build set into the staging suite"),
        builder("images", images, "stackdeb image discovery and node: what the cluster boots"),
        builder("cluster", cluster, f"stackdeb cluster --layout {settings.cluster_layout}: a throwaway cluster, "
                                    "smoke tests, a signed verdict"),
        builder("promote", promote, "stackdeb promote: staging to tested, given a passing verdict"),
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
