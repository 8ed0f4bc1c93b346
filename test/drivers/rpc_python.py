#!/usr/bin/env python3
"""The dashboard functions from Python's drivers, called the way PostgREST calls them.

Run by test/scripts/driver_rpc.sh against a database with the demo orders, the driver fixture
(test/drivers/fixture.sql) and PostgREST's roles; connects as the login role `authenticator`.
Reads test/drivers/dashboard_spec.json and, for psycopg (Debian's python3-psycopg, async) and
asyncpg (python3-asyncpg):

  * schema cache: one function per name (PostgREST cannot choose between overloads), the shape
    of its result (a composite row, a set or a scalar) as the spec says;
  * RPC: one read-only transaction per call, `set_config('role', 'authenticated')` and
    `request.jwt.claims`, the arguments as a JSON object bound to named parameters, the JSON
    body PostgREST would send (an object, an array or a value) with each column's kind checked
    on the literal JSON (integers for counts, 2 decimals for money, 1 for rates);
  * direct calls with named arguments: the column types and the values each driver decodes
    (int, Decimal with its scale, UUID, aware datetime), the metrics row as one composite value
    (asyncpg decodes it; psycopg once the named type is registered);
  * keyset paging with the opaque cursor across session TimeZones, the deprecated
    p_after_value / p_after_id form, bad cursors refused;
  * a stranger sees zeros and empty lists, anon may not call the functions.

Usage: rpc_python.py DBNAME (PGHOST, PGPORT from the environment). Prints one line per check
group and "python drivers: PASS" or "... FAIL (n problems)"; exit status 0 = pass.
"""
import asyncio
import datetime
import decimal
import json
import os
import re
import sys
import uuid

import asyncpg
import psycopg
from psycopg.types.composite import CompositeInfo, register_composite
from psycopg.types.json import Jsonb

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = json.load(open(os.path.join(HERE, "dashboard_spec.json")))
SCHEMA = "public"
ROLE = "authenticated"

TYPE_OIDS = {
    "count": 20, "integer": 23, "money": 1700, "rate": 1700, "ratio": 1700, "numeric": 1700,
    "text": 25, "uuid": 2950, "timestamptz": 1184, "date": 1082, "boolean": 16, "jsonb": 3802,
    "void": 2278,
}
# Decimal places of the numeric kinds with a fixed scale.
SCALE = {"money": 2, "rate": 1, "ratio": 2}

# PostgREST's schema cache, for one function: its input arguments (name, type), whether it
# returns a set, whether its result is a composite row. One row per overload.
DESCRIBE = """
SELECT p.proretset AS retset,
       (t.typtype = 'c' OR p.prorettype = 'record'::regtype) AS composite,
       format_type(p.prorettype, NULL) AS rettype,
       coalesce((SELECT json_agg(json_build_array(a.name, format_type(a.type, NULL)) ORDER BY a.n)
                   FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames,
                               coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs])))
                        WITH ORDINALITY a(type, name, mode, n)
                  WHERE a.mode IN ('i', 'b', 'v')), '[]')::text AS args,
       has_function_privilege('authenticated', p.oid, 'EXECUTE') AS executable,
       has_function_privilege('anon', p.oid, 'EXECUTE') AS anon_executable,
       p.provolatile = 'v' AS volatile,
       p.proargnames[array_position(p.proargmodes, 'v')] AS variadic
  FROM pg_proc p JOIN pg_type t ON t.oid = p.prorettype
 WHERE p.pronamespace = '{schema}'::regnamespace AND p.proname = {name}
"""


def qi(name):
    return '"' + name.replace('"', '""') + '"'


def variadic(desc, arg):
    """The VARIADIC keyword before a variadic argument passed by name (its value is an array)."""
    return "VARIADIC " if desc and desc.get("variadic") == arg else ""


