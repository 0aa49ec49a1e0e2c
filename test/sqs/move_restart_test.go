package sqs_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/omnibroker/broker/test"
)

// A running message move task resumes after a restart and finishes the
// job; the finished task is still listed.
func TestMessageMoveTaskSurvivesRestart(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	dlq := mustCreate(t, c, "mv-dlq", nil)
	dlqArn := "arn:aws:sqs:us-east-1:000000000000:mv-dlq"
	mustCreate(t, c, "mv-src", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":"2"}`})
	mustCreate(t, c, "mv-dest", nil)
	const n = 8
	for i := 0; i < n; i++ {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &dlq, MessageBody: aws.String("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(dlqArn),
		DestinationArn: aws.String("arn:aws:sqs:us-east-1:000000000000:mv-dest"), MaxNumberOfMessagesPerSecond: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 10*time.Second, "some messages moved", func() bool {
		info, _ := b.Core().Queue("mv-dest", "")
		return info.Ready >= 2
	})
	b.Stop(t)

	b2 := test.StartBroker(t, test.WithDataDir(b.DataDir))
	c2 := client(b2.AWS, "guest", "guest")
	var last types.ListMessageMoveTasksResultEntry
	test.WaitFor(t, 20*time.Second, "resumed task completes", func() bool {
		l, err := c2.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(dlqArn)})
		if err != nil || len(l.Results) != 1 {
			t.Fatalf("list after restart: %+v %v", l, err)
		}
		last = l.Results[0]
		return *last.Status == "COMPLETED"
	})
	if last.ApproximateNumberOfMessagesMoved != n || last.ApproximateNumberOfMessagesToMove == nil || *last.ApproximateNumberOfMessagesToMove != n {
		t.Fatalf("task after restart: moved %d of %v", last.ApproximateNumberOfMessagesMoved, last.ApproximateNumberOfMessagesToMove)
	}
	dest, _ := b2.Core().Queue("mv-dest", "")
	left, _ := b2.Core().Queue("mv-dlq", "")
	if dest.Ready != n || left.Ready != 0 {
		t.Fatalf("after the resumed task: dest %d, dlq %d", dest.Ready, left.Ready)
	}
}
