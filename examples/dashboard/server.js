#!/usr/bin/env node
// Reference dashboard for the customer_tracking extension.
//
//   node server.js [--host 127.0.0.1] [--port 8080]
//
// Environment (defaults in brackets):
//   PGHOST, PGPORT, PGDATABASE   where the database is (libpq's variables; a socket directory works)
//   DASHBOARD_DB_USER   [authenticator]  login role, as PostgREST's; it must be a member of:
//   DASHBOARD_ROLE      [authenticated]  role of signed-in owners (SET LOCAL ROLE per call)
//   DASHBOARD_ANON_ROLE [anon]           role for the stub sign-in's list of owners
//   DASHBOARD_SCHEMA    [public]         schema of the host tables and the extension
//   DASHBOARD_TIMEZONE  [Africa/Accra]   time zone of "this month" and of the dates shown
//   DASHBOARD_CURRENCY  [GHS]
//   DASHBOARD_PAGE_SIZE [20]             customers per page
//   DASHBOARD_HOST [127.0.0.1], DASHBOARD_PORT [8080] (0 = any free port)
// On start it prints one line "dashboard: http://HOST:PORT/".
//
// The sign-in is a stub (a cookie holding the chosen owner's id): for a local demo only.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApi, isUuid } from './lib/sql.js';
import { makePages } from './lib/pages.js';
import { layout, html } from './lib/html.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function argValue(name) {
	const i = process.argv.indexOf(name);
	return i > 0 ? process.argv[i + 1] : undefined;
}

const env = process.env;
const config = {
	pgHost: env.PGHOST || undefined,
	pgPort: env.PGPORT ? Number(env.PGPORT) : undefined,
	database: env.PGDATABASE || undefined,
	dbUser: env.DASHBOARD_DB_USER || 'authenticator',
	userRole: env.DASHBOARD_ROLE || 'authenticated',
	anonRole: env.DASHBOARD_ANON_ROLE || 'anon',
	schema: env.DASHBOARD_SCHEMA || 'public',
	timeZone: env.DASHBOARD_TIMEZONE || 'Africa/Accra',
	currency: env.DASHBOARD_CURRENCY || 'GHS',
	pageSize: Math.min(Math.max(Number(env.DASHBOARD_PAGE_SIZE) || 20, 1), 200),
	poolSize: 6,
	host: argValue('--host') || env.DASHBOARD_HOST || '127.0.0.1',
	port: Number(argValue('--port') ?? env.DASHBOARD_PORT ?? 8080),
};

const api = createApi(config);
const pages = makePages(api, config);

const STATIC = {
	'/static/style.css': ['public/style.css', 'text/css; charset=utf-8'],
	'/static/app.js': ['public/app.js', 'text/javascript; charset=utf-8'],
};

const COOKIE = 'ct_owner';

function ownerOf(req) {
	for (const part of (req.headers.cookie || '').split(';')) {
		const [k, v] = part.trim().split('=');
		if (k === COOKIE && isUuid(v)) return v.toLowerCase();
	}
	return null;
}

function send(res, status, body, type = 'text/html; charset=utf-8', headers = {}) {
	res.writeHead(status, {
		'Content-Type': type,
		'Cache-Control': 'no-store',
		'X-Content-Type-Options': 'nosniff',
		'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
		...headers,
	});
	res.end(body);
}

function redirect(res, location, headers = {}) {
	res.writeHead(303, { Location: location, 'Cache-Control': 'no-store', ...headers });
	res.end();
}

function readForm(req) {
	return new Promise((resolve, reject) => {
		let body = '';
		req.setEncoding('utf8');
		req.on('data', (chunk) => {
			body += chunk;
			if (body.length > 10000) {
				reject(new Error('form too large'));
				req.destroy();
			}
		});
		req.on('end', () => resolve(new URLSearchParams(body)));
		req.on('error', reject);
	});
}

function notFound(res, what = 'Page not found') {
	send(res, 404, layout({ title: 'Not found', nav: null, body: html`<section class="card narrow"><h1>${what}</h1><p><a href="/">Home</a></p></section>` }));
}

