// The dashboard functions from node's drivers, node-postgres (`pg`) and postgres.js
// (`postgres`), called the way PostgREST calls them; the node half of test/drivers/rpc_python.py
// (same spec, test/drivers/dashboard_spec.json; same checks). Run by test/scripts/driver_rpc.sh:
//
//   node rpc.mjs DBNAME      (PGHOST, PGPORT from the environment; connects as authenticator)
//
// For each driver: one function per name, the JSON body PostgREST would send (object, array or
// value) with each column's kind checked on the literal JSON text (integers for counts, two
// decimals for money, one for rates: JSON.parse would lose the scale), direct calls with named
// arguments (type OIDs; numeric and bigint arrive as exact strings), keyset paging with the
// opaque cursor across session TimeZones, a stranger's zeros and anon refused.
// Prints "node drivers: PASS (n checks)" or "... FAIL"; exit status 0 = pass.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import postgres from 'postgres';

const HERE = dirname(fileURLToPath(import.meta.url));
const SPEC = JSON.parse(readFileSync(join(HERE, '..', 'dashboard_spec.json'), 'utf8'));
const SCHEMA = 'public';
const ROLE = 'authenticated';
const TYPE_OIDS = {
	count: 20, integer: 23, money: 1700, rate: 1700, ratio: 1700, numeric: 1700, text: 25, uuid: 2950,
	timestamptz: 1184, date: 1082, boolean: 16, jsonb: 3802, void: 2278,
};
// Decimal places of the numeric kinds with a fixed scale.
const SCALE = { money: 2, rate: 1, ratio: 2 };
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const DESCRIBE = `
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
 WHERE p.pronamespace = '${SCHEMA}'::regnamespace AND p.proname = $1`;

const SETTINGS = `SELECT set_config('search_path', $1, true), set_config('role', $2, true),
       set_config('request.jwt.claims', $3, true), set_config('request.method', 'POST', true),
       set_config('request.path', $4, true), set_config('request.headers', '{}', true),
       set_config('timezone', $5, true)`;

