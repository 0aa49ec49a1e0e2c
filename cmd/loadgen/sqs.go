package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Amazon SQS scenarios (aws-sdk-go-v2 for AWS JSON 1.0; a small signed
// form client for the Query protocol):
//
//	loadgen -scenario sqs-batch   -addr 127.0.0.1:4566 -producers 4 -consumers 4 -duration 10s
//	loadgen -scenario sqs-batch   -addr 127.0.0.1:4566 -producers 4 -consumers 4 -extra query
//	loadgen -scenario sqs-batch   -addr 127.0.0.1:4566 -producers 4 -consumers 4 -extra lean
//	loadgen -scenario sqs-latency -addr 127.0.0.1:4566 -rate 1000
//
// sqs-batch: producers loop on SendMessageBatch (10 x -size bytes),
// consumers on ReceiveMessage (10, long poll) + DeleteMessageBatch.
// Failed calls are counted (errors=N) rather than fatal: aws-sdk-go-v2
// occasionally fails a 200 response with "use of closed network
// connection" (its own transport race, aws/aws-sdk-go-v2#1825 and #2737).
// sqs-latency: -producers clients each send single messages at -rate/s;
// the figure is the SendMessage round trip (the broker answers once the
// message is stored).
func init() {
	register(Scenario{Name: "sqs-batch", About: "SQS SendMessageBatch(10) -> ReceiveMessage(10, long poll) + DeleteMessageBatch; -extra query for the Query protocol", Run: sqsBatch})
	register(Scenario{Name: "sqs-latency", About: "SQS single SendMessage latency at -rate msg/s per producer", Run: sqsLatency})
}

// sqsAPI is the subset of SQS both wire protocols implement here.
type sqsAPI interface {
	sendBatch(ctx context.Context, bodies []string) error
	send(ctx context.Context, body string) error
	receive(ctx context.Context, max, wait int) ([]string, error) // receipt handles
	deleteBatch(ctx context.Context, handles []string) error
}

func sqsEndpoint(p Params) string {
	if strings.HasPrefix(p.Addr, "http") {
		return strings.TrimSuffix(p.Addr, "/")
	}
	return "http://" + p.Addr
}

func sqsHTTP() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}}
}

// sqsSetup creates a fresh queue and returns its URL and a JSON client.
func sqsSetup(ctx context.Context, p Params) (*sqs.Client, string, error) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(p.User, p.Pass, "")}
	c := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(sqsEndpoint(p))
		o.HTTPClient = sqsHTTP()
		o.RetryMaxAttempts = 1
	})
	name := fmt.Sprintf("loadgen-%d", time.Now().UnixNano())
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name})
	if err != nil {
		return nil, "", err
	}
	return c, *out.QueueUrl, nil
}

type sqsJSON struct {
	c   *sqs.Client
	url string
}

func (j sqsJSON) sendBatch(ctx context.Context, bodies []string) error {
	es := make([]types.SendMessageBatchRequestEntry, len(bodies))
	for i := range bodies {
		es[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: &bodies[i]}
	}
	out, err := j.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &j.url, Entries: es})
	if err == nil && len(out.Failed) > 0 {
		err = fmt.Errorf("%d failed: %s", len(out.Failed), *out.Failed[0].Message)
	}
	return err
}

func (j sqsJSON) send(ctx context.Context, body string) error {
	_, err := j.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &j.url, MessageBody: &body})
	return err
}

func (j sqsJSON) receive(ctx context.Context, max, wait int) ([]string, error) {
	out, err := j.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &j.url, MaxNumberOfMessages: int32(max), WaitTimeSeconds: int32(wait)})
	if err != nil {
		return nil, err
	}
	hs := make([]string, len(out.Messages))
	for i, m := range out.Messages {
		hs[i] = *m.ReceiptHandle
	}
	return hs, nil
}

func (j sqsJSON) deleteBatch(ctx context.Context, handles []string) error {
	es := make([]types.DeleteMessageBatchRequestEntry, len(handles))
	for i := range handles {
		es[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: &handles[i]}
	}
	out, err := j.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &j.url, Entries: es})
	if err == nil && len(out.Failed) > 0 {
		err = fmt.Errorf("%d deletes failed: %s", len(out.Failed), *out.Failed[0].Message)
	}
	return err
}

