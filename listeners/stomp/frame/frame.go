package frame

import (
	"errors"
	"strconv"
)

// Commands. Client frames first, then server frames.
const (
	CONNECT     = "CONNECT"
	STOMP       = "STOMP"
	SEND        = "SEND"
	SUBSCRIBE   = "SUBSCRIBE"
	UNSUBSCRIBE = "UNSUBSCRIBE"
	ACK         = "ACK"
	NACK        = "NACK"
	BEGIN       = "BEGIN"
	COMMIT      = "COMMIT"
	ABORT       = "ABORT"
	DISCONNECT  = "DISCONNECT"
	CONNECTED   = "CONNECTED"
	MESSAGE     = "MESSAGE"
	RECEIPT     = "RECEIPT"
	ERROR       = "ERROR"
)

// Version is a negotiated protocol version.
type Version uint8

// Protocol versions.
const (
	V10 Version = 10
	V11 Version = 11
	V12 Version = 12
)

// String returns the accept-version token ("1.2").
func (v Version) String() string {
	switch v {
	case V10:
		return "1.0"
	case V11:
		return "1.1"
	case V12:
		return "1.2"
	}
	return "?"
}

// ParseVersion parses "1.0", "1.1" or "1.2".
func ParseVersion(s string) (Version, bool) {
	switch s {
	case "1.0":
		return V10, true
	case "1.1":
		return V11, true
	case "1.2":
		return V12, true
	}
	return 0, false
}

// Errors returned by the Reader. Callers map them to ERROR frames.
var (
	ErrTooLarge      = errors.New("frame too large")
	ErrTooManyHeader = errors.New("too many headers")
	ErrBadCommand    = errors.New("unknown command")
	ErrBadHeader     = errors.New("malformed header")
	ErrBadEscape     = errors.New("undefined escape sequence")
	ErrBadLength     = errors.New("invalid content-length")
	ErrNoNull        = errors.New("frame body not terminated by NUL")
)

// Header is one header entry.
type Header struct {
	Name, Value string
}

// Frame is one STOMP frame. Headers keep wire order and repetitions.
type Frame struct {
	Command string
	Headers []Header
	Body    []byte
}

// New returns a frame with the given command and name/value pairs.
func New(command string, kv ...string) *Frame {
	f := &Frame{Command: command, Headers: make([]Header, 0, len(kv)/2+2)}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Headers = append(f.Headers, Header{kv[i], kv[i+1]})
	}
	return f
}

// Get returns the first value of a header. STOMP 1.2 "Repeated Header
// Entries": only the first entry is used.
func (f *Frame) Get(name string) string {
	v, _ := f.Lookup(name)
	return v
}

// Lookup returns the first value of a header and whether it is present.
func (f *Frame) Lookup(name string) (string, bool) {
	for _, h := range f.Headers {
		if h.Name == name {
			return h.Value, true
		}
	}
	return "", false
}

// Add appends a header entry.
func (f *Frame) Add(name, value string) { f.Headers = append(f.Headers, Header{name, value}) }

// Set replaces every entry of name with one entry (appended when absent).
func (f *Frame) Set(name, value string) {
	for i := range f.Headers {
		if f.Headers[i].Name == name {
			f.Headers[i].Value = value
			f.Del(name, i+1)
			return
		}
	}
	f.Add(name, value)
}

// Del removes entries of name at index from or later.
func (f *Frame) Del(name string, from int) {
	out := f.Headers[:from]
	for _, h := range f.Headers[from:] {
		if h.Name != name {
			out = append(out, h)
		}
	}
	f.Headers = out
}

// ContentLength returns the content-length header: (n, true, nil) when
// present and valid, (0, false, nil) when absent.
func (f *Frame) ContentLength() (int, bool, error) {
	v, ok := f.Lookup("content-length")
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, true, ErrBadLength
	}
	return n, true, nil
}

// IsClientCommand reports whether c is a frame a client may send.
func IsClientCommand(c string) bool {
	switch c {
	case CONNECT, STOMP, SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, BEGIN, COMMIT, ABORT, DISCONNECT:
		return true
	}
	return false
}
