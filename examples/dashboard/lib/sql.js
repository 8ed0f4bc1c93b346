// Every SQL statement of the dashboard lives in this module.
//
// Each call runs the way PostgREST runs an RPC (supabase.rpc('fn', { p_shop_id })): one
// transaction on a connection of the login role `authenticator`, which switches to the role of
// signed-in users and carries the caller's JWT claims, then calls the function with named
// arguments:
//
//   BEGIN READ ONLY;
//   SET LOCAL ROLE authenticated;
//   SELECT set_config('request.jwt.claims', '{"sub":"<owner id>","role":"authenticated"}', true),
//          set_config('timezone', 'Africa/Accra', true);
//   SELECT * FROM public.shop_customer_metrics(p_shop_id => $1);   -- one composite row
//   COMMIT;
//
// The extension's row-level security reads the owner from the `sub` claim, so what a page shows
// is decided by the database: a shop that is not the caller's yields zeros and empty lists.
// The app never filters customer data itself.
//
// If the extension's signatures change, this is the only file to adapt: the pages use the plain
// objects returned here. Counts (bigint) and money (numeric, 2 decimals) arrive as exact strings.

import pg from 'pg';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s) {
	return typeof s === 'string' && UUID_RE.test(s);
}

function quoteIdent(name) {
	return '"' + String(name).replace(/"/g, '""') + '"';
}

// numeric and bigint stay exact decimal strings (pg's default); dates stay 'YYYY-MM-DD' text
// (pg would turn them into local-midnight Date objects); timestamptz become Date objects.
const DATE_OID = 1082;
const types = {
	getTypeParser(oid, format) {
		if (oid === DATE_OID) return (v) => v;
		return pg.types.getTypeParser(oid, format);
	},
};

export function createApi(config) {
	const schema = quoteIdent(config.schema);
	const pool = new pg.Pool({
		host: config.pgHost,
		port: config.pgPort,
		database: config.database,
		user: config.dbUser,
		max: config.poolSize,
		application_name: 'customer_tracking_dashboard',
		types,
	});
	pool.on('error', (err) => console.error('dashboard: idle database connection failed:', err.message));

	const fn = (name) => `${schema}.${quoteIdent(name)}`;

	// One transaction as `role`, with the owner's claims (none for anon).
	async function rpc(role, ownerId, text, params) {
		const client = await pool.connect();
		let ok = false;
		try {
			await client.query(`BEGIN READ ONLY; SET LOCAL ROLE ${quoteIdent(role)}`);
			const claims = ownerId ? JSON.stringify({ sub: ownerId, role }) : JSON.stringify({ role });
			await client.query(
				"SELECT set_config('request.jwt.claims', $1, true), set_config('timezone', $2, true)",
				[claims, config.timeZone],
			);
			const res = await client.query(text, params);
			await client.query('COMMIT');
			ok = true;
			return res.rows;
		} finally {
			if (!ok) {
				await client.query('ROLLBACK').catch(() => {});
			}
			client.release(!ok);
		}
	}

	const asOwner = (ownerId, text, params) => rpc(config.userRole, ownerId, text, params);

	return {
		async close() {
			await pool.end();
		},

		// Stub sign-in: the owners and their shops, read from the host's user_shops as the anonymous
		// role (a storefront may list shops). A real app gets the owner from its auth provider.
		async listOwners() {
			return rpc(config.anonRole, null,
				`SELECT user_id::text AS owner_id,
				        array_agg(shop_name ORDER BY shop_name) AS shop_names
				   FROM ${fn('user_shops')}
				  GROUP BY user_id
				  ORDER BY min(created_at), user_id`, []);
		},

		// The signed-in owner's shops (the host's table; the app's own query, not the extension's).
		async ownShops(ownerId) {
			return asOwner(ownerId,
				`SELECT id::text AS id, shop_name AS name, shop_slug AS slug
				   FROM ${fn('user_shops')}
				  WHERE user_id = $1::uuid
				  ORDER BY shop_name, id`, [ownerId]);
		},

		// { total_customers, repeat_customers, repeat_rate, new_customers_30d,
		//   new_customers_this_month, average_ltv, total_revenue } (decimal strings)
		async customerMetrics(ownerId, shopId) {
			const rows = await asOwner(ownerId,
				`SELECT * FROM ${fn('shop_customer_metrics')}(p_shop_id => $1::uuid)`, [shopId]);
			return rows[0];
		},

		// The shop's loyalty tiers, lowest first: [{ rank, name, min_spent, min_purchases, window }]
		async loyaltyTiers(ownerId, shopId) {
			return asOwner(ownerId,
				`SELECT * FROM ${fn('shop_loyalty_tiers')}(p_shop_id => $1::uuid)`, [shopId]);
		},

		// [{ day: 'YYYY-MM-DD', purchases, revenue, new_customers, checkouts }], the last 30 UTC days
		async dailySeries(ownerId, shopId) {
			return asOwner(ownerId,
				`SELECT * FROM ${fn('shop_daily_series')}(p_shop_id => $1::uuid)`, [shopId]);
		},

		// [{ network, customers_preferring, purchases, revenue }]
		async networkAnalytics(ownerId, shopId) {
			return asOwner(ownerId,
				`SELECT * FROM ${fn('shop_network_analytics')}(p_shop_id => $1::uuid)`, [shopId]);
		},

		// [{ bucket, min_days, max_days, customers, churn_risk }]
		async lastPurchaseDecay(ownerId, shopId) {
			return asOwner(ownerId,
				`SELECT * FROM ${fn('shop_last_purchase_decay')}(p_shop_id => $1::uuid)`, [shopId]);
		},

		// [{ slug, checkouts, purchases, conversion_rate, revenue, customers, new_customers,
		//    repeat_customers }]; from: a Date or null (all time)
		async slugAnalytics(ownerId, shopId, from) {
			if (from) {
				return asOwner(ownerId,
					`SELECT * FROM ${fn('shop_slug_analytics')}(p_shop_id => $1::uuid, p_from => $2::timestamptz)`,
					[shopId, from.toISOString()]);
			}
			return asOwner(ownerId,
				`SELECT * FROM ${fn('shop_slug_analytics')}(p_shop_id => $1::uuid)`, [shopId]);
		},

		// One page of customers. opts: { search, repeatOnly, tier: a tier name or null, sort:
		// 'last_purchase' | 'total_spent' | 'purchases', limit, after: the cursor of the last row
		// shown, or null }. Returns
		// { rows, next }, next being the cursor to pass for the next page, or null. A cursor is an
		// opaque string (URL-safe) that the function checks; the app never looks inside it.
		async customerList(ownerId, shopId, opts) {
			const limit = opts.limit;
			const rows = await asOwner(ownerId,
				`SELECT * FROM ${fn('shop_customer_list')}(
				     p_shop_id => $1::uuid, p_search => $2::text, p_repeat_only => $3::boolean,
				     p_sort => $4::text, p_limit => $5::integer, p_cursor => $6::text, p_tier => $7::text)`,
				[shopId, opts.search || null, !!opts.repeatOnly, opts.sort, limit + 1, opts.after || null,
					opts.tier || null]);
			const more = rows.length > limit;
			const page = more ? rows.slice(0, limit) : rows;
			const last = page[page.length - 1];
			return { rows: page, next: more ? last.cursor : null };
		},

		// [{ order_id, created_at, amount, network, slug, payment_status, purchase_completed,
		//    completed_at }], newest first; empty for a customer of someone else's shop
		async purchaseHistory(ownerId, customerId) {
			return asOwner(ownerId,
				`SELECT * FROM ${fn('customer_purchase_history')}(p_customer_id => $1::uuid)`, [customerId]);
		},
	};
}
