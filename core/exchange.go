package core

import (
	"fmt"
	"strings"
)

// ExchangeKind is how an exchange routes.
type ExchangeKind string

// Exchange kinds.
const (
	KindDirect  ExchangeKind = "direct"
	KindFanout  ExchangeKind = "fanout"
	KindTopic   ExchangeKind = "topic"
	KindHeaders ExchangeKind = "headers"
)

// ExchangeConfig declares an exchange.
type ExchangeConfig struct {
	Name              string
	Kind              ExchangeKind
	Durable           bool
	AutoDelete        bool // deleted when its last binding (as source) goes
	Internal          bool // cannot be published to directly
	AlternateExchange string
	Args              Table
}

// Binding connects a source exchange to a queue or exchange destination.
type Binding struct {
	Source        string
	Destination   string
	ToExchange    bool // Destination is an exchange, not a queue
	Key           string
	Args          Table
	filter        Filter
	destQueue     *queue
	destExchange  *exchange
	headersMatch  bool // x-match: any (false = all)
	headersNeeded Table
}

func (bd *Binding) id() string {
	kind := "q"
	if bd.ToExchange {
		kind = "e"
	}
	return kind + "\x00" + bd.Source + "\x00" + bd.Destination + "\x00" + bd.Key + "\x00" + tableKey(bd.Args)
}

type exchange struct {
	cfg      ExchangeConfig
	bindings map[string]*Binding // by id
	direct   map[string][]*Binding
	topic    *topicNode
	cache    map[string][]*Binding // topic match cache, cleared on change
	boundTo  int                   // bindings where this exchange is the destination
}

func newExchange(cfg ExchangeConfig) *exchange {
	return &exchange{cfg: cfg, bindings: map[string]*Binding{}, direct: map[string][]*Binding{}, topic: newTopicNode()}
}

func validKind(k ExchangeKind) bool {
	switch k {
	case KindDirect, KindFanout, KindTopic, KindHeaders:
		return true
	}
	return false
}

// DeclareExchange creates an exchange or checks that an existing one is
// equivalent (ErrPrecondition otherwise). Names starting with "amq." are
// reserved (ErrAccessDenied) unless they already exist.
func (b *Broker) DeclareExchange(cfg ExchangeConfig) error {
	if !validKind(cfg.Kind) {
		return fmt.Errorf("exchange %q: unknown type %q: %w", cfg.Name, cfg.Kind, ErrInvalidArg)
	}
	if len(cfg.Name) > 255 {
		return fmt.Errorf("exchange name too long: %w", ErrInvalidName)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if x, ok := b.exchanges[cfg.Name]; ok {
		if x.cfg.Kind != cfg.Kind || x.cfg.Durable != cfg.Durable || x.cfg.AutoDelete != cfg.AutoDelete || x.cfg.Internal != cfg.Internal ||
			(!strings.HasPrefix(cfg.Name, "amq.") && cfg.Name != "" && (tableKey(x.cfg.Args) != tableKey(cfg.Args) || x.cfg.AlternateExchange != cfg.AlternateExchange)) {
			return fmt.Errorf("inequivalent arg for exchange '%s': %w", cfg.Name, ErrPrecondition)
		}
		return nil
	}
	if cfg.Name == "" || strings.HasPrefix(cfg.Name, "amq.") {
		return fmt.Errorf("exchange name '%s' contains reserved prefix 'amq.*': %w", cfg.Name, ErrAccessDenied)
	}
	if cfg.Durable {
		if err := b.persistExchange(cfg); err != nil {
			return err
		}
	}
	b.exchanges[cfg.Name] = newExchange(cfg)
	return nil
}

// Exchange returns the configuration of an exchange or ErrNotFound.
func (b *Broker) Exchange(name string) (ExchangeConfig, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	x, ok := b.exchanges[name]
	if !ok {
		return ExchangeConfig{}, fmt.Errorf("no exchange '%s': %w", name, ErrNotFound)
	}
	return x.cfg, nil
}

// Exchanges lists every exchange.
func (b *Broker) Exchanges() []ExchangeConfig {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]ExchangeConfig, 0, len(b.exchanges))
	for _, x := range b.exchanges {
		out = append(out, x.cfg)
	}
	return out
}

