package listeners

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func echoHandler(served *atomic.Int32) ConnHandler {
	return ConnHandlerFunc(func(ctx context.Context, c net.Conn) {
		defer c.Close()
		served.Add(1)
		go func() { <-ctx.Done(); c.Write([]byte("bye\n")); c.Close() }()
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.TrimSpace(line) == "panic" {
				panic("boom")
			}
			c.Write([]byte(line))
		}
	})
}

func start(t *testing.T, cfg Config, h ConnHandler) *Listener {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go l.Serve(h)
	t.Cleanup(func() { l.Shutdown(context.Background()) })
	return l
}

func roundTrip(t *testing.T, c net.Conn, s string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	c.Write([]byte(s + "\n"))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "ERR " + err.Error()
	}
	return strings.TrimSpace(line)
}

func TestServeEchoAndPanicIsolation(t *testing.T) {
	var served atomic.Int32
	l := start(t, Config{Name: "test"}, echoHandler(&served))
	a, _ := net.Dial("tcp", l.Addr().String())
	b, _ := net.Dial("tcp", l.Addr().String())
	defer a.Close()
	defer b.Close()
	if got := roundTrip(t, a, "hello"); got != "hello" {
		t.Fatalf("echo: %q", got)
	}
	if got := roundTrip(t, b, "panic"); !strings.HasPrefix(got, "ERR") {
		t.Fatalf("panicking connection stayed open: %q", got)
	}
	if got := roundTrip(t, a, "still"); got != "still" {
		t.Fatalf("other connection broken by a panic: %q", got)
	}
}

func TestConnectionLimit(t *testing.T) {
	var served atomic.Int32
	l := start(t, Config{Name: "test", MaxConns: 1}, echoHandler(&served))
	a, _ := net.Dial("tcp", l.Addr().String())
	defer a.Close()
	roundTrip(t, a, "x")
	b, _ := net.Dial("tcp", l.Addr().String())
	defer b.Close()
	if got := roundTrip(t, b, "y"); !strings.HasPrefix(got, "ERR") {
		t.Fatalf("second connection over the limit served: %q", got)
	}
}

func TestGracefulShutdownSaysGoodbye(t *testing.T) {
	var served atomic.Int32
	l := start(t, Config{Name: "test"}, echoHandler(&served))
	a, _ := net.Dial("tcp", l.Addr().String())
	roundTrip(t, a, "x")
	done := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.Shutdown(ctx)
		close(done)
	}()
	a.SetDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(a).ReadString('\n')
	if line != "bye\n" {
		t.Fatalf("goodbye: %q", line)
	}
	<-done
	if _, err := net.DialTimeout("tcp", l.Addr().String(), 200*time.Millisecond); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestListenErrorNamesAddr(t *testing.T) {
	l := start(t, Config{Name: "amqp"}, echoHandler(new(atomic.Int32)))
	_, err := Listen(Config{Name: "amqp", Addr: l.Addr().String(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "listeners.amqp.addr "+l.Addr().String()) {
		t.Fatalf("error: %v", err)
	}
}

// An HTTP listener with max_conns answers 503 to a connection over the
// limit and closes it; a slot comes back when a connection closes.
func TestLimitListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(raw, 1, "aws", slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(ln)
	defer srv.Close()
	get := func(c net.Conn) string {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return fmt.Sprintf("%d %s", res.StatusCode, b)
	}
	a, _ := net.Dial("tcp", ln.Addr().String())
	if got := get(a); got != "200 ok" {
		t.Fatalf("first connection: %s", got)
	}
	b, _ := net.Dial("tcp", ln.Addr().String())
	if got := get(b); !strings.HasPrefix(got, "503 ") {
		t.Fatalf("connection over the limit: %s", got)
	}
	b.Close()
	if got := get(a); got != "200 ok" {
		t.Fatalf("first connection after a refusal: %s", got)
	}
	a.Close()
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, _ := net.Dial("tcp", ln.Addr().String())
		got := get(c)
		c.Close()
		if got == "200 ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not returned after close: %s", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
