#!/usr/bin/env python3
"""Loyalty codes and referrals from concurrent clients: real client code (asyncpg),
8 connections (CT_CODES_CLIENTS).

Run by test/scripts/driver_codes.sh, which creates the database (host schema with the optional
discount_code and referral_code columns, CREATE EXTENSION customer_tracking) and passes its name.

  1. last use: a code with 3 uses left, 8 connections each pay an order of its customer carrying
     it, all committing at once (a barrier after the INSERT, then COMMIT): exactly 3 orders hold a
     use, the other 5 are saved, counted and listed as discount_code_not_used; repeated ROUNDS
     times with a fresh code, half the rounds with early applies (customer_tracking_apply_pending()
     before COMMIT, as a bulk load does).
  2. daily limit: an advocate whose limit is 3 referrals a day; 8 connections each pay the first
     order of a different friend carrying the advocate's code at once: exactly 3 referrals
     pending, 5 blocked (daily_limit).
  3. mixed: for SECONDS, 8 connections pay, refund, cancel, delete and re-code orders of 6
     customers (each with 2 codes of 1-3 uses), several customers per transaction in random
     row order, no client retries. (No early applies here: two applies in one transaction lock
     customers in two rounds, which customer_tracking.apply_batch documents as not deadlock-free.)

Passes iff no client error at all (deadlock 40P01, serialization failure 40001 or other), every
order a committed transaction wrote is there, the counts above hold, no code ever holds more
uses than it allows, and customer_tracking_verify() and customer_tracking_verify_loyalty() are
empty. Prints "codes: PASS|FAIL ..."; exit status 0 = pass.

Usage: codes_race.py DBNAME   (connection from PGHOST, PGPORT, PGUSER)
Environment: CT_CODES_CLIENTS (8), CT_CODES_ROUNDS (6), CT_CODES_SECONDS (5), CT_CODES_SEED.
"""
import asyncio
import os
import random
import sys
import uuid

import asyncpg

DB = sys.argv[1] if len(sys.argv) > 1 else "ct_codes"
CLIENTS = int(os.environ.get("CT_CODES_CLIENTS", "8"))
ROUNDS = int(os.environ.get("CT_CODES_ROUNDS", "6"))
SECONDS = float(os.environ.get("CT_CODES_SECONDS", "5"))
SEED = int(os.environ.get("CT_CODES_SEED") or random.SystemRandom().randrange(1, 2**31))
SHOP = uuid.UUID("d1500000-0000-4000-8000-000000000001")
failures = []


def fail(msg):
    failures.append(msg)


async def connect():
    return await asyncpg.connect(database=DB, server_settings={"client_min_messages": "error"})


async def setup(conn):
    await conn.execute(
        "INSERT INTO user_shops (id, user_id, shop_slug) VALUES ($1, $1, 'codes-driver')", SHOP)


async def customer(conn, phone):
    """Makes the customer (one paid order) and returns its id."""
    await conn.execute(
        "INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status) "
        "VALUES ($1, $2, 1, 'paid')", SHOP, phone)
    return await conn.fetchval(
        "SELECT customer_tracking_customer_id($1, normalize_phone($2))", SHOP, phone)


async def last_use_round(conns, rnd, early):
    admin = conns[0]
    phone = "+23324150%04d" % rnd
    cust = await customer(admin, phone)
    code = await admin.fetchval(
        "SELECT customer_tracking_issue_code($1, $2, 'fixed', 1, NULL, 3)", SHOP, cust)
    barrier = asyncio.Barrier(len(conns))
    orders = [uuid.uuid4() for _ in conns]

    async def one(conn, order):
        try:
            tr = conn.transaction()
            await tr.start()
            await conn.execute(
                "INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, "
                "discount_code) VALUES ($1, $2, $3, 5, 'paid', $4)", order, SHOP, phone, code.lower())
            await barrier.wait()
            if early:
                # What a bulk load's early apply does: the customer's lock is taken now (the
                # others wait for it here), held until COMMIT.
                await conn.execute("SELECT customer_tracking_apply_pending()")
            await tr.commit()
        except Exception as e:  # noqa: BLE001 - any error fails the test
            fail("last use round %d: %s: %s" % (rnd, type(e).__name__, e))
            try:
                await barrier.abort()
            except Exception:  # noqa: BLE001
                pass

    await asyncio.gather(*(one(c, o) for c, o in zip(conns, orders)))
    held = await admin.fetchval(
        "SELECT count(*) FROM customer_tracking_code_uses WHERE shop_id = $1 AND code = $2", SHOP, code)
    uses = await admin.fetchval(
        "SELECT uses FROM customer_tracking_codes WHERE shop_id = $1 AND code = $2", SHOP, code)
    saved = await admin.fetchval(
        "SELECT count(*) FROM customer_tracking t WHERE t.shop_id = $1 AND t.id = ANY($2::uuid[]) "
        "AND t.purchase_completed", SHOP, orders)
    listed = await admin.fetchval(
        "SELECT count(*) FROM customer_tracking_issues WHERE shop_id = $1 AND shop_order_id = ANY($2::uuid[]) "
        "AND issue = 'discount_code_not_used' AND resolved_at IS NULL", SHOP, orders)
    want_listed = len(conns) - 3
    if (held, uses, saved, listed) != (3, 3, len(conns), want_listed):
        fail("last use round %d (early=%s): held %d, uses %d, counted %d of %d, listed %d (want 3, 3, %d, %d)"
             % (rnd, early, held, uses, saved, len(conns), listed, len(conns), want_listed))


