#!/usr/bin/env python3
"""Differential fuzz test of the order write path.

Random sequences of order operations on one connection (psycopg): single and multi-row INSERT,
INSERT ... ON CONFLICT, MERGE, payments, refunds, batch status updates, deletes (also every order
of a customer), edits of phone / amount / shop / slug / created_at / network (alone or several in
one UPDATE, no-op updates too), multi-statement transactions, savepoints with ROLLBACK TO or
RELEASE, transactions rolled back, two-phase commit (PREPARE TRANSACTION, COMMIT / ROLLBACK
PREPARED), and session setting changes (customer_tracking.direct_writes, TimeZone). Bad input
too: invalid, foreign and missing phones, negative and NaN amounts, unknown statuses, overlong
networks and slugs.

After every step (a transaction, committed or not) the customers are recomputed here, in Python,
from shop_orders (phones normalised with the extension's normalize_phone(), nothing else of the
extension used) and compared with shop_customers: which customers exist, their orders,
purchases, total spent, first / last purchase, first order and slug, preferred network, purchases
per network, repeat flag, every order's link; and per shop shop_customer_metrics()' customers,
repeat customers and revenue. Every CT_FUZZ_VERIFY_EVERY steps (and at the end)
customer_tracking_verify() must be empty (it also checks the ledger and every rollup). The
client's own model of the orders must equal shop_orders (nothing lost or changed).

Generation depends only on the seed (the model, never the server's answers), so a seed and a step
count replay the same run. On failure: the seed, the failing step and its SQL, the differences,
the SQL history of the orders involved, and a replay file of every statement so far.

Usage: fuzz_orders.py DBNAME (a database with the host schema and the extension, no orders).
Environment: CT_FUZZ_SEED (random), CT_FUZZ_STEPS (2000; 20000 when CT_LONG_TESTS=1),
CT_FUZZ_VERIFY_EVERY (10), CT_FUZZ_OUT (directory for the replay file; default build/).
Prints "fuzz: PASS|FAIL ..."; exit status 0 = pass.
"""
import datetime as dt
import os
import random
import sys
import time
import uuid
from decimal import Decimal

import psycopg

DB = sys.argv[1] if len(sys.argv) > 1 else "ct_fuzz"
LONG = os.environ.get("CT_LONG_TESTS", "0") == "1"
SEED = int(os.environ.get("CT_FUZZ_SEED") or random.SystemRandom().randrange(1, 2**31))
STEPS = int(os.environ.get("CT_FUZZ_STEPS", "20000" if LONG else "2000"))
VERIFY_EVERY = int(os.environ.get("CT_FUZZ_VERIFY_EVERY", "10"))
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.environ.get("CT_FUZZ_OUT") or os.path.join(ROOT, "build")

SHOPS = [uuid.UUID("f0000000-0000-4000-8000-00000000000%d" % i) for i in (1, 2, 3)]
SHOP_SLUGS = {s: "fuzz-shop-%d" % (i + 1) for i, s in enumerate(SHOPS)}
PREFIXES = ["24", "54", "20", "50", "26", "57"]
NPEOPLE = 8



def network_name(network):
    """The one spelling of a network (README: trimmed, ASCII letters upper-cased, clipped to 50
    characters; blank = none), written here independently of the extension."""
    if network is None:
        return None
    name = network.strip(" \t\n\r\f\v")
    name = "".join(chr(ord(ch) - 32) if "a" <= ch <= "z" else ch for ch in name)
    return name[:50] if name else None

def person_phones(p):
    prefix = PREFIXES[p % len(PREFIXES)]
    d = "%07d" % (2345678 + p * 104729 % 7000000)
    return ["0%s%s" % (prefix, d), "0%s %s %s" % (prefix, d[:3], d[3:]),
            "+233 %s %s %s" % (prefix, d[:3], d[3:]), "233%s%s" % (prefix, d),
            "(0%s) %s-%s" % (prefix, d[:3], d[3:])]


