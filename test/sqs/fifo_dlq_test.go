package sqs_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/omnibroker/broker/test"
)

func TestFIFO(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 60*time.Second)
	_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("nofifo"), Attributes: map[string]string{"FifoQueue": "true"}})
	wantCode(t, err, "InvalidParameterValue")
	url := mustCreate(t, c, "jobs.fifo", map[string]string{"FifoQueue": "true"})
	if info, _ := b.Core().Queue("jobs.fifo", ""); !info.Config.FIFO || info.Config.DedupWindow != 5*time.Minute {
		t.Fatalf("core FIFO config: %+v", info.Config)
	}
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("d")})
	wantCode(t, err, "MissingParameter")
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageGroupId: aws.String("g")})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d"), DelaySeconds: 2})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageGroupId: aws.String("group 1"), MessageDeduplicationId: aws.String("d")})
	wantCode(t, err, "InvalidParameterValue")

	send := func(group, body string) *sqs.SendMessageOutput {
		t.Helper()
		out, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body, MessageGroupId: &group, MessageDeduplicationId: aws.String("id-" + body)})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := send("a", "a1")
	var lastSeq string
	for _, m := range []struct{ g, b string }{{"a", "a2"}, {"b", "b1"}, {"a", "a3"}, {"b", "b2"}} {
		o := send(m.g, m.b)
		if o.SequenceNumber == nil || *o.SequenceNumber <= lastSeq {
			t.Fatalf("sequence numbers must grow: %v after %s", o.SequenceNumber, lastSeq)
		}
		lastSeq = *o.SequenceNumber
	}
	dup := send("a", "a1")
	if *dup.MessageId != *first.MessageId || *dup.SequenceNumber != *first.SequenceNumber {
		t.Fatalf("duplicate got a new id: %v vs %v", *dup.MessageId, *first.MessageId)
	}
	if info, _ := b.Core().Queue("jobs.fifo", ""); info.Ready != 5 {
		t.Fatalf("deduplication failed: %d ready", info.Ready)
	}

	// Receive: several messages of a group may come in one receive, in
	// order; while any is in flight its group is locked.
	r0, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, m := range r0.Messages {
		g := m.Attributes["MessageGroupId"]
		if m.Attributes["MessageDeduplicationId"] != "id-"+*m.Body || m.Attributes["SequenceNumber"] == "" {
			t.Fatalf("FIFO attributes %v", m.Attributes)
		}
		got[g] = append(got[g], *m.Body)
	}
	if strings.Join(got["a"], ",") != "a1,a2,a3" || strings.Join(got["b"], ",") != "b1,b2" {
		t.Fatalf("order: %v", got)
	}
	send("a", "a4")
	if locked, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10}); err != nil || len(locked.Messages) != 0 {
		t.Fatalf("group a delivered while locked: %+v %v", locked, err)
	}
	for _, m := range r0.Messages {
		if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	r4, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	if err != nil || len(r4.Messages) != 1 || *r4.Messages[0].Body != "a4" {
		t.Fatalf("after deleting: %+v %v", r4, err)
	}
	c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: r4.Messages[0].ReceiptHandle})

	// A retried ReceiveMessage with the same ReceiveRequestAttemptId gets
	// the same messages and receipt handles.
	send("r", "r1")
	first1, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, ReceiveRequestAttemptId: aws.String("attempt-1"), VisibilityTimeout: 30})
	if err != nil || len(first1.Messages) != 1 {
		t.Fatal(first1, err)
	}
	retry, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, ReceiveRequestAttemptId: aws.String("attempt-1")})
	if err != nil || len(retry.Messages) != 1 || *retry.Messages[0].ReceiptHandle != *first1.Messages[0].ReceiptHandle {
		t.Fatalf("retried attempt: %+v %v", retry, err)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: retry.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}

	// An expired receipt handle of a FIFO queue is rejected.
	send("c", "c1")
	r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, VisibilityTimeout: 1})
	if err != nil || len(r.Messages) != 1 {
		t.Fatal(r, err)
	}
	var r2 *sqs.ReceiveMessageOutput
	test.WaitFor(t, 5*time.Second, "redelivery", func() bool {
		r2, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
		return err == nil && len(r2.Messages) == 1
	})
	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: r.Messages[0].ReceiptHandle})
	wantCode(t, err, "InvalidParameterValue")
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: r2.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}

	// Content-based deduplication, message-group scope.
	cb := mustCreate(t, c, "cb.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true",
		"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"})
	for _, g := range []string{"x", "x", "y"} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &cb, MessageBody: aws.String("same"), MessageGroupId: aws.String(g)}); err != nil {
			t.Fatal(err)
		}
	}
	if info, _ := b.Core().Queue("cb.fifo", ""); info.Ready != 2 {
		t.Fatalf("content-based dedup per group: %d ready, want 2", info.Ready)
	}
	ga, _ := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &cb, AttributeNames: []types.QueueAttributeName{"All"}})
	if ga.Attributes["FifoQueue"] != "true" || ga.Attributes["DeduplicationScope"] != "messageGroup" || ga.Attributes["FifoThroughputLimit"] != "perMessageGroupId" {
		t.Fatalf("fifo attributes %v", ga.Attributes)
	}
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("cb.fifo"), Attributes: map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "false"}})
	wantCode(t, err, "QueueAlreadyExists")

	// MessageGroupId is accepted on standard queues (fair queues).
	std := mustCreate(t, c, "fair", nil)
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &std, MessageBody: aws.String("m"), MessageGroupId: aws.String("tenant-1")}); err != nil {
		t.Fatal(err)
	}
	fr, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &std, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"MessageGroupId"}})
	if err != nil || len(fr.Messages) != 1 || fr.Messages[0].Attributes["MessageGroupId"] != "tenant-1" {
		t.Fatalf("fair queue: %+v %v", fr, err)
	}
}