// sqsQuery speaks the Query protocol: signed form POSTs, XML replies.
type sqsQuery struct {
	hc       *http.Client
	endpoint string
	url      string
	creds    aws.Credentials
	signer   *v4.Signer
}

func (q sqsQuery) call(ctx context.Context, form url.Values, out any) error {
	form.Set("Version", "2012-11-05")
	form.Set("QueueUrl", q.url)
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, "POST", q.endpoint+"/", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := q.signer.SignHTTP(ctx, q.creds, req, hex.EncodeToString(sum[:]), "sqs", "us-east-1", time.Now()); err != nil {
		return err
	}
	res, err := q.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("%s: %d %s", form.Get("Action"), res.StatusCode, data)
	}
	if out != nil {
		return xml.Unmarshal(data, out)
	}
	return nil
}

type queryBatchResult struct {
	Failed []struct{ Message string } `xml:"SendMessageBatchResult>BatchResultErrorEntry"`
}

func (q sqsQuery) sendBatch(ctx context.Context, bodies []string) error {
	f := url.Values{"Action": {"SendMessageBatch"}}
	for i, b := range bodies {
		f.Set(fmt.Sprintf("SendMessageBatchRequestEntry.%d.Id", i+1), strconv.Itoa(i))
		f.Set(fmt.Sprintf("SendMessageBatchRequestEntry.%d.MessageBody", i+1), b)
	}
	var out queryBatchResult
	if err := q.call(ctx, f, &out); err != nil {
		return err
	}
	if len(out.Failed) > 0 {
		return fmt.Errorf("%d failed: %s", len(out.Failed), out.Failed[0].Message)
	}
	return nil
}

func (q sqsQuery) send(ctx context.Context, body string) error {
	return q.call(ctx, url.Values{"Action": {"SendMessage"}, "MessageBody": {body}}, nil)
}

func (q sqsQuery) receive(ctx context.Context, max, wait int) ([]string, error) {
	var out struct {
		Handles []string `xml:"ReceiveMessageResult>Message>ReceiptHandle"`
	}
	err := q.call(ctx, url.Values{"Action": {"ReceiveMessage"}, "MaxNumberOfMessages": {strconv.Itoa(max)}, "WaitTimeSeconds": {strconv.Itoa(wait)}}, &out)
	return out.Handles, err
}

func (q sqsQuery) deleteBatch(ctx context.Context, handles []string) error {
	f := url.Values{"Action": {"DeleteMessageBatch"}}
	for i, h := range handles {
		f.Set(fmt.Sprintf("DeleteMessageBatchRequestEntry.%d.Id", i+1), strconv.Itoa(i))
		f.Set(fmt.Sprintf("DeleteMessageBatchRequestEntry.%d.ReceiptHandle", i+1), h)
	}
	var out struct {
		Failed []struct{ Message string } `xml:"DeleteMessageBatchResult>BatchResultErrorEntry"`
	}
	if err := q.call(ctx, f, &out); err != nil {
		return err
	}
	if len(out.Failed) > 0 {
		return fmt.Errorf("%d deletes failed: %s", len(out.Failed), out.Failed[0].Message)
	}
	return nil
}

func sqsClient(ctx context.Context, p Params) (sqsAPI, func(), error) {
	c, qurl, err := sqsSetup(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.DeleteQueue(dctx, &sqs.DeleteQueueInput{QueueUrl: &qurl})
	}
	if strings.Contains(p.Extra, "lean") {
		l := newSQSLean(sqsEndpoint(p), qurl, p.User, p.Pass)
		l.query = strings.Contains(p.Extra, "query")
		return l, cleanup, nil
	}
	if strings.Contains(p.Extra, "query") {
		return sqsQuery{hc: sqsHTTP(), endpoint: sqsEndpoint(p), url: qurl, signer: v4.NewSigner(),
			creds: aws.Credentials{AccessKeyID: p.User, SecretAccessKey: p.Pass}}, cleanup, nil
	}
	return sqsJSON{c: c, url: qurl}, cleanup, nil
}

