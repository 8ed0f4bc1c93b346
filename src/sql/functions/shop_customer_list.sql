-- The Customers page, paged by keyset (customer_tracking_customer_page()), with each customer's
-- loyalty tier now (NULL: no tier, or the shop has none). With p_tier, rows of other tiers are
-- skipped page after page of the unfiltered list, so a page costs in proportion to the rows read
-- to fill it; the cursor of the last row returned continues from there either way.
CREATE OR REPLACE FUNCTION shop_customer_list(p_shop_id uuid, p_search text DEFAULT NULL,
                                              p_repeat_only boolean DEFAULT false,
                                              p_sort text DEFAULT 'last_purchase', p_limit integer DEFAULT 50,
                                              p_after_value text DEFAULT NULL, p_after_id uuid DEFAULT NULL,
                                              p_cursor text DEFAULT NULL, p_tier text DEFAULT NULL)
RETURNS TABLE (id uuid, customer_name text, phone_number text, email text, total_purchases bigint,
               repeat_customer boolean, total_spent numeric, first_purchase_at timestamptz,
               last_purchase_at timestamptz, preferred_network text, sort_value text, cursor text,
               tier text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_limit integer := least(greatest(coalesce(p_limit, 50), 1), 500);
    v_left integer := least(greatest(coalesce(p_limit, 50), 1), 500);
    v_cfg jsonb;
    v_now timestamptz := now();
    v_want integer;
    v_batch integer;
    v_got integer;
    v_cursor text := p_cursor;
    r record;
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_customer_list', '@extschema@.shop_customers');
    -- A role that may read customers but not tiers gets the list without them.
    v_cfg := CASE WHEN has_table_privilege('@extschema@.customer_tracking_tiers', 'SELECT')
                  THEN @extschema@.customer_tracking_tier_config(p_shop_id) ELSE '[]' END;
    IF v_cfg = '[]' AND p_tier IS NULL THEN
        -- No tiers: the page as it is, one statement.
        RETURN QUERY SELECT l.*, NULL::text
                       FROM @extschema@.customer_tracking_customer_page(p_shop_id, p_search, p_repeat_only, p_sort,
                                p_limit, p_after_value, p_after_id, p_cursor) l;
        RETURN;
    END IF;
    IF p_tier IS NOT NULL THEN
        v_want := (SELECT (x ->> 'rank')::integer FROM jsonb_array_elements(v_cfg) x
                    WHERE lower(x ->> 'name') = lower(btrim(p_tier)));
        IF v_want IS NULL THEN
            RAISE EXCEPTION 'shop_customer_list: shop % has no tier named "%"', p_shop_id, p_tier
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = coalesce('Its tiers: ' || (SELECT string_agg(x ->> 'name', ', ' ORDER BY (x ->> 'rank')::integer)
                                                         FROM jsonb_array_elements(v_cfg) x), 'It has no tiers (customer_tracking_set_tiers()).');
        END IF;
    END IF;
    v_batch := CASE WHEN v_want IS NULL THEN v_limit ELSE greatest(v_limit, 200) END;
    LOOP
        v_got := 0;
        FOR r IN
            WITH page AS (SELECT l.*, l.ordinality AS n
                            FROM @extschema@.customer_tracking_customer_page(p_shop_id, p_search, p_repeat_only, p_sort,
                                     v_batch, p_after_value, p_after_id, v_cursor) WITH ORDINALITY l),
                 ranks AS (SELECT e.customer_id, e.rank
                             FROM @extschema@.customer_tracking_tier_eval(p_shop_id, v_cfg,
                                      ARRAY(SELECT page.id FROM page ORDER BY page.n),
                                      array_fill(v_now, ARRAY[(SELECT count(*) FROM page)::integer])) e)
            SELECT page.*, coalesce(ranks.rank, 0) AS rank
              FROM page LEFT JOIN ranks ON ranks.customer_id = page.id
             ORDER BY page.n
        LOOP
            v_got := v_got + 1;
            v_cursor := r.cursor;
            CONTINUE WHEN v_want IS NOT NULL AND r.rank <> v_want;
            id := r.id; customer_name := r.customer_name; phone_number := r.phone_number; email := r.email;
            total_purchases := r.total_purchases; repeat_customer := r.repeat_customer;
            total_spent := r.total_spent; first_purchase_at := r.first_purchase_at;
            last_purchase_at := r.last_purchase_at; preferred_network := r.preferred_network;
            sort_value := r.sort_value; cursor := r.cursor;
            tier := (SELECT x ->> 'name' FROM jsonb_array_elements(v_cfg) x WHERE (x ->> 'rank')::integer = r.rank);
            RETURN NEXT;
            v_left := v_left - 1;
            EXIT WHEN v_left = 0;
        END LOOP;
        EXIT WHEN v_left = 0 OR v_got < v_batch;
        -- The next round starts after the last row read; the deprecated keyset is spent.
        p_after_value := NULL;
        p_after_id := NULL;
        v_batch := least(v_batch * 2, 10000);   -- a rare tier: read further at each round
    END LOOP;
END
$$;
COMMENT ON FUNCTION shop_customer_list(uuid, text, boolean, text, integer, text, uuid, text, text) IS
    'The Customers page: customers with a purchase, newest purchase / biggest spend / most purchases '
    'first, with each one''s loyalty tier now (tier; NULL: none). Search by name, email or phone (any '
    'format); p_tier: only that tier (a name, case-insensitive). Next page: pass the last row''s cursor '
    'as p_cursor (keyset: page 1,000 costs what page 1 does). p_after_value / p_after_id (the last '
    'row''s sort_value and id) are deprecated.';
SELECT customer_tracking_set_audience('shop_customer_list(uuid, text, boolean, text, integer, text, uuid, text, text)', 'dashboard');