def rpc_statement(fn, desc, arg_names, placeholder):
    """The statement PostgREST (v12) runs for POST /rpc/fn with a JSON object body."""
    types = dict(desc["args"])
    cols = ", ".join(f"{qi(a)} {types[a]}" for a in arg_names)
    call_args = ", ".join(f"{variadic(desc, a)}{qi(a)} := (SELECT {qi(a)} FROM pgrst_args LIMIT 1)" for a in arg_names)
    call = f"{qi(SCHEMA)}.{qi(fn)}({call_args})"
    # Without arguments, no payload to read (the parameter is still sent, as PostgREST does).
    args_cte = (f" pgrst_args AS (SELECT * FROM json_to_recordset((SELECT val FROM pgrst_body)) AS _({cols}))"
                if arg_names else " pgrst_args AS (SELECT FROM pgrst_body)")
    if desc["composite"]:
        source = f"SELECT pgrst_call.* FROM {call} pgrst_call"
        agg = "json_agg(_postgrest_t)"
    else:
        source = f"SELECT {call} pgrst_scalar"
        agg = "json_agg(_postgrest_t.pgrst_scalar)"
    body = (f"coalesce({agg}, '[]')::text" if desc["retset"]
            else f"coalesce(({agg}->0)::text, 'null')")
    return (
        "WITH pgrst_source AS ("
        f" WITH pgrst_payload AS (SELECT {placeholder}::json AS json_data),"
        " pgrst_body AS (SELECT CASE WHEN json_typeof(json_data) = 'array' THEN json_data"
        " ELSE json_build_array(json_data) END AS val FROM pgrst_payload),"
        f"{args_cte} {source})"
        " SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total,"
        f" {body} AS body FROM (SELECT * FROM pgrst_source) _postgrest_t")


SETTINGS = ("SELECT set_config('search_path', {p1}, true), set_config('role', {p2}, true),"
            " set_config('request.jwt.claims', {p3}, true), set_config('request.method', 'POST', true),"
            " set_config('request.path', {p4}, true), set_config('request.headers', '{{}}', true),"
            " set_config('timezone', {p5}, true)")


def claims(owner, role=ROLE):
    return json.dumps({"sub": owner, "role": role} if owner else {"role": role})


class DbError(Exception):
    def __init__(self, sqlstate, message):
        super().__init__(f"{sqlstate}: {message}")
        self.sqlstate = sqlstate


class Psycopg:
    name = "psycopg"

    def __init__(self, conn):
        self.conn = conn
        self.metrics_info = None

    @classmethod
    async def connect(cls, db):
        conn = await psycopg.AsyncConnection.connect(dbname=db, user="authenticator", autocommit=True)
        return cls(conn)

    async def close(self):
        await self.conn.close()

    async def _in_request(self, role, owner, zone, path, work, write=False):
        async with self.conn.cursor() as cur:
            await cur.execute("BEGIN ISOLATION LEVEL READ COMMITTED " + ("READ WRITE" if write else "READ ONLY"))
            try:
                await cur.execute(SETTINGS.format(p1="%s", p2="%s", p3="%s", p4="%s", p5="%s"),
                                  (f'"{SCHEMA}"', role, claims(owner, role), path, zone))
                result = await work(cur)
            except psycopg.Error as e:
                await cur.execute("ROLLBACK")
                raise DbError(e.sqlstate, str(e).splitlines()[0]) from None
            await cur.execute("COMMIT")
            return result

    async def describe(self, fn):
        async with self.conn.cursor() as cur:
            await cur.execute(DESCRIBE.format(schema=SCHEMA, name="%s"), (fn,))
            rows = await cur.fetchall()
        return [{"retset": r[0], "composite": r[1], "rettype": r[2], "args": json.loads(r[3]),
                 "executable": r[4], "anon_executable": r[5], "volatile": r[6], "variadic": r[7]}
                for r in rows]

    async def rpc(self, fn, desc, args, owner, zone="UTC", role=ROLE):
        sql = rpc_statement(fn, desc, list(args), "%s")

        async def work(cur):
            await cur.execute(sql, (json.dumps(args),))
            return (await cur.fetchone())[2]
        return await self._in_request(role, owner, zone, f"/rpc/{fn}", work, desc.get("volatile", False))

    @staticmethod
    def jsonb(v):
        return Jsonb(v)

    async def call(self, fn, args, owner, zone="UTC", scalar=False, desc=None, role=ROLE):
        """SELECT * FROM fn(name => value, ...): [(column, type oid)], [dict]."""
        named = ", ".join(f"{variadic(desc, a)}{qi(a)} => %s" for a in args)
        sql = (f"SELECT {qi(SCHEMA)}.{qi(fn)}({named}) AS value" if scalar
               else f"SELECT * FROM {qi(SCHEMA)}.{qi(fn)}({named})")
        params = typed_params(self, args, desc)

        async def work(cur):
            await cur.execute(sql, params)
            cols = [(d.name, d.type_code) for d in cur.description]
            rows = [dict(zip([c[0] for c in cols], r)) for r in await cur.fetchall()]
            return cols, rows
        return await self._in_request(role, owner, zone, f"/rpc/{fn}", work, bool(desc and desc["volatile"]))

    async def metrics_value(self, shop, owner):
        """The metrics row as one value (SELECT fn(...)): a registered composite for psycopg."""
        if self.metrics_info is None:
            self.metrics_info = await CompositeInfo.fetch(self.conn, "customer_tracking_metrics")
            if self.metrics_info is None:
                raise DbError("42704", "type customer_tracking_metrics not found")
            register_composite(self.metrics_info, self.conn)

        async def work(cur):
            await cur.execute(f"SELECT {qi(SCHEMA)}.shop_customer_metrics(p_shop_id => %s) AS m",
                              (uuid.UUID(shop),))
            return (await cur.fetchone())[0]
        m = await self._in_request(ROLE, owner, "UTC", "/", work)
        return {f: getattr(m, f) for f in self.metrics_info.field_names}


