package sqs

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

// benchServer is the SQS API on a durable broker (store in a temp dir),
// called in-process: the figures are the server's cost without a network
// or an SDK.
func benchServer(b *testing.B) *awsapi.Server {
	br, err := core.Open(core.Options{DataDir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	srv := awsapi.NewServer(awsapi.Options{Auth: br, Region: "us-east-1", AccountID: "000000000000"})
	New(br, Options{Region: "us-east-1", AccountID: "000000000000"}).Register(srv)
	if _, err := br.DeclareQueue(core.QueueConfig{Name: "q", Durable: true, VisibilityTimeout: time.Minute}); err != nil {
		b.Fatal(err)
	}
	return srv
}

func batchBodies(query bool) string {
	body := strings.Repeat("x", 256)
	if query {
		f := url.Values{"QueueUrl": {"http://h/000000000000/q"}}
		for i := 1; i <= 10; i++ {
			f.Set(fmt.Sprintf("SendMessageBatchRequestEntry.%d.Id", i), fmt.Sprint(i))
			f.Set(fmt.Sprintf("SendMessageBatchRequestEntry.%d.MessageBody", i), body)
		}
		return f.Encode()
	}
	var es []string
	for i := 1; i <= 10; i++ {
		es = append(es, fmt.Sprintf(`{"Id":"%d","MessageBody":"%s"}`, i, body))
	}
	return `{"QueueUrl":"http://h/000000000000/q","Entries":[` + strings.Join(es, ",") + `]}`
}

// BenchmarkBatchCycle: SendMessageBatch(10) + ReceiveMessage(10) +
// DeleteMessageBatch, persistent, per protocol; reports msgs/s.
func BenchmarkBatchCycle(b *testing.B) {
	for _, query := range []bool{false, true} {
		name := "json"
		if query {
			name = "query"
		}
		b.Run(name, func(b *testing.B) {
			srv := benchServer(b)
			send := batchBodies(query)
			recv := `{"QueueUrl":"http://h/000000000000/q","MaxNumberOfMessages":10}`
			if query {
				recv = "QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&MaxNumberOfMessages=10"
			}
			b.ResetTimer()
			start := time.Now()
			moved := 0
			for i := 0; i < b.N; i++ {
				if rec := call(srv, !query, "SendMessageBatch", send); rec.Code != 200 {
					b.Fatal(rec.Body.String())
				}
				rec := call(srv, !query, "ReceiveMessage", recv)
				handles := receiptHandles(b, rec.Body.Bytes(), query)
				moved += len(handles)
				if rec := call(srv, !query, "DeleteMessageBatch", deleteBody(handles, query)); rec.Code != 200 {
					b.Fatal(rec.Body.String())
				}
			}
			b.ReportMetric(float64(moved)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

func receiptHandles(b *testing.B, body []byte, query bool) []string {
	var hs []string
	if query {
		for _, part := range strings.Split(string(body), "<ReceiptHandle>")[1:] {
			h, _, _ := strings.Cut(part, "</ReceiptHandle>")
			hs = append(hs, h)
		}
		return hs
	}
	var out struct {
		Messages []struct{ ReceiptHandle string }
	}
	if err := json.Unmarshal(body, &out); err != nil {
		b.Fatal(err)
	}
	for _, m := range out.Messages {
		hs = append(hs, m.ReceiptHandle)
	}
	return hs
}

func deleteBody(hs []string, query bool) string {
	if query {
		f := url.Values{"QueueUrl": {"http://h/000000000000/q"}}
		for i, h := range hs {
			f.Set(fmt.Sprintf("DeleteMessageBatchRequestEntry.%d.Id", i+1), fmt.Sprint(i))
			f.Set(fmt.Sprintf("DeleteMessageBatchRequestEntry.%d.ReceiptHandle", i+1), h)
		}
		return f.Encode()
	}
	var es []string
	for i, h := range hs {
		es = append(es, fmt.Sprintf(`{"Id":"%d","ReceiptHandle":"%s"}`, i, h))
	}
	return `{"QueueUrl":"http://h/000000000000/q","Entries":[` + strings.Join(es, ",") + `]}`
}