PEOPLE = [person_phones(p) for p in range(NPEOPLE)]
BAD_PHONES = [None, "", "n/a", "12", "call me", "0" * 40]
FOREIGN = ["+44 7911 123456", "+1 202 555 0143"]
PAID = ["paid", "PAID", " completed ", "Success", "paid\t"]
UNPAID = ["pending", "failed", "refunded", "cancelled", "Pending", "expired"]
UNKNOWN = ["weird", "on-hold"]
NETWORKS = ["MTN", "Telecel", "AirtelTigo", "Glo"]
LONG_NETWORK = "N" * 60
LONG_SLUG = "s" * 300
BASE = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
PAID_SET = ("paid", "completed", "success")
COLS = ["id", "shop_id", "customer_name", "customer_phone", "network", "total_price",
        "payment_status", "shop_slug", "created_at"]
FIELDS = ["shop", "name", "phone", "network", "amount", "status", "slug", "at"]


def lit(v):
    """SQL literal (standard_conforming_strings is on)."""
    if v is None:
        return "NULL"
    if isinstance(v, uuid.UUID):
        return "'%s'" % v
    if isinstance(v, Decimal):
        return "'NaN'::numeric" if v.is_nan() else str(v)
    if isinstance(v, dt.datetime):
        return "'%s'" % v.strftime("%Y-%m-%d %H:%M:%S+00")
    return "'" + str(v).replace("'", "''") + "'"


