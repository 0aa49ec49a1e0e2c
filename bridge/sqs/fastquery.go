package sqs

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/omnibroker/broker/bridge/awsapi"
)

// Direct Query-protocol decoders of the hot actions' requests (see
// awsapi.FastQuery). They read the parameters the SDKs and the CLI send
// for plain messages; anything else (message attributes, attribute name
// lists, unknown parameters, a gap in a batch list...) makes
// awsapi.Request.Decode take the general QueryTree path, so results and
// errors stay the same.

// queryValue returns a parameter's value as the QueryTree path reads it
// (the first), and whether the parameter is one the tree skips. ok is
// false for text that is not UTF-8 (the tree path's JSON replaces it).
func queryValue(k string, vs []string) (v string, skip, ok bool) {
	if k == "Action" || k == "Version" || strings.HasPrefix(k, "X-Amz-") || len(vs) == 0 {
		return "", true, true
	}
	return vs[0], false, utf8.ValidString(k) && utf8.ValidString(vs[0])
}

// queryEntry splits "<prefix>.N.Field" into N (1 to maxBatch, written
// canonically) and Field.
func queryEntry(k, prefix string) (int, string, bool) {
	rest, ok := strings.CutPrefix(k, prefix)
	if !ok {
		return 0, "", false
	}
	num, field, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > maxBatch || strconv.Itoa(n) != num {
		return 0, "", false
	}
	return n, field, true
}

// queryEntries sets *dst to entries[:n] when entries 1..n (and no other)
// were set.
func queryEntries[T any](dst *[]T, entries *[maxBatch]T, used *[maxBatch]bool) bool {
	n := 0
	for n < maxBatch && used[n] {
		n++
	}
	for i := n; i < maxBatch; i++ {
		if used[i] {
			return false
		}
	}
	if n > 0 {
		*dst = append([]T(nil), entries[:n]...)
	}
	return true
}

// sendField sets one SendMessage(Batch) member from its Query value.
func (in *sendIn) sendField(field, v string) bool {
	switch field {
	case "Id":
		in.Id = v
	case "MessageBody":
		in.MessageBody = &v
	case "DelaySeconds":
		return in.DelaySeconds.SetString(v) == nil
	case "MessageGroupId":
		in.MessageGroupId = &v
	case "MessageDeduplicationId":
		in.MessageDeduplicationId = &v
	default:
		return false
	}
	return true
}

// DecodeFastQuery implements awsapi.FastQuery.
func (in *sendIn) DecodeFastQuery(form url.Values) bool {
	var entries [maxBatch]sendIn
	var used [maxBatch]bool
	batch := false
	for k, vs := range form {
		v, skip, ok := queryValue(k, vs)
		switch {
		case !ok:
			return false
		case skip:
		case k == "QueueUrl":
			in.QueueUrl = v
		case k == "Id":
			return false
		case strings.HasPrefix(k, "SendMessageBatchRequestEntry."):
			n, field, ok := queryEntry(k, "SendMessageBatchRequestEntry.")
			if !ok || field == "QueueUrl" || !entries[n-1].sendField(field, v) {
				return false
			}
			used[n-1], batch = true, true
		default:
			if !in.sendField(k, v) {
				return false
			}
		}
	}
	return !batch || queryEntries(&in.Entries, &entries, &used)
}

// DecodeFastQuery implements awsapi.FastQuery.
func (in *handleIn) DecodeFastQuery(form url.Values) bool {
	var entries [maxBatch]handleIn
	var used [maxBatch]bool
	batch, list := false, ""
	for k, vs := range form {
		v, skip, ok := queryValue(k, vs)
		if !ok {
			return false
		}
		if skip {
			continue
		}
		var e *handleIn
		field := k
		if prefix := batchPrefix(k); prefix != "" {
			n, f, ok := queryEntry(k, prefix)
			if !ok || f == "QueueUrl" || list != "" && list != prefix {
				return false
			}
			list = prefix
			e, field = &entries[n-1], f
			used[n-1], batch = true, true
		} else {
			e = in
			if k == "Id" {
				return false
			}
		}
		switch field {
		case "QueueUrl":
			in.QueueUrl = v
		case "Id":
			e.Id = v
		case "ReceiptHandle":
			e.ReceiptHandle = &v
		case "VisibilityTimeout":
			if e.VisibilityTimeout.SetString(v) != nil {
				return false
			}
		default:
			return false
		}
	}
	return !batch || queryEntries(&in.Entries, &entries, &used)
}

// batchPrefix returns the list prefix of a batch entry parameter of the
// handle actions ("" for others).
func batchPrefix(k string) string {
	for _, p := range [...]string{"DeleteMessageBatchRequestEntry.", "ChangeMessageVisibilityBatchRequestEntry."} {
		if strings.HasPrefix(k, p) {
			return p
		}
	}
	return ""
}

// DecodeFastQuery implements awsapi.FastQuery.
func (in *receiveIn) DecodeFastQuery(form url.Values) bool {
	for k, vs := range form {
		v, skip, ok := queryValue(k, vs)
		if !ok {
			return false
		}
		if skip {
			continue
		}
		var n *awsapi.Int
		switch k {
		case "QueueUrl":
			in.QueueUrl = v
			continue
		case "ReceiveRequestAttemptId":
			in.ReceiveRequestAttemptId = v
			continue
		case "MaxNumberOfMessages":
			n = &in.MaxNumberOfMessages
		case "VisibilityTimeout":
			n = &in.VisibilityTimeout
		case "WaitTimeSeconds":
			n = &in.WaitTimeSeconds
		default:
			return false // attribute name lists and the rest: QueryTree
		}
		if n.SetString(v) != nil {
			return false
		}
	}
	return true
}