class Asyncpg:
    name = "asyncpg"

    def __init__(self, conn):
        self.conn = conn

    @classmethod
    async def connect(cls, db):
        conn = await asyncpg.connect(database=db, user="authenticator",
                                     host=os.environ.get("PGHOST"), port=os.environ.get("PGPORT"))
        return cls(conn)

    async def close(self):
        await self.conn.close()

    async def _in_request(self, role, owner, zone, path, work, write=False):
        try:
            async with self.conn.transaction(isolation="read_committed", readonly=not write):
                await self.conn.execute(SETTINGS.format(p1="$1", p2="$2", p3="$3", p4="$4", p5="$5"),
                                        f'"{SCHEMA}"', role, claims(owner, role), path, zone)
                return await work()
        except asyncpg.PostgresError as e:
            raise DbError(e.sqlstate, str(e)) from None

    async def describe(self, fn):
        rows = await self.conn.fetch(DESCRIBE.format(schema=SCHEMA, name="$1"), fn)
        return [{"retset": r[0], "composite": r[1], "rettype": r[2], "args": json.loads(r[3]),
                 "executable": r[4], "anon_executable": r[5], "volatile": r[6], "variadic": r[7]}
                for r in rows]

    async def rpc(self, fn, desc, args, owner, zone="UTC", role=ROLE):
        sql = rpc_statement(fn, desc, list(args), "$1")

        async def work():
            return (await self.conn.fetchrow(sql, json.dumps(args)))["body"]
        return await self._in_request(role, owner, zone, f"/rpc/{fn}", work, desc.get("volatile", False))

    @staticmethod
    def jsonb(v):
        return json.dumps(v)  # asyncpg's jsonb codec takes the text

    async def call(self, fn, args, owner, zone="UTC", scalar=False, desc=None, role=ROLE):
        named = ", ".join(f"{variadic(desc, a)}{qi(a)} => ${i + 1}" for i, a in enumerate(args))
        sql = (f"SELECT {qi(SCHEMA)}.{qi(fn)}({named}) AS value" if scalar
               else f"SELECT * FROM {qi(SCHEMA)}.{qi(fn)}({named})")
        # asyncpg takes the parameter types from the server: a uuid needs a UUID, a text a str.
        params = typed_params(self, args, desc)

        async def work():
            stmt = await self.conn.prepare(sql)
            cols = [(a.name, a.type.oid) for a in stmt.get_attributes()]
            rows = [dict(r) for r in await stmt.fetch(*params)]
            return cols, rows
        return await self._in_request(role, owner, zone, f"/rpc/{fn}", work, bool(desc and desc["volatile"]))

    async def metrics_value(self, shop, owner):
        async def work():
            return await self.conn.fetchval(
                f"SELECT {qi(SCHEMA)}.shop_customer_metrics(p_shop_id => $1) AS m", uuid.UUID(shop))
        m = await self._in_request(ROLE, owner, "UTC", "/", work)
        return dict(m.items())


