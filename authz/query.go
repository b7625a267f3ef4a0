package authz

import (
	"errors"
	"fmt"
	"strings"
)

// Query limits. They bound the work one verification request can cause.
const (
	MaxQueryLen   = 4096
	MaxQueryDepth = 32
	MaxQueryTerms = 256
)

// Query is a parsed permission query: permission strings joined by AND / OR
// (upper case keywords) with parentheses; AND binds tighter than OR. E.g.
// "a.read AND (b.write OR admin:*)". A Query is immutable and safe for
// concurrent use.
type Query struct {
	root node
}

type op uint8

const (
	opLeaf op = iota
	opAnd
	opOr
)

// node is a leaf permission or an AND / OR of two or more children. Chains
// of the same operator are flattened, so that a child never has its parent's
// operator: that makes String canonical.
type node struct {
	op   op
	perm string
	kids []node
}

// ParseQuery parses s. The error text names the position (1-based, in bytes)
// and the problem: unbalanced parenthesis, empty operand, bad permission,
// trailing operator, and so on. Empty or blank s is an error; callers that
// treat an empty query as "no requirement" check for it first. The words and
// and or in any case but upper are rejected rather than read as permissions.
func ParseQuery(s string) (*Query, error) {
	if len(s) > MaxQueryLen {
		return nil, fmt.Errorf("query is longer than %d characters", MaxQueryLen)
	}
	p := parser{src: s}
	p.advance()
	if p.tok.kind == tokEOF {
		return nil, errors.New("query is empty")
	}
	root, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tokEOF:
		return &Query{root: root}, nil
	case tokRParen:
		return nil, p.errorf(`unbalanced parenthesis: ")" without "("`)
	}
	// parseOr stops only at EOF, ")" or a token that cannot follow an
	// operand: another operand or "(".
	return nil, p.unexpected("AND or OR")
}

// Eval reports whether granted satisfies the query: each leaf is
// Allowed(granted, leaf). It does not allocate.
func (q *Query) Eval(granted []string) bool {
	return q.root.eval(granted)
}

func (n *node) eval(granted []string) bool {
	switch n.op {
	case opAnd:
		for i := range n.kids {
			if !n.kids[i].eval(granted) {
				return false
			}
		}
		return true
	case opOr:
		for i := range n.kids {
			if n.kids[i].eval(granted) {
				return true
			}
		}
		return false
	}
	// ParseQuery validated the leaf, so Allowed's check is skipped. The
	// zero Query is the one way to get a leaf it did not parse: an empty
	// one, which must grant nothing.
	return n.perm != "" && anyCovers(granted, n.perm)
}

// String returns the canonical text form: permissions as written, single
// spaces around operators, and parentheses only around an OR inside an AND.
// ParseQuery(q.String()) yields the same query. The text can be longer than
// the input when the input omitted the spaces next to parentheses, as in
// "a AND(b OR c)".
func (q *Query) String() string {
	var b strings.Builder
	q.root.write(&b)
	return b.String()
}

func (n *node) write(b *strings.Builder) {
	if n.op == opLeaf {
		b.WriteString(n.perm)
		return
	}
	sep := " AND "
	if n.op == opOr {
		sep = " OR "
	}
	for i := range n.kids {
		if i > 0 {
			b.WriteString(sep)
		}
		k := &n.kids[i]
		if n.op == opAnd && k.op == opOr {
			b.WriteByte('(')
			k.write(b)
			b.WriteByte(')')
			continue
		}
		k.write(b)
	}
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokLParen
	tokRParen
	tokAnd
	tokOr
	tokPerm
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset in the source
}

// describe names the token in an error message.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of query"
	case tokLParen:
		return `"("`
	case tokRParen:
		return `")"`
	}
	return quoteWord(t.text)
}

// quoteWord quotes a word of the query for an error message, cut short so
// that one long word cannot blow up the message.
func quoteWord(w string) string {
	const maxLen = 40
	if len(w) > maxLen {
		return fmt.Sprintf("%q...", w[:maxLen])
	}
	return fmt.Sprintf("%q", w)
}

// parser is a recursive-descent parser over a one-token lookahead:
//
//	or    = and { "OR" and }
//	and   = term { "AND" term }
//	term  = permission | "(" or ")"
type parser struct {
	src   string
	pos   int
	tok   token
	terms int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("position %d: %s", p.tok.pos+1, fmt.Sprintf(format, args...))
}