// The VARIADIC keyword before a variadic argument passed by name (its value is an array).
const variadic = (desc, arg) => (desc && desc.variadic === arg ? 'VARIADIC ' : '');
const qi = (name) => '"' + String(name).replace(/"/g, '""') + '"';
const claims = (owner, role = ROLE) => JSON.stringify(owner ? { sub: owner, role } : { role });

// The statement PostgREST (v12) runs for POST /rpc/fn with a JSON object body.
function rpcStatement(fn, desc, argNames) {
	const types = Object.fromEntries(desc.args);
	const cols = argNames.map((a) => `${qi(a)} ${types[a]}`).join(', ');
	const callArgs = argNames.map((a) => `${variadic(desc, a)}${qi(a)} := (SELECT ${qi(a)} FROM pgrst_args LIMIT 1)`).join(', ');
	const call = `${qi(SCHEMA)}.${qi(fn)}(${callArgs})`;
	// Without arguments, no payload to read (the parameter is still sent, as PostgREST does).
	const argsCte = argNames.length
		? `pgrst_args AS (SELECT * FROM json_to_recordset((SELECT val FROM pgrst_body)) AS _(${cols}))`
		: 'pgrst_args AS (SELECT FROM pgrst_body)';
	const source = desc.composite ? `SELECT pgrst_call.* FROM ${call} pgrst_call` : `SELECT ${call} pgrst_scalar`;
	const agg = desc.composite ? 'json_agg(_postgrest_t)' : 'json_agg(_postgrest_t.pgrst_scalar)';
	const body = desc.retset ? `coalesce(${agg}, '[]')::text` : `coalesce((${agg}->0)::text, 'null')`;
	return `WITH pgrst_source AS (
	  WITH pgrst_payload AS (SELECT $1::json AS json_data),
	       pgrst_body AS (SELECT CASE WHEN json_typeof(json_data) = 'array' THEN json_data
	                                  ELSE json_build_array(json_data) END AS val FROM pgrst_payload),
	       ${argsCte}
	  ${source})
	SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total,
	       ${body} AS body
	  FROM (SELECT * FROM pgrst_source) _postgrest_t`;
}

class DbError extends Error {
	constructor(e) {
		super(`${e.code}: ${e.message}`);
		this.sqlstate = e.code;
	}
}

// node-postgres: a client, statements with $n parameters, BEGIN/COMMIT by hand (as the
// reference dashboard does).
class NodePg {
	name = 'pg';

	async connect(db) {
		this.client = new pg.Client({ database: db, user: 'authenticator' });
		await this.client.connect();
	}

	async close() {
		await this.client.end();
	}

	async inRequest(role, owner, zone, path, work, write = false) {
		await this.client.query(`BEGIN ISOLATION LEVEL READ COMMITTED ${write ? 'READ WRITE' : 'READ ONLY'}`);
		try {
			await this.client.query(SETTINGS, [`"${SCHEMA}"`, role, claims(owner, role), path, zone]);
			const result = await work((text, params) => this.client.query(text, params));
			await this.client.query('COMMIT');
			return result;
		} catch (e) {
			await this.client.query('ROLLBACK').catch(() => {});
			throw e.code ? new DbError(e) : e;
		}
	}

	async describe(fn) {
		const res = await this.client.query(DESCRIBE, [fn]);
		return res.rows.map((r) => ({ ...r, args: JSON.parse(r.args) }));
	}

	async rpc(fn, desc, args, owner, zone = 'UTC', role = ROLE) {
		const sql = rpcStatement(fn, desc, Object.keys(args));
		return this.inRequest(role, owner, zone, `/rpc/${fn}`,
			async (q) => (await q(sql, [JSON.stringify(args)])).rows[0].body, desc.volatile);
	}

	// pg sends an object as its JSON text but an array as a PostgreSQL array: JSON text for jsonb.
	jsonb(v) {
		return JSON.stringify(v);
	}

	async call(fn, args, owner, zone = 'UTC', scalar = false, desc = null, role = ROLE) {
		const named = Object.keys(args).map((a, i) => `${variadic(desc, a)}${qi(a)} => $${i + 1}`).join(', ');
		const sql = scalar ? `SELECT ${qi(SCHEMA)}.${qi(fn)}(${named}) AS value`
			: `SELECT * FROM ${qi(SCHEMA)}.${qi(fn)}(${named})`;
		return this.inRequest(role, owner, zone, `/rpc/${fn}`, async (q) => {
			const res = await q(sql, typedParams(this, args, desc));
			return { cols: res.fields.map((f) => [f.name, f.dataTypeID]), rows: res.rows };
		}, Boolean(desc && desc.volatile));
	}
}

// postgres.js: tagged templates for fixed statements, sql.unsafe() for built ones, sql.begin()
// for the transaction.
class PostgresJs {
	name = 'postgres';

	async connect(db) {
		this.sql = postgres({ database: db, username: 'authenticator', max: 1, onnotice: () => {} });
		await this.sql`SELECT 1`;
	}

	async close() {
		await this.sql.end();
	}

	async inRequest(role, owner, zone, path, work, write = false) {
		try {
			return await this.sql.begin(`isolation level read committed ${write ? 'read write' : 'read only'}`, async (tx) => {
				await tx.unsafe(SETTINGS, [`"${SCHEMA}"`, role, claims(owner, role), path, zone]);
				return work((text, params) => tx.unsafe(text, params));
			});
		} catch (e) {
			throw e.code ? new DbError(e) : e;
		}
	}

	async describe(fn) {
		const rows = await this.sql.unsafe(DESCRIBE, [fn]);
		return rows.map((r) => ({ ...r, args: JSON.parse(r.args) }));
	}

	async rpc(fn, desc, args, owner, zone = 'UTC', role = ROLE) {
		const sql = rpcStatement(fn, desc, Object.keys(args));
		// postgres.js serializes a value for a json parameter itself: pass the object.
		return this.inRequest(role, owner, zone, `/rpc/${fn}`,
			async (q) => (await q(sql, [args]))[0].body, desc.volatile);
	}

	// postgres.js serializes a value for a jsonb parameter itself.
	jsonb(v) {
		return v;
	}

	async call(fn, args, owner, zone = 'UTC', scalar = false, desc = null, role = ROLE) {
		const named = Object.keys(args).map((a, i) => `${variadic(desc, a)}${qi(a)} => $${i + 1}`).join(', ');
		const sql = scalar ? `SELECT ${qi(SCHEMA)}.${qi(fn)}(${named}) AS value`
			: `SELECT * FROM ${qi(SCHEMA)}.${qi(fn)}(${named})`;
		return this.inRequest(role, owner, zone, `/rpc/${fn}`, async (q) => {
			const res = await q(sql, typedParams(this, args, desc));
			return { cols: res.columns.map((c) => [c.name, c.type]), rows: [...res] };
		}, Boolean(desc && desc.volatile));
	}
}

// Argument values as a client passes them: JSON values, jsonb as the driver wants it.
function typedParams(d, args, desc) {
	const types = Object.fromEntries(desc ? desc.args : []);
	return Object.entries(args).map(([k, v]) => (types[k] === 'jsonb' && v !== null ? d.jsonb(v) : v));
}

// Number literals of a JSON text by key ("key":literal), in order: the scale JSON.parse loses.
function literals(text) {
	const out = [];
	const re = /"((?:[^"\\]|\\.)*)":(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
	let m;
	while ((m = re.exec(text)) !== null) out.push([m[1], m[2]]);
	return out;
}

