package selector

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MaxLength bounds a selector's source; MaxDepth its nesting.
const (
	MaxLength = 8 << 10
	MaxDepth  = 64
)

// Lookup returns a field's value: string, bool, float64 or any Go integer
// type; ok=false (or a nil value) is SQL NULL.
type Lookup func(name string) (any, bool)

// Selector is a compiled selector.
type Selector struct {
	root node
	src  string
}

// String returns the source text.
func (s *Selector) String() string { return s.src }

// Match reports whether the selector is TRUE for the fields (unknown and
// FALSE do not match).
func (s *Selector) Match(get Lookup) bool { return s.root.eval(get).truth() == tTrue }

// Parse compiles a selector.
func Parse(src string) (*Selector, error) {
	if len(src) > MaxLength {
		return nil, fmt.Errorf("selector longer than %d bytes", MaxLength)
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, fmt.Errorf("unexpected %q at %d", t.s, t.pos)
	}
	return &Selector{root: n, src: src}, nil
}

// value is NULL (nil), bool, float64 or string.
type value any

type tri int8

const (
	tFalse tri = iota
	tTrue
	tUnknown
)

type result struct{ v value }

func (r result) truth() tri {
	switch b := r.v.(type) {
	case bool:
		if b {
			return tTrue
		}
		return tFalse
	}
	return tUnknown
}

func triValue(t tri) result {
	switch t {
	case tTrue:
		return result{true}
	case tFalse:
		return result{false}
	}
	return result{nil}
}

type node interface{ eval(Lookup) result }

type (
	litNode   struct{ v value }
	identNode struct{ name string }
	notNode   struct{ x node }
	andNode   struct{ a, b node }
	orNode    struct{ a, b node }
	cmpNode   struct {
		op   string
		a, b node
	}
	arithNode struct {
		op   byte
		a, b node
	}
	negNode     struct{ x node }
	betweenNode struct{ x, lo, hi node }
	inNode      struct {
		x    node
		list []value
	}
	likeNode struct {
		x  node
		re *regexp.Regexp
	}
	isNullNode struct{ x node }
)

func (n litNode) eval(Lookup) result { return result{n.v} }

func (n identNode) eval(get Lookup) result {
	v, ok := get(n.name)
	if !ok {
		return result{nil}
	}
	return result{normalize(v)}
}

func normalize(v any) value {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x
	case float32:
		return float64(x)
	case int:
		return float64(x)
	case int8:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint8:
		return float64(x)
	case uint16:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// SQL three-valued logic (JMS 1.1 §3.8.1.2).
func (n notNode) eval(get Lookup) result {
	switch n.x.eval(get).truth() {
	case tTrue:
		return result{false}
	case tFalse:
		return result{true}
	}
	return result{nil}
}

func (n andNode) eval(get Lookup) result {
	a := n.a.eval(get).truth()
	if a == tFalse {
		return result{false}
	}
	b := n.b.eval(get).truth()
	switch {
	case b == tFalse:
		return result{false}
	case a == tTrue && b == tTrue:
		return result{true}
	}
	return result{nil}
}

func (n orNode) eval(get Lookup) result {
	a := n.a.eval(get).truth()
	if a == tTrue {
		return result{true}
	}
	b := n.b.eval(get).truth()
	switch {
	case b == tTrue:
		return result{true}
	case a == tFalse && b == tFalse:
		return result{false}
	}
	return result{nil}
}

// number converts a value for arithmetic or numeric comparison; a string
// that parses as a number counts as one (STOMP headers are strings).
func number(v value) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// compare returns -1, 0, 1, or ok=false when the values are not comparable.
func compare(a, b value) (int, bool) {
	if a == nil || b == nil {
		return 0, false
	}
	_, an := a.(float64)
	_, bn := b.(float64)
	if an || bn {
		x, ok1 := number(a)
		y, ok2 := number(b)
		if !ok1 || !ok2 {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	}
	if as, ok := a.(string); ok {
		if bs, ok := b.(string); ok {
			return strings.Compare(as, bs), true
		}
		// string vs boolean: compare with the boolean's text ("true")
		if bb, ok := b.(bool); ok {
			return strings.Compare(strings.ToLower(as), strconv.FormatBool(bb)), true
		}
		return 0, false
	}
	if ab, ok := a.(bool); ok {
		switch bv := b.(type) {
		case bool:
			if ab == bv {
				return 0, true
			}
			return 1, true
		case string:
			c, ok := compare(b, a)
			return -c, ok
		}
	}
	return 0, false
}

func (n cmpNode) eval(get Lookup) result {
	a, b := n.a.eval(get).v, n.b.eval(get).v
	c, ok := compare(a, b)
	if !ok {
		return result{nil}
	}
	_, ab := a.(bool)
	_, bb := b.(bool)
	if (ab || bb) && n.op != "=" && n.op != "<>" {
		return result{nil} // booleans are only equal or not
	}
	switch n.op {
	case "=":
		return result{c == 0}
	case "<>":
		return result{c != 0}
	case "<":
		return result{c < 0}
	case ">":
		return result{c > 0}
	case "<=":
		return result{c <= 0}
	case ">=":
		return result{c >= 0}
	}
	return result{nil}
}

func (n arithNode) eval(get Lookup) result {
	x, ok1 := number(n.a.eval(get).v)
	y, ok2 := number(n.b.eval(get).v)
	if !ok1 || !ok2 {
		return result{nil}
	}
	switch n.op {
	case '+':
		return result{x + y}
	case '-':
		return result{x - y}
	case '*':
		return result{x * y}
	case '/':
		if y == 0 {
			return result{nil}
		}
		return result{x / y}
	}
	return result{nil}
}

func (n negNode) eval(get Lookup) result {
	x, ok := number(n.x.eval(get).v)
	if !ok {
		return result{nil}
	}
	return result{-x}
}

func (n betweenNode) eval(get Lookup) result {
	x := n.x.eval(get).v
	c1, ok1 := compare(x, n.lo.eval(get).v)
	c2, ok2 := compare(x, n.hi.eval(get).v)
	if !ok1 || !ok2 {
		return result{nil}
	}
	return result{c1 >= 0 && c2 <= 0}
}

func (n inNode) eval(get Lookup) result {
	x := n.x.eval(get).v
	if x == nil {
		return result{nil}
	}
	for _, v := range n.list {
		if c, ok := compare(x, v); ok && c == 0 {
			return result{true}
		}
	}
	return result{false}
}

func (n likeNode) eval(get Lookup) result {
	s, ok := n.x.eval(get).v.(string)
	if !ok {
		return result{nil}
	}
	return result{n.re.MatchString(s)}
}

func (n isNullNode) eval(get Lookup) result { return result{n.x.eval(get).v == nil} }

// likeRegexp translates a LIKE pattern: % is any sequence, _ one character,
// esc (if not 0) makes the next character literal.
func likeRegexp(pat string, esc rune) (*regexp.Regexp, error) {
	var sb strings.Builder
	sb.WriteString("(?s)^")
	rs := []rune(pat)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case esc != 0 && r == esc:
			i++
			if i == len(rs) {
				return nil, fmt.Errorf("LIKE pattern ends with the escape character")
			}
			sb.WriteString(regexp.QuoteMeta(string(rs[i])))
		case r == '%':
			sb.WriteString(".*")
		case r == '_':
			sb.WriteString(".")
		default:
			sb.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	sb.WriteString("$")
	return regexp.Compile(sb.String())
}