def typed(driver, v, pgtype):
    """A JSON argument value as a typed client passes it for an argument of type pgtype."""
    if v is None:
        return None
    if pgtype and pgtype.endswith("[]"):
        return [typed(driver, x, pgtype[:-2]) for x in v]
    if pgtype == "jsonb":
        return driver.jsonb(v)
    if pgtype == "uuid" or (pgtype is None and isinstance(v, str) and UUID_RE.match(v)):
        return uuid.UUID(v)
    if pgtype == "timestamp with time zone":
        return datetime.datetime.fromisoformat(v)
    if pgtype == "date":
        return datetime.date.fromisoformat(v)
    if pgtype == "numeric":
        return decimal.Decimal(str(v))
    return v


def typed_params(driver, args, desc):
    types = dict(desc["args"]) if desc else {}
    return [typed(driver, v, types.get(k)) for k, v in args.items()]


UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
OFFSET_RE = re.compile(r"(Z|[+-]\d\d(:\d\d)?)$")


class Checker:
    def __init__(self, driver):
        self.driver = driver
        self.problems = []
        self.checks = 0

    def check(self, ok, what):
        self.checks += 1
        if not ok:
            self.problems.append(f"{self.driver.name}: {what}")
        return ok

    # A JSON value (parsed with Decimal for non-integers, int for integers) of a kind.
    def json_kind(self, where, kind, v):
        nullable = kind.endswith("?")
        kind = kind.rstrip("?")
        if v is None:
            return self.check(nullable, f"{where}: null")
        if kind == "count":
            return self.check(type(v) is int, f"{where}: {v!r} is not a JSON integer")
        if kind == "integer":
            return self.check(type(v) is int, f"{where}: {v!r} is not a JSON integer")
        if kind in SCALE:
            places = SCALE[kind]
            return self.check(isinstance(v, decimal.Decimal) and v.as_tuple().exponent == -places,
                              f"{where}: {v!r} does not have {places} decimals")
        if kind == "numeric":
            return self.check(type(v) in (int, decimal.Decimal), f"{where}: {v!r} is not a JSON number")
        if kind == "jsonb":
            return self.check(type(v) in (dict, list), f"{where}: {v!r} is not a JSON object or array")
        if kind == "boolean":
            return self.check(type(v) is bool, f"{where}: {v!r} is not a boolean")
        if kind == "uuid":
            return self.check(isinstance(v, str) and bool(UUID_RE.match(v)), f"{where}: {v!r} is not a uuid")
        if kind == "timestamptz":
            return self.check(isinstance(v, str) and bool(OFFSET_RE.search(v)),
                              f"{where}: {v!r} is not a time with its offset")
        if kind == "date":
            return self.check(isinstance(v, str) and bool(re.match(r"^\d{4}-\d\d-\d\d$", v)),
                              f"{where}: {v!r} is not a date")
        return self.check(isinstance(v, str), f"{where}: {v!r} is not a string")

    # A value as the driver decoded it.
    def native_kind(self, where, kind, v):
        nullable = kind.endswith("?")
        kind = kind.rstrip("?")
        if v is None:
            return self.check(nullable, f"{where}: NULL")
        if kind in ("count", "integer"):
            return self.check(type(v) is int, f"{where}: {v!r} is not an int")
        if kind in SCALE:
            places = SCALE[kind]
            return self.check(isinstance(v, decimal.Decimal) and v.as_tuple().exponent == -places,
                              f"{where}: {v!r} is not a Decimal with {places} decimals")
        expected = {"text": str, "uuid": uuid.UUID, "boolean": bool, "date": datetime.date,
                    "numeric": decimal.Decimal, "jsonb": (dict, list, str)}.get(kind)
        if kind == "timestamptz":
            return self.check(isinstance(v, datetime.datetime) and v.tzinfo is not None,
                              f"{where}: {v!r} is not an aware datetime")
        return self.check(expected is None or isinstance(v, expected), f"{where}: {v!r} is not {kind}")


def jloads(text):
    return json.loads(text, parse_float=decimal.Decimal)


