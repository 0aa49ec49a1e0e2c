package core

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
)

func TestTopicMatching(t *testing.T) {
	cases := []struct {
		pattern, key string
		want         bool
	}{
		{"a.b.c", "a.b.c", true},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.c", false},
		{"a.#", "a", true},
		{"a.#", "a.b.c", true},
		{"#", "", true},
		{"#", "x.y", true},
		{"#.c", "a.b.c", true},
		{"#.c", "c", true},
		{"a.#.c", "a.c", true},
		{"a.#.c", "a.x.y.c", true},
		{"a.#.c", "a.x.y.d", false},
		{"*", "a", true},
		{"*", "a.b", false},
		{"*.*", "a.b", true},
		{"a.*", "a", false},
		{"#.#", "a", true},
		{"*.#", "", false},
		{"a.b", "a.b.c", false},
	}
	for _, c := range cases {
		b := newTestBroker(t, "")
		mustQueue(t, b, QueueConfig{Name: "q"})
		if err := b.Bind(Binding{Source: "amq.topic", Destination: "q", Key: c.pattern}); err != nil {
			t.Fatal(err)
		}
		r := publish(t, b, "amq.topic", c.key, "x")
		if got := r.Routed == 1; got != c.want {
			t.Errorf("pattern %q key %q: routed=%v want %v", c.pattern, c.key, got, c.want)
		}
	}
}

func TestTopicNoDuplicateDelivery(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	for _, k := range []string{"a.*", "a.#", "#", "a.b"} {
		b.Bind(Binding{Source: "amq.topic", Destination: "q", Key: k})
	}
	if r := publish(t, b, "amq.topic", "a.b", "x"); r.Routed != 1 {
		t.Fatalf("routed %d", r.Routed)
	}
	if got := getBodies(t, b, "q", 10); len(got) != 1 {
		t.Fatalf("got %v", got)
	}
}

func TestDirectFanoutDefault(t *testing.T) {
	b := newTestBroker(t, "")
	for _, q := range []string{"q1", "q2", "q3"} {
		mustQueue(t, b, QueueConfig{Name: q})
		b.Bind(Binding{Source: "amq.fanout", Destination: q})
	}
	b.Bind(Binding{Source: "amq.direct", Destination: "q1", Key: "k"})
	if r := publish(t, b, "amq.fanout", "whatever", "f"); r.Routed != 3 {
		t.Fatalf("fanout routed %d", r.Routed)
	}
	if r := publish(t, b, "amq.direct", "k", "d"); r.Routed != 1 {
		t.Fatalf("direct routed %d", r.Routed)
	}
	if r := publish(t, b, "amq.direct", "nope", "d"); r.Routed != 0 {
		t.Fatalf("unroutable routed %d", r.Routed)
	}
	if r := publish(t, b, "", "q2", "default"); r.Routed != 1 {
		t.Fatalf("default routed %d", r.Routed)
	}
	if got := getBodies(t, b, "q2", 10); strings.Join(got, ",") != "f,default" {
		t.Fatalf("q2 = %v", got)
	}
	if err := b.Bind(Binding{Source: "", Destination: "q1", Key: "x"}); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("bind to default exchange: %v", err)
	}
	if _, err := b.Publish("missing", "k", &Message{}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("publish to missing exchange: %v", err)
	}
}

func TestHeadersExchange(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "all"})
	mustQueue(t, b, QueueConfig{Name: "any"})
	b.Bind(Binding{Source: "amq.headers", Destination: "all", Args: Table{"x-match": "all", "a": "1", "b": int32(2)}})
	b.Bind(Binding{Source: "amq.headers", Destination: "any", Args: Table{"x-match": "any", "a": "1", "b": int32(2)}})
	h := func(t Table) func(*Message) { return func(m *Message) { m.Props.Headers = t } }
	if r := publish(t, b, "amq.headers", "", "both", h(Table{"a": "1", "b": int64(2)})); r.Routed != 2 {
		t.Fatalf("both: %d", r.Routed)
	}
	if r := publish(t, b, "amq.headers", "", "one", h(Table{"a": "1"})); r.Routed != 1 {
		t.Fatalf("one: %d", r.Routed)
	}
	if r := publish(t, b, "amq.headers", "", "none", h(Table{"a": "2"})); r.Routed != 0 {
		t.Fatalf("none: %d", r.Routed)
	}
	if err := b.Bind(Binding{Source: "amq.headers", Destination: "all", Args: Table{"x-match": "some"}}); !errors.Is(err, ErrInvalidArg) {
		t.Fatalf("bad x-match: %v", err)
	}
}

