package sns

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnibroker/broker/core"
)

// worker delivers one subscription: it consumes the subscription's
// internal queue and acknowledges each delivery once the endpoint has the
// message (SQS: stored in the target queue; HTTP: a 2xx answer, or the
// retries exhausted and the message dead-lettered or dropped).
type worker struct {
	br  *Bridge
	sub atomic.Pointer[subscription]
	c   *core.Consumer
	ch  chan *core.Delivery

	async    bool // deliveries run on their own goroutines (HTTP)
	refused  atomic.Bool
	inflight sync.WaitGroup // SQS copies whose store callback is pending

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (br *Bridge) startWorker(s *subscription) {
	br.mu.Lock()
	if br.closed || br.workers[s.ARN] != nil {
		br.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(br.ctx)
	w := &worker{br: br, ctx: ctx, cancel: cancel}
	w.sub.Store(s)
	br.workers[s.ARN] = w
	br.mu.Unlock()

	prefetch := br.opts.Prefetch
	if s.Protocol != "sqs" {
		// HTTP deliveries wait on the network and on retry delays: up to
		// 16 run at once (one goroutine each, only while in flight) so
		// one slow message does not hold the others.
		prefetch = min(prefetch, 16)
		w.async = true
	}
	w.ch = make(chan *core.Delivery, prefetch)
	c, err := br.b.Consume(s.Queue, core.ConsumeOptions{Tag: "sns:" + s.ARN, Prefetch: prefetch,
		OnCancel: func() { cancel() }}, func(d *core.Delivery) bool {
		select {
		case w.ch <- d:
			return true
		default:
			w.refused.Store(true)
			return false
		}
	})
	if err != nil {
		br.log.Error("sns: consume subscription queue", "sub", s.ARN, "err", err)
		cancel()
		br.mu.Lock()
		delete(br.workers, s.ARN)
		br.mu.Unlock()
		return
	}
	w.c = c
	w.wg.Add(1)
	br.wg.Add(1)
	go w.run()
}

// stop ends the worker; unacknowledged deliveries go back to the queue.
func (w *worker) stop() {
	w.cancel()
	w.wg.Wait()
	// Settle what is already handed to the store, so that a clean stop
	// does not redeliver it after a restart.
	settled := make(chan struct{})
	go func() { w.inflight.Wait(); close(settled) }()
	select {
	case <-settled:
	case <-time.After(5 * time.Second):
	}
	if w.c != nil {
		w.c.Close()
	}
}

func (w *worker) run() {
	defer w.br.wg.Done()
	defer w.wg.Done()
	for {
		select {
		case <-w.ctx.Done():
			return
		case d := <-w.ch:
			if w.async {
				w.wg.Add(1)
				go func() {
					defer w.wg.Done()
					w.deliver(d)
				}()
			} else {
				w.deliver(d)
			}
			if w.refused.CompareAndSwap(true, false) {
				w.c.Resume() // the handler refused while the buffer was full
			}
		}
	}
}

func (w *worker) deliver(d *core.Delivery) {
	s := w.sub.Load()
	body, raw := w.br.payload(s, d.Message)
	var err error
	if s.Protocol == "sqs" {
		if err = w.toSQS(s, d, body, raw); err == nil {
			return // settled by the store callback
		}
	} else if err = w.toHTTP(s, d.Message, raw); err == nil {
		w.c.Ack(d.ID)
		return
	}
	if w.ctx.Err() != nil {
		return // shutting down: Close requeues the delivery
	}
	w.fail(s, d, body, raw, err)
}

// payload returns what the endpoint receives: the envelope JSON, or with
// RawMessageDelivery the message itself (raw = true).
func (br *Bridge) payload(s *subscription, m *core.Message) ([]byte, bool) {
	msg := string(m.Body)
	if st, ok := m.Props.Headers[hdrStructure].(string); ok {
		var per map[string]any
		if json.Unmarshal([]byte(st), &per) == nil {
			if v, ok := per[s.Protocol].(string); ok {
				msg = v
			}
		}
	}
	if s.Attrs["RawMessageDelivery"] == "true" {
		return []byte(msg), true
	}
	e := &Envelope{Type: TypeNotification, MessageID: m.ID, TopicArn: s.TopicARN, Message: msg,
		Timestamp:      m.SentAt.UTC().Format(timestampFormat),
		UnsubscribeURL: br.baseFor(s) + "/?Action=Unsubscribe&SubscriptionArn=" + s.ARN}
	if subj, ok := m.Props.Headers[hdrSubject].(string); ok {
		e.Subject = subj
	}
	if seq, ok := m.Props.Headers[hdrSequence].(string); ok {
		e.SequenceNumber = seq
	}
	if attrs := HeadersToAttrs(m); len(attrs) > 0 {
		e.MessageAttributes = make(map[string]envelopeAttr, len(attrs))
		for k, a := range attrs {
			v := a.Str
			if baseType(a.Type) == "Binary" {
				v = base64.StdEncoding.EncodeToString(a.Bytes)
			}
			e.MessageAttributes[k] = envelopeAttr{Type: a.Type, Value: v}
		}
	}
	if !s.FIFO {
		// AWS does not sign FIFO notifications (recorded envelopes).
		br.mu.RLock()
		t := br.topics[s.TopicARN]
		br.mu.RUnlock()
		version := "1"
		if t != nil && t.Attrs["SignatureVersion"] == "2" {
			version = "2"
		}
		if err := br.signer.Sign(e, version); err == nil {
			e.SigningCertURL = br.baseFor(s) + br.signer.CertPath()
		}
	}
	return marshalEnvelope(e), false
}

// sqsMessage builds the message published to an SQS queue.
func (br *Bridge) sqsMessage(queue string, src *core.Message, body []byte, raw bool, fifo bool) *core.Message {
	m := &core.Message{Body: body, Props: core.Properties{Persistent: true, UserID: br.opts.AccountID}}
	if raw {
		m.Props.ContentType, m.Props.CorrelationID, m.Props.ReplyTo = src.Props.ContentType, src.Props.CorrelationID, src.Props.ReplyTo
		if len(src.Props.Headers) > 0 {
			h := make(core.Table, len(src.Props.Headers))
			for k, v := range src.Props.Headers {
				if !strings.HasPrefix(k, "x-sns-") && !strings.HasPrefix(k, "x-death") && !strings.HasPrefix(k, "x-first-death") && !strings.HasPrefix(k, "x-last-death") {
					h[k] = v
				}
			}
			m.Props.Headers = h
		}
	}
	if fifo {
		m.GroupID = src.GroupID
		if m.GroupID == "" {
			m.GroupID = "sns"
		}
		m.DedupID = src.DedupID
		if m.DedupID == "" {
			m.DedupID = src.ID
		}
		if info, err := br.b.Queue(queue, ""); err == nil && info.Config.Attributes["DeduplicationScope"] == "messageGroup" {
			m.DedupID = m.GroupID + "\x00" + m.DedupID
		}
	} else if src.GroupID != "" {
		m.GroupID = src.GroupID
	}
	return m
}

var errNoQueue = errors.New("endpoint queue does not exist")

// toSQS publishes to the subscribed queue without waiting: the delivery
// is acked by the store callback, so one subscription keeps many copies in
// flight (FIFO order holds: publishes are issued in delivery order). A
// store failure requeues the delivery after a pause; a missing queue or a
// refused message (too large, full) is a permanent failure and goes to
// the dead-letter queue.
func (w *worker) toSQS(s *subscription, d *core.Delivery, body []byte, raw bool) error {
	q, _ := sqsQueueName(s.Endpoint)
	m := w.br.sqsMessage(q, d.Message, body, raw, strings.HasSuffix(q, ".fifo"))
	w.inflight.Add(1)
	res, err := w.br.b.Publish("", q, m, func(err error) {
		defer w.inflight.Done()
		switch {
		case err == nil:
			w.c.Ack(d.ID)
		case errors.Is(err, core.ErrUnavailable):
			w.br.log.Warn("sns: delivery to queue not stored, retrying", "sub", s.ARN, "err", err)
			time.AfterFunc(time.Second, func() { w.c.Nack(true, d.ID) })
		default:
			w.br.wg.Add(1)
			go func() {
				defer w.br.wg.Done()
				w.fail(s, d, body, raw, err)
			}()
		}
	})
	if err != nil {
		w.inflight.Done() // the callback never runs when Publish fails
		return err
	}
	if res.Routed == 0 {
		// Publish acked it already (done(nil) for unroutable messages).
		if dlq := w.br.deadLetter(s, d.Message, body, raw); dlq != nil {
			w.br.log.Warn("sns: queue missing, message dropped", "sub", s.ARN, "queue", q)
		}
	}
	return nil
}

// fail dead-letters (or drops) a message that cannot be delivered, then
// settles it.
func (w *worker) fail(s *subscription, d *core.Delivery, body []byte, raw bool, err error) {
	w.br.log.Warn("sns: delivery failed", "sub", s.ARN, "err", err)
	if dlq := w.br.deadLetter(s, d.Message, body, raw); dlq != nil {
		w.br.log.Warn("sns: no dead-letter queue, message dropped", "sub", s.ARN, "err", dlq)
	}
	w.c.Ack(d.ID)
}

// deadLetter sends what could not be delivered to the subscription's
// dead-letter queue (RedrivePolicy deadLetterTargetArn).
func (br *Bridge) deadLetter(s *subscription, src *core.Message, body []byte, raw bool) error {
	p := s.Attrs["RedrivePolicy"]
	if p == "" {
		return errors.New("no RedrivePolicy")
	}
	var rp struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	}
	json.Unmarshal([]byte(p), &rp)
	q, ok := sqsQueueName(rp.DeadLetterTargetArn)
	if !ok {
		return errors.New("bad RedrivePolicy")
	}
	m := br.sqsMessage(q, src, body, raw, strings.HasSuffix(q, ".fifo"))
	done := make(chan error, 1)
	res, err := br.b.Publish("", q, m, func(err error) { done <- err })
	if err != nil {
		return err
	}
	if res.Routed == 0 {
		return errNoQueue
	}
	return <-done
}

// retryPolicy is the part of a DeliveryPolicy the bridge applies
// ("Amazon SNS message delivery retries": healthyRetryPolicy).
type retryPolicy struct {
	NumRetries         int    `json:"numRetries"`
	NumNoDelayRetries  int    `json:"numNoDelayRetries"`
	NumMinDelayRetries int    `json:"numMinDelayRetries"`
	NumMaxDelayRetries int    `json:"numMaxDelayRetries"`
	MinDelayTarget     int    `json:"minDelayTarget"`
	MaxDelayTarget     int    `json:"maxDelayTarget"`
	BackoffFunction    string `json:"backoffFunction"`
}

// schedule returns the delay before each retry ("Amazon SNS message
// delivery retries"): the immediate phase (numNoDelayRetries, no delay),
// the pre-backoff phase (numMinDelayRetries at minDelayTarget), the
// backoff phase (the remaining retries, from minDelayTarget towards
// maxDelayTarget by backoffFunction) and the post-backoff phase
// (numMaxDelayRetries at maxDelayTarget).
func (rp *retryPolicy) schedule() []time.Duration {
	sec := func(f float64) time.Duration { return time.Duration(math.Round(f*1000)) * time.Millisecond }
	lo, hi := float64(rp.MinDelayTarget), float64(max(rp.MaxDelayTarget, rp.MinDelayTarget))
	out := make([]time.Duration, 0, rp.NumRetries)
	for range min(rp.NumNoDelayRetries, rp.NumRetries) {
		out = append(out, 0)
	}
	for range min(rp.NumMinDelayRetries, rp.NumRetries-len(out)) {
		out = append(out, sec(lo))
	}
	post := min(rp.NumMaxDelayRetries, rp.NumRetries-len(out))
	backoff := rp.NumRetries - len(out) - post
	for k := 1; k <= backoff; k++ {
		f := float64(k) / float64(backoff)
		var d float64
		switch rp.BackoffFunction {
		case "arithmetic":
			d = lo + (hi-lo)*float64(k*(k+1))/float64(backoff*(backoff+1))
		case "geometric":
			if lo > 0 {
				d = lo * math.Pow(hi/lo, f)
			} else {
				d = hi * f * f
			}
		case "exponential":
			d = lo + (hi-lo)*(math.Pow(2, float64(k))-1)/(math.Pow(2, float64(backoff))-1)
		default: // linear
			d = lo + (hi-lo)*f
			if backoff == 1 {
				d = lo
			}
		}
		out = append(out, sec(d))
	}
	for range post {
		out = append(out, sec(hi))
	}
	return out
}

type deliveryPolicy struct {
	Healthy *retryPolicy `json:"healthyRetryPolicy"`
	HTTP    *struct {
		Healthy *retryPolicy `json:"defaultHealthyRetryPolicy"`
	} `json:"http"`
	RequestPolicy *struct {
		HeaderContentType string `json:"headerContentType"`
	} `json:"requestPolicy"`
}

func parseDeliveryPolicy(s string) (*deliveryPolicy, error) {
	var p deliveryPolicy
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, errors.New("failed to parse JSON")
	}
	rp := p.Healthy
	if rp == nil && p.HTTP != nil {
		rp = p.HTTP.Healthy
	}
	if rp != nil {
		if rp.NumRetries < 0 || rp.NumRetries > 100 {
			return nil, errors.New("healthyRetryPolicy: numRetries must be between 0 and 100")
		}
		if rp.MinDelayTarget < 0 || rp.MaxDelayTarget < 0 || rp.MinDelayTarget > 3600 || rp.MaxDelayTarget > 3600 {
			return nil, errors.New("healthyRetryPolicy: delay targets must be between 0 and 3600")
		}
		if rp.MaxDelayTarget < rp.MinDelayTarget {
			return nil, errors.New("healthyRetryPolicy: maxDelayTarget must be greater than or equal to minDelayTarget")
		}
		if rp.NumNoDelayRetries < 0 || rp.NumMinDelayRetries < 0 || rp.NumMaxDelayRetries < 0 ||
			rp.NumNoDelayRetries+rp.NumMinDelayRetries+rp.NumMaxDelayRetries > rp.NumRetries {
			return nil, errors.New("healthyRetryPolicy: the phase retry counts must add up to at most numRetries")
		}
		switch rp.BackoffFunction {
		case "", "linear", "arithmetic", "geometric", "exponential":
		default:
			return nil, errors.New("healthyRetryPolicy: backoffFunction must be one of linear, arithmetic, geometric, exponential")
		}
	}
	return &p, nil
}

