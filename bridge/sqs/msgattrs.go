package sqs

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/omnibroker/broker/core"
)

// msgAttr is an SQS MessageAttributeValue / MessageSystemAttributeValue.
type msgAttr struct {
	DataType         string
	StringValue      *string  `json:",omitempty"`
	BinaryValue      []byte   `json:",omitempty"`
	StringListValues []string `json:",omitempty"`
	BinaryListValues [][]byte `json:",omitempty"`
}

// Header names the bridge adds for its own use (ARCHITECTURE.md: broker
// headers start with "x-"): the SQS DataType of an attribute whose core
// header value does not say it (Number, custom String.x/Binary.x types),
// and the AWSTraceHeader system attribute.
const (
	hdrTypePrefix = "x-sqs-type."
	hdrTrace      = "x-sqs-trace"
)

// Properties that ARCHITECTURE.md maps onto String attributes.
var propAttrs = map[string]bool{"content-type": true, "correlation-id": true, "reply-to": true}

// md5OfAttrs is the MD5 the SDKs verify (SQS Developer Guide "Calculating
// the MD5 message digest for message attributes"): for each attribute in
// name order, 4-byte big-endian length + bytes of the name and the data
// type, then transport type 1 (string) or 2 (binary) and length + value.
func md5OfAttrs(attrs map[string]msgAttr) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	var l [4]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint32(l[:], uint32(len(b)))
		h.Write(l[:])
		h.Write(b)
	}
	for _, n := range names {
		a := attrs[n]
		put([]byte(n))
		put([]byte(a.DataType))
		if baseType(a.DataType) == "Binary" {
			h.Write([]byte{2})
			put(a.BinaryValue)
		} else if a.StringValue != nil {
			h.Write([]byte{1})
			put([]byte(*a.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// validChars reports whether s has only the characters SQS allows: #x9 |
// #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
func validChars(s string) bool {
	for i := 0; i < len(s); {
		if c := s[i]; c >= 0x20 && c < utf8.RuneSelf || c == 0x9 || c == 0xA || c == 0xD {
			i++ // ASCII fast path: same verdict as below
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if !(r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)) {
			return false
		}
		i += n
	}
	return true
}

// baseType is String, Number or Binary (the part before an optional ".custom").
func baseType(dt string) string {
	b, _, _ := strings.Cut(dt, ".")
	return b
}

// validateAttrs checks message attributes (SQS Developer Guide "Amazon SQS
// message attributes") and returns their size (name + type + value bytes).
func validateAttrs(attrs map[string]msgAttr) (int, error) {
	if len(attrs) > 10 {
		return 0, errInvalidParam("Number of message attributes [%d] exceeds the allowed maximum [10].", len(attrs))
	}
	size := 0
	for n, a := range attrs {
		if !validAttrName(n) {
			return 0, errInvalidParam("Message (user) attribute name '%s' is invalid. Attribute names can contain alphanumeric characters, hyphens, underscores and periods, may not start or end with a period, may not contain consecutive periods, may not start with AWS. or Amazon. and must be 1 to 256 characters long.", n)
		}
		if a.DataType == "" {
			return 0, errInvalidParam("The message attribute '%s' must contain non-empty message attribute type.", n)
		}
		if len(a.DataType) > 256 || !validChars(a.DataType) {
			return 0, errInvalidParam("The message attribute '%s' has an invalid message attribute type.", n)
		}
		switch baseType(a.DataType) {
		case "String", "Number":
			if a.StringValue == nil || *a.StringValue == "" {
				return 0, errInvalidParam("Message (user) attribute '%s' must contain a non-empty value of type '%s'.", n, baseType(a.DataType))
			}
			if !validChars(*a.StringValue) {
				return 0, errInvalidContents
			}
			if baseType(a.DataType) == "Number" && !validNumber(*a.StringValue) {
				return 0, errInvalidParam("Could not cast message attribute '%s' value to number.", n)
			}
			size += len(*a.StringValue)
		case "Binary":
			if len(a.BinaryValue) == 0 {
				return 0, errInvalidParam("Message (user) attribute '%s' must contain a non-empty value of type 'Binary'.", n)
			}
			size += len(a.BinaryValue)
		default:
			return 0, errInvalidParam("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", n)
		}
		size += len(n) + len(a.DataType)
	}
	return size, nil
}

func validAttrName(n string) bool {
	if n == "" || len(n) > 256 || n[0] == '.' || n[len(n)-1] == '.' || strings.Contains(n, "..") {
		return false
	}
	l := strings.ToLower(n)
	if strings.HasPrefix(l, "aws.") || strings.HasPrefix(l, "amazon.") {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validNumber: SQS numbers have up to 38 significant digits, range
// -10^128..10^126.
func validNumber(s string) bool {
	f, ok := new(big.Float).SetString(strings.TrimSpace(s))
	return ok && !f.IsInf()
}

// toHeaders stores message attributes on a core message: String values as
// string headers, Binary as []byte, Number as a string; the DataType goes
// into a companion x-sqs-type.NAME header when the value type alone does
// not determine it. content-type, correlation-id and reply-to String
// attributes become the core properties (ARCHITECTURE.md property table).
func toHeaders(m *core.Message, attrs map[string]msgAttr) {
	if len(attrs) == 0 {
		return
	}
	h := make(core.Table, len(attrs))
	for n, a := range attrs {
		if a.DataType == "String" && propAttrs[n] {
			switch n {
			case "content-type":
				m.Props.ContentType = *a.StringValue
			case "correlation-id":
				m.Props.CorrelationID = *a.StringValue
			case "reply-to":
				m.Props.ReplyTo = *a.StringValue
			}
			continue
		}
		switch baseType(a.DataType) {
		case "Binary":
			h[n] = a.BinaryValue
			if a.DataType != "Binary" {
				h[hdrTypePrefix+n] = a.DataType
			}
		default:
			h[n] = *a.StringValue
			if a.DataType != "String" {
				h[hdrTypePrefix+n] = a.DataType
			}
		}
	}
	m.Props.Headers = h
}

// deathHeader reports the dead-letter bookkeeping headers core adds.
func deathHeader(k string) bool {
	return strings.HasPrefix(k, "x-death") || strings.HasPrefix(k, "x-first-death-") || strings.HasPrefix(k, "x-last-death-")
}

// hiddenHeader reports broker-internal headers that never become attributes.
func hiddenHeader(k string) bool {
	return strings.HasPrefix(k, "x-sqs-") || deathHeader(k)
}

// fromHeaders turns a core message's headers and mapped properties back
// into SQS message attributes; headers set by other protocols map by Go
// type (numbers -> Number, bool/time -> String, bytes -> Binary).
func fromHeaders(m *core.Message) map[string]msgAttr {
	out := map[string]msgAttr{}
	str := func(n, dt, v string) { out[n] = msgAttr{DataType: dt, StringValue: &v} }
	for k, v := range m.Props.Headers {
		if hiddenHeader(k) || !validAttrName(k) {
			continue
		}
		dt, _ := m.Props.Headers[hdrTypePrefix+k].(string)
		switch x := v.(type) {
		case string:
			if dt == "" {
				dt = "String"
			}
			if x == "" {
				continue
			}
			str(k, dt, x)
		case []byte:
			if dt == "" {
				dt = "Binary"
			}
			if len(x) == 0 {
				continue
			}
			out[k] = msgAttr{DataType: dt, BinaryValue: x}
		case bool:
			str(k, "String", strconv.FormatBool(x))
		case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
			str(k, "Number", fmt.Sprint(x))
		case float32:
			str(k, "Number", strconv.FormatFloat(float64(x), 'g', -1, 32))
		case float64:
			str(k, "Number", strconv.FormatFloat(x, 'g', -1, 64))
		case core.Decimal:
			f := new(big.Float).SetInt64(int64(x.Value))
			f.Quo(f, new(big.Float).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Scale)), nil)))
			str(k, "Number", f.Text('g', 38))
		case time.Time:
			str(k, "Number", strconv.FormatInt(x.Unix(), 10))
		}
	}
	if v := m.Props.ContentType; v != "" {
		str("content-type", "String", v)
	}
	if v := m.Props.CorrelationID; v != "" {
		str("correlation-id", "String", v)
	}
	if v := m.Props.ReplyTo; v != "" {
		str("reply-to", "String", v)
	}
	return out
}

// selectAttrs keeps the attributes that MessageAttributeNames asks for:
// "All" or ".*" = every one, "prefix.*" = names starting with "prefix.",
// else exact names.
func selectAttrs(all map[string]msgAttr, names []string) map[string]msgAttr {
	if len(names) == 0 || len(all) == 0 {
		return nil
	}
	out := map[string]msgAttr{}
	for _, want := range names {
		if want == "All" || want == ".*" {
			return all
		}
		if p, ok := strings.CutSuffix(want, ".*"); ok {
			for n, a := range all {
				if strings.HasPrefix(n, p+".") {
					out[n] = a
				}
			}
			continue
		}
		if a, ok := all[want]; ok {
			out[want] = a
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
