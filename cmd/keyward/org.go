package main

import (
	"context"
	"fmt"
	"strconv"

	"keyward"
)

// OrgCmd groups the calls on the caller's org.
type OrgCmd struct {
	Policy OrgPolicyCmd `cmd:"" help:"Show or replace the org's key policy."`
}

// OrgPolicyCmd groups the org policy calls.
type OrgPolicyCmd struct {
	Get   OrgPolicyGetCmd   `cmd:"" help:"Show the org's key policy."`
	Set   OrgPolicySetCmd   `cmd:"" help:"Replace the org's key policy; flags not given take their defaults."`
	Reset OrgPolicyResetCmd `cmd:"" help:"Put an org's key policy back to the defaults by opening the database directly, without a key."`
}

// OrgPolicyResetCmd is `keyward org policy reset`: the way back when an IP
// allowlist admits no admin any more. It opens the store like `init`, so it
// needs the data dir or the database URL, not a key.
type OrgPolicyResetCmd struct {
	StoreFlags
	Org string `name:"org" default:"default" help:"Name of the organization whose policy to reset."`
}

// Run resets the policy. Servers on PostgreSQL hear of it through the
// change feed and drop their cached policy at once; a server on SQLite
// keeps it for at most its --cache-ttl.
func (cmd *OrgPolicyResetCmd) Run(ctx context.Context, g *Globals) error {
	m, err := cmd.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	org, err := m.Service.ResetOrgPolicy(ctx, cmd.Org)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(g.Stdout, "Reset the key policy of organization %q (%s) to the defaults.\n", org.Name, org.ID)
	return err
}

// OrgPolicyGetCmd is `keyward org policy get`.
type OrgPolicyGetCmd struct{}

// Run prints the policy.
func (cmd *OrgPolicyGetCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printOrgPolicyResult(g)(c.FindOrgPolicy(ctx))
}

// OrgPolicySetCmd is `keyward org policy set`. The API replaces the whole
// policy, so the flags describe all of it.
type OrgPolicySetCmd struct {
	MaxLifetime      lifetime `name:"max-lifetime" placeholder:"LIFETIME" help:"Longest life a key may get: seconds, days (90d) or a duration. Default: none."`
	DefaultLifetime  lifetime `name:"default-lifetime" placeholder:"LIFETIME" help:"Life of keys created without an expiry. Default: none."`
	AllowedIPs       []string `name:"allowed-ip" placeholder:"CIDR" help:"IP or CIDR that every key of the org must be used from, on top of the key's own list; repeat or separate with commas. Default: any."`
	AllowNonExpiring *bool    `name:"allow-non-expiring" negatable:"" help:"Whether keys may never expire. Default: true, or false with --max-lifetime (true with it is refused); --no-allow-non-expiring or =false requires an expiry."`
}

// Run replaces the policy and prints it.
func (cmd *OrgPolicySetCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printOrgPolicyResult(g)(c.UpdateOrgPolicy(ctx, keyward.OrgPolicyUpdate{
		MaxKeyLifetime:     cmd.MaxLifetime.seconds(),
		DefaultKeyLifetime: cmd.DefaultLifetime.seconds(),
		AllowedIPs:         cmd.AllowedIPs,
		AllowNonExpiring:   cmd.AllowNonExpiring,
	}))
}

// printOrgPolicyResult returns a printer for a call that answers the
// policy.
func printOrgPolicyResult(g *Globals) func(*keyward.OrgPolicy, error) error {
	return func(p *keyward.OrgPolicy, err error) error {
		if err != nil {
			return err
		}
		if g.JSON {
			return printJSON(g.Stdout, p)
		}
		return printFields(g.Stdout, []field{
			{"max key lifetime", optionalSeconds(p.MaxKeyLifetime)},
			{"default key lifetime", optionalSeconds(p.DefaultKeyLifetime)},
			{"allowed ips", list(p.AllowedIPs)},
			{"allow non-expiring", strconv.FormatBool(p.AllowNonExpiring)},
		})
	}
}

// optionalSeconds writes a span the way the flags take it, "-" for none.
func optionalSeconds(secs *int64) string {
	if secs == nil {
		return "-"
	}
	return formatSeconds(*secs)
}