async def resolve_value(d, v, owner):
    if isinstance(v, list):
        return [await resolve_value(d, x, owner) for x in v]
    if v == "$shop":
        return SPEC["shop"]
    if v == "$customer":
        body = jloads(await d.rpc("shop_customer_list", (await d.describe("shop_customer_list"))[0],
                                  {"p_shop_id": SPEC["shop"], "p_sort": "purchases", "p_limit": 1}, owner))
        return body[0]["id"]
    if v == "$code":  # an active loyalty code of the shop (issued by an earlier entry)
        body = jloads(await d.rpc("shop_loyalty_codes", (await d.describe("shop_loyalty_codes"))[0],
                                  {"p_shop_id": SPEC["shop"], "p_status": "active"}, owner))
        return body[0]["code"] if body else None
    if v == "$now" or (isinstance(v, str) and v.startswith("$ago:")):
        days = 0 if v == "$now" else int(v[5:])
        return (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)).isoformat()
    return v


async def resolve_args(d, args, owner):
    return {k: await resolve_value(d, v, owner) for k, v in args.items()}


async def check_functions(d, c):
    owner = SPEC["owner"]
    bodies = {}
    for f in SPEC["functions"]:
        fn = f["name"]
        descs = await d.describe(fn)
        if not c.check(len(descs) == 1, f"{fn}: {len(descs)} functions of that name (PostgREST needs one)"):
            continue
        desc = descs[0]
        role = f.get("role", ROLE)
        if role == "anon":  # a storefront function: anyone may call it, with no claims
            owner = None
            c.check(desc["anon_executable"], f"{fn}: anon may not execute it")
        else:
            owner = SPEC["owner"]
            c.check(desc["executable"], f"{fn}: authenticated may not execute it")
            c.check(f.get("anon_may_call", False) or not desc["anon_executable"], f"{fn}: anon may execute it")
        shape = ("array" if desc["retset"] else "object" if desc["composite"]
                 else "void" if desc["rettype"] == "void" else "scalar")
        c.check(shape == f["body"], f"{fn}: returns a {shape}, the spec says {f['body']}")
        args = await resolve_args(d, f["args"], SPEC["owner"])
        c.check(all(a.startswith("p_") for a, _ in desc["args"]), f"{fn}: an argument without p_")
        if not c.check(set(args) <= {a for a, _ in desc["args"]},
                       f"{fn}: no argument named {sorted(set(args) - {a for a, _ in desc['args']})}"):
            continue
        try:
            text = await d.rpc(fn, desc, args, owner, role=role)
        except DbError as e:
            c.check(False, f"{fn}: RPC failed: {e}")
            continue
        body = jloads(text)
        bodies[fn] = body
        where = f"{fn} (JSON)"
        if f["body"] == "object":
            if c.check(isinstance(body, dict), f"{where}: body is not an object: {text[:80]}"):
                c.check(set(body) == set(f["columns"]), f"{where}: keys {sorted(body)}")
                for k, kind in f["columns"].items():
                    c.json_kind(f"{where}.{k}", kind, body.get(k))
        elif f["body"] == "array":
            if c.check(isinstance(body, list) and len(body) > 0, f"{where}: body is not a non-empty array: {text[:80]}"):
                for i, row in enumerate(body):
                    c.check(set(row) == set(f["columns"]), f"{where}[{i}]: keys {sorted(row)}")
                    for k, kind in f["columns"].items():
                        c.json_kind(f"{where}[{i}].{k}", kind, row.get(k))
        elif f["body"] == "scalar":  # (void: PostgREST answers 204, no body)
            if "fields" in f:
                if c.check(isinstance(body, dict), f"{where}: not an object: {text[:80]}"):
                    for k, kind in f["fields"].items():
                        c.json_kind(f"{where}.{k}", kind, body.get(k))
            else:
                c.json_kind(where, f["type"], body)
            if "equals" in f:
                c.check(body == f["equals"], f"{where}: {body!r}, expected {f['equals']!r}")

        # Directly, with named arguments.
        scalar = f["body"] in ("scalar", "void")
        try:
            cols, rows = await d.call(fn, args, owner, scalar=scalar, desc=desc, role=role)
        except DbError as e:
            c.check(False, f"{fn}: direct call failed: {e}")
            continue
        where = f"{fn} (direct)"
        if scalar:
            kind = f.get("type", "void")
            c.check(cols[0][1] == TYPE_OIDS[kind], f"{where}: type oid {cols[0][1]}")
            if kind != "void":
                c.native_kind(where, kind, rows[0]["value"])
            continue
        c.check([n for n, _ in cols] == list(f["columns"]), f"{where}: columns {[n for n, _ in cols]}")
        for name, oid in cols:
            kind = f["columns"].get(name, "?").rstrip("?")
            c.check(TYPE_OIDS.get(kind) == oid, f"{where}.{name}: type oid {oid}, {kind} expected")
        c.check(len(rows) == (1 if f["body"] == "object" else len(body)),
                f"{where}: {len(rows)} rows, the JSON body had {1 if f['body'] == 'object' else len(body)}")
        for i, row in enumerate(rows):
            for k, kind in f["columns"].items():
                c.native_kind(f"{where}[{i}].{k}", kind, row.get(k))
    return bodies


