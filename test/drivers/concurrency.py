#!/usr/bin/env python3
"""Driver-level concurrency test: real client code (asyncpg) writing orders the way
applications do, in any row order, over a small pool of customers.

Run by test/scripts/driver_concurrency.sh, which creates the database (host schema,
CREATE EXTENSION customer_tracking) and passes its name. This program adds the shops, then runs
CLIENTS connections for SECONDS, each looping over a weighted mix of transactions:

  executemany    asyncpg executemany of 2-8 INSERTs in one transaction
  values         one multi-row INSERT ... VALUES (2-8 rows)
  select         INSERT ... SELECT FROM unnest(arrays) (2-8 rows)
  copy           copy_records_to_table (3-12 rows) in a transaction
  pay            webhook batch: 2-8 pending orders paid, as one UPDATE ... WHERE id = ANY or as
                 one UPDATE per order in random order (executemany) in a transaction
  refund         the same for paid orders (refunded / cancelled)
  delete         1-3 orders deleted
  edit           1-3 orders edited in random order: amount, phone (another customer), shop
                 (moved to another shop), network, created_at
  open           checkout left open: BEGIN, INSERT one order, sleep 0.1-0.6 s (the payment
                 provider call), sometimes pay it, COMMIT
  single         one INSERT in autocommit

Every batch picks its customers in random order, from all shops. No client retries anything.
Orders a transaction updates or deletes are claimed by it (client-side) until it ends, so the
host tables alone never make two transactions conflict: any deadlock or lock wait comes from the
extension. A client-side ledger records every committed order's state.

Passes iff: no deadlock (SQLSTATE 40P01), no serialization failure (40001), no other error, no
lost or wrong order (shop_orders equals the ledger exactly: every order whose transaction
committed is there in its last committed state, nothing else), no backend ever seen waiting for a
lock held by a transaction that is idle (open, between statements: see "blocked_by_open_tx"), and
customer_tracking_verify() returns no rows. Lock waits are sampled and reported (count, longest),
never a failure: the machine may be noisy.

Usage: concurrency.py DBNAME   (connection from PGHOST, PGPORT, PGUSER)
Environment: CT_DRIVER_CLIENTS (16), CT_DRIVER_SECONDS (10; 60 when CT_LONG_TESTS=1),
CT_DRIVER_SEED (random), CT_DRIVER_SHOPS (3), CT_DRIVER_PEOPLE (20 per shop).
Prints one summary line "driver: PASS|FAIL ..."; exit status 0 = pass.
"""
import asyncio
import datetime as dt
import os
import random
import sys
import time
import uuid
from decimal import Decimal

import asyncpg

DB = sys.argv[1] if len(sys.argv) > 1 else "ct_driver"
LONG = os.environ.get("CT_LONG_TESTS", "0") == "1"
CLIENTS = int(os.environ.get("CT_DRIVER_CLIENTS", "16"))
SECONDS = float(os.environ.get("CT_DRIVER_SECONDS", "60" if LONG else "10"))
SEED = int(os.environ.get("CT_DRIVER_SEED") or random.SystemRandom().randrange(1, 2**31))
NSHOPS = int(os.environ.get("CT_DRIVER_SHOPS", "3"))
NPEOPLE = int(os.environ.get("CT_DRIVER_PEOPLE", "20"))

SHOPS = [uuid.UUID("d0000000-0000-4000-8000-%012d" % (i + 1)) for i in range(NSHOPS)]
SLUGS = {s: "driver-shop-%d" % (i + 1) for i, s in enumerate(SHOPS)}
PREFIXES = ["24", "54", "55", "59", "20", "50", "26", "27", "57"]
NETWORKS = ["MTN", "Telecel", "AirtelTigo"]
PAID = ["paid", "PAID", "completed", "success", "Paid"]
COLUMNS = ["id", "shop_id", "customer_name", "customer_phone", "network", "total_price",
           "payment_status", "shop_slug", "created_at"]
INSERT_ONE = ("INSERT INTO shop_orders (" + ", ".join(COLUMNS) + ") VALUES "
              "($1, $2, $3, $4, $5, $6, $7, $8, $9)")
BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

WEIGHTS = [("executemany", 14), ("values", 12), ("select", 10), ("copy", 8), ("pay", 16),
           ("refund", 8), ("delete", 5), ("edit", 10), ("open", 12), ("single", 5)]


def phone_formats(p):
    """Person p's phone, typed four ways (all normalise to the same E.164 number)."""
    prefix = PREFIXES[p % len(PREFIXES)]
    digits = "%07d" % ((1234567 + p * 7919) % 10_000_000)
    return ["0%s %s %s" % (prefix, digits[:3], digits[3:]),
            "+233 %s %s %s" % (prefix, digits[:3], digits[3:]),
            "233%s%s" % (prefix, digits),
            "0%s%s" % (prefix, digits)]


