package sqs

import "github.com/omnibroker/broker/bridge/awsapi"

// Reflection-free decoders of the hot actions' JSON bodies (SendMessage,
// SendMessageBatch, ReceiveMessage, DeleteMessage(Batch),
// ChangeMessageVisibility(Batch)). They accept the members aws-sdk-go-v2
// and the other SDKs send, spelled exactly; anything else (message
// attributes, null, unknown members...) makes awsapi.Request.Decode fall
// back to encoding/json, so results and errors stay the same.

// firstMember marks name in seen by its index in members. An unknown member
// or a repeated one falls back (encoding/json merges repeats in ways not
// worth copying).
func firstMember(seen *uint32, members []string, name []byte) bool {
	for i, m := range members {
		if string(name) == m {
			if *seen&(1<<i) != 0 {
				return false
			}
			*seen |= 1 << i
			return true
		}
	}
	return false
}

// decodeEntries fills a batch's Entries, with one allocation for a full batch.
func decodeEntries[T any, PT interface {
	*T
	DecodeFastJSON(*awsapi.JSONScanner) bool
}](sc *awsapi.JSONScanner, entries *[]T) bool {
	empty, ok := sc.Array(func(sc *awsapi.JSONScanner) bool {
		if *entries == nil {
			*entries = make([]T, 0, maxBatch)
		}
		var zero T
		*entries = append(*entries, zero)
		return PT(&(*entries)[len(*entries)-1]).DecodeFastJSON(sc)
	})
	if empty {
		*entries = []T{}
	}
	return ok
}

var (
	sendMembers    = []string{"QueueUrl", "Id", "MessageBody", "DelaySeconds", "MessageGroupId", "MessageDeduplicationId", "Entries"}
	handleMembers  = []string{"QueueUrl", "Id", "ReceiptHandle", "VisibilityTimeout", "Entries"}
	receiveMembers = []string{"QueueUrl", "AttributeNames", "MessageSystemAttributeNames", "MessageAttributeNames", "MaxNumberOfMessages", "VisibilityTimeout", "WaitTimeSeconds", "ReceiveRequestAttemptId"}
)

// DecodeFastJSON implements awsapi.FastJSON.
func (in *sendIn) DecodeFastJSON(sc *awsapi.JSONScanner) bool {
	var seen uint32
	return sc.Object(func(sc *awsapi.JSONScanner, name []byte) bool {
		if !firstMember(&seen, sendMembers, name) {
			return false
		}
		var ok bool
		switch string(name) {
		case "QueueUrl":
			in.QueueUrl, ok = sc.String()
		case "Id":
			// Entry ids and bodies share the request's bytes (see
			// prepare): they live no longer than the request or the
			// message, which holds those bytes anyway.
			in.Id, ok = sc.View()
		case "MessageBody":
			in.body, ok = sc.View()
			in.MessageBody = &in.body
		case "DelaySeconds":
			ok = sc.Int(&in.DelaySeconds)
		case "MessageGroupId":
			in.MessageGroupId, ok = sc.StringPtr()
		case "MessageDeduplicationId":
			in.MessageDeduplicationId, ok = sc.StringPtr()
		case "Entries":
			ok = decodeEntries(sc, &in.Entries)
		}
		return ok
	})
}

// DecodeFastJSON implements awsapi.FastJSON.
func (in *handleIn) DecodeFastJSON(sc *awsapi.JSONScanner) bool {
	var seen uint32
	return sc.Object(func(sc *awsapi.JSONScanner, name []byte) bool {
		if !firstMember(&seen, handleMembers, name) {
			return false
		}
		var ok bool
		switch string(name) {
		case "QueueUrl":
			in.QueueUrl, ok = sc.String()
		case "Id":
			// Entry ids and handles share the request's bytes: they
			// are not kept after the request.
			in.Id, ok = sc.View()
		case "ReceiptHandle":
			in.handle, ok = sc.View()
			in.ReceiptHandle = &in.handle
		case "VisibilityTimeout":
			ok = sc.Int(&in.VisibilityTimeout)
		case "Entries":
			ok = decodeEntries(sc, &in.Entries)
		}
		return ok
	})
}

