// The pages. Each handler gets the signed-in owner and the request, asks lib/sql.js for data and
// returns HTML (or JSON for the customers page's "load more").

import { html, raw, esc, layout, query } from './html.js';
import { formatCount, formatMoney, formatPercent, formatPhone, makeDateFormatters } from './format.js';
import { dailyChart } from './chart.js';

export const SORTS = {
	last_purchase: 'Last purchase',
	total_spent: 'Total spent',
	purchases: 'Purchases',
};

export const PERIODS = {
	all: { label: 'All time', days: null },
	'30d': { label: 'Last 30 days', days: 30 },
	'7d': { label: 'Last 7 days', days: 7 },
};

export function makePages(api, config) {
	const fmt = makeDateFormatters(config.timeZone);
	const money = (v) => formatMoney(v, config.currency);

	// The owner's shops and the page's nav. A shop that is not the owner's still renders: the
	// database decides what of it is visible (nothing), and the page says so.
	async function shopContext(ownerId, shopId, active) {
		const shops = await api.ownShops(ownerId);
		const shop = shops.find((s) => s.id === shopId) || null;
		return {
			shop,
			title: shop ? shop.name : 'Shop',
			nav: { shops, shopId, active, ownerId },
			notice: shop ? '' : html`<p class="notice" role="status" id="not-yours">This shop is not one of yours. The database's row-level security returns none of its data, so everything below is empty.</p>`,
		};
	}

	function heading(ctx, title) {
		return html`<div class="page-head">
  <h1>${title}</h1>
  <p class="sub">${ctx.shop ? html`${ctx.shop.name}${ctx.shop.slug ? html` · <code>${ctx.shop.slug}</code>` : ''}` : 'Not your shop'}</p>
</div>
${ctx.notice}`;
	}

	// ---------------------------------------------------------------------------------------------
	async function signin(owners, error) {
		return layout({
			title: 'Sign in',
			nav: null,
			body: html`<section class="card narrow">
  <h1>Sign in</h1>
  <p class="hint">A stub sign-in for the reference dashboard: pick a shop owner. A real app gets the owner's id from its auth provider (Supabase Auth, a JWT); the database only needs it in <code>request.jwt.claims</code>.</p>
  ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
  <ul class="owners">
    ${owners.map((o) => html`<li><form method="post" action="/signin">
      <input type="hidden" name="owner" value="${o.owner_id}">
      <button type="submit" class="owner" data-owner="${o.owner_id}"><strong>${o.shop_names.join(', ')}</strong><span>${o.owner_id}</span></button>
    </form></li>`)}
  </ul>
  <form method="post" action="/signin" class="other-owner">
    <label for="owner-id">Or any owner id</label>
    <div class="row"><input id="owner-id" name="owner" placeholder="00000000-0000-4000-8000-000000000000" autocomplete="off" spellcheck="false">
    <button type="submit">Sign in</button></div>
  </form>
</section>`,
		});
	}

	async function home(ownerId) {
		const shops = await api.ownShops(ownerId);
		return layout({
			title: 'Your shops',
			nav: { shops, shopId: null, active: null, ownerId },
			body: html`<section class="card narrow">
  <h1>Your shops</h1>
  ${shops.length ? html`<ul class="shops">${shops.map((s) => html`<li><a href="/shops/${s.id}">${s.name}</a></li>`)}</ul>`
		: html`<p class="empty">You have no shop yet.</p>`}
</section>`,
		});
	}

	// ---------------------------------------------------------------------------------------------
	async function dashboard(ownerId, shopId) {
		const [ctx, m, series, networks, decay] = await Promise.all([
			shopContext(ownerId, shopId, 'dashboard'),
			api.customerMetrics(ownerId, shopId),
			api.dailySeries(ownerId, shopId),
			api.networkAnalytics(ownerId, shopId),
			api.lastPurchaseDecay(ownerId, shopId),
		]);
		const none = m.total_customers === '0';
		const metric = (key, text) => html`<span class="value" data-metric="${key}" data-raw="${m[key]}">${text}</span>`;
		const overview = html`<article class="card overview" id="customer-overview">
  <h2>Customer Overview</h2>
  <dl>
    <div><dt>Total Customers</dt><dd>${metric('total_customers', formatCount(m.total_customers))}</dd></div>
    <div><dt>Repeat Customers</dt><dd>${metric('repeat_customers', formatCount(m.repeat_customers))} <span class="rate">(${metric('repeat_rate', formatPercent(m.repeat_rate))})</span></dd></div>
    <div><dt>New This Month</dt><dd>${metric('new_customers_this_month', formatCount(m.new_customers_this_month))}</dd></div>
    <div><dt>Average LTV</dt><dd>${metric('average_ltv', money(m.average_ltv))}</dd></div>
    <div><dt>Total Revenue</dt><dd>${metric('total_revenue', money(m.total_revenue))}</dd></div>
  </dl>
  <div class="meter" role="img" aria-label="Repeat rate ${formatPercent(m.repeat_rate)}"><span style="width:${Math.min(100, Number(m.repeat_rate))}%"></span></div>
  ${none ? html`<p class="empty" id="no-customers">No customers yet. A customer appears here with their first paid order.</p>` : ''}
</article>`;
		const newTile = html`<article class="card tile" id="new-customers">
  <h2>New customers</h2>
  <p class="big">${metric('new_customers_30d', formatCount(m.new_customers_30d))}</p>
  <p class="hint">first purchase in the last 30 days</p>
</article>`;

		const totals = series.reduce((t, d) => ({
			purchases: t.purchases + Number(d.purchases),
			checkouts: t.checkouts + Number(d.checkouts),
		}), { purchases: 0, checkouts: 0 });
		const chart = html`<article class="card wide" id="daily">
  <h2>Purchases and revenue, last 30 days</h2>
  ${totals.purchases === 0 && totals.checkouts === 0
		? html`<p class="empty" id="no-orders">No orders in the last 30 days.</p>`
		: raw(dailyChart(series, { money, day: fmt.day }))}
  <details class="data">
    <summary>Daily figures (UTC days)</summary>
    <div class="scroll"><table class="daily-table">
      <thead><tr><th>Day</th><th class="num">Checkouts</th><th class="num">Purchases</th><th class="num">Revenue</th><th class="num">New customers</th></tr></thead>
      <tbody>${series.map((d) => html`<tr data-day="${d.day}">
        <td>${fmt.day(d.day)}</td><td class="num" data-col="checkouts">${formatCount(d.checkouts)}</td>
        <td class="num" data-col="purchases">${formatCount(d.purchases)}</td><td class="num" data-col="revenue">${money(d.revenue)}</td>
        <td class="num" data-col="new_customers">${formatCount(d.new_customers)}</td></tr>`)}</tbody>
    </table></div>
  </details>
</article>`;

		const maxNet = Math.max(1, ...networks.map((n) => Number(n.purchases)));
		const networkCard = html`<article class="card" id="networks">
  <h2>Networks</h2>
  ${networks.length === 0 ? html`<p class="empty">No purchases yet.</p>` : html`<div class="scroll"><table class="compact">
    <thead><tr><th>Network</th><th class="num">Preferred by</th><th class="num">Purchases</th><th class="num">Revenue</th></tr></thead>
    <tbody>${networks.map((n) => html`<tr data-network="${n.network}">
      <td><span class="bar" style="--w:${(100 * Number(n.purchases)) / maxNet}%"></span>${n.network}</td>
      <td class="num">${formatCount(n.customers_preferring)}</td><td class="num">${formatCount(n.purchases)}</td>
      <td class="num">${money(n.revenue)}</td></tr>`)}</tbody>
  </table></div>`}
</article>`;

		const maxDecay = Math.max(1, ...decay.map((b) => Number(b.customers)));
		const decayCard = html`<article class="card" id="churn">
  <h2>Days since last purchase</h2>
  <table class="compact">
    <thead><tr><th>Last purchase</th><th class="num">Customers</th><th>Churn risk</th></tr></thead>
    <tbody>${decay.map((b) => html`<tr data-bucket="${b.bucket}">
      <td><span class="bar risk-${b.churn_risk}" style="--w:${(100 * Number(b.customers)) / maxDecay}%"></span>${b.bucket}</td>
      <td class="num">${formatCount(b.customers)}</td><td><span class="risk risk-${b.churn_risk}">${b.churn_risk}</span></td></tr>`)}</tbody>
  </table>
</article>`;

		return layout({
			title: `${ctx.title} · Dashboard`,
			nav: ctx.nav,
			body: html`${heading(ctx, 'Dashboard')}
<section class="grid">
${overview}
${newTile}
${chart}
${networkCard}
${decayCard}
</section>`,
		});
	}

	// ---------------------------------------------------------------------------------------------
	function customerFilters(q) {
		return {
			search: (q.get('q') || '').trim().slice(0, 200),
			repeatOnly: q.get('repeat') === '1',
			tier: (q.get('tier') || '').trim().slice(0, 100),
			sort: Object.hasOwn(SORTS, q.get('sort') || '') ? q.get('sort') : 'last_purchase',
			after: q.get('after') || null,
		};
	}

	// A tier the shop does not have (any longer) lists everyone rather than an error.
	function keepKnownTier(f, tiers) {
		if (!tiers.some((t) => t.name === f.tier)) f.tier = '';
	}

	function customerRows(shopId, rows) {
		return rows.map((c) => html`<tbody class="customer" data-customer-id="${c.id}">
  <tr class="main">
    <td data-label="Customer"><span class="name">${c.customer_name || '(no name)'}</span>${c.tier ? html` <span class="badge tier" data-col="tier" title="Loyalty tier">${c.tier}</span>` : ''}<span class="phone">${formatPhone(c.phone_number)}</span></td>
    <td data-label="Email" class="email">${c.email || '—'}</td>
    <td data-label="Purchases" class="num"><span>${c.repeat_customer ? html`<span class="badge" title="2 or more purchases">Repeat</span> ` : ''}<span data-col="total_purchases">${formatCount(c.total_purchases)}</span></span></td>
    <td data-label="Total spent" class="num" data-col="total_spent">${money(c.total_spent)}</td>
    <td data-label="First purchase" data-col="first_purchase_at">${fmt.date(c.first_purchase_at)}</td>
    <td data-label="Last purchase" data-col="last_purchase_at">${fmt.date(c.last_purchase_at)}</td>
    <td data-label="Network" data-col="preferred_network">${c.preferred_network || '—'}</td>
    <td class="actions"><a class="history-toggle" href="/shops/${shopId}/customers/${c.id}" aria-expanded="false" aria-controls="h-${c.id}">History</a></td>
  </tr>
  <tr class="history" id="h-${c.id}" hidden><td colspan="8"><div class="history-body" data-src="/shops/${shopId}/customers/${c.id}?fragment=1"></div></td></tr>
</tbody>`);
	}

	function nextHref(shopId, f, next) {
		if (!next) return null;
		return `/shops/${shopId}/customers${query({
			q: f.search, repeat: f.repeatOnly, tier: f.tier, sort: f.sort === 'last_purchase' ? '' : f.sort,
			after: next,
		})}`;
	}

	async function customers(ownerId, shopId, q) {
		const f = customerFilters(q);
		const pageSize = config.pageSize;
		if (q.get('fragment') === '1') {
			if (f.tier) keepKnownTier(f, await api.loyaltyTiers(ownerId, shopId));
			const page = await api.customerList(ownerId, shopId, { ...f, limit: pageSize });
			return {
				json: {
					rows: esc(customerRows(shopId, page.rows)),
					count: page.rows.length,
					next: nextHref(shopId, f, page.next),
				},
			};
		}
		const [ctx, tiers] = await Promise.all([
			shopContext(ownerId, shopId, 'customers'),
			api.loyaltyTiers(ownerId, shopId),
		]);
		keepKnownTier(f, tiers);
		const page = await api.customerList(ownerId, shopId, { ...f, limit: pageSize });
		const filtered = f.search || f.repeatOnly || f.tier;
		const more = nextHref(shopId, f, page.next);
		const body = html`${heading(ctx, 'Customers')}
<form class="filters card" method="get" action="/shops/${shopId}/customers" role="search">
  <label class="grow"><span>Search</span><input type="search" name="q" value="${f.search}" placeholder="Name, email or phone (any format)"></label>
  <label><span>Sort by</span><select name="sort">${Object.entries(SORTS).map(([k, label]) => html`<option value="${k}"${raw(k === f.sort ? ' selected' : '')}>${label}</option>`)}</select></label>
${tiers.length ? html`  <label><span>Tier</span><select name="tier" id="tier-filter"><option value="">All customers</option>${tiers.map((t) => html`<option value="${t.name}"${raw(t.name === f.tier ? ' selected' : '')}>${t.name}</option>`)}</select></label>
` : ''}  <label class="check"><input type="checkbox" name="repeat" value="1"${raw(f.repeatOnly ? ' checked' : '')}> Repeat customers only</label>
  <div class="buttons"><button type="submit">Apply</button>${filtered || f.after ? html` <a href="/shops/${shopId}/customers" class="reset">Reset</a>` : ''}</div>
</form>
${f.after ? html`<p class="hint">A later page. <a href="/shops/${shopId}/customers${query({ q: f.search, repeat: f.repeatOnly, tier: f.tier, sort: f.sort === 'last_purchase' ? '' : f.sort })}">Back to the first page</a></p>` : ''}
${page.rows.length === 0
		? html`<p class="empty card" id="no-customers">${filtered ? 'No customer matches.' : 'No customers yet. A customer appears here with their first paid order.'}</p>`
		: html`<div class="table-card card">
<table class="customers" id="customers">
  <thead><tr><th>Customer</th><th>Email</th><th class="num">Purchases</th><th class="num">Total spent</th><th>First purchase</th><th>Last purchase</th><th>Network</th><th><span class="sr-only">History</span></th></tr></thead>
  ${customerRows(shopId, page.rows)}
</table>
<div class="more">${more ? html`<a class="button load-more" id="load-more" href="${more}">Load more</a>` : html`<span class="hint" id="end-of-list">All ${f.after ? 'remaining ' : ''}customers shown.</span>`}</div>
</div>`}`;
		return layout({ title: `${ctx.title} · Customers`, nav: ctx.nav, body });
	}

	function historyTable(orders) {
		if (orders.length === 0) {
			return html`<p class="empty">No orders to show.</p>`;
		}
		return html`<table class="history-table">
  <thead><tr><th>Date</th><th class="num">Amount</th><th>Network</th><th>Slug</th><th>Status</th></tr></thead>
  <tbody>${orders.map((o) => html`<tr class="${o.purchase_completed ? 'paid' : 'unpaid'}" data-order-id="${o.order_id}">
    <td data-label="Date">${fmt.dateTime(o.created_at)}</td>
    <td data-label="Amount" class="num" data-col="amount">${money(o.amount)}</td>
    <td data-label="Network">${o.network || '—'}</td>
    <td data-label="Slug">${o.slug ? html`<code>${o.slug}</code>` : '—'}</td>
    <td data-label="Status"><span class="status ${o.purchase_completed ? 'ok' : 'no'}">${o.payment_status || (o.purchase_completed ? 'paid' : 'not paid')}</span>${o.purchase_completed ? '' : html` <span class="hint">(not counted)</span>`}</td>
  </tr>`)}</tbody>
</table>`;
	}

	async function history(ownerId, shopId, customerId, q) {
		if (q.get('fragment') === '1') {
			const orders = await api.purchaseHistory(ownerId, customerId);
			return { fragment: esc(historyTable(orders)) };
		}
		const [ctx, orders] = await Promise.all([
			shopContext(ownerId, shopId, 'customers'),
			api.purchaseHistory(ownerId, customerId),
		]);
		return layout({
			title: `${ctx.title} · Purchase history`,
			nav: ctx.nav,
			body: html`${heading(ctx, 'Purchase history')}
<p><a href="/shops/${shopId}/customers">← Customers</a></p>
<section class="card">${historyTable(orders)}</section>`,
		});
	}

	// ---------------------------------------------------------------------------------------------
	async function slugs(ownerId, shopId, q) {
		const period = Object.hasOwn(PERIODS, q.get('period') || '') ? q.get('period') : 'all';
		const days = PERIODS[period].days;
		const from = days ? new Date(Date.now() - days * 86400 * 1000) : null;
		const [ctx, rows] = await Promise.all([
			shopContext(ownerId, shopId, 'slugs'),
			api.slugAnalytics(ownerId, shopId, from),
		]);
		const maxRevenue = Math.max(1, ...rows.map((r) => Number(r.revenue)));
		const body = html`${heading(ctx, 'Slug analytics')}
<nav class="periods" aria-label="Period">${Object.entries(PERIODS).map(([k, p]) => html`<a href="/shops/${shopId}/slugs${query({ period: k === 'all' ? '' : k })}" class="chip${k === period ? ' active' : ''}"${raw(k === period ? ' aria-current="true"' : '')}>${p.label}</a>`)}</nav>
${rows.length === 0
		? html`<p class="empty card" id="no-slugs">No checkouts ${days ? 'in this period' : 'yet'}.</p>`
		: html`<div class="table-card card"><table class="slugs" id="slugs" data-period="${period}"${raw(from ? ` data-from="${esc(from.toISOString())}"` : '')}>
  <thead><tr><th>Slug</th><th class="num">Checkouts</th><th class="num">Purchases</th><th class="num">Conversion</th><th class="num">Revenue</th><th class="num">Customers</th><th class="num">New customers</th><th class="num">Repeat customers</th></tr></thead>
  <tbody>${rows.map((r) => html`<tr data-slug="${r.slug ?? ''}">
    <td data-label="Slug">${r.slug ? html`<code>${r.slug}</code>` : html`<em>(no slug)</em>`}<span class="bar" style="--w:${(100 * Number(r.revenue)) / maxRevenue}%"></span></td>
    <td data-label="Checkouts" class="num" data-col="checkouts">${formatCount(r.checkouts)}</td>
    <td data-label="Purchases" class="num" data-col="purchases">${formatCount(r.purchases)}</td>
    <td data-label="Conversion" class="num" data-col="conversion_rate">${formatPercent(r.conversion_rate)}</td>
    <td data-label="Revenue" class="num" data-col="revenue">${money(r.revenue)}</td>
    <td data-label="Customers" class="num" data-col="customers">${formatCount(r.customers)}</td>
    <td data-label="New customers" class="num" data-col="new_customers">${formatCount(r.new_customers)}</td>
    <td data-label="Repeat customers" class="num" data-col="repeat_customers">${formatCount(r.repeat_customers)}</td>
  </tr>`)}</tbody>
</table></div>`}
<p class="hint">Checkouts: orders placed through the slug (any payment status). Conversion: purchases ÷ checkouts. Customers: distinct customers whose first purchase through the slug falls in the period; new customers: acquired through it (their first purchase anywhere); repeat customers: those of them with 2 or more purchases now.</p>`;
		return layout({ title: `${ctx.title} · Slugs`, nav: ctx.nav, body });
	}

	return { signin, home, dashboard, customers, history, slugs };
}
