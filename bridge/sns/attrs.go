package sns

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/omnibroker/broker/core"
)

// Message attributes travel as core headers in the representation the SQS
// bridge uses (bridge/sqs msgattrs.go), so that SNS -> SQS raw delivery is a
// plain copy and AMQP, MQTT 5 and STOMP consumers see them as headers:
//
//   - String -> string header; Binary -> []byte header; Number and custom
//     types (String.Array, Number.float, Binary.gif...) -> string (or
//     []byte) header plus the DataType in the companion header
//     "x-sqs-type.NAME";
//   - String attributes content-type, correlation-id and reply-to become the
//     core properties of the same name (ARCHITECTURE.md property table).
//
// Headers published on other protocols have no companion header and are
// typed by their Go type: numbers and timestamps Number, []byte Binary,
// everything else String.

// typeHeaderPrefix is the companion header prefix of the SQS bridge.
const typeHeaderPrefix = "x-sqs-type."

// Properties that map onto String attributes.
var propAttrs = map[string]bool{"content-type": true, "correlation-id": true, "reply-to": true}

// Attr is one SNS/SQS message attribute.
type Attr struct {
	Type  string // DataType: String, Number, Binary, String.Array, or with a custom suffix
	Str   string // StringValue
	Bytes []byte // BinaryValue
}

func baseType(t string) string {
	b, _, _ := strings.Cut(t, ".")
	return b
}

// hiddenHeader reports broker-internal headers that are not attributes.
func hiddenHeader(k string) bool { return strings.HasPrefix(k, "x-") }

// attrType returns the data type of header name.
func attrType(h core.Table, name string) string {
	if t, ok := h[typeHeaderPrefix+name].(string); ok && t != "" {
		return t
	}
	switch h[name].(type) {
	case []byte:
		return "Binary"
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, core.Decimal, time.Time:
		return "Number"
	}
	return "String"
}

// HeadersToAttrs returns the message attributes a core message carries.
func HeadersToAttrs(m *core.Message) map[string]Attr {
	out := map[string]Attr{}
	for k, v := range m.Props.Headers {
		if hiddenHeader(k) || v == nil {
			continue
		}
		t := attrType(m.Props.Headers, k)
		a := Attr{Type: t}
		if b, ok := v.([]byte); ok {
			if len(b) == 0 {
				continue
			}
			if baseType(t) == "Binary" {
				a.Bytes = b
			} else {
				a.Str = string(b)
			}
		} else {
			a.Str = headerText(v)
			if a.Str == "" {
				continue
			}
			if baseType(t) == "Binary" {
				a.Bytes, a.Str = []byte(a.Str), ""
			}
		}
		out[k] = a
	}
	for n, v := range map[string]string{"content-type": m.Props.ContentType, "correlation-id": m.Props.CorrelationID, "reply-to": m.Props.ReplyTo} {
		if v != "" {
			out[n] = Attr{Type: "String", Str: v}
		}
	}
	return out
}

func headerText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int8:
		return strconv.FormatInt(int64(x), 10)
	case int16:
		return strconv.FormatInt(int64(x), 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint8:
		return strconv.FormatUint(uint64(x), 10)
	case uint16:
		return strconv.FormatUint(uint64(x), 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case core.Decimal:
		f := new(big.Float).SetInt64(int64(x.Value))
		f.Quo(f, new(big.Float).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Scale)), nil)))
		return f.Text('g', 38)
	case time.Time:
		return strconv.FormatInt(x.Unix(), 10)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// AttrsToHeaders stores attributes on m as the SQS bridge does.
func AttrsToHeaders(m *core.Message, attrs map[string]Attr) {
	if len(attrs) == 0 {
		return
	}
	h := m.Props.Headers
	if h == nil {
		h = make(core.Table, len(attrs))
	}
	for n, a := range attrs {
		if a.Type == "String" && propAttrs[n] {
			switch n {
			case "content-type":
				m.Props.ContentType = a.Str
			case "correlation-id":
				m.Props.CorrelationID = a.Str
			case "reply-to":
				m.Props.ReplyTo = a.Str
			}
			continue
		}
		if baseType(a.Type) == "Binary" {
			h[n] = a.Bytes
			if a.Type != "Binary" {
				h[typeHeaderPrefix+n] = a.Type
			}
			continue
		}
		h[n] = a.Str
		if a.Type != "String" {
			h[typeHeaderPrefix+n] = a.Type
		}
	}
	m.Props.Headers = h
}

// attrValues returns the values a filter policy tests for attribute name.
// Binary attributes exist but have no value a policy can match (AWS
// ignores them in filtering).
func attrValues(m *core.Message, name string) ([]fval, bool) {
	h := m.Props.Headers
	v, ok := h[name]
	if !ok || hiddenHeader(name) {
		if propAttrs[name] {
			var p string
			switch name {
			case "content-type":
				p = m.Props.ContentType
			case "correlation-id":
				p = m.Props.CorrelationID
			default:
				p = m.Props.ReplyTo
			}
			if p != "" {
				return []fval{{kind: vString, s: p}}, true
			}
		}
		return nil, false
	}
	t := attrType(h, name)
	switch {
	case baseType(t) == "Binary":
		return nil, true
	case t == "String.Array":
		s, _ := v.(string)
		var arr []any
		if err := json.Unmarshal([]byte(s), &arr); err != nil {
			return nil, true
		}
		out := make([]fval, 0, len(arr))
		for _, e := range arr {
			if _, nested := e.([]any); nested {
				continue
			}
			if _, obj := e.(map[string]any); obj {
				continue
			}
			out = append(out, jsonVal(e))
		}
		return out, true
	case baseType(t) == "Number":
		f, err := strconv.ParseFloat(strings.TrimSpace(headerText(v)), 64)
		if err != nil {
			return nil, true
		}
		return []fval{{kind: vNumber, n: f}}, true
	}
	switch x := v.(type) {
	case bool:
		return []fval{{kind: vBool, b: x}}, true
	case nil:
		return []fval{{kind: vNull}}, true
	case []byte:
		return []fval{{kind: vString, s: string(x)}}, true
	}
	return []fval{{kind: vString, s: headerText(v)}}, true
}
