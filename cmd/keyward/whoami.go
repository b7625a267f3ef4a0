package main

import "context"

// WhoamiCmd is `keyward whoami`: the record of the key the CLI calls with,
// to check which key KEYWARD_KEY holds and what it may do.
type WhoamiCmd struct{}

// Run prints the calling key.
func (cmd *WhoamiCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printKeyResult(g)(c.WhoAmI(ctx))
}
