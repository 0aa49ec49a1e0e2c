package sqs

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/omnibroker/broker/bridge/awsapi"
)

// stdJSON is awsapi's fallback encoding: encoding/json without HTML escaping.
func stdJSON(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

var oddStrings = []string{"", "plain", `q"uote`, `back\slash`, "<tag>&amp;", "tab\tnl\n\r\x01\x1f\x7f", "\u00e9\u4e16\U0001F600",
	"\u2028\u2029", "bad\xffutf8\xc3", "\b\f"}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	var results []awsapi.JSONAppender
	for _, s := range oddStrings {
		results = append(results,
			sendOut{Id: s, MessageId: s, MD5OfMessageBody: s, MD5OfMessageAttributes: s, MD5OfMessageSystemAttributes: s, SequenceNumber: s},
			sendOut{MessageId: s},
			sendBatchOut{Successful: []sendOut{{Id: "1", MessageId: s}, {Id: s, MessageId: "m", SequenceNumber: "01"}},
				Failed: []batchError{{Id: s, SenderFault: true, Code: "C", Message: s}, {Id: "x"}}},
			handleBatchOut{Successful: []batchIDOut{{s}, {"2"}}, Failed: []batchError{{Id: "3", Code: s}}},
			receiveOut{Messages: []messageOut{{MessageId: s, ReceiptHandle: s, MD5OfBody: s, Body: s}, {Body: s, MD5OfMessageAttributes: s}}},
		)
	}
	results = append(results, sendBatchOut{}, sendBatchOut{Successful: []sendOut{}, Failed: []batchError{}},
		handleBatchOut{}, handleBatchOut{Successful: []batchIDOut{}, Failed: []batchError{}},
		receiveOut{}, receiveOut{Messages: []messageOut{}})
	for _, r := range results {
		got, ok := r.AppendJSON(nil)
		if !ok {
			t.Fatalf("%#v: no fast encoding", r)
		}
		if want := stdJSON(t, r); !bytes.Equal(got, want) {
			t.Errorf("%#v:\n got %s\nwant %s", r, got, want)
		}
	}
	withMap := receiveOut{Messages: []messageOut{{Attributes: map[string]string{"b": "1", "a": "2"}}}}
	if _, ok := withMap.AppendJSON(nil); ok {
		t.Error("a map member must fall back to encoding/json")
	}
}

// decodeBoth decodes body with the fast decoder of a new *T and with
// encoding/json (as awsapi.Request.Decode does), and reports a mismatch.
func decodeBoth[T any, PT interface {
	*T
	awsapi.FastJSON
}](t *testing.T, body []byte) {
	var std T
	stdErr := json.NewDecoder(bytes.NewReader(body)).Decode(&std)
	var fast T
	sc := awsapi.NewJSONScanner(body)
	if !PT(&fast).DecodeFastJSON(sc) || !sc.AtEnd() {
		return // falls back to encoding/json: equal by construction
	}
	if stdErr != nil {
		t.Fatalf("%q: fast path accepted what encoding/json rejects: %v", body, stdErr)
	}
	// Compared through encoding/json, which sees the exported fields
	// only: the unexported ones are the fast decoder's own scratch.
	fj, err1 := json.Marshal(fast)
	sj, err2 := json.Marshal(std)
	if err1 != nil || err2 != nil || !bytes.Equal(fj, sj) {
		t.Fatalf("%q:\nfast %#v\n std %#v", body, fast, std)
	}
}

var fastSeeds = []string{
	`{"QueueUrl":"http://h/000000000000/q","Entries":[{"Id":"1","MessageBody":"xx"},{"Id":"2","MessageBody":"y\"\u00e9","DelaySeconds":3}]}`,
	`{"QueueUrl":"u","MessageBody":"b","DelaySeconds":"7","MessageGroupId":"g","MessageDeduplicationId":"d"}`,
	`{"QueueUrl":"u","Entries":[]}`, `{"QueueUrl":"u","Entries":null}`, `{}`, ` { } `, `{"queueurl":"u"}`,
	`{"QueueUrl":"u","QueueUrl":"v"}`, `{"QueueUrl":1}`, `{"DelaySeconds":1.5}`, `{"DelaySeconds":-0}`, `{"DelaySeconds":01}`,
	`{"DelaySeconds":1e2}`, `{"MessageBody":"bad\xff"}`, `{"MessageBody":"a\tb"}`, `{"MessageBody":"\ud800"}`, `{"x":1} junk`,
	`{"QueueUrl":"u","Entries":[{"Id":"1","ReceiptHandle":"h","VisibilityTimeout":30}]}`,
	`{"QueueUrl":"u","ReceiptHandle":null}`,
	`{"QueueUrl":"u","MaxNumberOfMessages":10,"WaitTimeSeconds":20,"AttributeNames":["All"],"MessageAttributeNames":[],"MessageSystemAttributeNames":["SenderId","x"],"VisibilityTimeout":"5","ReceiveRequestAttemptId":"a"}`,
	`{"AttributeNames":[1]}`, `{"MaxNumberOfMessages":"ten"}`, `[1]`, `"s"`, `{"QueueUrl":"u",}`, `{"QueueUrl" : "u" , "Id" : "i" }`,
}

func FuzzFastJSON(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		decodeBoth[sendIn](t, body)
		decodeBoth[handleIn](t, body)
		decodeBoth[receiveIn](t, body)
	})
}
