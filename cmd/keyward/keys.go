package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"keyward"
)

// KeysCmd groups the key management calls.
type KeysCmd struct {
	Create  KeysCreateCmd  `cmd:"" help:"Create a key and print its secret, once."`
	List    KeysListCmd    `cmd:"" help:"List keys."`
	Get     KeysGetCmd     `cmd:"" help:"Show one key."`
	Update  KeysUpdateCmd  `cmd:"" help:"Change a key's name, permissions, IPs, expiry, metadata, enabled flag, rate limits or credits."`
	Rotate  KeysRotateCmd  `cmd:"" help:"Replace a key with a new one of the same settings and print its secret, once."`
	Credits KeysCreditsCmd `cmd:"" help:"Set, increment or decrement a key's credits."`
	Revoke  KeysRevokeCmd  `cmd:"" help:"Revoke a key for good."`
	Delete  KeysDeleteCmd  `cmd:"" help:"Delete a key."`
}

// KeysCreateCmd is `keyward keys create`.
type KeysCreateCmd struct {
	Name             string          `required:"" help:"Name, 1 to 255 characters."`
	Description      string          `help:"Free text."`
	Permissions      []string        `name:"permission" placeholder:"PERM" help:"Permission to grant, such as nodes.read or admin:api-keys:read; repeat or separate with commas."`
	AllowedIPs       []string        `name:"allowed-ip" placeholder:"CIDR" help:"IP or CIDR the key may be used from; repeat or separate with commas."`
	ExpiresAt        *time.Time      `name:"expires-at" xor:"expiry" placeholder:"RFC3339" help:"Expiry time, such as 2027-01-01T00:00:00Z."`
	ExpiresIn        lifetime        `name:"expires-in" xor:"expiry" placeholder:"LIFETIME" help:"Lifetime: seconds, days (30d) or a duration (1h30m)."`
	OwnerID          string          `name:"owner-id" xor:"owner" help:"Id of the user (in your own system) the key belongs to."`
	ServiceAccountID string          `name:"service-account-id" xor:"owner" help:"Service account the key belongs to."`
	Metadata         jsonObject      `placeholder:"JSON" help:"JSON object returned with every verification."`
	Disabled         bool            `help:"Create the key disabled."`
	Prefix           string          `help:"Key prefix instead of the default kw_live; [a-z0-9_]{1,16}."`
	RateLimits       []rateLimitFlag `name:"rate-limit" placeholder:"NAME:LIMIT:WINDOW" help:"Named rate limit: a burst of LIMIT verifications, refilled at LIMIT per WINDOW (seconds or a duration, 1s to 1d), such as default:100:1m; repeat for more."`
	creditsFlags
}

// Run creates the key and prints it with its secret.
func (cmd *KeysCreateCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	in := keyward.KeyCreate{
		Name:             cmd.Name,
		Description:      cmd.Description,
		Permissions:      cmd.Permissions,
		AllowedIPs:       cmd.AllowedIPs,
		ExpiresAt:        cmd.ExpiresAt,
		ExpiresIn:        cmd.ExpiresIn.seconds(),
		OwnerID:          cmd.OwnerID,
		ServiceAccountID: cmd.ServiceAccountID,
		Metadata:         []byte(cmd.Metadata),
		Prefix:           cmd.Prefix,
		Credits:          cmd.creditsFlags.input(),
	}
	if cmd.RateLimits != nil {
		in.RateLimits = rateLimits(cmd.RateLimits)
	}
	if cmd.Disabled {
		enabled := false
		in.Enabled = &enabled
	}
	return printCreatedKey(g)(c.CreateKey(ctx, in))
}

// printCreatedKey returns a printer for a call that answers a new key with
// its secret: the record, then the secret, the one time it is shown.
func printCreatedKey(g *Globals) func(*keyward.CreatedKey, error) error {
	return func(created *keyward.CreatedKey, err error) error {
		if err != nil {
			return err
		}
		if g.JSON {
			return printJSON(g.Stdout, created)
		}
		if err := printKey(g.Stdout, created.Key); err != nil {
			return err
		}
		_, err = fmt.Fprintf(g.Stdout, "\nkey: %s\n\nStore this key now: it will not be shown again.\n", created.Secret)
		return err
	}
}

