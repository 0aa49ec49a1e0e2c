package mqtt_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/eclipse/paho.golang/paho"

	"github.com/omnibroker/broker/test"
)

// MQTT telemetry/dev42 reaches an SQS queue subscribed to SNS topic
// "telemetry" (in the SNS envelope); an SNS Publish to "telemetry" reaches
// an MQTT subscriber of telemetry/#.
func TestSNSAndSQS(t *testing.T) {
	b := test.StartBroker(t)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("guest", "guest", "")}
	sn := sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = aws.String("http://" + b.AWS); o.RetryMaxAttempts = 1 })
	sq := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String("http://" + b.AWS); o.RetryMaxAttempts = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("telemetry")})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("telemetry-archive")})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"])}); err != nil {
		t.Fatal(err)
	}
	sub := mustDial5(t, b.MQTT, "sns-listener", nil)
	sub.sub(t, subOpt("telemetry/#", 1))

	dev := mustDial5(t, b.MQTT, "dev42", nil)
	dev.pub(t, pub5("telemetry/dev42", 1, "21.5"))
	out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 5, MaxNumberOfMessages: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage: %v %d", err, len(out.Messages))
	}
	var env struct{ Type, Message, TopicArn string }
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &env); err != nil || env.Message != "21.5" || env.TopicArn != aws.ToString(topic.TopicArn) {
		t.Fatalf("SNS envelope %q: %v", aws.ToString(out.Messages[0].Body), err)
	}
	if m := sub.next(t); m.Topic != "telemetry/dev42" {
		t.Fatalf("mqtt got %q", m.Topic)
	}
	if _, err := sn.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String("from-sns")}); err != nil {
		t.Fatal(err)
	}
	var m *paho.Publish
	for m = sub.next(t); string(m.Payload) != "from-sns"; m = sub.next(t) {
	}
	if m.Topic != "telemetry" {
		t.Fatalf("SNS publish arrived on %q", m.Topic)
	}
}
