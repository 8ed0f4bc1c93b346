// Browser tests of the reference dashboard: headless Chromium (Debian's) driven by
// playwright-core, against a running dashboard (DASHBOARD_URL) on a database holding the demo
// orders (test/fixtures/demo-orders.sql + sql/demo-extra.sql). test/scripts/dashboard_browser.sh
// sets all of it up; run by hand with
//
//   DASHBOARD_URL=http://127.0.0.1:8080/ PGHOST=... PGPORT=... PGDATABASE=... PGUSER=postgres \
//     node --test test/
//
// What it checks, at a desktop and a phone width: every page loads without a console error,
// failed request or error status; the numbers on the pages equal what the SQL functions return
// for the same owner (queried here, independently of the app's lib/sql.js); an owner opening
// another owner's shop sees none of its data; a shop with no customers renders; nothing
// overflows a phone's width. Screenshots go to SCREENSHOT_DIR.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { chromium } from 'playwright-core';

const BASE = process.env.DASHBOARD_URL;
const SHOTS = process.env.SCREENSHOT_DIR || 'screenshots';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIME_ZONE = process.env.DASHBOARD_TIMEZONE || 'Africa/Accra';
const PAGE_SIZE = Number(process.env.DASHBOARD_PAGE_SIZE || 20);

// test/fixtures/demo-orders.sql and sql/demo-extra.sql
const KOFI = { owner: 'a1a1a1a1-0000-4000-8000-000000000001', shop: '11111111-1111-4111-8111-111111111111', name: 'Kofi Data Hub' };
const AMA = { owner: 'a2a2a2a2-0000-4000-8000-000000000002', shop: '22222222-2222-4222-8222-222222222222', name: 'Ama Bundles' };
const NANA = { owner: 'a4a4a4a4-0000-4000-8000-000000000004', shop: '44444444-4444-4444-8444-444444444444', name: 'Nana New Shop' };
const NOBODY = 'a9a9a9a9-0000-4000-8000-000000000009'; // owns no shop

const WIDTHS = {
	desktop: { viewport: { width: 1280, height: 900 } },
	phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
};

let browser;
let db;

before(async () => {
	assert.ok(BASE, 'DASHBOARD_URL must be set');
	fs.mkdirSync(SHOTS, { recursive: true });
	db = new pg.Client({ application_name: 'dashboard_browser_test' });
	await db.connect();
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
	});
});

after(async () => {
	await browser?.close();
	await db?.end();
});

// ------------------------------------------------------------------------------------------------
// The truth: the SQL functions called the PostgREST way as the owner (own code, not the app's).
async function asOwner(owner, text, params = []) {
	await db.query('BEGIN READ ONLY; SET LOCAL ROLE authenticated');
	try {
		await db.query("SELECT set_config('request.jwt.claims', $1, true), set_config('timezone', $2, true)",
			[JSON.stringify({ sub: owner, role: 'authenticated' }), TIME_ZONE]);
		return (await db.query(text, params)).rows;
	} finally {
		await db.query('ROLLBACK');
	}
}

const metricsOf = async (owner, shop) =>
	(await asOwner(owner, 'SELECT * FROM shop_customer_metrics(p_shop_id => $1)', [shop]))[0];

// '1,234.50', 'GHS 1,234.50', '(53.5%)' -> '1234.5'; SQL's '1234.50' -> '1234.5'
function canon(s) {
	let t = String(s).replace(/[^0-9.-]/g, '');
	if (t.includes('.')) t = t.replace(/0+$/, '').replace(/\.$/, '');
	t = t.replace(/^(-?)0+(?=\d)/, '$1');
	return t === '-0' ? '0' : t;
}

function assertSameNumber(pageText, sqlValue, what) {
	assert.equal(canon(pageText), canon(sqlValue), `${what}: page shows "${pageText}", SQL says ${sqlValue}`);
}

