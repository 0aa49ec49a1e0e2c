package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sqsLean is a minimal AWS JSON 1.0 SQS client for measuring the broker
// rather than the SDK: one keep-alive HTTP/1.1 connection per caller,
// requests written by hand and signed with SigV4 (signing key cached per
// day), replies scanned for the fields the scenario needs. It checks the
// status and the batch "Failed" list; it does not verify MD5s (the SDK
// tests do). -extra lean selects it; -extra lean,query speaks the Query
// protocol (form POST, XML replies) the same way.
type sqsLean struct {
	query           bool // Query protocol (form POST, XML replies) instead of JSON 1.0
	addr, host, url string
	access, secret  string
	conns           chan *leanConn

	keyMu  sync.Mutex
	keyDay string
	key    []byte // SigV4 signing key of keyDay
}

type leanConn struct {
	c   net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte
	hdr []byte // request head, reused
}

func newSQSLean(endpoint, queueURL, access, secret string) *sqsLean {
	host := strings.TrimPrefix(strings.TrimPrefix(endpoint, "http://"), "https://")
	return &sqsLean{addr: host, host: host, url: queueURL, access: access, secret: secret, conns: make(chan *leanConn, 1024)}
}

func (l *sqsLean) get() (*leanConn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	default:
	}
	c, err := net.Dial("tcp", l.addr)
	if err != nil {
		return nil, err
	}
	return &leanConn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}, nil
}

func (l *sqsLean) put(c *leanConn) {
	select {
	case l.conns <- c:
	default:
		c.c.Close()
	}
}

func (l *sqsLean) signingKey(day string) []byte {
	l.keyMu.Lock()
	defer l.keyMu.Unlock()
	if l.keyDay != day {
		l.key = hmacSHA256(hmacSHA256(hmacSHA256(hmacSHA256([]byte("AWS4"+l.secret), day), "us-east-1"), "sqs"), "aws4_request")
		l.keyDay = day
	}
	return l.key
}

