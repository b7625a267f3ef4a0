package main

import (
	"context"
	"fmt"

	"keyward"
)

// AuditCmd is `keyward audit`: the org's management writes, newest first.
type AuditCmd struct {
	Action   string `placeholder:"ACTION" help:"Only this action, such as key.create, key.revoke or service_account.delete."`
	TargetID string `name:"target-id" help:"Only events about this key or service account id."`
	pageFlags
}

// Run prints one page of audit events, or all of them with --all.
func (cmd *AuditCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	page, err := collect(ctx, cmd.pageFlags, func(ctx context.Context, cursor string, limit int) (keyward.Page[*keyward.AuditEvent], error) {
		return c.FindAuditEvents(ctx, keyward.AuditFilter{Action: cmd.Action, TargetID: cmd.TargetID, Cursor: cursor, Limit: limit})
	})
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(g.Stdout, page)
	}
	tw := newTable(g.Stdout)
	fmt.Fprintln(tw, "TIME\tACTION\tTARGET\tACTOR\tSOURCE IP\tREQUEST")
	for _, ev := range page.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", formatTime(ev.Time), ev.Action,
			orDash(ev.TargetID), orDash(ev.ActorKeyID), orDash(ev.SourceIP), orDash(ev.RequestID))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printNextCursor(g, page.NextCursor)
	return nil
}
