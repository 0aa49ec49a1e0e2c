package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Amazon SNS fan-out (aws-sdk-go-v2, Query protocol for SNS, JSON 1.0 for
// SQS):
//
//	loadgen -scenario sns-fanout -addr 127.0.0.1:4566 -producers 8 -consumers 10 -fanout 10 -duration 10s
//	loadgen -scenario sns-fanout -addr 127.0.0.1:4566 -extra raw
//
// A topic with -fanout SQS subscriptions, each with a filter policy the
// messages pass; producers loop on Publish (the broker answers once every
// subscription has stored the message), consumers drain the queues with
// ReceiveMessage(10) + DeleteMessageBatch. Sent counts publishes, Received
// deliveries (envelopes, signed; or raw with -extra raw).
func init() {
	register(Scenario{Name: "sns-fanout", About: "SNS Publish -> -fanout SQS subscriptions with filter policies -> ReceiveMessage; -extra raw for raw delivery", Run: snsFanout})
}

func snsFanout(ctx context.Context, p Params) (*Result, error) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(p.User, p.Pass, "")}
	hc := sqsHTTP()
	sc := sns.NewFromConfig(cfg, func(o *sns.Options) {
		o.BaseEndpoint = aws.String(sqsEndpoint(p))
		o.HTTPClient = hc
		o.RetryMaxAttempts = 1
	})
	qc := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(sqsEndpoint(p))
		o.HTTPClient = hc
		o.RetryMaxAttempts = 1
	})
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	t, err := sc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("loadgen-" + id)})
	if err != nil {
		return nil, err
	}
	fanout := max(p.Fanout, 1)
	urls := make([]string, fanout)
	for i := range urls {
		name := fmt.Sprintf("loadgen-%s-%d", id, i)
		q, err := qc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name})
		if err != nil {
			return nil, err
		}
		urls[i] = *q.QueueUrl
		attrs := map[string]string{"FilterPolicy": fmt.Sprintf(`{"kind": ["order", "refund"], "shard": [{"numeric": [">=", 0, "<", %d]}]}`, 100+i)}
		if strings.Contains(p.Extra, "raw") {
			attrs["RawMessageDelivery"] = "true"
		}
		if _, err := sc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: t.TopicArn, Protocol: aws.String("sqs"),
			Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:" + name), Attributes: attrs}); err != nil {
			return nil, err
		}
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sc.DeleteTopic(dctx, &sns.DeleteTopicInput{TopicArn: t.TopicArn})
		for _, u := range urls {
			qc.DeleteQueue(dctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
		}
	}()

	body := strings.Repeat("x", max(p.Size, 1))
	attrs := map[string]snstypes.MessageAttributeValue{
		"kind":  {DataType: aws.String("String"), StringValue: aws.String("order")},
		"shard": {DataType: aws.String("Number"), StringValue: aws.String("42")},
	}
	var sent, received atomic.Int64
	var firstErr atomic.Pointer[error]
	runCtx, stop := context.WithTimeout(ctx, p.Duration)
	defer stop()
	fail := func(err error) {
		if runCtx.Err() == nil && !errors.Is(err, context.Canceled) {
			firstErr.CompareAndSwap(nil, &err)
		}
	}
	lat := &Latencies{}
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < max(p.Producers, 1); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				t0 := time.Now()
				if _, err := sc.Publish(runCtx, &sns.PublishInput{TopicArn: t.TopicArn, Message: &body, MessageAttributes: attrs}); err != nil {
					fail(err)
					return
				}
				lat.Add(time.Since(t0))
				sent.Add(1)
			}
		}()
	}
	drainCtx, stopDrain := context.WithCancel(ctx)
	defer stopDrain()
	var cwg sync.WaitGroup
	for i := 0; i < max(p.Consumers, 1); i++ {
		cwg.Add(1)
		go func(i int) {
			defer cwg.Done()
			idle := 0
			for drainCtx.Err() == nil {
				u := urls[i%len(urls)]
				if p.Consumers < len(urls) {
					u = urls[(i+idle)%len(urls)]
				}
				out, err := qc.ReceiveMessage(drainCtx, &sqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					fail(err)
					return
				}
				if len(out.Messages) == 0 {
					idle++
					if runCtx.Err() != nil && received.Load() >= sent.Load()*int64(len(urls)) {
						return
					}
					continue
				}
				es := make([]sqstypes.DeleteMessageBatchRequestEntry, len(out.Messages))
				for j, m := range out.Messages {
					es[j] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), ReceiptHandle: m.ReceiptHandle}
				}
				if _, err := qc.DeleteMessageBatch(drainCtx, &sqs.DeleteMessageBatchInput{QueueUrl: &u, Entries: es}); err != nil {
					fail(err)
					return
				}
				received.Add(int64(len(out.Messages)))
			}
		}(i)
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { cwg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		stopDrain()
		<-done
	}
	elapsed := time.Since(start)
	if e := firstErr.Load(); e != nil {
		return nil, *e
	}
	return &Result{Sent: sent.Load(), Received: received.Load(), Elapsed: elapsed, Lat: lat,
		Notes: fmt.Sprintf("fanout=%d raw=%v; Received = deliveries; latency = Publish round trip (stored in every subscription); elapsed includes the drain",
			len(urls), strings.Contains(p.Extra, "raw"))}, nil
}
