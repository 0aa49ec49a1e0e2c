package frame

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func read(t *testing.T, in string, v Version, lim Limits) (*Frame, error) {
	t.Helper()
	r := NewReader(strings.NewReader(in), lim)
	r.SetVersion(v)
	for {
		f, err := r.Read()
		if f != nil || err != nil {
			return f, err
		}
	}
}

func TestGoldenDecode(t *testing.T) {
	cases := []struct {
		name string
		in   string
		v    Version
		want *Frame
		err  error
	}{
		{"connect", "CONNECT\naccept-version:1.2\nhost:/\n\n\x00", V10,
			&Frame{Command: CONNECT, Headers: []Header{{"accept-version", "1.2"}, {"host", "/"}}, Body: []byte{}}, nil},
		{"crlf-1.2", "SEND\r\ndestination:/queue/a\r\n\r\nhi\x00", V12,
			&Frame{Command: SEND, Headers: []Header{{"destination", "/queue/a"}}, Body: []byte("hi")}, nil},
		{"heartbeats-before", "\n\r\n\nSEND\ndestination:q\n\n\x00", V12,
			&Frame{Command: SEND, Headers: []Header{{"destination", "q"}}, Body: []byte{}}, nil},
		{"escape-1.1", "SEND\na\\cb:c\\\\d\\ne\n\n\x00", V11,
			&Frame{Command: SEND, Headers: []Header{{"a:b", "c\\d\ne"}}, Body: []byte{}}, nil},
		{"escape-1.2-cr", "SEND\nk:a\\rb\n\n\x00", V12,
			&Frame{Command: SEND, Headers: []Header{{"k", "a\rb"}}, Body: []byte{}}, nil},
		{"cr-escape-1.1-undefined", "SEND\nk:a\\rb\n\n\x00", V11, nil, ErrBadEscape},
		{"bad-escape", "SEND\nk:a\\tb\n\n\x00", V12, nil, ErrBadEscape},
		{"trailing-backslash", "SEND\nk:ab\\\n\n\x00", V12, nil, ErrBadEscape},
		{"no-escape-1.0", "SEND\nk:a\\cb\n\n\x00", V10,
			&Frame{Command: SEND, Headers: []Header{{"k", "a\\cb"}}, Body: []byte{}}, nil},
		{"connect-not-unescaped", "CONNECT\nlogin:a\\cb\n\n\x00", V12,
			&Frame{Command: CONNECT, Headers: []Header{{"login", "a\\cb"}}, Body: []byte{}}, nil},
		{"content-length-nul", "SEND\ncontent-length:3\n\na\x00b\x00", V12,
			&Frame{Command: SEND, Headers: []Header{{"content-length", "3"}}, Body: []byte("a\x00b")}, nil},
		{"repeated", "SEND\nfoo:1\nfoo:2\n\n\x00", V12,
			&Frame{Command: SEND, Headers: []Header{{"foo", "1"}, {"foo", "2"}}, Body: []byte{}}, nil},
		{"colon-in-value", "SEND\nk:a:b\n\n\x00", V12,
			&Frame{Command: SEND, Headers: []Header{{"k", "a:b"}}, Body: []byte{}}, nil},
		{"empty-value", "SEND\nk:\n\n\x00", V12,
			&Frame{Command: SEND, Headers: []Header{{"k", ""}}, Body: []byte{}}, nil},
		{"bad-command", "HELLO\n\n\x00", V12, nil, ErrBadCommand},
		{"no-colon", "SEND\nnocolon\n\n\x00", V12, nil, ErrBadHeader},
		{"empty-name", "SEND\n:v\n\n\x00", V12, nil, ErrBadHeader},
		{"bad-length", "SEND\ncontent-length:x\n\n\x00", V12, nil, ErrBadLength},
		{"negative-length", "SEND\ncontent-length:-1\n\n\x00", V12, nil, ErrBadLength},
		{"length-no-nul", "SEND\ncontent-length:1\n\nab\x00", V12, nil, ErrNoNull},
		{"truncated", "SEND\ndestination:q\n\nabc", V12, nil, io.ErrUnexpectedEOF},
		{"truncated-header", "SEND\ndestin", V12, nil, io.ErrUnexpectedEOF},
		{"body-too-large", "SEND\n\n" + strings.Repeat("x", 11) + "\x00", V12, nil, ErrTooLarge},
		{"length-too-large", "SEND\ncontent-length:11\n\n" + strings.Repeat("x", 11) + "\x00", V12, nil, ErrTooLarge},
		{"headers-too-large", "SEND\n" + strings.Repeat("k:v\n", 100) + "\n\x00", V12, nil, ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := read(t, c.in, c.v, Limits{MaxBody: 10, MaxHeaderBytes: 200})
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f, c.want) {
				t.Fatalf("got %#v\nwant %#v", f, c.want)
			}
		})
	}
}

func TestTooManyHeaders(t *testing.T) {
	_, err := read(t, "SEND\n"+strings.Repeat("k:v\n", 11)+"\n\x00", V12, Limits{MaxHeaders: 10})
	if !errors.Is(err, ErrTooManyHeader) {
		t.Fatalf("err = %v", err)
	}
}

