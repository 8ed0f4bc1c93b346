-- A shop's tiers as given to customer_tracking_set_tiers() / shop_tier_preview(), checked and
-- normalised, lowest first (rank 1). p_tiers: a JSON array of tiers, or an object
-- {"tiers": [...], "time_zone": "<zone>"} (the zone of calendar_year windows, default UTC).
-- Each tier: "name" (required), "min_spent" (default 0), "min_purchases" (default 0), "window"
-- (lifetime | rolling_12m | calendar_year, default lifetime). Any mistake is an error naming
-- the tier and the key.
CREATE OR REPLACE FUNCTION customer_tracking_parse_tiers(p_tiers jsonb)
RETURNS TABLE (rank integer, name text, min_spent numeric, min_purchases integer, "window" text,
               time_zone text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_list jsonb := p_tiers;
    v_zone text := 'UTC';
    v_tier jsonb;
    v_key text;
    v_n integer := 0;
    v_names text[] := '{}';
    v_spents numeric[] := '{}';
    v_counts integer[] := '{}';
    v_windows text[] := '{}';
    v_name text;
    v_spent numeric;
    v_count numeric;
    v_window text;
BEGIN
    IF p_tiers IS NULL OR jsonb_typeof(p_tiers) = 'null' THEN
        RAISE EXCEPTION 'customer_tracking tiers: p_tiers is NULL'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a JSON array of tiers, lowest first; [] removes every tier.';
    END IF;
    IF jsonb_typeof(p_tiers) = 'object' THEN
        FOR v_key IN SELECT k FROM jsonb_object_keys(p_tiers) k ORDER BY 1 LOOP
            IF v_key NOT IN ('tiers', 'time_zone') THEN
                RAISE EXCEPTION 'customer_tracking tiers: unknown key "%"', v_key
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'The object form is {"tiers": [...], "time_zone": "Africa/Accra"}.';
            END IF;
        END LOOP;
        IF p_tiers ? 'time_zone' THEN
            IF jsonb_typeof(p_tiers -> 'time_zone') IS DISTINCT FROM 'string'
               OR NOT customer_tracking_valid_time_zone(p_tiers ->> 'time_zone') THEN
                RAISE EXCEPTION 'customer_tracking tiers: "time_zone" must be a time zone name, got %', p_tiers -> 'time_zone'
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'A name from pg_timezone_names, e.g. "UTC" or "Africa/Accra".';
            END IF;
            v_zone := p_tiers ->> 'time_zone';
        END IF;
        v_list := p_tiers -> 'tiers';
    END IF;
    IF v_list IS NULL OR jsonb_typeof(v_list) <> 'array' THEN
        RAISE EXCEPTION 'customer_tracking tiers: p_tiers must be a JSON array of tiers, got %',
                        coalesce(jsonb_typeof(v_list), 'nothing')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'e.g. [{"name": "Silver", "min_purchases": 2}, {"name": "Gold", "min_spent": 500, "window": "rolling_12m"}]';
    END IF;
    IF jsonb_array_length(v_list) > 20 THEN
        RAISE EXCEPTION 'customer_tracking tiers: at most 20 tiers, got %', jsonb_array_length(v_list)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOR v_tier IN SELECT e FROM jsonb_array_elements(v_list) WITH ORDINALITY a(e, i) ORDER BY i LOOP
        v_n := v_n + 1;
        IF jsonb_typeof(v_tier) <> 'object' THEN
            RAISE EXCEPTION 'customer_tracking tiers: tier % must be an object, got %', v_n, v_tier
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Keys: name, min_spent, min_purchases, window.';
        END IF;
        FOR v_key IN SELECT k FROM jsonb_object_keys(v_tier) k ORDER BY 1 LOOP
            IF v_key NOT IN ('name', 'min_spent', 'min_purchases', 'window') THEN
                RAISE EXCEPTION 'customer_tracking tiers: tier %: unknown key "%"', v_n, v_key
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Keys: name, min_spent, min_purchases, window.';
            END IF;
        END LOOP;
        IF jsonb_typeof(v_tier -> 'name') IS DISTINCT FROM 'string' OR btrim(v_tier ->> 'name') = '' THEN
            RAISE EXCEPTION 'customer_tracking tiers: tier %: "name" must be a non-empty string', v_n
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_name := btrim(v_tier ->> 'name');
        IF length(v_name) > 100 THEN
            RAISE EXCEPTION 'customer_tracking tiers: tier %: "name" is longer than 100 characters', v_n
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF lower(v_name) = ANY (SELECT lower(x) FROM unnest(v_names) x) THEN
            RAISE EXCEPTION 'customer_tracking tiers: tier %: the name "%" is used twice', v_n, v_name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Tier names are compared ignoring case.';
        END IF;
        IF coalesce(jsonb_typeof(v_tier -> 'min_spent'), 'null') NOT IN ('number', 'null') THEN
            RAISE EXCEPTION 'customer_tracking tiers: tier % ("%"): "min_spent" must be a number, got %', v_n, v_name, v_tier -> 'min_spent'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_spent := coalesce((v_tier ->> 'min_spent')::numeric, 0);
        IF v_spent < 0 THEN
            RAISE EXCEPTION 'customer_tracking tiers: tier % ("%"): "min_spent" must not be negative, got %', v_n, v_name, v_spent
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF coalesce(jsonb_typeof(v_tier -> 'min_purchases'), 'null') NOT IN ('number', 'null') THEN
            RAISE EXCEPTION 'customer_tracking tiers: tier % ("%"): "min_purchases" must be a whole number, got %', v_n, v_name, v_tier -> 'min_purchases'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_count := coalesce((v_tier ->> 'min_purchases')::numeric, 0);
        IF v_count <> trunc(v_count) OR v_count < 0 OR v_count > 2147483647 THEN
            RAISE EXCEPTION 'customer_tracking tiers: tier % ("%"): "min_purchases" must be a whole number from 0, got %', v_n, v_name, v_count
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF coalesce(jsonb_typeof(v_tier -> 'window'), 'null') NOT IN ('string', 'null')
           OR coalesce(v_tier ->> 'window', 'lifetime') NOT IN ('lifetime', 'rolling_12m', 'calendar_year') THEN
            RAISE EXCEPTION 'customer_tracking tiers: tier % ("%"): "window" must be lifetime, rolling_12m or calendar_year, got %', v_n, v_name, v_tier -> 'window'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_window := coalesce(v_tier ->> 'window', 'lifetime');
        -- Lowest first: a tier asks for more than each lower tier of its window, in min_spent or
        -- in min_purchases (else whoever reached the lower tier would be in this one: the lower
        -- one could never be reached).
        FOR i IN 1 .. v_n - 1 LOOP
            IF v_windows[i] = v_window AND v_spent <= v_spents[i] AND v_count <= v_counts[i] THEN
                RAISE EXCEPTION 'customer_tracking tiers: tier % ("%") must ask for more than tier % ("%") of the same window',
                                v_n, v_name, i, v_names[i]
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'List tiers lowest first; a higher tier needs a higher min_spent or min_purchases than each lower tier of the same window.';
            END IF;
        END LOOP;
        v_names := v_names || v_name;
        v_spents := v_spents || v_spent;
        v_counts := v_counts || v_count::integer;
        v_windows := v_windows || v_window;
    END LOOP;

    RETURN QUERY
    SELECT u.i::integer, u.name, u.spent, u.cnt, u.win, v_zone
      FROM unnest(v_names, v_spents, v_counts, v_windows) WITH ORDINALITY u(name, spent, cnt, win, i)
     ORDER BY u.i;
END
$$;
COMMENT ON FUNCTION customer_tracking_parse_tiers(jsonb) IS
    'Loyalty tiers as customer_tracking_set_tiers() reads them: checked (clear errors) and '
    'normalised, rank 1 = the first (lowest) tier.';
SELECT customer_tracking_set_audience('customer_tracking_parse_tiers(jsonb)', 'dashboard');
