--
-- normalize_phone(p_phone text, p_region text DEFAULT NULL): phone identity as E.164.
-- The extension is created by 00_install. No tables are used.
--
-- The first call loads the module, which defines customer_tracking.default_region.
SELECT normalize_phone('0241234567');
SHOW customer_tracking.default_region;

-- Declared STABLE (reads a GUC), not STRICT (the region may be NULL), parallel safe.
SELECT provolatile, proisstrict, proparallel, pronargs, pronargdefaults
FROM pg_proc WHERE proname = 'normalize_phone';

-- The same Ghanaian number, the ways customers type it.
SELECT raw, normalize_phone(raw) AS e164
FROM (VALUES ('0241234567'), ('024 123 4567'), ('+233 24 123 4567'), ('233241234567'),
             ('+233241234567'), ('00233241234567'), ('024-123-4567'), ('024.123.4567'),
             ('(024) 123-4567'), ('024/123/4567'), ('+233 (0) 24 123 4567'),
             ('2330241234567'), ('  0241234567  '), ('0241234567 ext 12'),
             ('tel:+233241234567')) AS v(raw);
SELECT normalize_phone(E'\t0241234567\r\n') AS tab_crlf,
       normalize_phone(E'024\t123\t4567') AS inner_tabs,
       normalize_phone(E'\n+233 24 123 4567\n') AS newlines;

-- Other Ghanaian numbers and foreign numbers written with or without '+'.
SELECT raw, normalize_phone(raw) AS e164
FROM (VALUES ('0201234567'), ('0551234567'), ('+234 803 123 4567'), ('2348031234567'),
             ('+44 20 7946 0958'), ('+1 (650) 253-0000')) AS v(raw);

-- Not phone numbers: NULL, never an error.
SELECT raw, normalize_phone(raw) AS e164
FROM (VALUES ('abc'), ('12'), ('233'), ('+'), ('0000000000'), ('024123456'),
             ('02412345678'), ('024-ABC-DEFG'), ('0241234567 / 0201234567'),
             ('N/A'), ('08031234567')) AS v(raw);

-- Blank and too long: NULL.
SELECT normalize_phone('') AS empty, normalize_phone('   ') AS blank,
       normalize_phone(E'\t\n') AS whitespace;
SELECT normalize_phone(repeat('1', 65)) AS too_long,
       normalize_phone(repeat('5', 10000)) AS very_long,
       normalize_phone(rpad('0241234567', 64)) AS padded_to_the_limit,
       normalize_phone(rpad('0241234567', 65)) AS padded_past_the_limit;

-- NULL phone gives NULL, whatever the region.
SELECT normalize_phone(NULL) IS NULL AS no_region,
       normalize_phone(NULL, 'NG') IS NULL AS ng,
       normalize_phone(NULL, NULL) IS NULL AS null_region,
       normalize_phone(NULL, 'XX') IS NULL AS unknown_region;
SELECT phone, normalize_phone(phone) AS e164
FROM (VALUES ('0241234567'), (NULL), ('bad')) AS v(phone);

-- Explicit region (case-insensitive); NULL region means the default region.
SELECT normalize_phone('08031234567', 'NG') AS ng,
       normalize_phone('0803 123 4567', 'ng') AS ng_lower,
       normalize_phone('00233241234567', 'NG') AS gh_from_ng,
       normalize_phone('0241234567', 'NG') AS gh_national_in_ng,
       normalize_phone('(650) 253-0000', 'US') AS us,
       normalize_phone('0241234567', NULL) AS null_region;
SELECT normalize_phone(p_phone => '08031234567', p_region => 'NG') AS named,
       normalize_phone(p_region => 'US', p_phone => '650.253.0000') AS named_reversed;

-- Unknown regions are errors.
SELECT normalize_phone('0241234567', 'XX');
SELECT normalize_phone('0241234567', 'ZZ');
SELECT normalize_phone('0241234567', '');
SELECT normalize_phone('0241234567', 'GHA');
SELECT normalize_phone('0241234567', 'GH ');
SELECT normalize_phone('+233241234567', '001');

-- The default region follows customer_tracking.default_region.
SET customer_tracking.default_region = 'NG';
SHOW customer_tracking.default_region;
SELECT normalize_phone('08031234567') AS ng_national,
       normalize_phone('0241234567') AS gh_national,
       normalize_phone('+233 24 123 4567') AS gh_international,
       normalize_phone('0241234567', 'GH') AS gh_explicit;
SET customer_tracking.default_region = 'gh';
SELECT normalize_phone('0241234567') AS lower_case_region;
RESET customer_tracking.default_region;
SHOW customer_tracking.default_region;
SELECT normalize_phone('0241234567') AS back_to_gh, normalize_phone('08031234567') AS ng_in_gh;

BEGIN;
SET LOCAL customer_tracking.default_region = 'US';
SELECT normalize_phone('650-253-0000') AS local_us;
COMMIT;
SELECT normalize_phone('650-253-0000') AS after_commit;

-- Many distinct numbers, twice over (more than the per-process cache holds).
SELECT count(*) AS numbers, count(DISTINCT e164) AS distinct_e164,
       count(*) FILTER (WHERE e164 = '+23324' || (1000000 + i)::text) AS as_expected
FROM generate_series(1, 6000) AS i,
     generate_series(1, 2) AS round,
     LATERAL (SELECT normalize_phone('024 ' || (1000000 + i)::text) AS e164) AS n;

-- Invalid values for the GUC are rejected and leave it unchanged.
SET customer_tracking.default_region = 'XX';
SET customer_tracking.default_region = '';
SET customer_tracking.default_region = 'Ghana';
SHOW customer_tracking.default_region;
SELECT normalize_phone('0241234567');
