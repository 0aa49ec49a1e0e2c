package sns

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

// Subscription actions (Amazon SNS API Reference: Subscribe,
// ConfirmSubscription, Unsubscribe, ListSubscriptions,
// ListSubscriptionsByTopic, GetSubscriptionAttributes,
// SetSubscriptionAttributes).

var subAttrNames = map[string]bool{
	"DeliveryPolicy": true, "FilterPolicy": true, "FilterPolicyScope": true, "RawMessageDelivery": true,
	"RedrivePolicy": true, "SubscriptionRoleArn": true, "ReplayPolicy": true,
}

// validateSubAttr checks one attribute against the subscription it will
// apply to (s carries the other attributes) and returns the value to store.
// Errors are reasons without the "Invalid parameter: " prefix.
func (br *Bridge) validateSubAttr(s *subscription, name, val string) (string, error) {
	switch name {
	case "RawMessageDelivery":
		switch strings.ToLower(val) {
		case "true", "false":
			return strings.ToLower(val), nil
		}
		return "", reason("RawMessageDelivery: Invalid value [%s]. Must be true or false.", val)
	case "FilterPolicyScope":
		scope, ok := ParseScope(val)
		if !ok {
			return "", reason("FilterPolicyScope: Invalid value [%s]. Please use either MessageBody or MessageAttributes", val)
		}
		if p := s.Attrs["FilterPolicy"]; p != "" {
			if _, err := CompilePolicy(p, scope); err != nil {
				return "", reason("%s", err.Error())
			}
		}
		return val, nil
	case "FilterPolicy":
		if val == "" {
			return "", nil
		}
		scope, _ := ParseScope(s.Attrs["FilterPolicyScope"])
		if _, err := CompilePolicy(val, scope); err != nil {
			return "", reason("%s", err.Error())
		}
		return val, nil
	case "RedrivePolicy":
		if val == "" {
			return "", nil
		}
		var rp struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		}
		if err := json.Unmarshal([]byte(val), &rp); err != nil {
			msg := syntaxCheck(val).Error()
			return "", reason("RedrivePolicy: %s", strings.TrimPrefix(msg, "FilterPolicy: "))
		}
		q, ok := sqsQueueName(rp.DeadLetterTargetArn)
		if !ok {
			return "", reason("RedrivePolicy: deadLetterTargetArn is an invalid arn")
		}
		if s.FIFO && !strings.HasSuffix(q, ".fifo") {
			return "", reason("RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic.")
		}
		return val, nil
	case "DeliveryPolicy":
		if val == "" {
			return "", nil
		}
		if _, err := parseDeliveryPolicy(val); err != nil {
			return "", reason("DeliveryPolicy: %s", err.Error())
		}
		return val, nil
	case "SubscriptionRoleArn", "ReplayPolicy":
		return val, nil
	}
	return "", reason("AttributeName")
}

type reasonError string

func (e reasonError) Error() string { return string(e) }

func reason(format string, args ...any) error {
	return reasonError(strings.TrimSpace(sprintf(format, args...)))
}

// sqsQueueName extracts NAME from arn:aws:sqs:REGION:ACCOUNT:NAME.
func sqsQueueName(arn string) (string, bool) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[5] == "" {
		return "", false
	}
	return parts[5], true
}

