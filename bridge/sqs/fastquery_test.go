package sqs

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/omnibroker/broker/bridge/awsapi"
)

// slowQuery decodes form as awsapi.Request.Decode does without a fast path.
func slowQuery(form url.Values, v any) error {
	b, err := json.Marshal(awsapi.QueryTree(form, queryRules))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func checkFastQuery[T any, PT interface {
	*T
	awsapi.FastQuery
}](t *testing.T, raw string) (fast bool) {
	t.Helper()
	form, err := url.ParseQuery(raw)
	if err != nil {
		return false
	}
	var f, s T
	if !PT(&f).DecodeFastQuery(form) {
		return false
	}
	if err := slowQuery(form, &s); err != nil {
		t.Fatalf("%s: fast path accepted what the tree path refuses: %v", raw, err)
	}
	if !reflect.DeepEqual(f, s) {
		t.Fatalf("%s:\nfast %+v\nslow %+v", raw, f, s)
	}
	return true
}

var fastQueryCases = []struct {
	raw  string
	fast bool
}{
	{"Action=SendMessage&Version=2012-11-05&QueueUrl=http%3A%2F%2Fh%2F0%2Fq&MessageBody=hi&DelaySeconds=5", true},
	{"Action=SendMessageBatch&QueueUrl=u&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=y&SendMessageBatchRequestEntry.2.MessageGroupId=g&SendMessageBatchRequestEntry.2.MessageDeduplicationId=d", true},
	{"QueueUrl=u&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.3.Id=c", false},        // gap
	{"QueueUrl=u&SendMessageBatchRequestEntry.01.Id=a", false},                                           // odd index
	{"QueueUrl=u&SendMessageBatchRequestEntry.11.Id=a", false},                                           // too many: the tree path refuses it
	{"QueueUrl=u&MessageBody=x&MessageAttribute.1.Name=n&MessageAttribute.1.Value.StringValue=v", false}, // attributes
	{"QueueUrl=u&MessageBody=x&DelaySeconds=abc", false},                                                 // bad number: the tree path's error
	{"QueueUrl=u&MessageBody=x&X-Amz-Date=20260101T000000Z", true},
	{"Action=DeleteMessageBatch&QueueUrl=u&DeleteMessageBatchRequestEntry.1.Id=1&DeleteMessageBatchRequestEntry.1.ReceiptHandle=h1&DeleteMessageBatchRequestEntry.2.Id=2&DeleteMessageBatchRequestEntry.2.ReceiptHandle=h2", true},
	{"QueueUrl=u&ChangeMessageVisibilityBatchRequestEntry.1.Id=1&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=h&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=30", true},
	{"QueueUrl=u&DeleteMessageBatchRequestEntry.1.Id=1&ChangeMessageVisibilityBatchRequestEntry.2.Id=2", false}, // mixed lists
	{"QueueUrl=u&ReceiptHandle=h&VisibilityTimeout=12", true},
	{"QueueUrl=u&MaxNumberOfMessages=10&WaitTimeSeconds=20&VisibilityTimeout=0&ReceiveRequestAttemptId=a", true},
	{"QueueUrl=u&AttributeName.1=All", false},
}

func TestFastQueryMatchesQueryTree(t *testing.T) {
	for _, c := range fastQueryCases {
		got := checkFastQuery[sendIn](t, c.raw) || checkFastQuery[handleIn](t, c.raw) || checkFastQuery[receiveIn](t, c.raw)
		if got != c.fast {
			t.Errorf("%s: fast path taken %v, want %v", c.raw, got, c.fast)
		}
	}
}

func FuzzFastQuery(f *testing.F) {
	for _, c := range fastQueryCases {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		checkFastQuery[sendIn](t, raw)
		checkFastQuery[handleIn](t, raw)
		checkFastQuery[receiveIn](t, raw)
	})
}

func encodeHandle(queue string, lease uint64, msgID string) string {
	return string(appendHandle(nil, queue, lease, msgID))
}

// decodeHandle decodes h into strings of its own.
func decodeHandle(h string) (handle, bool) {
	var buf [768]byte
	hd, ok := decodeHandleIn(h, &buf)
	hd.queue, hd.msgID = strings.Clone(hd.queue), strings.Clone(hd.msgID)
	return hd, ok
}

// Handles rendered back to back into one buffer (as a receive does) each
// decode to their own lease, and fit the length handleLen promises.
func TestAppendHandles(t *testing.T) {
	var b []byte
	var ends []int
	leases := []uint64{1, 99, 1<<64 - 1}
	for _, l := range leases {
		b = appendHandle(b, "orders-1", l, "5b7c8e2a-0000-4000-8000-000000000001")
		ends = append(ends, len(b))
	}
	if max := len(leases) * handleLen(len("orders-1"), 36); len(b) > max {
		t.Fatalf("%d bytes, handleLen promises at most %d", len(b), max)
	}
	start := 0
	for i, end := range ends {
		got, ok := decodeHandle(string(b[start:end]))
		if !ok || got.lease != leases[i] || got.queue != "orders-1" {
			t.Fatalf("handle %d: %+v %v", i, got, ok)
		}
		start = end
	}
}

func TestReceiptHandleRoundTrip(t *testing.T) {
	h := encodeHandle("orders-1", 1234567, "5b7c8e2a-0000-4000-8000-000000000001")
	got, ok := decodeHandle(h)
	if !ok || got != (handle{queue: "orders-1", lease: 1234567, msgID: "5b7c8e2a-0000-4000-8000-000000000001"}) {
		t.Fatalf("decoded %+v %v", got, ok)
	}
	for _, bad := range []string{"", "!!", h + "=",
		base64.RawURLEncoding.EncodeToString([]byte("v1 " + epoch + " q 0 id")),
		base64.RawURLEncoding.EncodeToString([]byte("v1 " + epoch + " q 1 id extra")),
		base64.RawURLEncoding.EncodeToString([]byte("v2 " + epoch + " q 1 id")),
		strings.Repeat("A", 1025)} {
		if _, ok := decodeHandle(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	if got, ok := decodeHandle(base64.RawURLEncoding.EncodeToString([]byte("v1 other q 7 id"))); !ok || got.lease != 0 {
		t.Errorf("handle of an earlier process: %+v %v", got, ok)
	}
}
