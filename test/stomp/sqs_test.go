package stomp_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/go-stomp/stomp/v3"

	"github.com/omnibroker/broker/test"
)

// TestCrossSQS: STOMP /queue/Q <-> SQS queue Q (ARCHITECTURE.md), with
// STOMP headers arriving as message attributes and back.
func TestCrossSQS(t *testing.T) {
	b := test.StartBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := sqs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("guest", "guest", "")},
		func(o *sqs.Options) { o.BaseEndpoint = aws.String("http://" + b.AWS); o.RetryMaxAttempts = 1 })
	q, err := cl.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	s := dial12(t, b)
	if err := s.Send("/queue/orders", "text/plain", []byte("from stomp"), stomp.SendOpt.Receipt,
		stomp.SendOpt.Header("persistent", "true"), stomp.SendOpt.Header("region", "eu")); err != nil {
		t.Fatal(err)
	}
	out, err := cl.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 5,
		MessageAttributeNames: []string{"All"}})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("sqs receive: %v %d", err, len(out.Messages))
	}
	m := out.Messages[0]
	if aws.ToString(m.Body) != "from stomp" {
		t.Fatalf("sqs body %q", aws.ToString(m.Body))
	}
	if a, ok := m.MessageAttributes["region"]; !ok || aws.ToString(a.StringValue) != "eu" {
		t.Fatalf("sqs attributes %v", m.MessageAttributes)
	}
	cl.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle})
	sub, _ := s.Subscribe("/queue/orders", stomp.AckClientIndividual)
	synced(t, s)
	_, err = cl.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("from sqs"),
		MessageAttributes: map[string]types.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("k1")}}})
	if err != nil {
		t.Fatal(err)
	}
	got := recv(t, sub)
	if string(got.Body) != "from sqs" || got.Header.Get("kind") != "k1" {
		t.Fatalf("stomp got %q %v", got.Body, got.Header)
	}
	s.Ack(got)
}
