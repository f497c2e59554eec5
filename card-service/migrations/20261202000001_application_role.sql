-- The role the service connects as: it reads cards and activates them, nothing more. The
-- migrations, run by the pipeline as the database's owner, create it and set what it may do; it
-- owns nothing, so it cannot change or drop a table, and it cannot create one, not even a
-- temporary one (PostgreSQL 15 and later no longer let every role create in `public`, and every
-- role may create temporary tables unless that is revoked from PUBLIC). How it authenticates is
-- the deployment's concern, not the schema's.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'card_app') THEN
        CREATE ROLE card_app;
    END IF;
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
-- (SUPERUSER, REPLICATION and BYPASSRLS are off for a role the owner creates, and only a superuser
-- may name them: on RDS nobody is one.)
ALTER ROLE card_app LOGIN NOCREATEDB NOCREATEROLE NOINHERIT;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO card_app;

-- Listing reads every column; activation changes the status and when it happened, and returns
-- the card.
GRANT SELECT ON cards TO card_app;
GRANT UPDATE (status, activated_at) ON cards TO card_app;
