package sns

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/omnibroker/broker/bridge/awsapi"
)

// Topic actions (Amazon SNS API Reference: CreateTopic, DeleteTopic,
// ListTopics, GetTopicAttributes, SetTopicAttributes, TagResource,
// UntagResource, ListTagsForResource).

// settableTopicAttrs are the attributes SetTopicAttributes accepts
// (FifoTopic only at creation).
var settableTopicAttrs = map[string]bool{
	"DisplayName": true, "Policy": true, "DeliveryPolicy": true, "KmsMasterKeyId": true, "SignatureVersion": true,
	"TracingConfig": true, "ContentBasedDeduplication": true, "FifoThroughputScope": true, "ArchivePolicy": true,
	"DataProtectionPolicy":       true,
	"HTTPSuccessFeedbackRoleArn": true, "HTTPFailureFeedbackRoleArn": true, "HTTPSuccessFeedbackSampleRate": true,
	"SQSSuccessFeedbackRoleArn": true, "SQSFailureFeedbackRoleArn": true, "SQSSuccessFeedbackSampleRate": true,
	"LambdaSuccessFeedbackRoleArn": true, "LambdaFailureFeedbackRoleArn": true, "LambdaSuccessFeedbackSampleRate": true,
	"ApplicationSuccessFeedbackRoleArn": true, "ApplicationFailureFeedbackRoleArn": true, "ApplicationSuccessFeedbackSampleRate": true,
	"FirehoseSuccessFeedbackRoleArn": true, "FirehoseFailureFeedbackRoleArn": true, "FirehoseSuccessFeedbackSampleRate": true,
}

const maxTags = 50

// lookupTopic resolves a TopicArn parameter: ARN shape, region, existence.
func (br *Bridge) lookupTopic(r *awsapi.Request, param, arn string) (*topic, error) {
	if arn == "" {
		return nil, invalidParam("%s Reason: no value for required parameter", param)
	}
	parts := arnParts(arn)
	if len(parts) < 6 {
		return nil, invalidParam("%s Reason: An ARN must have at least 6 elements, not %d", param, len(parts))
	}
	if parts[2] != "sns" || parts[3] != r.Region {
		return nil, invalidParam("%s", param)
	}
	br.mu.RLock()
	t := br.topics[arn]
	br.mu.RUnlock()
	if t == nil {
		return nil, errTopicNotFound
	}
	return t, nil
}

func validateTopicAttr(name, val string, fifo bool) error {
	switch name {
	case "SignatureVersion":
		if val != "1" && val != "2" {
			return invalidParam("Attributes Reason: SignatureVersion: Invalid value [%s]. Must be 1 or 2.", val)
		}
	case "ContentBasedDeduplication":
		if !fifo {
			return invalidParam("Attributes Reason: ContentBasedDeduplication: Content-based deduplication can only be set for FIFO topics")
		}
		if val != "true" && val != "false" {
			return invalidParam("Attributes Reason: ContentBasedDeduplication: Invalid value [%s]. Must be true or false.", val)
		}
	case "FifoThroughputScope":
		if !fifo {
			return invalidParam("Attributes Reason: FifoThroughputScope: Can only be set for FIFO topics")
		}
		if val != "Topic" && val != "MessageGroup" {
			return invalidParam("Attributes Reason: FifoThroughputScope: Invalid value [%s]. Please use either Topic or MessageGroup", val)
		}
	case "TracingConfig":
		if val != "PassThrough" && val != "Active" {
			return invalidParam("Attributes Reason: TracingConfig: Invalid value [%s]. Please use either PassThrough or Active", val)
		}
	case "DeliveryPolicy", "Policy", "DataProtectionPolicy", "ArchivePolicy":
		if val != "" && !json.Valid([]byte(val)) {
			return invalidParam("Attributes Reason: %s: failed to parse JSON", name)
		}
	}
	return nil
}

