package sqs

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/omnibroker/broker/core"
)

// Limits and defaults of the SQS API (SQS Developer Guide "Quotas" and the
// CreateQueue Attributes reference).
const (
	maxMessageSize     = 1 << 20 // 1,048,576 bytes: body + message attributes
	minMessageSize     = 1024
	defaultVisibility  = 30 * time.Second
	maxVisibility      = 43200 // seconds (12 hours)
	maxDelay           = 900   // seconds
	defaultRetention   = 345600
	minRetention       = 60
	maxRetention       = 1209600
	maxWait            = 20
	maxBatch           = 10
	dedupWindow        = 5 * time.Minute
	attrLastModified   = "sqs:LastModified" // hidden bookkeeping keys in QueueConfig.Attributes
	attrTagPrefix      = "tag:"
	defaultMaxReceives = 10
)

// intAttr describes a numeric queue attribute: its range and, when it maps
// onto a core QueueConfig field, how.
type intAttr struct {
	min, max int64
	def      int64
	get      func(c *core.QueueConfig) int64
	set      func(c *core.QueueConfig, v int64)
}

var intAttrs = map[string]intAttr{
	"VisibilityTimeout": {0, maxVisibility, 30,
		func(c *core.QueueConfig) int64 { return int64(c.VisibilityTimeout / time.Second) },
		func(c *core.QueueConfig, v int64) { c.VisibilityTimeout = time.Duration(v) * time.Second }},
	"DelaySeconds": {0, maxDelay, 0,
		func(c *core.QueueConfig) int64 { return int64(c.DeliveryDelay / time.Second) },
		func(c *core.QueueConfig, v int64) { c.DeliveryDelay = time.Duration(v) * time.Second }},
	"MessageRetentionPeriod": {minRetention, maxRetention, defaultRetention,
		func(c *core.QueueConfig) int64 { return int64(c.Retention / time.Second) },
		func(c *core.QueueConfig, v int64) { c.Retention = time.Duration(v) * time.Second }},
	"MaximumMessageSize": {minMessageSize, maxMessageSize, maxMessageSize,
		func(c *core.QueueConfig) int64 { return int64(c.MaxMessageSize) },
		func(c *core.QueueConfig, v int64) { c.MaxMessageSize = int(v) }},
	"ReceiveMessageWaitTimeSeconds": {0, maxWait, 0, nil, nil},
	"KmsDataKeyReusePeriodSeconds":  {60, 86400, 300, nil, nil},
}

// strAttrs are the other settable attributes, kept verbatim in
// QueueConfig.Attributes. fifoOnly ones are FIFO queue attributes.
var strAttrs = map[string]struct{ fifoOnly bool }{
	"Policy": {}, "RedrivePolicy": {}, "RedriveAllowPolicy": {}, "KmsMasterKeyId": {}, "SqsManagedSseEnabled": {},
	"ContentBasedDeduplication": {true}, "DeduplicationScope": {true}, "FifoThroughputLimit": {true},
}

// readOnlyAttrs are computed by GetQueueAttributes.
var readOnlyAttrs = []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
	"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"}

type redrivePolicy struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     any    `json:"maxReceiveCount"`
}