async def check_metrics_and_overview(d, c, bodies):
    owner, shop = SPEC["owner"], SPEC["shop"]
    m = bodies.get("shop_customer_metrics")
    if not m:
        return
    try:
        value = await d.metrics_value(shop, owner)
    except DbError as e:
        c.check(False, f"shop_customer_metrics as one value: {e}")
        value = None
    if value is not None:
        c.check(value == m, f"shop_customer_metrics as one value: {value} != {m}")
    rows = bodies.get("shop_customer_metrics_rows")
    c.check(rows == [m], "shop_customer_metrics_rows: not the same row as shop_customer_metrics")
    j = bodies.get("shop_customer_overview_json")
    if isinstance(j, dict):
        for k in m:
            c.check(j.get(k) == m[k], f"overview_json.{k} = {j.get(k)!r}, metrics {m[k]!r}")
        box = bodies.get("shop_customer_overview", "")
        lines = [ln[2:-1].rstrip() for ln in box.splitlines()[3:-1]]
        c.check(j.get("lines") == lines, f"overview_json.lines {j.get('lines')} != the box's {lines}")
        c.check(j.get("title") == box.splitlines()[1][2:-1].rstrip(), "overview_json.title")
        fmt = j.get("formatted") or {}
        c.check(fmt.get("total_revenue") == "GHS " + format(m["total_revenue"], ",.2f"),
                f"overview_json.formatted.total_revenue {fmt.get('total_revenue')!r}")
        c.check(fmt.get("repeat_rate") == format(m["repeat_rate"], ".1f") + "%",
                f"overview_json.formatted.repeat_rate {fmt.get('repeat_rate')!r}")


async def check_stranger_and_anon(d, c):
    stranger, shop = SPEC["stranger"], SPEC["shop"]
    desc = (await d.describe("shop_customer_metrics"))[0]
    text = await d.rpc("shop_customer_metrics", desc, {"p_shop_id": shop}, stranger)
    zero = ('{"total_customers":0,"repeat_customers":0,"repeat_rate":0.0,"new_customers_30d":0,'
            '"new_customers_this_month":0,"average_ltv":0.00,"total_revenue":0.00}')
    c.check(text.replace(" ", "") == zero, f"stranger's metrics: {text}")
    for fn in ("shop_customer_list", "shop_network_analytics", "shop_slug_analytics", "shop_purchase_frequency"):
        desc = (await d.describe(fn))[0]
        text = await d.rpc(fn, desc, {"p_shop_id": shop}, stranger)
        c.check(text == "[]", f"stranger's {fn}: {text[:80]}")
    desc = (await d.describe("shop_daily_series"))[0]
    body = jloads(await d.rpc("shop_daily_series", desc, {"p_shop_id": shop}, stranger))
    c.check(len(body) == 30 and all(str(r["revenue"]) == "0.00" for r in body),
            "stranger's daily series: not 30 zero days with revenue 0.00")
    desc = (await d.describe("shop_customer_overview_json"))[0]
    body = jloads(await d.rpc("shop_customer_overview_json", desc, {"p_shop_id": shop}, stranger))
    c.check(body.get("total_revenue") == 0 and str(body.get("total_revenue")) == "0.00"
            and (body.get("formatted") or {}).get("total_revenue") == "GHS 0.00",
            f"stranger's overview_json: {body}")
    try:
        await d.rpc("shop_customer_metrics", (await d.describe("shop_customer_metrics"))[0],
                    {"p_shop_id": shop}, None, role="anon")
        c.check(False, "anon may call shop_customer_metrics")
    except DbError as e:
        c.check(e.sqlstate == "42501", f"anon calling shop_customer_metrics: {e}")


