package main

import (
	"context"
	"errors"

	"keyward"
)

// OwnersCmd groups the calls on owners: the settings that every key of one
// owner_id shares.
type OwnersCmd struct {
	Get OwnersGetCmd `cmd:"" help:"Show an owner's shared rate limits."`
	Set OwnersSetCmd `cmd:"" help:"Replace an owner's shared rate limits."`
}

// OwnersGetCmd is `keyward owners get`.
type OwnersGetCmd struct {
	OwnerID string `arg:"" name:"owner" help:"Owner id, as keys carry it in owner_id."`
}

// Run prints the owner.
func (cmd *OwnersGetCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printOwnerResult(g)(c.FindOwner(ctx, cmd.OwnerID))
}

// OwnersSetCmd is `keyward owners set`.
type OwnersSetCmd struct {
	OwnerID      string          `arg:"" name:"owner" help:"Owner id, as keys carry it in owner_id."`
	RateLimits   []rateLimitFlag `name:"rate-limit" xor:"rate-limits" placeholder:"NAME:LIMIT:WINDOW" help:"Limit counted across all the owner's keys, such as default:1000:1h; repeat for more. A key's own limit of the same name wins."`
	NoRateLimits bool            `name:"no-rate-limits" xor:"rate-limits" help:"Remove the owner's limits."`
}

// Run replaces the owner's limits and prints the owner.
func (cmd *OwnersSetCmd) Run(ctx context.Context, g *Globals) error {
	// Without either flag the call would remove every limit: make that a
	// choice, not an accident.
	if cmd.RateLimits == nil && !cmd.NoRateLimits {
		return errors.New("nothing to set: pass --rate-limit, or --no-rate-limits to remove the owner's limits")
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	upd := keyward.OwnerUpdate{RateLimits: rateLimits(cmd.RateLimits)}
	return printOwnerResult(g)(c.UpdateOwner(ctx, cmd.OwnerID, upd))
}

// printOwnerResult returns a printer for a call that answers an owner.
func printOwnerResult(g *Globals) func(*keyward.Owner, error) error {
	return func(o *keyward.Owner, err error) error {
		if err != nil {
			return err
		}
		if g.JSON {
			return printJSON(g.Stdout, o)
		}
		updated := "-"
		if o.UpdatedAt != nil {
			updated = formatTime(*o.UpdatedAt)
		}
		return printFields(g.Stdout, []field{
			{"owner", o.ID},
			{"rate limits", rateLimitList(o.RateLimits)},
			{"updated", updated},
		})
	}
}
