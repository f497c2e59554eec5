-- The role the service connects as: it reads cards and activates them, nothing more. The
-- migrations, run by the pipeline as the database's owner, create it and keep its grants exactly
-- these; it owns nothing, so it cannot change or drop a table, and it cannot create one
-- (PostgreSQL 15 and later no longer let every role create in `public`; older servers are told so
-- here). How it authenticates is the deployment's concern, not the schema's.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'card_app') THEN
        CREATE ROLE card_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO card_app;

-- Listing reads every column; activation changes the status and when it happened, and returns
-- the card.
GRANT SELECT ON cards TO card_app;
GRANT UPDATE (status, activated_at) ON cards TO card_app;
