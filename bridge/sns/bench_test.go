package sns

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

func openBroker(tb testing.TB, durable bool) *core.Broker {
	tb.Helper()
	o := core.Options{Logger: slog.New(slog.DiscardHandler)}
	if durable {
		o.DataDir = tb.TempDir()
	}
	b, err := core.Open(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

func call(tb testing.TB, h awsapi.Handler, form url.Values) any {
	tb.Helper()
	res, err := h(ctxReq(form))
	if err != nil {
		tb.Fatalf("%v: %v", form, err)
	}
	return res
}

func ctxReq(form url.Values) *awsapi.Request {
	r, _ := http.NewRequest(http.MethodPost, "http://localhost:4566/", nil)
	return &awsapi.Request{Form: form, Region: "us-east-1", URLHost: "localhost:4566", HTTP: r}
}

// BenchmarkFanout10 publishes through the SNS API to a topic with 10 SQS
// subscriptions, each with a filter policy the messages pass, on a durable
// broker: every Publish returns once the 10 subscription copies are
// stored; the figures count publishes/s and deliveries/s into the 10 SQS
// queues (envelopes built and signed).
func BenchmarkFanout10(b *testing.B) {
	c := openBroker(b, true)
	br, err := New(c, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close(context.Background())
	call(b, br.createTopic, url.Values{"Name": {"bench"}})
	arn := br.topicARN("us-east-1", "bench")
	for i := range 10 {
		q := fmt.Sprintf("bench-q%d", i)
		if _, err := c.DeclareQueue(core.QueueConfig{Name: q, Durable: true}); err != nil {
			b.Fatal(err)
		}
		call(b, br.subscribe, url.Values{"TopicArn": {arn}, "Protocol": {"sqs"}, "Endpoint": {"arn:aws:sqs:us-east-1:000000000000:" + q},
			"Attributes.entry.1.key": {"FilterPolicy"}, "Attributes.entry.1.value": {fmt.Sprintf(`{"kind": ["order", "refund"], "shard": [{"numeric": [">=", 0, "<", %d]}]}`, 100+i)}})
	}
	form := url.Values{"TopicArn": {arn}, "Message": {strings.Repeat("x", 256)},
		"MessageAttributes.entry.1.Name": {"kind"}, "MessageAttributes.entry.1.Value.DataType": {"String"}, "MessageAttributes.entry.1.Value.StringValue": {"order"},
		"MessageAttributes.entry.2.Name": {"shard"}, "MessageAttributes.entry.2.Value.DataType": {"Number"}, "MessageAttributes.entry.2.Value.StringValue": {"42"}}
	b.ResetTimer()
	start := time.Now()
	var n atomic.Int64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := br.publish(ctxReq(form)); err != nil {
				b.Error(err)
				return
			}
			n.Add(1)
		}
	})
	pubElapsed := time.Since(start)
	want := int(n.Load()) * 10
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := 0
		for i := range 10 {
			info, _ := c.Queue(fmt.Sprintf("bench-q%d", i), "")
			got += info.Ready
		}
		if got >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	total := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n.Load())/pubElapsed.Seconds(), "publishes/s")
	b.ReportMetric(float64(want)/total.Seconds(), "deliveries/s")
}

// BenchmarkPolicyMatch10k is the cost of evaluating 10,000 compiled
// policies (one per subscription of a topic) against one message, as the
// core does when it routes a publish: attribute scope and body scope.
func BenchmarkPolicyMatch10k(b *testing.B) {
	for _, indexed := range []bool{false, true} {
		for _, scope := range []Scope{ScopeAttributes, ScopeBody} {
			name := scope.String() + "/scan"
			if indexed {
				name = scope.String() + "/indexed"
			}
			b.Run(name, func(b *testing.B) { benchPolicies(b, scope, indexed) })
		}
	}
}