PHONES = [phone_formats(p) for p in range(NPEOPLE)]


class Stats:
    def __init__(self):
        self.tx_ok = 0
        self.tx_failed = 0
        self.by_kind = {k: [0, 0] for k, _ in WEIGHTS}
        self.deadlocks = 0
        self.serialization = 0
        self.errors = 0
        self.error_samples = []
        self.orders_inserted = 0
        self.max_stmt = 0.0
        self.max_commit = 0.0
        self.samples = 0
        self.samples_waiting = 0
        self.max_waiting = 0
        self.max_lock_wait = 0.0
        self.blocked_by_open_tx = 0
        self.blocked_samples = []


class Ledger:
    """Committed state of every order, as the clients know it."""

    def __init__(self):
        self.orders = {}        # id -> dict(shop, phone, amount, status, network, at, slug)
        self.claimed = set()

    def pick(self, rng, n, pred):
        cands = [i for i, o in self.orders.items() if i not in self.claimed and pred(o)]
        if not cands:
            return []
        picked = rng.sample(cands, min(n, len(cands)))
        self.claimed.update(picked)
        return picked

    def release(self, ids):
        self.claimed.difference_update(ids)


def is_paid(status):
    return status.strip().lower() in ("paid", "completed", "success")


def new_order(rng, shop=None):
    shop = shop or rng.choice(SHOPS)
    person = rng.randrange(NPEOPLE)
    r = rng.random()
    status = rng.choice(PAID) if r < 0.6 else ("pending" if r < 0.95 else "failed")
    return {
        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "shop": shop,
        "name": "Customer %d" % person,
        "phone": rng.choice(PHONES[person]),
        "network": rng.choice(NETWORKS),
        "amount": Decimal(rng.randrange(100, 20000)) / 100,
        "status": status,
        "slug": rng.choice([SLUGS[shop], SLUGS[shop], "promo", None]),
        "at": BASE_TIME + dt.timedelta(hours=6 * rng.randrange(0, 240)),
    }


def as_row(o):
    return (o["id"], o["shop"], o["name"], o["phone"], o["network"], o["amount"], o["status"],
            o["slug"], o["at"])


def ledger_state(o):
    return {"shop": o["shop"], "phone": o["phone"], "amount": o["amount"], "status": o["status"],
            "network": o["network"], "at": o["at"], "slug": o["slug"]}


