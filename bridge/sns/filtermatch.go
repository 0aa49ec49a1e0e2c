package sns

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/omnibroker/broker/core"
)

// FilterKind is the core binding filter kind of SNS filter policies: a
// binding with args x-filter-kind=FilterKind and x-filter=FilterSpec(...)
// only passes messages the policy accepts.
const FilterKind = "sns-filter-policy"

func init() {
	core.RegisterFilter(FilterKind, compileSpec)
}

// FilterSpec encodes a scope and a policy as a binding filter spec.
func FilterSpec(scope Scope, policy string) string { return scope.String() + "\n" + policy }

func compileSpec(spec string) (core.Filter, error) {
	scopeName, policy, ok := strings.Cut(spec, "\n")
	if !ok {
		return nil, &PolicyError{"FilterPolicy: missing scope"}
	}
	scope, ok := ParseScope(scopeName)
	if !ok {
		return nil, &PolicyError{"FilterPolicyScope: Invalid value [" + scopeName + "]"}
	}
	return compileIndexed(spec, policy, scope)
}

type valKind uint8

const (
	vString valKind = iota
	vNumber
	vBool
	vNull
)

// fval is one value a rule is tested against.
type fval struct {
	kind valKind
	s    string
	n    float64
	b    bool
}

// Match implements core.Filter.
func (p *Policy) Match(m *core.Message) bool {
	if p.Scope == ScopeBody {
		c := bodyCacheFor(m)
		if !c.ok {
			return false
		}
		if p.indexed {
			_, hit := c.ms.get(ScopeBody, c.flat)[p]
			return hit
		}
		flat := c.flat
		return p.eval(func(path string) ([]fval, bool) {
			v := flat[path]
			return v, len(v) > 0
		})
	}
	c := attrCacheFor(m)
	if p.indexed {
		_, hit := c.ms.get(ScopeAttributes, c.attrs)[p]
		return hit
	}
	attrs := c.attrs
	return p.eval(func(path string) ([]fval, bool) {
		v, ok := attrs[path]
		return v, ok
	})
}

// attrCache keeps the filterable attributes of the message being routed
// (see bodyCache): converted once per message, not once per policy.
type attrCache struct {
	m     *core.Message
	h     uintptr // identity of the header table
	attrs map[string][]fval
	ms    matchSet
}

func tableID(h core.Table) uintptr {
	if h == nil {
		return 0
	}
	return uintptr(reflect.ValueOf(h).UnsafePointer())
}

var lastAttrs atomic.Pointer[attrCache]

func attrCacheFor(m *core.Message) *attrCache {
	hid := tableID(m.Props.Headers)
	if c := lastAttrs.Load(); c != nil && c.m == m && c.h == hid {
		return c
	}
	attrs := make(map[string][]fval, len(m.Props.Headers)+3)
	for k := range m.Props.Headers {
		if v, ok := attrValues(m, k); ok {
			attrs[k] = v
		}
	}
	for k := range propAttrs {
		if _, ok := attrs[k]; !ok {
			if v, ok := attrValues(m, k); ok {
				attrs[k] = v
			}
		}
	}
	c := &attrCache{m: m, h: hid, attrs: attrs}
	lastAttrs.Store(c)
	return c
}

// MatchValues evaluates the policy against an explicit lookup (tests).
func (p *Policy) eval(lookup func(path string) ([]fval, bool)) bool {
	if len(p.branches) == 0 {
		return true
	}
branches:
	for _, br := range p.branches {
		for i := range br {
			kc := &br[i]
			vals, present := lookup(kc.path)
			if !anyRule(kc.rules, vals, present) {
				continue branches
			}
		}
		return true
	}
	return false
}

func anyRule(rules []rule, vals []fval, present bool) bool {
	for i := range rules {
		if rules[i].match(vals, present) {
			return true
		}
	}
	return false
}

func (r *rule) match(vals []fval, present bool) bool {
	if r.kind == ruleExists {
		return r.b == present
	}
	for _, v := range vals {
		if r.matchOne(v) {
			return true
		}
	}
	return false
}

func (r *rule) matchOne(v fval) bool {
	switch r.kind {
	case ruleString:
		return v.kind == vString && v.s == r.s
	case ruleNumber:
		return v.kind == vNumber && v.n == r.n
	case ruleNull:
		return v.kind == vNull
	case ruleBool:
		return v.kind == vBool && v.b == r.b
	case rulePrefix:
		return v.kind == vString && strings.HasPrefix(v.s, r.s)
	case ruleSuffix:
		return v.kind == vString && strings.HasSuffix(v.s, r.s)
	case ruleIgnoreCase:
		return v.kind == vString && strings.EqualFold(v.s, r.s)
	case ruleAnythingBut:
		switch v.kind {
		case vString:
			_, hit := r.strs[v.s]
			return !hit
		case vNumber:
			for _, n := range r.nums {
				if n == v.n {
					return false
				}
			}
			return true
		case vBool:
			return true
		}
		return false
	case ruleAnythingButPrefix:
		return v.kind == vString && !strings.HasPrefix(v.s, r.s)
	case ruleNumeric:
		if v.kind != vNumber {
			return false
		}
		if r.eq {
			return v.n == r.lo
		}
		if r.hasLo && (v.n < r.lo || (!r.loIncl && v.n == r.lo)) {
			return false
		}
		if r.hasHi && (v.n > r.hi || (!r.hiIncl && v.n == r.hi)) {
			return false
		}
		return true
	case ruleCIDR:
		if v.kind != vString {
			return false
		}
		a, err := netip.ParseAddr(v.s)
		if err != nil || a.Zone() != "" {
			return false
		}
		return r.pfx.Contains(a.Unmap())
	}
	return false
}

// bodyCache keeps the flattened body of the message being routed: the core
// evaluates every subscription's policy on the same message in a row, so
// the body is parsed once per message, not once per subscription.
type bodyCache struct {
	m    *core.Message
	body *byte // identity and length of the body parsed
	n    int
	flat map[string][]fval
	ok   bool
	ms   matchSet
}

var lastBody atomic.Pointer[bodyCache]

func bodyCacheFor(m *core.Message) *bodyCache {
	bp := unsafe.SliceData(m.Body)
	if c := lastBody.Load(); c != nil && c.m == m && c.body == bp && c.n == len(m.Body) {
		return c
	}
	flat, ok := flattenBody(m.Body)
	c := &bodyCache{m: m, body: bp, n: len(m.Body), flat: flat, ok: ok}
	lastBody.Store(c)
	return c
}

// flattenBody parses a JSON object and returns its leaf values by dotted
// path; arrays contribute each element to their own path. A body that is
// not a JSON object matches no payload-based policy.
func flattenBody(body []byte) (map[string][]fval, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, false
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, false
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	flat := map[string][]fval{}
	flattenInto(flat, "", obj)
	return flat, true
}

func flattenInto(flat map[string][]fval, path string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			flattenInto(flat, p, e)
		}
	case []any:
		for _, e := range x {
			flattenInto(flat, path, e)
		}
	default:
		if path == "" {
			return
		}
		flat[path] = append(flat[path], jsonVal(x))
	}
}

func jsonVal(x any) fval {
	switch y := x.(type) {
	case string:
		return fval{kind: vString, s: y}
	case float64:
		return fval{kind: vNumber, n: y}
	case bool:
		return fval{kind: vBool, b: y}
	}
	return fval{kind: vNull}
}
