-- +goose Up

-- Usage control: rate limits, credits, rotation links, owners, org policies
-- and verification counts. Conventions as in 00001.

-- A key's own named limits, a JSON array.
ALTER TABLE keys ADD COLUMN rate_limits TEXT NOT NULL DEFAULT '[]';
-- credits_remaining is NULL for a key without credits (unlimited). The
-- CHECK is the last guard against an overspend that would go negative.
ALTER TABLE keys ADD COLUMN credits_remaining INTEGER CHECK (credits_remaining >= 0);
-- The refill as JSON {amount, interval, day}, NULL for none.
ALTER TABLE keys ADD COLUMN credits_refill TEXT;
ALTER TABLE keys ADD COLUMN credits_refilled_at INTEGER;
-- When the next refill falls due: derived from the two above on every
-- write, so that the refill sweep is a range scan instead of a
-- computation over every key.
ALTER TABLE keys ADD COLUMN credits_refill_due INTEGER;
ALTER TABLE keys ADD COLUMN rotated_from TEXT;
ALTER TABLE keys ADD COLUMN rotated_to TEXT;
-- The id of the first key of the key's rotation line, NULL for that first
-- key (and for a key never rotated). A spend finds the line's newest key,
-- which holds its credits, through keys_org_id_line_id in one lookup,
-- however many rotations the line has seen.
ALTER TABLE keys ADD COLUMN line_id TEXT;

CREATE INDEX keys_org_id_line_id ON keys (org_id, line_id);
CREATE INDEX keys_credits_refill_due ON keys (credits_refill_due)
	WHERE credits_refill_due IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE owners (
	org_id      TEXT NOT NULL REFERENCES organizations (id),
	owner_id    TEXT NOT NULL,
	rate_limits TEXT NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (org_id, owner_id)
) STRICT, WITHOUT ROWID;

-- An org without a row has the default policy. Lifetimes are seconds,
-- NULL for none.
CREATE TABLE org_policies (
	org_id               TEXT PRIMARY KEY REFERENCES organizations (id),
	max_key_lifetime     INTEGER,
	default_key_lifetime INTEGER,
	allowed_ips          TEXT NOT NULL,
	allow_non_expiring   INTEGER NOT NULL
) STRICT;

-- Verification counts per key, reason code and minute (unix seconds of the
-- minute's start). No foreign keys: a flush is one transaction, and one
-- count that names a vanished row must not cost the whole batch.
CREATE TABLE usage (
	org_id TEXT NOT NULL,
	key_id TEXT NOT NULL,
	minute INTEGER NOT NULL,
	code   TEXT NOT NULL,
	count  INTEGER NOT NULL,
	PRIMARY KEY (org_id, key_id, minute, code)
) STRICT, WITHOUT ROWID;

-- The primary key serves one key's usage; this serves the org's by time.
CREATE INDEX usage_org_id_minute ON usage (org_id, minute);