func TestDeadLetterAndRedrive(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 60*time.Second)
	dlq := mustCreate(t, c, "jobs-dlq", nil)
	dlqArn := "arn:aws:sqs:us-east-1:000000000000:jobs-dlq"
	_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs"), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:missing","maxReceiveCount":"2"}`}})
	wantCode(t, err, "InvalidParameterValue")
	src := mustCreate(t, c, "jobs", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":"2"}`})
	if info, _ := b.Core().Queue("jobs", ""); !info.Config.HasDeadLetter || info.Config.DeadLetterRoutingKey != "jobs-dlq" || info.Config.MaxDeliveries != 2 {
		t.Fatalf("core dead-letter config %+v", info.Config)
	}
	_, err = c.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:jobs")})
	wantCode(t, err, "InvalidParameterValue")

	for i := 0; i < 3; i++ {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &src, MessageBody: aws.String(fmt.Sprint("job", i)),
			MessageAttributes: map[string]types.MessageAttributeValue{"try": {DataType: aws.String("Number"), StringValue: aws.String("1")}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Each receive that is not followed by a delete counts; the third receive
	// attempt finds the messages in the dead-letter queue.
	for round := 1; round <= 2; round++ {
		r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &src, MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
			AttributeNames: []types.QueueAttributeName{"ApproximateReceiveCount"}})
		if err != nil || len(r.Messages) != 3 {
			t.Fatalf("round %d: %+v %v", round, r, err)
		}
		var es []types.ChangeMessageVisibilityBatchRequestEntry
		for i, m := range r.Messages {
			if m.Attributes["ApproximateReceiveCount"] != fmt.Sprint(round) {
				t.Fatalf("receive count %v in round %d", m.Attributes, round)
			}
			es = append(es, types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
		}
		if _, err := c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &src, Entries: es}); err != nil {
			t.Fatal(err)
		}
	}
	var dr *sqs.ReceiveMessageOutput
	test.WaitFor(t, 5*time.Second, "dead letters", func() bool {
		ga, _ := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &dlq, AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages"}})
		return ga != nil && ga.Attributes["ApproximateNumberOfMessages"] == "3"
	})
	dr, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &dlq, MaxNumberOfMessages: 1, VisibilityTimeout: 1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"DeadLetterQueueSourceArn", "ApproximateReceiveCount"}, MessageAttributeNames: []string{"All"}})
	if err != nil || len(dr.Messages) != 1 || dr.Messages[0].Attributes["DeadLetterQueueSourceArn"] != "arn:aws:sqs:us-east-1:000000000000:jobs" ||
		dr.Messages[0].Attributes["ApproximateReceiveCount"] != "3" {
		t.Fatalf("dead letter: %+v %v", dr, err)
	}
	if len(dr.Messages[0].MessageAttributes) != 1 || *dr.Messages[0].MessageAttributes["try"].StringValue != "1" {
		t.Fatalf("dead letter attributes: %+v", dr.Messages[0].MessageAttributes)
	}
	srcs, err := c.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlq})
	if err != nil || len(srcs.QueueUrls) != 1 || srcs.QueueUrls[0] != src {
		t.Fatalf("dead-letter sources %v %v", srcs, err)
	}
	test.WaitFor(t, 5*time.Second, "dlq message visible again", func() bool {
		info, _ := b.Core().Queue("jobs-dlq", "")
		return info.Ready == 3
	})

	// Redrive back to the source (no destination given).
	task, err := c.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlqArn)})
	if err != nil {
		t.Fatal(err)
	}
	var status string
	test.WaitFor(t, 10*time.Second, "move task completion", func() bool {
		l, err := c.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(dlqArn), MaxResults: aws.Int32(10)})
		if err != nil || len(l.Results) != 1 {
			t.Fatalf("list tasks %+v %v", l, err)
		}
		status = *l.Results[0].Status
		return status == "COMPLETED" && l.Results[0].ApproximateNumberOfMessagesMoved == 3
	})
	_, err = c.CancelMessageMoveTask(ctx, &sqs.CancelMessageMoveTaskInput{TaskHandle: task.TaskHandle})
	wantCode(t, err, "ResourceNotFoundException")
	r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &src, MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if err != nil || len(r.Messages) != 3 {
		t.Fatalf("redriven: %+v %v", r, err)
	}
	if _, ok := r.Messages[0].Attributes["DeadLetterQueueSourceArn"]; ok {
		t.Fatalf("redriven message still marked as dead letter: %v", r.Messages[0].Attributes)
	}

	// A rate-limited task can be cancelled.
	other := mustCreate(t, c, "other", nil)
	for i := 0; i < 5; i++ {
		c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &dlq, MessageBody: aws.String("x")})
	}
	task, err = c.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlqArn),
		DestinationArn: aws.String("arn:aws:sqs:us-east-1:000000000000:other"), MaxNumberOfMessagesPerSecond: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlqArn)})
	wantCode(t, err, "InvalidParameterValue")
	if _, err := c.CancelMessageMoveTask(ctx, &sqs.CancelMessageMoveTaskInput{TaskHandle: task.TaskHandle}); err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 5*time.Second, "cancelled", func() bool {
		l, _ := c.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(dlqArn)})
		return l != nil && len(l.Results) == 1 && *l.Results[0].Status == "CANCELLED"
	})
	ga, _ := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &other, AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages"}})
	moved := ga.Attributes["ApproximateNumberOfMessages"]
	ga, _ = c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &dlq, AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages"}})
	if moved == "5" || ga.Attributes["ApproximateNumberOfMessages"] == "0" {
		t.Fatalf("cancel had no effect: moved %s, left %s", moved, ga.Attributes["ApproximateNumberOfMessages"])
	}

	// Removing the redrive policy turns dead-lettering off.
	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &src, Attributes: map[string]string{"RedrivePolicy": ""}}); err != nil {
		t.Fatal(err)
	}
	if info, _ := b.Core().Queue("jobs", ""); info.Config.HasDeadLetter {
		t.Fatal("redrive policy not removed")
	}
}
