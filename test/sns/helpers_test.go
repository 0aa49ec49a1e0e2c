package sns_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/test"
)

// env is a running broker whose AWS endpoint serves SQS and SNS.
type env struct {
	b    *test.Broker
	addr string // host:port of the AWS endpoint
	sns  *sns.Client
	sqs  *sqs.Client
}

// stop shuts the broker down (its shutdown order closes the AWS endpoint
// and SNS deliveries before the core).
func (e *env) stop(t *testing.T) { e.b.Stop(t) }

// start runs the broker; its AWS endpoint serves SQS and SNS.
func start(t *testing.T, opts ...test.Option) *env {
	t.Helper()
	b := test.StartBroker(t, opts...)
	return attach(t, b)
}

func attach(t *testing.T, b *test.Broker) *env {
	t.Helper()
	e := &env{b: b, addr: b.AWS}
	e.sns, e.sqs = clients(e.addr)
	if _, err := e.sns.ListTopics(ctxT(t, 10*time.Second), &sns.ListTopicsInput{}); err != nil {
		t.Fatalf("the AWS endpoint does not serve SNS: %v", err)
	}
	return e
}

func clients(addr string) (*sns.Client, *sqs.Client) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("guest", "guest", "")}
	s := sns.NewFromConfig(cfg, func(o *sns.Options) {
		o.BaseEndpoint = aws.String("http://" + addr)
		o.RetryMaxAttempts = 1
	})
	q := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String("http://" + addr)
		o.RetryMaxAttempts = 1
	})
	return s, q
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func apiErr(err error) (code, msg string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s %q, got success", code, msg)
	}
	c, m := apiErr(err)
	if c != code || (msg != "" && m != msg) {
		t.Fatalf("want %s %q, got %s %q (%v)", code, msg, c, m, err)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// queue creates an SQS queue and returns its URL and ARN.
func (e *env) queue(t *testing.T, name string, attrs map[string]string) (string, string) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	out, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return *out.QueueUrl, "arn:aws:sqs:us-east-1:000000000000:" + name
}

func (e *env) topic(t *testing.T, name string, attrs map[string]string) string {
	t.Helper()
	out, err := e.sns.CreateTopic(ctxT(t, 10*time.Second), &sns.CreateTopicInput{Name: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return *out.TopicArn
}

func (e *env) subscribe(t *testing.T, topicARN, queueARN string, attrs map[string]string) string {
	t.Helper()
	out, err := e.sns.Subscribe(ctxT(t, 10*time.Second), &sns.SubscribeInput{TopicArn: &topicARN, Protocol: aws.String("sqs"),
		Endpoint: &queueARN, Attributes: attrs, ReturnSubscriptionArn: true})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return *out.SubscriptionArn
}

// receive long-polls url until n messages arrived (deleting them) or d passed.
func (e *env) receive(t *testing.T, url string, n int, d time.Duration) []string {
	t.Helper()
	var bodies []string
	deadline := time.Now().Add(d)
	for len(bodies) < n && time.Now().Before(deadline) {
		out, err := e.sqs.ReceiveMessage(ctxT(t, 10*time.Second), &sqs.ReceiveMessageInput{QueueUrl: &url,
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range out.Messages {
			bodies = append(bodies, *m.Body)
			e.sqs.DeleteMessage(ctxT(t, 5*time.Second), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
		}
	}
	return bodies
}

// queueDepth is the number of ready messages of a core queue.
func queueDepth(c *core.Broker, name string) int {
	info, err := c.Queue(name, "")
	if err != nil {
		return -1
	}
	return info.Ready + info.Unacked
}
