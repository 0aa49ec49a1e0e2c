package amqp

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners/amqp/frame"
)

func TestReasonFor(t *testing.T) {
	cases := []struct {
		err  error
		code uint16
		text string
	}{
		{fmt.Errorf("no queue 'q' in vhost '/': %w", core.ErrNotFound), 404, "NOT_FOUND - no queue 'q' in vhost '/'"},
		{fmt.Errorf("login refused: %w", core.ErrAccessDenied), 403, "ACCESS_REFUSED - login refused"},
		{fmt.Errorf("queue 'q' locked: %w", core.ErrLocked), 405, "RESOURCE_LOCKED - queue 'q' locked"},
		{fmt.Errorf("inequivalent: %w", core.ErrPrecondition), 406, "PRECONDITION_FAILED - inequivalent"},
		{fmt.Errorf("in use: %w", core.ErrInUse), 406, "PRECONDITION_FAILED - in use"},
		{fmt.Errorf("not empty: %w", core.ErrNotEmpty), 406, "PRECONDITION_FAILED - not empty"},
		{fmt.Errorf("bad: %w", core.ErrInvalidArg), 406, "PRECONDITION_FAILED - bad"},
		{fmt.Errorf("long: %w", core.ErrInvalidName), 406, "PRECONDITION_FAILED - long"},
		{fmt.Errorf("big: %w", core.ErrTooLarge), 406, "PRECONDITION_FAILED - big"},
		{fmt.Errorf("full: %w", core.ErrQuotaExceeded), 406, "PRECONDITION_FAILED - full"},
		{fmt.Errorf("exists: %w", core.ErrExists), 406, "PRECONDITION_FAILED - exists"},
		{fmt.Errorf("broker: %w", core.ErrClosed), 320, "CONNECTION_FORCED - broker"},
		{fmt.Errorf("store: %w", core.ErrUnavailable), 541, "INTERNAL_ERROR - store"},
		{errors.New("some go error: index out of range"), 541, "INTERNAL_ERROR - internal error"},
		{newErr(ReplyFrameError, "bad frame"), 501, "FRAME_ERROR - bad frame"},
	}
	for _, c := range cases {
		got := reasonFor(c.err)
		if got.Code != c.code || got.Text != c.text {
			t.Errorf("reasonFor(%v) = %d %q, want %d %q", c.err, got.Code, got.Text, c.code, c.text)
		}
	}
	for code := range replyNames {
		want := code >= 500 || code == 320 || code == 402
		if code == ReplySuccess {
			continue
		}
		if isHard(code) != want {
			t.Errorf("isHard(%d) = %v", code, isHard(code))
		}
	}
	long := newErr(ReplyNotFound, "%s", string(make([]byte, 400)))
	if len(long.Text) != 255 {
		t.Errorf("reply text not bounded to a shortstr: %d", len(long.Text))
	}
}