func sqsBatch(ctx context.Context, p Params) (*Result, error) {
	api, cleanup, err := sqsClient(ctx, p)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	body := strings.Repeat("x", max(p.Size, 1))
	bodies := make([]string, 10)
	for i := range bodies {
		bodies[i] = body
	}
	var sent, received, receives atomic.Int64
	var firstErr atomic.Pointer[error]
	runCtx, stop := context.WithTimeout(ctx, p.Duration)
	var errCount atomic.Int64
	fail := func(err error) {
		if runCtx.Err() == nil && !errors.Is(err, context.Canceled) {
			errCount.Add(1)
			firstErr.CompareAndSwap(nil, &err)
		}
	}
	defer stop()
	lat := &Latencies{}
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < max(p.Producers, 1); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				t0 := time.Now()
				if err := api.sendBatch(runCtx, bodies); err != nil {
					fail(err) // not counted as sent
					continue
				}
				lat.Add(time.Since(t0))
				sent.Add(int64(len(bodies)))
			}
		}()
	}
	// Consumers drain for a grace period after the producers stop.
	drainCtx, stopDrain := context.WithCancel(ctx)
	defer stopDrain()
	var cwg sync.WaitGroup
	for i := 0; i < max(p.Consumers, 1); i++ {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for drainCtx.Err() == nil {
				hs, err := api.receive(drainCtx, 10, 1)
				receives.Add(1)
				if err != nil {
					fail(err) // the messages come back after the visibility timeout
					continue
				}
				if len(hs) == 0 {
					if runCtx.Err() != nil {
						return
					}
					continue
				}
				if err := api.deleteBatch(drainCtx, hs); err != nil {
					fail(err)
					continue
				}
				received.Add(int64(len(hs)))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Only what consumers received while producers ran counts: a backlog
	// drained afterwards is reported apart, not as throughput.
	inWindow := received.Load()
	done := make(chan struct{})
	go func() { cwg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		stopDrain()
		<-done
	}
	notes := ""
	if e := firstErr.Load(); e != nil {
		notes = fmt.Sprintf(" errors=%d first=%q", errCount.Load(), (*e).Error())
	}
	proto := "json"
	if strings.Contains(p.Extra, "query") {
		proto = "query"
	}
	if strings.Contains(p.Extra, "lean") {
		proto += " (lean client)"
	}
	fill := 0.0
	if n := receives.Load(); n > 0 {
		fill = float64(received.Load()) / float64(n)
	}
	return &Result{Sent: sent.Load(), Received: inWindow, Elapsed: elapsed, Lat: lat,
		Notes: fmt.Sprintf("protocol=%s messages/receive=%.1f drained-after=%d latency=SendMessageBatch round trip%s", proto, fill, received.Load()-inWindow, notes)}, nil
}

func sqsLatency(ctx context.Context, p Params) (*Result, error) {
	api, cleanup, err := sqsClient(ctx, p)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rate := p.Rate
	if rate <= 0 {
		rate = 1000
	}
	body := strings.Repeat("x", max(p.Size, 1))
	runCtx, stop := context.WithTimeout(ctx, p.Duration)
	defer stop()
	lat := &Latencies{}
	var sent atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < max(p.Producers, 1); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Open-loop schedule: message n is due at start + n/rate; a slow
			// reply delays the next send, and the wait counts in its latency.
			var inflight sync.WaitGroup
			defer inflight.Wait()
			interval := time.Second / time.Duration(rate)
			for n := 0; ; n++ {
				due := start.Add(time.Duration(n) * interval)
				if d := time.Until(due); d > 0 {
					select {
					case <-time.After(d):
					case <-runCtx.Done():
					}
				}
				if runCtx.Err() != nil {
					return
				}
				inflight.Add(1)
				go func() {
					defer inflight.Done()
					if err := api.send(ctx, body); err != nil {
						firstErr.CompareAndSwap(nil, &err)
						return
					}
					lat.Add(time.Since(due))
					sent.Add(1)
				}()
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return nil, *e
	}
	return &Result{Sent: sent.Load(), Elapsed: time.Since(start), Lat: lat, Notes: fmt.Sprintf("rate=%d/s per producer, latency from scheduled send", rate)}, nil
}
