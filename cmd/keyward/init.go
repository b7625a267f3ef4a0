package main

import (
	"context"
	"encoding/json"
	"fmt"
)

// InitCmd creates an organization and its root key without serving.
type InitCmd struct {
	StoreFlags
	Org string `name:"org" default:"default" help:"Name of the organization to create."`
}

// Run creates the org and prints its root key once.
func (c *InitCmd) Run(ctx context.Context, g *Globals) error {
	m, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	org, root, err := m.Service.CreateOrg(ctx, c.Org)
	if err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.Stdout).Encode(struct {
			OrgID string `json:"org_id"`
			KeyID string `json:"key_id"`
			Key   string `json:"key"`
		}{org.ID, root.ID, root.Secret})
	}
	_, err = fmt.Fprintf(g.Stdout, "Created organization %q (%s).\nRoot key %s:\n\n    %s\n\n"+
		"This key will not be shown again. Store it securely.\n", org.Name, org.ID, root.ID, root.Secret)
	return err
}
