package frame

import (
	"strconv"
	"strings"
)

// Append encodes f for version v onto dst. A content-length header is added
// when the body is not empty and f has none, so that bodies holding NUL
// octets survive (STOMP 1.2 "Header content-length").
func Append(dst []byte, f *Frame, v Version) []byte {
	if dst == nil {
		n := len(f.Command) + len(f.Body) + 32
		for _, h := range f.Headers {
			n += len(h.Name) + len(h.Value) + 2
		}
		dst = make([]byte, 0, n+n/16)
	}
	dst = append(dst, f.Command...)
	dst = append(dst, '\n')
	escape := v >= V11 && f.Command != CONNECT && f.Command != CONNECTED && f.Command != STOMP
	hasLen := false
	for _, h := range f.Headers {
		if h.Name == "content-length" {
			if hasLen {
				continue
			}
			hasLen = true
			h.Value = strconv.Itoa(len(f.Body))
		}
		dst = appendValue(dst, h.Name, v, escape, true)
		dst = append(dst, ':')
		dst = appendValue(dst, h.Value, v, escape, false)
		dst = append(dst, '\n')
	}
	if !hasLen && len(f.Body) > 0 {
		dst = append(dst, "content-length:"...)
		dst = strconv.AppendInt(dst, int64(len(f.Body)), 10)
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')
	dst = append(dst, f.Body...)
	return append(dst, 0)
}

// appendValue writes a header name or value. STOMP 1.1 escapes \\, \n and
// ':'; 1.2 also \r. STOMP 1.0 has no escaping, so line breaks (which would
// end the header and let a value inject headers) become spaces, and so do
// colons in names. Frames that do not escape get the same treatment.
func appendValue(dst []byte, s string, v Version, escape, name bool) []byte {
	if !strings.ContainsAny(s, "\\\n\r:") {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !escape {
			if c == '\n' || c == '\r' {
				c = ' '
			} else if c == ':' && name {
				c = '_'
			}
			dst = append(dst, c)
			continue
		}
		switch c {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case ':':
			dst = append(dst, '\\', 'c')
		case '\r':
			if v >= V12 {
				dst = append(dst, '\\', 'r')
			} else {
				dst = append(dst, ' ')
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
