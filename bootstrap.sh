#!/usr/bin/env bash
# Set up a fresh Debian machine for stackdeb, then run the main job on the embedded default.
#   ./bootstrap.sh               set up, then lock, bundle, package, publish, and start the embedded
#                                Buildbot master (its first run finds all built, then runs the cluster)
#   ./bootstrap.sh --deps-only   set up only
#   ./bootstrap.sh --test-deps   set up only, with what only the tests need (nginx, PostgreSQL,
#                                Chromium, shellcheck, pytest): what CI does before the tests
# Upstream data: STACKDEB_RELEASES / STACKDEB_REQUIREMENTS (directory or git URL); when unset,
# the snapshot committed in upstream/ (upstream/README.md).
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  python3-venv python3-dev build-essential pkg-config   # the venv, compiling sdists
  git dpkg-dev util-linux mount                          # git sources, dpkg-deb, unshare, tests
  mmdebstrap                                             # clean chroots of the target suite
  reprepro gnupg gpgv                                    # the signed repository
  sudo debootstrap qemu-utils squashfs-tools             # images: diskimage-builder, the live system
  qemu-system-x86 ipxe-qemu socat                        # booting them (socat: the VMs' only way out)
  iproute2 dnsmasq-base apt-cacher-ng e2fsprogs          # the test cluster: namespace, DHCP, apt proxy
)
# only the tests use these: a machine that runs the main job gets no web server or database
TEST_PACKAGES=(
  nginx                                                  # serving the repository as docs/repository.md says
  postgresql                                             # the master on PostgreSQL (a server of their own)
  chromium                                               # a screenshot of the web UI
  shellcheck                                             # the agent is shellcheck-clean
)
deps_only=0 extra=""
for arg in "$@"; do
  case $arg in
    --deps-only) deps_only=1 ;;
    --test-deps) deps_only=1 extra="[test]"; APT_PACKAGES+=("${TEST_PACKAGES[@]}") ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "bootstrap.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "== installing Debian packages: ${APT_PACKAGES[*]}"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null

echo "== creating .venv with the system python3 and installing stackdeb"
[ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e ".$extra"
[ "$deps_only" = 1 ] && exit 0

defaults=$(.venv/bin/python -c 'from builders.targets import DEFAULT_RELEASE as r, DEFAULT_SUITE as s; print(r, s)')
release=${STACKDEB_RELEASE:-${defaults% *}} suite=${STACKDEB_SUITE:-${defaults#* }}
echo "== stackdeb lock --release $release --suite $suite"
.venv/bin/stackdeb lock --release "$release" --suite "$suite"
echo "== stackdeb bundle --release $release --suite $suite"
.venv/bin/stackdeb bundle --release "$release" --suite "$suite"
echo "== stackdeb package --release $release --suite $suite --all"
.venv/bin/stackdeb package --release "$release" --suite "$suite" --all
echo "== stackdeb publish --release $release --suite $suite"
.venv/bin/stackdeb publish --release "$release" --suite "$suite"
.venv/bin/stackdeb repo status --release "$release" --suite "$suite"
echo "== stackdeb master start: the embedded Buildbot master and worker, and their first pipeline run"
.venv/bin/stackdeb master start --release "$release" --suite "$suite" --wait
echo "== the web UI is on http://127.0.0.1:8010/ (stop it with: .venv/bin/stackdeb master stop)"
echo "== done: the signed repository is in build/repo/public; serve it with:"
echo "   .venv/bin/stackdeb repo serve     # every target's suites, on http://127.0.0.1:8080/"
