package main

import (
	"context"
	"fmt"

	"keyward"
)

// ServiceAccountsCmd groups the service account calls.
type ServiceAccountsCmd struct {
	Create ServiceAccountsCreateCmd `cmd:"" help:"Create a service account."`
	List   ServiceAccountsListCmd   `cmd:"" help:"List service accounts."`
	Get    ServiceAccountsGetCmd    `cmd:"" help:"Show one service account."`
	Delete ServiceAccountsDeleteCmd `cmd:"" help:"Delete a service account and revoke its keys."`
}

// ServiceAccountsCreateCmd is `keyward service-accounts create`.
type ServiceAccountsCreateCmd struct {
	Name        string `required:"" help:"Name."`
	Description string `help:"Free text."`
}

// Run creates the service account and prints it.
func (cmd *ServiceAccountsCreateCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printServiceAccountResult(g)(c.CreateServiceAccount(ctx, keyward.ServiceAccountCreate{
		Name: cmd.Name, Description: cmd.Description,
	}))
}

// ServiceAccountsListCmd is `keyward service-accounts list`.
type ServiceAccountsListCmd struct {
	pageFlags
}

// Run prints one page of service accounts, or all of them with --all.
func (cmd *ServiceAccountsListCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	page, err := collect(ctx, cmd.pageFlags, func(ctx context.Context, cursor string, limit int) (keyward.Page[*keyward.ServiceAccount], error) {
		return c.FindServiceAccounts(ctx, keyward.ServiceAccountFilter{Cursor: cursor, Limit: limit})
	})
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(g.Stdout, page)
	}
	tw := newTable(g.Stdout)
	fmt.Fprintln(tw, "ID\tNAME\tDESCRIPTION\tCREATED")
	for _, sa := range page.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", sa.ID, sa.Name, orDash(sa.Description), formatTime(sa.CreatedAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printNextCursor(g, page.NextCursor)
	return nil
}

// ServiceAccountsGetCmd is `keyward service-accounts get`.
type ServiceAccountsGetCmd struct {
	ID string `arg:"" help:"Service account id."`
}

// Run prints the service account.
func (cmd *ServiceAccountsGetCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printServiceAccountResult(g)(c.FindServiceAccountByID(ctx, cmd.ID))
}

// ServiceAccountsDeleteCmd is `keyward service-accounts delete`.
type ServiceAccountsDeleteCmd struct {
	ID string `arg:"" help:"Service account id."`
}

// Run deletes the service account, which revokes its keys, and prints it.
func (cmd *ServiceAccountsDeleteCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return printServiceAccountResult(g)(c.DeleteServiceAccount(ctx, cmd.ID))
}

// printServiceAccountResult returns a printer for a call that answers one
// service account, as JSON or as a listing.
func printServiceAccountResult(g *Globals) func(*keyward.ServiceAccount, error) error {
	return func(sa *keyward.ServiceAccount, err error) error {
		if err != nil {
			return err
		}
		if g.JSON {
			return printJSON(g.Stdout, sa)
		}
		return printServiceAccount(g.Stdout, sa)
	}
}