// ------------------------------------------------------------------------------------------------
// A signed-in browser context that records every console error, page error, failed request and
// error status.
async function session(owner, width) {
	const context = await browser.newContext({ ...WIDTHS[width], baseURL: BASE });
	const page = await context.newPage();
	const problems = [];
	page.on('console', (msg) => {
		if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
	});
	page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
	page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
	page.on('response', (res) => {
		if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
	});
	const s = {
		context,
		page,
		width,
		async go(p) {
			const res = await page.goto(p, { waitUntil: 'load' });
			assert.equal(res.status(), 200, `GET ${p}`);
			s.clean(p);
		},
		clean(where) {
			assert.deepEqual(problems.splice(0), [], `problems on ${where}`);
		},
		async shot(name, fullPage = true) {
			await page.screenshot({ path: path.join(SHOTS, `${width}-${name}.png`), fullPage });
		},
		// Nothing sticks out of the viewport's width (a phone browser would zoom out or scroll).
		async noOverflow(where) {
			const want = WIDTHS[width].viewport.width;
			const [sw, wide] = await page.evaluate((w) => [document.documentElement.scrollWidth,
				[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 0.5
					&& !e.closest('.scroll')).slice(0, 3).map((e) => `${e.tagName.toLowerCase()}.${e.className}`)], want);
			assert.ok(sw <= want && wide.length === 0, `${where}: the page is ${sw}px wide in a ${want}px viewport (${wide.join(', ')})`);
		},
		close: () => context.close(),
	};
	if (owner) {
		await s.go('/signin');
		const button = page.locator(`button.owner[data-owner="${owner}"]`);
		if (await button.count()) {
			await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/signin')), button.click()]);
		} else {
			await page.fill('#owner-id', owner);
			await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/signin')), page.click('.other-owner button')]);
		}
		s.clean('sign-in');
	}
	return s;
}

const metricTexts = (page) => page.locator('[data-metric]').evaluateAll(
	(els) => Object.fromEntries(els.map((e) => [e.dataset.metric, e.textContent.trim()])));

const METRICS = ['total_customers', 'repeat_customers', 'repeat_rate', 'new_customers_30d',
	'new_customers_this_month', 'average_ltv', 'total_revenue'];

// The dashboard's numbers equal shop_customer_metrics(). The metrics depend on now(): the page
// must equal the result just before or just after it was rendered.
async function checkDashboard(s, who, shop) {
	const before = await metricsOf(who, shop);
	await s.go(`/shops/${shop}`);
	const after = await metricsOf(who, shop);
	const shown = await metricTexts(s.page);
	assert.deepEqual(Object.keys(shown).sort(), [...METRICS].sort());
	const matches = (m) => METRICS.every((k) => canon(shown[k]) === canon(m[k]));
	if (!matches(before) && !matches(after)) {
		for (const k of METRICS) assertSameNumber(shown[k], after[k], k);
	}
	return after;
}

// Customer ids in the table, in order.
const shownCustomerIds = (page) => page.locator('tbody.customer').evaluateAll((els) => els.map((e) => e.dataset.customerId));

async function customerRowsShown(page) {
	return page.locator('tbody.customer').evaluateAll((els) => els.map((e) => ({
		id: e.dataset.customerId,
		purchases: e.querySelector('[data-col="total_purchases"]').textContent,
		spent: e.querySelector('[data-col="total_spent"]').textContent,
		repeat: !!e.querySelector('.badge:not(.tier)'),
		tier: e.querySelector('[data-col="tier"]')?.textContent ?? null,
		network: e.querySelector('[data-col="preferred_network"]').textContent,
		name: e.querySelector('.name').textContent,
	})));
}

const listOf = (owner, shop, { search = null, repeatOnly = false, sort = 'last_purchase', limit = 500, tier = null } = {}) =>
	asOwner(owner, `SELECT * FROM shop_customer_list(p_shop_id => $1, p_search => $2, p_repeat_only => $3,
	                                                  p_sort => $4, p_limit => $5, p_tier => $6)`,
	[shop, search, repeatOnly, sort, limit, tier]);

// ------------------------------------------------------------------------------------------------
test('the sign-in page lists the owners and renders at both widths', async () => {
	for (const width of Object.keys(WIDTHS)) {
		const s = await session(null, width);
		await s.go('/');
		assert.match(s.page.url(), /\/signin$/);
		const owners = await s.page.locator('button.owner').evaluateAll((els) => els.map((e) => e.dataset.owner));
		for (const o of [KOFI.owner, AMA.owner, NANA.owner]) assert.ok(owners.includes(o), `owner ${o} listed`);
		await s.noOverflow('sign-in');
		await s.shot('signin');
		await s.close();
	}
});

