// Tiny HTML helpers: every interpolated value goes through esc() unless it is already markup
// made by these helpers (a Raw).

class Raw {
	constructor(s) {
		this.s = s;
	}

	toString() {
		return this.s;
	}
}

export const raw = (s) => new Raw(s);

export function esc(v) {
	if (v instanceof Raw) return v.s;
	if (v === null || v === undefined || v === false) return '';
	if (Array.isArray(v)) return v.map(esc).join('');
	return String(v)
		.replace(/&/g, '&amp;')
		.replace(/</g, '&lt;')
		.replace(/>/g, '&gt;')
		.replace(/"/g, '&quot;')
		.replace(/'/g, '&#39;');
}

// Tagged template: html`<p>${value}</p>` escapes values, keeps nested html`` fragments.
export function html(strings, ...values) {
	let out = strings[0];
	for (let i = 0; i < values.length; i += 1) {
		out += esc(values[i]) + strings[i + 1];
	}
	return new Raw(out);
}

export function query(params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params)) {
		if (v !== null && v !== undefined && v !== '' && v !== false) q.set(k, v === true ? '1' : String(v));
	}
	const s = q.toString();
	return s ? `?${s}` : '';
}

// A whole page. nav: { shops, shopId, active, ownerId } or null (sign-in page).
export function layout({ title, nav, body }) {
	return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Customer tracking</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/style.css">
<script src="/static/app.js" defer></script>
</head>
<body>
<header class="top">
  <div class="brand">Customer tracking</div>
  ${nav ? navBar(nav) : ''}
</header>
<main>
${body}
</main>
<footer class="foot">Reference dashboard of the <code>customer_tracking</code> extension: every number comes from its SQL functions, called as the signed-in owner.</footer>
</body>
</html>`.toString();
}

function navBar({ shops, shopId, active, ownerId }) {
	const tab = (key, href, label) =>
		html`<a href="${href}" class="tab${key === active ? ' active' : ''}"${raw(key === active ? ' aria-current="page"' : '')}>${label}</a>`;
	const picker = shops.length > 1 || (shopId && !shops.some((s) => s.id === shopId))
		? html`<form class="shop-picker" method="get" action="/go">
  <label><span class="sr-only">Shop</span>
  <select name="shop" data-autosubmit>
    ${shops.map((s) => html`<option value="${s.id}"${raw(s.id === shopId ? ' selected' : '')}>${s.name}</option>`)}
    ${shopId && !shops.some((s) => s.id === shopId) ? html`<option value="${shopId}" selected>(not your shop)</option>` : ''}
  </select></label>
  <noscript><button type="submit">Go</button></noscript>
</form>`
		: '';
	return html`<nav class="nav">
  ${shopId ? html`<div class="tabs">
    ${tab('dashboard', `/shops/${shopId}`, 'Dashboard')}
    ${tab('customers', `/shops/${shopId}/customers`, 'Customers')}
    ${tab('slugs', `/shops/${shopId}/slugs`, 'Slugs')}
  </div>` : ''}
  <div class="who">
    ${picker}
    <form method="post" action="/signout"><button type="submit" class="link" title="${ownerId}">Sign out</button></form>
  </div>
</nav>`;
}