async def list_page(d, desc, sort, limit, cursor, zone, via_rpc):
    owner = SPEC["cursor_owner"]
    args = {"p_shop_id": SPEC["cursor_shop"], "p_sort": sort, "p_limit": limit}
    if cursor is not None:
        args["p_cursor"] = cursor
    if via_rpc:
        return jloads(await d.rpc("shop_customer_list", desc, args, owner, zone=zone))
    _, rows = await d.call("shop_customer_list", args, owner, zone=zone)
    return rows


async def check_cursors(d, c):
    spec = SPEC["cursor"]
    zones = spec["zones"]
    desc = (await d.describe("shop_customer_list"))[0]
    for sort in spec["sorts"]:
        full = await list_page(d, desc, sort, 500, None, "UTC", True)
        c.check(len(full) == 18, f"cursor shop, {sort}: {len(full)} customers, 18 expected")
        want = [r["id"] for r in full]
        got, cursor, n = [], None, 0
        while True:
            zone = zones[n % len(zones)]
            page = await list_page(d, desc, sort, spec["limit"], cursor, zone, n % 2 == 0)
            n += 1
            if not page:
                break
            got += [str(r["id"]) for r in page]
            cursor = page[-1]["cursor"]
            c.check(isinstance(cursor, str), f"{sort}: cursor {cursor!r} is not a string")
            if n > 20:
                break
        c.check(got == want, f"{sort}: paging with the cursor across TimeZones {zones} gave {got}, expected {want}")

        # The deprecated form still pages (sort_value and id, one TimeZone).
        got, after = [], None
        for _ in range(20):
            args = {"p_shop_id": SPEC["cursor_shop"], "p_sort": sort, "p_limit": spec["limit"]}
            if after:
                args.update(p_after_value=after[0], p_after_id=after[1])
            page = jloads(await d.rpc("shop_customer_list", desc, args, SPEC["cursor_owner"], zone="Asia/Kolkata"))
            if not page:
                break
            got += [r["id"] for r in page]
            after = (page[-1]["sort_value"], page[-1]["id"])
        c.check(got == want, f"{sort}: paging with p_after_value/p_after_id gave {got}, expected {want}")

    # A cursor belongs to its sort; anything else is refused with invalid_parameter_value.
    first = await list_page(d, desc, "last_purchase", 2, None, "UTC", True)
    for bad, why in ((first[-1]["cursor"], "a last_purchase cursor with p_sort total_spent"),
                     ("not-a-cursor", "garbage"), ("", "an empty cursor")):
        try:
            await list_page(d, desc, "total_spent", 2, bad, "UTC", False)
            c.check(False, f"shop_customer_list accepted {why}")
        except DbError as e:
            c.check(e.sqlstate == "22023", f"shop_customer_list with {why}: {e}")


async def run(driver_cls, db):
    d = await driver_cls.connect(db)
    c = Checker(d)
    try:
        bodies = await check_functions(d, c)
        print(f"{d.name}: {len(SPEC['functions'])} functions, RPC and direct ({c.checks} checks)")
        await check_metrics_and_overview(d, c, bodies)
        await check_stranger_and_anon(d, c)
        print(f"{d.name}: metrics as one value, overview JSON, stranger and anon ({c.checks} checks)")
        await check_cursors(d, c)
        print(f"{d.name}: cursors across TimeZones, deprecated paging, bad cursors ({c.checks} checks)")
    except Exception as e:  # reported as a problem; the other driver still runs
        c.check(False, f"unexpected error: {type(e).__name__}: {e}")
    finally:
        await d.close()
    return c


async def main():
    db = sys.argv[1]
    problems, checks = [], 0
    for cls in (Psycopg, Asyncpg):
        c = await run(cls, db)
        problems += c.problems
        checks += c.checks
    for p in problems[:60]:
        print("  " + p)
    if problems:
        print(f"python drivers: FAIL ({len(problems)} problems in {checks} checks)")
        return 1
    print(f"python drivers: PASS ({checks} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
