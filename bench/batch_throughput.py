#!/usr/bin/env python3
"""bench/batch_throughput.py: the 16-connection random-order batch workload, for
bench/batch_throughput.sh.

CLIENTS asyncpg connections, for SECONDS, each in a loop sending one batch of orders per
transaction, the way applications write them:

  executemany  asyncpg executemany of the batch's INSERTs in a transaction
  values       one multi-row INSERT ... VALUES
  select       INSERT ... SELECT FROM unnest(arrays)
  copy         copy_records_to_table in a transaction

Each batch has BATCH_MIN..BATCH_MAX orders for customers drawn at random (in random order, never
sorted) from a pool of SHOPS x PEOPLE customers; 80 % are paid. No client retries: a failed
transaction is counted (deadlocks apart) and the client goes on.

Usage: batch_throughput.py DBNAME SECONDS SEED   (connection from PGHOST, PGPORT, PGUSER)
Environment: CT_BATCH_CLIENTS (16), CT_BATCH_SHOPS (3), CT_BATCH_PEOPLE (50 per shop),
CT_BATCH_MIN (5), CT_BATCH_MAX (20).
Prints one JSON line: orders and transactions committed, elapsed seconds, deadlocks, other
errors (with samples), per kind counts.
"""
import asyncio
import json
import os
import random
import sys
import time
import uuid
from decimal import Decimal

import asyncpg

DB, SECONDS, SEED = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
CLIENTS = int(os.environ.get("CT_BATCH_CLIENTS", "16"))
NSHOPS = int(os.environ.get("CT_BATCH_SHOPS", "3"))
NPEOPLE = int(os.environ.get("CT_BATCH_PEOPLE", "50"))
BMIN = int(os.environ.get("CT_BATCH_MIN", "5"))
BMAX = int(os.environ.get("CT_BATCH_MAX", "20"))

SHOPS = [uuid.UUID("b0000000-0000-4000-8000-%012d" % (i + 1)) for i in range(NSHOPS)]
PREFIXES = ["24", "54", "20", "27"]
NETWORKS = ["MTN", "MTN", "Telecel", "AirtelTigo"]
COLUMNS = ["id", "shop_id", "customer_name", "customer_phone", "network", "total_price",
           "payment_status", "shop_slug"]
INSERT_ONE = ("INSERT INTO shop_orders (" + ", ".join(COLUMNS) + ") VALUES "
              "($1, $2, $3, $4, $5, $6, $7, $8)")
INSERT_SELECT = ("INSERT INTO shop_orders (" + ", ".join(COLUMNS) + ") SELECT * FROM unnest("
                 "$1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::numeric[], "
                 "$7::text[], $8::text[])")
KINDS = ["executemany", "values", "select", "copy"]


def order(rng):
    shop = rng.randrange(NSHOPS)
    person = rng.randrange(NPEOPLE)
    n = shop * NPEOPLE + person
    return (uuid.UUID(int=rng.getrandbits(128), version=4), SHOPS[shop], "Customer %d" % n,
            "0%s%07d" % (PREFIXES[n % 4], 1000000 + n), NETWORKS[n % 4],
            Decimal(rng.randrange(500, 15000)) / 100,
            "completed" if rng.random() < 0.8 else "pending", "batch-shop-%d" % (shop + 1))


class Stats:
    def __init__(self):
        self.orders = 0
        self.txns = 0
        self.deadlocks = 0
        self.errors = 0
        self.samples = []
        self.by_kind = {k: 0 for k in KINDS}


async def client(n, conn, stats, deadline):
    rng = random.Random(SEED * 1000 + n)
    try:
        while time.monotonic() < deadline:
            kind = rng.choice(KINDS)
            rows = [order(rng) for _ in range(rng.randint(BMIN, BMAX))]
            try:
                if kind == "executemany":
                    async with conn.transaction():
                        await conn.executemany(INSERT_ONE, rows)
                elif kind == "values":
                    ph = ", ".join("(" + ", ".join("$%d" % (8 * i + j + 1) for j in range(8)) + ")"
                                   for i in range(len(rows)))
                    await conn.execute("INSERT INTO shop_orders (" + ", ".join(COLUMNS)
                                       + ") VALUES " + ph, *[v for r in rows for v in r])
                elif kind == "select":
                    await conn.execute(INSERT_SELECT, *[list(c) for c in zip(*rows)])
                else:
                    async with conn.transaction():
                        await conn.copy_records_to_table("shop_orders", records=rows,
                                                         columns=COLUMNS)
                stats.orders += len(rows)
                stats.txns += 1
                stats.by_kind[kind] += 1
            except asyncpg.exceptions.DeadlockDetectedError:
                stats.deadlocks += 1
            except asyncpg.PostgresError as e:
                stats.errors += 1
                if len(stats.samples) < 5:
                    stats.samples.append("%s: %s" % (kind, e))
    finally:
        await conn.close()


async def main():
    stats = Stats()
    conns = await asyncio.gather(*(asyncpg.connect(database=DB) for _ in range(CLIENTS)))
    t0 = time.monotonic()
    deadline = t0 + SECONDS
    await asyncio.gather(*(client(i, c, stats, deadline) for i, c in enumerate(conns)))
    elapsed = time.monotonic() - t0
    print(json.dumps({"orders": stats.orders, "txns": stats.txns, "seconds": round(elapsed, 3),
                      "deadlocks": stats.deadlocks, "errors": stats.errors,
                      "error_samples": stats.samples, "by_kind": stats.by_kind}))


asyncio.run(main())