// DecodeFastJSON implements awsapi.FastJSON.
func (in *receiveIn) DecodeFastJSON(sc *awsapi.JSONScanner) bool {
	var seen uint32
	return sc.Object(func(sc *awsapi.JSONScanner, name []byte) bool {
		if !firstMember(&seen, receiveMembers, name) {
			return false
		}
		var ok bool
		switch string(name) {
		case "QueueUrl":
			in.QueueUrl, ok = sc.String()
		case "AttributeNames":
			in.AttributeNames, ok = sc.Strings()
		case "MessageSystemAttributeNames":
			in.MessageSystemAttributeNames, ok = sc.Strings()
		case "MessageAttributeNames":
			in.MessageAttributeNames, ok = sc.Strings()
		case "MaxNumberOfMessages":
			ok = sc.Int(&in.MaxNumberOfMessages)
		case "VisibilityTimeout":
			ok = sc.Int(&in.VisibilityTimeout)
		case "WaitTimeSeconds":
			ok = sc.Int(&in.WaitTimeSeconds)
		case "ReceiveRequestAttemptId":
			in.ReceiveRequestAttemptId, ok = sc.String()
		}
		return ok
	})
}

// The results below encode themselves as encoding/json would (member
// order = field order, omitempty, nil slice = null); a map member makes
// them fall back to encoding/json (awsapi.JSONAppender).

func (o sendOut) appendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	if o.Id != "" {
		b = awsapi.AppendJSONMember(b, true, "Id", o.Id)
		first = false
	}
	b = awsapi.AppendJSONMember(b, first, "MessageId", o.MessageId)
	b = awsapi.AppendJSONMember(b, false, "MD5OfMessageBody", o.MD5OfMessageBody)
	if o.MD5OfMessageAttributes != "" {
		b = awsapi.AppendJSONMember(b, false, "MD5OfMessageAttributes", o.MD5OfMessageAttributes)
	}
	if o.MD5OfMessageSystemAttributes != "" {
		b = awsapi.AppendJSONMember(b, false, "MD5OfMessageSystemAttributes", o.MD5OfMessageSystemAttributes)
	}
	if o.SequenceNumber != "" {
		b = awsapi.AppendJSONMember(b, false, "SequenceNumber", o.SequenceNumber)
	}
	return append(b, '}')
}

// AppendJSON implements awsapi.JSONAppender.
func (o sendOut) AppendJSON(b []byte) ([]byte, bool) { return o.appendJSON(b), true }

func appendFailed(b []byte, fs []batchError) []byte {
	b = append(b, `,"Failed":`...)
	if fs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = awsapi.AppendJSONMember(append(b, '{'), true, "Id", f.Id)
		if f.SenderFault {
			b = append(b, `,"SenderFault":true`...)
		} else {
			b = append(b, `,"SenderFault":false`...)
		}
		b = awsapi.AppendJSONMember(b, false, "Code", f.Code)
		b = awsapi.AppendJSONMember(b, false, "Message", f.Message)
		b = append(b, '}')
	}
	return append(b, ']')
}

// AppendJSON implements awsapi.JSONAppender.
func (o sendBatchOut) AppendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"Successful":`...)
	if o.Successful == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range o.Successful {
			if i > 0 {
				b = append(b, ',')
			}
			b = o.Successful[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	return append(appendFailed(b, o.Failed), '}'), true
}

// AppendJSON implements awsapi.JSONAppender.
func (o handleBatchOut) AppendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"Successful":`...)
	if o.Successful == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range o.Successful {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(awsapi.AppendJSONMember(append(b, '{'), true, "Id", s.Id), '}')
		}
		b = append(b, ']')
	}
	return append(appendFailed(b, o.Failed), '}'), true
}

// AppendJSON implements awsapi.JSONAppender.
func (o receiveOut) AppendJSON(b []byte) ([]byte, bool) {
	if len(o.Messages) == 0 {
		return append(b, "{}"...), true
	}
	b = append(b, `{"Messages":[`...)
	for i := range o.Messages {
		m := &o.Messages[i]
		if len(m.Attributes) > 0 || len(m.MessageAttributes) > 0 {
			return b, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = awsapi.AppendJSONMember(append(b, '{'), true, "MessageId", m.MessageId)
		b = awsapi.AppendJSONMember(b, false, "ReceiptHandle", m.ReceiptHandle)
		b = awsapi.AppendJSONMember(b, false, "MD5OfBody", m.MD5OfBody)
		b = awsapi.AppendJSONMember(b, false, "Body", m.Body)
		if m.MD5OfMessageAttributes != "" {
			b = awsapi.AppendJSONMember(b, false, "MD5OfMessageAttributes", m.MD5OfMessageAttributes)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), true
}