func hmacSHA256(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

// call POSTs body as AmazonSQS.<action> and returns the reply body.
func (l *sqsLean) call(ctx context.Context, action string, body []byte) ([]byte, error) {
	c, err := l.get()
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.c.SetDeadline(dl.Add(25 * time.Second)) // long polls answer within 20 s
	}
	now := time.Now().UTC()
	amzDate := now.Format("20060102T150405Z")
	day := amzDate[:8]
	ctype, target := "application/x-amz-json-1.0", "AmazonSQS."+action
	signed := "content-type;host;x-amz-date;x-amz-target"
	if l.query {
		ctype, target, signed = "application/x-www-form-urlencoded", "", "content-type;host;x-amz-date"
	}
	sum := sha256.Sum256(body)
	canonical := "POST\n/\n\ncontent-type:" + ctype + "\nhost:" + l.host + "\nx-amz-date:" + amzDate + "\n"
	if !l.query {
		canonical += "x-amz-target:" + target + "\n"
	}
	canonical += "\n" + signed + "\n" + hex.EncodeToString(sum[:])
	scope := day + "/us-east-1/sqs/aws4_request"
	csum := sha256.Sum256([]byte(canonical))
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(csum[:])
	key := l.signingKey(day)
	sig := hex.EncodeToString(hmacSHA256(key, sts))
	h := c.hdr[:0]
	h = append(h, "POST / HTTP/1.1\r\nHost: "...)
	h = append(h, l.host...)
	h = append(h, "\r\nContent-Type: "...)
	h = append(h, ctype...)
	if !l.query {
		h = append(h, "\r\nX-Amz-Target: "...)
		h = append(h, target...)
	}
	h = append(h, "\r\nX-Amz-Date: "...)
	h = append(h, amzDate...)
	h = append(h, "\r\nAuthorization: AWS4-HMAC-SHA256 Credential="...)
	h = append(h, l.access...)
	h = append(h, '/')
	h = append(h, scope...)
	h = append(h, ", SignedHeaders="...)
	h = append(h, signed...)
	h = append(h, ", Signature="...)
	h = append(h, sig...)
	h = append(h, "\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(len(body)), 10)
	h = append(h, "\r\n\r\n"...)
	c.hdr = h
	c.w.Write(h)
	c.w.Write(body)
	if err := c.w.Flush(); err != nil {
		c.c.Close()
		return nil, err
	}
	status, data, err := c.readResponse()
	if err != nil {
		c.c.Close()
		return nil, err
	}
	data = bytes.Clone(data) // c.buf is reused once c is back in the pool
	l.put(c)
	if status != 200 {
		return nil, fmt.Errorf("%s: HTTP %d %s", action, status, data)
	}
	return data, nil
}

func (c *leanConn) readResponse() (int, []byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	f := bytes.Fields(line)
	if len(f) < 2 {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	n := -1
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && strings.EqualFold(string(k), "Content-Length") {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return 0, nil, fmt.Errorf("reply without Content-Length")
	}
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	_, err = io.ReadFull(c.r, c.buf)
	return status, c.buf, err
}

func (l *sqsLean) batchFailed(data []byte) error {
	if i := bytes.Index(data, []byte(`<BatchResultErrorEntry>`)); i >= 0 {
		return fmt.Errorf("batch entries failed: %s", data[i:])
	}
	if i := bytes.Index(data, []byte(`"Failed":[{`)); i >= 0 {
		return fmt.Errorf("batch entries failed: %s", data[i:])
	}
	return nil
}

func (l *sqsLean) form(action string) []byte {
	b := append([]byte("Action="), action...)
	b = append(b, "&Version=2012-11-05&QueueUrl="...)
	return append(b, url.QueryEscape(l.url)...)
}

func (l *sqsLean) sendBatch(ctx context.Context, bodies []string) error {
	if l.query {
		b := l.form("SendMessageBatch")
		for i, body := range bodies {
			n := strconv.Itoa(i + 1)
			b = append(b, "&SendMessageBatchRequestEntry."+n+".Id="+n+"&SendMessageBatchRequestEntry."+n+".MessageBody="...)
			b = append(b, url.QueryEscape(body)...)
		}
		data, err := l.call(ctx, "SendMessageBatch", b)
		if err != nil {
			return err
		}
		return l.batchFailed(data)
	}
	b := make([]byte, 0, 64+len(bodies)*(len(bodies[0])+48))
	b = append(b, `{"QueueUrl":`...)
	b = appendJSONString(b, l.url)
	b = append(b, `,"Entries":[`...)
	for i, body := range bodies {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Id":"`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","MessageBody":`...)
		b = appendJSONString(b, body)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	data, err := l.call(ctx, "SendMessageBatch", b)
	if err != nil {
		return err
	}
	return l.batchFailed(data)
}

func (l *sqsLean) send(ctx context.Context, body string) error {
	if l.query {
		b := append(l.form("SendMessage"), "&MessageBody="...)
		_, err := l.call(ctx, "SendMessage", append(b, url.QueryEscape(body)...))
		return err
	}
	b := appendJSONString([]byte(`{"QueueUrl":`), l.url)
	b = append(b, `,"MessageBody":`...)
	b = appendJSONString(b, body)
	b = append(b, '}')
	_, err := l.call(ctx, "SendMessage", b)
	return err
}

func (l *sqsLean) receive(ctx context.Context, max, wait int) ([]string, error) {
	var b []byte
	key, end := `"ReceiptHandle":"`, byte('"')
	if l.query {
		b = l.form("ReceiveMessage")
		b = append(b, "&MaxNumberOfMessages="+strconv.Itoa(max)+"&WaitTimeSeconds="+strconv.Itoa(wait)...)
		key, end = "<ReceiptHandle>", '<'
	} else {
		b = appendJSONString([]byte(`{"QueueUrl":`), l.url)
		b = append(b, `,"MaxNumberOfMessages":`...)
		b = strconv.AppendInt(b, int64(max), 10)
		b = append(b, `,"WaitTimeSeconds":`...)
		b = strconv.AppendInt(b, int64(wait), 10)
		b = append(b, '}')
	}
	data, err := l.call(ctx, "ReceiveMessage", b)
	if err != nil {
		return nil, err
	}
	var hs []string
	for {
		i := bytes.Index(data, []byte(key))
		if i < 0 {
			return hs, nil
		}
		data = data[i+len(key):]
		j := bytes.IndexByte(data, end) // handles are URL-safe: no escapes
		if j < 0 {
			return hs, fmt.Errorf("truncated ReceiveMessage reply")
		}
		hs = append(hs, string(data[:j]))
		data = data[j:]
	}
}

func (l *sqsLean) deleteBatch(ctx context.Context, handles []string) error {
	if l.query {
		b := l.form("DeleteMessageBatch")
		for i, h := range handles {
			n := strconv.Itoa(i + 1)
			b = append(b, "&DeleteMessageBatchRequestEntry."+n+".Id="+n+"&DeleteMessageBatchRequestEntry."+n+".ReceiptHandle="...)
			b = append(b, url.QueryEscape(h)...)
		}
		data, err := l.call(ctx, "DeleteMessageBatch", b)
		if err != nil {
			return err
		}
		return l.batchFailed(data)
	}
	b := appendJSONString([]byte(`{"QueueUrl":`), l.url)
	b = append(b, `,"Entries":[`...)
	for i, h := range handles {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Id":"`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","ReceiptHandle":`...)
		b = appendJSONString(b, h)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	data, err := l.call(ctx, "DeleteMessageBatch", b)
	if err != nil {
		return err
	}
	return l.batchFailed(data)
}

// appendJSONString appends s as a JSON string: plain printable ASCII is
// copied as is, anything else goes through strconv's quoting (valid JSON
// for the bodies and handles this client sends).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