for (const width of Object.keys(WIDTHS)) {
	test(`${width}: the shop dashboard shows shop_customer_metrics, the daily series, networks and churn`, async () => {
		const s = await session(KOFI.owner, width);
		assert.equal(new URL(s.page.url()).pathname, `/shops/${KOFI.shop}`, 'signing in opens the first shop');
		const m = await checkDashboard(s, KOFI.owner, KOFI.shop);
		assert.ok(Number(m.total_customers) > 0 && Number(m.repeat_customers) > 0, 'the demo shop has customers');
		assert.equal(await s.page.locator('h2', { hasText: 'Customer Overview' }).count(), 1);
		assert.equal(await s.page.locator('#not-yours').count(), 0);
		assert.equal(await s.page.locator('#no-customers').count(), 0);

		// The daily table under the chart equals shop_daily_series(), day by day.
		const series = await asOwner(KOFI.owner, "SELECT day::text AS day, purchases, revenue, new_customers, checkouts FROM shop_daily_series(p_shop_id => $1)", [KOFI.shop]);
		const days = await s.page.locator('.daily-table tbody tr').evaluateAll((rows) => rows.map((r) => ({
			day: r.dataset.day,
			...Object.fromEntries([...r.querySelectorAll('[data-col]')].map((c) => [c.dataset.col, c.textContent])),
		})));
		assert.deepEqual(days.map((d) => d.day), series.map((d) => d.day));
		for (const [i, d] of series.entries()) {
			for (const col of ['checkouts', 'purchases', 'revenue', 'new_customers']) {
				assertSameNumber(days[i][col], d[col], `${d.day} ${col}`);
			}
		}
		const bars = await s.page.locator('#chart-revenue rect').count();
		assert.equal(bars, series.length, 'one revenue bar per day');
		assert.ok(series.some((d) => Number(d.purchases) > 0), 'the demo has purchases in the last 30 days');

		const networks = await asOwner(KOFI.owner, 'SELECT * FROM shop_network_analytics(p_shop_id => $1)', [KOFI.shop]);
		const netRows = await s.page.locator('#networks tbody tr').evaluateAll((rows) => rows.map((r) => [
			r.dataset.network, ...[...r.querySelectorAll('td.num')].map((c) => c.textContent)]));
		assert.equal(netRows.length, networks.length);
		for (const [i, n] of networks.entries()) {
			assert.equal(netRows[i][0], n.network);
			assertSameNumber(netRows[i][1], n.customers_preferring, `${n.network} customers`);
			assertSameNumber(netRows[i][2], n.purchases, `${n.network} purchases`);
			assertSameNumber(netRows[i][3], n.revenue, `${n.network} revenue`);
		}
		const decay = await asOwner(KOFI.owner, 'SELECT * FROM shop_last_purchase_decay(p_shop_id => $1)', [KOFI.shop]);
		const decayShown = await s.page.locator('#churn tbody tr td.num').allTextContents();
		assert.deepEqual(decayShown.map(canon), decay.map((b) => canon(b.customers)));

		if (width === 'phone') await s.noOverflow('dashboard');
		await s.page.locator('details.data').evaluate((d) => { d.open = false; });
		await s.shot('dashboard');
		await s.close();
	});

	test(`${width}: the customers page pages through shop_customer_list with "load more" and opens histories`, async () => {
		const s = await session(KOFI.owner, width);
		await s.go(`/shops/${KOFI.shop}/customers`);
		const all = await listOf(KOFI.owner, KOFI.shop);
		const m = await metricsOf(KOFI.owner, KOFI.shop);
		assert.equal(String(all.length), m.total_customers, 'the list holds every customer');
		assert.ok(all.length > PAGE_SIZE, 'the demo shop needs more than one page');
		assert.ok(all.some((c) => c.tier === 'VIP') && all.some((c) => c.tier === 'Member'), 'the demo shop has tiers');

		// First page: the first PAGE_SIZE customers by last purchase, with their figures.
		let shown = await customerRowsShown(s.page);
		assert.equal(shown.length, PAGE_SIZE);
		for (const [i, row] of shown.entries()) {
			const c = all[i];
			assert.equal(row.id, c.id, `row ${i}`);
			assertSameNumber(row.purchases, c.total_purchases, `${c.id} purchases`);
			assertSameNumber(row.spent, c.total_spent, `${c.id} total spent`);
			assert.equal(row.repeat, c.repeat_customer, `${c.id} repeat badge`);
			assert.equal(row.tier, c.tier, `${c.id} tier badge`);
			assert.equal(row.network, c.preferred_network ?? '—');
			assert.equal(row.name, c.customer_name ?? '(no name)');
		}
		if (width === 'phone') await s.noOverflow('customers');

		// Open the first customer's purchase history: it equals customer_purchase_history().
		const first = all[0];
		const historyRow = s.page.locator(`#h-${first.id}`);
		await s.page.locator(`tbody.customer[data-customer-id="${first.id}"] a.history-toggle`).click();
		await historyRow.locator('.history-table, .empty').first().waitFor();
		const hist = await asOwner(KOFI.owner, 'SELECT * FROM customer_purchase_history(p_customer_id => $1)', [first.id]);
		const amounts = await historyRow.locator('[data-col="amount"]').allTextContents();
		assert.deepEqual(amounts.map(canon), hist.map((h) => canon(h.amount)));
		const ids = await historyRow.locator('tr[data-order-id]').evaluateAll((rows) => rows.map((r) => r.dataset.orderId));
		assert.deepEqual(ids, hist.map((h) => h.order_id));
		// A repeat customer with an unpaid order too, when the demo has one: open it as well.
		const withUnpaid = (await asOwner(KOFI.owner, `SELECT c.id FROM shop_customer_list(p_shop_id => $1, p_limit => $2) c
			WHERE c.repeat_customer AND EXISTS (SELECT 1 FROM customer_purchase_history(p_customer_id => c.id) h
			                                    WHERE NOT h.purchase_completed) LIMIT 1`, [KOFI.shop, PAGE_SIZE]))[0];
		if (withUnpaid && withUnpaid.id !== first.id) {
			await s.page.locator(`tbody.customer[data-customer-id="${withUnpaid.id}"] a.history-toggle`).click();
			await s.page.locator(`#h-${withUnpaid.id} .history-table`).waitFor();
			assert.ok(await s.page.locator(`#h-${withUnpaid.id} tr.unpaid`).count() > 0, 'unpaid orders are shown as not counted');
		}
		s.clean('purchase history');
		await s.shot('customers');
		await s.page.evaluate(() => window.scrollTo(0, 0));
		await s.shot('customers-top', false);

		// "Load more" until the end: the ids are the whole keyset-ordered list, each once.
		let clicks = 0;
		while (await s.page.locator('#load-more').count()) {
			const before = shown.length;
			await s.page.locator('#load-more').click();
			await s.page.waitForFunction((n) => document.querySelectorAll('tbody.customer').length > n, before);
			shown = await customerRowsShown(s.page);
			clicks += 1;
			assert.ok(clicks < 100, 'load more ends');
		}
		await s.page.locator('#end-of-list').waitFor();
		s.clean('load more');
		assert.deepEqual(shown.map((r) => r.id), all.map((c) => c.id));
		assert.equal(clicks, Math.ceil(all.length / PAGE_SIZE) - 1);
		await s.close();
	});
}

