package sns

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/omnibroker/broker/core"
)

// Message attributes travel as core headers (ARCHITECTURE.md "Message
// properties across protocols": headers <-> MessageAttributes
// String/Number/Binary), so that an AMQP, MQTT 5 or STOMP consumer sees
// them as headers, and a filter policy can test headers published on those
// protocols too:
//
//   - String (and String.<custom>) -> string
//   - Number (and Number.<custom>) -> string holding the number's text
//   - Binary (and Binary.<custom>) -> []byte
//   - String.Array -> string holding the JSON array
//
// The exact AWS data type of each attribute is kept in the header table
// AttrTypesHeader (name -> data type), so that a round trip through the
// broker gives the SQS or SNS consumer back the very type it was sent with.
// Headers without an entry there (published on another protocol) are typed
// by their Go type: numbers are Number, []byte Binary, everything else
// String.

// AttrTypesHeader names the header table of attribute data types.
const AttrTypesHeader = "x-amz-attribute-types"

// Attr is one SNS/SQS message attribute.
type Attr struct {
	Type  string // DataType: String, Number, Binary, String.Array, or with a custom suffix
	Str   string // StringValue
	Bytes []byte // BinaryValue
}

// attrType returns the data type of header name.
func attrType(h core.Table, name string) (string, bool) {
	v, ok := h[name]
	if !ok {
		return "", false
	}
	if types, ok := h[AttrTypesHeader].(core.Table); ok {
		if t, ok := types[name].(string); ok {
			return t, true
		}
	}
	switch v.(type) {
	case []byte:
		return "Binary", true
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64:
		return "Number", true
	}
	return "String", true
}

// HeadersToAttrs returns the message attributes carried by headers (the
// broker's own x- headers excluded).
func HeadersToAttrs(h core.Table) map[string]Attr {
	out := map[string]Attr{}
	for k, v := range h {
		if strings.HasPrefix(k, "x-") {
			continue
		}
		t, _ := attrType(h, k)
		a := Attr{Type: t}
		switch x := v.(type) {
		case []byte:
			a.Bytes = x
			if !strings.HasPrefix(t, "Binary") {
				a.Str = string(x)
			}
		case string:
			a.Str = x
		case nil:
			continue
		default:
			a.Str = headerText(x)
		}
		if strings.HasPrefix(t, "Binary") && a.Bytes == nil {
			a.Bytes = []byte(a.Str)
			a.Str = ""
		}
		out[k] = a
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
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// AttrsToHeaders stores attributes as headers plus the type table.
func AttrsToHeaders(attrs map[string]Attr, h core.Table) core.Table {
	if len(attrs) == 0 {
		return h
	}
	if h == nil {
		h = core.Table{}
	}
	types := core.Table{}
	for k, a := range attrs {
		if strings.HasPrefix(a.Type, "Binary") {
			h[k] = a.Bytes
		} else {
			h[k] = a.Str
		}
		types[k] = a.Type
	}
	h[AttrTypesHeader] = types
	return h
}

// attrValues returns the values a filter policy tests for attribute name.
// Binary attributes exist but have no value a policy can match (AWS
// ignores them in filtering).
func attrValues(h core.Table, name string) ([]fval, bool) {
	v, ok := h[name]
	if !ok || strings.HasPrefix(name, "x-") {
		return nil, false
	}
	t, _ := attrType(h, name)
	switch {
	case strings.HasPrefix(t, "Binary"):
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
	case strings.HasPrefix(t, "Number"):
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