class Client:
    def __init__(self, n, conn, ledger, stats, deadline):
        self.n = n
        self.conn = conn
        self.ledger = ledger
        self.stats = stats
        self.deadline = deadline
        self.rng = random.Random(SEED * 1000 + n)
        self.kinds = [k for k, _ in WEIGHTS]
        self.weights = [w for _, w in WEIGHTS]

    async def timed(self, coro, commit=False):
        t0 = time.monotonic()
        r = await coro
        d = time.monotonic() - t0
        if commit:
            self.stats.max_commit = max(self.stats.max_commit, d)
        else:
            self.stats.max_stmt = max(self.stats.max_stmt, d)
        return r

    async def run(self):
        while time.monotonic() < self.deadline:
            kind = self.rng.choices(self.kinds, self.weights)[0]
            await self.one(kind)

    async def one(self, kind):
        """One transaction. Ledger changes are applied only once it committed."""
        claimed = []
        inserted = []
        changes = {}     # id -> new state, or None for deleted
        tx = None
        try:
            rng = self.rng
            c = self.conn
            if kind in ("executemany", "values", "select", "copy"):
                n = rng.randint(3, 12) if kind == "copy" else rng.randint(2, 8)
                # Mostly one shop per batch (a checkout cart, an import), sometimes several.
                shop = rng.choice(SHOPS) if rng.random() < 0.7 else None
                orders = [new_order(rng, shop) for _ in range(n)]
                rows = [as_row(o) for o in orders]
                if kind == "executemany":
                    tx = c.transaction()
                    await tx.start()
                    await self.timed(c.executemany(INSERT_ONE, rows))
                    await self.timed(tx.commit(), commit=True)
                elif kind == "values":
                    ph = ", ".join("(" + ", ".join("$%d" % (i * 9 + j + 1) for j in range(9)) + ")"
                                   for i in range(n))
                    sql = "INSERT INTO shop_orders (" + ", ".join(COLUMNS) + ") VALUES " + ph
                    await self.timed(c.execute(sql, *[v for r in rows for v in r]))
                elif kind == "select":
                    cols = list(zip(*rows))
                    sql = ("INSERT INTO shop_orders (" + ", ".join(COLUMNS) + ") "
                           "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], "
                           "$5::text[], $6::numeric[], $7::text[], $8::text[], $9::timestamptz[])")
                    await self.timed(c.execute(sql, *[list(col) for col in cols]))
                else:
                    tx = c.transaction()
                    await tx.start()
                    await self.timed(c.copy_records_to_table("shop_orders", records=rows,
                                                             columns=COLUMNS))
                    await self.timed(tx.commit(), commit=True)
                inserted = orders
            elif kind in ("pay", "refund"):
                if kind == "pay":
                    claimed = self.ledger.pick(rng, rng.randint(2, 8),
                                               lambda o: o["status"] == "pending")
                    new_status = lambda: rng.choice(PAID)      # noqa: E731
                else:
                    claimed = self.ledger.pick(rng, rng.randint(2, 8), lambda o: is_paid(o["status"]))
                    new_status = lambda: rng.choice(["refunded", "refunded", "cancelled"])  # noqa: E731
                if not claimed:
                    return await self.one("single")
                rng.shuffle(claimed)
                tx = c.transaction()
                await tx.start()
                if rng.random() < 0.5:
                    st = new_status()
                    await self.timed(c.execute(
                        "UPDATE shop_orders SET payment_status = $1, updated_at = now() "
                        "WHERE id = ANY($2::uuid[])", st, claimed))
                    for i in claimed:
                        changes[i] = dict(self.ledger.orders[i], status=st)
                else:
                    args = []
                    for i in claimed:
                        st = new_status()
                        args.append((st, i))
                        changes[i] = dict(self.ledger.orders[i], status=st)
                    await self.timed(c.executemany(
                        "UPDATE shop_orders SET payment_status = $1, updated_at = now() WHERE id = $2",
                        args))
                await self.timed(tx.commit(), commit=True)
            elif kind == "delete":
                claimed = self.ledger.pick(rng, rng.randint(1, 3), lambda o: True)
                if not claimed:
                    return await self.one("single")
                await self.timed(c.execute("DELETE FROM shop_orders WHERE id = ANY($1::uuid[])",
                                           claimed))
                for i in claimed:
                    changes[i] = None
            elif kind == "edit":
                claimed = self.ledger.pick(rng, rng.randint(1, 3), lambda o: True)
                if not claimed:
                    return await self.one("single")
                rng.shuffle(claimed)
                tx = c.transaction()
                await tx.start()
                for i in claimed:
                    o = dict(self.ledger.orders[i])
                    what = rng.choice(["amount", "phone", "shop", "network", "at"])
                    if what == "amount":
                        o["amount"] = Decimal(rng.randrange(100, 20000)) / 100
                        sql, val = "UPDATE shop_orders SET total_price = $1 WHERE id = $2", o["amount"]
                    elif what == "phone":
                        o["phone"] = rng.choice(PHONES[rng.randrange(NPEOPLE)])
                        sql, val = "UPDATE shop_orders SET customer_phone = $1 WHERE id = $2", o["phone"]
                    elif what == "shop":
                        o["shop"] = rng.choice(SHOPS)
                        sql, val = "UPDATE shop_orders SET shop_id = $1 WHERE id = $2", o["shop"]
                    elif what == "network":
                        o["network"] = rng.choice(NETWORKS)
                        sql, val = "UPDATE shop_orders SET network = $1 WHERE id = $2", o["network"]
                    else:
                        o["at"] = BASE_TIME + dt.timedelta(hours=6 * rng.randrange(0, 240))
                        sql, val = "UPDATE shop_orders SET created_at = $1 WHERE id = $2", o["at"]
                    await self.timed(c.execute(sql, val, i))
                    changes[i] = o
                await self.timed(tx.commit(), commit=True)
            elif kind == "open":
                o = new_order(rng)
                pay_later = o["status"] == "pending" and rng.random() < 0.5
                tx = c.transaction()
                await tx.start()
                await self.timed(c.execute(INSERT_ONE, *as_row(o)))
                # The application calls the payment provider inside the transaction.
                await asyncio.sleep(rng.uniform(0.1, 0.6))
                if pay_later:
                    o["status"] = "paid"
                    await self.timed(c.execute(
                        "UPDATE shop_orders SET payment_status = 'paid' WHERE id = $1", o["id"]))
                await self.timed(tx.commit(), commit=True)
                inserted = [o]
            else:  # single
                o = new_order(rng)
                await self.timed(c.execute(INSERT_ONE, *as_row(o)))
                inserted = [o]
            tx = None
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            if tx is not None:
                try:
                    await tx.rollback()
                except Exception:   # noqa: BLE001 (the connection may be gone)
                    pass
            self.stats.tx_failed += 1
            self.stats.by_kind[kind][1] += 1
            code = getattr(e, "sqlstate", None)
            if code == "40P01":
                self.stats.deadlocks += 1
            elif code == "40001":
                self.stats.serialization += 1
            else:
                self.stats.errors += 1
            if len(self.stats.error_samples) < 5:
                self.stats.error_samples.append("%s %s: %s" % (kind, code, str(e).splitlines()[0]))
            return
        finally:
            self.ledger.release(claimed)
        # Committed.
        self.stats.tx_ok += 1
        self.stats.by_kind[kind][0] += 1
        for o in inserted:
            self.ledger.orders[o["id"]] = ledger_state(o)
        self.stats.orders_inserted += len(inserted)
        for i, st in changes.items():
            if st is None:
                del self.ledger.orders[i]
            else:
                self.ledger.orders[i] = st


