package sqs

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

func str(s string) *string { return &s }

// Golden digests recorded from AWS (shared/aws-snapshots/sqs.snapshot.json).
func TestMD5Golden(t *testing.T) {
	for _, c := range []struct {
		attrs map[string]msgAttr
		want  string
	}{
		{map[string]msgAttr{"Foo": {DataType: "String", StringValue: str("Bar")}}, "ae7155c6026991b6d54b11589678bf9c"},
		{map[string]msgAttr{"attr1": {DataType: "Binary", BinaryValue: []byte("traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01")}}, "8cbe4db156db8a94db8b801b7addb984"},
		{nil, ""},
	} {
		if got := md5OfAttrs(c.attrs); got != c.want {
			t.Errorf("md5 %v = %s, want %s", c.attrs, got, c.want)
		}
	}
	if got := md5Hex([]byte("msg")); got != "6e2baaf3b97dbeef01c0043275f9a0e7" {
		t.Errorf("body md5 %s", got)
	}
}

func TestReasonFor(t *testing.T) {
	for _, c := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("x: %w", core.ErrTooLarge), "InvalidParameterValue"},
		{fmt.Errorf("x: %w", core.ErrNotFound), "AWS.SimpleQueueService.NonExistentQueue"},
		{fmt.Errorf("x: %w", core.ErrQuotaExceeded), "OverLimit"},
		{fmt.Errorf("x: %w", core.ErrUnavailable), "ServiceUnavailable"},
		{fmt.Errorf("x: %w", core.ErrAccessDenied), "AccessDenied"},
		{fmt.Errorf("x: %w", core.ErrInvalidArg), "InvalidParameterValue"},
		{errors.New("other"), ""},
	} {
		got := reasonFor(c.err)
		if (got == nil && c.code != "") || (got != nil && got.Code != c.code) {
			t.Errorf("reasonFor(%v) = %v, want %s", c.err, got, c.code)
		}
	}
}

func TestHeadersRoundTrip(t *testing.T) {
	in := map[string]msgAttr{
		"s": {DataType: "String", StringValue: str("v")}, "n": {DataType: "Number", StringValue: str("1.50")},
		"b": {DataType: "Binary", BinaryValue: []byte{0}}, "c": {DataType: "Binary.png", BinaryValue: []byte{1}},
		"u": {DataType: "String.url", StringValue: str("http://x")}, "reply-to": {DataType: "String", StringValue: str("q")},
	}
	m := &core.Message{}
	toHeaders(m, in)
	if m.Props.ReplyTo != "q" {
		t.Fatalf("reply-to not mapped: %+v", m.Props)
	}
	// Through the core's own table codec, as a stored message would be.
	h, err := core.DecodeTable(core.EncodeTable(m.Props.Headers))
	if err != nil {
		t.Fatal(err)
	}
	m.Props.Headers = h
	out := fromHeaders(m)
	if md5OfAttrs(out) != md5OfAttrs(in) {
		a, _ := json.Marshal(out)
		t.Fatalf("round trip changed attributes: %s", a)
	}
	if sel := selectAttrs(out, []string{"s", "n"}); len(sel) != 2 {
		t.Fatalf("select exact: %v", sel)
	}
}