func TestQueueConfigArgs(t *testing.T) {
	cfg, err := queueConfig("q", true, false, false, "c1", core.Table{
		"x-message-ttl": int32(1500), "x-expires": int64(60000), "x-max-length": int16(10), "x-max-length-bytes": int64(1 << 20),
		"x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dk",
		"x-max-priority": uint8(9), "x-single-active-consumer": true, "x-delivery-limit": int32(3), "x-queue-type": "quorum",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MessageTTL != 1500*time.Millisecond || cfg.Expires != time.Minute || cfg.MaxLength != 10 || cfg.MaxBytes != 1<<20 ||
		cfg.Overflow != core.OverflowRejectPublishDLX || !cfg.HasDeadLetter || cfg.DeadLetterExchange != "dlx" ||
		cfg.DeadLetterRoutingKey != "dk" || cfg.MaxPriority != 9 || !cfg.SingleActiveConsumer || cfg.MaxDeliveries != 4 || cfg.Owner != "" {
		t.Fatalf("mapped %+v", cfg)
	}
	ex, _ := queueConfig("e", false, true, false, "c1", nil)
	if ex.Owner != "c1" || !ex.Exclusive {
		t.Fatalf("exclusive owner %+v", ex)
	}
	bad := []core.Table{
		{"x-message-ttl": "soon"}, {"x-message-ttl": int32(-1)}, {"x-expires": int32(0)}, {"x-max-length": -1},
		{"x-overflow": "nope"}, {"x-dead-letter-exchange": int32(1)}, {"x-dead-letter-routing-key": "k"},
		{"x-max-priority": int32(300)}, {"x-single-active-consumer": "yes"}, {"x-queue-type": "quorum"},
		{"x-queue-type": "weird"}, {"x-delivery-limit": -2},
	}
	for _, args := range bad {
		_, err := queueConfig("q", false, false, false, "c", args)
		var ae *amqpError
		if !errors.As(err, &ae) || ae.Code != ReplyPreconditionFailed {
			t.Errorf("args %v: got %v, want 406", args, err)
		}
	}
	if _, err := exchangeKind("x-consistent-hash"); reasonFor(err).Code != ReplyCommandInvalid {
		t.Errorf("unknown exchange type: %v", err)
	}
}

func TestConfirmSetInOrder(t *testing.T) {
	o := newOutbox(1<<20, 8<<20)
	ch := &channel{id: 1}
	cs := &confirmSet{out: o, ch: ch}
	s1, s2, s3, s4 := cs.add(), cs.add(), cs.add(), cs.add()
	cs.release(s1)
	cs.release(s2)
	cs.release(s3)
	cs.release(s4)
	// Completed out of order; s1 still pending holds everything back.
	cs.done(s3, nil)
	cs.done(s2, errors.New("store failed"))
	if got := cs.flush(nil, 1); len(got) != 0 {
		t.Fatalf("confirms before the head was done: %v", got)
	}
	cs.done(s1, nil)
	cs.done(s4, nil)
	got := decodeAll(t, cs.flush(nil, 1))
	want := []frame.Method{&frame.BasicAck{DeliveryTag: 1}, &frame.BasicNack{DeliveryTag: 2}, &frame.BasicAck{DeliveryTag: 4, Multiple: true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	// A held sequence (publish still being processed) blocks later ones.
	s5, s6 := cs.add(), cs.add()
	cs.done(s5, nil)
	cs.release(s6)
	cs.done(s6, nil)
	if got := cs.flush(nil, 1); len(got) != 0 {
		t.Fatal("confirm sent while the publish was held")
	}
	cs.release(s5)
	if got := decodeAll(t, cs.flush(nil, 1)); !reflect.DeepEqual(got, []frame.Method{&frame.BasicAck{DeliveryTag: 6, Multiple: true}}) {
		t.Fatalf("got %v", got)
	}
}

func decodeAll(t *testing.T, b []byte) []frame.Method {
	t.Helper()
	var out []frame.Method
	for len(b) > 0 {
		n := int(b[3])<<24 | int(b[4])<<16 | int(b[5])<<8 | int(b[6])
		m, err := frame.ReadMethod(b[7 : 7+n])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		b = b[8+n:]
	}
	return out
}

func TestTakeTags(t *testing.T) {
	ch := &channel{consumers: map[string]*consumer{}, tag: 10}
	for i := uint64(1); i <= 10; i++ {
		ch.ua = append(ch.ua, unacked{tag: i, lease: 100 + i, queue: "q"})
		ch.nUnacked++
	}
	if got, err := ch.take(3, false); err != nil || len(got) != 1 || got[0].lease != 103 {
		t.Fatalf("single: %v %v", got, err)
	}
	if _, err := ch.take(3, false); err == nil {
		t.Fatal("double ack accepted")
	}
	got, err := ch.take(5, true)
	if err != nil || len(got) != 4 || got[0].tag != 1 || got[3].tag != 5 {
		t.Fatalf("multiple: %v %v", got, err)
	}
	if _, err := ch.take(42, false); err == nil {
		t.Fatal("unknown tag accepted")
	}
	if _, err := ch.take(11, true); err == nil {
		t.Fatal("multiple ack beyond the last delivery tag accepted")
	}
	if got, err := ch.take(0, true); err != nil || len(got) != 5 || ch.nUnacked != 0 {
		t.Fatalf("all: %v %v %d", got, err, ch.nUnacked)
	}
}

func TestSASL(t *testing.T) {
	u, p, err := saslCredentials("PLAIN", "authz\x00guest\x00pw\x00with-nul")
	if err != nil || u != "guest" || p != "pw\x00with-nul" {
		t.Fatalf("PLAIN %q %q %v", u, p, err)
	}
	body := frame.AppendTableBody(nil, core.Table{"LOGIN": "bob", "PASSWORD": "secret"})
	if u, p, err := saslCredentials("AMQPLAIN", string(body)); err != nil || u != "bob" || p != "secret" {
		t.Fatalf("AMQPLAIN %q %q %v", u, p, err)
	}
	if _, _, err := saslCredentials("PLAIN", "nonul"); err == nil {
		t.Fatal("malformed PLAIN accepted")
	}
	if _, _, err := saslCredentials("EXTERNAL", ""); reasonFor(err).Code != ReplyCommandInvalid {
		t.Fatalf("unknown mechanism: %v", err)
	}
}