SAMPLE_SQL = """
SELECT (SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock') AS waiting,
       (SELECT coalesce(extract(epoch FROM max(now() - l.waitstart)), 0)
          FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE NOT l.granted AND a.datname = current_database()) AS max_wait,
       (SELECT count(*) FROM pg_stat_activity a
         WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'
           AND EXISTS (SELECT 1 FROM pg_stat_activity b
                        WHERE b.pid = ANY (pg_blocking_pids(a.pid))
                          AND b.state IN ('idle in transaction', 'idle in transaction (aborted)'))
       ) AS behind_open
"""


CONFIRM_SQL = """
SELECT count(*) FROM pg_stat_activity a
 WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'
   AND EXISTS (SELECT 1 FROM pg_stat_activity b
                WHERE b.pid = ANY (pg_blocking_pids(a.pid))
                  AND b.state IN ('idle in transaction', 'idle in transaction (aborted)'))
"""


async def sampler(conn, stats, stop):
    """Every 0.2 s: how many clients wait for a lock, the longest wait, and whether any waits
    for a transaction that is idle between statements (an open transaction blocking others)."""
    while not stop.is_set():
        try:
            r = await conn.fetchrow(SAMPLE_SQL)
        except asyncpg.PostgresError:
            r = None
        if r is not None:
            stats.samples += 1
            if r["waiting"]:
                stats.samples_waiting += 1
            stats.max_waiting = max(stats.max_waiting, r["waiting"])
            stats.max_lock_wait = max(stats.max_lock_wait, float(r["max_wait"]))
            if r["behind_open"]:
                # Confirmed by a second look (a new transaction, so fresh pg_stat_activity
                # data): the first can pair a live pg_blocking_pids() with the state a committing
                # transaction had just before its COMMIT arrived.
                try:
                    again = await conn.fetchval(CONFIRM_SQL)
                except asyncpg.PostgresError:
                    again = 0
                if again:
                    stats.blocked_by_open_tx += 1
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except asyncio.TimeoutError:
            pass


async def setup(conn):
    # Every person's four spellings must be one valid number, else the test would test nothing.
    for formats in PHONES:
        e164 = {await conn.fetchval("SELECT normalize_phone($1)", f) for f in formats}
        if len(e164) != 1 or None in e164:
            raise SystemExit("driver: bad test phone numbers %s -> %s" % (formats, e164))
    await conn.executemany(
        "INSERT INTO user_shops (id, user_id, shop_name, shop_slug) VALUES ($1, $2, $3, $4)",
        [(s, uuid.UUID(int=s.int + 1), "Driver shop %d" % (i + 1), SLUGS[s])
         for i, s in enumerate(SHOPS)])


async def check(conn, ledger):
    """Compares shop_orders with the ledger. Returns (lost, wrong, extra, samples)."""
    rows = await conn.fetch(
        "SELECT id, shop_id, customer_phone, total_price, payment_status, network, created_at, "
        "shop_slug FROM shop_orders")
    db = {r["id"]: r for r in rows}
    lost = wrong = extra = 0
    samples = []
    for i, o in ledger.orders.items():
        r = db.get(i)
        if r is None:
            lost += 1
            if len(samples) < 5:
                samples.append("lost order %s %s" % (i, o))
            continue
        got = {"shop": r["shop_id"], "phone": r["customer_phone"], "amount": r["total_price"],
               "status": r["payment_status"], "network": r["network"], "at": r["created_at"],
               "slug": r["shop_slug"]}
        if got != o:
            wrong += 1
            if len(samples) < 5:
                samples.append("wrong order %s: expected %s, found %s" % (i, o, got))
    for i in db:
        if i not in ledger.orders:
            extra += 1
            if len(samples) < 5:
                samples.append("unexpected order %s (its transaction failed or it was deleted)" % i)
    return lost, wrong, extra, samples


