package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"keyward"
)

// stdin is where `keyward verify -` reads the key; tests replace it.
var stdin io.Reader = os.Stdin

// VerifyCmd is `keyward verify`. It exits 0 for a valid key and 1 for any
// other answer, so scripts can branch on it.
type VerifyCmd struct {
	Secret      string             `arg:"" name:"key" help:"The key to verify, or - to read it from stdin (keeps it out of shell history and process lists)."`
	Permissions string             `placeholder:"QUERY" help:"Permissions the key must hold, such as 'a.read AND (b.write OR admin:*)'."`
	IP          string             `name:"ip" help:"IP of the client that presented the key, checked against its allowed IPs."`
	UserAgent   string             `name:"user-agent" placeholder:"UA" help:"User agent of the client that presented the key."`
	Cost        *int64             `name:"cost" placeholder:"N" help:"Credits a valid verification spends (default 1; 0 checks without spending)."`
	RateLimits  []rateLimitUseFlag `name:"rate-limit" placeholder:"NAME[:COST]" help:"Apply only this rate limit of the key or its owner, at COST (default 1); repeat for more. Default: every limit, at cost 1."`
}

// Run verifies the key and prints the answer.
func (cmd *VerifyCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	secret := cmd.Secret
	if secret == "-" {
		if secret, err = readSecret(stdin); err != nil {
			return err
		}
	}
	req := keyward.VerifyRequest{
		Key: secret, Permissions: cmd.Permissions, IP: cmd.IP, UserAgent: cmd.UserAgent, Cost: cmd.Cost,
	}
	for _, f := range cmd.RateLimits {
		req.RateLimits = append(req.RateLimits, keyward.RateLimitUse(f))
	}
	res, err := c.Verify(ctx, req)
	if err != nil {
		return err
	}
	if g.JSON {
		err = printJSON(g.Stdout, res)
	} else {
		err = printVerifyResult(g, res)
	}
	if err != nil {
		return err
	}
	if !res.Valid {
		// The answer is printed; only the exit code is left to say it.
		return errSilent
	}
	return nil
}

// readSecret reads the first line of r, without surrounding blanks.
func readSecret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read key from stdin: %w", err)
	}
	secret := strings.TrimSpace(line)
	if secret == "" {
		return "", errors.New("no key on stdin")
	}
	return secret, nil
}

// printVerifyResult writes the code on its own first line, then what the
// answer says about the key.
func printVerifyResult(g *Globals, res *keyward.VerifyResult) error {
	if _, err := fmt.Fprintln(g.Stdout, res.Code); err != nil {
		return err
	}
	if res.KeyID == "" {
		return nil
	}
	owner := orDash(res.OwnerID)
	if res.ServiceAccountID != "" {
		owner = "sa:" + res.ServiceAccountID
	}
	metadata := string(res.Metadata)
	if metadata == "" {
		metadata = "{}"
	}
	fields := []field{
		{"key id", res.KeyID},
		{"name", res.Name},
		{"owner", owner},
		{"permissions", list(res.Permissions)},
		{"expires", expiry(res.ExpiresAt)},
		{"metadata", metadata},
	}
	// Limits and credits are shown only where the key has them, so that
	// the answer for a plain key stays short.
	for _, rl := range res.RateLimits {
		fields = append(fields, field{"rate limit " + rl.Name,
			fmt.Sprintf("%d of %d left, full at %s", rl.Remaining, rl.Limit, formatTime(rl.Reset))})
	}
	if res.Credits != nil {
		fields = append(fields, field{"credits", fmt.Sprintf("%d left", res.Credits.Remaining)})
	}
	return printFields(g.Stdout, fields)
}