func (br *Bridge) createTopic(r *awsapi.Request) (any, error) {
	name := r.Form.Get("Name")
	attrs := attrMap(r.Form, "Attributes")
	fifo := strings.EqualFold(attrs["FifoTopic"], "true")
	if !validTopicName(name, fifo) || (!fifo && strings.HasSuffix(name, ".fifo")) {
		return nil, invalidParam("Topic Name")
	}
	delete(attrs, "FifoTopic")
	for k, v := range attrs {
		if !settableTopicAttrs[k] {
			return nil, invalidParam("Attributes Reason: Unknown attribute %s", k)
		}
		if err := validateTopicAttr(k, v, fifo); err != nil {
			return nil, err
		}
	}
	tags, tagKeys, err := readTags(r)
	if err != nil {
		return nil, err
	}
	arn := br.topicARN(r.Region, name)
	br.mu.Lock()
	defer br.mu.Unlock()
	if t, ok := br.topics[arn]; ok {
		for k, v := range attrs {
			if t.Attrs[k] != v {
				return nil, invalidParam("Attributes Reason: Topic already exists with different attributes")
			}
		}
		for k, v := range tags {
			if old, ok := t.Tags[k]; ok && old != v {
				return nil, invalidParam("Tags Reason: Topic already exists with different tags")
			}
		}
		if len(tags) > 0 {
			nt := t.clone()
			for _, k := range tagKeys {
				if _, ok := nt.Tags[k]; !ok {
					nt.TagKeys = append(nt.TagKeys, k)
				}
				nt.Tags[k] = tags[k]
			}
			if err := br.persistTopic(nt); err != nil {
				return nil, err
			}
			br.topics[arn] = nt
		}
		return newXML().elem("TopicArn", arn).result(), nil
	}
	t := &topic{ARN: arn, Name: name, Region: r.Region, FIFO: fifo, Attrs: attrs, Tags: tags, TagKeys: tagKeys}
	if err := br.persistTopic(t); err != nil {
		return nil, err
	}
	br.topics[arn] = t
	return newXML().elem("TopicArn", arn).result(), nil
}

func (br *Bridge) deleteTopic(r *awsapi.Request) (any, error) {
	t, err := br.lookupTopic(r, "TopicArn", r.Form.Get("TopicArn"))
	if err == errTopicNotFound {
		return nil, nil // DeleteTopic is idempotent
	}
	if err != nil {
		return nil, err
	}
	for _, s := range br.sortedSubs(t.ARN) {
		br.removeSub(s)
	}
	br.mu.Lock()
	delete(br.topics, t.ARN)
	br.mu.Unlock()
	return nil, br.meta.Delete(topicPrefix + t.ARN)
}

func (br *Bridge) listTopics(r *awsapi.Request) (any, error) {
	all := br.sortedTopics()
	start, err := pageStart(r.Form.Get("NextToken"), len(all))
	if err != nil {
		return nil, err
	}
	x := newXML().raw("<Topics>")
	end := min(start+100, len(all))
	for _, t := range all[start:end] {
		x.raw("<member>").elem("TopicArn", t.ARN).raw("</member>")
	}
	x.raw("</Topics>")
	if end < len(all) {
		x.elem("NextToken", pageToken(end))
	}
	return x.result(), nil
}

func pageToken(n int) string { return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(n))) }

func pageStart(tok string, n int) (int, error) {
	if tok == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, invalidParam("NextToken")
	}
	i, err := strconv.Atoi(string(raw))
	if err != nil || i < 0 {
		return 0, invalidParam("NextToken")
	}
	return min(i, n), nil
}

const defaultEffectiveDeliveryPolicy = `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}`

func (br *Bridge) defaultPolicy(arn string) string {
	return `{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{"Sid":"__default_statement_ID","Effect":"Allow","Principal":{"AWS":"*"},"Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission","SNS:RemovePermission","SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],"Resource":"` +
		arn + `","Condition":{"StringEquals":{"AWS:SourceOwner":"` + br.opts.AccountID + `"}}}]}`
}

func (br *Bridge) getTopicAttributes(r *awsapi.Request) (any, error) {
	t, err := br.lookupTopic(r, "TopicArn", r.Form.Get("TopicArn"))
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{
		"DisplayName":             "",
		"EffectiveDeliveryPolicy": defaultEffectiveDeliveryPolicy,
		"Owner":                   br.opts.AccountID,
		"Policy":                  br.defaultPolicy(t.ARN),
		"TopicArn":                t.ARN,
		"SubscriptionsDeleted":    "0",
	}
	if t.FIFO {
		attrs["FifoTopic"] = "true"
		attrs["ContentBasedDeduplication"] = "false"
	}
	for k, v := range t.Attrs {
		attrs[k] = v
	}
	if p := t.Attrs["DeliveryPolicy"]; p != "" {
		attrs["EffectiveDeliveryPolicy"] = p
	}
	confirmed, pending := 0, 0
	for _, s := range br.sortedSubs(t.ARN) {
		if s.Pending {
			pending++
		} else {
			confirmed++
		}
	}
	attrs["SubscriptionsConfirmed"] = strconv.Itoa(confirmed)
	attrs["SubscriptionsPending"] = strconv.Itoa(pending)
	return newXML().entries("Attributes", attrs).result(), nil
}

