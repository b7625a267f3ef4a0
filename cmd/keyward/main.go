// Command keyward is Keyward's one binary: the server, its bootstrap, and a
// CLI for every call of the management API.
//
// Run the server (SQLite in ./keyward-data, no other setup):
//
//	keyward serve [--addr 127.0.0.1:8080] [--data-dir keyward-data]
//
// On an empty database it creates the organization "default" and a root key
// holding "*", and prints that key once. For scripts:
//
//	keyward init --org NAME --json
//
// When an org's IP allowlist admits no admin any more, reset its policy by
// opening the database directly (no key needed):
//
//	keyward org policy reset --org NAME [--data-dir keyward-data | --database-url URL]
//
// serve, init and org policy reset take --data-dir (KEYWARD_DATA_DIR),
// --database-url (KEYWARD_DATABASE_URL) and --pepper (KEYWARD_PEPPER: a
// server secret that makes stored hashes HMAC-SHA-256; changing it
// invalidates every key); serve also takes --addr (KEYWARD_ADDR),
// --log-format text|json (KEYWARD_LOG_FORMAT), --cache-ttl
// (KEYWARD_CACHE_TTL, default 1m: the longest a cached key is served
// without reading the store), --redis-url (KEYWARD_REDIS_URL),
// --trusted-proxies (KEYWARD_TRUSTED_PROXIES), --log-level
// debug|info|warn|error (KEYWARD_LOG_LEVEL, default info; the access log
// writes verifications answered 200, the bulk of the traffic, at debug and
// every other request at info) and --pprof-addr (KEYWARD_PPROF_ADDR: serve
// Go's profiles, net/http/pprof, on an address of their own, such as
// 127.0.0.1:6060, for diagnosing a slow or large server; off by default, and
// without authentication, so keep it private). Without --redis-url each
// node counts rate limits in its own memory; with it the counts are shared
// in Redis by every node. While Redis is unreachable a node counts on its
// own (limits still hold, per node), logs it, and sets the metric
// keyward_ratelimit_redis_up to 0. Metrics are served at /metrics, without
// a key: keep that route off the public network.
//
// # Behind a load balancer
//
// A request comes from its TCP peer: behind a proxy, from the proxy.
// --trusted-proxies 10.0.0.5,10.1.0.0/16 names the proxies (IPs and CIDRs,
// comma-separated) whose X-Forwarded-For header Keyward believes: for a
// request from one of them, it walks the header from the right, past the
// entries that are trusted proxies too, and takes the first one that is
// not as the client; an entry that does not parse ends the walk at the
// hop to its right. That client address is what the org's and management
// keys' allowed_ips check, what audit events record as source_ip, what a
// verification without "ip" checks, and what the access log shows. From
// any other peer, or without the flag, the header is ignored, since a
// client can write whatever it likes there. The proxy must append to the
// header (nginx: proxy_set_header X-Forwarded-For
// $proxy_add_x_forwarded_for;). Name only such HTTP proxies: a NAT or a
// layer-4 balancer in the list, or a range holding other hosts, lets
// anyone behind it claim any address; a /0 is refused.
//
// # Many nodes
//
// Without --database-url the store is SQLite in --data-dir, for one node.
// With --database-url postgres://user:password@host:5432/db every node
// shares one PostgreSQL, 14 or later, behind any load balancer:
//
//	keyward serve --addr :8080 --database-url "postgres://keyward:PASSWORD@db:5432/keyward" [--redis-url redis://redis:6379/0] [--trusted-proxies LB]
//
// Only PostgreSQL itself: CockroachDB and other servers that speak its
// protocol are not supported, for they lack LISTEN/NOTIFY (the change
// feed) or advisory locks (migrations while several nodes start). Each node
// keeps a pool of max(10, 4×GOMAXPROCS) connections unless the URL sets
// ?pool_max_conns=N, plus one that listens.
//
// serve started while PostgreSQL cannot be reached (down, restarting, out
// of connections) waits for it, retrying every few seconds, and says so
// once in its log, with the reason. A server that refuses the credentials
// or has no such database stops serve at once, and init and org policy
// reset fail at once on any error. The first node
// to start on an empty database creates the default org and prints its
// root key; nodes that start at the same time find it made and print
// nothing. Logs name the database by host and name, never with its
// password. A node caches keys, owners and org policies, and hears of
// every other node's writes through PostgreSQL's LISTEN/NOTIFY: it drops a
// changed key, owner or policy at once when it hears of the change, and
// its whole cache each time it starts listening again after a lost
// connection, since it may have missed changes meanwhile. Even cut off from
// the notices it serves a cached answer for at most --cache-ttl (default
// 1m): that is the bound on how long a revoked key may still verify on a
// node that cannot hear of it. The metric keyward_change_feed_up is 1 while
// the node listens; keyward_change_feed_changes_total{kind} counts the
// changes applied, kind "all" once per flush.
//
// GET /healthz answers 200 while the process runs. GET /readyz reports each
// dependency, and is computed on every request, so it recovers by itself:
//
//	{"status":"ok","checks":{"change_feed":"ok","database":"ok","redis":"ok"}}
//
// change_feed is there with --database-url, redis with --redis-url; a
// failing check answers "unreachable", and the node logs why when the
// check starts to fail (and again when it passes). While the database does
// not answer within 2s, or the node does not hear the change feed, /readyz
// answers 503 with the usual error body (code "unavailable", status 503,
// detail such as "Not ready: database unreachable.") plus the checks, and
// a load balancer should take the node out of its pool: it cannot read
// keys, or could serve revoked ones. While only Redis fails it answers 200
// with status "degraded": Redis is shared, so it fails on every node at
// once, and each node can count rate limits on its own meanwhile; failing
// readiness everywhere would stop the whole service for a dependency that
// has a fallback.
//
// CLI calls talk to a running server through the Go client; they take
// --url (KEYWARD_URL) and --key (KEYWARD_KEY), print tables, or JSON with
// --json:
//
//	keyward keys create|list|get|update|rotate|credits|revoke|delete
//	keyward verify KEY|- [--permissions QUERY] [--ip IP] [--cost N] [--rate-limit NAME[:COST]]...
//	                                                       (exit 1 when not valid)
//	keyward owners get|set OWNER
//	keyward org policy get|set
//	keyward usage [--key-id ID] [--from T] [--to T] [--bucket minute|hour|day]
//	keyward service-accounts create|list|get|delete
//	keyward audit
//	keyward whoami
//
// Rate limits are written NAME:LIMIT:WINDOW, a burst of LIMIT verifications
// refilled at LIMIT per WINDOW (seconds or a span such as 1m, 1h, 1d), as in
// `keys create --rate-limit default:100:1m`; limits set on an owner with
// `owners set` are shared by all of its keys, and a key's own limit of the
// same name wins. Credits are a balance that each valid verification
// spends: `keys create --credits 1000 --refill monthly:1000:1` (or
// daily:AMOUNT) sets it back at 00:00 UTC. `keys rotate ID --grace 1h`
// prints a new key with every setting of the old one, which keeps working
// for the grace period. Spans (--expires-in, --grace, --max-lifetime) are
// seconds, days (30d), a Go duration (1h30m) or both (1d12h).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Globals are the flags every subcommand sees, and where it writes.
type Globals struct {
	URL  string `name:"url" env:"KEYWARD_URL" default:"http://127.0.0.1:8080" help:"Keyward server URL (CLI calls)."`
	Key  string `name:"key" env:"KEYWARD_KEY" help:"API key the CLI authenticates with."`
	JSON bool   `name:"json" help:"Print JSON instead of tables."`

	Stdout io.Writer `kong:"-"`
	Stderr io.Writer `kong:"-"`
}

