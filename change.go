package keyward

import "context"

// ChangeKind says what a Change names.
type ChangeKind uint8

// The kinds of Change.
const (
	// ChangeAll names everything: the feed may have missed changes (it
	// reconnected), so caches drop all they hold.
	ChangeAll ChangeKind = iota
	// ChangeKey names one key, by its hash: it was updated, revoked,
	// deleted or rotated, or its credits were set. A refill is not
	// announced: it changes only the balance, which verification reads
	// from the store, and announcing every daily refill at midnight
	// would make every node reload those keys at once.
	ChangeKey
	// ChangeOwner names one owner's rate limits.
	ChangeOwner
	// ChangePolicy names one org's policy.
	ChangePolicy
)

// Change is a committed write that can change a verification answer, as a
// ChangeFeed announces it to every node. It names what caches must drop and
// never holds a secret.
type Change struct {
	Kind  ChangeKind
	OrgID string
	// KeyHash is the key's stored hash, for ChangeKey.
	KeyHash []byte
	// OwnerID is the owner, for ChangeOwner.
	OwnerID string
}

// ChangeFeed tells every node of a cluster about the writes of every other
// node, so that their caches drop what changed. A store that many nodes
// share (postgres) implements it; a store of one node (sqlite) need not,
// since each write drops the writer's own cache entries.
type ChangeFeed interface {
	// Listen calls apply with each change committed by any node, in commit
	// order, until ctx ends, and then returns ctx's error. It reconnects by
	// itself after a lost connection. Changes committed while it does not
	// listen are lost, so each time it starts listening, the first time
	// included, it calls apply with a ChangeAll before any other change.
	// apply runs on Listen's goroutine and must not block.
	Listen(ctx context.Context, apply func(Change)) error
	// Listening reports whether Listen is connected and listening now.
	Listening() bool
}
