package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/jackc/pgx/v5"

	"keyward"
)

// Changes travel as NOTIFY payloads on one channel per schema. PostgreSQL
// delivers a transaction's notices when it commits, in commit order, and
// drops them when it rolls back, so a cache never hears of a write that did
// not land, and hears of every one that did while it listens.

// channelPrefix starts every channel name.
const channelPrefix = "keyward_changes."

// channelFor returns the channel of the store in schema. Each schema has
// its own, so that deployments sharing a database in separate schemas (or
// tests) do not drop each other's cache entries. A channel name is an
// identifier of at most 63 bytes; a schema too long to fit is hashed.
func channelFor(schema string) string {
	name := channelPrefix + schema
	if len(name) > 63 {
		sum := sha256.Sum256([]byte(schema))
		name = channelPrefix + hex.EncodeToString(sum[:16])
	}
	return name
}

// encodeChange writes c as a payload: "k ORG HASH" (hash in hex), "o ORG
// OWNER" or "p ORG". The owner comes last because it is the one field that
// may hold spaces. No payload holds a secret.
func encodeChange(c keyward.Change) string {
	switch c.Kind {
	case keyward.ChangeKey:
		return "k " + c.OrgID + " " + hex.EncodeToString(c.KeyHash)
	case keyward.ChangeOwner:
		return "o " + c.OrgID + " " + c.OwnerID
	case keyward.ChangePolicy:
		return "p " + c.OrgID
	}
	return "*"
}

// decodeChange reads what encodeChange writes. Anything else (a payload of
// a newer version, say) decodes as ChangeAll: dropping every cache entry is
// always safe, ignoring a change is not.
func decodeChange(payload string) keyward.Change {
	all := keyward.Change{Kind: keyward.ChangeAll}
	kind, rest, _ := strings.Cut(payload, " ")
	org, arg, hasArg := strings.Cut(rest, " ")
	if org == "" {
		return all
	}
	switch kind {
	case "k":
		hash, err := hex.DecodeString(arg)
		if err != nil || len(hash) != sha256.Size {
			return all
		}
		return keyward.Change{Kind: keyward.ChangeKey, OrgID: org, KeyHash: hash}
	case "o":
		if arg == "" {
			return all
		}
		return keyward.Change{Kind: keyward.ChangeOwner, OrgID: org, OwnerID: arg}
	case "p":
		if hasArg {
			return all
		}
		return keyward.Change{Kind: keyward.ChangePolicy, OrgID: org}
	}
	return all
}

// keyChanges names keys for notify.
func keyChanges(keys ...*keyward.Key) []keyward.Change {
	changes := make([]keyward.Change, len(keys))
	for i, k := range keys {
		changes[i] = keyward.Change{Kind: keyward.ChangeKey, OrgID: k.OrgID, KeyHash: k.Hash}
	}
	return changes
}

// notify announces changes on channel when tx commits, in one round trip
// however many there are.
func notify(ctx context.Context, tx pgx.Tx, channel string, changes []keyward.Change) error {
	if len(changes) == 0 {
		return nil
	}
	payloads := make([]string, len(changes))
	for i, c := range changes {
		payloads[i] = encodeChange(c)
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, channel, payloads)
	return err
}