async def main():
    stats = Stats()
    ledger = Ledger()
    settings = {"client_min_messages": "warning", "application_name": "ct_driver"}
    admin = await asyncpg.connect(database=DB, server_settings=settings)
    await setup(admin)
    print("driver: %d clients, %.0f s, %d shops x %d people (phones typed 4 ways), seed %d, "
          "asyncpg %s, database %s" % (CLIENTS, SECONDS, NSHOPS, NPEOPLE, SEED,
                                       asyncpg.__version__, DB), flush=True)
    conns = [await asyncpg.connect(database=DB, server_settings=settings) for _ in range(CLIENTS)]
    sconn = await asyncpg.connect(database=DB, server_settings={"application_name": "ct_driver_sampler"})
    stop = asyncio.Event()
    t0 = time.monotonic()
    deadline = t0 + SECONDS
    samp = asyncio.ensure_future(sampler(sconn, stats, stop))
    await asyncio.gather(*(Client(n, conns[n], ledger, stats, deadline).run() for n in range(CLIENTS)))
    elapsed = time.monotonic() - t0
    stop.set()
    await samp
    for c in conns:
        await c.close()
    await sconn.close()

    lost, wrong, extra, samples = await check(admin, ledger)
    t1 = time.monotonic()
    verify = await admin.fetchval("SELECT count(*) FROM customer_tracking_verify()")
    verify_s = time.monotonic() - t1
    if verify:
        for r in await admin.fetch("SELECT problem, count(*) AS n FROM customer_tracking_verify() "
                                   "GROUP BY 1 ORDER BY 2 DESC LIMIT 10"):
            print("  verify: %s x %d" % (r["problem"], r["n"]))
    shape = await admin.fetchrow(
        "SELECT (SELECT count(*) FROM shop_orders) AS orders, "
        "(SELECT count(*) FROM shop_customers) AS customers, "
        "(SELECT max(total_orders) FROM shop_customers) AS max_orders")
    await admin.close()

    print("transactions by kind (committed/failed): " + ", ".join(
        "%s %d/%d" % (k, v[0], v[1]) for k, v in stats.by_kind.items()))
    for s in stats.error_samples:
        print("  error: " + s)
    for s in samples:
        print("  ledger: " + s)
    print("left in the database: %d orders, %d customers, max %s orders per customer"
          % (shape["orders"], shape["customers"], shape["max_orders"]))
    print("lock waits: %d of %d samples had clients waiting (max %d at once), longest wait seen "
          "%.2f s; longest statement %.2f s, longest COMMIT %.2f s (informational)"
          % (stats.samples_waiting, stats.samples, stats.max_waiting, stats.max_lock_wait,
             stats.max_stmt, stats.max_commit))
    fails = []
    if stats.deadlocks:
        fails.append("%d deadlocks" % stats.deadlocks)
    if stats.serialization:
        fails.append("%d serialization failures" % stats.serialization)
    if stats.errors:
        fails.append("%d errors" % stats.errors)
    if lost or wrong or extra:
        fails.append("ledger: %d lost, %d wrong, %d unexpected orders" % (lost, wrong, extra))
    if stats.blocked_by_open_tx:
        fails.append("%d samples with a client waiting for an open (idle) transaction"
                     % stats.blocked_by_open_tx)
    if verify:
        fails.append("customer_tracking_verify() returned %d rows" % verify)
    if stats.tx_ok == 0:
        fails.append("no transaction committed")
    result = "FAIL" if fails else "PASS"
    for f in fails:
        print("FAIL: " + f)
    print("driver: %s clients=%d duration=%.0fs transactions=%d committed=%d failed=%d "
          "orders_inserted=%d orders/s=%.0f deadlocks=%d serialization=%d errors=%d lost=%d "
          "wrong=%d blocked_by_open_tx=%d max_lock_wait=%.2fs verify_rows=%d (verify %.1fs) seed=%d"
          % (result, CLIENTS, elapsed, stats.tx_ok + stats.tx_failed, stats.tx_ok,
             stats.tx_failed, stats.orders_inserted, stats.orders_inserted / elapsed,
             stats.deadlocks, stats.serialization, stats.errors, lost, wrong + extra,
             stats.blocked_by_open_tx, stats.max_lock_wait, verify, verify_s, SEED))
    return 0 if not fails else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
