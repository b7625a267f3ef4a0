package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"keyward"
)

// UsageCmd is `keyward usage`: verification counts per time bucket, of one
// key or the whole org.
type UsageCmd struct {
	KeyID  string     `name:"key-id" placeholder:"ID" help:"Only this key; default: the whole org."`
	From   *time.Time `name:"from" placeholder:"RFC3339" help:"Start, aligned to the bucket; default: 24 hours ago."`
	To     *time.Time `name:"to" placeholder:"RFC3339" help:"End (exclusive); default: now."`
	Bucket string     `name:"bucket" enum:"minute,hour,day" default:"hour" help:"Bucket width: ${enum}."`
}

// Run prints one row per bucket.
func (cmd *UsageCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	q := keyward.UsageQuery{From: cmd.From, To: cmd.To, Bucket: cmd.Bucket}
	var u *keyward.Usage
	if cmd.KeyID != "" {
		u, err = c.FindKeyUsage(ctx, cmd.KeyID, q)
	} else {
		u, err = c.FindUsage(ctx, q)
	}
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(g.Stdout, u)
	}
	return printUsageTable(g, u.Data)
}

// printUsageTable writes buckets one per row, codes by name.
func printUsageTable(g *Globals, buckets []keyward.UsageBucket) error {
	tw := newTable(g.Stdout)
	fmt.Fprintln(tw, "START\tTOTAL\tCODES")
	for _, b := range buckets {
		codes := make([]string, 0, len(b.Codes))
		for _, code := range slices.Sorted(maps.Keys(b.Codes)) {
			codes = append(codes, fmt.Sprintf("%s=%d", code, b.Codes[code]))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", formatTime(b.Start), b.Total, list(codes))
	}
	return tw.Flush()
}
