"""Cross-check the catalog against the service wheels: a console script or WSGI module the
catalog names but the wheel lacks is a catalog error, caught before anything is packaged."""

import configparser
import zipfile

from packaging.utils import canonicalize_name

from builders.catalog import Catalog
from builders.errors import StackdebError


def _entry_points(wheel: zipfile.ZipFile) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    for name in wheel.namelist():
        if name.endswith(".dist-info/entry_points.txt"):
            parser.read_string(wheel.read(name).decode())
    return parser


def check_service_wheels(catalog: Catalog, versions: dict[str, str], artifacts) -> None:
    by_name = {a.name: a for a in artifacts}
    for svc in catalog:
        art = by_name.get(canonicalize_name(svc.distribution))
        if art is None or art.version != versions.get(svc.name):
            raise StackdebError(f"the bundle has no wheel of {svc.distribution} "
                                f"{versions.get(svc.name)} for service '{svc.name}'",
                                hint="re-run stackdeb lock: the catalog changed since")
        where = f"{catalog.path}: service '{svc.name}'"
        with zipfile.ZipFile(art.path) as wheel:
            points = _entry_points(wheel)
            scripts = set(points["console_scripts"]) if points.has_section("console_scripts") else set()
            for script in svc.console_scripts:
                if script not in scripts:
                    raise StackdebError(f"{where}, field 'console_scripts': {art.filename} has no "
                                        f"console script '{script}'")
            names = set(wheel.namelist())
            for app in svc.wsgi_apps:
                if app.module.replace(".", "/") + ".py" not in names:
                    raise StackdebError(f"{where}, field 'wsgi_apps': {art.filename} has no module "
                                        f"'{app.module}'")
