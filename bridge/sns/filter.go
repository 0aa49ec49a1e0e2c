package sns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Filter policy compiler. Semantics and limits follow the Amazon SNS
// developer guide, "Amazon SNS message filtering" (policy syntax, string /
// numeric / exists / anything-but / prefix / suffix / equals-ignore-case /
// cidr matching, $or, payload-based filtering) and "Filter policy
// constraints" (at most 5 keys; at most 150 value combinations, nested keys
// counting their depth). Error texts are the ones AWS returns (recorded in
// shared/aws-snapshots/sns_filter_policy.snapshot.json).

// Scope says what a policy filters on.
type Scope uint8

// Filter policy scopes (subscription attribute FilterPolicyScope).
const (
	ScopeAttributes Scope = iota // MessageAttributes (the default)
	ScopeBody                    // MessageBody: the message must be a JSON object
)

func (s Scope) String() string {
	if s == ScopeBody {
		return "MessageBody"
	}
	return "MessageAttributes"
}

// ParseScope parses a FilterPolicyScope value.
func ParseScope(v string) (Scope, bool) {
	switch v {
	case "MessageAttributes":
		return ScopeAttributes, true
	case "MessageBody":
		return ScopeBody, true
	}
	return 0, false
}

// Filter policy limits ("Filter policy constraints").
const (
	maxPolicyKeys         = 5
	maxPolicyCombinations = 150
	maxPolicyBytes        = 256 * 1024 // a FilterPolicy attribute is at most 256 KB
)

// PolicyError is a policy validation failure. Reason is the text that
// follows "Invalid parameter: " (or "Invalid parameter: Attributes Reason: "
// in Subscribe).
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return e.Reason }

type ruleKind uint8

const (
	ruleString ruleKind = iota
	ruleNumber
	ruleNull
	ruleBool
	rulePrefix
	ruleSuffix
	ruleIgnoreCase
	ruleAnythingBut       // strs / nums
	ruleAnythingButPrefix // s
	ruleNumeric
	ruleExists
	ruleCIDR
)

type rule struct {
	kind ruleKind
	s    string
	n    float64
	b    bool
	strs map[string]struct{}
	nums []float64
	// numeric range
	lo, hi         float64
	hasLo, hasHi   bool
	loIncl, hiIncl bool
	eq             bool
	pfx            netip.Prefix
}

// keyCond requires that the value at path matches one of rules.
type keyCond struct {
	path  string
	rules []rule
}

// Policy is a compiled filter policy: a message passes when, for one of
// the branches ($or alternatives expanded), every key condition holds.
type Policy struct {
	Scope    Scope
	branches [][]keyCond
	paths    map[string]struct{} // every path a branch reads (body scope: prefixes too)
	nested   bool
	indexed  bool // registered in the filter index (see filterindex.go)
}

// parsed policy tree
type pObject struct{ fields []pField }

type pField struct {
	name  string
	obj   *pObject   // nested keys (body scope)
	or    []*pObject // $or alternatives
	rules []rule
}

// CompilePolicy parses and validates policy for scope.
func CompilePolicy(policy string, scope Scope) (p *Policy, err error) {
	if len(policy) > maxPolicyBytes {
		return nil, &PolicyError{"FilterPolicy: Filter policy is too large"}
	}
	root, err := parsePolicy(policy)
	if err != nil {
		return nil, err
	}
	if len(root.fields) > maxPolicyKeys {
		return nil, &PolicyError{"FilterPolicy: Filter policy can not have more than 5 keys"}
	}
	nested := root.hasNested()
	if nested && scope == ScopeAttributes {
		return nil, &PolicyError{"Filter policy scope MessageAttributes does not support nested filter policy"}
	}
	if combinations(root, 1, 1) > maxPolicyCombinations {
		return nil, &PolicyError{"FilterPolicy: Filter policy is too complex"}
	}
	p = &Policy{Scope: scope, nested: nested, paths: map[string]struct{}{}}
	p.branches = expand(root, "", [][]keyCond{nil})
	for _, br := range p.branches {
		for _, kc := range br {
			parts := strings.Split(kc.path, ".")
			for i := 1; i <= len(parts); i++ {
				p.paths[strings.Join(parts[:i], ".")] = struct{}{}
			}
		}
	}
	return p, nil
}

