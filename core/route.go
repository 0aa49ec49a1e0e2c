package core

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Filter decides whether a message passes a binding (for example a
// message-attribute policy, compiled by the front door that registered its kind).
type Filter interface {
	Match(m *Message) bool
}

// FilterCompiler turns a filter spec (stored in binding args) into a Filter.
type FilterCompiler func(spec string) (Filter, error)

// Binding argument keys that attach a registered filter to a binding.
const (
	FilterKindArg = "x-filter-kind"
	FilterArg     = "x-filter"
)

var (
	filterMu   sync.RWMutex
	filterKind = map[string]FilterCompiler{}
)

// RegisterFilter registers a filter kind usable in binding args.
func RegisterFilter(kind string, c FilterCompiler) {
	filterMu.Lock()
	filterKind[kind] = c
	filterMu.Unlock()
}

func compileFilter(kind, spec string) (Filter, error) {
	filterMu.RLock()
	c := filterKind[kind]
	filterMu.RUnlock()
	if c == nil {
		return nil, fmt.Errorf("unknown filter kind %q: %w", kind, ErrInvalidArg)
	}
	f, err := c(spec)
	if err != nil {
		return nil, fmt.Errorf("filter: %w: %v", ErrInvalidArg, err)
	}
	return f, nil
}

// topicNode is a trie over dot-separated words with '*' and '#' edges, so
// that matching costs grow with the matching bindings, not all bindings.
type topicNode struct {
	words    map[string]*topicNode
	star     *topicNode
	hash     *topicNode
	bindings []*Binding
}

func newTopicNode() *topicNode { return &topicNode{} }

func (n *topicNode) child(w string, create bool) *topicNode {
	switch w {
	case "*":
		if n.star == nil && create {
			n.star = newTopicNode()
		}
		return n.star
	case "#":
		if n.hash == nil && create {
			n.hash = newTopicNode()
		}
		return n.hash
	}
	c := n.words[w]
	if c == nil && create {
		if n.words == nil {
			n.words = map[string]*topicNode{}
		}
		c = newTopicNode()
		n.words[w] = c
	}
	return c
}

func (n *topicNode) add(words []string, bd *Binding) {
	for _, w := range words {
		n = n.child(w, true)
	}
	n.bindings = append(n.bindings, bd)
}

func (n *topicNode) empty() bool {
	return len(n.bindings) == 0 && len(n.words) == 0 && n.star == nil && n.hash == nil
}

func (n *topicNode) remove(words []string, bd *Binding) {
	if len(words) == 0 {
		n.bindings = removeBinding(n.bindings, bd)
		return
	}
	w := words[0]
	c := n.child(w, false)
	if c == nil {
		return
	}
	c.remove(words[1:], bd)
	if c.empty() {
		switch w {
		case "*":
			n.star = nil
		case "#":
			n.hash = nil
		default:
			delete(n.words, w)
		}
	}
}

// match appends every binding whose pattern matches words.
func (n *topicNode) match(words []string, out []*Binding) []*Binding {
	if n.hash != nil {
		// '#' matches zero or more words: try every suffix.
		for i := 0; i <= len(words); i++ {
			out = n.hash.match(words[i:], out)
		}
	}
	if len(words) == 0 {
		return append(out, n.bindings...)
	}
	if c := n.words[words[0]]; c != nil {
		out = c.match(words[1:], out)
	}
	if n.star != nil {
		out = n.star.match(words[1:], out)
	}
	return out
}

const topicCacheMax = 4096

// route collects the bindings of x that match key and headers.
func (x *exchange) route(m *Message, out []*Binding) []*Binding {
	switch x.cfg.Kind {
	case KindFanout:
		for _, bd := range x.bindings {
			out = append(out, bd)
		}
	case KindDirect:
		out = append(out, x.direct[m.RoutingKey]...)
	case KindTopic:
		out = append(out, x.topicMatch(m.RoutingKey)...)
	case KindHeaders:
		for _, bd := range x.bindings {
			if headersMatch(bd, m.Props.Headers) {
				out = append(out, bd)
			}
		}
	}
	return out
}

// topicMatch is called with Broker.mu read-locked; the cache has its own lock.
func (x *exchange) topicMatch(key string) []*Binding {
	topicCacheMu.Lock()
	if r, ok := x.cache[key]; ok {
		topicCacheMu.Unlock()
		return r
	}
	topicCacheMu.Unlock()
	r := x.topic.match(topicWords(key), nil)
	r = dedupBindings(r)
	topicCacheMu.Lock()
	if x.cache == nil || len(x.cache) >= topicCacheMax {
		x.cache = map[string][]*Binding{}
	}
	x.cache[key] = r
	topicCacheMu.Unlock()
	return r
}

var topicCacheMu sync.Mutex

func dedupBindings(r []*Binding) []*Binding {
	if len(r) < 2 {
		return r
	}
	seen := make(map[*Binding]struct{}, len(r))
	out := r[:0]
	for _, bd := range r {
		if _, ok := seen[bd]; !ok {
			seen[bd] = struct{}{}
			out = append(out, bd)
		}
	}
	return out
}

func headersMatch(bd *Binding, h Table) bool {
	any := bd.headersMatch
	if len(bd.headersNeeded) == 0 {
		return !any
	}
	for k, want := range bd.headersNeeded {
		got, ok := h[k]
		hit := ok && (want == nil || valuesEqual(got, want))
		if any && hit {
			return true
		}
		if !any && !hit {
			return false
		}
	}
	return !any
}

func valuesEqual(a, b any) bool {
	if ab, ok := a.([]byte); ok {
		if bb, ok := b.([]byte); ok {
			return bytes.Equal(ab, bb)
		}
		return false
	}
	if an, ok := toFloat(a); ok {
		if bn, ok := toFloat(b); ok {
			return an == bn
		}
	}
	switch a.(type) {
	case Table, []any:
		return fmt.Sprint(a) == fmt.Sprint(b)
	}
	return a == b
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// tableKey is a canonical string of a table, used in binding identities.
func tableKey(t Table) string {
	if len(t) == 0 {
		return ""
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%v;", k, t[k])
	}
	return sb.String()
}

// topicWords splits a routing key or pattern into words; "" has none.
func topicWords(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ".")
}