func newToken() string {
	var b [64]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (br *Bridge) subscribe(r *awsapi.Request) (any, error) {
	t, err := br.lookupTopic(r, "TopicArn", r.Form.Get("TopicArn"))
	if err != nil {
		return nil, err
	}
	proto, endpoint := r.Form.Get("Protocol"), r.Form.Get("Endpoint")
	switch proto {
	case "sqs":
		q, ok := sqsQueueName(endpoint)
		if !ok {
			return nil, invalidParam("SQS endpoint ARN")
		}
		if strings.HasSuffix(q, ".fifo") && !t.FIFO {
			return nil, invalidParam("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics")
		}
	case "http", "https":
		u, err := url.Parse(endpoint)
		if err != nil || u.Scheme != proto || u.Host == "" {
			return nil, invalidParam("Endpoint must match the specified protocol")
		}
		if t.FIFO {
			return nil, invalidParam("Invalid parameter: Endpoint Reason: Please use FIFO SQS queue")
		}
	case "":
		return nil, invalidParam("Protocol Reason: no value for required parameter")
	default:
		return nil, invalidParam("Amazon SNS does not support this protocol string: %s", proto)
	}
	s := &subscription{TopicARN: t.ARN, Protocol: proto, Endpoint: endpoint, Owner: br.opts.AccountID,
		Attrs: map[string]string{}, FIFO: t.FIFO, Key: routingKey(t.Name), BaseURL: baseURL(r),
		Principal: "arn:aws:iam::" + br.opts.AccountID + ":root"}
	if r.AccessKey != "" {
		s.Principal = "arn:aws:iam::" + br.opts.AccountID + ":user/" + r.AccessKey
	}
	given := attrMap(r.Form, "Attributes")
	// FilterPolicyScope first: FilterPolicy is validated against it.
	for _, name := range append([]string{"FilterPolicyScope"}, sortedKeys(given)...) {
		val, ok := given[name]
		if !ok || (name == "FilterPolicyScope" && s.Attrs[name] != "") {
			continue
		}
		if !subAttrNames[name] {
			return nil, invalidParam("Attributes Reason: Unknown attribute %s", name)
		}
		v, err := br.validateSubAttr(s, name, val)
		if err != nil {
			return nil, invalidParam("Attributes Reason: %s", err.Error())
		}
		if v != "" {
			s.Attrs[name] = v
		}
	}
	if s.Attrs["FilterPolicy"] != "" && s.Attrs["FilterPolicyScope"] == "" {
		s.Attrs["FilterPolicyScope"] = "MessageAttributes"
	}
	// Idempotency: the same topic, protocol and endpoint.
	br.mu.RLock()
	old := br.subs[br.byEndpoint[endpointKey(s)]]
	br.mu.RUnlock()
	if old != nil {
		for k, v := range s.Attrs {
			if old.Attrs[k] != v {
				return nil, invalidParam("Attributes Reason: Subscription already exists with different attributes")
			}
		}
		return newXML().elem("SubscriptionArn", br.shownARN(r, old)).result(), nil
	}
	id := core.NewID()
	s.ARN = t.ARN + ":" + id
	s.Queue = queuePrefix + id
	if proto != "sqs" {
		s.Pending = true
		s.Token = newToken()
	}
	if err := br.persistSub(s); err != nil {
		return nil, err
	}
	if !s.Pending {
		// Bound before it is listed: a publish that follows a listing
		// showing the subscription reaches it.
		if err := br.bind(s); err != nil {
			br.removeSub(s)
			return nil, err
		}
	}
	br.mu.Lock()
	br.subs[s.ARN] = s
	br.byEndpoint[endpointKey(s)] = s.ARN
	if s.Pending {
		br.tokens[s.Token] = s.ARN
	}
	br.mu.Unlock()
	if s.Pending {
		br.sendConfirmation(s, TypeSubConfirmation)
	} else {
		br.startWorker(s)
	}
	return newXML().elem("SubscriptionArn", br.shownARN(r, s)).result(), nil
}

// shownARN is what Subscribe returns: "pending confirmation" for a pending
// subscription unless ReturnSubscriptionArn is true.
func (br *Bridge) shownARN(r *awsapi.Request, s *subscription) string {
	if s.Pending && !strings.EqualFold(r.Form.Get("ReturnSubscriptionArn"), "true") {
		return "pending confirmation"
	}
	return s.ARN
}

func (br *Bridge) confirmSubscription(r *awsapi.Request) (any, error) {
	arn := r.Form.Get("TopicArn")
	parts := arnParts(arn)
	if len(parts) < 6 || parts[2] != "sns" || parts[3] != r.Region {
		return nil, invalidParam("Topic")
	}
	token := r.Form.Get("Token")
	br.mu.Lock()
	if br.topics[arn] == nil {
		br.mu.Unlock()
		return nil, invalidParam("Topic")
	}
	subARN, ok := br.tokens[token]
	var s *subscription
	if ok {
		s = br.subs[subARN]
	}
	if s == nil || s.TopicARN != arn {
		br.mu.Unlock()
		// An already confirmed subscription's token stays valid.
		for _, old := range br.sortedSubs(arn) {
			if old.Token == token && token != "" {
				return newXML().elem("SubscriptionArn", old.ARN).result(), nil
			}
		}
		return nil, invalidParam("Token")
	}
	ns := s.clone()
	ns.Pending = false
	br.mu.Unlock()
	// Bound and delivering before anyone can see it confirmed: a publish
	// that follows a confirmed listing must reach it.
	if err := br.persistSub(ns); err != nil {
		return nil, err
	}
	if err := br.bind(ns); err != nil {
		return nil, err
	}
	br.mu.Lock()
	delete(br.tokens, token)
	if br.subs[ns.ARN] != nil {
		br.subs[ns.ARN] = ns
	}
	br.mu.Unlock()
	br.startWorker(ns)
	return newXML().elem("SubscriptionArn", ns.ARN).result(), nil
}

func (br *Bridge) lookupSub(r *awsapi.Request, arn string) (*subscription, error) {
	if arn == "" {
		return nil, invalidParam("SubscriptionArn Reason: no value for required parameter")
	}
	parts := arnParts(arn)
	if len(parts) < 6 {
		return nil, invalidParam("SubscriptionArn Reason: An ARN must have at least 6 elements, not %d", len(parts))
	}
	if len(parts) < 7 || parts[2] != "sns" {
		return nil, invalidParam("SubscriptionId")
	}
	br.mu.RLock()
	s := br.subs[arn]
	br.mu.RUnlock()
	if s == nil {
		return nil, errSubNotFound
	}
	return s, nil
}

func (br *Bridge) unsubscribe(r *awsapi.Request) (any, error) {
	s, err := br.lookupSub(r, r.Form.Get("SubscriptionArn"))
	if errors.Is(err, errSubNotFound) {
		return nil, nil // idempotent
	}
	if err != nil {
		return nil, err
	}
	br.removeSub(s)
	if s.Protocol == "http" || s.Protocol == "https" {
		br.sendConfirmation(s, TypeUnsubConfirm)
	}
	return nil, nil
}

// removeSub stops delivery, deletes the internal queue and forgets s.
func (br *Bridge) removeSub(s *subscription) {
	br.mu.Lock()
	w := br.workers[s.ARN]
	delete(br.workers, s.ARN)
	delete(br.subs, s.ARN)
	if br.byEndpoint[endpointKey(s)] == s.ARN {
		delete(br.byEndpoint, endpointKey(s))
	}
	if s.Token != "" {
		delete(br.tokens, s.Token)
	}
	br.mu.Unlock()
	if w != nil {
		w.stop()
	}
	if _, err := br.b.DeleteQueue(s.Queue, false, false); err != nil && !errors.Is(err, core.ErrNotFound) {
		br.log.Warn("sns: delete subscription queue", "sub", s.ARN, "err", err)
	}
	if err := br.meta.Delete(subPrefix + s.ARN); err != nil {
		br.log.Warn("sns: forget subscription", "sub", s.ARN, "err", err)
	}
}

func (br *Bridge) listSubs(r *awsapi.Request, topicARN string) (any, error) {
	all := br.sortedSubs(topicARN)
	start, err := pageStart(r.Form.Get("NextToken"), len(all))
	if err != nil {
		return nil, err
	}
	x := newXML().raw("<Subscriptions>")
	end := min(start+100, len(all))
	for _, s := range all[start:end] {
		arn := s.ARN
		if s.Pending {
			arn = "PendingConfirmation"
		}
		x.raw("<member>").elem("Owner", s.Owner).elem("Endpoint", s.Endpoint).elem("Protocol", s.Protocol).
			elem("SubscriptionArn", arn).elem("TopicArn", s.TopicARN).raw("</member>")
	}
	x.raw("</Subscriptions>")
	if end < len(all) {
		x.elem("NextToken", pageToken(end))
	}
	return x.result(), nil
}

func (br *Bridge) listSubscriptions(r *awsapi.Request) (any, error) { return br.listSubs(r, "") }

func (br *Bridge) listSubscriptionsByTopic(r *awsapi.Request) (any, error) {
	t, err := br.lookupTopic(r, "TopicArn", r.Form.Get("TopicArn"))
	if err != nil {
		return nil, err
	}
	return br.listSubs(r, t.ARN)
}

func (br *Bridge) getSubscriptionAttributes(r *awsapi.Request) (any, error) {
	s, err := br.lookupSub(r, r.Form.Get("SubscriptionArn"))
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{
		"ConfirmationWasAuthenticated": "true",
		"Endpoint":                     s.Endpoint,
		"Owner":                        s.Owner,
		"PendingConfirmation":          boolStr(s.Pending),
		"Protocol":                     s.Protocol,
		"RawMessageDelivery":           "false",
		"SubscriptionArn":              s.ARN,
		"SubscriptionPrincipal":        s.Principal,
		"TopicArn":                     s.TopicARN,
	}
	if s.Pending {
		attrs["ConfirmationWasAuthenticated"] = "false"
	}
	if s.Principal == "" {
		attrs["SubscriptionPrincipal"] = "arn:aws:iam::" + br.opts.AccountID + ":root"
	}
	for k, v := range s.Attrs {
		attrs[k] = v
	}
	if s.Protocol != "sqs" {
		if p := s.Attrs["DeliveryPolicy"]; p != "" {
			attrs["EffectiveDeliveryPolicy"] = p
		} else {
			attrs["EffectiveDeliveryPolicy"] = `{"healthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"sicklyRetryPolicy":null,"throttlePolicy":null,"requestPolicy":{"headerContentType":"text/plain; charset=UTF-8"},"guaranteed":false}`
		}
	}
	return newXML().entries("Attributes", attrs).result(), nil
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (br *Bridge) setSubscriptionAttributes(r *awsapi.Request) (any, error) {
	s, err := br.lookupSub(r, r.Form.Get("SubscriptionArn"))
	if err != nil {
		return nil, err
	}
	name, val := r.Form.Get("AttributeName"), r.Form.Get("AttributeValue")
	if !subAttrNames[name] {
		return nil, invalidParam("AttributeName")
	}
	v, err := br.validateSubAttr(s, name, val)
	if err != nil {
		return nil, invalidParam("%s", err.Error())
	}
	br.mu.Lock()
	cur := br.subs[s.ARN]
	if cur == nil {
		br.mu.Unlock()
		return nil, errSubNotFound
	}
	ns := cur.clone()
	if v == "" {
		delete(ns.Attrs, name)
	} else {
		ns.Attrs[name] = v
	}
	if name == "FilterPolicy" && v != "" && ns.Attrs["FilterPolicyScope"] == "" {
		ns.Attrs["FilterPolicyScope"] = "MessageAttributes"
	}
	br.subs[s.ARN] = ns
	w := br.workers[s.ARN]
	br.mu.Unlock()
	if err := br.persistSub(ns); err != nil {
		return nil, err
	}
	if name == "FilterPolicy" || name == "FilterPolicyScope" {
		if err := br.rebind(cur, ns); err != nil {
			return nil, err
		}
	}
	if w != nil {
		w.sub.Store(ns)
	}
	return nil, nil
}