func (o *pObject) hasNested() bool {
	for _, f := range o.fields {
		if f.obj != nil {
			return true
		}
		for _, alt := range f.or {
			if alt.hasNested() {
				return true
			}
		}
	}
	return false
}

// combinations counts value combinations as AWS does: the product of the
// number of values of every key times its nesting depth, $or alternatives
// adding up.
func combinations(o *pObject, depth, c int) int {
	const capAt = 1 << 30
	for _, f := range o.fields {
		switch {
		case f.obj != nil:
			c = combinations(f.obj, depth+1, c)
		case f.or != nil:
			sum := 0
			for _, alt := range f.or {
				sum += combinations(alt, depth, c)
				if sum > capAt {
					sum = capAt
				}
			}
			c = sum
		default:
			c = c * len(f.rules) * depth
		}
		if c > capAt {
			c = capAt
		}
	}
	return c
}

// expand flattens nested keys into dotted paths and multiplies out $or.
func expand(o *pObject, prefix string, branches [][]keyCond) [][]keyCond {
	for _, f := range o.fields {
		path := f.name
		if prefix != "" {
			path = prefix + "." + f.name
		}
		switch {
		case f.obj != nil:
			branches = expand(f.obj, path, branches)
		case f.or != nil:
			var out [][]keyCond
			for _, alt := range f.or {
				cp := make([][]keyCond, len(branches))
				for i, b := range branches {
					cp[i] = append([]keyCond(nil), b...)
				}
				out = append(out, expand(alt, prefix, cp)...)
			}
			branches = out
		default:
			for i := range branches {
				branches[i] = append(branches[i], keyCond{path: path, rules: f.rules})
			}
		}
	}
	return branches
}

// policyParser turns tokens into the policy tree, failing with AWS's texts.
type policyParser struct {
	lx policyLexer
}

type locatedError struct{ msg string }

func (pp *policyParser) failAt(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	panic(&locatedError{msg: msg + location(pp.lx.src, pp.lx.loc)})
}

func (pp *policyParser) failPlain(format string, args ...any) {
	panic(&locatedError{msg: fmt.Sprintf(format, args...)})
}

func parsePolicy(orig string) (root *pObject, err error) {
	// AWS first parses the policy as plain JSON (syntax errors carry a
	// redacted source) and then validates its compact re-serialisation
	// (semantic errors quote that compact text and point into it).
	var cbuf bytes.Buffer
	if cerr := json.Compact(&cbuf, []byte(orig)); cerr != nil {
		return nil, syntaxCheck(orig)
	}
	src := cbuf.String()
	pp := &policyParser{lx: policyLexer{src: src}}
	defer func() {
		if r := recover(); r != nil {
			switch e := r.(type) {
			case *syntaxError:
				err = &PolicyError{"FilterPolicy: failed to parse JSON. " + e.msg + syntaxLocation(src, e.pos)}
			case *locatedError:
				err = &PolicyError{"FilterPolicy: " + e.msg}
			default:
				panic(r)
			}
		}
	}()
	t := pp.lx.Next()
	switch t.kind {
	case tObjStart:
	case tEOF:
		pp.lx.fail(len(src), "No content to map due to end-of-input")
	default:
		pp.failAt("Filter is not an object")
	}
	return pp.object(), nil
}

// object parses the fields of an object whose '{' was just read.
func (pp *policyParser) object() *pObject {
	o := &pObject{}
	for {
		t := pp.lx.Next()
		if t.kind == tObjEnd {
			return o
		}
		name := t.text
		v := pp.lx.Next()
		switch v.kind {
		case tObjStart:
			o.fields = append(o.fields, pField{name: name, obj: pp.object()})
		case tArrStart:
			first := pp.lx.Next()
			if name == "$or" && first.kind == tObjStart {
				alts := []*pObject{pp.object()}
				for {
					t := pp.lx.Next()
					if t.kind == tArrEnd {
						break
					}
					if t.kind != tObjStart {
						pp.failAt("Match value must be an object in $or")
					}
					alts = append(alts, pp.object())
				}
				o.fields = append(o.fields, pField{name: name, or: alts})
				continue
			}
			o.fields = append(o.fields, pField{name: name, rules: pp.ruleList(first)})
		default:
			pp.failAt("%q must be an object or an array", name)
		}
	}
}

