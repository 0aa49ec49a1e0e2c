package sns_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	snsbridge "github.com/omnibroker/broker/bridge/sns"
	"github.com/omnibroker/broker/test"
)

// verifyIndependently checks an SNS signature the way the AWS
// documentation describes ("Verifying the signatures of Amazon SNS
// messages"), without the bridge's code: build the string to sign from
// the documented keys, then RSA PKCS#1 v1.5 with SHA1 (version 1) or
// SHA256 (version 2) against the certificate's key.
func verifyIndependently(e *snsbridge.Envelope, certPEM []byte) error {
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		return errors.New("certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	var keys []string
	if e.Type == "Notification" {
		keys = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	} else {
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	vals := map[string]string{"Message": e.Message, "MessageId": e.MessageID, "Subject": e.Subject, "Timestamp": e.Timestamp,
		"TopicArn": e.TopicArn, "Type": e.Type, "SubscribeURL": e.SubscribeURL, "Token": e.Token}
	var sb strings.Builder
	for _, k := range keys {
		if k == "Subject" && vals[k] == "" {
			continue
		}
		sb.WriteString(k + "\n" + vals[k] + "\n")
	}
	sig, err := base64.StdEncoding.DecodeString(e.Signature)
	if err != nil {
		return err
	}
	pub := cert.PublicKey.(*rsa.PublicKey)
	switch e.SignatureVersion {
	case "1":
		h := sha1.Sum([]byte(sb.String()))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, h[:], sig)
	case "2":
		h := sha256.Sum256([]byte(sb.String()))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig)
	}
	return fmt.Errorf("SignatureVersion %q", e.SignatureVersion)
}

// endpoint is an HTTP subscriber: it confirms subscriptions by visiting
// the SubscribeURL and verifies every signature with the certificate
// fetched from SigningCertURL.
type endpoint struct {
	t    *testing.T
	srv  *httptest.Server
	fail atomic.Int32 // answer 500 to this many notifications
	// tolerant: refusals are expected (restarts move the certificate URL)
	tolerant bool
	block    chan struct{} // notifications wait until it is closed
	mu       sync.Mutex
	got      []snsbridge.Envelope
	hdrs     []http.Header
	bad      []string
	visits   atomic.Int32
}

func newEndpoint(t *testing.T) *endpoint {
	ep := &endpoint{t: t}
	ep.srv = httptest.NewServer(http.HandlerFunc(ep.serve))
	t.Cleanup(ep.srv.Close)
	return ep
}

func (ep *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	ep.visits.Add(1)
	body, _ := io.ReadAll(r.Body)
	var e snsbridge.Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		ep.record(e, r.Header, "not JSON: "+string(body))
		w.WriteHeader(400)
		return
	}
	if r.Header.Get("x-amz-sns-message-type") != e.Type || r.Header.Get("x-amz-sns-message-id") != e.MessageID || r.Header.Get("x-amz-sns-topic-arn") != e.TopicArn {
		ep.record(e, r.Header, "headers do not match the message")
	}
	resp, err := http.Get(e.SigningCertURL)
	if err != nil {
		ep.record(e, r.Header, "cert: "+err.Error())
		w.WriteHeader(500)
		return
	}
	cert, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := verifyIndependently(&e, cert); err != nil {
		ep.record(e, r.Header, "signature: "+err.Error())
		w.WriteHeader(400)
		return
	}
	if e.Type == "SubscriptionConfirmation" {
		resp, err := http.Get(e.SubscribeURL)
		if err != nil || resp.StatusCode != 200 {
			ep.record(e, r.Header, fmt.Sprintf("confirm: %v %v", err, resp))
		} else {
			resp.Body.Close()
		}
	}
	if e.Type == "Notification" {
		if ep.block != nil {
			<-ep.block
		}
		if ep.fail.Add(-1) >= 0 {
			w.WriteHeader(500)
			return
		}
	}
	ep.record(e, r.Header, "")
}

func (ep *endpoint) record(e snsbridge.Envelope, h http.Header, problem string) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if problem != "" {
		ep.bad = append(ep.bad, problem)
		return
	}
	ep.got = append(ep.got, e)
	ep.hdrs = append(ep.hdrs, h.Clone())
}

func (ep *endpoint) notifications() []snsbridge.Envelope {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	var out []snsbridge.Envelope
	for _, e := range ep.got {
		if e.Type == "Notification" {
			out = append(out, e)
		}
	}
	if len(ep.bad) > 0 && !ep.tolerant {
		ep.t.Errorf("endpoint saw problems: %v", ep.bad)
		ep.bad = nil
	}
	return out
}

