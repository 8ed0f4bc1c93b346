-- The overview's numbers and their formatted strings, for a web dashboard; the text box
-- (shop_customer_overview) is drawn from its lines.
CREATE OR REPLACE FUNCTION shop_customer_overview_json(p_shop_id uuid, p_currency text DEFAULT 'GHS')
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    m @extschema@.customer_tracking_metrics := @extschema@.shop_customer_metrics(p_shop_id);
    v_money text := CASE WHEN p_currency IS NULL OR p_currency = '' THEN '' ELSE p_currency || ' ' END;
    f jsonb;
BEGIN
    f := jsonb_build_object(
        'total_customers', to_char(m.total_customers, 'FM999,999,999,999,990'),
        'repeat_customers', to_char(m.repeat_customers, 'FM999,999,999,999,990'),
        'repeat_rate', to_char(m.repeat_rate, 'FM990.0') || '%',
        'new_customers_30d', to_char(m.new_customers_30d, 'FM999,999,999,999,990'),
        'new_customers_this_month', to_char(m.new_customers_this_month, 'FM999,999,999,999,990'),
        'average_ltv', v_money || to_char(m.average_ltv, 'FM999,999,999,999,990.00'),
        'total_revenue', v_money || to_char(m.total_revenue, 'FM999,999,999,999,999,990.00'));
    RETURN jsonb_build_object(
        'title', 'Customer Overview',
        'currency', p_currency,
        'total_customers', m.total_customers,
        'repeat_customers', m.repeat_customers,
        'repeat_rate', m.repeat_rate,
        'new_customers_30d', m.new_customers_30d,
        'new_customers_this_month', m.new_customers_this_month,
        'average_ltv', m.average_ltv,
        'total_revenue', m.total_revenue,
        'formatted', f,
        'lines', jsonb_build_array(
            'Total Customers: ' || (f ->> 'total_customers'),
            'Repeat Customers: ' || (f ->> 'repeat_customers') || ' (' || (f ->> 'repeat_rate') || ')',
            'New This Month: ' || (f ->> 'new_customers_this_month'),
            'Average LTV: ' || (f ->> 'average_ltv'),
            'Total Revenue: ' || (f ->> 'total_revenue')));
END
$$;
COMMENT ON FUNCTION shop_customer_overview_json(uuid, text) IS
    'The "Customer Overview" of a shop as JSON: the numbers of shop_customer_metrics(), each also '
    'formatted (thousands separators, rate with %, money with p_currency), and the text box''s lines.';
SELECT customer_tracking_set_audience('shop_customer_overview_json(uuid, text)', 'dashboard');