test('customers: search by any phone format or name, repeat filter and sorts equal shop_customer_list', async () => {
	const s = await session(KOFI.owner, 'desktop');
	const all = await listOf(KOFI.owner, KOFI.shop);
	const target = all.find((c) => /^\+233\d{9}$/.test(c.phone_number) && c.repeat_customer);
	assert.ok(target, 'a Ghanaian repeat customer');
	const national = target.phone_number.replace(/^\+233/, '0');
	const formats = [national, `${national.slice(0, 3)} ${national.slice(3, 6)} ${national.slice(6)}`,
		`+233 ${national.slice(1, 3)} ${national.slice(3, 6)} ${national.slice(6)}`, target.phone_number.slice(1)];
	for (const typed of formats) {
		await s.go(`/shops/${KOFI.shop}/customers`);
		await s.page.fill('input[name=q]', typed);
		await Promise.all([s.page.waitForURL(/[?&]q=/), s.page.click('form.filters button[type=submit]')]);
		s.clean(`search ${typed}`);
		assert.deepEqual(await shownCustomerIds(s.page), [target.id], `searching "${typed}"`);
	}
	if (target.customer_name) {
		const part = target.customer_name.split(' ')[0].toLowerCase();
		await s.go(`/shops/${KOFI.shop}/customers?q=${encodeURIComponent(part)}`);
		const expected = await listOf(KOFI.owner, KOFI.shop, { search: part, limit: PAGE_SIZE });
		assert.ok(expected.length > 0);
		assert.deepEqual(await shownCustomerIds(s.page), expected.map((c) => c.id), `searching "${part}"`);
	}
	await s.go(`/shops/${KOFI.shop}/customers?q=${encodeURIComponent('no such customer zzz')}`);
	assert.equal(await s.page.locator('#no-customers').textContent(), 'No customer matches.');

	// The repeat filter (through the form) and each sort.
	await s.go(`/shops/${KOFI.shop}/customers`);
	await s.page.check('input[name=repeat]');
	await s.page.selectOption('select[name=sort]', 'total_spent');
	await Promise.all([s.page.waitForURL(/repeat=1/), s.page.click('form.filters button[type=submit]')]);
	s.clean('repeat filter');
	const repeatSpent = await listOf(KOFI.owner, KOFI.shop, { repeatOnly: true, sort: 'total_spent', limit: PAGE_SIZE });
	const rows = await customerRowsShown(s.page);
	assert.deepEqual(rows.map((r) => r.id), repeatSpent.map((c) => c.id));
	assert.ok(rows.every((r) => r.repeat), 'only repeat customers');
	for (const sort of ['purchases', 'total_spent', 'last_purchase']) {
		await s.go(`/shops/${KOFI.shop}/customers?sort=${sort}`);
		const expected = await listOf(KOFI.owner, KOFI.shop, { sort, limit: PAGE_SIZE });
		assert.deepEqual(await shownCustomerIds(s.page), expected.map((c) => c.id), `sort ${sort}`);
	}
	// The tier filter (through the form): the shop's tiers to choose from, and the rows of one.
	await s.go(`/shops/${KOFI.shop}/customers`);
	const tierNames = (await asOwner(KOFI.owner, 'SELECT name FROM shop_loyalty_tiers(p_shop_id => $1)', [KOFI.shop])).map((t) => t.name);
	assert.deepEqual((await s.page.locator('#tier-filter option').allTextContents()).slice(1), tierNames);
	await s.page.selectOption('#tier-filter', 'VIP');
	await Promise.all([s.page.waitForURL(/tier=VIP/), s.page.click('form.filters button[type=submit]')]);
	s.clean('tier filter');
	const vip = await listOf(KOFI.owner, KOFI.shop, { tier: 'VIP', limit: PAGE_SIZE });
	const vipRows = await customerRowsShown(s.page);
	assert.ok(vip.length > 0, 'the demo shop has VIP customers');
	assert.deepEqual(vipRows.map((r) => r.id), vip.map((c) => c.id));
	assert.ok(vipRows.every((r) => r.tier === 'VIP'), 'only VIP customers');
	// A tier the shop does not have lists everyone instead of failing.
	await s.go(`/shops/${KOFI.shop}/customers?tier=${encodeURIComponent('No such tier')}`);
	assert.deepEqual(await shownCustomerIds(s.page), all.slice(0, PAGE_SIZE).map((c) => c.id));
	// Without JavaScript's help "load more" is a link to the next keyset page.
	const purchases = await listOf(KOFI.owner, KOFI.shop, { sort: 'purchases' });
	await s.go(`/shops/${KOFI.shop}/customers?sort=purchases`);
	const href = await s.page.locator('#load-more').getAttribute('href');
	await s.go(href);
	assert.deepEqual(await shownCustomerIds(s.page), purchases.slice(PAGE_SIZE, 2 * PAGE_SIZE).map((c) => c.id));
	await s.close();
});

