package sns

import (
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/omnibroker/broker/core"
)

// Filter index. The core asks every binding of a topic for its verdict on
// each message, so a topic with 10,000 filtered subscriptions would
// evaluate 10,000 policies per publish. Most policies pin some key to
// exact strings ({"customer": ["c42"]}); such a key is the branch's
// anchor: the branch cannot match a message lacking one of those values.
// Policies compiled for bindings whose every branch has an anchor are
// indexed by (scope, path, value); for a message the index yields the few
// branches worth evaluating, once per message, and each Match is then a
// set lookup. Policies without anchors are evaluated directly.
//
// Entries hold weak pointers: a policy dropped with its binding leaves the
// index when the garbage collector reclaims it (runtime.AddCleanup).

type indexEntry struct {
	p      weak.Pointer[Policy]
	branch int
	id     uint64
}

type policyIndex struct {
	mu    sync.RWMutex
	byKey [2]map[string]map[string][]indexEntry // scope -> path -> value -> entries
}

var (
	index   = policyIndex{byKey: [2]map[string]map[string][]indexEntry{{}, {}}}
	indexID atomic.Uint64
)

type anchorRef struct {
	scope       Scope
	path, value string
}

// anchors returns, for each branch, the exact-string key with the fewest
// values; ok is false when some branch has none.
func (p *Policy) anchors() ([]keyCond, bool) {
	out := make([]keyCond, len(p.branches))
	for i, br := range p.branches {
		best := -1
		for j, kc := range br {
			exact := len(kc.rules) > 0
			for _, r := range kc.rules {
				if r.kind != ruleString {
					exact = false
					break
				}
			}
			if exact && (best < 0 || len(kc.rules) < len(br[best].rules)) {
				best = j
			}
		}
		if best < 0 {
			return nil, false
		}
		out[i] = br[best]
	}
	return out, len(out) > 0
}

// register adds p to the index when every branch has an anchor.
func (idx *policyIndex) register(p *Policy) {
	anchors, ok := p.anchors()
	if !ok {
		return
	}
	id := indexID.Add(1)
	wp := weak.Make(p)
	var refs []anchorRef
	idx.mu.Lock()
	for b, kc := range anchors {
		byVal := idx.byKey[p.Scope][kc.path]
		if byVal == nil {
			byVal = map[string][]indexEntry{}
			idx.byKey[p.Scope][kc.path] = byVal
		}
		for _, r := range kc.rules {
			byVal[r.s] = append(byVal[r.s], indexEntry{p: wp, branch: b, id: id})
			refs = append(refs, anchorRef{p.Scope, kc.path, r.s})
		}
	}
	idx.mu.Unlock()
	p.indexed = true
	runtime.AddCleanup(p, func(refs []anchorRef) { idx.unregister(id, refs) }, refs)
}

func (idx *policyIndex) unregister(id uint64, refs []anchorRef) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	for _, a := range refs {
		byVal := idx.byKey[a.scope][a.path]
		list := byVal[a.value]
		out := list[:0]
		for _, e := range list {
			if e.id != id {
				out = append(out, e)
			}
		}
		if len(out) == 0 {
			delete(byVal, a.value)
			if len(byVal) == 0 {
				delete(idx.byKey[a.scope], a.path)
			}
		} else {
			byVal[a.value] = out
		}
	}
}

// matched evaluates, for one message's values, the indexed branches its
// string values select, and returns the policies that match.
func (idx *policyIndex) matched(scope Scope, values map[string][]fval) map[*Policy]struct{} {
	set := map[*Policy]struct{}{}
	lookup := func(path string) ([]fval, bool) {
		v, ok := values[path]
		if scope == ScopeBody {
			ok = len(v) > 0
		}
		return v, ok
	}
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	keys := idx.byKey[scope]
	for path, vals := range values {
		byVal := keys[path]
		if byVal == nil {
			continue
		}
		for _, v := range vals {
			if v.kind != vString {
				continue
			}
			for _, e := range byVal[v.s] {
				p := e.p.Value()
				if p == nil {
					continue
				}
				if _, done := set[p]; done {
					continue
				}
				if p.evalBranch(p.branches[e.branch], lookup) {
					set[p] = struct{}{}
				}
			}
		}
	}
	return set
}

func (p *Policy) evalBranch(br []keyCond, lookup func(string) ([]fval, bool)) bool {
	for i := range br {
		vals, present := lookup(br[i].path)
		if !anyRule(br[i].rules, vals, present) {
			return false
		}
	}
	return true
}

// matchSet is the per-message result of the index, cached with the
// message's values (see attrCache, bodyCache).
type matchSet struct {
	once sync.Once
	set  map[*Policy]struct{}
}

func (ms *matchSet) get(scope Scope, values map[string][]fval) map[*Policy]struct{} {
	ms.once.Do(func() { ms.set = index.matched(scope, values) })
	return ms.set
}

// compiled caches compiled binding filters by spec: the two bindings of a
// subscription (T and T.#) and a restart share one Policy.
var compiled sync.Map // spec -> weak.Pointer[Policy]

func compileIndexed(spec string, policy string, scope Scope) (core.Filter, error) {
	if v, ok := compiled.Load(spec); ok {
		if p := v.(weak.Pointer[Policy]).Value(); p != nil {
			return p, nil
		}
	}
	p, err := CompilePolicy(policy, scope)
	if err != nil {
		return nil, err
	}
	index.register(p)
	compiled.Store(spec, weak.Make(p))
	runtime.AddCleanup(p, func(spec string) {
		if v, ok := compiled.Load(spec); ok && v.(weak.Pointer[Policy]).Value() == nil {
			compiled.CompareAndDelete(spec, v)
		}
	}, spec)
	return p, nil
}
