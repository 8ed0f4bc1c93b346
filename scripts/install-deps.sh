#!/usr/bin/env bash
# Installs everything needed to build, test and demo customer_tracking on Debian bookworm.
#
#   bash scripts/install-deps.sh
#
# Idempotent: when every package is already installed it returns immediately without touching
# apt (so CI runs stay fast). Needs root (or sudo) only when something is missing.
set -euo pipefail

# postgresql-contrib-15 is not a separate package on bookworm: postgresql-15 provides it
# (pgcrypto and friends ship with the server package).
PACKAGES=(
	postgresql-15             # server, initdb, pg_ctl, psql, contrib modules (pgcrypto)
	postgresql-server-dev-15  # PGXS, server headers, pg_regress, pg_isolation_regress
	libipc-run-perl           # PostgreSQL::Test::Cluster (TAP tests in test/t, make prove_installcheck)
	libphonenumber-dev        # phone number normalisation (links libphonenumber8)
	g++
	make
	cmake
	libgtest-dev              # GoogleTest (static libs + CMake config), pulls in googletest
	pkg-config
	clang-format              # scripts/lint.sh
	clang-tidy                # scripts/lint.sh
	util-linux                # runuser: run initdb/pg_ctl as the postgres user
	coreutils                 # mktemp, timeout
	python3-asyncpg           # test/drivers/concurrency.py (driver-level concurrency test)
	python3-psycopg           # test/drivers/fuzz_orders.py (differential fuzz test)
	nodejs                    # examples/dashboard (Node 18 or later) and its browser test
	chromium                  # headless browser of test/scripts/dashboard_browser.sh
	fonts-dejavu-core         # fonts for the browser's screenshots
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	if [ "$status" != "installed" ]; then
		missing+=("$pkg")
	fi
done

# npm: a separate Debian package for Debian's nodejs, bundled with (and conflicting with) other
# builds of nodejs, such as NodeSource's; ask for it only when there is no npm command.
if ! command -v npm >/dev/null 2>&1; then
	PACKAGES+=(npm)
	missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PACKAGES[@]} packages already installed"
	exit 0
fi

echo "install-deps: installing: ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "install-deps: missing packages and not root (and no sudo): ${missing[*]}" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	"${PACKAGES[@]}"
echo "install-deps: done"
