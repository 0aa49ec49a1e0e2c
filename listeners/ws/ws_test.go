package ws

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/omnibroker/broker/listeners"
)

// echo is a ConnHandler that writes back what it reads, prefixed by name.
func echo(name string) listeners.ConnHandler {
	return listeners.ConnHandlerFunc(func(ctx context.Context, c net.Conn) {
		defer c.Close()
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(append([]byte(name+":"), buf[:n]...)); err != nil {
				return
			}
		}
	})
}

func TestPick(t *testing.T) {
	cases := []struct {
		path    string
		offered []string
		p       proto
		sub     string
		status  int
	}{
		{"/mqtt", []string{"mqtt"}, protoMQTT, "mqtt", 0},
		{"/mqtt", nil, protoMQTT, "", 0},
		{"/stomp", []string{"v10.stomp", "v12.stomp", "v11.stomp"}, protoSTOMP, "v12.stomp", 0},
		{"/stomp", nil, protoSTOMP, "", 0},
		{"/ws", []string{"mqtt"}, protoMQTT, "mqtt", 0},
		{"/ws", []string{"v11.stomp"}, protoSTOMP, "v11.stomp", 0},
		{"/ws", []string{"stomp", "v10.stomp"}, protoSTOMP, "v10.stomp", 0},
		{"/ws", []string{"amqp"}, protoNone, "", http.StatusBadRequest},
		{"/ws", nil, protoNone, "", http.StatusBadRequest},
		{"/other", []string{"mqtt"}, protoNone, "", http.StatusNotFound},
	}
	for _, c := range cases {
		p, sub, st := pick(c.path, c.offered)
		if p != c.p || sub != c.sub || st != c.status {
			t.Errorf("pick(%s, %v) = %v %q %d", c.path, c.offered, p, sub, st)
		}
	}
}

func TestTransport(t *testing.T) {
	h := New(Options{MQTT: echo("mqtt"), STOMP: echo("stomp"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for _, c := range []struct {
		path, proto, want string
		mt                int
	}{
		{"/ws", "mqtt", "mqtt:", websocket.BinaryMessage},
		{"/ws", "v12.stomp", "stomp:", websocket.TextMessage},
		{"/stomp", "v11.stomp", "stomp:", websocket.TextMessage},
		{"/mqtt", "mqtt", "mqtt:", websocket.BinaryMessage},
	} {
		d := websocket.Dialer{Subprotocols: []string{c.proto}, HandshakeTimeout: 5 * time.Second}
		conn, _, err := d.Dial(url+c.path, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", c.path, c.proto, err)
		}
		if conn.Subprotocol() != c.proto {
			t.Errorf("%s: subprotocol %q", c.path, conn.Subprotocol())
		}
		// Two messages read as one stream by the handler.
		conn.WriteMessage(websocket.BinaryMessage, []byte("ab"))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if mt != c.mt || string(msg) != c.want+"ab" {
			t.Errorf("%s %s: got type %d %q", c.path, c.proto, mt, msg)
		}
		conn.Close()
	}
	// Unknown subprotocol on /ws, unknown path, nil handler.
	for _, c := range []struct {
		path, proto string
		status      int
	}{{"/ws", "amqp", 400}, {"/nope", "mqtt", 404}} {
		d := websocket.Dialer{Subprotocols: []string{c.proto}}
		_, resp, err := d.Dial(url+c.path, nil)
		if err == nil || resp == nil || resp.StatusCode != c.status {
			t.Errorf("%s: err %v resp %v", c.path, err, resp)
		}
	}
	h2 := New(Options{STOMP: echo("stomp"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv2 := httptest.NewServer(h2)
	defer srv2.Close()
	_, resp, err := (&websocket.Dialer{Subprotocols: []string{"mqtt"}}).Dial("ws"+strings.TrimPrefix(srv2.URL, "http")+"/mqtt", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("nil MQTT handler: err %v resp %v", err, resp)
	}
}