// retries returns the number of retries and the delay between attempts:
// the subscription's DeliveryPolicy, else the topic's, else 3 x 20 s.
func (br *Bridge) retries(s *subscription) ([]time.Duration, string) {
	rp := &retryPolicy{NumRetries: 3, MinDelayTarget: 20, MaxDelayTarget: 20}
	ctype := "text/plain; charset=UTF-8"
	br.mu.RLock()
	t := br.topics[s.TopicARN]
	br.mu.RUnlock()
	for _, src := range []string{topicPolicy(t), s.Attrs["DeliveryPolicy"]} {
		if src == "" {
			continue
		}
		p, err := parseDeliveryPolicy(src)
		if err != nil {
			continue
		}
		if h := p.Healthy; h != nil {
			rp = h
		} else if p.HTTP != nil && p.HTTP.Healthy != nil {
			rp = p.HTTP.Healthy
		}
		if p.RequestPolicy != nil && p.RequestPolicy.HeaderContentType != "" {
			ctype = p.RequestPolicy.HeaderContentType
		}
	}
	sched := rp.schedule()
	if br.opts.RetryDelay > 0 {
		for i := range sched {
			sched[i] = br.opts.RetryDelay
		}
	}
	return sched, ctype
}

func topicPolicy(t *topic) string {
	if t == nil {
		return ""
	}
	return t.Attrs["DeliveryPolicy"]
}

