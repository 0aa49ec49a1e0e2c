package sns

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/omnibroker/broker/core"
)

// topic is one SNS topic. Records are replaced, never mutated, once
// published in Bridge.topics (copy on write).
type topic struct {
	ARN     string            `json:"arn"`
	Name    string            `json:"name"`
	Region  string            `json:"region"`
	FIFO    bool              `json:"fifo"`
	Attrs   map[string]string `json:"attrs"` // settable attributes
	Tags    map[string]string `json:"tags"`
	TagKeys []string          `json:"tag_keys"` // tag order of ListTagsForResource
}

// subscription is one SNS subscription (copy on write as topic).
type subscription struct {
	ARN       string            `json:"arn"`
	TopicARN  string            `json:"topic"`
	Protocol  string            `json:"protocol"`
	Endpoint  string            `json:"endpoint"`
	Owner     string            `json:"owner"`
	Principal string            `json:"principal,omitempty"` // who subscribed (SubscriptionPrincipal)
	Attrs     map[string]string `json:"attrs"`               // RawMessageDelivery, FilterPolicy, FilterPolicyScope, RedrivePolicy, DeliveryPolicy...
	Pending   bool              `json:"pending"`
	Token     string            `json:"token,omitempty"`
	Queue     string            `json:"queue"`    // internal core queue
	BaseURL   string            `json:"base_url"` // scheme://host of the API, for envelope URLs
	FIFO      bool              `json:"fifo"`
	Key       string            `json:"key"` // the topic's routing key
}

const (
	metaNS       = "sns"
	topicPrefix  = "topic:"
	subPrefix    = "sub:"
	queuePrefix  = "sns-subscription:" // internal queue names (':' is not valid in SQS names)
	maxTopicName = 256
)

func (t *topic) clone() *topic {
	c := *t
	c.Attrs = cloneMap(t.Attrs)
	c.Tags = cloneMap(t.Tags)
	c.TagKeys = append([]string(nil), t.TagKeys...)
	return &c
}

func (s *subscription) clone() *subscription {
	c := *s
	c.Attrs = cloneMap(s.Attrs)
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// routingKey maps a topic name onto amq.topic: a '.' inside the name (the
// ".fifo" suffix) travels as '/', as a '.' inside an MQTT level does.
func routingKey(name string) string { return strings.ReplaceAll(name, ".", "/") }

// validTopicName: 1-256 of [A-Za-z0-9_-]; FIFO names end in ".fifo".
func validTopicName(name string, fifo bool) bool {
	base := name
	if fifo {
		var ok bool
		if base, ok = strings.CutSuffix(name, ".fifo"); !ok {
			return false
		}
	}
	if base == "" || len(name) > maxTopicName {
		return false
	}
	for _, c := range base {
		if !(c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return true
}

// arnParts splits an ARN; AWS reports "An ARN must have at least 6
// elements, not N" for fewer.
func arnParts(arn string) []string { return strings.SplitN(arn, ":", 7) }

func (br *Bridge) topicARN(region, name string) string {
	return fmt.Sprintf("arn:aws:sns:%s:%s:%s", region, br.opts.AccountID, name)
}

func (br *Bridge) persistTopic(t *topic) error {
	raw, _ := json.Marshal(t)
	return br.meta.Put(topicPrefix+t.ARN, raw)
}

func (br *Bridge) persistSub(s *subscription) error {
	raw, _ := json.Marshal(s)
	return br.meta.Put(subPrefix+s.ARN, raw)
}

// load reads topics and subscriptions from the metadata store.
func (br *Bridge) load() error {
	for k, raw := range br.meta.List() {
		switch {
		case strings.HasPrefix(k, topicPrefix):
			var t topic
			if err := json.Unmarshal(raw, &t); err != nil {
				return fmt.Errorf("sns topic %s: %w", k, err)
			}
			br.topics[t.ARN] = &t
		case strings.HasPrefix(k, subPrefix):
			var s subscription
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("sns subscription %s: %w", k, err)
			}
			br.subs[s.ARN] = &s
			br.byEndpoint[endpointKey(&s)] = s.ARN
			if s.Pending && s.Token != "" {
				br.tokens[s.Token] = s.ARN
			}
		}
	}
	return nil
}

// sortedTopics returns topics in ARN order (ListTopics pagination).
func (br *Bridge) sortedTopics() []*topic {
	br.mu.RLock()
	out := make([]*topic, 0, len(br.topics))
	for _, t := range br.topics {
		out = append(out, t)
	}
	br.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ARN < out[j].ARN })
	return out
}

func (br *Bridge) sortedSubs(topicARN string) []*subscription {
	br.mu.RLock()
	out := make([]*subscription, 0, len(br.subs))
	for _, s := range br.subs {
		if topicARN == "" || s.TopicARN == topicARN {
			out = append(out, s)
		}
	}
	br.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ARN < out[j].ARN })
	return out
}

// bind creates the subscription's internal queue and its binding on
// amq.topic: key K.# (which matches K itself too: '#' is zero or more
// words) with the filter policy. One binding per subscription keeps the
// per-publish filter work at one evaluation per subscription.
func (br *Bridge) bind(s *subscription) error {
	if _, err := br.b.DeclareQueue(core.QueueConfig{Name: s.Queue, Durable: true, FIFO: s.FIFO,
		Attributes: map[string]string{"x-owner": "sns", "x-subscription": s.ARN}}); err != nil {
		return err
	}
	return br.b.Bind(core.Binding{Source: "amq.topic", Destination: s.Queue, Key: s.Key + ".#", Args: filterArgs(s)})
}

// rebind replaces the bindings of s after a filter policy change: new
// bindings first, so no message slips through the gap.
func (br *Bridge) rebind(old, s *subscription) error {
	if s.Pending {
		return nil
	}
	if err := br.bind(s); err != nil {
		return err
	}
	oldArgs, newArgs := filterArgs(old), filterArgs(s)
	if fmt.Sprint(oldArgs) == fmt.Sprint(newArgs) {
		return nil
	}
	for _, key := range []string{old.Key, old.Key + ".#"} {
		if err := br.b.Unbind(core.Binding{Source: "amq.topic", Destination: old.Queue, Key: key, Args: oldArgs}); err != nil {
			return err
		}
	}
	return nil
}

func filterArgs(s *subscription) core.Table {
	p := s.Attrs["FilterPolicy"]
	if p == "" {
		return nil
	}
	scope, _ := ParseScope(s.Attrs["FilterPolicyScope"])
	return core.Table{core.FilterKindArg: FilterKind, core.FilterArg: FilterSpec(scope, p)}
}

// endpointKey identifies a subscription for Subscribe's idempotency: the
// same topic, protocol and endpoint is the same subscription.
func endpointKey(s *subscription) string {
	return s.TopicARN + "\x00" + s.Protocol + "\x00" + s.Endpoint
}
