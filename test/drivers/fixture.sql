-- A shop for the cursor round trips of the driver suite (test/scripts/driver_rpc.sh), loaded
-- after test/fixtures/demo-orders.sql. 18 customers with ties on every sort key: groups of three
-- share their last purchase time (to the microsecond), total spent and purchase count, so only
-- the id tells them apart; the times carry microseconds and fall on both sides of a DST change
-- (Europe/London, 2026-03-29 01:00 UTC).
INSERT INTO user_shops (id, user_id, shop_name, shop_slug, created_at) VALUES
	('44444444-4444-4444-8444-444444444444', 'a4a4a4a4-0000-4000-8000-000000000004',
	 'Cursor Corner', 'cursor-corner', now() - interval '400 days');

INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price,
						 payment_status, shop_slug, created_at)
SELECT '44444444-4444-4444-8444-444444444444', 'Cursor ' || c,
	   '024' || lpad((4000000 + (c - 1) / 3 * 7 + c)::text, 7, '0'),
	   (ARRAY['MTN', 'Telecel', 'AirtelTigo'])[1 + c % 3],
	   (ARRAY[10.00, 25.50, 0.10, 99.99, 12.34, 7.00])[1 + (c - 1) / 3],
	   'paid', 'cursor-corner',
	   timestamptz '2026-03-29 00:59:59.999999+00'
		 + ((c - 1) / 3 - 3) * interval '1 hour 17 minutes 0.000123 seconds'
FROM generate_series(1, 18) AS c, generate_series(1, 1 + ((c - 1) / 3) % 3) AS k;

-- A referral in the demo shop (Kofi Data Hub), for shop_referrals and shop_referral_summary: the
-- first paid order of a new customer carrying the referral code of the shop's best customer.
ALTER TABLE shop_orders ADD COLUMN referral_code text;
SELECT customer_tracking_referral_code('11111111-1111-4111-8111-111111111111',
	   (SELECT id FROM shop_customers WHERE shop_id = '11111111-1111-4111-8111-111111111111'
		 ORDER BY total_purchases DESC, id LIMIT 1)) AS referral_code \gset
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price,
						 payment_status, shop_slug, created_at, referral_code)
VALUES ('11111111-1111-4111-8111-111111111111', 'Referred Rita', '0249990001', 'MTN', 20.00,
		'paid', 'kofi-data-hub', now() - interval '1 day', :'referral_code');
