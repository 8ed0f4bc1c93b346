// Number and date formatting. Amounts arrive as exact decimal strings (PostgreSQL numeric) and
// are formatted as strings, never through floating point.

// '1234567.5' -> { neg, int: '1234567', frac: '5' }
function splitDecimal(value) {
	let s = String(value ?? '0').trim();
	let neg = false;
	if (s.startsWith('-')) {
		neg = true;
		s = s.slice(1);
	}
	if (!/^\d*(\.\d*)?$/.test(s) || s === '' || s === '.') {
		return null;
	}
	const [int, frac = ''] = s.split('.');
	return { neg, int: int.replace(/^0+(?=\d)/, '') || '0', frac };
}

function group(int) {
	return int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

// Round half away from zero to `places` decimals, on the decimal string.
function roundDecimal(parts, places) {
	let { int, frac } = parts;
	if (frac.length <= places) {
		return { ...parts, frac: frac.padEnd(places, '0') };
	}
	const roundUp = frac.charCodeAt(places) >= 53; // '5'
	let digits = (int + frac.slice(0, places)).split('').map(Number);
	if (roundUp) {
		let i = digits.length - 1;
		while (i >= 0) {
			if (digits[i] === 9) {
				digits[i] = 0;
				i -= 1;
			} else {
				digits[i] += 1;
				break;
			}
		}
		if (i < 0) digits = [1, ...digits];
	}
	const all = digits.join('');
	int = all.slice(0, all.length - places) || '0';
	frac = places ? all.slice(all.length - places) : '';
	return { ...parts, int: int.replace(/^0+(?=\d)/, ''), frac };
}

// 1234567 -> '1,234,567'
export function formatCount(value) {
	const p = splitDecimal(value);
	if (!p) return String(value);
	const r = roundDecimal(p, 0);
	const zero = /^0*$/.test(r.int);
	return (r.neg && !zero ? '-' : '') + group(r.int);
}

// ('5647.5', 'GHS') -> 'GHS 5,647.50'
export function formatMoney(value, currency) {
	const p = splitDecimal(value);
	if (!p) return String(value);
	const r = roundDecimal(p, 2);
	const zero = /^0*$/.test(r.int + r.frac);
	return `${currency} ${r.neg && !zero ? '-' : ''}${group(r.int)}.${r.frac}`;
}

// '26.7' -> '26.7%' (one decimal, as the extension rounds rates)
export function formatPercent(value) {
	const p = splitDecimal(value);
	if (!p) return String(value);
	const r = roundDecimal(p, 1);
	return `${r.neg ? '-' : ''}${group(r.int)}.${r.frac}%`;
}

// Dates and times in the dashboard's time zone (the shops' zone; Ghana is UTC+0 all year).
export function makeDateFormatters(timeZone) {
	const date = new Intl.DateTimeFormat('en-GB', { timeZone, day: 'numeric', month: 'short', year: 'numeric' });
	const dateTime = new Intl.DateTimeFormat('en-GB', {
		timeZone, day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false,
	});
	return {
		date: (d) => (d ? date.format(d) : '—'),
		dateTime: (d) => (d ? dateTime.format(d) : '—'),
		// 'YYYY-MM-DD' (a UTC day from shop_daily_series) -> '5 Dec'
		day: (s) => {
			const [y, m, d] = s.split('-').map(Number);
			return new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', day: 'numeric', month: 'short' })
				.format(new Date(Date.UTC(y, m - 1, d)));
		},
	};
}

// E.164 for Ghana, readable: '+233241234567' -> '+233 24 123 4567'; other numbers unchanged.
export function formatPhone(e164) {
	const m = /^\+233(\d{2})(\d{3})(\d{4})$/.exec(e164 || '');
	return m ? `+233 ${m[1]} ${m[2]} ${m[3]}` : (e164 || '');
}
