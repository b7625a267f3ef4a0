-- +goose Up

-- Times are INTEGER unix microseconds in UTC, NULL when unset. Optional
-- strings are NULL when empty. JSON values (lists, metadata, details) are
-- TEXT as written, NULL when absent. STRICT makes SQLite reject a value of
-- the wrong type instead of storing it.

CREATE TABLE organizations (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE service_accounts (
	id          TEXT PRIMARY KEY,
	org_id      TEXT NOT NULL REFERENCES organizations (id),
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	created_by  TEXT,
	deleted_at  INTEGER
) STRICT;

CREATE INDEX service_accounts_org_id_id ON service_accounts (org_id, id);

CREATE TABLE keys (
	id                   TEXT PRIMARY KEY,
	org_id               TEXT NOT NULL REFERENCES organizations (id),
	name                 TEXT NOT NULL,
	description          TEXT NOT NULL,
	key_prefix           TEXT NOT NULL,
	-- The UNIQUE index on hash is the verification path's lookup.
	hash                 BLOB NOT NULL UNIQUE,
	permissions          TEXT,
	allowed_ips          TEXT,
	expires_at           INTEGER,
	enabled              INTEGER NOT NULL,
	metadata             TEXT,
	owner_id             TEXT,
	service_account_id   TEXT REFERENCES service_accounts (id),
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL,
	created_by           TEXT,
	last_used_at         INTEGER,
	last_used_ip         TEXT,
	last_used_user_agent TEXT,
	revoked_at           INTEGER,
	deleted_at           INTEGER
) STRICT;

-- Lists are scoped by org and ordered by id; each filter has its index.
CREATE INDEX keys_org_id_id ON keys (org_id, id);
CREATE INDEX keys_org_id_owner_id ON keys (org_id, owner_id);
CREATE INDEX keys_org_id_service_account_id ON keys (org_id, service_account_id);
CREATE INDEX keys_org_id_key_prefix ON keys (org_id, key_prefix);

CREATE TABLE audit_events (
	id           TEXT PRIMARY KEY,
	org_id       TEXT NOT NULL REFERENCES organizations (id),
	time         INTEGER NOT NULL,
	actor_key_id TEXT,
	action       TEXT NOT NULL,
	target_type  TEXT NOT NULL,
	target_id    TEXT NOT NULL,
	request_id   TEXT,
	source_ip    TEXT,
	user_agent   TEXT,
	details      TEXT
) STRICT;

CREATE INDEX audit_events_org_id_id ON audit_events (org_id, id);
