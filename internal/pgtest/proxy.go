package pgtest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections from its own address to a target. Cut,
// it closes the connections it holds and each new one at once, as a
// network outage between a node and PostgreSQL would, and it keeps its
// listener, so that no other process can take the port meanwhile.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	down    bool
	conns   []net.Conn
	refused int
}

// NewProxy starts a proxy to target, a host:port, on a free port of
// 127.0.0.1; it stops when tb ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("pgtest: proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target}
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.setDown(true)
	})
	return p
}

// Addr is the proxy's address, to connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut ends every forwarded connection and refuses new ones.
func (p *Proxy) Cut() { p.setDown(true) }

// Restore forwards new connections again.
func (p *Proxy) Restore() { p.setDown(false) }

// Refused returns how many connections the proxy closed at once while
// cut: the attempts to reconnect during an outage.
func (p *Proxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accept(c)
	}
}

// accept holds the lock while it dials, so that a cut cannot miss a
// connection being set up.
func (p *Proxy) accept(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		p.refused++
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.conns = append(p.conns, c, up)
	go pipe(up, c)
	go pipe(c, up)
}

// pipe copies src to dst, and closes dst when src ends, which ends the
// copy the other way.
func pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
}

func (p *Proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}