class Checker {
	constructor(driver) {
		this.driver = driver;
		this.problems = [];
		this.checks = 0;
	}

	check(ok, what) {
		this.checks++;
		if (!ok) this.problems.push(`${this.driver.name}: ${what}`);
		return ok;
	}

	// Kinds of a JSON body's numbers, from its text.
	jsonLiterals(where, kinds, text) {
		for (const [key, lit] of literals(text)) {
			const kind = (kinds[key] || '').replace('?', '');
			if (kind === 'count' || kind === 'integer') this.check(/^-?\d+$/.test(lit), `${where}.${key}: ${lit} is not a JSON integer`);
			else if (kind in SCALE) {
				this.check(new RegExp(`^-?\\d+\\.\\d{${SCALE[kind]}}$`).test(lit), `${where}.${key}: ${lit} does not have ${SCALE[kind]} decimals`);
			}
		}
	}

	// Other kinds of a parsed JSON value.
	jsonKind(where, kind, v) {
		const nullable = kind.endsWith('?');
		kind = kind.replace('?', '');
		if (v === null || v === undefined) return this.check(nullable && v === null, `${where}: ${v}`);
		if (['count', 'integer', 'numeric', ...Object.keys(SCALE)].includes(kind)) return this.check(typeof v === 'number', `${where}: ${v} is not a number`);
		if (kind === 'jsonb') return this.check(typeof v === 'object', `${where}: ${v} is not a JSON object or array`);
		if (kind === 'boolean') return this.check(typeof v === 'boolean', `${where}: ${v} is not a boolean`);
		if (kind === 'uuid') return this.check(UUID_RE.test(v), `${where}: ${v} is not a uuid`);
		if (kind === 'timestamptz') return this.check(/(Z|[+-]\d\d(:\d\d)?)$/.test(v), `${where}: ${v} has no offset`);
		if (kind === 'date') return this.check(/^\d{4}-\d\d-\d\d$/.test(v), `${where}: ${v} is not a date`);
		return this.check(typeof v === 'string', `${where}: ${v} is not a string`);
	}