func TestExchangeToExchangeAndAlternate(t *testing.T) {
	b := newTestBroker(t, "")
	if err := b.DeclareExchange(ExchangeConfig{Name: "ae", Kind: KindFanout}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeclareExchange(ExchangeConfig{Name: "src", Kind: KindDirect, AlternateExchange: "ae"}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeclareExchange(ExchangeConfig{Name: "mid", Kind: KindTopic}); err != nil {
		t.Fatal(err)
	}
	mustQueue(t, b, QueueConfig{Name: "viaE2E"})
	mustQueue(t, b, QueueConfig{Name: "unrouted"})
	b.Bind(Binding{Source: "src", Destination: "mid", ToExchange: true, Key: "k"})
	b.Bind(Binding{Source: "mid", Destination: "viaE2E", Key: "#"})
	b.Bind(Binding{Source: "ae", Destination: "unrouted"})
	publish(t, b, "src", "k", "e2e")
	publish(t, b, "src", "other", "alt")
	if got := getBodies(t, b, "viaE2E", 10); len(got) != 1 || got[0] != "e2e" {
		t.Fatalf("viaE2E = %v", got)
	}
	if got := getBodies(t, b, "unrouted", 10); len(got) != 1 || got[0] != "alt" {
		t.Fatalf("unrouted = %v", got)
	}
	if err := b.DeleteExchange("mid", true); !errors.Is(err, ErrInUse) {
		t.Fatalf("delete if-unused: %v", err)
	}
	if err := b.DeleteExchange("mid", false); err != nil {
		t.Fatal(err)
	}
	if r := publish(t, b, "src", "k", "gone"); r.Routed != 1 {
		t.Fatalf("after deleting mid, k should go to the alternate exchange: %d", r.Routed)
	}
}

func TestDeclareEquivalence(t *testing.T) {
	b := newTestBroker(t, "")
	if err := b.DeclareExchange(ExchangeConfig{Name: "x", Kind: KindTopic}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeclareExchange(ExchangeConfig{Name: "x", Kind: KindTopic}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeclareExchange(ExchangeConfig{Name: "x", Kind: KindFanout}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("inequivalent exchange: %v", err)
	}
	if err := b.DeclareExchange(ExchangeConfig{Name: "x", Kind: KindTopic, Args: Table{"alternate-exchange": "ae"}, AlternateExchange: "ae"}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("inequivalent exchange arguments: %v", err)
	}
	if err := b.DeclareExchange(ExchangeConfig{Name: "amq.custom", Kind: KindFanout}); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("reserved name: %v", err)
	}
	mustQueue(t, b, QueueConfig{Name: "q", Args: Table{"x-max-length": int64(5)}})
	if _, err := b.DeclareQueue(QueueConfig{Name: "q", Durable: true}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("inequivalent queue: %v", err)
	}
	mustQueue(t, b, QueueConfig{Name: "ex", Exclusive: true, Owner: "c1"})
	if _, err := b.DeclareQueue(QueueConfig{Name: "ex", Exclusive: true, Owner: "c2"}); !errors.Is(err, ErrLocked) {
		t.Fatalf("exclusive other owner: %v", err)
	}
	b.ReleaseOwner("c1")
	if _, err := b.Queue("ex", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("exclusive queue survived its owner: %v", err)
	}
}

// TestTopicFanoutCostIsPerMatch checks the trie: 100k non-matching
// bindings do not change which queues match.
func TestTopicManyBindings(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "sink"})
	for i := 0; i < 20000; i++ {
		if err := b.Bind(Binding{Source: "amq.topic", Destination: "sink", Key: fmt.Sprintf("dev.%d.*", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for i := 0; i < 3; i++ {
		n := fmt.Sprintf("m%d", i)
		mustQueue(t, b, QueueConfig{Name: n})
		b.Bind(Binding{Source: "amq.topic", Destination: n, Key: "dev.42.#"})
		names = append(names, n)
	}
	sort.Strings(names)
	if r := publish(t, b, "amq.topic", "dev.42.temp", "x"); r.Routed != 4 {
		t.Fatalf("routed %d, want 4", r.Routed)
	}
}

// A queue bound twice with matching keys gets one copy, also in a fan-out
// wider than the linear duplicate check.
func TestOneCopyPerQueueInLargeFanout(t *testing.T) {
	b := newTestBroker(t, "")
	for i := 0; i < 100; i++ {
		n := fmt.Sprintf("q%d", i)
		mustQueue(t, b, QueueConfig{Name: n})
		b.Bind(Binding{Source: "amq.topic", Destination: n, Key: "a.*"})
		b.Bind(Binding{Source: "amq.topic", Destination: n, Key: "a.#"})
	}
	if r := publish(t, b, "amq.topic", "a.b", "x"); r.Routed != 100 {
		t.Fatalf("routed %d copies to 100 queues", r.Routed)
	}
	if got := getBodies(t, b, "q99", 10); len(got) != 1 {
		t.Fatalf("q99 got %d copies", len(got))
	}
}
