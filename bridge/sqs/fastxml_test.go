package sqs

import (
	"bytes"
	"testing"

	"github.com/omnibroker/broker/bridge/awsapi"
)

// The same shapes without methods: the reflective encoder's input.
type (
	plainSendOut      sendOut
	plainSendBatchOut struct {
		Successful []plainSendOut
		Failed     []batchError
	}
	plainHandleBatchOut handleBatchOut
	plainReceiveOut     struct {
		Messages []messageOut `json:",omitempty"`
	}
)

func TestAppendXMLMatchesReflection(t *testing.T) {
	svc := &awsapi.Service{XMLRules: xmlRules, XMLNamespace: "http://queue.amazonaws.com/doc/2012-11-05/"}
	type pair struct {
		action     string
		fast, slow any
	}
	var cases []pair
	for _, s := range append(oddStrings, "a<b>&'\"\r\n\t\x01é") {
		so := sendOut{Id: s, MessageId: s, MD5OfMessageBody: s, MD5OfMessageAttributes: s, MD5OfMessageSystemAttributes: s, SequenceNumber: s}
		succ := []sendOut{{Id: "1", MessageId: s}, {Id: s, MessageId: "m", SequenceNumber: "01"}}
		failed := []batchError{{Id: s, SenderFault: true, Code: "C", Message: s}, {Id: "x"}}
		hb := handleBatchOut{Successful: []batchIDOut{{s}, {"2"}}, Failed: []batchError{{Id: "3", Code: s}}}
		msgs := []messageOut{{MessageId: s, ReceiptHandle: s, MD5OfBody: s, Body: s}, {Body: s, MD5OfMessageAttributes: s}}
		cases = append(cases,
			pair{"SendMessage", so, plainSendOut(so)},
			pair{"SendMessage", sendOut{MessageId: s}, plainSendOut{MessageId: s}},
			pair{"SendMessageBatch", sendBatchOut{Successful: succ, Failed: failed},
				plainSendBatchOut{Successful: []plainSendOut{plainSendOut(succ[0]), plainSendOut(succ[1])}, Failed: failed}},
			pair{"DeleteMessageBatch", hb, plainHandleBatchOut(hb)},
			pair{"ChangeMessageVisibilityBatch", hb, plainHandleBatchOut(hb)},
			pair{"ReceiveMessage", receiveOut{Messages: msgs}, plainReceiveOut{Messages: msgs}},
		)
	}
	cases = append(cases,
		pair{"SendMessageBatch", sendBatchOut{}, plainSendBatchOut{}},
		pair{"SendMessageBatch", sendBatchOut{Successful: []sendOut{}, Failed: []batchError{}}, plainSendBatchOut{Successful: []plainSendOut{}, Failed: []batchError{}}},
		pair{"DeleteMessageBatch", handleBatchOut{}, plainHandleBatchOut{}},
		pair{"ReceiveMessage", receiveOut{}, plainReceiveOut{}},
		pair{"ReceiveMessage", receiveOut{Messages: []messageOut{}}, plainReceiveOut{Messages: []messageOut{}}},
	)
	for _, c := range cases {
		if _, ok := c.fast.(awsapi.XMLAppender); !ok {
			t.Fatalf("%T is not an XMLAppender", c.fast)
		}
		got, err1 := awsapi.EncodeQueryResult(svc, c.action, "req", c.fast)
		want, err2 := awsapi.EncodeQueryResult(svc, c.action, "req", c.slow)
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%s %#v:\n got %s\nwant %s (%v %v)", c.action, c.fast, got, want, err1, err2)
		}
	}
	// Attributes (maps) take the reflective path, with the same result.
	withMap := receiveOut{Messages: []messageOut{{Body: "b", Attributes: map[string]string{"b": "1", "a": "2"}}}}
	if _, ok := withMap.AppendXML(nil, "ReceiveMessage"); ok {
		t.Error("a map member must fall back to reflection")
	}
	got, _ := awsapi.EncodeQueryResult(svc, "ReceiveMessage", "r", withMap)
	want, _ := awsapi.EncodeQueryResult(svc, "ReceiveMessage", "r", plainReceiveOut(withMap))
	if !bytes.Equal(got, want) {
		t.Errorf("fallback:\n got %s\nwant %s", got, want)
	}
}