func TestGoldenEncode(t *testing.T) {
	f := &Frame{Command: MESSAGE, Headers: []Header{{"a:b", "c\\d\ne\rf"}}, Body: []byte("x\x00y")}
	cases := []struct {
		v    Version
		want string
	}{
		{V10, "MESSAGE\na_b:c\\d e f\ncontent-length:3\n\nx\x00y\x00"},
		{V11, "MESSAGE\na\\cb:c\\\\d\\ne f\ncontent-length:3\n\nx\x00y\x00"},
		{V12, "MESSAGE\na\\cb:c\\\\d\\ne\\rf\ncontent-length:3\n\nx\x00y\x00"},
	}
	for _, c := range cases {
		if got := string(Append(nil, f, c.v)); got != c.want {
			t.Errorf("v%s: got %q want %q", c.v, got, c.want)
		}
	}
	// CONNECTED is never escaped; empty body has no content-length.
	got := string(Append(nil, New(CONNECTED, "version", "1.2", "server", "x:y"), V12))
	if want := "CONNECTED\nversion:1.2\nserver:x:y\n\n\x00"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	// A stale content-length is corrected to the body length.
	got = string(Append(nil, &Frame{Command: SEND, Headers: []Header{{"content-length", "99"}, {"content-length", "1"}}, Body: []byte("ab")}, V12))
	if want := "SEND\ncontent-length:2\n\nab\x00"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	frames := []*Frame{
		{Command: SEND, Headers: []Header{{"destination", "/queue/a"}, {"weird:name\\", "line\nbreak:colon\\"}}, Body: []byte("hello\x00world")},
		{Command: MESSAGE, Headers: []Header{{"k", "v"}, {"k", "w"}}, Body: []byte{}},
		{Command: ACK, Headers: []Header{{"id", "a\rb"}}, Body: []byte{}},
	}
	var buf bytes.Buffer
	for _, f := range frames {
		buf.Write(Append(nil, f, V12))
		buf.WriteString("\n\r\n") // heart-beats between frames
	}
	r := NewReader(&buf, Limits{})
	r.SetVersion(V12)
	for _, want := range frames {
		var got *Frame
		for got == nil {
			var err error
			if got, err = r.Read(); err != nil {
				t.Fatal(err)
			}
		}
		// Append adds content-length; the reader keeps it.
		got.Del("content-length", 0)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %#v want %#v", got, want)
		}
	}
}

func TestFrameHeaders(t *testing.T) {
	f := New(SEND, "a", "1", "b", "2", "a", "3")
	if f.Get("a") != "1" {
		t.Fatal("first entry wins")
	}
	f.Set("a", "9")
	if f.Get("a") != "9" || len(f.Headers) != 2 {
		t.Fatalf("set: %#v", f.Headers)
	}
	if _, ok := f.Lookup("zz"); ok {
		t.Fatal("lookup of absent header")
	}
}

// FuzzRead checks that arbitrary input never panics, never yields a body
// above the limit, and that what parses re-encodes to an equal frame.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		"CONNECT\naccept-version:1.2\n\n\x00",
		"SEND\ndestination:/queue/a\ncontent-length:3\n\na\x00b\x00",
		"SEND\na\\cb:c\\\\d\\n\\r\n\nbody\x00\n\n",
		"SUBSCRIBE\r\nid:0\r\ndestination:/topic/x\r\n\r\n\x00",
		"\n\n\nDISCONNECT\nreceipt:1\n\n\x00",
		"SEND\ncontent-length:99999999999\n\n\x00",
	} {
		f.Add([]byte(s), uint8(12))
	}
	f.Fuzz(func(t *testing.T, in []byte, vb uint8) {
		v := Version(10 + vb%3)
		lim := Limits{MaxBody: 1 << 10, MaxHeaderBytes: 1 << 10, MaxHeaders: 16}
		r := NewReader(bytes.NewReader(in), lim)
		r.SetVersion(v)
		for i := 0; i < 64; i++ {
			fr, err := r.Read()
			if err != nil {
				return
			}
			if fr == nil {
				continue
			}
			if len(fr.Body) > lim.MaxBody || len(fr.Headers) > lim.MaxHeaders {
				t.Fatalf("limits exceeded: %d body, %d headers", len(fr.Body), len(fr.Headers))
			}
			if v == V10 || fr.Command == CONNECT || fr.Command == CONNECTED || fr.Command == STOMP {
				continue // unescaped encodings are lossy for \r and \n by design
			}
			enc := Append(nil, fr, v)
			r2 := NewReader(bytes.NewReader(enc), Limits{MaxBody: 1 << 20, MaxHeaderBytes: 1 << 20, MaxHeaders: 1 << 10})
			r2.SetVersion(v)
			back, err := r2.Read()
			if err != nil {
				t.Fatalf("re-read %q: %v", enc, err)
			}
			fr.Del("content-length", 0)
			back.Del("content-length", 0)
			if v == V11 {
				return // \r is not representable in 1.1
			}
			if !sameFrame(fr, back) {
				t.Fatalf("round trip:\n%#v\n%#v", fr, back)
			}
		}
	})
}

func sameFrame(a, b *Frame) bool {
	if a.Command != b.Command || !bytes.Equal(a.Body, b.Body) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i] != b.Headers[i] {
			return false
		}
	}
	return true
}