// toHTTP POSTs body with the SNS headers, retrying per the DeliveryPolicy.
func (w *worker) toHTTP(s *subscription, m *core.Message, raw bool) error {
	sched, ctype := w.br.retries(s)
	hdr := http.Header{}
	hdr.Set("Content-Type", ctype)
	hdr.Set("User-Agent", "Amazon Simple Notification Service Agent")
	hdr.Set("x-amz-sns-message-type", TypeNotification)
	hdr.Set("x-amz-sns-message-id", m.ID)
	hdr.Set("x-amz-sns-topic-arn", s.TopicARN)
	hdr.Set("x-amz-sns-subscription-arn", s.ARN)
	if raw {
		hdr.Set("x-amz-sns-rawdelivery", "true")
	}
	var err error
	for attempt := 0; attempt <= len(sched); attempt++ {
		if attempt > 0 {
			select {
			case <-w.ctx.Done():
				return w.ctx.Err()
			case <-time.After(sched[attempt-1]):
			}
		}
		// Rebuilt per attempt: the subscription's settings and the API
		// address in the URLs may change while retrying.
		s = w.sub.Load()
		body, _ := w.br.payload(s, m)
		if err = w.br.post(w.ctx, s.Endpoint, hdr, body); err == nil {
			return nil
		}
	}
	return err
}

