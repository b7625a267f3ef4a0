package verify

// TEMPORARY scaffolding while issue 4's engine work is written: the helper
// building it replaces these with the real owner and org policy caches.

// InvalidateOwner drops the cached settings of an owner.
func (e *Engine) InvalidateOwner(orgID, ownerID string) {}

// InvalidateOrg drops the cached policy of an org.
func (e *Engine) InvalidateOrg(orgID string) {}
