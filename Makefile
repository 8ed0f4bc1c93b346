# PGXS build for customer_tracking (C++17, libphonenumber).
EXTENSION = customer_tracking
EXTVERSION = $(shell grep default_version $(dir $(firstword $(MAKEFILE_LIST)))$(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = customer_tracking
OBJS = $(patsubst %.cpp,%.o,$(wildcard src/*.cpp))

# Extension scripts are built from src/sql: the install script from the concern files
# src/sql/NN_*.sql in name order, upgrade scripts from src/sql/upgrade/; `#include` lines pull
# in one file per SQL function from src/sql/functions/ (scripts/assemble_sql.awk).
SQL_CONCERNS = $(sort $(wildcard src/sql/[0-9]*.sql))
SQL_UPGRADES = $(notdir $(wildcard src/sql/upgrade/$(EXTENSION)--*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(SQL_UPGRADES)

# pg_regress suite: sql/NAME.sql against expected/NAME.out (the contrib layout).
TESTS = $(sort $(wildcard sql/*.sql))
REGRESS = $(patsubst sql/%.sql,%,$(TESTS))
# scripts/test.sh may point these at a temporary copy (to stand in for missing expected files).
CT_REGRESS_INPUTDIR ?= .
CT_ISOLATION_INPUTDIR ?= test/isolation
REGRESS_OPTS = --inputdir=$(CT_REGRESS_INPUTDIR) --load-extension=pgcrypto

ISOLATION_SPECS = $(sort $(wildcard test/isolation/specs/*.spec))
ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(ISOLATION_SPECS))
ISOLATION_OPTS = --inputdir=$(CT_ISOLATION_INPUTDIR) --load-extension=pgcrypto

# TAP tests (test/t/*.pl, below): their results and server logs.
EXTRA_CLEAN += tmp_check

# Prefer the PostgreSQL 15 pg_config (the /usr/bin/pg_config wrapper picks the newest installed).
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PG_CPPFLAGS = -std=c++17 -Wall -Wextra -Wno-register -Wno-unused-parameter -Wno-missing-field-initializers -fno-omit-frame-pointer
SHLIB_LINK = -lphonenumber -lstdc++

# The JIT bitcode step would compile the C++ sources with clang and libphonenumber headers; not needed.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS compiles .cpp with CXXFLAGS; keep the C-only warning flags out of C++.
override CXXFLAGS := $(filter-out -Wmissing-prototypes -Wdeclaration-after-statement -Wmissing-format-attribute -Wimplicit-fallthrough=3 -Wcast-function-type,$(CXXFLAGS)) -Wimplicit-fallthrough

# TAP tests: test/t/NNN_name.pl (PostgreSQL::Test::Cluster; helpers in test/perl), run by
# `make prove_installcheck` (PROVE_TESTS=test/t/001_upgrade.pl for one). Each test starts its own
# cluster from the PostgreSQL of PG_CONFIG, where the extension must be installed. initdb refuses
# root: as root, run it as another user from a directory that user can write, e.g.
#   runuser -u postgres -- make -C /tmp/tap -f /path/to/repo/Makefile prove_installcheck PG_CONFIG=...
# (scripts/test.sh does that); results and server logs go to tmp_check/ there.
PROVE_TESTS ?= test/t/*.pl
PG_PROVE_FLAGS += -I test/perl

.PHONY: prove_installcheck
prove_installcheck:
	$(prove_installcheck)

.PHONY: unit
# GoogleTest unit tests of the pure C++ sources (CMakeLists.txt), built in build/.
# Builds only the test executables, not the CMake mirror of the extension module.
unit:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPG_CONFIG=$(PG_CONFIG) >/dev/null
	cmake --build build --target unit_tests -j2
	ctest --test-dir build --output-on-failure

ASSEMBLE_SQL = awk -v root=src/sql -f scripts/assemble_sql.awk
# Files pulled in by #include: one per function, composite type, or table or view (with its privileges),
# and the statement fragments several functions share.
SQL_FUNCTIONS = $(wildcard src/sql/functions/*.sql src/sql/types/*.sql src/sql/tables/*.sql src/sql/fragments/*.sql)

# customers.cpp compiles src/sql/fragments/customer_stats.sql (a raw string literal).
src/customers.o: src/sql/fragments/customer_stats.sql

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_CONCERNS) $(SQL_FUNCTIONS) scripts/assemble_sql.awk
	$(ASSEMBLE_SQL) $(SQL_CONCERNS) > $@.tmp && mv $@.tmp $@

$(EXTENSION)--%.sql: src/sql/upgrade/$(EXTENSION)--%.sql $(SQL_CONCERNS) $(SQL_FUNCTIONS) scripts/assemble_sql.awk
	$(ASSEMBLE_SQL) $< > $@.tmp && mv $@.tmp $@

# Test targets, each runnable alone against the installed extension (scripts/test.sh runs them
# all, in this order, and counts every test: see CONTRIBUTING.md). Each prints one line per test,
# "NAME ... ok" or "NAME ... FAILED", and fails when one failed.
#   make regresscheck     pg_regress over sql/ (a server at PGHOST/PGPORT; the diffs shown)
#   make isolationcheck   pg_isolation_regress over test/isolation/specs (same server)
#   make tapcheck         make prove_installcheck, also as root (scripts/lib/tapcheck.sh; the
#                         tests' logs in $(CT_TAP_DIR)/tmp_check/log)
#   make scriptcheck      test/scripts/*.sh against the cluster of scripts/test.sh, or one of its
#                         own (scripts/lib/scriptcheck.sh; their output in $(CT_TEST_LOGS)/scripts)
# A test missing its expected file fails alone instead of stopping the run (scripts/lib/inputdir.sh).
CT_TEST_LOGS ?= build/test-logs
CT_TAP_DIR ?= $(CT_TEST_LOGS)/tap
SCRIPT_TESTS ?= $(sort $(wildcard test/scripts/*.sh))
TAP_TESTS ?= $(sort $(wildcard test/t/*.pl))

.PHONY: regresscheck isolationcheck tapcheck scriptcheck
regresscheck:
	@rm -f regression.diffs regression.out
	@dir=$$(bash scripts/lib/inputdir.sh . sql $(REGRESS)) && \
	$(MAKE) --no-print-directory installcheck ISOLATION= CT_REGRESS_INPUTDIR="$$dir" REGRESS="$(REGRESS)" || \
	{ [ ! -s regression.diffs ] || { echo "----- regression.diffs (first 600 lines) -----"; head -n 600 regression.diffs; }; exit 1; }

isolationcheck:
	@rm -rf output_iso
	@dir=$$(bash scripts/lib/inputdir.sh test/isolation specs $(ISOLATION)) && \
	$(MAKE) --no-print-directory installcheck REGRESS= CT_ISOLATION_INPUTDIR="$$dir" ISOLATION="$(ISOLATION)" || \
	{ [ ! -s output_iso/regression.diffs ] || { echo "----- output_iso/regression.diffs (first 600 lines) -----"; head -n 600 output_iso/regression.diffs; }; exit 1; }

tapcheck:
	bash scripts/lib/tapcheck.sh $(CT_TAP_DIR) $(TAP_TESTS)

scriptcheck:
	bash scripts/lib/scriptcheck.sh $(CT_TEST_LOGS)/scripts $(SCRIPT_TESTS)
