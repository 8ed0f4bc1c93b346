#!/usr/bin/env bash
# Installs Citus 13.2.2 for PostgreSQL 15 from the vendored source, for the cluster tests.
#
#   bash scripts/install-citus.sh            # install when absent; one line when present
#   bash scripts/install-citus.sh --check    # exit 0 when Citus is installed, 1 when not
#
# Users install Citus from Citus's own packages (postgresql-15-citus-13.2); the machines that
# build and test this project reach only Debian's packages, which have no Citus, so the source
# and the one patch PostgreSQL 15.20 needs live in ../shared/vendor/citus (see its README).
#
# "Installed" means $(pg_config --pkglibdir)/citus.so and $(pg_config --sharedir)/extension/
# citus.control both exist (whatever their origin: a packaged Citus is left alone).
#
# Otherwise: apt-get the build dependencies that are missing, unpack the tarball (checksum
# checked) in a temp dir, apply the patch, configure, build without LLVM bitcode (with_llvm=no:
# the bitcode is only for JIT inlining and doubles the build time) with make -j2, make install,
# delete the temp dir. About 10 minutes on 2 cores. Needs root (or sudo) to install.
#
# Concurrent runs are serialised with a lock (/tmp/ct-citus-build.lock); the second one finds
# Citus installed and returns. This script does not take /tmp/ct-install.lock itself (scripts/
# test.sh runs under it); set CT_CITUS_INSTALL_LOCK=/tmp/ct-install.lock to hold that lock for
# the `make install` step only when running it by hand next to other engineers' test runs.
#
# Environment:
#   PG_CONFIG             default /usr/lib/postgresql/15/bin/pg_config
#   CT_CITUS_VENDOR_DIR   where citus-13.2.2.tar.gz and the patch are (default: found as
#                         ../shared/vendor/citus next to the repository or its main worktree)
#   CT_CITUS_JOBS         make -j (default 2)
#   CT_CITUS_KEEP_BUILD=1 keep the build dir (its path is printed)
#   CT_CITUS_INSTALL_LOCK see above
#
# Exit status: 0 installed (already or now); 1 failed; 3 not installed and not installable here
# (no vendored source found), so that callers can skip rather than fail.
set -euo pipefail

CITUS_VERSION=13.2.2
TARBALL=citus-$CITUS_VERSION.tar.gz
TARBALL_SHA256=dd2453caec20a830e5e63f1def5c5a98cb6f57ae510407cdcd800916fcdab430
PATCH=pg15-have_createdb_privilege.patch
PATCH_SHA256=5ca515dcfefe2f18ebb378220260c80ab8914d2522b70f80ceaa18e862b99b7a
BUILD_DEPS=(build-essential libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libssl-dev
	libselinux1-dev libxslt1-dev libpam0g-dev autoconf flex bison)

: "${PG_CONFIG:=/usr/lib/postgresql/15/bin/pg_config}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { echo "install-citus: $*"; }
die() {
	echo "install-citus: $*" >&2
	exit 1
}

citus_installed()
{
	local libdir sharedir
	libdir=$("$PG_CONFIG" --pkglibdir) || return 1
	sharedir=$("$PG_CONFIG" --sharedir) || return 1
	[ -f "$libdir/citus.so" ] && [ -f "$sharedir/extension/citus.control" ]
}

installed_version()
{
	sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$("$PG_CONFIG" --sharedir)/extension/citus.control" 2>/dev/null
}