// KeysListCmd is `keyward keys list`.
type KeysListCmd struct {
	OwnerID          string `name:"owner-id" help:"Only keys of this user id."`
	ServiceAccountID string `name:"service-account-id" help:"Only keys of this service account."`
	Revoked          string `enum:"true,false,any" default:"any" help:"Only revoked (true) or unrevoked (false) keys; ${enum}."`
	Prefix           string `help:"Only keys whose prefix (as shown in lists) starts with this."`
	pageFlags
}

// Run prints one page of keys, or all of them with --all.
func (cmd *KeysListCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	f := keyward.KeyFilter{OwnerID: cmd.OwnerID, ServiceAccountID: cmd.ServiceAccountID, Prefix: cmd.Prefix}
	if cmd.Revoked != "any" {
		revoked := cmd.Revoked == "true"
		f.Revoked = &revoked
	}
	page, err := collect(ctx, cmd.pageFlags, func(ctx context.Context, cursor string, limit int) (keyward.Page[*keyward.Key], error) {
		f.Cursor, f.Limit = cursor, limit
		return c.FindKeys(ctx, f)
	})
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(g.Stdout, page)
	}
	if err := printKeyTable(g.Stdout, page.Data); err != nil {
		return err
	}
	printNextCursor(g, page.NextCursor)
	return nil
}

// KeysGetCmd is `keyward keys get`.
type KeysGetCmd struct {
	ID string `arg:"" help:"Key id."`
}

// Run prints the key.
func (cmd *KeysGetCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printKeyResult(g)(c.FindKeyByID(ctx, cmd.ID))
}

// KeysUpdateCmd is `keyward keys update`.
type KeysUpdateCmd struct {
	ID               string          `arg:"" help:"Key id."`
	Name             *string         `help:"New name."`
	Description      *string         `help:"New description."`
	Permissions      []string        `name:"permission" xor:"permissions" placeholder:"PERM" help:"Replace the permissions; repeat or separate with commas."`
	ClearPermissions bool            `name:"clear-permissions" xor:"permissions" help:"Remove every permission."`
	AllowedIPs       []string        `name:"allowed-ip" xor:"ips" placeholder:"CIDR" help:"Replace the allowed IPs and CIDRs."`
	ClearAllowedIPs  bool            `name:"clear-allowed-ips" xor:"ips" help:"Allow every IP again."`
	ExpiresAt        *time.Time      `name:"expires-at" xor:"expiry" placeholder:"RFC3339" help:"New expiry time."`
	ExpiresIn        lifetime        `name:"expires-in" xor:"expiry" placeholder:"LIFETIME" help:"New lifetime from now: seconds, days (30d) or a duration (1h30m)."`
	NoExpiry         bool            `name:"no-expiry" xor:"expiry" help:"Make the key never expire."`
	Metadata         jsonObject      `placeholder:"JSON" help:"Replace the metadata object."`
	Enable           bool            `xor:"enabled" help:"Enable the key."`
	Disable          bool            `xor:"enabled" help:"Disable the key; enable it again later."`
	RateLimits       []rateLimitFlag `name:"rate-limit" xor:"rate-limits" placeholder:"NAME:LIMIT:WINDOW" help:"Replace the key's own rate limits, such as default:100:1m; repeat for more."`
	NoRateLimits     bool            `name:"no-rate-limits" xor:"rate-limits" help:"Remove the key's own rate limits."`
	creditsFlags
	NoCredits bool `name:"no-credits" xor:"credits-balance,credits-refill" help:"Remove the credits: the key becomes unlimited."`
}

// errNothingToUpdate is returned by `keys update` without any change flag.
var errNothingToUpdate = errors.New("nothing to update: pass at least one change (see keyward keys update --help)")

