package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Credentials is what SigV4 verification needs from the core: the secret of
// an access key id (= user name) and whether anonymous access is allowed.
// *core.Broker implements it.
type Credentials interface {
	UserPassword(name string) (string, bool)
	AnonymousAllowed() bool
}

// sigV4 is a parsed SigV4 signature (header or presigned query form).
type sigV4 struct {
	AccessKey, Date, Region, Service string // credential scope
	SignedHeaders                    string // as signed: names joined by ';'
	Signature                        string
	AmzDate                          string
	Expires                          string // presigned: X-Amz-Expires
	Presigned                        bool
}

// parseAuth extracts the SigV4 parameters of r. ok is false when the
// request carries no signature at all; a malformed one returns an error.
// AWS SigV4 "Authorization header": AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=hex.
func parseAuth(r *http.Request) (sig sigV4, ok bool, err *Error) {
	if h := r.Header.Get("Authorization"); h != "" {
		const alg = "AWS4-HMAC-SHA256 "
		if !strings.HasPrefix(h, alg) {
			return sig, true, ErrIncompleteSignature
		}
		for rest := h[len(alg):]; rest != ""; {
			var part string
			part, rest, _ = strings.Cut(rest, ",")
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "Credential":
				if !sig.setCredential(v) {
					return sig, true, ErrIncompleteSignature
				}
			case "SignedHeaders":
				sig.SignedHeaders = v
			case "Signature":
				sig.Signature = v
			}
		}
		sig.AmzDate = r.Header.Get("X-Amz-Date")
		if sig.AmzDate == "" {
			sig.AmzDate = r.Header.Get("Date")
		}
		if sig.AccessKey == "" || sig.Signature == "" || sig.SignedHeaders == "" || sig.AmzDate == "" {
			return sig, true, ErrIncompleteSignature
		}
		return sig, true, nil
	}
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") == "" {
		return sig, false, nil
	}
	// AWS SigV4 "Authenticating requests: using query parameters" (presigned URLs).
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || !sig.setCredential(q.Get("X-Amz-Credential")) {
		return sig, true, ErrIncompleteSignature
	}
	sig.SignedHeaders = q.Get("X-Amz-SignedHeaders")
	sig.Signature = q.Get("X-Amz-Signature")
	sig.AmzDate = q.Get("X-Amz-Date")
	sig.Expires = q.Get("X-Amz-Expires")
	sig.Presigned = true
	if sig.Signature == "" || sig.AmzDate == "" {
		return sig, true, ErrIncompleteSignature
	}
	return sig, true, nil
}

func (s *sigV4) setCredential(v string) bool {
	var p [5]string
	for i := range p {
		var ok bool
		if p[i], v, ok = strings.Cut(v, "/"); ok != (i < 4) {
			return false
		}
	}
	if p[4] != "aws4_request" || p[0] == "" {
		return false
	}
	s.AccessKey, s.Date, s.Region, s.Service = p[0], p[1], p[2], p[3]
	return true
}

// verify checks the signature of r (whose body was read into body) with
// secret. AWS SigV4 "Create a canonical request" / "Create a string to
// sign" / "Calculate the signature".
func (s *sigV4) verify(r *http.Request, body []byte, secret string) bool {
	var got [sha256.Size]byte
	if len(s.Signature) != 2*sha256.Size {
		return false
	}
	if _, err := hex.Decode(got[:], []byte(s.Signature)); err != nil {
		return false
	}
	bp := verifyBufs.Get().(*[]byte)
	defer verifyBufs.Put(bp)
	cr := append((*bp)[:0], r.Method...)
	cr = append(cr, '\n')
	path, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	if path == "" || path[0] != '/' {
		path = r.URL.EscapedPath()
		rawQuery = r.URL.RawQuery
	}
	cr = appendURIEncode(cr, path, false)
	cr = append(cr, '\n')
	cr = append(cr, canonicalQuery(rawQuery, s.Presigned)...)
	cr = append(cr, '\n')
	for rest := s.SignedHeaders; ; {
		h, more, ok := strings.Cut(rest, ";")
		cr = append(cr, h...)
		cr = append(cr, ':')
		cr = append(cr, headerValue(r, h)...)
		cr = append(cr, '\n')
		if !ok {
			break
		}
		rest = more
	}
	cr = append(cr, '\n')
	cr = append(cr, s.SignedHeaders...)
	cr = append(cr, '\n')
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if s.Presigned && payload == "" {
		payload = "UNSIGNED-PAYLOAD"
	}
	if payload == "" {
		sum := sha256.Sum256(body)
		cr = hex.AppendEncode(cr, sum[:])
	} else {
		cr = append(cr, payload...)
	}
	crSum := sha256.Sum256(cr)

	// The string to sign, after the canonical request in the same buffer.
	n := len(cr)
	sts := append(cr, "AWS4-HMAC-SHA256\n"...)
	sts = append(sts, s.AmzDate...)
	sts = append(sts, '\n')
	sts = append(sts, s.Date...)
	sts = append(sts, '/')
	sts = append(sts, s.Region...)
	sts = append(sts, '/')
	sts = append(sts, s.Service...)
	sts = append(sts, "/aws4_request\n"...)
	sts = hex.AppendEncode(sts, crSum[:])
	var want [sha256.Size]byte
	signingKey(secret, s.Date, s.Region, s.Service).sum(sts[n:], want[:0])
	if cap(sts) <= 64<<10 {
		*bp = sts // keep the grown buffer, unless a rare huge one
	}
	return hmac.Equal(want[:], got[:])
}

var verifyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// signingKeys caches derived SigV4 signing keys: the four HMACs depend only
// on the secret and the credential scope, which change once a day per
// client (AWS SigV4 "Calculate the signature": the signing key "can be
// cached"). The secret is part of the cache key, so a changed password
// never reuses an old key. Each key keeps keyed HMAC states to reuse.
var signingKeys struct {
	mu sync.Mutex
	m  map[scopeKey]*signer
}

type scopeKey struct{ secret, date, region, service string }

// signer is a derived signing key with a pool of HMAC states keyed with it
// (hmac Reset returns to the keyed state, saving the key schedule).
type signer struct {
	key  []byte
	macs sync.Pool
}

func (k *signer) sum(data, out []byte) []byte {
	m, _ := k.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, k.key)
	} else {
		m.Reset()
	}
	m.Write(data)
	out = m.Sum(out)
	k.macs.Put(m)
	return out
}

// maxSigningKeys bounds the cache; it is emptied when full (dates roll over).
const maxSigningKeys = 1024

func signingKey(secret, date, region, service string) *signer {
	ck := scopeKey{secret, date, region, service}
	signingKeys.mu.Lock()
	k, ok := signingKeys.m[ck]
	signingKeys.mu.Unlock()
	if ok {
		return k
	}
	key := hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	k = &signer{key: hmacSHA256(key, "aws4_request")}
	signingKeys.mu.Lock()
	if signingKeys.m == nil || len(signingKeys.m) >= maxSigningKeys {
		signingKeys.m = make(map[scopeKey]*signer)
	}
	signingKeys.m[ck] = k
	signingKeys.mu.Unlock()
	return k
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signedHeaderKeys: the canonical form of header names the SDKs sign (in
// lower case, as SignedHeaders lists them).
var signedHeaderKeys = map[string]string{
	"content-type": "Content-Type", "x-amz-date": "X-Amz-Date", "x-amz-target": "X-Amz-Target",
	"x-amz-content-sha256": "X-Amz-Content-Sha256", "x-amz-security-token": "X-Amz-Security-Token",
	"amz-sdk-invocation-id": "Amz-Sdk-Invocation-Id", "amz-sdk-request": "Amz-Sdk-Request",
	"x-amz-user-agent": "X-Amz-User-Agent", "user-agent": "User-Agent", "content-md5": "Content-Md5",
	"x-amzn-query-mode": "X-Amzn-Query-Mode",
}

func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		return strconv.FormatInt(r.ContentLength, 10)
	}
	var vs []string
	if ck, ok := signedHeaderKeys[name]; ok {
		vs = r.Header[ck] // already canonical: no allocation
	} else {
		vs = r.Header.Values(name)
	}
	if len(vs) == 1 && trimmed(vs[0]) {
		return vs[0] // already what Fields+Join below would give
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// trimmed reports whether v is printable ASCII with single inner spaces
// and none at either end, i.e. strings.Join(strings.Fields(v), " ") == v.
func trimmed(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if i == 0 || i == len(v)-1 || v[i-1] == ' ' {
				return false
			}
			continue
		}
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// canonicalQuery sorts and re-encodes a raw query string; the presigned
// form leaves out X-Amz-Signature.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var ps []kv
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		k, v = unescape(k), unescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		ps = append(ps, kv{uriEncode(k, true), uriEncode(v, true)})
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].k != ps[j].k {
			return ps[i].k < ps[j].k
		}
		return ps[i].v < ps[j].v
	})
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

func unescape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// uriEncode is AWS's UriEncode: every byte except A-Z a-z 0-9 - _ . ~ is
// percent-encoded with upper-case hex; '/' is kept unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	return string(appendURIEncode(nil, s, encodeSlash))
}

func appendURIEncode(b []byte, s string, encodeSlash bool) []byte {
	const hexd = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexd[c>>4], hexd[c&15])
	}
	return b
}

// maxSkew is how far a signed request's time may be from ours (AWS SigV4:
// "the request is rejected if the time stamp is more than five minutes"
// off; AWS services accept up to 15 minutes).
const maxSkew = 15 * time.Minute

// checkTime rejects requests signed too long ago or in the future, and
// expired presigned URLs (X-Amz-Expires seconds after X-Amz-Date).
func (s *sigV4) checkTime(now time.Time) *Error {
	t, err := time.Parse("20060102T150405Z", s.AmzDate)
	if err != nil {
		if t, err = http.ParseTime(s.AmzDate); err != nil {
			return ErrIncompleteSignature
		}
	}
	if s.Presigned {
		exp, _ := strconv.Atoi(s.Expires)
		if exp <= 0 || exp > 604800 {
			exp = 900
		}
		if now.Before(t.Add(-maxSkew)) || now.After(t.Add(time.Duration(exp)*time.Second)) {
			return &Error{Status: http.StatusForbidden, Code: "AccessDenied", Type: "AccessDenied", Message: "Request has expired"}
		}
		return nil
	}
	if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		return &Error{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch", Type: "SignatureDoesNotMatch",
			Message: "Signature expired: " + s.AmzDate + " is now earlier than " + now.Add(-maxSkew).UTC().Format("20060102T150405Z") + " (" + now.UTC().Format("20060102T150405Z") + " - 15 min.)"}
	}
	return nil
}
