// The daily chart: two bar panels (revenue, purchases) drawn as inline SVG stretched to the
// card's width; the labels are HTML so they stay readable at any width.

import { html, raw } from './html.js';

function niceMax(v) {
	if (v <= 0) return 1;
	const p = 10 ** Math.floor(Math.log10(v));
	for (const m of [1, 2, 2.5, 5, 10]) {
		if (m * p >= v) return m * p;
	}
	return 10 * p;
}

function panel({ id, label, values, max, maxLabel, titles }) {
	const n = values.length;
	const bars = values.map((v, i) => {
		const h = max > 0 ? (100 * v) / max : 0;
		// A zero day still gets a hairline so the baseline reads as "nothing" rather than missing.
		const hh = v > 0 ? Math.max(h, 1.5) : 0;
		return `<rect x="${(i + 0.15).toFixed(2)}" y="${(100 - hh).toFixed(2)}" width="0.7" height="${hh.toFixed(2)}"><title>${titles[i]}</title></rect>`;
	}).join('');
	const grid = [25, 50, 75].map((y) => `<line x1="0" x2="${n}" y1="${y}" y2="${y}" vector-effect="non-scaling-stroke"/>`).join('');
	return html`<div class="panel" id="${id}">
  <div class="panel-label"><span>${label}</span><span class="hint">max ${maxLabel}</span></div>
  <svg viewBox="0 0 ${n} 100" preserveAspectRatio="none" aria-hidden="true" focusable="false">
    <g class="grid">${raw(grid)}</g>
    <g class="bars">${raw(bars)}</g>
    <line class="base" x1="0" x2="${n}" y1="100" y2="100" vector-effect="non-scaling-stroke"/>
  </svg>
</div>`;
}

// series: rows of shop_daily_series; f: { money, day } formatters. Returns an HTML string.
export function dailyChart(series, f) {
	const n = series.length;
	if (n === 0) return '';
	const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
	const revenue = series.map((d) => Number(d.revenue));
	const purchases = series.map((d) => Number(d.purchases));
	const titles = series.map((d) => esc(`${f.day(d.day)}: ${f.money(d.revenue)}, ${d.purchases} purchase${d.purchases === '1' ? '' : 's'}, ${d.checkouts} checkout${d.checkouts === '1' ? '' : 's'}`));
	const revMax = niceMax(Math.max(...revenue));
	const purMax = Math.max(1, Math.ceil(niceMax(Math.max(...purchases))));
	const ticks = series.map((d, i) => ((n - 1 - i) % 7 === 0
		? html`<span style="grid-column:${i + 1}">${f.day(d.day)}</span>` : ''));
	const summary = `Revenue and purchases per day from ${f.day(series[0].day)} to ${f.day(series[n - 1].day)}; `
		+ `the daily figures are in the table below.`;
	return html`<figure class="chart" role="img" aria-label="${summary}">
  ${panel({ id: 'chart-revenue', label: 'Revenue', values: revenue, max: revMax, maxLabel: f.money(String(revMax)), titles })}
  ${panel({ id: 'chart-purchases', label: 'Purchases', values: purchases, max: purMax, maxLabel: String(purMax), titles })}
  <div class="x-axis" style="grid-template-columns:repeat(${n},1fr)">${ticks}</div>
</figure>`.toString();
}