class Gen:
    """Random order operations over a model of the orders (id -> fields)."""

    def __init__(self, rng):
        self.rng = rng

    def uid(self):
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def phone(self):
        r = self.rng.random()
        if r < 0.05:
            return self.rng.choice(BAD_PHONES)
        if r < 0.08:
            return self.rng.choice(FOREIGN)
        return self.rng.choice(self.rng.choice(PEOPLE))

    def amount(self):
        r = self.rng.random()
        if r < 0.02:
            return Decimal("-5.00")
        if r < 0.03:
            return Decimal("NaN")
        if r < 0.06:
            return Decimal("0.00")
        return Decimal(self.rng.randrange(1, 50000)) / 100

    def status(self):
        r = self.rng.random()
        if r < 0.5:
            return self.rng.choice(PAID)
        if r < 0.96:
            return self.rng.choice(UNPAID)
        return self.rng.choice(UNKNOWN)

    def network(self):
        r = self.rng.random()
        if r < 0.05:
            return None
        if r < 0.07:
            return LONG_NETWORK
        return self.rng.choice(NETWORKS)

    def slug(self, shop):
        return self.rng.choice([SHOP_SLUGS[shop], SHOP_SLUGS[shop], "promo", "ig", None, "",
                                LONG_SLUG if self.rng.random() < 0.1 else "promo"])

    def at(self):
        # A coarse grid: several orders of a customer often share an instant (ties by order id).
        return BASE + dt.timedelta(hours=12 * self.rng.randrange(0, 60))

    def new_order(self):
        shop = self.rng.choice(SHOPS)
        return {"id": self.uid(), "shop": shop, "name": self.rng.choice(["Ama", "Kofi", None, "Esi"]),
                "phone": self.phone(), "network": self.network(), "amount": self.amount(),
                "status": self.status(), "slug": self.slug(shop), "at": self.at()}

    def pick(self, orders, n, pred=lambda o: True):
        ids = sorted((i for i, o in orders.items() if pred(o)), key=lambda u: u.int)
        if not ids:
            return []
        return self.rng.sample(ids, min(n, len(ids)))

    def statement(self, orders):
        """One statement: (sql, touched ids, function applying it to a model)."""
        rng = self.rng
        kinds = [("insert", 24), ("multi_insert", 14), ("pay", 12), ("refund", 8), ("edit", 20),
                 ("batch_status", 5), ("delete", 6), ("upsert", 4), ("merge", 3),
                 ("delete_customer", 2), ("noop", 2)]
        if len(orders) > 200:
            kinds += [("delete", 20), ("delete_customer", 10)]
        if not orders:
            kinds = [("insert", 1), ("multi_insert", 1)]
        kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]

        def ins_sql(rows):
            return ("INSERT INTO shop_orders (" + ", ".join(COLS) + ") VALUES " + ", ".join(
                "(" + ", ".join(lit(v) for v in (o["id"], o["shop"], o["name"], o["phone"],
                                                 o["network"], o["amount"], o["status"],
                                                 o["slug"], o["at"])) + ")" for o in rows))

        if kind in ("insert", "multi_insert"):
            rows = [self.new_order() for _ in range(1 if kind == "insert" else rng.randint(2, 6))]

            def apply(m, rows=rows):
                for o in rows:
                    m[o["id"]] = {k: o[k] for k in FIELDS}
            return ins_sql(rows), [o["id"] for o in rows], apply
        if kind in ("pay", "refund", "batch_status"):
            if kind == "pay":
                ids = self.pick(orders, 1, lambda o: o["status"].strip().lower() not in PAID_SET)
                st = rng.choice(PAID)
            elif kind == "refund":
                ids = self.pick(orders, 1, lambda o: o["status"].strip().lower() in PAID_SET)
                st = rng.choice(["refunded", "cancelled", "failed"])
            else:
                ids = self.pick(orders, rng.randint(2, 6))
                st = self.status()
            if not ids:
                return self.statement({})
            sql = "UPDATE shop_orders SET payment_status = %s WHERE id IN (%s)" % (
                lit(st), ", ".join(lit(i) for i in ids))

            def apply(m, ids=ids, st=st):
                for i in ids:
                    m[i]["status"] = st
            return sql, ids, apply
        if kind in ("edit", "noop"):
            (i,) = self.pick(orders, 1)
            o = orders[i]
            if kind == "noop":
                return ("UPDATE shop_orders SET total_price = total_price, updated_at = now() "
                        "WHERE id = %s" % lit(i)), [i], lambda m: None
            what = rng.sample(["phone", "amount", "shop", "slug", "at", "network", "status",
                               "same_person"], rng.choice([1, 1, 1, 2, 3]))
            new = {}
            for w in what:
                if w == "phone":
                    new["phone"] = self.phone()
                elif w == "same_person":
                    # The same customer typed another way (no change of customer).
                    for p in PEOPLE:
                        if o["phone"] in p:
                            new["phone"] = rng.choice(p)
                elif w == "amount":
                    new["amount"] = self.amount()
                elif w == "shop":
                    new["shop"] = rng.choice(SHOPS)
                elif w == "slug":
                    new["slug"] = self.slug(new.get("shop", o["shop"]))
                elif w == "at":
                    new["at"] = self.at()
                elif w == "network":
                    new["network"] = self.network()
                else:
                    new["status"] = self.status()
            if not new:
                new["amount"] = self.amount()
            col = {"phone": "customer_phone", "amount": "total_price", "shop": "shop_id",
                   "slug": "shop_slug", "at": "created_at", "network": "network",
                   "status": "payment_status"}
            sql = "UPDATE shop_orders SET %s WHERE id = %s" % (
                ", ".join("%s = %s" % (col[k], lit(v)) for k, v in new.items()), lit(i))

            def apply(m, i=i, new=new):
                m[i].update(new)
            return sql, [i], apply
        if kind == "delete":
            ids = self.pick(orders, rng.randint(1, 2))
            sql = "DELETE FROM shop_orders WHERE id IN (%s)" % ", ".join(lit(i) for i in ids)

            def apply(m, ids=ids):
                for i in ids:
                    del m[i]
            return sql, ids, apply
        if kind == "delete_customer":
            shop = rng.choice(SHOPS)
            p = rng.choice(PEOPLE)
            ids = sorted((i for i, o in orders.items() if o["shop"] == shop and o["phone"] in p),
                         key=lambda u: u.int)
            if not ids:
                return self.statement(orders)
            sql = "DELETE FROM shop_orders WHERE shop_id = %s AND customer_phone IN (%s)" % (
                lit(shop), ", ".join(lit(x) for x in p))

            def apply(m, ids=ids):
                for i in ids:
                    del m[i]
            return sql, ids, apply
        if kind == "upsert":
            # Some rows new, some existing (changed): INSERT ... ON CONFLICT (id) DO UPDATE.
            rows = [self.new_order() for _ in range(rng.randint(0, 2))]
            for i in self.pick(orders, rng.randint(1, 2)):
                o = dict(orders[i], id=i)
                o["status"] = self.status()
                if rng.random() < 0.5:
                    o["amount"] = self.amount()
                if rng.random() < 0.3:
                    o["phone"] = self.phone()
                rows.append(o)
            rng.shuffle(rows)
            sql = ins_sql(rows) + (" ON CONFLICT (id) DO UPDATE SET payment_status = excluded.payment_status,"
                                   " total_price = excluded.total_price,"
                                   " customer_phone = excluded.customer_phone")

            def apply(m, rows=rows):
                for o in rows:
                    if o["id"] in m:
                        m[o["id"]].update(status=o["status"], amount=o["amount"], phone=o["phone"])
                    else:
                        m[o["id"]] = {k: o[k] for k in FIELDS}
            return sql, [o["id"] for o in rows], apply
        # merge: update some existing orders' status and amount, insert one new order.
        upd = [(i, self.status(), self.amount()) for i in self.pick(orders, rng.randint(1, 3))]
        newo = self.new_order()
        src = ", ".join("(%s::uuid, %s, %s::numeric)" % (lit(i), lit(s), lit(a)) for i, s, a in upd)
        src += ", (%s::uuid, %s, %s::numeric)" % (lit(newo["id"]), lit(newo["status"]), lit(newo["amount"]))
        sql = ("MERGE INTO shop_orders o USING (VALUES %s) AS v(id, status, amount) ON o.id = v.id "
               "WHEN MATCHED THEN UPDATE SET payment_status = v.status, total_price = v.amount "
               "WHEN NOT MATCHED THEN INSERT (%s) VALUES (v.id, %s, %s, %s, %s, v.amount, v.status, %s, %s)"
               % (src, ", ".join(COLS), lit(newo["shop"]), lit(newo["name"]), lit(newo["phone"]),
                  lit(newo["network"]), lit(newo["slug"]), lit(newo["at"])))

        def apply(m, upd=upd, newo=newo):
            for i, s, a in upd:
                m[i].update(status=s, amount=a)
            m[newo["id"]] = {k: newo[k] for k in FIELDS}
        return sql, [i for i, _, _ in upd] + [newo["id"]], apply


