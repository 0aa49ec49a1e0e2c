package sqs_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/omnibroker/broker/test"
)

// sendDedup sends body to url with group g and deduplication id d.
func sendDedup(t *testing.T, ctx context.Context, c *sqs.Client, url, body, d string) *sqs.SendMessageOutput {
	t.Helper()
	out, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body,
		MessageGroupId: aws.String("g"), MessageDeduplicationId: &d})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// consumeAll receives and deletes everything visible in url.
func consumeAll(t *testing.T, ctx context.Context, c *sqs.Client, url string) []string {
	t.Helper()
	var bodies []string
	for {
		r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			return bodies
		}
		for _, m := range r.Messages {
			bodies = append(bodies, *m.Body)
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkDeduplicated: a resend of d after the restart returns the original
// message id and sequence number and delivers nothing; a new id gets a
// higher sequence number than any before the restart.
func checkDeduplicated(t *testing.T, ctx context.Context, c *sqs.Client, url string, first *sqs.SendMessageOutput) {
	t.Helper()
	again := sendDedup(t, ctx, c, url, "first (retried)", "d1")
	if *again.MessageId != *first.MessageId || *again.SequenceNumber != *first.SequenceNumber {
		t.Fatalf("resend after restart: id %s seq %s, want %s %s", *again.MessageId, *again.SequenceNumber, *first.MessageId, *first.SequenceNumber)
	}
	next := sendDedup(t, ctx, c, url, "second", "d2")
	if *next.SequenceNumber <= *first.SequenceNumber {
		t.Fatalf("sequence number went back after restart: %s after %s", *next.SequenceNumber, *first.SequenceNumber)
	}
	if got := consumeAll(t, ctx, c, url); len(got) != 1 || got[0] != "second" {
		t.Fatalf("after restart received %q, want only \"second\"", got)
	}
}

func TestFIFODeduplicationSurvivesRestart(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	url := mustCreate(t, c, "dedup.fifo", map[string]string{"FifoQueue": "true"})
	first := sendDedup(t, ctx, c, url, "first", "d1")
	if got := consumeAll(t, ctx, c, url); len(got) != 1 {
		t.Fatalf("received %q", got)
	}
	b.Stop(t)
	b2 := test.StartBroker(t, test.WithDataDir(b.DataDir))
	checkDeduplicated(t, ctx, client(b2.AWS, "guest", "guest"), "http://"+b2.AWS+"/000000000000/dedup.fifo", first)
}

func TestFIFODeduplicationSurvivesKill(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	bin := test.BuildBroker(t)
	data := t.TempDir()
	cmd, addr := test.StartBinary(t, bin, data, "aws")
	c := client(addr, "guest", "guest")
	url := mustCreate(t, c, "dedup.fifo", map[string]string{"FifoQueue": "true"})
	first := sendDedup(t, ctx, c, url, "first", "d1")
	if got := consumeAll(t, ctx, c, url); len(got) != 1 {
		t.Fatalf("received %q", got)
	}
	// Ids are journalled once a second (bridge/sqs/dedup.go); give the
	// journal two rounds before the crash.
	time.Sleep(2500 * time.Millisecond)
	addr2 := killRestart(t, bin, data, cmd)
	checkDeduplicated(t, ctx, client(addr2, "guest", "guest"), "http://"+addr2+"/000000000000/dedup.fifo", first)
}