// applyAttrs validates attrs and applies them to cfg (a new queue when
// creating). fifo is the queue's type.
func (s *Service) applyAttrs(cfg *core.QueueConfig, attrs map[string]string, creating, fifo bool) error {
	if cfg.Attributes == nil {
		cfg.Attributes = map[string]string{}
	}
	if attrs["KmsMasterKeyId"] != "" && attrs["SqsManagedSseEnabled"] == "true" {
		return errAttrName("You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.")
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := attrs[k]
		if k == "FifoQueue" {
			if !creating {
				if fifo {
					return errAttrValue("Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.")
				}
				return errAttrName("Unknown Attribute FifoQueue.")
			}
			if (v == "true") != fifo {
				return errAttrValue("Invalid value for the parameter FifoQueue.")
			}
			if fifo {
				cfg.Attributes[k] = "true"
			}
			continue
		}
		if ia, ok := intAttrs[k]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < ia.min || n > ia.max {
				return errAttrValue("Invalid value for the parameter %s.", k)
			}
			if ia.set != nil {
				ia.set(cfg, n)
				if k == "VisibilityTimeout" {
					cfg.Attributes[k] = strconv.FormatInt(n, 10)
				}
			} else {
				cfg.Attributes[k] = strconv.FormatInt(n, 10)
			}
			continue
		}
		sa, ok := strAttrs[k]
		if !ok {
			return errAttrName("Unknown Attribute %s.", k)
		}
		if sa.fifoOnly && !fifo {
			if k == "ContentBasedDeduplication" {
				return errAttrName("Unknown Attribute %s.", k)
			}
			return errAttrName("You can specify the %s only when FifoQueue is set to true.", k)
		}
		switch k {
		case "ContentBasedDeduplication", "SqsManagedSseEnabled":
			if v != "true" && v != "false" {
				return errAttrValue("Invalid value for the parameter %s.", k)
			}
		case "DeduplicationScope":
			if v != "queue" && v != "messageGroup" {
				return errAttrValue("Invalid value for the parameter DeduplicationScope.")
			}
		case "FifoThroughputLimit":
			if v != "perQueue" && v != "perMessageGroupId" {
				return errAttrValue("Invalid value for the parameter FifoThroughputLimit.")
			}
		case "Policy", "RedriveAllowPolicy":
			if v != "" && !json.Valid([]byte(v)) {
				return errAttrValue("Invalid value for the parameter %s.", k)
			}
		case "RedrivePolicy":
			if err := s.applyRedrive(cfg, v, fifo); err != nil {
				return err
			}
		case "KmsMasterKeyId":
			if _, given := attrs["SqsManagedSseEnabled"]; v != "" && !given {
				cfg.Attributes["SqsManagedSseEnabled"] = "false"
			}
		}
		if v == "" && k != "SqsManagedSseEnabled" {
			delete(cfg.Attributes, k)
		} else {
			cfg.Attributes[k] = v
		}
	}
	cfg.Attributes[attrLastModified] = strconv.FormatInt(time.Now().Unix(), 10)
	return nil
}

// applyRedrive maps a RedrivePolicy onto the core dead-letter settings:
// the default exchange routes to the dead-letter queue by name, and core
// dead-letters after MaxDeliveries deliveries (= maxReceiveCount).
func (s *Service) applyRedrive(cfg *core.QueueConfig, v string, fifo bool) error {
	if v == "" || v == "{}" {
		cfg.HasDeadLetter, cfg.DeadLetterExchange, cfg.DeadLetterRoutingKey, cfg.MaxDeliveries = false, "", "", 0
		return nil
	}
	var rp redrivePolicy
	if err := json.Unmarshal([]byte(v), &rp); err != nil {
		return errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a dict or valid json.", v)
	}
	if rp.DeadLetterTargetArn == "" {
		return errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: deadLetterTargetArn.", v)
	}
	var n int64
	switch x := rp.MaxReceiveCount.(type) {
	case float64:
		n = int64(x)
	case string:
		n, _ = strconv.ParseInt(x, 10, 64)
	case nil:
		return errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: maxReceiveCount.", v)
	}
	if n < 1 || n > 1000 {
		return errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: %v, valid values are from 1 to 1000 both inclusive.", v, rp.MaxReceiveCount)
	}
	dlq, ok := s.nameFromARN(rp.DeadLetterTargetArn)
	if !ok {
		return errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for deadLetterTargetArn.", v)
	}
	info, err := s.b.Queue(dlq, "")
	if err != nil || info.Config.Exclusive {
		return errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.", v)
	}
	if !redriveAllowed(info.Config.Attributes["RedriveAllowPolicy"], s.arn("", cfg.Name)) {
		return errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Dead-letter target does not allow this queue as its source.", v)
	}
	if info.Config.FIFO != fifo {
		return errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Dead-letter target owner should be same as the source.", v)
	}
	cfg.HasDeadLetter, cfg.DeadLetterExchange, cfg.DeadLetterRoutingKey, cfg.MaxDeliveries = true, "", dlq, int(n)
	return nil
}

// effectiveAttr is the current value of a settable attribute (with its
// default), for GetQueueAttributes and the CreateQueue equality check.
func effectiveAttr(cfg *core.QueueConfig, k string) (string, bool) {
	if ia, ok := intAttrs[k]; ok {
		if ia.get != nil {
			v := ia.get(cfg)
			if k == "MaximumMessageSize" && v == 0 {
				v = maxMessageSize
			}
			if k == "MessageRetentionPeriod" && v == 0 {
				v = defaultRetention
			}
			if k == "VisibilityTimeout" && v == 0 && cfg.Attributes[k] != "0" {
				v = int64(defaultVisibility / time.Second)
			}
			return strconv.FormatInt(v, 10), true
		}
		if v, ok := cfg.Attributes[k]; ok {
			return v, true
		}
		if k == "ReceiveMessageWaitTimeSeconds" {
			return "0", true
		}
		if k == "KmsDataKeyReusePeriodSeconds" && cfg.Attributes["KmsMasterKeyId"] != "" {
			return "300", true
		}
		return "", false
	}
	if k == "FifoQueue" {
		if cfg.FIFO {
			return "true", true
		}
		return "false", false
	}
	if v, ok := cfg.Attributes[k]; ok {
		return v, true
	}
	switch k {
	case "SqsManagedSseEnabled":
		return "true", true
	case "ContentBasedDeduplication":
		return "false", cfg.FIFO
	case "DeduplicationScope":
		return "queue", cfg.FIFO
	case "FifoThroughputLimit":
		return "perQueue", cfg.FIFO
	}
	return "", false
}

