-- Extra demo data for the dashboard: an owner whose shop has no orders yet, to show the
-- zero-customer state. Load after test/fixtures/demo-orders.sql.
INSERT INTO user_shops (id, user_id, shop_name, shop_slug, created_at) VALUES
    ('44444444-4444-4444-8444-444444444444', 'a4a4a4a4-0000-4000-8000-000000000004',
     'Nana New Shop', 'nana-new-shop', now() - interval '2 days')
ON CONFLICT (id) DO NOTHING;

-- Loyalty tiers for Kofi's shop, so the customer list shows its badges (Ama's shop has none).
DO $$
BEGIN
    PERFORM customer_tracking_set_tiers('11111111-1111-4111-8111-111111111111',
        '[{"name": "Member", "min_purchases": 1}, {"name": "Regular", "min_purchases": 2},
          {"name": "VIP", "min_spent": 100, "min_purchases": 3}]');
END
$$;
