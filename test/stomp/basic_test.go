package stomp_test

import (
	"fmt"
	"testing"

	"github.com/go-stomp/stomp/v3"

	"github.com/omnibroker/broker/test"
)

// TestGoStompMatrix: every transport and version: SEND with receipt to a
// queue, consume in client-individual mode, ACK, NACK redelivery, topics.
func TestGoStompMatrix(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			var opts []test.Option
			if tr.opts != nil {
				opts = tr.opts(t)
			}
			b := test.StartBroker(t, opts...)
			for _, v := range versions {
				t.Run(v.String(), func(t *testing.T) {
					q := fmt.Sprintf("/queue/m-%s-%s", tr.name, v)
					c := connect(t, tr.dial(t, b), v)
					if c.Version() != v {
						t.Fatalf("negotiated %s", c.Version())
					}
					body := []byte("hello\x00world")
					if err := c.Send(q, "text/plain", body, stomp.SendOpt.Receipt,
						stomp.SendOpt.Header("persistent", "true"), stomp.SendOpt.Header("x-app", "a:b\\c")); err != nil {
						t.Fatal(err)
					}
					sub, err := c.Subscribe(q, stomp.AckClientIndividual)
					if err != nil {
						t.Fatal(err)
					}
					m := recv(t, sub)
					if string(m.Body) != string(body) || m.ContentType != "text/plain" || m.Header.Get("persistent") != "true" {
						t.Fatalf("got %q %q %v", m.Body, m.ContentType, m.Header)
					}
					if v != stomp.V10 && m.Header.Get("x-app") != "a:b\\c" {
						t.Fatalf("header x-app = %q", m.Header.Get("x-app"))
					}
					if err := c.Nack(m); err != nil && v != stomp.V10 {
						t.Fatal(err)
					}
					if v != stomp.V10 { // STOMP 1.0 has no NACK
						m = recv(t, sub)
						if m.Header.Get("redelivered") != "true" {
							t.Fatalf("redelivery without flag: %v", m.Header)
						}
					}
					if err := c.Ack(m); err != nil {
						t.Fatal(err)
					}
					test.WaitFor(t, 5e9, "ack settles", func() bool {
						info, err := b.Core().Queue(q[len("/queue/"):], "")
						return err == nil && info.Ready == 0 && info.Unacked == 0
					})
					// Topic fan-out with wildcards.
					s1, _ := c.Subscribe("/topic/t.*", stomp.AckAuto)
					s2, _ := c.Subscribe("/topic/t.>", stomp.AckAuto)
					if err := c.Send("/topic/t.x", "", []byte("T"), stomp.SendOpt.Receipt); err != nil {
						t.Fatal(err)
					}
					for _, s := range []*stomp.Subscription{s1, s2} {
						if m := recv(t, s); string(m.Body) != "T" || m.Destination != "/topic/t.x" {
							t.Fatalf("topic got %q at %s", m.Body, m.Destination)
						}
					}
					s1.Unsubscribe()
					s2.Unsubscribe()
				})
			}
		})
	}
}