# The vendored source: $CT_CITUS_VENDOR_DIR, else shared/vendor/citus next to this repository
# (a CI clone has shared/ as its sibling), next to the main worktree when this is a git
# worktree, or one level further up.
find_vendor_dir()
{
	local cand common
	local -a cands=()
	[ -z "${CT_CITUS_VENDOR_DIR:-}" ] || cands+=("$CT_CITUS_VENDOR_DIR")
	cands+=("$ROOT/../shared/vendor/citus")
	if common=$(git -C "$ROOT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null); then
		cands+=("$(dirname "$common")/../shared/vendor/citus")
	fi
	cands+=("$ROOT/../../shared/vendor/citus")
	for cand in "${cands[@]}"; do
		if [ -f "$cand/$TARBALL" ] && [ -f "$cand/$PATCH" ]; then
			(cd "$cand" && pwd)
			return 0
		fi
	done
	return 1
}

if [ "${1:-}" = --check ]; then
	citus_installed
	exit $?
fi
[ $# -eq 0 ] || die "unknown argument: $1 (usage: install-citus.sh [--check])"

if citus_installed; then
	log "Citus $(installed_version) already installed for PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}')"
	exit 0
fi

VENDOR=$(find_vendor_dir) || {
	echo "install-citus: Citus is not installed and its source ($TARBALL) was not found" \
		"(looked in \$CT_CITUS_VENDOR_DIR and ../shared/vendor/citus)" >&2
	exit 3
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install Citus"
	SUDO=(sudo)
fi

# One build at a time; whoever waited finds it installed.
exec 9>>/tmp/ct-citus-build.lock
if ! flock -n 9; then
	log "another Citus build is running; waiting for it"
	flock 9
fi
if citus_installed; then
	log "Citus $(installed_version) installed meanwhile"
	exit 0
fi

missing=()
for pkg in "${BUILD_DEPS[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing build dependencies: ${missing[*]}"
	apt_log=$(mktemp "${CT_TMP_BASE:-/tmp}/ct-citus-apt.XXXXXX")
	if ! { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			"${missing[@]}"; } >"$apt_log" 2>&1; then
		tail -n 30 "$apt_log" >&2
		rm -f "$apt_log"
		die "apt-get could not install the build dependencies"
	fi
	rm -f "$apt_log"
fi

echo "$TARBALL_SHA256  $VENDOR/$TARBALL" | sha256sum -c --quiet - || die "checksum mismatch: $VENDOR/$TARBALL"
echo "$PATCH_SHA256  $VENDOR/$PATCH" | sha256sum -c --quiet - || die "checksum mismatch: $VENDOR/$PATCH"

BUILD=$(mktemp -d "${CT_TMP_BASE:-/tmp}/ct-citus-build.XXXXXX")
if [ "${CT_CITUS_KEEP_BUILD:-0}" != 1 ]; then
	trap 'rm -rf "$BUILD"' EXIT
fi
BLOG="$BUILD/build.log"
log "building Citus $CITUS_VERSION in $BUILD (log: $BLOG; about 10 minutes on 2 cores)"
fail_build()
{
	echo "install-citus: $1 failed; last lines of $BLOG:" >&2
	tail -n 40 "$BLOG" >&2
	exit 1
}
tar -xzf "$VENDOR/$TARBALL" -C "$BUILD"
SRC="$BUILD/citus-$CITUS_VERSION"
(cd "$SRC" && patch -p1 -s <"$VENDOR/$PATCH") >>"$BLOG" 2>&1 || fail_build "patch"
(cd "$SRC" && ./configure PG_CONFIG="$PG_CONFIG") >>"$BLOG" 2>&1 || fail_build "configure"
t0=$SECONDS
(cd "$SRC" && make -j"${CT_CITUS_JOBS:-2}" with_llvm=no) >>"$BLOG" 2>&1 || fail_build "make"
log "built in $((SECONDS - t0)) s; installing"
if [ -n "${CT_CITUS_INSTALL_LOCK:-}" ]; then
	exec 8>>"$CT_CITUS_INSTALL_LOCK"
	flock 8
fi
(cd "$SRC" && "${SUDO[@]}" make install with_llvm=no) >>"$BLOG" 2>&1 || fail_build "make install"
[ -z "${CT_CITUS_INSTALL_LOCK:-}" ] || flock -u 8
citus_installed || die "make install succeeded but citus.so / citus.control are not where pg_config says"
log "Citus $(installed_version) installed into $("$PG_CONFIG" --pkglibdir)"
[ "${CT_CITUS_KEEP_BUILD:-0}" != 1 ] || log "build dir kept: $BUILD"