	// A value as the driver decoded it: numeric and bigint as exact strings.
	nativeKind(where, kind, v) {
		const nullable = kind.endsWith('?');
		kind = kind.replace('?', '');
		if (v === null || v === undefined) return this.check(nullable && v === null, `${where}: ${v}`);
		if (kind === 'count') return this.check((typeof v === 'string' && /^-?\d+$/.test(v)) || typeof v === 'bigint', `${where}: ${typeof v} ${v}`);
		if (kind === 'integer') return this.check(Number.isInteger(v), `${where}: ${typeof v} ${v} is not an integer`);
		if (kind in SCALE) {
			return this.check(typeof v === 'string' && new RegExp(`^-?\\d+\\.\\d{${SCALE[kind]}}$`).test(v),
				`${where}: ${typeof v} ${v} is not a ${SCALE[kind]}-decimal string`);
		}
		if (kind === 'numeric') return this.check(typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v), `${where}: ${typeof v} ${v} is not a numeric string`);
		if (kind === 'timestamptz' || kind === 'date') return this.check(v instanceof Date, `${where}: ${v} is not a Date`);
		if (kind === 'boolean') return this.check(typeof v === 'boolean', `${where}: ${v} is not a boolean`);
		if (kind === 'jsonb') return this.check(typeof v === 'object', `${where}: ${v} is not an object`);
		if (kind === 'uuid') return this.check(UUID_RE.test(v), `${where}: ${v} is not a uuid`);
		return this.check(typeof v === 'string', `${where}: ${v} is not a string`);
	}
}

async function resolveValue(d, v, owner) {
	if (Array.isArray(v)) return Promise.all(v.map((x) => resolveValue(d, x, owner)));
	if (v === '$shop') return SPEC.shop;
	if (v === '$customer') {
		const desc = (await d.describe('shop_customer_list'))[0];
		return JSON.parse(await d.rpc('shop_customer_list', desc,
			{ p_shop_id: SPEC.shop, p_sort: 'purchases', p_limit: 1 }, owner))[0].id;
	}
	if (v === '$code') { // an active loyalty code of the shop (issued by an earlier entry)
		const desc = (await d.describe('shop_loyalty_codes'))[0];
		const codes = JSON.parse(await d.rpc('shop_loyalty_codes', desc, { p_shop_id: SPEC.shop, p_status: 'active' }, owner));
		return codes.length ? codes[0].code : null;
	}
	if (v === '$now' || (typeof v === 'string' && v.startsWith('$ago:'))) {
		const days = v === '$now' ? 0 : Number(v.slice(5));
		return new Date(Date.now() - days * 86400000).toISOString();
	}
	return v;
}

async function resolveArgs(d, args, owner) {
	const out = {};
	for (const [k, v] of Object.entries(args)) out[k] = await resolveValue(d, v, owner);
	return out;
}

