package awsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Protocol is the wire protocol of a request.
type Protocol int

// Wire protocols.
const (
	Query Protocol = iota + 1 // form-encoded parameters, XML responses
	JSON                      // AWS JSON 1.0 (X-Amz-Target), JSON responses
)

func (p Protocol) String() string {
	if p == JSON {
		return "json"
	}
	return "query"
}

// Request is one decoded API call.
type Request struct {
	HTTP      *http.Request
	Service   *Service
	Action    string
	Protocol  Protocol
	Body      []byte     // JSON protocol: the raw JSON body
	Form      url.Values // Query protocol: every parameter (body and URL query)
	AccessKey string     // authenticated user; "" when anonymous
	Region    string     // from the SigV4 credential scope, else the default region
	RequestID string
	// URLHost is the host[:port] to put in resource URLs: the configured
	// host, else the request's Host header.
	URLHost string
}

// Context returns the request's context (cancelled when the client goes).
func (r *Request) Context() context.Context { return r.HTTP.Context() }

// Decode fills v (a pointer to a struct with JSON tags) from the request:
// the JSON body as is, or the Query form reshaped by the service's
// QueryRules. Errors are *Error values ready to return.
func (r *Request) Decode(v any) error {
	var body []byte
	if r.Protocol == JSON {
		body = r.Body
		if len(bytes.TrimSpace(body)) == 0 {
			body = []byte("{}")
		}
		if decodeFast(v, body) {
			return nil
		}
	} else {
		if f, ok := v.(FastQuery); ok {
			if f.DecodeFastQuery(r.Form) {
				return nil
			}
			reflect.ValueOf(v).Elem().SetZero()
		}
		tree := QueryTree(r.Form, r.Service.QueryRules)
		var err error
		if body, err = json.Marshal(tree); err != nil {
			return Errorf("InvalidParameterValue", "The request has malformed parameters.")
		}
		if decodeFast(v, body) {
			return nil
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return ae
		}
		if r.Protocol == JSON {
			return &Error{Status: 400, Code: "SerializationException", Type: "SerializationException", Message: describeJSONError(err)}
		}
		return Errorf("InvalidParameterValue", "%s", describeJSONError(err))
	}
	return nil
}

func describeJSONError(err error) string {
	switch e := err.(type) {
	case *json.UnmarshalTypeError:
		return "Value for parameter " + e.Field + " is invalid. Reason: expected " + e.Type.String() + "."
	case *json.SyntaxError:
		return "The request body is not valid JSON."
	}
	return "The request has malformed parameters."
}

// Kind says how a flattened Query member nests.
type Kind int

// Query member kinds.
const (
	List Kind = iota + 1 // Name.1, Name.2 … (or Name.member.1 with Wrapper "member")
	Map                  // Name.1.Key/Name.1.Value (or Name.entry.1.key with Wrapper "entry")
)

// QueryField maps one flattened Query member name onto the JSON shape.
type QueryField struct {
	JSON    string // JSON member name ("" = the Query name)
	Kind    Kind
	Wrapper string // "member" / "entry" segment between the name and the index, if any
	Key     string // Map: key element name (default "Name")
	Value   string // Map: value element name (default "Value")
}

// QueryRules maps Query member names (at any depth) onto JSON shapes.
type QueryRules map[string]QueryField

// maxQueryDepth bounds the nesting of dotted Query parameter names.
const maxQueryDepth = 8

// FastQuery is implemented by request types of hot actions that read the
// usual Query parameters straight from the form. DecodeFastQuery reports
// false for anything it does not handle exactly as the QueryTree path
// would (an unknown or repeated parameter, a gap in a list, a bad
// number...); Decode then zeroes the value and takes that path, which
// gives the same result or the same error. An optimisation only.
type FastQuery interface {
	DecodeFastQuery(form url.Values) bool
}

// QueryTree turns flattened Query parameters (A.1.B=x) into the JSON tree
// a JSON 1.0 client would have sent, following rules. Values stay strings.
// Parameters nested deeper than maxQueryDepth are ignored.
func QueryTree(form url.Values, rules QueryRules) map[string]any {
	root := map[string]any{}
	for k, vs := range form {
		if k == "Action" || k == "Version" || strings.HasPrefix(k, "X-Amz-") || len(vs) == 0 {
			continue
		}
		parts := strings.Split(k, ".")
		if len(parts) > maxQueryDepth {
			continue
		}
		node := root
		for i, p := range parts {
			if i == len(parts)-1 {
				if _, isMap := node[p].(map[string]any); !isMap {
					node[p] = vs[0]
				}
				break
			}
			child, ok := node[p].(map[string]any)
			if !ok {
				child = map[string]any{}
				node[p] = child
			}
			node = child
		}
	}
	return shape(root, rules).(map[string]any)
}

func shape(v any, rules QueryRules) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, c := range m {
		rule, ok := rules[k]
		if !ok {
			out[k] = shape(c, rules)
			continue
		}
		name := rule.JSON
		if name == "" {
			name = k
		}
		cm, ok := c.(map[string]any)
		if ok && rule.Wrapper != "" {
			cm, ok = cm[rule.Wrapper].(map[string]any)
		}
		if !ok {
			continue
		}
		items := indexed(cm)
		switch rule.Kind {
		case List:
			list := make([]any, 0, len(items))
			for _, it := range items {
				list = append(list, shape(it, rules))
			}
			out[name] = list
		case Map:
			kn, vn := rule.Key, rule.Value
			if kn == "" {
				kn = "Name"
			}
			if vn == "" {
				vn = "Value"
			}
			mm := make(map[string]any, len(items))
			for _, it := range items {
				e, ok := it.(map[string]any)
				if !ok {
					continue
				}
				key, ok := e[kn].(string)
				if !ok {
					continue
				}
				if val, ok := e[vn]; ok {
					mm[key] = shape(val, rules)
				} else {
					mm[key] = nil
				}
			}
			out[name] = mm
		}
	}
	return out
}

// indexed returns the children of m whose keys are positive integers, in
// index order (Query lists are 1-based; gaps are tolerated).
func indexed(m map[string]any) []any {
	type kv struct {
		i int
		v any
	}
	var s []kv
	for k, v := range m {
		i, err := strconv.Atoi(k)
		if err != nil || i < 1 {
			continue
		}
		s = append(s, kv{i, v})
	}
	sort.Slice(s, func(a, b int) bool { return s[a].i < s[b].i })
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x.v
	}
	return out
}

// Int is an integer parameter that decodes from a JSON number or from the
// string a Query request carries. Set reports whether it was present.
type Int struct {
	V   int64
	Set bool
	Raw string // the value as sent, for error messages
}

// UnmarshalJSON accepts 12 and "12".
func (n *Int) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	return n.SetString(s)
}

// SetString sets n from the text of a parameter, as UnmarshalJSON does
// from a JSON string.
func (n *Int) SetString(s string) error {
	n.Raw, n.Set = s, true
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return &Error{Status: 400, Code: "InvalidParameterValue", Type: "InvalidParameterValueException",
				Message: "Value " + s + " is not a valid integer."}
		}
		v = int64(f)
	}
	n.V = v
	return nil
}

// MarshalJSON writes the number.
func (n Int) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, n.V, 10), nil }