// CLI is the whole command line.
type CLI struct {
	Globals

	Serve           ServeCmd           `cmd:"" help:"Run the Keyward server."`
	Init            InitCmd            `cmd:"" help:"Create an organization and its root key without serving."`
	Keys            KeysCmd            `cmd:"" help:"Manage API keys."`
	Verify          VerifyCmd          `cmd:"" help:"Verify a key."`
	ServiceAccounts ServiceAccountsCmd `cmd:"" name:"service-accounts" help:"Manage service accounts."`
	Owners          OwnersCmd          `cmd:"" help:"Manage rate limits shared by all keys of an owner."`
	Org             OrgCmd             `cmd:"" help:"Manage the org's key policy."`
	Usage           UsageCmd           `cmd:"" help:"Show verification counts per key or org."`
	Audit           AuditCmd           `cmd:"" help:"List audit events."`
	Whoami          WhoamiCmd          `cmd:"" help:"Show the calling key's own record."`
}

// Run parses args and runs the chosen subcommand; it returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cli CLI
	cli.Stdout, cli.Stderr = stdout, stderr
	exitCode := -1
	parser, err := kong.New(&cli,
		kong.Name("keyward"),
		kong.Description("Keyward: issue, verify, restrict and revoke API keys."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.UsageOnError(),
	)
	if err != nil {
		fmt.Fprintln(stderr, "keyward:", err)
		return 2
	}
	kctx, err := parser.Parse(args)
	if exitCode >= 0 {
		return exitCode // --help
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyward:", err)
		return 2
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	if err := kctx.Run(&cli.Globals); err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(stderr, "keyward:", errorText(err))
		}
		return 1
	}
	return 0
}

// errSilent marks an error the command has already reported.
var errSilent = errors.New("reported")