// ruleList parses the values of a key; first is the token after '['.
func (pp *policyParser) ruleList(t lexTok) []rule {
	if t.kind == tArrEnd {
		pp.failAt("Empty arrays are not allowed")
	}
	var rules []rule
	for ; t.kind != tArrEnd; t = pp.lx.Next() {
		switch t.kind {
		case tString:
			rules = append(rules, rule{kind: ruleString, s: pp.lx.readText()})
		case tNumber:
			rules = append(rules, rule{kind: ruleNumber, n: t.num})
		case tTrue, tFalse:
			rules = append(rules, rule{kind: ruleBool, b: t.kind == tTrue})
		case tNull:
			rules = append(rules, rule{kind: ruleNull})
		case tObjStart:
			rules = append(rules, pp.matchExpr())
		default:
			pp.failAt("Match value must be String, number, true, false, or null")
		}
	}
	return rules
}

// matchExpr parses {"operator": value} whose '{' was just read.
func (pp *policyParser) matchExpr() rule {
	f := pp.lx.Next()
	if f.kind == tObjEnd {
		pp.failAt("Empty objects are not allowed")
	}
	op := f.text
	v := pp.lx.Next()
	var r rule
	switch op {
	case "prefix", "suffix", "equals-ignore-case":
		if v.kind != tString {
			pp.failAt("%s match pattern must be a string", op)
		}
		r.s = pp.lx.readText()
		r.kind = map[string]ruleKind{"prefix": rulePrefix, "suffix": ruleSuffix, "equals-ignore-case": ruleIgnoreCase}[op]
	case "anything-but":
		r = pp.anythingBut(v)
	case "exists":
		if v.kind != tTrue && v.kind != tFalse {
			pp.failAt("exists match pattern must be either true or false.")
		}
		r = rule{kind: ruleExists, b: v.kind == tTrue}
	case "numeric":
		if v.kind != tArrStart {
			pp.failAt("Value of numeric must be an array.")
		}
		r = pp.numeric()
	case "cidr":
		if v.kind != tString {
			// AWS reports the prefix text here.
			pp.failAt("prefix match pattern must be a string")
		}
		r = pp.cidr(pp.lx.readText())
	default:
		pp.failAt("Unrecognized match type %s", op)
	}
	if t := pp.lx.Next(); t.kind != tObjEnd {
		pp.failAt("Only one key allowed in match expression")
	}
	return r
}

func (pp *policyParser) anythingBut(v lexTok) rule {
	r := rule{kind: ruleAnythingBut}
	switch v.kind {
	case tString:
		r.strs = map[string]struct{}{pp.lx.readText(): {}}
	case tNumber:
		r.nums = []float64{v.num}
	case tArrStart:
		r.strs = map[string]struct{}{}
		t := pp.lx.Next()
		if t.kind == tArrEnd {
			pp.failAt("Empty arrays are not allowed")
		}
		for ; t.kind != tArrEnd; t = pp.lx.Next() {
			switch t.kind {
			case tString:
				r.strs[pp.lx.readText()] = struct{}{}
			case tNumber:
				r.nums = append(r.nums, t.num)
			default:
				pp.failAt("Inside anything but list, start|null|boolean is not supported.")
			}
		}
	case tObjStart:
		f := pp.lx.Next()
		if f.kind == tObjEnd {
			pp.failAt("Empty objects are not allowed")
		}
		iv := pp.lx.Next()
		if f.text != "prefix" {
			pp.failAt("Unsupported anything-but pattern: %s", f.text)
		}
		if iv.kind != tString {
			pp.failAt("prefix match pattern must be a string")
		}
		r = rule{kind: ruleAnythingButPrefix, s: pp.lx.readText()}
		if t := pp.lx.Next(); t.kind != tObjEnd {
			pp.failAt("Only one key allowed in match expression")
		}
	default:
		pp.failAt("Value of anything-but must be an array or single string/number value.")
	}
	return r
}

