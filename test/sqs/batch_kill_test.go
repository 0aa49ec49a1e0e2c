package sqs_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/omnibroker/broker/test"
)

// A SendMessageBatch is stored as one record. After a kill -9, every
// confirmed message that was not deleted comes back exactly once, and the
// ones deleted before the crash (a store flush period earlier) do not, even
// when other messages of their batch are still in the queue.
func TestBatchSendPartialDeleteSurvivesKill(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	bin := test.BuildBroker(t)
	data := t.TempDir()
	cmd, addr := test.StartBinary(t, bin, data, "aws")
	c := client(addr, "guest", "guest")
	url := mustCreate(t, c, "batches", nil)
	var want []string
	for b := 0; b < 5; b++ {
		var entries []types.SendMessageBatchRequestEntry
		for i := 0; i < 10; i++ {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(fmt.Sprintf("b%d-%d", b, i))})
		}
		out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
		if err != nil || len(out.Successful) != 10 {
			t.Fatalf("send batch %d: %v %+v", b, err, out)
		}
	}
	// Receive everything, delete every third message, let the rest come
	// back at once.
	seen := 0
	for seen < 50 {
		r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 0})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Messages {
			seen++
			if seen%3 == 0 {
				if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want = append(want, *m.Body)
		}
	}
	time.Sleep(200 * time.Millisecond) // removals reach the store within a flush period
	addr2 := killRestart(t, bin, data, cmd)
	got := consumeAll(t, ctx, client(addr2, "guest", "guest"), "http://"+addr2+"/000000000000/batches")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("after kill -9 got %d messages %v\nwant %d %v", len(got), got, len(want), want)
	}
}