async def daily_limit(conns):
    admin = conns[0]
    advocate = await customer(admin, "+233241590000")
    await admin.execute("SELECT customer_tracking_set_referral_settings($1, 7, 3)", SHOP)
    ref = await admin.fetchval("SELECT customer_tracking_referral_code($1, $2)", SHOP, advocate)
    barrier = asyncio.Barrier(len(conns))

    async def one(i, conn):
        try:
            tr = conn.transaction()
            await tr.start()
            await conn.execute(
                "INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status, referral_code) "
                "VALUES ($1, $2, 5, 'paid', $3)", SHOP, "+23355159%04d" % i, ref)
            await barrier.wait()
            await tr.commit()
        except Exception as e:  # noqa: BLE001
            fail("daily limit: %s: %s" % (type(e).__name__, e))

    await asyncio.gather(*(one(i, c) for i, c in enumerate(conns)))
    rows = await admin.fetch(
        "SELECT status, blocked_reason, count(*) AS n FROM shop_referrals($1) "
        "WHERE advocate_customer_id = $2 GROUP BY 1, 2 ORDER BY 1", SHOP, advocate)
    got = {(r["status"], r["blocked_reason"]): r["n"] for r in rows}
    want = {("pending", None): 3, ("blocked", "daily_limit"): len(conns) - 3}
    if got != want:
        fail("daily limit: %s (want %s)" % (got, want))


async def mixed(conns, rng):
    admin = conns[0]
    people = []
    for i in range(6):
        phone = "+23320150%04d" % i
        cust = await customer(admin, phone)
        codes = [await admin.fetchval(
            "SELECT customer_tracking_issue_code($1, $2, 'percent', 5, NULL, $3)", SHOP, cust, 1 + j % 3)
            for j in range(2)]
        people.append((phone, codes))
    claimed = set()
    written = {}
    stop = asyncio.get_running_loop().time() + SECONDS

    async def client(conn, crng):
        while asyncio.get_running_loop().time() < stop:
            batch = []
            for _ in range(crng.randint(1, 4)):
                phone, codes = crng.choice(people)
                kind = crng.random()
                if kind < 0.5 or not written:
                    batch.append(("insert", uuid.uuid4(), phone, crng.choice(codes + [None]),
                                  crng.choice(["paid", "paid", "pending"])))
                else:
                    oid = crng.choice(list(written))
                    if oid in claimed:
                        continue
                    claimed.add(oid)
                    batch.append((crng.choice(["pay", "refund", "cancel", "delete", "recode"]), oid,
                                  phone, crng.choice(codes + [None]), None))
            try:
                async with conn.transaction():
                    for op, oid, phone, code, status in batch:
                        if op == "insert":
                            await conn.execute(
                                "INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, "
                                "payment_status, discount_code) VALUES ($1, $2, $3, 2, $4, $5)",
                                oid, SHOP, phone, status, code)
                        elif op == "delete":
                            await conn.execute("DELETE FROM shop_orders WHERE id = $1", oid)
                        elif op == "recode":
                            await conn.execute("UPDATE shop_orders SET discount_code = $2 WHERE id = $1", oid, code)
                        else:
                            await conn.execute(
                                "UPDATE shop_orders SET payment_status = $2 WHERE id = $1", oid,
                                {"pay": "paid", "refund": "refunded", "cancel": "cancelled"}[op])
                for op, oid, _, _, _ in batch:
                    if op == "insert":
                        written[oid] = True
                    elif op == "delete":
                        written.pop(oid, None)
            except Exception as e:  # noqa: BLE001
                fail("mixed: %s: %s" % (type(e).__name__, e))
                return
            finally:
                for op, oid, _, _, _ in batch:
                    claimed.discard(oid)

    await asyncio.gather(*(client(c, random.Random(rng.random())) for c in conns))
    present = await admin.fetchval(
        "SELECT count(*) FROM shop_orders WHERE id = ANY($1::uuid[])", list(written))
    if present != len(written):
        fail("mixed: %d of %d committed orders are there" % (present, len(written)))


async def main():
    rng = random.Random(SEED)
    conns = [await connect() for _ in range(CLIENTS)]
    await setup(conns[0])
    for rnd in range(ROUNDS):
        await last_use_round(conns, rnd, early=rnd % 2 == 1)
    await daily_limit(conns)
    await mixed(conns, rng)
    admin = conns[0]
    over = await admin.fetchval("SELECT count(*) FROM customer_tracking_codes WHERE uses > max_uses")
    if over:
        fail("%d codes hold more uses than they allow" % over)
    problems = await admin.fetch("SELECT * FROM customer_tracking_verify_loyalty()")
    problems += await admin.fetch("SELECT problem, shop_order_id::text FROM customer_tracking_verify()")
    if problems:
        fail("verify: %s" % [tuple(p) for p in problems[:5]])
    uses = await admin.fetchval("SELECT count(*) FROM customer_tracking_code_uses")
    for c in conns:
        await c.close()
    status = "PASS" if not failures else "FAIL"
    print("codes: %s (seed %d, %d clients, %d last-use rounds, %d uses held at the end)%s"
          % (status, SEED, CLIENTS, ROUNDS, uses, "".join("\n  " + f for f in failures[:10])))
    return 0 if not failures else 1


sys.exit(asyncio.run(main()))
