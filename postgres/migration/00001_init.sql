-- +goose Up

-- Times are timestamptz, at the microsecond precision that callers
-- truncate to, NULL when unset. Optional strings are NULL when empty.
-- JSON values are json, not jsonb: json keeps the text as written (key
-- order, spacing, escapes), so metadata and audit details read back byte
-- for byte. Ids are COLLATE "C": they compare byte-wise, as Go compares
-- strings, so that ORDER BY id and page cursors agree with callers whatever
-- the database's locale, and comparisons are plain memcmp.

CREATE TABLE organizations (
	id         text COLLATE "C" PRIMARY KEY,
	-- FindOrgByName and the conflict check of CreateOrg; formatError
	-- recognizes organizations_name_key.
	name       text NOT NULL UNIQUE,
	created_at timestamptz NOT NULL
);

CREATE TABLE service_accounts (
	id          text COLLATE "C" PRIMARY KEY,
	org_id      text COLLATE "C" NOT NULL REFERENCES organizations (id),
	name        text NOT NULL,
	description text NOT NULL,
	created_at  timestamptz NOT NULL,
	created_by  text,
	deleted_at  timestamptz
);

CREATE INDEX service_accounts_org_id_id ON service_accounts (org_id, id);

CREATE TABLE keys (
	id                   text COLLATE "C" PRIMARY KEY,
	org_id               text COLLATE "C" NOT NULL REFERENCES organizations (id),
	name                 text NOT NULL,
	description          text NOT NULL,
	-- Byte-wise, so that the prefix filter is case-sensitive and its
	-- range is one index scan.
	key_prefix           text COLLATE "C" NOT NULL,
	-- The UNIQUE index on hash is the verification path's lookup.
	hash                 bytea NOT NULL UNIQUE,
	-- NULL for a nil list, '{}' for an empty one: both read back as
	-- written.
	permissions          text[],
	allowed_ips          text[],
	expires_at           timestamptz,
	enabled              boolean NOT NULL,
	metadata             json,
	owner_id             text,
	service_account_id   text COLLATE "C" REFERENCES service_accounts (id),
	created_at           timestamptz NOT NULL,
	updated_at           timestamptz NOT NULL,
	created_by           text,
	last_used_at         timestamptz,
	last_used_ip         text,
	last_used_user_agent text,
	revoked_at           timestamptz,
	deleted_at           timestamptz,
	-- The key's own named limits, a JSON array.
	rate_limits          json NOT NULL DEFAULT '[]',
	-- NULL for a key without credits (unlimited). The CHECK is the last
	-- guard against an overspend that would go negative.
	credits_remaining    bigint CHECK (credits_remaining >= 0),
	-- The refill as JSON {amount, interval, day}, NULL for none.
	credits_refill       json,
	credits_refilled_at  timestamptz,
	-- When the next refill falls due: derived from the two above on every
	-- write, so that the refill sweep and the spend's fast path compare a
	-- column instead of computing a schedule.
	credits_refill_due   timestamptz,
	rotated_from         text,
	rotated_to           text,
	-- The id of the first key of the key's rotation line, NULL for that
	-- first key (and for a key never rotated). A spend finds the line's
	-- newest key, which holds its credits, through keys_org_id_line_id in
	-- one lookup, however many rotations the line has seen.
	line_id              text
);

-- Lists are scoped by org and ordered by id; each filter has its index.
CREATE INDEX keys_org_id_id ON keys (org_id, id);
CREATE INDEX keys_org_id_owner_id ON keys (org_id, owner_id);
CREATE INDEX keys_org_id_service_account_id ON keys (org_id, service_account_id);
CREATE INDEX keys_org_id_key_prefix ON keys (org_id, key_prefix);
CREATE INDEX keys_org_id_line_id ON keys (org_id, line_id);
CREATE INDEX keys_credits_refill_due ON keys (credits_refill_due)
	WHERE credits_refill_due IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE audit_events (
	id           text COLLATE "C" PRIMARY KEY,
	org_id       text COLLATE "C" NOT NULL REFERENCES organizations (id),
	time         timestamptz NOT NULL,
	actor_key_id text,
	action       text NOT NULL,
	target_type  text NOT NULL,
	target_id    text NOT NULL,
	request_id   text,
	source_ip    text,
	user_agent   text,
	details      json
);

CREATE INDEX audit_events_org_id_id ON audit_events (org_id, id);

CREATE TABLE owners (
	org_id      text COLLATE "C" NOT NULL REFERENCES organizations (id),
	owner_id    text NOT NULL,
	rate_limits json NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (org_id, owner_id)
);

-- An org without a row has the default policy. Lifetimes are seconds,
-- NULL for none.
CREATE TABLE org_policies (
	org_id               text COLLATE "C" PRIMARY KEY REFERENCES organizations (id),
	max_key_lifetime     bigint,
	default_key_lifetime bigint,
	allowed_ips          text[] NOT NULL,
	allow_non_expiring   boolean NOT NULL
);

-- Verification counts per key, reason code and minute (the minute's
-- start). No foreign keys: a flush is one statement, and one count that
-- names a vanished row must not cost the whole batch.
CREATE TABLE usage (
	org_id text COLLATE "C" NOT NULL,
	key_id text COLLATE "C" NOT NULL,
	minute timestamptz NOT NULL,
	code   text NOT NULL,
	count  bigint NOT NULL,
	PRIMARY KEY (org_id, key_id, minute, code)
);

-- The primary key serves one key's usage; this serves the org's by time.
CREATE INDEX usage_org_id_minute ON usage (org_id, minute);