def clone(model):
    """A copy of the model (field values are immutable)."""
    return {k: dict(v) for k, v in model.items()}


def step_plan(gen, model, can_prepare):
    """One step: a list of (sql, ids) and the model after it."""
    rng = gen.rng
    kinds = [("auto", 45), ("multi", 22), ("savepoint", 15), ("rollback", 7), ("setting", 4)]
    if can_prepare:
        kinds.append(("prepare", 5))
    kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
    stmts = []
    work = clone(model)

    def some(n):
        for _ in range(n):
            sql, ids, apply = gen.statement(work)
            apply(work)
            stmts.append((sql, ids))

    if kind == "auto":
        some(1)
        return kind, stmts, work
    if kind == "setting":
        if rng.random() < 0.5:
            stmts.append(("SET customer_tracking.direct_writes = %s" % rng.choice(["on", "off"]), []))
        else:
            stmts.append(("SET TimeZone = %s" % lit(rng.choice(
                ["UTC", "Africa/Accra", "America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati"])), []))
        return kind, stmts, work
    stmts.append(("BEGIN", []))
    if kind == "multi":
        some(rng.randint(2, 5))
        stmts.append(("COMMIT", []))
        return kind, stmts, work
    if kind == "rollback":
        some(rng.randint(1, 4))
        stmts.append(("ROLLBACK", []))
        return kind, stmts, model
    if kind == "prepare":
        some(rng.randint(1, 4))
        stmts.append(("PREPARE TRANSACTION 'ct_fuzz'", []))
        if rng.random() < 0.8:
            stmts.append(("COMMIT PREPARED 'ct_fuzz'", []))
            return kind, stmts, work
        stmts.append(("ROLLBACK PREPARED 'ct_fuzz'", []))
        return kind, stmts, model
    # savepoint: statements, SAVEPOINT, statements (maybe a nested savepoint), ROLLBACK TO or
    # RELEASE, statements, COMMIT.
    some(rng.randint(0, 2))
    saved = clone(work)
    stmts.append(("SAVEPOINT a", []))
    some(rng.randint(1, 3))
    if rng.random() < 0.3:
        saved_b = clone(work)
        stmts.append(("SAVEPOINT b", []))
        some(rng.randint(1, 2))
        if rng.random() < 0.5:
            stmts.append(("ROLLBACK TO SAVEPOINT b", []))
            work.clear()
            work.update(saved_b)
    if rng.random() < 0.6:
        stmts.append(("ROLLBACK TO SAVEPOINT a", []))
        work.clear()
        work.update(saved)
    else:
        stmts.append(("RELEASE SAVEPOINT a", []))
    some(rng.randint(0, 2))
    stmts.append(("COMMIT", []))
    return kind, stmts, work


