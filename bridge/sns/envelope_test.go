package sns

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

// StringToSign follows "Verifying the signatures of Amazon SNS messages".
func TestStringToSign(t *testing.T) {
	n := &Envelope{Type: TypeNotification, MessageID: "id", TopicArn: "arn", Subject: "s", Message: "m", Timestamp: "ts", UnsubscribeURL: "u"}
	if got := string(StringToSign(n)); got != "Message\nm\nMessageId\nid\nSubject\ns\nTimestamp\nts\nTopicArn\narn\nType\nNotification\n" {
		t.Errorf("notification: %q", got)
	}
	n.Subject = ""
	if got := string(StringToSign(n)); strings.Contains(got, "Subject") {
		t.Errorf("empty subject signed: %q", got)
	}
	c := &Envelope{Type: TypeSubConfirmation, MessageID: "id", Token: "tok", TopicArn: "arn", Message: "m", SubscribeURL: "su", Timestamp: "ts"}
	if got := string(StringToSign(c)); got != "Message\nm\nMessageId\nid\nSubscribeURL\nsu\nTimestamp\nts\nToken\ntok\nTopicArn\narn\nType\nSubscriptionConfirmation\n" {
		t.Errorf("confirmation: %q", got)
	}
}

func TestSignVerifyAndPersistedKey(t *testing.T) {
	b, err := core.Open(core.Options{Logger: slog.New(slog.DiscardHandler), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s1, err := loadSigner(b.Meta(metaNS))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := loadSigner(b.Meta(metaNS))
	if err != nil {
		t.Fatal(err)
	}
	if s1.CertPath() != s2.CertPath() || string(s1.CertPEM()) != string(s2.CertPEM()) {
		t.Fatal("the persisted key was not reused")
	}
	for _, v := range []string{"1", "2"} {
		var wg sync.WaitGroup
		envs := make([]*Envelope, 8)
		for i := range envs {
			envs[i] = &Envelope{Type: TypeNotification, MessageID: "id", TopicArn: "arn", Message: "hello", Timestamp: "ts"}
			wg.Add(1)
			go func(e *Envelope) { defer wg.Done(); s1.Sign(e, v) }(envs[i])
		}
		wg.Wait()
		for _, e := range envs {
			if e.SignatureVersion != v || e.Signature != envs[0].Signature {
				t.Fatalf("v%s: concurrent signatures differ", v)
			}
			if err := VerifyEnvelope(e, s2.CertPEM()); err != nil {
				t.Fatalf("v%s: %v", v, err)
			}
		}
		tampered := *envs[0]
		tampered.Message = "hellO"
		if VerifyEnvelope(&tampered, s1.CertPEM()) == nil {
			t.Fatalf("v%s: tampered message verified", v)
		}
	}
}

func TestMarshalEnvelopeNoHTMLEscape(t *testing.T) {
	out := string(marshalEnvelope(&Envelope{Type: TypeNotification, Message: "<a&b>"}))
	if !strings.Contains(out, `"Message":"<a&b>"`) || strings.HasSuffix(out, "\n") {
		t.Fatalf("%s", out)
	}
}

func TestReasonFor(t *testing.T) {
	cases := []struct {
		err    error
		code   string
		status int
	}{
		{core.ErrNotFound, "NotFound", 404},
		{core.ErrTooLarge, "InvalidParameter", 400},
		{core.ErrQuotaExceeded, "Throttled", 403},
		{core.ErrAccessDenied, "AuthorizationError", 403},
		{core.ErrInvalidArg, "InvalidParameter", 400},
		{core.ErrUnavailable, "ServiceUnavailable", 503},
		{core.ErrClosed, "ServiceUnavailable", 503},
	}
	for _, c := range cases {
		e := reasonFor(errors.Join(errors.New("context"), c.err))
		if e == nil || e.Code != c.code || e.Status != c.status || strings.Contains(e.Message, "context") {
			t.Errorf("%v -> %+v", c.err, e)
		}
	}
	if reasonFor(errors.New("other")) != nil {
		t.Error("unknown errors must fall through to InternalFailure")
	}
	var _ *awsapi.Error = reasonFor(core.ErrNotFound)
}

func TestXMLTextEscaping(t *testing.T) {
	x := newXML()
	x.elem("V", "a<b>&\"'\r\n\t\x01z")
	if got := string(x.b); got != "<V>a&lt;b&gt;&amp;&quot;&apos;&#13;\n\t\uFFFDz</V>" {
		t.Fatalf("%q", got)
	}
}

func TestRetrySchedule(t *testing.T) {
	secs := func(ds []time.Duration) []float64 {
		out := make([]float64, len(ds))
		for i, d := range ds {
			out[i] = d.Seconds()
		}
		return out
	}
	cases := []struct {
		p    retryPolicy
		want []float64
	}{
		{retryPolicy{NumRetries: 3, MinDelayTarget: 20, MaxDelayTarget: 20}, []float64{20, 20, 20}},
		{retryPolicy{NumRetries: 0, MinDelayTarget: 20, MaxDelayTarget: 20}, []float64{}},
		{retryPolicy{NumRetries: 8, NumNoDelayRetries: 2, NumMinDelayRetries: 1, NumMaxDelayRetries: 1, MinDelayTarget: 1, MaxDelayTarget: 9, BackoffFunction: "linear"},
			[]float64{0, 0, 1, 3, 5, 7, 9, 9}},
		{retryPolicy{NumRetries: 3, MinDelayTarget: 1, MaxDelayTarget: 8, BackoffFunction: "geometric"}, []float64{2, 4, 8}},
		{retryPolicy{NumRetries: 3, MinDelayTarget: 0, MaxDelayTarget: 7, BackoffFunction: "exponential"}, []float64{1, 3, 7}},
	}
	for _, c := range cases {
		got := secs(c.p.schedule())
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%+v: got %v want %v", c.p, got, c.want)
		}
	}
	if _, err := parseDeliveryPolicy(`{"healthyRetryPolicy": {"numRetries": 2, "numNoDelayRetries": 3}}`); err == nil {
		t.Error("phase counts above numRetries accepted")
	}
	if _, err := parseDeliveryPolicy(`{"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 5, "maxDelayTarget": 1}}`); err == nil {
		t.Error("max below min accepted")
	}
}
