package h1

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echo answers with what it saw of the request; /slow waits for its
// context; /panic panics.
func echo(fast *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(*response); ok && fast != nil {
			fast.Add(1)
		}
		switch r.URL.Path {
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		case "/panic":
			panic("boom")
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Target", r.Header.Get("X-Amz-Target"))
		w.WriteHeader(201)
		fmt.Fprintf(w, "%s %s host=%s q=%s len=%d body=%s", r.Method, r.URL.Path, r.Host, r.URL.RawQuery, r.ContentLength, body)
	})
}

func start(t *testing.T, h http.Handler) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// A net/http client sees the same answers from the fast path as from
// net/http, over one kept-alive connection.
func TestFastPathServesKeepAliveRequests(t *testing.T) {
	var fast atomic.Int64
	_, addr := start(t, echo(&fast))
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for i := 0; i < 20; i++ {
		body := strings.Repeat("b", i*1000)
		req, _ := http.NewRequest("POST", "http://"+addr+"/p/q?x=1", strings.NewReader(body))
		req.Header.Set("x-amz-target", "AmazonSQS.SendMessage")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("POST /p/q host=%s q=x=1 len=%d body=%s", addr, len(body), body)
		if resp.StatusCode != 201 || string(got) != want || resp.Header.Get("X-Target") != "AmazonSQS.SendMessage" || resp.Header.Get("Date") == "" {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, got, resp.Header)
		}
	}
	if fast.Load() != 20 {
		t.Fatalf("%d of 20 requests took the fast path", fast.Load())
	}
}

func rawExchange(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// Pipelined requests are answered in order; Connection: close ends the
// connection after its answer.
func TestPipelinedRequestsAndConnectionClose(t *testing.T) {
	_, addr := start(t, echo(nil))
	got := rawExchange(t, addr, "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: h\r\n\r\n"+
		"GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: h\r\n\r\n")
	for _, want := range []string{"POST /a host=h q= len=3 body=abc", "GET /b host=h", "GET /c host=h", "Connection: close"} {
		if !strings.Contains(got, want) {
			t.Fatalf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "/never") || strings.Count(got, "HTTP/1.1 201") != 3 {
		t.Fatalf("answers:\n%s", got)
	}
	if !(strings.Index(got, "/a") < strings.Index(got, "/b") && strings.Index(got, "/b") < strings.Index(got, "/c")) {
		t.Fatalf("out of order:\n%s", got)
	}
	// HTTP/1.0 closes unless asked to keep alive.
	got = rawExchange(t, addr, "GET /old HTTP/1.0\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 201 Created\r\n") || !strings.Contains(got, "GET /old") {
		t.Fatalf("HTTP/1.0: %q", got)
	}
}

// Requests the fast path does not serve go to net/http with the bytes
// already read: chunked bodies, Expect: 100-continue, HTTP/2 prefaces,
// garbage, oversized heads.
func TestOtherRequestsFallBackToNetHTTP(t *testing.T) {
	var fast atomic.Int64
	_, addr := start(t, echo(&fast))
	got := rawExchange(t, addr, "POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nxyz\r\n0\r\n\r\n")
	if !strings.Contains(got, "201 Created") || !strings.Contains(got, "body=xyz") {
		t.Fatalf("chunked: %q", got)
	}
	got = rawExchange(t, addr, "POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	if !strings.Contains(got, "100 Continue") || !strings.Contains(got, "body=ok") {
		t.Fatalf("expect: %q", got)
	}
	for _, bad := range []string{"garbage\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", "GET / HTTP/9.9\r\nHost: h\r\n\r\n"} {
		got = rawExchange(t, addr, bad)
		if !strings.HasPrefix(got, "HTTP/1.1 4") && !strings.HasPrefix(got, "HTTP/1.1 505") {
			t.Fatalf("%q: answered %q", bad, got)
		}
	}
	got = rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Fatalf("oversized head: %.80q", got)
	}
	if fast.Load() != 0 {
		t.Fatalf("%d fallback requests took the fast path", fast.Load())
	}
}

// A client that goes away during a long request cancels its context, as
// with net/http; a handler panic closes only that connection.
func TestClientGoneCancelsContextAndPanicsAreContained(t *testing.T) {
	ended := make(chan struct{})
	h := echo(nil)
	_, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.URL.Path == "/slow" {
			close(ended)
		}
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(3 * watchAfter)
	c.Close()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("handler context not cancelled after the client left")
	}
	if got := rawExchange(t, addr, "GET /panic HTTP/1.1\r\nHost: h\r\n\r\n"); got != "" {
		t.Fatalf("panic answered %q", got)
	}
	if got := rawExchange(t, addr, "GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"); !strings.Contains(got, "GET /after") {
		t.Fatalf("server unusable after a panic: %q", got)
	}
}

// A request that outlives the watch delay still gets its answer, and the
// connection is still usable (the watch read's byte is kept).
func TestWatchedRequestKeepsConnection(t *testing.T) {
	_, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * watchAfter)
		io.WriteString(w, "late "+r.URL.Path)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	// The second request arrives while the first is watched.
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(2 * watchAfter)
	io.WriteString(c, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
	for _, want := range []string{"late /1", "late /2"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Fatalf("got %q, want %q", b, want)
		}
	}
}

// Shutdown lets a request in progress finish and closes idle connections.
func TestShutdownDrains(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "done")
	})
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}}
	go s.Serve(ln)
	idle, _ := net.Dial("tcp", ln.Addr().String())
	defer idle.Close()
	busy, _ := net.Dial("tcp", ln.Addr().String())
	defer busy.Close()
	io.WriteString(busy, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection not closed: %v", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("shutdown returned %v before the request finished", err)
	default:
	}
	close(release)
	busy.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, _ := io.ReadAll(busy)
	if !strings.Contains(string(b), "done") || !strings.Contains(string(b), "Connection: close") {
		t.Fatalf("busy connection got %q", b)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("POST /a?b=c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Amz-Target: T\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\nhost: i\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		c := &conn{s: &Server{}, nc: fakeConn{}, buf: head}
		req := new(http.Request)
		_, simple := c.parse(head, req)
		if simple && (req.URL == nil || req.ContentLength < 0 || c.r != len(head)) {
			t.Fatalf("bad request from %q: %+v", head, req)
		}
		if std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head))); simple && err == nil {
			// Where net/http reads the head too, the headers agree.
			if !reflect.DeepEqual(req.Header, std.Header) || req.Host != std.Host || req.Method != std.Method {
				t.Fatalf("%q:\n got %q %q %v\nwant %q %q %v", head, req.Method, req.Host, req.Header, std.Method, std.Host, std.Header)
			}
		}
		if !simple && c.r != 0 {
			t.Fatalf("refused head consumed: %q", head)
		}
	})
}

type fakeConn struct{ net.Conn }

func (fakeConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// A client that half-closes after its request still gets the answer of a
// long request (net/http's behaviour), then the connection closes.
func TestHalfClosedClientGetsItsAnswer(t *testing.T) {
	_, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * watchAfter)
		io.WriteString(w, "answer")
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.Contains(string(b), "answer") || !strings.Contains(string(b), "Connection: close") {
		t.Fatalf("got %q", b)
	}
}
