package awsapi

import (
	"encoding/json"
	"reflect"
	"unicode/utf8"
	"unsafe"
)

// FastJSON is implemented by request types of hot actions that decode the
// usual AWS JSON 1.0 body without reflection. DecodeFastJSON reports false
// as soon as the body holds anything it does not handle exactly as
// encoding/json would (an unknown, differently cased or repeated member,
// null, a type mismatch, trailing data...); Request.Decode then zeroes the
// value and decodes with encoding/json, which gives the same result or the
// same error as before. The fast path is an optimisation only.
type FastJSON interface {
	DecodeFastJSON(sc *JSONScanner) bool
}

// JSONScanner reads one JSON value (RFC 8259) for a FastJSON decoder.
type JSONScanner struct {
	b []byte
	i int
}

func (s *JSONScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *JSONScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// NewJSONScanner returns a scanner at the start of b.
func NewJSONScanner(b []byte) *JSONScanner { return &JSONScanner{b: b} }

// AtEnd reports whether only white space is left.
func (s *JSONScanner) AtEnd() bool {
	s.ws()
	return s.i == len(s.b)
}

// Object reads an object, calling member for each member name (plain
// ASCII names only); member must read the value. Nothing but an object is
// accepted.
func (s *JSONScanner) Object(member func(sc *JSONScanner, name []byte) bool) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		if s.peek() != '"' {
			return false
		}
		start := s.i + 1
		end := start
		for end < len(s.b) && s.b[end] != '"' {
			if c := s.b[end]; c == '\\' || c < 0x20 || c >= 0x80 {
				return false
			}
			end++
		}
		if end >= len(s.b) {
			return false
		}
		s.i = end + 1
		if s.peek() != ':' {
			return false
		}
		s.i++
		if !member(s, s.b[start:end]) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// Array reads an array, calling elem for each element; empty reports a
// present but empty array ([] decodes to an empty, non-nil slice).
func (s *JSONScanner) Array(elem func(sc *JSONScanner) bool) (empty, ok bool) {
	if s.peek() != '[' {
		return false, false
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return true, true
	}
	for {
		if !elem(s) {
			return false, false
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return false, true
		default:
			return false, false
		}
	}
}

// rawString returns the quoted string token at the cursor (quotes
// included) and whether it holds escapes or non-ASCII bytes.
func (s *JSONScanner) rawString() (tok []byte, plain, ok bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	start := s.i
	plain = true
	for j := start + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:s.i], plain, true
		case c == '\\':
			plain = false
			j++ // skip the escaped byte (a quote or backslash)
		case c < 0x20:
			return nil, false, false // invalid in JSON: let encoding/json report it
		case c >= 0x80:
			plain = false
		}
	}
	return nil, false, false
}

// String reads a string. Escapes and non-ASCII text are unquoted by
// encoding/json itself (same replacement of invalid UTF-8).
func (s *JSONScanner) String() (string, bool) {
	tok, plain, ok := s.rawString()
	if !ok {
		return "", false
	}
	if plain {
		return string(tok[1 : len(tok)-1]), true
	}
	if utf8.Valid(tok) && !hasByte(tok[1:len(tok)-1], '\\') {
		return string(tok[1 : len(tok)-1]), true
	}
	var v string
	if err := json.Unmarshal(tok, &v); err != nil {
		return "", false
	}
	return v, true
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// StringView reads a string like StringPtr, but a string without escapes
// shares the scanned bytes instead of being copied: use it only where the
// scanned buffer is never written again (a request body is not).
func (s *JSONScanner) StringView() (*string, bool) {
	v, ok := s.View()
	if !ok {
		return nil, false
	}
	return &v, true
}

// View reads a string like String, sharing the scanned bytes as
// StringView does. The string keeps the whole scanned buffer alive: do
// not keep it longer than what else refers to the buffer.
func (s *JSONScanner) View() (string, bool) {
	tok, plain, ok := s.rawString()
	if !ok {
		return "", false
	}
	if !plain {
		s.i -= len(tok)
		return s.String()
	}
	return unsafe.String(unsafe.SliceData(tok[1:]), len(tok)-2), true
}

// StringPtr reads a string into a new pointer (as encoding/json fills a
// *string).
func (s *JSONScanner) StringPtr() (*string, bool) {
	v, ok := s.String()
	if !ok {
		return nil, false
	}
	return &v, true
}

// Strings reads an array of strings.
func (s *JSONScanner) Strings() ([]string, bool) {
	var out []string
	empty, ok := s.Array(func(sc *JSONScanner) bool {
		v, ok := sc.String()
		out = append(out, v)
		return ok
	})
	if !ok {
		return nil, false
	}
	if empty {
		out = []string{}
	}
	return out, true
}

// Int reads a JSON number or string into n through Int.UnmarshalJSON.
func (s *JSONScanner) Int(n *Int) bool {
	var tok []byte
	if s.peek() == '"' {
		t, _, ok := s.rawString()
		if !ok {
			return false
		}
		tok = t
	} else if tok = s.number(); tok == nil {
		return false
	}
	return n.UnmarshalJSON(tok) == nil
}

// number reads a number token: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *JSONScanner) number() []byte {
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() bool {
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		return nil
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return nil
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return nil
		}
	}
	s.i = i
	return b[start:i]
}

// decodeFast tries v's FastJSON decoder on body; on failure v is zeroed
// for the encoding/json decoder.
func decodeFast(v any, body []byte) bool {
	f, ok := v.(FastJSON)
	if !ok {
		return false
	}
	sc := JSONScanner{b: body}
	if f.DecodeFastJSON(&sc) && sc.AtEnd() {
		return true
	}
	reflect.ValueOf(v).Elem().SetZero()
	return false
}

// JSONAppender is implemented by results of hot actions that encode
// themselves without reflection, byte for byte as marshalJSON would; ok
// false (for example a map member, whose keys encoding/json sorts) makes
// writeResult fall back to marshalJSON.
type JSONAppender interface {
	AppendJSON(b []byte) (out []byte, ok bool)
}

// AppendJSONString appends s as a JSON string exactly as encoding/json with
// SetEscapeHTML(false) writes it: printable ASCII as is, anything else
// through encoding/json itself.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			out, err := marshalJSON(s)
			if err != nil { // not reached: a string always encodes
				return append(b, `""`...)
			}
			return append(b, out...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendJSONMember appends "name": then the string value, preceded by a
// comma unless first.
func AppendJSONMember(b []byte, first bool, name, value string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	return AppendJSONString(b, value)
}
