package frame

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Limits bound what a Reader accepts. Zero fields take the defaults.
type Limits struct {
	MaxHeaderBytes int // command line + header lines, escaped (default 64 KiB)
	MaxHeaders     int // header entries (default 1000)
	MaxBody        int // body bytes (default 4 MiB)
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = 1000
	}
	if l.MaxBody <= 0 {
		l.MaxBody = 4 << 20
	}
	return l
}

// Reader parses frames from a stream.
type Reader struct {
	r       *bufio.Reader
	lim     Limits
	version Version
	line    []byte
}

// NewReader returns a Reader in STOMP 1.0 mode (no header escaping) until
// SetVersion is called after negotiation.
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 16<<10), lim: lim.withDefaults(), version: V10}
}

// SetVersion selects the escaping rules for the frames that follow.
func (r *Reader) SetVersion(v Version) { r.version = v }

// Read returns the next frame, or (nil, nil) for a heart-beat EOL.
// STOMP 1.2 "Heart-beating": a heart-beat is an EOL between frames.
func (r *Reader) Read() (*Frame, error) {
	budget := r.lim.MaxHeaderBytes
	line, err := r.readLine(&budget)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, nil
	}
	cmd := command(line)
	if cmd == "" {
		return nil, fmt.Errorf("%w: %q", ErrBadCommand, truncate(string(line), 32))
	}
	f := &Frame{Command: cmd, Headers: make([]Header, 0, 8)}
	// STOMP 1.2 "Value Encoding": CONNECT and CONNECTED frames do not escape.
	unescape := r.version >= V11 && cmd != CONNECT && cmd != CONNECTED && cmd != STOMP
	for {
		line, err = r.readLine(&budget)
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			break
		}
		if len(f.Headers) >= r.lim.MaxHeaders {
			return nil, ErrTooManyHeader
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return nil, ErrBadHeader
		}
		name, value := line[:i], line[i+1:]
		h := Header{}
		if unescape {
			if h.Name, err = decode(name, r.version); err != nil {
				return nil, err
			}
			if h.Value, err = decode(value, r.version); err != nil {
				return nil, err
			}
		} else {
			h.Name, h.Value = intern(name), string(value)
		}
		f.Headers = append(f.Headers, h)
	}
	n, ok, err := f.ContentLength()
	if err != nil {
		return nil, err
	}
	if ok {
		// STOMP 1.2 "Body": with content-length, exactly that many octets
		// are read, whatever they contain (NUL included), then a NUL.
		if n > r.lim.MaxBody {
			return nil, ErrTooLarge
		}
		f.Body = make([]byte, n)
		if _, err := io.ReadFull(r.r, f.Body); err != nil {
			return nil, eof(err)
		}
		b, err := r.r.ReadByte()
		if err != nil {
			return nil, eof(err)
		}
		if b != 0 {
			return nil, ErrNoNull
		}
		return f, nil
	}
	// Without content-length the body ends at the first NUL.
	var body []byte
	for {
		chunk, err := r.r.ReadSlice(0)
		if len(body)+len(chunk) > r.lim.MaxBody+1 {
			return nil, ErrTooLarge
		}
		body = append(body, chunk...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return nil, eof(err)
		}
	}
	f.Body = body[:len(body)-1]
	return f, nil
}

// readLine reads one line without its EOL (LF or CRLF), charging budget.
func (r *Reader) readLine(budget *int) ([]byte, error) {
	r.line = r.line[:0]
	for {
		chunk, err := r.r.ReadSlice('\n')
		if len(r.line)+len(chunk) > *budget {
			return nil, ErrTooLarge
		}
		r.line = append(r.line, chunk...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(r.line) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	*budget -= len(r.line)
	l := r.line[:len(r.line)-1]
	// STOMP 1.2 "Augmented BNF": EOL is an optional CR followed by LF.
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	return l, nil
}

func eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decode undoes header escaping. STOMP 1.1 defines \n, \c and \\; STOMP 1.2
// adds \r; any other escape is a fatal protocol error.
func decode(b []byte, v Version) (string, error) {
	if bytes.IndexByte(b, '\\') < 0 {
		return intern(b), nil
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		i++
		if i == len(b) {
			return "", ErrBadEscape
		}
		switch b[i] {
		case 'n':
			sb.WriteByte('\n')
		case 'c':
			sb.WriteByte(':')
		case '\\':
			sb.WriteByte('\\')
		case 'r':
			if v < V12 {
				return "", ErrBadEscape
			}
			sb.WriteByte('\r')
		default:
			return "", ErrBadEscape
		}
	}
	return sb.String(), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// command returns the constant for a known command ("" otherwise) without
// allocating.
func command(b []byte) string {
	switch string(b) {
	case CONNECT:
		return CONNECT
	case STOMP:
		return STOMP
	case SEND:
		return SEND
	case SUBSCRIBE:
		return SUBSCRIBE
	case UNSUBSCRIBE:
		return UNSUBSCRIBE
	case ACK:
		return ACK
	case NACK:
		return NACK
	case BEGIN:
		return BEGIN
	case COMMIT:
		return COMMIT
	case ABORT:
		return ABORT
	case DISCONNECT:
		return DISCONNECT
	case CONNECTED:
		return CONNECTED
	case MESSAGE:
		return MESSAGE
	case RECEIPT:
		return RECEIPT
	case ERROR:
		return ERROR
	}
	return ""
}

// intern returns common header names and values as constants (no
// allocation per frame); anything else is copied.
func intern(b []byte) string {
	switch string(b) {
	case "destination":
		return "destination"
	case "content-length":
		return "content-length"
	case "content-type":
		return "content-type"
	case "receipt":
		return "receipt"
	case "receipt-id":
		return "receipt-id"
	case "id":
		return "id"
	case "ack":
		return "ack"
	case "subscription":
		return "subscription"
	case "message-id":
		return "message-id"
	case "transaction":
		return "transaction"
	case "persistent":
		return "persistent"
	case "true":
		return "true"
	case "priority":
		return "priority"
	case "expires":
		return "expires"
	case "redelivered":
		return "redelivered"
	case "timestamp":
		return "timestamp"
	case "text/plain":
		return "text/plain"
	case "correlation-id":
		return "correlation-id"
	case "reply-to":
		return "reply-to"
	}
	return string(b)
}
