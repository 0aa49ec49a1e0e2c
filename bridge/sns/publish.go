package sns

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

// Publish and PublishBatch (Amazon SNS API Reference).

const (
	maxMessageBytes = 256 * 1024 // message + attributes
	maxBatchEntries = 10
	dedupWindow     = 5 * time.Minute
)

// Headers the bridge adds to messages published through SNS (the broker's
// own x- prefix; never turned into attributes).
const (
	hdrSubject   = "x-sns-subject"
	hdrStructure = "x-sns-message-structure" // the MessageStructure=json object
	hdrSequence  = "x-sns-sequence-number"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pubInput is one Publish call or PublishBatch entry.
type pubInput struct {
	id        string // batch entry id
	message   string
	hasMsg    bool
	subject   string
	hasSubj   bool
	structure string
	attrs     map[string]Attr
	group     string
	dedup     string
	hasDedup  bool
}

func readPubInput(form url.Values) (*pubInput, error) {
	in := &pubInput{id: form.Get("Id"), structure: form.Get("MessageStructure"), group: form.Get("MessageGroupId")}
	in.message, in.hasMsg = form.Get("Message"), form.Has("Message")
	in.subject, in.hasSubj = form.Get("Subject"), form.Has("Subject")
	in.dedup, in.hasDedup = form.Get("MessageDeduplicationId"), form.Has("MessageDeduplicationId")
	attrs, err := readMessageAttrs(form)
	if err != nil {
		return nil, err
	}
	in.attrs = attrs
	return in, nil
}

// readMessageAttrs reads MessageAttributes.entry.N.Name/Value.* and
// validates them (error texts recorded from AWS).
func readMessageAttrs(form url.Values) (map[string]Attr, error) {
	out := map[string]Attr{}
	for _, e := range members(form, "MessageAttributes.entry.") {
		name := e.Get("Name")
		if err := validAttrName(name); err != nil {
			return nil, err
		}
		dt := e.Get("Value.DataType")
		if !e.Has("Value.DataType") {
			return nil, &awsapi.Error{Status: 400, Code: "ValidationError", Message: "1 validation error detected: Value null at 'messageAttributes." + name + ".member.dataType' failed to satisfy constraint: Member must not be null"}
		}
		a := Attr{Type: dt}
		sv, hasS := e.Get("Value.StringValue"), e.Has("Value.StringValue")
		bv, hasB := e.Get("Value.BinaryValue"), e.Has("Value.BinaryValue")
		switch baseType(dt) {
		case "String", "Number":
			if hasB && !hasS {
				return nil, paramValueInvalid("The message attribute '%s' with type '%s' must use field 'String'.", name, baseType(dt))
			}
			if sv == "" {
				return nil, paramValueInvalid("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, baseType(dt))
			}
			if baseType(dt) == "Number" {
				if _, err := strconv.ParseFloat(strings.TrimSpace(sv), 64); err != nil {
					return nil, paramValueInvalid("Could not cast message attribute '%s' value to number.", name)
				}
			}
			if dt == "String.Array" {
				var arr []any
				if json.Unmarshal([]byte(sv), &arr) != nil {
					return nil, paramValueInvalid("The message attribute '%s' with type 'String.Array' must have a valid JSON array as its value.", name)
				}
			}
			a.Str = sv
		case "Binary":
			if hasS && !hasB {
				return nil, paramValueInvalid("The message attribute '%s' with type 'Binary' must use field 'Binary'.", name)
			}
			raw, err := base64.StdEncoding.DecodeString(bv)
			if err != nil || len(raw) == 0 {
				return nil, paramValueInvalid("The message attribute '%s' must contain non-empty message attribute value for message attribute type 'Binary'.", name)
			}
			a.Bytes = raw
		default:
			return nil, paramValueInvalid("The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", name)
		}
		out[name] = a
	}
	return out, nil
}

func validAttrName(n string) error {
	if len(n) >= 256 {
		return paramValueInvalid("Length of message attribute name must be less than 256 bytes.")
	}
	if n == "" {
		return paramValueInvalid("The message attribute name can not be empty.")
	}
	for _, c := range n {
		if !(c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return paramValueInvalid("Invalid non-alphanumeric character '#x%X' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.", c)
		}
	}
	switch {
	case n[0] == '.':
		return paramValueInvalid("Invalid message attribute name starting with character '.' was found.")
	case n[len(n)-1] == '.':
		return paramValueInvalid("Invalid message attribute name ending with character '.' was found.")
	case strings.Contains(n, ".."):
		return paramValueInvalid("Message attribute name can not have successive '.' character.")
	}
	return nil
}

func attrsSize(attrs map[string]Attr) int {
	n := 0
	for k, a := range attrs {
		n += len(k) + len(a.Type) + len(a.Str) + len(a.Bytes)
	}
	return n
}

// prepared is a validated message ready to route.
type prepared struct {
	in  *pubInput
	m   *core.Message
	t   *topic
	seq string
	dup bool // duplicate of an earlier publish within the dedup window
}

// prepare validates in against t and builds the core message.
func (br *Bridge) prepare(t *topic, in *pubInput, sender string) (*prepared, error) {
	if !in.hasMsg || in.message == "" {
		return nil, invalidParam("Empty message")
	}
	if in.hasSubj && (in.subject == "" || len(in.subject) > 100 || !printableASCII(in.subject)) {
		return nil, invalidParam("Subject")
	}
	if len(in.message)+attrsSize(in.attrs) > maxMessageBytes {
		return nil, invalidParam("Message too long")
	}
	if !utf8.ValidString(in.message) {
		return nil, invalidParam("Message")
	}
	body := in.message
	var structure string
	if in.structure != "" {
		if in.structure != "json" {
			return nil, invalidParam("MessageStructure")
		}
		var per map[string]any
		if err := json.Unmarshal([]byte(in.message), &per); err != nil {
			return nil, invalidParam("Message Structure - JSON message body failed to parse")
		}
		def, ok := per["default"].(string)
		if !ok {
			return nil, invalidParam("Message Structure - No default entry in JSON message body")
		}
		body, structure = def, in.message
	}
	m := &core.Message{Body: []byte(body), Props: core.Properties{Persistent: true, UserID: sender}}
	AttrsToHeaders(m, in.attrs)
	h := m.Props.Headers
	if h == nil {
		h = core.Table{}
	}
	if in.hasSubj {
		h[hdrSubject] = in.subject
	}
	if structure != "" {
		h[hdrStructure] = structure
	}
	p := &prepared{in: in, m: m, t: t}
	if t.FIFO {
		if in.group == "" {
			return nil, invalidParam("The MessageGroupId parameter is required for FIFO topics")
		}
		dedup := in.dedup
		if !in.hasDedup {
			if t.Attrs["ContentBasedDeduplication"] != "true" {
				return nil, invalidParam("The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
			}
			sum := sha256.Sum256([]byte(in.message))
			dedup = hex.EncodeToString(sum[:])
		}
		m.GroupID, m.DedupID = in.group, dedup
		p.seq = fmt.Sprintf("%020d", br.seq.Add(1))
		h[hdrSequence] = p.seq
	} else {
		if in.hasDedup {
			return nil, invalidParam("MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
		}
		m.GroupID = in.group
	}
	if len(h) > 0 {
		m.Props.Headers = h
	}
	return p, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// route publishes prepared messages on amq.topic and waits until every
// subscription queue has stored them; results[i] is nil on success.
func (br *Bridge) route(r *awsapi.Request, ps []*prepared) []error {
	errs := make([]error, len(ps))
	dones := make([]chan error, len(ps))
	now := time.Now()
	for i, p := range ps {
		p.m.ID = core.NewID()
		if p.t.FIFO {
			key := p.t.ARN + "\x00" + p.m.DedupID
			if p.t.Attrs["FifoThroughputScope"] == "MessageGroup" {
				key = p.t.ARN + "\x00" + p.m.GroupID + "\x00" + p.m.DedupID
			}
			br.mu.Lock()
			if d, ok := br.dedup[key]; ok && now.Before(d.exp) {
				br.mu.Unlock()
				p.m.ID, p.seq, p.dup = d.id, d.seq, true
				continue
			}
			if len(br.dedup) > 100000 {
				for k, d := range br.dedup {
					if !now.Before(d.exp) {
						delete(br.dedup, k)
					}
				}
			}
			br.dedup[key] = dedupEntry{id: p.m.ID, seq: p.seq, exp: now.Add(dedupWindow)}
			br.mu.Unlock()
		}
		done := make(chan error, 1)
		dones[i] = done
		if _, err := br.b.Publish("amq.topic", routingKey(p.t.Name), p.m, func(err error) { done <- err }); err != nil {
			errs[i] = err
			dones[i] = nil
		}
	}
	for i, d := range dones {
		if d == nil {
			continue
		}
		select {
		case err := <-d:
			errs[i] = err
		case <-r.Context().Done():
			errs[i] = fmt.Errorf("client gone: %w", core.ErrUnavailable)
		}
	}
	return errs
}

func (br *Bridge) sender(r *awsapi.Request) string {
	if r.AccessKey != "" {
		return r.AccessKey
	}
	return br.opts.AccountID
}

func (br *Bridge) publish(r *awsapi.Request) (any, error) {
	arn, param := r.Form.Get("TopicArn"), "TopicArn"
	if arn == "" && r.Form.Has("TargetArn") {
		arn, param = r.Form.Get("TargetArn"), "TargetArn"
	}
	if arn == "" && r.Form.Has("PhoneNumber") {
		return nil, invalidParam("PhoneNumber Reason: SMS delivery is not supported by this broker")
	}
	t, err := br.lookupTopic(r, param, arn)
	if err != nil {
		if err == errTopicNotFound && param == "TargetArn" {
			return nil, invalidParam("TargetArn Reason: No endpoint found for the target arn specified")
		}
		return nil, err
	}
	in, err := readPubInput(r.Form)
	if err != nil {
		return nil, err
	}
	p, err := br.prepare(t, in, br.sender(r))
	if err != nil {
		return nil, err
	}
	if err := br.route(r, []*prepared{p})[0]; err != nil {
		return nil, err
	}
	x := newXML().elem("MessageId", p.m.ID)
	if p.seq != "" {
		x.elem("SequenceNumber", p.seq)
	}
	return x.result(), nil
}

func validBatchID(id string) error {
	if len(id) > 80 {
		return &awsapi.Error{Status: 400, Code: "InvalidBatchEntryId", Type: "InvalidBatchEntryIdException",
			Message: "The Id of a batch entry in the batch request is too long: " + id}
	}
	for _, c := range id {
		if !(c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return &awsapi.Error{Status: 400, Code: "InvalidBatchEntryId", Type: "InvalidBatchEntryIdException",
				Message: "The Id of a batch entry in the batch request contains an impermissible character: " + id}
		}
	}
	return nil
}

func (br *Bridge) publishBatch(r *awsapi.Request) (any, error) {
	t, err := br.lookupTopic(r, "TopicArn", r.Form.Get("TopicArn"))
	if err != nil {
		return nil, err
	}
	entries := members(r.Form, "PublishBatchRequestEntries.member.")
	if len(entries) == 0 {
		return nil, &awsapi.Error{Status: 400, Code: "EmptyBatchRequest", Type: "EmptyBatchRequestException",
			Message: "The batch request doesn't contain any entries."}
	}
	if len(entries) > maxBatchEntries {
		return nil, &awsapi.Error{Status: 400, Code: "TooManyEntriesInBatchRequest", Type: "TooManyEntriesInBatchRequestException",
			Message: "The batch request contains more entries than permissible."}
	}
	seen := map[string]bool{}
	total := 0
	ins := make([]*pubInput, len(entries))
	for i, e := range entries {
		id := e.Get("Id")
		if err := validBatchID(id); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, &awsapi.Error{Status: 400, Code: "BatchEntryIdsNotDistinct", Type: "BatchEntryIdsNotDistinctException",
				Message: "Two or more batch entries in the request have the same Id."}
		}
		seen[id] = true
		in, err := readPubInput(e)
		if err != nil {
			return nil, err
		}
		ins[i] = in
		total += len(in.message) + attrsSize(in.attrs)
	}
	if total > maxMessageBytes {
		return nil, &awsapi.Error{Status: 400, Code: "BatchRequestTooLong", Type: "BatchRequestTooLongException",
			Message: "The length of all the messages put together is more than the limit."}
	}
	// Request-level validations AWS applies to the whole batch.
	for _, in := range ins {
		if t.FIFO && in.group == "" {
			return nil, invalidParam("The MessageGroupId parameter is required for FIFO topics")
		}
		if t.FIFO && !in.hasDedup && t.Attrs["ContentBasedDeduplication"] != "true" {
			return nil, invalidParam("The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
		if in.structure == "json" {
			var per map[string]any
			if json.Unmarshal([]byte(in.message), &per) == nil {
				if _, ok := per["default"].(string); !ok {
					return nil, invalidParam("Message Structure - No default entry in JSON message body")
				}
			}
		}
	}
	type failure struct{ id, code, msg string }
	var failed []failure
	var ps []*prepared
	for _, in := range ins {
		p, err := br.prepare(t, in, br.sender(r))
		if err != nil {
			ae, _ := err.(*awsapi.Error)
			if ae == nil {
				ae = reasonFor(err)
			}
			failed = append(failed, failure{in.id, ae.Code, ae.Message})
			continue
		}
		ps = append(ps, p)
	}
	errs := br.route(r, ps)
	x := newXML().raw("<Successful>")
	for i, p := range ps {
		if errs[i] != nil {
			ae := reasonFor(errs[i])
			if ae == nil {
				ae = awsapi.ErrInternal
			}
			failed = append(failed, failure{p.in.id, ae.Code, ae.Message})
			continue
		}
		x.raw("<member>").elem("Id", p.in.id).elem("MessageId", p.m.ID)
		if p.seq != "" {
			x.elem("SequenceNumber", p.seq)
		}
		x.raw("</member>")
	}
	x.raw("</Successful><Failed>")
	for _, f := range failed {
		x.raw("<member>").elem("Id", f.id).elem("Code", f.code).elem("Message", f.msg).elem("SenderFault", "true").raw("</member>")
	}
	return x.raw("</Failed>").result(), nil
}