func benchPolicies(b *testing.B, scope Scope, indexed bool) {
	{
		{
			policies := make([]core.Filter, 10000)
			for i := range policies {
				src := fmt.Sprintf(`{"customer": ["c%d"], "price": [{"numeric": [">", %d]}]}`, i, i%100)
				if scope == ScopeBody {
					src = fmt.Sprintf(`{"order": {"customer": ["c%d"], "price": [{"numeric": [">", %d]}]}}`, i, i%100)
				}
				var p core.Filter
				var err error
				if indexed {
					p, err = compileSpec(FilterSpec(scope, src))
				} else {
					p, err = CompilePolicy(src, scope)
				}
				if err != nil {
					b.Fatal(err)
				}
				policies[i] = p
			}
			m := &core.Message{Body: []byte(`{"order": {"customer": "c4242", "price": 120, "lines": [1, 2, 3]}}`)}
			AttrsToHeaders(m, map[string]Attr{"customer": {Type: "String", Str: "c4242"}, "price": {Type: "Number", Str: "120"}})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mm := m.Clone() // a new message each round: the body is parsed again
				hits := 0
				for _, p := range policies {
					if p.Match(mm) {
						hits++
					}
				}
				if hits != 1 {
					b.Fatalf("%d policies matched", hits)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/policy")
		}
	}
}

// BenchmarkRoute10kPolicies publishes through the core to a topic subtree
// with 10,000 filtered bindings (10,000 subscriptions of one topic); one
// policy matches. In-memory queues: this is the routing cost alone.
func BenchmarkRoute10kPolicies(b *testing.B) {
	c := openBroker(b, false)
	for i := range 10000 {
		q := fmt.Sprintf("q%d", i)
		if _, err := c.DeclareQueue(core.QueueConfig{Name: q}); err != nil {
			b.Fatal(err)
		}
		spec := FilterSpec(ScopeAttributes, fmt.Sprintf(`{"customer": ["c%d"]}`, i))
		if err := c.Bind(core.Binding{Source: "amq.topic", Destination: q, Key: "orders.#", Args: core.Table{core.FilterKindArg: FilterKind, core.FilterArg: spec}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := &core.Message{Body: []byte("x")}
		AttrsToHeaders(m, map[string]Attr{"customer": {Type: "String", Str: fmt.Sprintf("c%d", i%10000)}})
		res, err := c.Publish("amq.topic", "orders", m, nil)
		if err != nil || res.Routed != 1 {
			b.Fatalf("routed %d: %v", res.Routed, err)
		}
		if i%1000 == 999 {
			for j := i - 999; j <= i; j++ {
				c.PurgeQueue(fmt.Sprintf("q%d", j%10000), "")
			}
		}
	}
}

// BenchmarkPublish10kSubscriptions: one topic with 10,000 SQS
// subscriptions, each with its own filter policy ({"customer": ["cN"]});
// every Publish matches one of them. In-memory broker: the cost of the
// API call, routing through 10,000 filtered bindings and one delivery.
func BenchmarkPublish10kSubscriptions(b *testing.B) {
	c := openBroker(b, false)
	br, err := New(c, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close(context.Background())
	call(b, br.createTopic, url.Values{"Name": {"big"}})
	arn := br.topicARN("us-east-1", "big")
	if _, err := c.DeclareQueue(core.QueueConfig{Name: "sink"}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := range 10000 {
		call(b, br.subscribe, url.Values{"TopicArn": {arn}, "Protocol": {"sqs"}, "Endpoint": {fmt.Sprintf("arn:aws:sqs:us-east-1:000000000000:sink%d", i)},
			"Attributes.entry.1.key": {"FilterPolicy"}, "Attributes.entry.1.value": {fmt.Sprintf(`{"customer": ["c%d"]}`, i)},
			"Attributes.entry.2.key": {"RawMessageDelivery"}, "Attributes.entry.2.value": {"true"}})
	}
	setup := time.Since(start)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		form := url.Values{"TopicArn": {arn}, "Message": {"m"},
			"MessageAttributes.entry.1.Name": {"customer"}, "MessageAttributes.entry.1.Value.DataType": {"String"},
			"MessageAttributes.entry.1.Value.StringValue": {fmt.Sprintf("c%d", i%10000)}}
		if _, err := br.publish(ctxReq(form)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	for c.Stats().Delivered.Load() < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(setup.Seconds(), "s-to-subscribe-10k")
}