async function checkFunctions(d, c) {
	const bodies = {};
	for (const f of SPEC.functions) {
		const fn = f.name;
		const descs = await d.describe(fn);
		if (!c.check(descs.length === 1, `${fn}: ${descs.length} functions of that name (PostgREST needs one)`)) continue;
		const desc = descs[0];
		const role = f.role || ROLE;
		const owner = role === 'anon' ? null : SPEC.owner; // a storefront function: no claims
		if (role === 'anon') c.check(desc.anon_executable, `${fn}: anon may not execute it`);
		else {
			c.check(desc.executable, `${fn}: authenticated may not execute it`);
			c.check(f.anon_may_call || !desc.anon_executable, `${fn}: anon may execute it`);
		}
		const shape = desc.retset ? 'array' : desc.composite ? 'object' : desc.rettype === 'void' ? 'void' : 'scalar';
		c.check(shape === f.body, `${fn}: returns a ${shape}, the spec says ${f.body}`);
		const args = await resolveArgs(d, f.args, SPEC.owner);
		const names = desc.args.map((a) => a[0]);
		c.check(names.every((a) => a.startsWith('p_')), `${fn}: an argument without p_: ${names}`);
		const unknown = Object.keys(args).filter((a) => !names.includes(a));
		if (!c.check(unknown.length === 0, `${fn}: no argument named ${unknown}`)) continue;
		let text;
		try {
			text = await d.rpc(fn, desc, args, owner, 'UTC', role);
		} catch (e) {
			c.check(false, `${fn}: RPC failed: ${e.message}`);
			continue;
		}
		const body = JSON.parse(text);
		bodies[fn] = { body, text };
		const where = `${fn} (JSON)`;
		if (f.body === 'object') {
			if (c.check(body !== null && typeof body === 'object' && !Array.isArray(body), `${where}: not an object: ${text.slice(0, 80)}`)) {
				c.check(Object.keys(body).sort().join() === Object.keys(f.columns).sort().join(), `${where}: keys ${Object.keys(body)}`);
				for (const [k, kind] of Object.entries(f.columns)) c.jsonKind(`${where}.${k}`, kind, body[k]);
				c.jsonLiterals(where, f.columns, text);
			}
		} else if (f.body === 'array') {
			if (c.check(Array.isArray(body) && body.length > 0, `${where}: not a non-empty array: ${text.slice(0, 80)}`)) {
				body.forEach((row, i) => {
					c.check(Object.keys(row).sort().join() === Object.keys(f.columns).sort().join(), `${where}[${i}]: keys ${Object.keys(row)}`);
					for (const [k, kind] of Object.entries(f.columns)) c.jsonKind(`${where}[${i}].${k}`, kind, row[k]);
				});
				c.jsonLiterals(where, f.columns, text);
			}
		} else if (f.fields) {
			if (c.check(body !== null && typeof body === 'object' && !Array.isArray(body), `${where}: not an object`)) {
				for (const [k, kind] of Object.entries(f.fields)) c.jsonKind(`${where}.${k}`, kind, body[k]);
				c.jsonLiterals(where, f.fields, text);
			}
		} else if (f.body === 'scalar') { // (void: PostgREST answers 204, no body)
			c.jsonKind(where, f.type, body);
		}
		if ('equals' in f) c.check(body === f.equals, `${where}: ${body}, expected ${f.equals}`);

		const scalar = f.body === 'scalar' || f.body === 'void';
		let res;
		try {
			res = await d.call(fn, args, owner, 'UTC', scalar, desc, role);
		} catch (e) {
			c.check(false, `${fn}: direct call failed: ${e.message}`);
			continue;
		}
		const dw = `${fn} (direct)`;
		if (scalar) {
			const kind = f.type || 'void';
			c.check(res.cols[0][1] === TYPE_OIDS[kind], `${dw}: type oid ${res.cols[0][1]}`);
			if (kind !== 'void') c.nativeKind(dw, kind, res.rows[0].value);
			continue;
		}
		c.check(res.cols.map((x) => x[0]).join() === Object.keys(f.columns).join(), `${dw}: columns ${res.cols.map((x) => x[0])}`);
		for (const [name, oid] of res.cols) {
			const kind = (f.columns[name] || '?').replace('?', '');
			c.check(TYPE_OIDS[kind] === oid, `${dw}.${name}: type oid ${oid}, ${kind} expected`);
		}
		const n = f.body === 'object' ? 1 : body.length;
		c.check(res.rows.length === n, `${dw}: ${res.rows.length} rows, the JSON body had ${n}`);
		res.rows.forEach((row, i) => {
			for (const [k, kind] of Object.entries(f.columns)) c.nativeKind(`${dw}[${i}].${k}`, kind, row[k]);
		});
	}
	return bodies;
}

