package sqs

import "github.com/omnibroker/broker/bridge/awsapi"

// Query (XML) results of the hot actions, written without reflection in
// the reflective encoder's exact form: members in name order, omitempty
// members left out, lists flattened under the names of xmlRules
// (TestAppendXMLMatchesReflection checks them against it).

func (o sendOut) appendXML(b []byte) []byte {
	if o.Id != "" {
		b = awsapi.AppendXMLElement(b, "Id", o.Id)
	}
	if o.MD5OfMessageAttributes != "" {
		b = awsapi.AppendXMLElement(b, "MD5OfMessageAttributes", o.MD5OfMessageAttributes)
	}
	b = awsapi.AppendXMLElement(b, "MD5OfMessageBody", o.MD5OfMessageBody)
	if o.MD5OfMessageSystemAttributes != "" {
		b = awsapi.AppendXMLElement(b, "MD5OfMessageSystemAttributes", o.MD5OfMessageSystemAttributes)
	}
	b = awsapi.AppendXMLElement(b, "MessageId", o.MessageId)
	if o.SequenceNumber != "" {
		b = awsapi.AppendXMLElement(b, "SequenceNumber", o.SequenceNumber)
	}
	return b
}

// AppendXML implements awsapi.XMLAppender.
func (o sendOut) AppendXML(b []byte, _ string) ([]byte, bool) { return o.appendXML(b), true }

func appendFailedXML(b []byte, fs []batchError) []byte {
	for _, f := range fs {
		b = append(b, "<BatchResultErrorEntry>"...)
		b = awsapi.AppendXMLElement(b, "Code", f.Code)
		b = awsapi.AppendXMLElement(b, "Id", f.Id)
		b = awsapi.AppendXMLElement(b, "Message", f.Message)
		if f.SenderFault {
			b = append(b, "<SenderFault>true</SenderFault>"...)
		} else {
			b = append(b, "<SenderFault>false</SenderFault>"...)
		}
		b = append(b, "</BatchResultErrorEntry>"...)
	}
	return b
}

// AppendXML implements awsapi.XMLAppender.
func (o sendBatchOut) AppendXML(b []byte, _ string) ([]byte, bool) {
	b = appendFailedXML(b, o.Failed)
	for i := range o.Successful {
		b = append(b, "<SendMessageBatchResultEntry>"...)
		b = o.Successful[i].appendXML(b)
		b = append(b, "</SendMessageBatchResultEntry>"...)
	}
	return b, true
}

// AppendXML implements awsapi.XMLAppender (DeleteMessageBatch and
// ChangeMessageVisibilityBatch).
func (o handleBatchOut) AppendXML(b []byte, action string) ([]byte, bool) {
	var entry string
	switch action {
	case "DeleteMessageBatch":
		entry = "DeleteMessageBatchResultEntry"
	case "ChangeMessageVisibilityBatch":
		entry = "ChangeMessageVisibilityBatchResultEntry"
	default:
		return b, false
	}
	b = appendFailedXML(b, o.Failed)
	for _, s := range o.Successful {
		b = append(b, '<')
		b = append(b, entry...)
		b = append(b, '>')
		b = awsapi.AppendXMLElement(b, "Id", s.Id)
		b = append(b, "</"...)
		b = append(b, entry...)
		b = append(b, '>')
	}
	return b, true
}

// AppendXML implements awsapi.XMLAppender for messages without system or
// message attributes (the others go through reflection).
func (o receiveOut) AppendXML(b []byte, _ string) ([]byte, bool) {
	for i := range o.Messages {
		m := &o.Messages[i]
		if len(m.Attributes) > 0 || len(m.MessageAttributes) > 0 {
			return b, false
		}
		b = append(b, "<Message>"...)
		b = awsapi.AppendXMLElement(b, "Body", m.Body)
		b = awsapi.AppendXMLElement(b, "MD5OfBody", m.MD5OfBody)
		if m.MD5OfMessageAttributes != "" {
			b = awsapi.AppendXMLElement(b, "MD5OfMessageAttributes", m.MD5OfMessageAttributes)
		}
		b = awsapi.AppendXMLElement(b, "MessageId", m.MessageId)
		b = awsapi.AppendXMLElement(b, "ReceiptHandle", m.ReceiptHandle)
		b = append(b, "</Message>"...)
	}
	return b, true
}