func TestHTTPSubscriptionConfirmAndSignature(t *testing.T) {
	e := start(t)
	ctx := ctxT(t, 60*time.Second)
	for _, version := range []string{"1", "2"} {
		topic := e.topic(t, "web"+version, map[string]string{"SignatureVersion": version})
		ep := newEndpoint(t)
		out := must[*sns.SubscribeOutput](t)(e.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("http"), Endpoint: aws.String(ep.srv.URL + "/hook")}))
		if *out.SubscriptionArn != "pending confirmation" {
			t.Fatalf("SubscriptionArn %s", *out.SubscriptionArn)
		}
		test.WaitFor(t, 10*time.Second, "subscription confirmed", func() bool {
			l := must[*sns.ListSubscriptionsByTopicOutput](t)(e.sns.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: &topic}))
			return len(l.Subscriptions) == 1 && *l.Subscriptions[0].SubscriptionArn != "PendingConfirmation"
		})
		subARN := *must[*sns.ListSubscriptionsByTopicOutput](t)(e.sns.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: &topic})).Subscriptions[0].SubscriptionArn
		must[*sns.PublishOutput](t)(e.sns.Publish(ctx, &sns.PublishInput{TopicArn: &topic, Message: aws.String("to the web"), Subject: aws.String("s")}))
		test.WaitFor(t, 10*time.Second, "notification", func() bool { return len(ep.notifications()) == 1 })
		n := ep.notifications()[0]
		if n.Message != "to the web" || n.Subject != "s" || n.SignatureVersion != version {
			t.Fatalf("notification %+v", n)
		}
		ep.mu.Lock()
		h := ep.hdrs[len(ep.hdrs)-1]
		ep.mu.Unlock()
		if h.Get("x-amz-sns-subscription-arn") != subARN || h.Get("User-Agent") != "Amazon Simple Notification Service Agent" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			t.Fatalf("headers %v", h)
		}
	}
	// Confirmation errors recorded from AWS.
	topic := e.topic(t, "web1", map[string]string{"SignatureVersion": "1"})
	_, err := e.sns.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: &topic, Token: aws.String("nope")})
	wantErr(t, err, "InvalidParameter", "Invalid parameter: Token")
	_, err = e.sns.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(topic + "x"), Token: aws.String("nope")})
	wantErr(t, err, "InvalidParameter", "Invalid parameter: Topic")
}

func TestHTTPRetriesDeadLetterAndIsolation(t *testing.T) {
	e := start(t)
	ctx := ctxT(t, 60*time.Second)
	topic := e.topic(t, "flaky", nil)
	dlqURL, dlqARN := e.queue(t, "flaky-dlq", nil)
	policy := `{"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 0, "maxDelayTarget": 0}}`

	flaky := newEndpoint(t)  // fails twice, then succeeds: delivered on the last retry
	broken := newEndpoint(t) // always fails: dead-lettered after 1 + 2 attempts
	slow := newEndpoint(t)   // a stuck endpoint must not delay the others
	slow.block = make(chan struct{})
	flaky.fail.Store(2)
	broken.fail.Store(1 << 30)
	for _, ep := range []*endpoint{flaky, broken, slow} {
		attrs := map[string]string{"DeliveryPolicy": policy}
		if ep == broken {
			attrs["RedrivePolicy"] = `{"deadLetterTargetArn": "` + dlqARN + `"}`
		}
		must[*sns.SubscribeOutput](t)(e.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("http"), Endpoint: &ep.srv.URL, Attributes: attrs}))
	}
	test.WaitFor(t, 10*time.Second, "three confirmed subscriptions", func() bool {
		a := must[*sns.GetTopicAttributesOutput](t)(e.sns.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &topic})).Attributes
		return a["SubscriptionsConfirmed"] == "3"
	})
	must[*sns.PublishOutput](t)(e.sns.Publish(ctx, &sns.PublishInput{TopicArn: &topic, Message: aws.String("retry me")}))
	// Delivered (after two refusals) while the stuck endpoint still holds its request.
	test.WaitFor(t, 20*time.Second, "flaky endpoint delivered", func() bool { return len(flaky.notifications()) == 1 })
	got := e.receive(t, dlqURL, 1, 10*time.Second)
	if len(got) != 1 || !strings.Contains(got[0], `"Message":"retry me"`) {
		t.Fatalf("dead-letter queue: %v", got)
	}
	if n := broken.visits.Load(); n != 1+3 { // confirmation + 3 attempts
		t.Errorf("broken endpoint saw %d requests, want 4", n)
	}
	if len(slow.notifications()) != 0 {
		t.Fatal("the stuck endpoint answered")
	}
	close(slow.block)
	test.WaitFor(t, 30*time.Second, "stuck endpoint delivered once released", func() bool { return len(slow.notifications()) >= 1 })
	broken.mu.Lock()
	broken.bad = nil // its refusals are expected
	broken.mu.Unlock()
}

// RawMessageDelivery on an HTTP subscription POSTs the message itself
// with the x-amz-sns-rawdelivery header.
func TestHTTPRawDelivery(t *testing.T) {
	e := start(t)
	ctx := ctxT(t, 30*time.Second)
	topic := e.topic(t, "rawweb", nil)
	got := make(chan string, 4)
	var hdr atomic.Pointer[http.Header]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("x-amz-sns-message-type") == "SubscriptionConfirmation" {
			var env snsbridge.Envelope
			json.Unmarshal(body, &env)
			if resp, err := http.Get(env.SubscribeURL); err == nil {
				resp.Body.Close()
			}
			return
		}
		h := r.Header.Clone()
		hdr.Store(&h)
		got <- string(body)
	}))
	t.Cleanup(srv.Close)
	must[*sns.SubscribeOutput](t)(e.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("http"), Endpoint: &srv.URL,
		Attributes: map[string]string{"RawMessageDelivery": "true"}}))
	test.WaitFor(t, 10*time.Second, "confirmed", func() bool {
		a := must[*sns.GetTopicAttributesOutput](t)(e.sns.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &topic})).Attributes
		return a["SubscriptionsConfirmed"] == "1"
	})
	must[*sns.PublishOutput](t)(e.sns.Publish(ctx, &sns.PublishInput{TopicArn: &topic, Message: aws.String(`{"raw": true}`)}))
	select {
	case b := <-got:
		h := *hdr.Load()
		if b != `{"raw": true}` || h.Get("x-amz-sns-rawdelivery") != "true" || h.Get("x-amz-sns-message-type") != "Notification" {
			t.Fatalf("raw delivery %q headers %v", b, h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no raw delivery")
	}
}