func (br *Bridge) post(ctx context.Context, endpoint string, hdr http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = hdr.Clone()
	resp, err := br.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("endpoint answered %d", resp.StatusCode)
	}
	return nil
}

// sendConfirmation POSTs a SubscriptionConfirmation or
// UnsubscribeConfirmation to an HTTP/HTTPS endpoint, in the background.
func (br *Bridge) sendConfirmation(s *subscription, typ string) {
	token := s.Token
	if token == "" || typ == TypeUnsubConfirm {
		token = newToken()
	}
	msg := "You have chosen to subscribe to the topic " + s.TopicARN + ".\nTo confirm the subscription, visit the SubscribeURL included in this message."
	if typ == TypeUnsubConfirm {
		msg = "You have chosen to deactivate subscription " + s.ARN + ".\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message."
	}
	e := &Envelope{Type: typ, MessageID: core.NewID(), Token: token, TopicArn: s.TopicARN, Message: msg,
		SubscribeURL: br.baseFor(s) + "/?Action=ConfirmSubscription&TopicArn=" + url.QueryEscape(s.TopicARN) + "&Token=" + token,
		Timestamp:    time.Now().UTC().Format(timestampFormat)}
	if err := br.signer.Sign(e, "1"); err == nil {
		e.SigningCertURL = br.baseFor(s) + br.signer.CertPath()
	}
	body := marshalEnvelope(e)
	hdr := http.Header{}
	hdr.Set("Content-Type", "text/plain; charset=UTF-8")
	hdr.Set("User-Agent", "Amazon Simple Notification Service Agent")
	hdr.Set("x-amz-sns-message-type", typ)
	hdr.Set("x-amz-sns-message-id", e.MessageID)
	hdr.Set("x-amz-sns-topic-arn", s.TopicARN)
	if typ == TypeUnsubConfirm {
		hdr.Set("x-amz-sns-subscription-arn", s.ARN)
	}
	br.wg.Add(1)
	go func() {
		defer br.wg.Done()
		sched, _ := br.retries(s)
		for attempt := 0; attempt <= len(sched); attempt++ {
			if attempt > 0 {
				select {
				case <-br.ctx.Done():
					return
				case <-time.After(sched[attempt-1]):
				}
			}
			if err := br.post(br.ctx, s.Endpoint, hdr, body); err == nil {
				return
			} else if attempt == len(sched) {
				br.log.Warn("sns: confirmation not delivered", "sub", s.ARN, "type", typ, "err", err)
			}
		}
	}()
}