def is_purchase(status):
    return status is not None and status.strip(" \t\n\r\f\v").translate(
        str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")) in PAID_SET


def recompute(orders):
    """Customers from the orders: (shop, e164) -> expected stats."""
    cust = {}
    for o in orders:
        a = o["amount"]
        if o["e164"] is None or a is None or a.is_nan() or a < 0 or o["at"] is None:
            continue
        c = cust.setdefault((o["shop"], o["e164"]), {"orders": 0, "purchases": 0, "spent": Decimal(0),
                                                    "buys": [], "nets": {}})
        c["orders"] += 1
        if is_purchase(o["status"]):
            c["purchases"] += 1
            c["spent"] += a
            c["buys"].append(o)
            n = network_name(o["network"])
            if n is not None:
                c["nets"][n] = c["nets"].get(n, 0) + 1
    out = {}
    for k, c in cust.items():
        buys = sorted(c["buys"], key=lambda o: (o["at"], o["id"].bytes))
        nets = c["nets"]
        pref = None
        if nets:
            pref = sorted(nets.items(), key=lambda kv: (-kv[1], kv[0].encode()))[0][0]
        out[k] = {
            "total_orders": c["orders"], "total_purchases": c["purchases"], "total_spent": c["spent"],
            "first_purchase_at": buys[0]["at"] if buys else None,
            "last_purchase_at": max(o["at"] for o in buys) if buys else None,
            "first_order_id": buys[0]["id"] if buys else None,
            "first_source_slug": (buys[0]["slug"][:255] if buys[0]["slug"] is not None else None) if buys else None,
            "preferred_network": pref, "network_purchases": nets,
            "repeat_customer": c["purchases"] >= 2,
        }
    return out


class Fuzz:
    def __init__(self):
        self.conn = psycopg.connect(dbname=DB, autocommit=True,
                                    options="-c client_min_messages=error")
        self.history = []      # (step, sql, ids)
        self.t0 = time.monotonic()
        self.statements = 0
        self.verifies = 0
        self.prepares = 0
        self.max_orders = 0
        self.kinds = {}
        self.involved = set()

    def q(self, sql):
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None

    def check(self, model, full):
        problems = []
        self.involved = set()
        rows = self.q("SELECT id, shop_id, customer_name, customer_phone, network, total_price, payment_status, "
                      "shop_slug, created_at, normalize_phone(customer_phone), shop_customer_id FROM shop_orders")
        orders = []
        db_ids = set()
        for r in rows:
            o = dict(zip(["id", "shop", "name", "phone", "network", "amount", "status", "slug", "at",
                          "e164", "link"], r))
            orders.append(o)
            db_ids.add(o["id"])
            m = model.get(o["id"])
            if m is None:
                problems.append("order %s is in shop_orders but not in the client's model" % o["id"])
                continue
            for f in FIELDS:
                a, b = m[f], o[f]
                same = (a.is_nan() and b.is_nan()) if isinstance(a, Decimal) and a.is_nan() else a == b
                if not same:
                    problems.append("order %s: %s is %r in shop_orders, %r in the model" % (o["id"], f, b, a))
        for i in model:
            if i not in db_ids:
                problems.append("order %s of the model is missing from shop_orders (lost)" % i)
        expected = recompute(orders)
        stored = {}
        for r in self.q("SELECT id, shop_id, phone_number, total_orders, total_purchases, total_spent, "
                        "first_purchase_at, last_purchase_at, first_order_id, first_source_slug, "
                        "preferred_network, network_purchases, repeat_customer FROM shop_customers"):
            d = dict(zip(["id", "shop", "phone", "total_orders", "total_purchases", "total_spent",
                          "first_purchase_at", "last_purchase_at", "first_order_id", "first_source_slug",
                          "preferred_network", "network_purchases", "repeat_customer"], r))
            stored[(d["shop"], d["phone"])] = d
        for k in sorted(set(expected) | set(stored), key=str):
            e, s = expected.get(k), stored.get(k)
            if s is None:
                problems.append("customer %s/%s missing from shop_customers (expected %s)" % (k[0], k[1], e))
                self.involved.update(o["id"] for o in orders if (o["shop"], o["e164"]) == k)
                continue
            if e is None:
                problems.append("customer %s/%s in shop_customers has no tracked order (stored %s)"
                                % (k[0], k[1], {x: s[x] for x in ("total_orders", "total_purchases")}))
                self.involved.update(o["id"] for o in orders if o["link"] == s["id"])
                continue
            bad = False
            for f, v in e.items():
                if s[f] != v:
                    bad = True
                    problems.append("customer %s/%s: %s stored %r, expected %r" % (k[0], k[1], f, s[f], v))
            if bad:
                self.involved.update(o["id"] for o in orders if (o["shop"], o["e164"]) == k or o["link"] == s["id"])
        for o in orders:
            a = o["amount"]
            tracked = not (o["e164"] is None or a.is_nan() or a < 0)
            want = stored.get((o["shop"], o["e164"]), {}).get("id") if tracked else None
            if o["link"] != want:
                problems.append("order %s linked to %s, expected %s" % (o["id"], o["link"], want))
        for shop in SHOPS:
            ex = [c for (s, _), c in expected.items() if s == shop and c["total_purchases"] > 0]
            want = (len(ex), sum(1 for c in ex if c["total_purchases"] >= 2),
                    sum((c["total_spent"] for c in ex), Decimal(0)))
            got = self.q("SELECT total_customers, repeat_customers, total_revenue "
                         "FROM shop_customer_metrics('%s')" % shop)[0]
            if (got[0], got[1], got[2]) != want:
                problems.append("shop %s: shop_customer_metrics customers/repeat/revenue %s, expected %s"
                                % (shop, tuple(got), want))
        if full:
            self.verifies += 1
            for r in self.q("SELECT problem, shop_customer_id, shop_order_id, stored, expected "
                            "FROM customer_tracking_verify() LIMIT 20"):
                problems.append("verify(): %s customer=%s order=%s stored=%s expected=%s" % r)
        if self.q("SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'ct_fuzz'")[0][0]:
            problems.append("a prepared transaction was left behind")
        self.max_orders = max(self.max_orders, len(orders))
        return problems

    def fail(self, step, kind, stmts, problems, model):
        print("fuzz: FAIL at step %d of %d (%s), seed %d" % (step, STEPS, kind, SEED))
        print("the step's SQL:")
        for sql, _ in stmts:
            print("    " + sql + ";")
        print("differences (first 20 of %d):" % len(problems))
        for p in problems[:20]:
            print("  - " + p)
        os.makedirs(OUT_DIR, exist_ok=True)
        path = os.path.join(OUT_DIR, "fuzz-replay-%d.sql" % SEED)
        with open(path, "w") as f:
            f.write("-- customer_tracking fuzz replay, seed %d, failing at step %d.\n"
                    "-- Run on a fresh database with test/fixtures/host-schema.sql and the extension:\n"
                    "--   psql -v ON_ERROR_STOP=1 -d DB -f %s\n" % (SEED, step, path))
            f.write("SET client_min_messages = error;\n")
            f.write(self.shops_sql() + ";\n")
            for s, sql, _ in self.history:
                f.write("%s; -- step %d\n" % (sql, s))
        # The history of the orders involved (those named in the differences and the step).
        involved = {i for _, ids in stmts for i in ids} | self.involved
        for p in problems:
            for w in p.replace(",", " ").replace("/", " ").split():
                try:
                    involved.add(uuid.UUID(w))
                except ValueError:
                    pass
        hist = [(s, sql) for s, sql, ids in self.history if set(ids) & involved]
        print("history of the orders involved (%d of %d statements; full replay in %s):"
              % (len(hist), len(self.history), path))
        for s, sql in hist[-40:]:
            print("    step %5d: %s;" % (s, sql))
        print("reproduce: CT_FUZZ_SEED=%d CT_FUZZ_STEPS=%d bash test/scripts/fuzz_orders.sh"
              % (SEED, step))
        print("narrow it down: the history above, on a fresh database (host schema, extension, the "
              "shops: first lines of the replay file), often reproduces it alone; else the replay file "
              "cut after fewer steps")
        self.summary("FAIL", step)

    def shops_sql(self):
        return ("INSERT INTO user_shops (id, user_id, shop_slug) VALUES " + ", ".join(
            "(%s, %s, %s)" % (lit(s), lit(uuid.UUID(int=s.int + 7)), lit(SHOP_SLUGS[s])) for s in SHOPS))

    def summary(self, result, steps):
        print("fuzz: %s seed=%d steps=%d statements=%d verify_runs=%d max_orders=%d steps_by_kind=%s (%.1fs)"
              % (result, SEED, steps, self.statements, self.verifies, self.max_orders,
                 ",".join("%s:%d" % kv for kv in sorted(self.kinds.items())), time.monotonic() - self.t0))

    def run(self):
        print("fuzz: seed %d, %d steps, verify() every %d steps, database %s" % (SEED, STEPS, VERIFY_EVERY, DB),
              flush=True)
        self.q(self.shops_sql())
        can_prepare = int(self.q("SHOW max_prepared_transactions")[0][0]) > 0
        rng = random.Random(SEED)
        gen = Gen(rng)
        model = {}
        for step in range(1, STEPS + 1):
            kind, stmts, after = step_plan(gen, model, can_prepare)
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            problems = []
            for sql, ids in stmts:
                self.history.append((step, sql, ids))
                self.statements += 1
                try:
                    self.q(sql)
                except psycopg.Error as e:
                    problems.append("statement failed: %s: %s" % (sql[:200], str(e).strip()))
                    try:
                        self.q("ROLLBACK")
                        self.q("ROLLBACK PREPARED 'ct_fuzz'")
                    except psycopg.Error:
                        pass
                    break
            if not problems:
                model = after
                problems = self.check(model, step % VERIFY_EVERY == 0 or step == STEPS)
            if problems:
                self.fail(step, kind, stmts, problems, model)
                return 1
        self.summary("PASS", STEPS)
        return 0


if __name__ == "__main__":
    sys.exit(Fuzz().run())