func (br *Bridge) setTopicAttributes(r *awsapi.Request) (any, error) {
	t, err := br.lookupTopic(r, "TopicArn", r.Form.Get("TopicArn"))
	if err != nil {
		return nil, err
	}
	name, val := r.Form.Get("AttributeName"), r.Form.Get("AttributeValue")
	if !settableTopicAttrs[name] {
		return nil, invalidParam("AttributeName")
	}
	if err := validateTopicAttr(name, val, t.FIFO); err != nil {
		return nil, invalidParam("%s", strings.TrimPrefix(err.(*awsapi.Error).Message, "Invalid parameter: Attributes Reason: "))
	}
	br.mu.Lock()
	defer br.mu.Unlock()
	nt := br.topics[t.ARN]
	if nt == nil {
		return nil, errTopicNotFound
	}
	nt = nt.clone()
	if val == "" {
		delete(nt.Attrs, name)
	} else {
		nt.Attrs[name] = val
	}
	if err := br.persistTopic(nt); err != nil {
		return nil, err
	}
	br.topics[t.ARN] = nt
	return nil, nil
}

// readTags reads Tags.member.N.Key/Value.
func readTags(r *awsapi.Request) (map[string]string, []string, error) {
	tags := map[string]string{}
	var keys []string
	for _, m := range members(r.Form, "Tags.member.") {
		k := m.Get("Key")
		if _, dup := tags[k]; dup {
			return nil, nil, invalidParam("Duplicated keys are not allowed.")
		}
		if k == "" || len(k) > 128 || len(m.Get("Value")) > 256 {
			return nil, nil, invalidParam("Tags")
		}
		tags[k] = m.Get("Value")
		keys = append(keys, k)
	}
	if len(tags) > maxTags {
		return nil, nil, &awsapi.Error{Status: 400, Code: "TagLimitExceeded", Type: "TagLimitExceededException",
			Message: "Could not complete request: tag quota of per resource exceeded"}
	}
	return tags, keys, nil
}

func (br *Bridge) tagTarget(r *awsapi.Request) (*topic, error) {
	arn := r.Form.Get("ResourceArn")
	parts := arnParts(arn)
	if len(parts) < 6 {
		return nil, invalidParam("ResourceArn Reason: An ARN must have at least 6 elements, not %d", len(parts))
	}
	br.mu.RLock()
	t := br.topics[arn]
	br.mu.RUnlock()
	if t == nil {
		return nil, errResNotFound
	}
	return t, nil
}

func (br *Bridge) tagResource(r *awsapi.Request) (any, error) {
	t, err := br.tagTarget(r)
	if err != nil {
		return nil, err
	}
	tags, keys, err := readTags(r)
	if err != nil {
		return nil, err
	}
	br.mu.Lock()
	defer br.mu.Unlock()
	nt := br.topics[t.ARN].clone()
	for _, k := range keys {
		if _, ok := nt.Tags[k]; !ok {
			nt.TagKeys = append(nt.TagKeys, k)
		}
		nt.Tags[k] = tags[k]
	}
	if len(nt.Tags) > maxTags {
		return nil, &awsapi.Error{Status: 400, Code: "TagLimitExceeded", Type: "TagLimitExceededException",
			Message: "Could not complete request: tag quota of per resource exceeded"}
	}
	if err := br.persistTopic(nt); err != nil {
		return nil, err
	}
	br.topics[t.ARN] = nt
	return awsapi.XMLResult{}, nil // the SDKs expect an empty TagResourceResult
}

func (br *Bridge) untagResource(r *awsapi.Request) (any, error) {
	t, err := br.tagTarget(r)
	if err != nil {
		return nil, err
	}
	br.mu.Lock()
	defer br.mu.Unlock()
	nt := br.topics[t.ARN].clone()
	for _, m := range members(r.Form, "TagKeys.member.") {
		k := m.Get("")
		delete(nt.Tags, k)
	}
	keys := nt.TagKeys[:0]
	for _, k := range nt.TagKeys {
		if _, ok := nt.Tags[k]; ok {
			keys = append(keys, k)
		}
	}
	nt.TagKeys = keys
	if err := br.persistTopic(nt); err != nil {
		return nil, err
	}
	br.topics[t.ARN] = nt
	return awsapi.XMLResult{}, nil
}

func (br *Bridge) listTagsForResource(r *awsapi.Request) (any, error) {
	t, err := br.tagTarget(r)
	if err != nil {
		return nil, err
	}
	x := newXML().raw("<Tags>")
	for _, k := range t.TagKeys {
		x.raw("<member>").elem("Key", k).elem("Value", t.Tags[k]).raw("</member>")
	}
	return x.raw("</Tags>").result(), nil
}
