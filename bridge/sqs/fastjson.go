package sqs

import "github.com/omnibroker/broker/bridge/awsapi"

// Reflection-free decoders of the hot actions' JSON bodies (SendMessage,
// SendMessageBatch, ReceiveMessage, DeleteMessage(Batch),
// ChangeMessageVisibility(Batch)). They accept the members aws-sdk-go-v2
// and the other SDKs send, spelled exactly; anything else (message
// attributes, null, unknown members...) makes awsapi.Request.Decode fall
// back to encoding/json, so results and errors stay the same.

// once marks member bit in seen; a repeated member falls back (encoding/json
// merges repeats in ways not worth copying).
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// DecodeFastJSON implements awsapi.FastJSON.
func (in *sendIn) DecodeFastJSON(sc *awsapi.JSONScanner) bool {
	var seen uint32
	return sc.Object(func(sc *awsapi.JSONScanner, name []byte) bool {
		var ok bool
		switch string(name) {
		case "QueueUrl":
			if !once(&seen, 1) {
				return false
			}
			in.QueueUrl, ok = sc.String()
		case "Id":
			if !once(&seen, 2) {
				return false
			}
			in.Id, ok = sc.String()
		case "MessageBody":
			if !once(&seen, 4) {
				return false
			}
			in.MessageBody, ok = sc.StringPtr()
		case "DelaySeconds":
			if !once(&seen, 8) {
				return false
			}
			ok = sc.Int(&in.DelaySeconds)
		case "MessageGroupId":
			if !once(&seen, 16) {
				return false
			}
			in.MessageGroupId, ok = sc.StringPtr()
		case "MessageDeduplicationId":
			if !once(&seen, 32) {
				return false
			}
			in.MessageDeduplicationId, ok = sc.StringPtr()
		case "Entries":
			if !once(&seen, 64) {
				return false
			}
			var empty bool
			empty, ok = sc.Array(func(sc *awsapi.JSONScanner) bool {
				if in.Entries == nil {
					in.Entries = make([]sendIn, 0, maxBatch) // one allocation for a full batch
				}
				in.Entries = append(in.Entries, sendIn{})
				return in.Entries[len(in.Entries)-1].DecodeFastJSON(sc)
			})
			if empty {
				in.Entries = []sendIn{}
			}
		}
		return ok
	})
}

// DecodeFastJSON implements awsapi.FastJSON.
func (in *handleIn) DecodeFastJSON(sc *awsapi.JSONScanner) bool {
	var seen uint32
	return sc.Object(func(sc *awsapi.JSONScanner, name []byte) bool {
		var ok bool
		switch string(name) {
		case "QueueUrl":
			if !once(&seen, 1) {
				return false
			}
			in.QueueUrl, ok = sc.String()
		case "Id":
			if !once(&seen, 2) {
				return false
			}
			in.Id, ok = sc.String()
		case "ReceiptHandle":
			if !once(&seen, 4) {
				return false
			}
			in.ReceiptHandle, ok = sc.StringPtr()
		case "VisibilityTimeout":
			if !once(&seen, 8) {
				return false
			}
			ok = sc.Int(&in.VisibilityTimeout)
		case "Entries":
			if !once(&seen, 16) {
				return false
			}
			var empty bool
			empty, ok = sc.Array(func(sc *awsapi.JSONScanner) bool {
				if in.Entries == nil {
					in.Entries = make([]handleIn, 0, maxBatch) // one allocation for a full batch
				}
				in.Entries = append(in.Entries, handleIn{})
				return in.Entries[len(in.Entries)-1].DecodeFastJSON(sc)
			})
			if empty {
				in.Entries = []handleIn{}
			}
		}
		return ok
	})
}

// DecodeFastJSON implements awsapi.FastJSON.
func (in *receiveIn) DecodeFastJSON(sc *awsapi.JSONScanner) bool {
	var seen uint32
	return sc.Object(func(sc *awsapi.JSONScanner, name []byte) bool {
		var ok bool
		switch string(name) {
		case "QueueUrl":
			if !once(&seen, 1) {
				return false
			}
			in.QueueUrl, ok = sc.String()
		case "AttributeNames":
			if !once(&seen, 2) {
				return false
			}
			in.AttributeNames, ok = sc.Strings()
		case "MessageSystemAttributeNames":
			if !once(&seen, 4) {
				return false
			}
			in.MessageSystemAttributeNames, ok = sc.Strings()
		case "MessageAttributeNames":
			if !once(&seen, 8) {
				return false
			}
			in.MessageAttributeNames, ok = sc.Strings()
		case "MaxNumberOfMessages":
			if !once(&seen, 16) {
				return false
			}
			ok = sc.Int(&in.MaxNumberOfMessages)
		case "VisibilityTimeout":
			if !once(&seen, 32) {
				return false
			}
			ok = sc.Int(&in.VisibilityTimeout)
		case "WaitTimeSeconds":
			if !once(&seen, 64) {
				return false
			}
			ok = sc.Int(&in.WaitTimeSeconds)
		case "ReceiveRequestAttemptId":
			if !once(&seen, 128) {
				return false
			}
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
