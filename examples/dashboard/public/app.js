// Progressive enhancement: every link and form works without this file.
//  - the shop picker switches shop on change;
//  - "History" opens the customer's purchase history in place (fetched once);
//  - "Load more" appends the next keyset page instead of opening it.
'use strict';

function withFragment(href) {
	const url = new URL(href, window.location.href);
	url.searchParams.set('fragment', '1');
	return url.toString();
}

async function fetchText(href) {
	const res = await fetch(withFragment(href), { credentials: 'same-origin', headers: { Accept: 'text/html, application/json' } });
	if (!res.ok) throw new Error(`HTTP ${res.status}`);
	return res;
}

async function toggleHistory(link) {
	const row = document.getElementById(link.getAttribute('aria-controls'));
	if (!row) return;
	const open = link.getAttribute('aria-expanded') !== 'true';
	link.setAttribute('aria-expanded', String(open));
	row.hidden = !open;
	const body = row.querySelector('.history-body');
	if (!open || body.dataset.loaded) return;
	body.dataset.loaded = 'loading';
	body.textContent = 'Loading…';
	try {
		const res = await fetchText(body.dataset.src);
		body.innerHTML = await res.text();
		body.dataset.loaded = 'yes';
	} catch (err) {
		body.textContent = `Could not load the history (${err.message}).`;
		delete body.dataset.loaded;
	}
}

async function loadMore(link) {
	if (link.dataset.busy) return;
	link.dataset.busy = '1';
	link.textContent = 'Loading…';
	try {
		const res = await fetchText(link.href);
		const page = await res.json();
		const table = document.getElementById('customers');
		const tpl = document.createElement('template');
		tpl.innerHTML = page.rows;
		table.append(tpl.content);
		if (page.next) {
			link.href = page.next;
			link.textContent = 'Load more';
		} else {
			const end = document.createElement('span');
			end.className = 'hint';
			end.id = 'end-of-list';
			end.textContent = 'All customers shown.';
			link.replaceWith(end);
		}
	} catch (err) {
		link.textContent = `Load more (failed: ${err.message})`;
	} finally {
		delete link.dataset.busy;
	}
}

document.addEventListener('click', (ev) => {
	if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
	const history = ev.target.closest('a.history-toggle');
	if (history) {
		ev.preventDefault();
		toggleHistory(history);
		return;
	}
	const more = ev.target.closest('a.load-more');
	if (more) {
		ev.preventDefault();
		loadMore(more);
	}
});

document.addEventListener('change', (ev) => {
	if (ev.target.matches('select[data-autosubmit]')) ev.target.form.submit();
});
