-- Quittance on PostgreSQL: an owner role that runs the migrations, and a service role that
-- cannot alter, disable or drop the triggers that keep issued invoices immutable.
--
-- Run it with psql as a superuser (or a role with CREATEROLE and CREATEDB), connected to
-- any database of the cluster (it creates the Quittance database and connects to it):
--
--   psql -v ON_ERROR_STOP=1 -h db.example -U postgres -d postgres -f deploy/postgres-roles.sql
--
-- Variables (psql -v name=value), all optional:
--   owner           owner role: owns the schema and every table, runs `quittance migrate`
--                   (default quittance_owner)
--   app             service role: reads and writes rows, owns nothing (default quittance_app)
--   dbname          the database (default quittance); created, owned by `owner`, if missing
--   schema          the schema holding the tables (default quittance)
--   owner_password  sets the owner's password (else set it with: \password quittance_owner)
--   app_password    sets the service's password (else: \password quittance_app)
--
-- It is idempotent: run it again after changing a variable, or on a database whose tables
-- already exist (moving an existing install: docs/POSTGRESQL.md). Passing a password with
-- -v leaves it in the shell's history: prefer \password in an interactive psql.

\set ON_ERROR_STOP on
\if :{?owner}
\else
  \set owner quittance_owner
\endif
\if :{?app}
\else
  \set app quittance_app
\endif
\if :{?dbname}
\else
  \set dbname quittance
\endif
\if :{?schema}
\else
  \set schema quittance
\endif

-- 1. Roles (cluster-wide). Neither may bypass the rules: a superuser, a replication role or
-- one with BYPASSRLS could switch triggers off or read around them.
SELECT format('CREATE ROLE %I LOGIN', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec

ALTER ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
-- NOINHERIT: even if someone later grants the service a role, it does not silently gain
-- that role's privileges.
ALTER ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    NOINHERIT;

\if :{?owner_password}
ALTER ROLE :"owner" PASSWORD :'owner_password';
\endif
\if :{?app_password}
ALTER ROLE :"app" PASSWORD :'app_password';
\endif

-- A member of the owner role could act as the owner (SET ROLE) and drop the triggers.
SELECT format('REVOKE %I FROM %I', :'owner', :'app')
WHERE pg_has_role(:'app', :'owner', 'MEMBER') \gexec
SELECT pg_has_role(:'app', :'owner', 'MEMBER') AS app_is_owner \gset
\if :app_is_owner
DO $$ BEGIN
    RAISE EXCEPTION 'the service role is still a member of the owner role through another '
        'role: revoke that membership and run this script again';
END $$;
\endif

-- 2. The database, owned by the owner role.
SELECT format('CREATE DATABASE %I OWNER %I', :'dbname', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \gexec

-- Nobody else may connect or create schemas; the service may connect only. (TEMPORARY is
-- withdrawn too: Quittance never uses temporary tables.)
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
REVOKE CREATE, TEMPORARY ON DATABASE :"dbname" FROM :"app";
GRANT CONNECT ON DATABASE :"dbname" TO :"app";

\connect :"dbname"
\set ON_ERROR_STOP on

-- 3. The schema, owned by the owner role; the service may use it but create nothing in it.
CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION :"owner";
ALTER SCHEMA :"schema" OWNER TO :"owner";
REVOKE ALL ON SCHEMA :"schema" FROM PUBLIC;
REVOKE CREATE ON SCHEMA :"schema" FROM :"app";
GRANT USAGE ON SCHEMA :"schema" TO :"app";
-- Before PostgreSQL 15 everyone may create objects in `public` (a table there named like
-- ours would shadow it for a search_path that lists `public` first).
SELECT 'REVOKE CREATE ON SCHEMA public FROM PUBLIC'
WHERE EXISTS (SELECT FROM pg_namespace WHERE nspname = 'public') \gexec

-- Both roles find the tables without qualifying them (Quittance's URL names no schema).
ALTER ROLE :"owner" IN DATABASE :"dbname" SET search_path = :"schema";
ALTER ROLE :"app" IN DATABASE :"dbname" SET search_path = :"schema";

-- 4. Alembic's version table, created here (as Alembic would) so that the service can be
-- given SELECT on it and nothing more: the service checks the revision on every start, and
-- a service role able to write it could mark a security migration as done without running
-- it. Alembic finds the table and leaves it as is.
SET ROLE :"owner";
CREATE TABLE IF NOT EXISTS :"schema".alembic_version (
    version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
RESET ROLE;

-- 5. Row privileges. Default privileges cover the tables and sequences future migrations
-- create (they run as the owner role); the GRANTs on ALL cover the ones that exist now.
-- Never granted: TRUNCATE (empties a table without firing the row triggers), REFERENCES,
-- TRIGGER, and ownership (ALTER TABLE … DISABLE TRIGGER, DROP TRIGGER need it).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA :"schema" TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA :"schema" TO :"app";
REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA :"schema" FROM PUBLIC, :"app";
REVOKE INSERT, UPDATE, DELETE ON :"schema".alembic_version FROM PUBLIC, :"app";

-- 6. session_replication_role = replica skips every ordinary trigger. It is a superuser
-- setting; PostgreSQL 15+ can grant it to others: make sure it was not.
SELECT current_setting('server_version_num')::int >= 150000 AS has_parameter_grants \gset
\if :has_parameter_grants
REVOKE SET ON PARAMETER session_replication_role FROM PUBLIC, :"app";
\endif

\echo Quittance roles ready: run "quittance migrate" as :owner, then the service as :app