async function checkStrangerAndAnon(d, c) {
	const { stranger, shop } = SPEC;
	const desc = (await d.describe('shop_customer_metrics'))[0];
	const text = await d.rpc('shop_customer_metrics', desc, { p_shop_id: shop }, stranger);
	c.check(text.replace(/ /g, '') === '{"total_customers":0,"repeat_customers":0,"repeat_rate":0.0,'
		+ '"new_customers_30d":0,"new_customers_this_month":0,"average_ltv":0.00,"total_revenue":0.00}',
	`stranger's metrics: ${text}`);
	for (const fn of ['shop_customer_list', 'shop_network_analytics', 'shop_slug_analytics']) {
		const t = await d.rpc(fn, (await d.describe(fn))[0], { p_shop_id: shop }, stranger);
		c.check(t === '[]', `stranger's ${fn}: ${t.slice(0, 80)}`);
	}
	try {
		await d.rpc('shop_customer_metrics', desc, { p_shop_id: shop }, null, 'UTC', 'anon');
		c.check(false, 'anon may call shop_customer_metrics');
	} catch (e) {
		c.check(e.sqlstate === '42501', `anon calling shop_customer_metrics: ${e.message}`);
	}
}

async function listPage(d, desc, sort, limit, cursor, zone, viaRpc) {
	const args = { p_shop_id: SPEC.cursor_shop, p_sort: sort, p_limit: limit };
	if (cursor !== null) args.p_cursor = cursor;
	if (viaRpc) return JSON.parse(await d.rpc('shop_customer_list', desc, args, SPEC.cursor_owner, zone));
	return (await d.call('shop_customer_list', args, SPEC.cursor_owner, zone)).rows;
}

async function checkCursors(d, c) {
	const { sorts, zones, limit } = SPEC.cursor;
	const desc = (await d.describe('shop_customer_list'))[0];
	for (const sort of sorts) {
		const full = await listPage(d, desc, sort, 500, null, 'UTC', true);
		c.check(full.length === 18, `cursor shop, ${sort}: ${full.length} customers, 18 expected`);
		const want = full.map((r) => r.id).join();
		const got = [];
		let cursor = null;
		for (let n = 0; n < 20; n++) {
			const page = await listPage(d, desc, sort, limit, cursor, zones[n % zones.length], n % 2 === 0);
			if (page.length === 0) break;
			got.push(...page.map((r) => r.id));
			cursor = page[page.length - 1].cursor;
			c.check(typeof cursor === 'string', `${sort}: cursor ${cursor} is not a string`);
		}
		c.check(got.join() === want, `${sort}: paging with the cursor across TimeZones gave ${got}, expected ${want}`);
	}
	const first = await listPage(d, desc, 'last_purchase', 2, null, 'UTC', true);
	for (const [bad, why] of [[first[1].cursor, 'a last_purchase cursor with p_sort total_spent'], ['not-a-cursor', 'garbage']]) {
		try {
			await listPage(d, desc, 'total_spent', 2, bad, 'UTC', false);
			c.check(false, `shop_customer_list accepted ${why}`);
		} catch (e) {
			c.check(e.sqlstate === '22023', `shop_customer_list with ${why}: ${e.message}`);
		}
	}
}

async function run(Driver, db) {
	const d = new Driver();
	const c = new Checker(d);
	await d.connect(db);
	try {
		await checkFunctions(d, c);
		console.log(`${d.name}: ${SPEC.functions.length} functions, RPC and direct (${c.checks} checks)`);
		await checkStrangerAndAnon(d, c);
		await checkCursors(d, c);
		console.log(`${d.name}: stranger and anon, cursors across TimeZones (${c.checks} checks)`);
	} catch (e) {
		c.check(false, `unexpected error: ${e.message}`);
	} finally {
		await d.close();
	}
	return c;
}

const db = process.argv[2];
let problems = [];
let checks = 0;
for (const Driver of [NodePg, PostgresJs]) {
	const c = await run(Driver, db);
	problems = problems.concat(c.problems);
	checks += c.checks;
}
for (const p of problems.slice(0, 60)) console.log('  ' + p);
if (problems.length) {
	console.log(`node drivers: FAIL (${problems.length} problems in ${checks} checks)`);
	process.exitCode = 1;
} else {
	console.log(`node drivers: PASS (${checks} checks)`);
}