for (const width of Object.keys(WIDTHS)) {
	test(`${width}: slug analytics equal shop_slug_analytics, all time and for a period`, async () => {
		const s = await session(KOFI.owner, width);
		for (const period of ['', '30d']) {
			await s.go(`/shops/${KOFI.shop}/slugs${period ? `?period=${period}` : ''}`);
			const from = await s.page.locator('#slugs').getAttribute('data-from');
			const expected = from
				? await asOwner(KOFI.owner, 'SELECT * FROM shop_slug_analytics(p_shop_id => $1, p_from => $2)', [KOFI.shop, from])
				: await asOwner(KOFI.owner, 'SELECT * FROM shop_slug_analytics(p_shop_id => $1)', [KOFI.shop]);
			assert.equal(!!from, !!period);
			assert.ok(expected.length > 0);
			const rows = await s.page.locator('#slugs tbody tr').evaluateAll((trs) => trs.map((r) => ({
				slug: r.dataset.slug,
				...Object.fromEntries([...r.querySelectorAll('[data-col]')].map((c) => [c.dataset.col, c.textContent])),
			})));
			assert.deepEqual(rows.map((r) => r.slug), expected.map((e) => e.slug ?? ''));
			for (const [i, e] of expected.entries()) {
				for (const col of ['checkouts', 'purchases', 'conversion_rate', 'revenue', 'customers', 'new_customers', 'repeat_customers']) {
					assertSameNumber(rows[i][col], e[col], `${e.slug} ${col}`);
				}
			}
			if (width === 'phone') await s.noOverflow('slugs');
			if (!period) await s.shot('slugs');
		}
		await s.close();
	});
}

