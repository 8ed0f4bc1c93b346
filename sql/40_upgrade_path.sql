-- The upgrade path, version by version (in the style of Citus's multi_extension test): install
-- 1.0 on the host schema, then ALTER EXTENSION ... UPDATE TO each released version in turn,
-- printing at each step the extension's members that appeared or disappeared, and the member
-- functions whose definition changed. The expected file is the record of what each version
-- changed. test/t/001_upgrade.pl compares an updated install with a fresh one in depth
-- (definitions, grants, policies, data).
CREATE DATABASE ct_upgrade_path;
\c ct_upgrade_path
SET client_min_messages = warning;
\set ECHO none
\i test/fixtures/host-schema.sql
\set ECHO all

-- The members at the previous call; print_extension_changes() prints what changed since, then
-- remembers the current members.
CREATE TABLE upgrade_path_members (description text PRIMARY KEY);
CREATE FUNCTION print_extension_changes()
RETURNS TABLE (previous_object text, current_object text)
LANGUAGE plpgsql AS $$
BEGIN
  CREATE TEMP TABLE upgrade_path_current ON COMMIT DROP AS
  SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS description
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_extension e ON d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = e.oid
   WHERE e.extname = 'customer_tracking' AND d.deptype = 'e';
  RETURN QUERY
  SELECT p.description, c.description
    FROM upgrade_path_members p FULL JOIN upgrade_path_current c USING (description)
   WHERE p.description IS NULL OR c.description IS NULL
   ORDER BY coalesce(p.description, c.description) COLLATE "C", c.description NULLS FIRST;
  DELETE FROM upgrade_path_members;
  INSERT INTO upgrade_path_members SELECT description FROM upgrade_path_current;
  DROP TABLE upgrade_path_current;
END
$$;

-- Likewise for the definitions (pg_get_functiondef) of the member functions that were there before.
CREATE TABLE upgrade_path_definitions (function text PRIMARY KEY, definition_md5 text);
CREATE FUNCTION print_changed_definitions()
RETURNS TABLE (changed_function text)
LANGUAGE plpgsql AS $$
BEGIN
  CREATE TEMP TABLE upgrade_path_current ON COMMIT DROP AS
  SELECT p.oid::regprocedure::text AS function, md5(pg_catalog.pg_get_functiondef(p.oid)) AS definition_md5
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_extension e ON d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = e.oid
    JOIN pg_catalog.pg_proc p ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
   WHERE e.extname = 'customer_tracking' AND d.deptype = 'e' AND p.prokind IN ('f', 'p');
  RETURN QUERY
  SELECT c.function FROM upgrade_path_definitions p JOIN upgrade_path_current c USING (function)
   WHERE p.definition_md5 <> c.definition_md5
   ORDER BY c.function COLLATE "C";
  DELETE FROM upgrade_path_definitions;
  INSERT INTO upgrade_path_definitions SELECT * FROM upgrade_path_current;
  DROP TABLE upgrade_path_current;
END
$$;

CREATE EXTENSION customer_tracking VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking';
SELECT * FROM print_extension_changes();
-- (records 1.0's function definitions: nothing to compare with yet)
SELECT count(*) AS changed FROM print_changed_definitions();
SELECT count(*) AS functions_of_1_0 FROM upgrade_path_definitions;

ALTER EXTENSION customer_tracking UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking';
SELECT * FROM print_extension_changes();
SELECT * FROM print_changed_definitions();

ALTER EXTENSION customer_tracking UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking';
SELECT * FROM print_extension_changes();
SELECT * FROM print_changed_definitions();

ALTER EXTENSION customer_tracking UPDATE TO '1.3';
SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking';
SELECT * FROM print_extension_changes();
SELECT * FROM print_changed_definitions();

ALTER EXTENSION customer_tracking UPDATE TO '1.4';
SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking';
SELECT * FROM print_extension_changes();
SELECT * FROM print_changed_definitions();

-- The updated install has the members of a fresh install: dropped and created again, nothing
-- appears, disappears or changes (test/t/001_upgrade.pl compares grants, policies and more).
DROP EXTENSION customer_tracking CASCADE;
CREATE EXTENSION customer_tracking;
SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking';
SELECT * FROM print_extension_changes();
SELECT * FROM print_changed_definitions();

\c contrib_regression
DROP DATABASE ct_upgrade_path;