// DeleteExchange removes an exchange and every binding to or from it.
// With ifUnused it fails with ErrInUse while the exchange has bindings.
func (b *Broker) DeleteExchange(name string, ifUnused bool) error {
	if name == "" || strings.HasPrefix(name, "amq.") {
		return fmt.Errorf("exchange '%s' is reserved: %w", name, ErrAccessDenied)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	x, ok := b.exchanges[name]
	if !ok {
		return fmt.Errorf("no exchange '%s': %w", name, ErrNotFound)
	}
	if ifUnused && (len(x.bindings) > 0 || x.boundTo > 0) {
		return fmt.Errorf("exchange '%s' in use: %w", name, ErrInUse)
	}
	b.deleteExchangeLocked(x)
	return nil
}

func (b *Broker) deleteExchangeLocked(x *exchange) {
	for _, bd := range x.bindings {
		b.removeBindingLocked(x, bd)
	}
	// bindings into this exchange
	for _, src := range b.exchanges {
		for _, bd := range src.bindings {
			if bd.ToExchange && bd.Destination == x.cfg.Name {
				b.removeBindingLocked(src, bd)
			}
		}
	}
	delete(b.exchanges, x.cfg.Name)
	if x.cfg.Durable {
		b.unpersistExchange(x.cfg.Name)
	}
}

// Bind binds a queue (or, with ToExchange, an exchange) to an exchange.
// Binding twice is a no-op.
func (b *Broker) Bind(bd Binding) error {
	if bd.Source == "" {
		return fmt.Errorf("operation not permitted on the default exchange: %w", ErrAccessDenied)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bindLocked(&bd, true)
}

func (b *Broker) bindLocked(bd *Binding, persist bool) error {
	src, ok := b.exchanges[bd.Source]
	if !ok {
		return fmt.Errorf("no exchange '%s': %w", bd.Source, ErrNotFound)
	}
	durable := src.cfg.Durable
	if bd.ToExchange {
		dst, ok := b.exchanges[bd.Destination]
		if !ok {
			return fmt.Errorf("no exchange '%s': %w", bd.Destination, ErrNotFound)
		}
		if bd.Destination == "" {
			return fmt.Errorf("operation not permitted on the default exchange: %w", ErrAccessDenied)
		}
		bd.destExchange = dst
		durable = durable && dst.cfg.Durable
	} else {
		q, ok := b.queues[bd.Destination]
		if !ok {
			return fmt.Errorf("no queue '%s': %w", bd.Destination, ErrNotFound)
		}
		bd.destQueue = q
		durable = durable && q.cfg.Durable
	}
	if err := prepareBinding(src.cfg.Kind, bd); err != nil {
		return err
	}
	id := bd.id()
	if _, ok := src.bindings[id]; ok {
		return nil
	}
	if persist && durable {
		if err := b.persistBinding(bd); err != nil {
			return err
		}
	}
	src.bindings[id] = bd
	switch src.cfg.Kind {
	case KindDirect:
		src.direct[bd.Key] = append(src.direct[bd.Key], bd)
	case KindTopic:
		src.topic.add(topicWords(bd.Key), bd)
		src.cache = nil
	}
	if bd.destExchange != nil {
		bd.destExchange.boundTo++
	}
	if bd.destQueue != nil {
		bd.destQueue.bindings = append(bd.destQueue.bindings, bd)
	}
	return nil
}

func prepareBinding(kind ExchangeKind, bd *Binding) error {
	if f, ok := bd.Args[FilterKindArg]; ok {
		kindName, _ := f.(string)
		spec, _ := bd.Args[FilterArg].(string)
		flt, err := compileFilter(kindName, spec)
		if err != nil {
			return err
		}
		bd.filter = flt
	}
	if kind == KindHeaders {
		bd.headersNeeded = Table{}
		for k, v := range bd.Args {
			if k == "x-match" {
				s, _ := v.(string)
				switch s {
				case "any", "any-with-x":
					bd.headersMatch = true
				case "all", "all-with-x", "":
				default:
					return fmt.Errorf("invalid x-match field value %q; expected all, any, all-with-x, or any-with-x: %w", s, ErrInvalidArg)
				}
				continue
			}
			if strings.HasPrefix(k, "x-") {
				continue
			}
			bd.headersNeeded[k] = v
		}
	}
	return nil
}

// Unbind removes a binding; removing a missing binding is not an error
// unless the source or destination does not exist (ErrNotFound).
func (b *Broker) Unbind(bd Binding) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	src, ok := b.exchanges[bd.Source]
	if !ok {
		return fmt.Errorf("no exchange '%s': %w", bd.Source, ErrNotFound)
	}
	if bd.ToExchange {
		if _, ok := b.exchanges[bd.Destination]; !ok {
			return fmt.Errorf("no exchange '%s': %w", bd.Destination, ErrNotFound)
		}
	} else if _, ok := b.queues[bd.Destination]; !ok {
		return fmt.Errorf("no queue '%s': %w", bd.Destination, ErrNotFound)
	}
	if old, ok := src.bindings[bd.id()]; ok {
		b.removeBindingLocked(src, old)
	}
	return nil
}

func (b *Broker) removeBindingLocked(src *exchange, bd *Binding) {
	id := bd.id()
	delete(src.bindings, id)
	switch src.cfg.Kind {
	case KindDirect:
		src.direct[bd.Key] = removeBinding(src.direct[bd.Key], bd)
		if len(src.direct[bd.Key]) == 0 {
			delete(src.direct, bd.Key)
		}
	case KindTopic:
		src.topic.remove(topicWords(bd.Key), bd)
		src.cache = nil
	}
	if bd.destExchange != nil {
		bd.destExchange.boundTo--
	}
	if bd.destQueue != nil {
		bd.destQueue.bindings = removeBinding(bd.destQueue.bindings, bd)
	}
	b.unpersistBinding(bd)
	if src.cfg.AutoDelete && len(src.bindings) == 0 {
		b.deleteExchangeLocked(src)
	}
}

func removeBinding(list []*Binding, bd *Binding) []*Binding {
	for i, x := range list {
		if x == bd {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			return list[:len(list)-1]
		}
	}
	return list
}

// Bindings lists every binding (the implicit default-exchange ones excluded).
func (b *Broker) Bindings() []Binding {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []Binding
	for _, x := range b.exchanges {
		for _, bd := range x.bindings {
			out = append(out, Binding{Source: bd.Source, Destination: bd.Destination, ToExchange: bd.ToExchange, Key: bd.Key, Args: bd.Args})
		}
	}
	return out
}
