package httpapi

import (
	"net/http"
	"strconv"
	"unicode/utf8"

	"keyward"
)

// handleVerify answers whether a presented key is valid. It is the hot
// path: one decode, one service call, one encode. Any well-formed request
// gets 200, whatever the key; the answer's code says why it is not valid.
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) error {
	var req keyward.VerifyRequest
	if err := readJSON(w, r, false, func(body []byte) error {
		if decodeVerifyRequest(body, &req) {
			return nil
		}
		return decodeBody(body, &req)
	}); err != nil {
		return err
	}
	res, err := s.Verifier.Verify(r.Context(), req)
	if err != nil {
		return err
	}
	buf := getBuffer()
	defer putBuffer(buf)
	// The same bytes as writeJSON's, without reflection.
	body := append(res.AppendJSON(buf.AvailableBuffer()), '\n')
	writeEncoded(w, http.StatusOK, jsonType, body)
	return nil
}

// decodeVerifyRequest decodes the common shape of a verify request, an
// object of distinct known members holding strings without escapes and an
// integer cost, into req, and reports whether it did. Anything else
// (escapes, null, rate_limits, a malformed body) it leaves to decodeBody,
// whose answers, errors included, are the reference: on any body it
// accepts, the two decode the same (FuzzDecodeVerifyRequest).
func decodeVerifyRequest(body []byte, req *keyward.VerifyRequest) bool {
	s := objectScanner{data: body}
	s.space()
	if !s.eat('{') {
		return false
	}
	s.space()
	if s.eat('}') {
		s.space()
		return s.pos == len(body)
	}
	var seen [6]bool
	for {
		s.space()
		start := s.pos
		if !s.str() {
			return false
		}
		name := body[start+1 : s.pos-1]
		s.space()
		if !s.eat(':') {
			return false
		}
		s.space()
		start = s.pos
		if !s.value() {
			return false
		}
		raw := body[start:s.pos]
		var i int
		var dst *string
		switch string(name) {
		case "key":
			i, dst = 0, &req.Key
		case "permissions":
			i, dst = 1, &req.Permissions
		case "ip":
			i, dst = 2, &req.IP
		case "user_agent":
			i, dst = 3, &req.UserAgent
		case "cost":
			i = 4
		default:
			return false
		}
		if seen[i] {
			return false
		}
		seen[i] = true
		if dst != nil {
			v, ok := plainString(raw)
			if !ok {
				return false
			}
			*dst = v
		} else {
			n, ok := plainInt(raw)
			if !ok {
				return false
			}
			req.Cost = &n
		}
		s.space()
		if s.eat('}') {
			s.space()
			return s.pos == len(body)
		}
		if !s.eat(',') {
			return false
		}
	}
}

// plainString returns the value of a quoted JSON string that needs no
// decoding: no escapes, no control characters, valid UTF-8.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	raw = raw[1 : len(raw)-1]
	for _, c := range raw {
		if c < 0x20 || c == '\\' || c == '"' {
			return "", false
		}
	}
	if !utf8.Valid(raw) {
		return "", false
	}
	return string(raw), true
}

// plainInt returns the value of a JSON integer without exponent or
// fraction that fits an int64.
func plainInt(raw []byte) (int64, bool) {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}
