package h1

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// response buffers a handler's reply.
type response struct {
	c      *conn
	hdr    http.Header
	status int
	body   []byte
	n      int  // bytes written by the handler
	head   bool // HEAD request: no body is sent
}

func (w *response) Header() http.Header { return w.hdr }

func (w *response) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	if !w.head {
		w.body = append(w.body, p...)
	}
	return len(p), nil
}

// finish writes status line, headers and body in one write.
func (w *response) finish(keep bool) error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	c := w.c
	b := c.out[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(w.status)...)
	b = append(b, "\r\n"...)
	if _, ok := w.hdr["Content-Type"]; !ok && len(w.body) > 0 {
		w.hdr["Content-Type"] = []string{http.DetectContentType(w.body)}
	}
	if _, ok := w.hdr["Date"]; !ok {
		b = append(b, "Date: "...)
		b = appendDate(b)
		b = append(b, "\r\n"...)
	}
	for k, vs := range w.hdr {
		if k == "Content-Length" || k == "Connection" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendHeaderValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	if w.status >= 200 && w.status != http.StatusNoContent && w.status != http.StatusNotModified {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(w.n), 10)
		b = append(b, "\r\n"...)
	}
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	var err error
	if len(w.body) <= 16<<10 {
		b = append(b, w.body...)
		_, err = c.nc.Write(b)
	} else {
		bufs := net.Buffers{b, w.body}
		_, err = bufs.WriteTo(c.nc)
	}
	c.out = b[:0]
	if cap(c.out) > keepBufSize {
		c.out = nil
	}
	if cap(w.body) > keepBufSize {
		w.body = nil // do not keep a large reply's buffer per connection
	}
	return err
}

// appendHeaderValue drops CR and LF (as net/http does) so a value cannot
// split the head.
func appendHeaderValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' {
			b = append(b, ' ')
		} else {
			b = append(b, c)
		}
	}
	return b
}

var dateCache struct {
	mu  sync.Mutex
	sec int64
	val []byte
}

func appendDate(b []byte) []byte {
	now := time.Now()
	dateCache.mu.Lock()
	if s := now.Unix(); s != dateCache.sec {
		dateCache.sec = s
		dateCache.val = now.UTC().AppendFormat(dateCache.val[:0], http.TimeFormat)
	}
	b = append(b, dateCache.val...)
	dateCache.mu.Unlock()
	return b
}