// update is the API call that cmd's flags describe.
func (cmd *KeysUpdateCmd) update() (keyward.KeyUpdate, error) {
	upd := keyward.KeyUpdate{
		Name:        cmd.Name,
		Description: cmd.Description,
		ExpiresIn:   cmd.ExpiresIn.seconds(),
		Metadata:    []byte(cmd.Metadata),
	}
	switch {
	case cmd.ClearPermissions:
		upd.Permissions = &[]string{}
	case cmd.Permissions != nil:
		upd.Permissions = &cmd.Permissions
	}
	switch {
	case cmd.ClearAllowedIPs:
		upd.AllowedIPs = &[]string{}
	case cmd.AllowedIPs != nil:
		upd.AllowedIPs = &cmd.AllowedIPs
	}
	switch {
	case cmd.NoExpiry:
		upd.ExpiresAt = keyward.OptionalTime{Set: true}
	case cmd.ExpiresAt != nil:
		upd.ExpiresAt = keyward.OptionalTime{Set: true, Value: cmd.ExpiresAt}
	}
	if cmd.Enable || cmd.Disable {
		enabled := cmd.Enable
		upd.Enabled = &enabled
	}
	switch {
	case cmd.NoRateLimits:
		upd.RateLimits = &[]keyward.RateLimit{}
	case cmd.RateLimits != nil:
		limits := rateLimits(cmd.RateLimits)
		upd.RateLimits = &limits
	}
	switch in := cmd.creditsFlags.input(); {
	case cmd.NoCredits:
		upd.Credits = keyward.Optional[keyward.CreditsInput]{Set: true}
	case in != nil:
		upd.Credits = keyward.Optional[keyward.CreditsInput]{Set: true, Value: in}
	}
	if upd.Name == nil && upd.Description == nil && upd.Permissions == nil && upd.AllowedIPs == nil &&
		!upd.ExpiresAt.Set && upd.ExpiresIn == nil && upd.Metadata == nil && upd.Enabled == nil &&
		upd.RateLimits == nil && !upd.Credits.Set {
		return upd, errNothingToUpdate
	}
	return upd, nil
}

// Run applies the change and prints the key as it now is.
func (cmd *KeysUpdateCmd) Run(ctx context.Context, g *Globals) error {
	upd, err := cmd.update()
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	return printKeyResult(g)(c.UpdateKey(ctx, cmd.ID, upd))
}

// KeysRotateCmd is `keyward keys rotate`.
type KeysRotateCmd struct {
	ID        string      `arg:"" help:"Key id."`
	Grace     gracePeriod `name:"grace" required:"" placeholder:"SPAN" help:"How long the old key keeps working: seconds or a duration (0, 3600, 1h, 7d), at most 30d."`
	ExpiresAt *time.Time  `name:"expires-at" xor:"expiry" placeholder:"RFC3339" help:"Expiry of the new key; default: the old key's."`
	ExpiresIn lifetime    `name:"expires-in" xor:"expiry" placeholder:"LIFETIME" help:"Lifetime of the new key: seconds, days (30d) or a duration (1h30m)."`
}

// Run rotates the key and prints the new one with its secret.
func (cmd *KeysRotateCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printCreatedKey(g)(c.RotateKey(ctx, cmd.ID, keyward.KeyRotate{
		GracePeriod: int64(cmd.Grace),
		ExpiresAt:   cmd.ExpiresAt,
		ExpiresIn:   cmd.ExpiresIn.seconds(),
	}))
}

// KeysCreditsCmd is `keyward keys credits`.
type KeysCreditsCmd struct {
	ID     string `arg:"" help:"Key id."`
	Op     string `arg:"" enum:"set,increment,decrement" help:"set, increment or decrement."`
	Amount int64  `arg:"" help:"Credits to set, add or take; the balance never goes below zero."`
}

// Run changes the balance and prints the key.
func (cmd *KeysCreditsCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printKeyResult(g)(c.UpdateCredits(ctx, cmd.ID, keyward.CreditsUpdate{Op: cmd.Op, Amount: &cmd.Amount}))
}

// KeysRevokeCmd is `keyward keys revoke`.
type KeysRevokeCmd struct {
	ID string `arg:"" help:"Key id."`
}

// Run revokes the key and prints it.
func (cmd *KeysRevokeCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printKeyResult(g)(c.RevokeKey(ctx, cmd.ID))
}

// KeysDeleteCmd is `keyward keys delete`.
type KeysDeleteCmd struct {
	ID string `arg:"" help:"Key id."`
}

// Run deletes the key and prints its last record.
func (cmd *KeysDeleteCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printKeyResult(g)(c.DeleteKey(ctx, cmd.ID))
}

// printKeyResult returns a printer for a call that answers one key, as JSON
// or as a listing.
func printKeyResult(g *Globals) func(*keyward.Key, error) error {
	return func(k *keyward.Key, err error) error {
		if err != nil {
			return err
		}
		if g.JSON {
			return printJSON(g.Stdout, k)
		}
		return printKey(g.Stdout, k)
	}
}