func numericOp(s string) bool {
	switch s {
	case "<", "<=", "=", ">", ">=":
		return true
	}
	return false
}

func opName(op string) string {
	if op == "=" {
		return "equals"
	}
	return op
}

// numeric parses the array of a numeric match whose '[' was just read:
// ["=", n] | ["<"|"<=", n] | [">"|">=", n] | [">"|">=", n, "<"|"<=", m].
func (pp *policyParser) numeric() rule {
	t := pp.lx.Next()
	if t.kind != tString {
		pp.failAt("Invalid member in numeric match: %s", t.text)
	}
	op := pp.lx.readText()
	v := pp.lx.Next()
	if !numericOp(op) {
		pp.failAt("Unrecognized numeric range operator: %s", op)
	}
	if v.kind != tNumber {
		pp.failAt("Value of %s must be numeric", opName(op))
	}
	r := rule{kind: ruleNumeric}
	switch op {
	case "=":
		r.eq, r.lo = true, v.num
		if t := pp.lx.Next(); t.kind != tArrEnd {
			pp.failAt("Too many elements in numeric expression")
		}
		return r
	case "<", "<=":
		r.hasHi, r.hi, r.hiIncl = true, v.num, op == "<="
		if t := pp.lx.Next(); t.kind != tArrEnd {
			pp.failAt("Too many elements in numeric expression")
		}
		return r
	}
	r.hasLo, r.lo, r.loIncl = true, v.num, op == ">="
	t = pp.lx.Next()
	switch t.kind {
	case tArrEnd:
		return r
	case tString:
	default:
		pp.failAt("Bad value in numeric range: %s", t.text)
	}
	op2 := pp.lx.readText()
	if op2 != "<" && op2 != "<=" {
		pp.failAt("Bad numeric range operator: %s", op2)
	}
	v = pp.lx.Next()
	if v.kind != tNumber {
		pp.failAt("Value of %s must be numeric", opName(op2))
	}
	r.hasHi, r.hi, r.hiIncl = true, v.num, op2 == "<="
	if t := pp.lx.Next(); t.kind != tArrEnd {
		pp.failAt("Too many terms in numeric range expression")
	}
	if r.hi <= r.lo {
		pp.failAt("Bottom must be less than top")
	}
	return r
}

// cidr validates an IPv4 or IPv6 CIDR block (errors carry no location).
func (pp *policyParser) cidr(s string) rule {
	parts := strings.Split(s, "/")
	if len(parts) != 2 {
		pp.failPlain("Malformed CIDR, one '/' required")
	}
	bits, err := strconv.Atoi(parts[1])
	if err != nil {
		pp.failPlain("Malformed CIDR, mask bits must be an integer")
	}
	addr, err := netip.ParseAddr(parts[0])
	if err != nil || addr.Zone() != "" {
		pp.failPlain("Nonstandard IP address: %s", parts[0])
	}
	if bits < 0 || bits > addr.BitLen() {
		pp.failPlain("Malformed CIDR, mask bits must be between 0 and %d", addr.BitLen())
	}
	pfx, _ := addr.Prefix(bits)
	return rule{kind: ruleCIDR, pfx: pfx}
}

// syntaxCheck walks src as generic JSON and returns AWS's syntax error.
func syntaxCheck(src string) (err error) {
	lx := &policyLexer{src: src}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*syntaxError)
			if !ok {
				panic(r)
			}
			err = &PolicyError{"FilterPolicy: failed to parse JSON. " + e.msg + syntaxLocation(src, e.pos)}
		}
	}()
	t := lx.Next()
	if t.kind == tEOF {
		lx.fail(len(src), "No content to map due to end-of-input")
	}
	lx.skipValue(t)
	lx.skipSpace()
	if lx.pos < len(src) {
		lx.fail(lx.pos, "Unexpected character (%s): expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')", charDesc(src, lx.pos))
	}
	// json.Compact refused something the walk accepted (invalid UTF-8...).
	lx.fail(len(src), "Invalid UTF-8 or control character in input")
	return nil
}
