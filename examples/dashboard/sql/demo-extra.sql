-- Extra demo data for the dashboard: an owner whose shop has no orders yet, to show the
-- zero-customer state. Load after test/fixtures/demo-orders.sql.
INSERT INTO user_shops (id, user_id, shop_name, shop_slug, created_at) VALUES
    ('44444444-4444-4444-8444-444444444444', 'a4a4a4a4-0000-4000-8000-000000000004',
     'Nana New Shop', 'nana-new-shop', now() - interval '2 days')
ON CONFLICT (id) DO NOTHING;
