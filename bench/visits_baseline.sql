-- bench/visits_baseline.sql: the plain-SQL baselines bench/visits.sh compares
-- customer_tracking_record_visit() with, in PL/pgSQL, as an application would write them.
--
-- bench_record_visit_plpgsql: the same semantics (same argument checks, the shop of the slug,
-- HMAC-SHA256 of slug and visitor keyed by the day's salt with pgcrypto, a per-day hash set,
-- one counter row per shop, slug and day upserted with INSERT ... ON CONFLICT), without
-- striping or salt destruction.
-- bench_count_visit_plpgsql: the floor, a visit counter and nothing else (no unique visitors).
CREATE TABLE bench_visit_salt (day date PRIMARY KEY, salt bytea NOT NULL);
CREATE TABLE bench_visitors (day date, shop_id uuid, visitor bytea, PRIMARY KEY (day, shop_id, visitor));
CREATE TABLE bench_slug_visits (
    shop_id uuid, slug text, day date, visits bigint NOT NULL DEFAULT 0,
    unique_visitors bigint NOT NULL DEFAULT 0, PRIMARY KEY (shop_id, slug, day)
) WITH (fillfactor = 70);

CREATE FUNCTION bench_record_visit_plpgsql(p_shop_slug text, p_visitor text, p_referrer text DEFAULT NULL,
    p_utm_source text DEFAULT NULL, p_utm_medium text DEFAULT NULL, p_utm_campaign text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_shop uuid;
    v_day date := (now() AT TIME ZONE 'UTC')::date;
    v_salt bytea;
    v_new integer := 0;
BEGIN
    IF p_shop_slug IS NULL OR p_shop_slug = '' OR octet_length(p_shop_slug) > 255
       OR octet_length(p_visitor) > 1024 OR octet_length(p_referrer) > 2048
       OR octet_length(p_utm_source) > 255 OR octet_length(p_utm_medium) > 255
       OR octet_length(p_utm_campaign) > 255 THEN
        RETURN;
    END IF;
    SELECT u.id INTO v_shop FROM user_shops u WHERE u.shop_slug = p_shop_slug;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_visitor IS NOT NULL AND p_visitor <> '' THEN
        SELECT s.salt INTO v_salt FROM bench_visit_salt s WHERE s.day = v_day;
        IF NOT FOUND THEN
            INSERT INTO bench_visit_salt VALUES (v_day, gen_random_bytes(32)) ON CONFLICT DO NOTHING;
            SELECT s.salt INTO v_salt FROM bench_visit_salt s WHERE s.day = v_day;
        END IF;
        INSERT INTO bench_visitors
        VALUES (v_day, v_shop, substr(hmac(convert_to(p_shop_slug, 'UTF8') || '\x00'::bytea
                                          || convert_to(p_visitor, 'UTF8'), v_salt, 'sha256'), 1, 16))
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_new = ROW_COUNT;
    END IF;
    INSERT INTO bench_slug_visits AS c (shop_id, slug, day, visits, unique_visitors)
    VALUES (v_shop, p_shop_slug, v_day, 1, v_new)
    ON CONFLICT (shop_id, slug, day) DO UPDATE
        SET visits = c.visits + 1, unique_visitors = c.unique_visitors + EXCLUDED.unique_visitors;
END
$$;

CREATE FUNCTION bench_count_visit_plpgsql(p_shop_slug text, p_visitor text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_slug_visits AS c (shop_id, slug, day, visits)
    SELECT u.id, p_shop_slug, (now() AT TIME ZONE 'UTC')::date, 1 FROM user_shops u WHERE u.shop_slug = p_shop_slug
    ON CONFLICT (shop_id, slug, day) DO UPDATE SET visits = c.visits + 1;
END
$$;

-- Backend CPU time of this session (utime + stime, clock ticks of 10 ms), from /proc.
CREATE FUNCTION bench_cpu_ticks() RETURNS bigint LANGUAGE sql AS $$
    SELECT (f[12])::bigint + (f[13])::bigint
      FROM (SELECT string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') f) s
$$;

-- CPU per call of one variant, each call its own transaction: n calls (visitor random among
-- p_visitors, shop random among p_shops) minus the same loop without the call. Microseconds.
CREATE PROCEDURE bench_cpu_per_call(p_variant text, n integer, p_shops integer, p_visitors integer,
                                    INOUT us_per_call numeric DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    c0 bigint; c1 bigint; c2 bigint;
    v_slug text; v_visitor text;
BEGIN
    c0 := bench_cpu_ticks();
    FOR i IN 1..n LOOP
        v_slug := 'shop-' || (1 + floor(random() * p_shops))::int;
        v_visitor := 'visitor-' || (1 + floor(random() * p_visitors))::int;
        PERFORM length(v_slug || v_visitor);
        COMMIT;
    END LOOP;
    c1 := bench_cpu_ticks();
    FOR i IN 1..n LOOP
        v_slug := 'shop-' || (1 + floor(random() * p_shops))::int;
        v_visitor := 'visitor-' || (1 + floor(random() * p_visitors))::int;
        IF p_variant = 'extension' THEN
            PERFORM customer_tracking_record_visit(v_slug, v_visitor);
        ELSIF p_variant = 'plpgsql' THEN
            PERFORM bench_record_visit_plpgsql(v_slug, v_visitor);
        ELSIF p_variant = 'counter' THEN
            PERFORM bench_count_visit_plpgsql(v_slug, v_visitor);
        ELSIF p_variant = 'unknown_slug' THEN
            PERFORM customer_tracking_record_visit('no-such-' || v_slug, v_visitor);
        END IF;
        COMMIT;
    END LOOP;
    c2 := bench_cpu_ticks();
    us_per_call := round(((c2 - c1) - (c1 - c0)) * 10000.0 / n, 1);
END
$$;
