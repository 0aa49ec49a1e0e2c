package stomp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners"
	"github.com/omnibroker/broker/listeners/stomp/frame"
)

func TestReasonFor(t *testing.T) {
	cases := []struct {
		err    error
		msg    string
		reason listeners.CloseReason
	}{
		{errProto("invalid destination", "x"), "invalid destination", listeners.ReasonProtocolError},
		{fmt.Errorf("read: %w", frame.ErrTooLarge), "frame too large", listeners.ReasonTooLarge},
		{frame.ErrTooManyHeader, "frame too large", listeners.ReasonTooLarge},
		{frame.ErrBadEscape, "malformed frame", listeners.ReasonProtocolError},
		{frame.ErrNoNull, "malformed frame", listeners.ReasonProtocolError},
		{fmt.Errorf("no queue 'q': %w", core.ErrNotFound), "not_found", listeners.ReasonProtocolError},
		{fmt.Errorf("x: %w", core.ErrAccessDenied), "access_refused", listeners.ReasonProtocolError},
		{fmt.Errorf("x: %w", core.ErrLocked), "resource_locked", listeners.ReasonResourceLocked},
		{fmt.Errorf("x: %w", core.ErrTooLarge), "message too large", listeners.ReasonTooLarge},
		{fmt.Errorf("x: %w", core.ErrInvalidName), "invalid argument", listeners.ReasonProtocolError},
		{fmt.Errorf("x: %w", core.ErrPrecondition), "precondition_failed", listeners.ReasonProtocolError},
		{fmt.Errorf("x: %w", core.ErrQuotaExceeded), "queue full", listeners.ReasonProtocolError},
		{fmt.Errorf("x: %w", core.ErrUnavailable), "server unavailable", listeners.ReasonShutdown},
		{errors.New("runtime: something odd at 0xc000"), "internal error", listeners.ReasonServerError},
	}
	for _, c := range cases {
		msg, detail, reason := reasonFor(c.err)
		if msg != c.msg || reason != c.reason {
			t.Errorf("%v: got %q %s, want %q %s", c.err, msg, reason, c.msg, c.reason)
		}
		if strings.Contains(detail, "0xc000") || strings.HasSuffix(detail, ": not found") {
			t.Errorf("%v: detail leaks %q", c.err, detail)
		}
	}
}

func TestReadCloseReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want listeners.CloseReason
		ok   bool
	}{
		{io.EOF, listeners.ReasonEOF, true},
		{io.ErrUnexpectedEOF, listeners.ReasonEOF, true},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), listeners.ReasonTimeout, true},
		{frame.ErrBadHeader, "", false},
	} {
		got, ok := readCloseReason(c.err)
		if got != c.want || ok != c.ok {
			t.Errorf("%v: got %s %v", c.err, got, ok)
		}
	}
}

func TestParseDest(t *testing.T) {
	c := &conn{id: "c1", s: &Server{o: Options{DefaultDestination: "queue"}}}
	cases := []struct {
		in            string
		kind          destKind
		exchange, key string
		queue         string
		bad           bool
	}{
		{in: "/queue/a.b", kind: destQueue, key: "a.b", queue: "a.b"},
		{in: "/topic/a.*.c", kind: destTopic, exchange: "amq.topic", key: "a.*.c"},
		{in: "/topic/a.>", kind: destTopic, exchange: "amq.topic", key: "a.#"},
		{in: "/exchange/amq.direct/k/with/slash", kind: destExchange, exchange: "amq.direct", key: "k/with/slash"},
		{in: "/exchange/amq.fanout", kind: destExchange, exchange: "amq.fanout"},
		{in: "/amq/queue/q1", kind: destAmqQueue, key: "q1", queue: "q1"},
		{in: "/temp-queue/r", kind: destTemp, key: "stomp-temp-c1-r", queue: "stomp-temp-c1-r"},
		{in: "/reply-queue/stomp-temp-x-r", kind: destReply, key: "stomp-temp-x-r", queue: "stomp-temp-x-r"},
		{in: "plain", kind: destQueue, key: "plain", queue: "plain"},
		{in: "", bad: true},
		{in: "/queue/", bad: true},
		{in: "/topic/", bad: true},
		{in: "/exchange/", bad: true},
		{in: "/temp-queue/", bad: true},
		{in: "/unknown/x", bad: true},
	}
	for _, tc := range cases {
		d, err := c.parseDest(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q parsed", tc.in)
			}
			continue
		}
		if err != nil || d.kind != tc.kind || d.exchange != tc.exchange || d.key != tc.key || d.queue != tc.queue {
			t.Errorf("%q: %+v %v", tc.in, d, err)
		}
	}
	c.s.o.DefaultDestination = "topic"
	if d, _ := c.parseDest("a.b"); d.kind != destTopic || d.key != "a.b" {
		t.Errorf("default topic: %+v", d)
	}
	if got := outReplyTo("stomp-temp-c1-r"); got != "/reply-queue/stomp-temp-c1-r" {
		t.Errorf("outReplyTo %q", got)
	}
}

func TestHeaderString(t *testing.T) {
	for v, want := range map[any]string{"s": "s", int64(-3): "-3", uint8(7): "7", true: "true", 1.5: "1.5", float32(2.25): "2.25"} {
		if got := headerString(v); got != want {
			t.Errorf("%T %v: %q", v, v, got)
		}
	}
	if headerString([]byte("b")) != "b" || headerString(nil) != "" {
		t.Error("bytes or nil")
	}
}