test('a stranger (another owner, or nobody\'s account) sees none of a shop\'s data', async () => {
	const kofiIds = new Set((await db.query('SELECT id::text FROM shop_customers WHERE shop_id = $1', [KOFI.shop])).rows.map((r) => r.id));
	assert.ok(kofiIds.size > 0);
	const someone = [...kofiIds][0];
	for (const [who, label] of [[AMA.owner, 'another owner'], [NOBODY, 'an account without shops']]) {
		const s = await session(who, 'desktop');
		if (who === NOBODY) {
			assert.equal(await s.page.locator('text=You have no shop yet.').count(), 1);
		}
		// Straight to the other shop's pages.
		await checkDashboard(s, who, KOFI.shop);
		const shown = await metricTexts(s.page);
		for (const k of METRICS) assert.equal(canon(shown[k]), '0', `${label}: ${k} is 0`);
		assert.equal(await s.page.locator('#not-yours').count(), 1, 'the page says it is not their shop');
		assert.equal(await s.page.locator('#networks tbody tr').count(), 0);
		if (who === AMA.owner) await s.shot('stranger-dashboard');

		await s.go(`/shops/${KOFI.shop}/customers`);
		assert.equal(await s.page.locator('tbody.customer').count(), 0);
		assert.equal(await s.page.locator('#no-customers').count(), 1);
		await s.go(`/shops/${KOFI.shop}/customers?q=${encodeURIComponent('a')}`);
		assert.equal(await s.page.locator('tbody.customer').count(), 0);
		await s.go(`/shops/${KOFI.shop}/slugs`);
		assert.equal(await s.page.locator('#slugs').count(), 0);
		assert.equal(await s.page.locator('#no-slugs').count(), 1);
		await s.go(`/shops/${KOFI.shop}/customers/${someone}`);
		assert.equal(await s.page.locator('.history-table').count(), 0);
		assert.equal(await s.page.locator('text=No orders to show.').count(), 1);
		const body = await s.page.content();
		for (const id of kofiIds) assert.ok(!body.includes(id) || id === someone, `no customer id of the other shop on the page (${id})`);
		await s.close();
	}
	// And the other owner's own dashboard shows their own shop, not Kofi's.
	const s = await session(AMA.owner, 'desktop');
	assert.equal(new URL(s.page.url()).pathname, `/shops/${AMA.shop}`);
	await checkDashboard(s, AMA.owner, AMA.shop);
	await s.go(`/shops/${AMA.shop}/customers`);
	const ids = await shownCustomerIds(s.page);
	assert.ok(ids.length > 0 && ids.every((id) => !kofiIds.has(id)), 'only their own customers');
	await s.close();
});

for (const width of Object.keys(WIDTHS)) {
	test(`${width}: a shop with zero customers renders every page`, async () => {
		const s = await session(NANA.owner, width);
		assert.equal(new URL(s.page.url()).pathname, `/shops/${NANA.shop}`);
		const m = await checkDashboard(s, NANA.owner, NANA.shop);
		assert.equal(m.total_customers, '0');
		const shown = await metricTexts(s.page);
		assert.equal(shown.total_revenue, 'GHS 0.00');
		assert.equal(shown.average_ltv, 'GHS 0.00');
		assert.equal(shown.repeat_rate, '0.0%');
		assert.equal(await s.page.locator('#no-customers').count(), 1);
		assert.equal(await s.page.locator('#not-yours').count(), 0);
		if (width === 'phone') await s.noOverflow('empty dashboard');
		await s.shot('empty-dashboard');
		await s.go(`/shops/${NANA.shop}/customers`);
		assert.match(await s.page.locator('#no-customers').textContent(), /No customers yet/);
		await s.go(`/shops/${NANA.shop}/slugs`);
		assert.equal(await s.page.locator('#no-slugs').count(), 1);
		if (width === 'phone') await s.noOverflow('empty slugs');
		await s.close();
	});
}

test('signing out leads back to the sign-in page', async () => {
	const s = await session(KOFI.owner, 'desktop');
	await Promise.all([s.page.waitForURL(/\/signin$/), s.page.click('.who button.link')]);
	await s.go(`/shops/${KOFI.shop}`);
	assert.match(s.page.url(), /\/signin$/);
	await s.close();
});