async function route(req, res) {
	const url = new URL(req.url, 'http://localhost');
	const p = url.pathname;

	if (req.method === 'GET' && STATIC[p]) {
		const [file, type] = STATIC[p];
		return send(res, 200, fs.readFileSync(path.join(here, file)), type);
	}
	if (p === '/healthz') {
		return send(res, 200, 'ok\n', 'text/plain');
	}
	if (p === '/signin') {
		if (req.method === 'POST') {
			const form = await readForm(req);
			const owner = (form.get('owner') || '').trim().toLowerCase();
			if (!isUuid(owner)) {
				return send(res, 400, await pages.signin(await api.listOwners(), 'An owner id is a UUID.'));
			}
			return redirect(res, '/', { 'Set-Cookie': `${COOKIE}=${owner}; Path=/; HttpOnly; SameSite=Lax` });
		}
		return send(res, 200, await pages.signin(await api.listOwners()));
	}
	if (p === '/signout' && req.method === 'POST') {
		return redirect(res, '/signin', { 'Set-Cookie': `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0` });
	}

	const owner = ownerOf(req);
	if (!owner) {
		return redirect(res, '/signin');
	}
	if (req.method !== 'GET') {
		return send(res, 405, 'method not allowed\n', 'text/plain');
	}
	if (p === '/') {
		const shops = await api.ownShops(owner);
		if (shops.length > 0) return redirect(res, `/shops/${shops[0].id}`);
		return send(res, 200, await pages.home(owner));
	}
	if (p === '/shops') {
		return send(res, 200, await pages.home(owner));
	}
	if (p === '/go') {
		const shop = url.searchParams.get('shop');
		return isUuid(shop) ? redirect(res, `/shops/${shop.toLowerCase()}`) : notFound(res);
	}

	const m = /^\/shops\/([^/]+)(?:\/(customers|slugs)(?:\/([^/]+))?)?\/?$/.exec(p);
	if (!m || !isUuid(m[1]) || (m[3] && (m[2] !== 'customers' || !isUuid(m[3])))) {
		return notFound(res);
	}
	const shopId = m[1].toLowerCase();
	const q = url.searchParams;
	if (!m[2]) {
		return send(res, 200, await pages.dashboard(owner, shopId));
	}
	if (m[2] === 'slugs') {
		return send(res, 200, await pages.slugs(owner, shopId, q));
	}
	if (m[3]) {
		const out = await pages.history(owner, shopId, m[3].toLowerCase(), q);
		return typeof out === 'string' ? send(res, 200, out) : send(res, 200, out.fragment);
	}
	if (q.has('after') && !/^[A-Za-z0-9_-]{1,400}$/.test(q.get('after'))) {
		return notFound(res, 'Bad page cursor');
	}
	let out;
	try {
		out = await pages.customers(owner, shopId, q);
	} catch (err) {
		// shop_customer_list refuses a cursor it did not make (or of another sort): invalid_parameter_value.
		if (err.code === '22023' && q.has('after')) return notFound(res, 'Bad page cursor');
		throw err;
	}
	return typeof out === 'string' ? send(res, 200, out) : send(res, 200, JSON.stringify(out.json), 'application/json');
}

const server = http.createServer((req, res) => {
	route(req, res).catch((err) => {
		console.error(`dashboard: ${req.method} ${req.url}: ${err.message}`);
		if (!res.headersSent) {
			send(res, 500, layout({ title: 'Error', nav: null, body: html`<section class="card narrow"><h1>Something went wrong</h1><p class="error">${err.message}</p><p><a href="/">Home</a></p></section>` }));
		} else {
			res.end();
		}
	});
});

server.on('error', (err) => {
	console.error(`dashboard: cannot listen on ${config.host}:${config.port}: ${err.code || err.message}`);
	process.exit(1);
});

server.listen(config.port, config.host, () => {
	const { address, port } = server.address();
	const host = address.includes(':') ? `[${address}]` : address;
	console.log(`dashboard: http://${host}:${port}/`);
});

let stopping = false;
function stop() {
	if (stopping) return;
	stopping = true;
	server.close();
	server.closeAllConnections?.();
	api.close().finally(() => process.exit(0));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