func TestHandles(t *testing.T) {
	h := encodeHandle("q.fifo", 42, "id-1")
	got, ok := decodeHandle(h)
	if !ok || got != (handle{"q.fifo", 42, "id-1"}) {
		t.Fatalf("decode(%s) = %+v %v", h, got, ok)
	}
	old := base64.RawURLEncoding.EncodeToString([]byte("v1 oldepoch q 42 m"))
	if got, ok := decodeHandle(old); !ok || got.lease != 0 || got.queue != "q" {
		t.Fatalf("handle of an earlier run: %+v %v", got, ok)
	}
	for _, bad := range []string{"", "x", encodeHandle("q", 0, "m"), "djEgcSAxIG0gZXh0cmE"} {
		if _, ok := decodeHandle(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzDecodeHandle(f *testing.F) {
	f.Add(encodeHandle("q", 1, "m"))
	f.Add("djEgcSAxIG0")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, ok := decodeHandle(s)
		if ok && h.queue == "" {
			t.Fatalf("accepted an invalid handle %q: %+v", s, h)
		}
	})
}

func FuzzValidateAttrs(f *testing.F) {
	f.Add("n", "Number", "1e5", []byte(nil))
	f.Add("AWS.x", "String", "v", []byte(nil))
	f.Add("b", "Binary.x", "", []byte{1})
	f.Add("a..b", "Strin", "", []byte{})
	f.Fuzz(func(t *testing.T, name, dt, sv string, bv []byte) {
		a := msgAttr{DataType: dt, BinaryValue: bv}
		if sv != "" {
			a.StringValue = &sv
		}
		attrs := map[string]msgAttr{name: a}
		if _, err := validateAttrs(attrs); err != nil {
			return
		}
		m := &core.Message{}
		toHeaders(m, attrs)
		h, err := core.DecodeTable(core.EncodeTable(m.Props.Headers))
		if err != nil {
			t.Fatal(err)
		}
		m.Props.Headers = h
		if got := fromHeaders(m); md5OfAttrs(got) != md5OfAttrs(attrs) {
			t.Fatalf("valid attribute did not round-trip: %+v -> %+v", attrs, got)
		}
	})
}

func newServer(t testing.TB) (*awsapi.Server, *core.Broker) {
	b, err := core.Open(core.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv := awsapi.NewServer(awsapi.Options{Auth: b, Region: "us-east-1", AccountID: "000000000000"})
	s := New(b, Options{Region: "us-east-1", AccountID: "000000000000"})
	s.Register(srv)
	t.Cleanup(func() { s.Close(nil) })
	for _, q := range []core.QueueConfig{{Name: "q", Durable: true}, {Name: "f.fifo", Durable: true, FIFO: true, DedupWindow: dedupWindow}} {
		if _, err := b.DeclareQueue(q); err != nil {
			t.Fatal(err)
		}
	}
	return srv, b
}

func call(srv http.Handler, json bool, action, body string) *httptest.ResponseRecorder {
	var req *http.Request
	if json {
		req = httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	} else {
		req = httptest.NewRequest("POST", "/", strings.NewReader("Action="+action+"&"+body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

// Error shapes recorded from AWS, through both protocols.
func TestSnapshotErrors(t *testing.T) {
	srv, _ := newServer(t)
	q := url.QueryEscape("http://h/000000000000/q")
	f := url.QueryEscape("http://h/000000000000/f.fifo")
	for _, c := range []struct {
		action, json, query, code, msg string
	}{
		{"ReceiveMessage", `{"QueueUrl":"http://h/000000000000/q","MaxNumberOfMessages":11}`, "QueueUrl=" + q + "&MaxNumberOfMessages=11",
			"InvalidParameterValue", "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."},
		{"ReceiveMessage", `{"QueueUrl":"http://h/000000000000/q","WaitTimeSeconds":-1}`, "QueueUrl=" + q + "&WaitTimeSeconds=-1",
			"InvalidParameterValue", "Value -1 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."},
		{"SendMessage", `{"QueueUrl":"http://h/000000000000/q"}`, "QueueUrl=" + q,
			"MissingParameter", "The request must contain the parameter MessageBody."},
		{"SendMessage", `{"QueueUrl":"http://h/000000000000/f.fifo","MessageBody":"x","MessageGroupId":"g","MessageDeduplicationId":"d","DelaySeconds":2}`,
			"QueueUrl=" + f + "&MessageBody=x&MessageGroupId=g&MessageDeduplicationId=d&DelaySeconds=2",
			"InvalidParameterValue", "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."},
		{"SendMessage", `{"QueueUrl":"http://h/000000000000/q","MessageBody":"x","MessageAttributes":{"ErrorDetails":{"DataType":"String","StringValue":""}}}`,
			"QueueUrl=" + q + "&MessageBody=x&MessageAttribute.1.Name=ErrorDetails&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=",
			"InvalidParameterValue", "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'."},
		{"SendMessage", `{"QueueUrl":"http://h/000000000000/q","MessageBody":"x","MessageGroupId":"group 123"}`,
			"QueueUrl=" + q + "&MessageBody=x&MessageGroupId=group+123",
			"InvalidParameterValue", "Value group 123 for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length."},
		{"SendMessageBatch", `{"QueueUrl":"http://h/000000000000/f.fifo","Entries":[{"Id":"1","MessageBody":"x","MessageGroupId":"g"}]}`,
			"QueueUrl=" + f + "&SendMessageBatchRequestEntry.1.Id=1&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.MessageGroupId=g",
			"InvalidParameterValue", "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"},
		{"SendMessageBatch", `{"QueueUrl":"http://h/000000000000/q","Entries":[{"Id":"a.b","MessageBody":"x"}]}`,
			"QueueUrl=" + q + "&SendMessageBatchRequestEntry.1.Id=a.b&SendMessageBatchRequestEntry.1.MessageBody=x",
			"AWS.SimpleQueueService.InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."},
		{"SetQueueAttributes", `{"QueueUrl":"http://h/000000000000/q","Attributes":{"FifoQueue":"true"}}`,
			"QueueUrl=" + q + "&Attribute.1.Name=FifoQueue&Attribute.1.Value=true", "InvalidAttributeName", "Unknown Attribute FifoQueue."},
		{"SetQueueAttributes", `{"QueueUrl":"http://h/000000000000/f.fifo","Attributes":{"FifoQueue":"false"}}`,
			"QueueUrl=" + f + "&Attribute.1.Name=FifoQueue&Attribute.1.Value=false", "InvalidAttributeValue", "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."},
		{"CreateQueue", `{"QueueName":"s","Attributes":{"DeduplicationScope":"queue"}}`, "QueueName=s&Attribute.1.Name=DeduplicationScope&Attribute.1.Value=queue",
			"InvalidAttributeName", "You can specify the DeduplicationScope only when FifoQueue is set to true."},
		{"GetQueueUrl", `{"QueueName":"none"}`, "QueueName=none", "AWS.SimpleQueueService.NonExistentQueue", ""},
		{"SetQueueAttributes", `{"QueueUrl":"http://h/000000000000/q","Attributes":{"KmsMasterKeyId":"k","SqsManagedSseEnabled":"true"}}`,
			"QueueUrl=" + q + "&Attribute.1.Name=KmsMasterKeyId&Attribute.1.Value=k&Attribute.2.Name=SqsManagedSseEnabled&Attribute.2.Value=true",
			"InvalidAttributeName", "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE."},
	} {
		for _, isJSON := range []bool{true, false} {
			body := c.query
			if isJSON {
				body = c.json
			}
			rec := call(srv, isJSON, c.action, body)
			got := rec.Body.String()
			var code, msg string
			if isJSON {
				code, _, _ = strings.Cut(rec.Header().Get("x-amzn-query-error"), ";")
				var e struct{ Message string }
				json.Unmarshal(rec.Body.Bytes(), &e)
				msg = e.Message
			} else {
				var e struct {
					Error struct{ Code, Message string }
				}
				xml.Unmarshal(rec.Body.Bytes(), &e)
				code, msg = e.Error.Code, e.Error.Message
			}
			if rec.Code != 400 || code != c.code || !strings.Contains(msg, c.msg) {
				t.Errorf("%s json=%v: %d %s\n%s", c.action, isJSON, rec.Code, code, got)
			}
		}
	}
}

// FuzzActions: any body, either protocol, any action: an AWS error or a
// result, never a panic or a 5xx.
func FuzzActions(f *testing.F) {
	for _, s := range []struct {
		json         bool
		action, body string
	}{
		{true, "SendMessage", `{"QueueUrl":"http://h/000000000000/q","MessageBody":"x","MessageAttributes":{"a":{"DataType":"Number","StringValue":"1"}}}`},
		{false, "SendMessageBatch", "QueueUrl=http%3A%2F%2Fh%2F000000000000%2Ff.fifo&SendMessageBatchRequestEntry.1.Id=1&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.MessageGroupId=g&SendMessageBatchRequestEntry.1.MessageDeduplicationId=d"},
		{true, "ReceiveMessage", `{"QueueUrl":"http://h/000000000000/q","MaxNumberOfMessages":10,"MessageAttributeNames":["All"],"AttributeNames":["All"]}`},
		{true, "DeleteMessageBatch", `{"QueueUrl":"http://h/000000000000/q","Entries":[{"Id":"1","ReceiptHandle":"djEgcSAxIG0"}]}`},
		{false, "CreateQueue", "QueueName=n&Attribute.1.Name=RedrivePolicy&Attribute.1.Value=%7B%22deadLetterTargetArn%22%3A%22arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Aq%22%2C%22maxReceiveCount%22%3A1%7D"},
		{false, "SetQueueAttributes", "QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=0"},
		{true, "ChangeMessageVisibility", `{"QueueUrl":"http://h/000000000000/q","ReceiptHandle":"x","VisibilityTimeout":"5"}`},
		{true, "ListQueues", `{"MaxResults":1,"NextToken":"cQ=="}`},
		{true, "StartMessageMoveTask", `{"SourceArn":"arn:aws:sqs:us-east-1:000000000000:q"}`},
		{false, "AddPermission", "QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&Label=l&AWSAccountId.1=1&ActionName.1=*"},
	} {
		f.Add(s.json, s.action, s.body)
	}
	srv, _ := newServer(f)
	actions := New(nil, Options{}).actions()
	f.Fuzz(func(t *testing.T, isJSON bool, action, body string) {
		if _, ok := actions[action]; !ok || strings.Contains(body, "WaitTime") {
			return // long polls would only slow the fuzzer down
		}
		rec := call(srv, isJSON, action, body)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", action, body, rec.Code, rec.Body.String())
		}
	})
}

// Older SDKs post Query requests to the queue URL itself, without QueueUrl.
func TestQueryToQueueURL(t *testing.T) {
	srv, b := newServer(t)
	req := httptest.NewRequest("POST", "/000000000000/q", strings.NewReader("Action=SendMessage&MessageBody=hi"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<MD5OfMessageBody>49f68a5c8493ec2c0bf489821c21fc3b</MD5OfMessageBody>") {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	if info, _ := b.Queue("q", ""); info.Ready != 1 {
		t.Fatalf("ready %d", info.Ready)
	}
	req = httptest.NewRequest("GET", "/000000000000/q?Action=ReceiveMessage&AttributeName.1=All", nil)
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var out struct {
		Msg struct {
			Body  string
			Attrs []struct{ Name, Value string } `xml:"Attribute"`
		} `xml:"ReceiveMessageResult>Message"`
	}
	if err := xml.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Msg.Body != "hi" || len(out.Msg.Attrs) < 4 {
		t.Fatalf("%v %+v\n%s", err, out, rec.Body.String())
	}
}

func TestRedriveAllowPolicy(t *testing.T) {
	for _, c := range []struct {
		policy string
		ok     bool
	}{
		{"", true},
		{`{"redrivePermission":"allowAll"}`, true},
		{`{"redrivePermission":"denyAll"}`, false},
		{`{"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:eu-west-1:000000000000:src"]}`, true},
		{`{"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:us-east-1:000000000000:other"]}`, false},
	} {
		if got := redriveAllowed(c.policy, "arn:aws:sqs:us-east-1:000000000000:src"); got != c.ok {
			t.Errorf("%s: %v", c.policy, got)
		}
	}
}