// queueAttributes returns the attributes named (All = every one).
func (s *Service) queueAttributes(info core.QueueInfo, region string, names []string) (map[string]string, error) {
	cfg := &info.Config
	all := false
	want := map[string]bool{}
	for _, n := range names {
		if n == "All" {
			all = true
			continue
		}
		_, isInt := intAttrs[n]
		_, isStr := strAttrs[n]
		known := isInt || isStr || n == "FifoQueue"
		for _, r := range readOnlyAttrs {
			known = known || r == n
		}
		if !known {
			return nil, errAttrName("Unknown Attribute %s.", n)
		}
		want[n] = true
	}
	out := map[string]string{}
	add := func(k, v string) {
		if all || want[k] {
			out[k] = v
		}
	}
	add("ApproximateNumberOfMessages", strconv.Itoa(info.Ready))
	add("ApproximateNumberOfMessagesNotVisible", strconv.Itoa(info.Unacked))
	add("ApproximateNumberOfMessagesDelayed", strconv.Itoa(info.Delayed))
	add("CreatedTimestamp", strconv.FormatInt(info.CreatedAt.Unix(), 10))
	lm := cfg.Attributes[attrLastModified]
	if lm == "" {
		lm = strconv.FormatInt(info.CreatedAt.Unix(), 10)
	}
	add("LastModifiedTimestamp", lm)
	add("QueueArn", s.arn(region, cfg.Name))
	for k := range intAttrs {
		if v, ok := effectiveAttr(cfg, k); ok {
			add(k, v)
		}
	}
	for k := range strAttrs {
		if v, ok := effectiveAttr(cfg, k); ok {
			add(k, v)
		}
	}
	if cfg.FIFO {
		add("FifoQueue", "true")
	}
	return out, nil
}

// visibility is the queue's default lease for ReceiveMessage: an SQS
// VisibilityTimeout of 0 is kept as an attribute (core's 0 means "until
// ack"), and queues declared by other protocols without one get 30 s.
func visibility(cfg *core.QueueConfig) time.Duration {
	if cfg.VisibilityTimeout > 0 {
		return cfg.VisibilityTimeout
	}
	if cfg.Attributes["VisibilityTimeout"] == "0" {
		return 0
	}
	return defaultVisibility
}

// tags returns the queue's tags (kept as tag:KEY attributes).
func tags(cfg *core.QueueConfig) map[string]string {
	out := map[string]string{}
	for k, v := range cfg.Attributes {
		if t, ok := strings.CutPrefix(k, attrTagPrefix); ok {
			out[t] = v
		}
	}
	return out
}

// redriveAllowed applies a dead-letter queue's RedriveAllowPolicy
// ({"redrivePermission":"allowAll"|"denyAll"|"byQueue","sourceQueueArns":[...]})
// to a source queue ARN (any region).
func redriveAllowed(policy, srcArn string) bool {
	if policy == "" {
		return true
	}
	var p struct {
		RedrivePermission string   `json:"redrivePermission"`
		SourceQueueArns   []string `json:"sourceQueueArns"`
	}
	if json.Unmarshal([]byte(policy), &p) != nil {
		return true
	}
	switch p.RedrivePermission {
	case "denyAll":
		return false
	case "byQueue":
		for _, a := range p.SourceQueueArns {
			if sameQueueArn(a, srcArn) {
				return true
			}
		}
		return false
	}
	return true
}

// sameQueueArn compares the account and name of two SQS ARNs.
func sameQueueArn(a, b string) bool {
	pa, pb := strings.Split(a, ":"), strings.Split(b, ":")
	return len(pa) == 6 && len(pb) == 6 && pa[2] == "sqs" && pa[4] == pb[4] && pa[5] == pb[5]
}
