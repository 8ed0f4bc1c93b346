#!/usr/bin/env bash
# bench/private_pg.sh DIR: a private copy of the PostgreSQL installation for benchmarks, so a
# build can be installed and measured without touching the shared system directories (where
# other engineers install other builds while a benchmark runs).
#
#   bash bench/private_pg.sh /tmp/ct-pg          # once: copies bin/lib/share (~65 MB)
#   PG_CONFIG=/tmp/ct-pg/pg_config bash bench/run.sh --build ...
#   PG_CONFIG=/tmp/ct-pg/pg_config bash bench/metrics_load.sh --build ...
#
# PostgreSQL finds its share and lib directories relative to its binaries, so a copy of
# bindir, pkglibdir and sharedir under DIR, laid out as in the system, runs as it is.
# DIR/pg_config answers --bindir, --pkglibdir and --sharedir with the copy's directories (so
# `make install PG_CONFIG=DIR/pg_config`, which --build runs, installs into the copy) and passes
# every other question to the system's pg_config (headers, compiler flags).
set -euo pipefail

DIR=${1:?usage: bash bench/private_pg.sh DIR}
SYS_PG_CONFIG=${SYS_PG_CONFIG:-$(command -v pg_config)}
BIN=$("$SYS_PG_CONFIG" --bindir)
LIB=$("$SYS_PG_CONFIG" --pkglibdir)
SHARE=$("$SYS_PG_CONFIG" --sharedir)

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
for d in "$BIN" "$LIB" "$SHARE"; do
  mkdir -p "$DIR$(dirname "$d")"
  rm -rf "${DIR:?}$d"
  cp -a "$d" "$DIR$d"
done
chmod -R a+rX "$DIR"   # the server runs as the OS user postgres when we are root

cat >"$DIR/pg_config" <<EOF
#!/bin/sh
# private PostgreSQL tree made by bench/private_pg.sh (a copy of $BIN, $LIB, $SHARE)
case "\$1" in
  --bindir) echo "$DIR$BIN" ;;
  --pkglibdir) echo "$DIR$LIB" ;;
  --sharedir) echo "$DIR$SHARE" ;;
  *) exec "$SYS_PG_CONFIG" "\$@" ;;
esac
EOF
chmod 755 "$DIR/pg_config"
"$("$DIR/pg_config" --bindir)/postgres" --version >/dev/null
echo "PG_CONFIG=$DIR/pg_config"
