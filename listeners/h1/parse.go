package h1

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// parse builds the request from head (not yet consumed). simple is false
// for anything the fast path leaves to the fallback.
func (c *conn) parse(head []byte, req *http.Request) (keep, simple bool) {
	// A CR or LF outside a CRLF pair goes to net/http, which reads bare
	// LFs as line ends (RFC 9112 2.2); here lines end with CRLF only.
	lines := 0
	for i, b := range head {
		if b == '\r' && (i+1 == len(head) || head[i+1] != '\n') || b == '\n' && (i == 0 || head[i-1] != '\r') {
			return false, false
		}
		if b == '\n' {
			lines++
		}
	}
	// One string holds the whole head: every field below is a substring.
	h := string(head)
	line, rest, ok := strings.Cut(h, "\r\n")
	if !ok {
		return false, false
	}
	method, line, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(line, " ")
	if !ok1 || !ok2 || method == "" || method == "CONNECT" || len(target) == 0 || target[0] != '/' {
		return false, false
	}
	major, minor := 1, 1
	switch proto {
	case "HTTP/1.1":
	case "HTTP/1.0":
		minor = 0
	default:
		return false, false
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return false, false
	}
	hdr := make(http.Header, 12)
	// One slice backs the values of all header lines, as net/textproto
	// does (a header repeated appends to its own).
	strs := make([]string, lines)
	var host string
	var clen int64 = -1
	for rest != "\r\n" && rest != "" {
		var l string
		l, rest, ok = strings.Cut(rest, "\r\n")
		if !ok || l == "" {
			return false, false
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok || k == "" || !validKey(k) {
			return false, false
		}
		v = strings.Trim(v, " \t")
		ck := textproto.CanonicalMIMEHeaderKey(k)
		switch ck {
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer":
			return false, false
		case "Host":
			if host != "" {
				return false, false
			}
			host = v
			continue // net/http moves Host out of the header map
		case "Content-Length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || clen >= 0 {
				return false, false
			}
			clen = n
		}
		if vs, ok := hdr[ck]; ok || len(strs) == 0 {
			hdr[ck] = append(vs, v)
		} else {
			strs[0] = v
			hdr[ck] = strs[:1:1]
			strs = strs[1:]
		}
	}
	if host == "" && minor == 1 {
		return false, false // net/http answers 400
	}
	keep = minor == 1
	for _, v := range hdr["Connection"] {
		switch {
		case strings.EqualFold(v, "close"):
			keep = false
		case strings.EqualFold(v, "keep-alive"):
			keep = true
		}
	}
	if clen < 0 {
		clen = 0
	}
	*req = http.Request{
		Method:        method,
		URL:           u,
		Proto:         proto,
		ProtoMajor:    major,
		ProtoMinor:    minor,
		Header:        hdr,
		Host:          host,
		ContentLength: clen,
		RequestURI:    target,
		RemoteAddr:    c.remoteAddr(),
		Close:         !keep,
	}
	c.r += len(head)
	return keep, true
}

// validKey: a header name is a token (RFC 9110 5.1).
func validKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