// advance reads the next token into p.tok. Words run until whitespace or a
// parenthesis; a word is an operator only when spelled AND or OR exactly.
func (p *parser) advance() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
	start := p.pos
	if start == len(p.src) {
		p.tok = token{kind: tokEOF, pos: start}
		return
	}
	switch p.src[start] {
	case '(':
		p.pos++
		p.tok = token{kind: tokLParen, text: "(", pos: start}
		return
	case ')':
		p.pos++
		p.tok = token{kind: tokRParen, text: ")", pos: start}
		return
	}
	for p.pos < len(p.src) && !isSpace(p.src[p.pos]) && p.src[p.pos] != '(' && p.src[p.pos] != ')' {
		p.pos++
	}
	text := p.src[start:p.pos]
	kind := tokPerm
	switch text {
	case "AND":
		kind = tokAnd
	case "OR":
		kind = tokOr
	}
	p.tok = token{kind: kind, text: text, pos: start}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) parseOr(depth int) (node, error) {
	return p.parseChain(depth, opOr, tokOr, p.parseAnd)
}

func (p *parser) parseAnd(depth int) (node, error) {
	return p.parseChain(depth, opAnd, tokAnd, p.parseTerm)
}

// parseChain parses operands joined by the operator tok and flattens nested
// nodes of the same operator into one.
func (p *parser) parseChain(depth int, o op, tok tokKind, operand func(int) (node, error)) (node, error) {
	first, err := operand(depth)
	if err != nil || p.tok.kind != tok {
		return first, err
	}
	n := node{op: o}
	n.kids = appendFlat(n.kids, first, o)
	for p.tok.kind == tok {
		operator := p.tok
		p.advance()
		if p.tok.kind == tokEOF {
			p.tok = operator
			return node{}, p.errorf("trailing operator %s has no right operand", operator.text)
		}
		next, err := operand(depth)
		if err != nil {
			return node{}, err
		}
		n.kids = appendFlat(n.kids, next, o)
	}
	return n, nil
}

// appendFlat appends k to kids, or k's children when k has the same
// operator o, as in "(a AND b) AND c".
func appendFlat(kids []node, k node, o op) []node {
	if k.op == o {
		return append(kids, k.kids...)
	}
	return append(kids, k)
}

func (p *parser) parseTerm(depth int) (node, error) {
	switch p.tok.kind {
	case tokPerm:
		return p.parsePermission()
	case tokLParen:
		if depth == MaxQueryDepth {
			return node{}, p.errorf("parentheses nested deeper than %d", MaxQueryDepth)
		}
		open := p.tok
		p.advance()
		if p.tok.kind == tokRParen {
			return node{}, p.errorf("empty parentheses")
		}
		n, err := p.parseOr(depth + 1)
		if err != nil {
			return node{}, err
		}
		switch p.tok.kind {
		case tokRParen:
			p.advance()
			return n, nil
		case tokEOF:
			p.tok = open
			return node{}, p.errorf(`unbalanced parenthesis: "(" is never closed`)
		}
		return node{}, p.unexpected(`AND, OR or ")"`)
	}
	return node{}, p.unexpected(`a permission or "("`)
}

func (p *parser) parsePermission() (node, error) {
	text := p.tok.text
	if isMistypedOperator(text) {
		return node{}, p.errorf("found %s: operators are upper case", quoteWord(text))
	}
	if len(text) > MaxPermissionLen {
		return node{}, p.errorf("permission is longer than %d characters", MaxPermissionLen)
	}
	if pos, f := findFault(text); f != faultNone {
		p.tok.pos += pos
		return node{}, p.errorf("%s in permission %s", f.describe(text, pos), quoteWord(text))
	}
	p.terms++
	if p.terms > MaxQueryTerms {
		return node{}, p.errorf("query has more than %d permissions", MaxQueryTerms)
	}
	p.advance()
	return node{op: opLeaf, perm: text}, nil
}

// isMistypedOperator reports whether word is and / or in other than upper
// case. Such a word is a valid permission, but in a query it is far more
// likely a mistyped operator, and reading it as a permission would turn
// "a and b" into a confusing error or "x OR or" into a silent typo.
func isMistypedOperator(word string) bool {
	return strings.EqualFold(word, "AND") || strings.EqualFold(word, "OR")
}

// unexpected reports the current token where expected was due.
func (p *parser) unexpected(expected string) error {
	if p.tok.kind == tokPerm && isMistypedOperator(p.tok.text) {
		return p.errorf("expected %s, found %s: operators are upper case", expected, quoteWord(p.tok.text))
	}
	return p.errorf("expected %s, found %s", expected, p.tok.describe())
}
