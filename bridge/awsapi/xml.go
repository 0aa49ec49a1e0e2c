package awsapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// XMLField says how a JSON result member is written in a Query (XML) response.
type XMLField struct {
	Name  string // element name ("" = the JSON name)
	Kind  Kind   // List or Map; 0 = follow the value
	Flat  bool   // flattened: one <Name> element per item, no wrapper
	Key   string // Map: key element (default "key"; flattened maps use "Name")
	Value string // Map: value element (default "value"; flattened maps use "Value")
}

// XMLRules maps JSON result member names onto XML elements. A key of the
// form "Action.Member" applies to one action only and wins over "Member".
type XMLRules map[string]XMLField

// XMLResult is a result whose inner ActionResult XML the handler wrote itself.
type XMLResult []byte

// EncodeQueryResult renders result as the Query (XML) response of action:
// through its XMLAppender when it has one, else by reflection.
func EncodeQueryResult(svc *Service, action, reqID string, result any) ([]byte, error) {
	return appendQueryResult(make([]byte, 0, 512), svc, action, reqID, result)
}

// appendQueryResult appends <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>… to buf.
func appendQueryResult(buf []byte, svc *Service, action, reqID string, result any) ([]byte, error) {
	buf = append(buf, `<?xml version="1.0"?><`...)
	buf = append(buf, action...)
	buf = append(buf, "Response"...)
	if svc.XMLNamespace != "" {
		buf = append(buf, ` xmlns="`...)
		buf = appendEscaped(buf, svc.XMLNamespace)
		buf = append(buf, '"')
	}
	buf = append(buf, '>')
	if a, ok := result.(XMLAppender); ok {
		mark := len(buf)
		buf = append(buf, '<')
		buf = append(buf, action...)
		buf = append(buf, "Result>"...)
		if out, ok := a.AppendXML(buf, action); ok {
			buf = append(out, "</"...)
			buf = append(buf, action...)
			buf = append(buf, "Result>"...)
			return appendMetadata(buf, action, reqID), nil
		}
		buf = buf[:mark]
	}
	switch r := result.(type) {
	case nil:
	case XMLResult:
		buf = append(buf, '<')
		buf = append(buf, action...)
		buf = append(buf, "Result>"...)
		buf = append(buf, r...)
		buf = append(buf, "</"...)
		buf = append(buf, action...)
		buf = append(buf, "Result>"...)
	default:
		tree, err := toTree(reflect.ValueOf(result))
		if err != nil {
			return nil, err
		}
		// An action with an output shape always has its Result element,
		// empty or not (boto3 reads ReceiveMessageResult even when no
		// message came); actions without output return a nil result.
		m, _ := tree.(map[string]any)
		buf = append(buf, '<')
		buf = append(buf, action...)
		buf = append(buf, "Result>"...)
		buf = writeMembers(buf, svc.XMLRules, action, m)
		buf = append(buf, "</"...)
		buf = append(buf, action...)
		buf = append(buf, "Result>"...)
	}
	return appendMetadata(buf, action, reqID), nil
}

func appendMetadata(buf []byte, action, reqID string) []byte {
	buf = append(buf, "<ResponseMetadata><RequestId>"...)
	buf = appendEscaped(buf, reqID)
	buf = append(buf, "</RequestId></ResponseMetadata></"...)
	buf = append(buf, action...)
	return append(buf, "Response>"...)
}

// XMLAppender is implemented by results of hot actions that write the
// members of their <ActionResult> element without reflection, byte for
// byte as the reflective encoder would (members in name order, the
// service's XMLRules names); ok false falls back to reflection.
type XMLAppender interface {
	AppendXML(b []byte, action string) (out []byte, ok bool)
}

// AppendXMLElement appends <name>text</name> with text escaped.
func AppendXMLElement(b []byte, name, text string) []byte {
	b = open(b, name)
	b = appendEscaped(b, text)
	return closeTag(b, name)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func writeMembers(buf []byte, rules XMLRules, action string, m map[string]any) []byte {
	for _, k := range sortedKeys(m) {
		rule, ok := rules[action+"."+k]
		if !ok {
			rule = rules[k]
		}
		buf = writeMember(buf, rules, action, k, rule, m[k])
	}
	return buf
}

func open(buf []byte, name string) []byte {
	buf = append(buf, '<')
	buf = append(buf, name...)
	return append(buf, '>')
}

func closeTag(buf []byte, name string) []byte {
	buf = append(buf, "</"...)
	buf = append(buf, name...)
	return append(buf, '>')
}

func writeMember(buf []byte, rules XMLRules, action, key string, rule XMLField, v any) []byte {
	name := rule.Name
	if name == "" {
		name = key
	}
	switch x := v.(type) {
	case nil:
		return buf
	case []any:
		if rule.Flat {
			for _, it := range x {
				buf = writeValue(open(buf, name), rules, action, it)
				buf = closeTag(buf, name)
			}
			return buf
		}
		buf = open(buf, name)
		for _, it := range x {
			buf = writeValue(open(buf, "member"), rules, action, it)
			buf = closeTag(buf, "member")
		}
		return closeTag(buf, name)
	case map[string]any:
		if rule.Kind != Map {
			buf = writeMembers(open(buf, name), rules, action, x)
			return closeTag(buf, name)
		}
		kn, vn := rule.Key, rule.Value
		if kn == "" {
			kn = map[bool]string{true: "Name", false: "key"}[rule.Flat]
		}
		if vn == "" {
			vn = map[bool]string{true: "Value", false: "value"}[rule.Flat]
		}
		if !rule.Flat {
			buf = open(buf, name)
		}
		for _, k := range sortedKeys(x) {
			item := name
			if !rule.Flat {
				item = "entry"
			}
			buf = open(buf, item)
			buf = appendEscaped(open(buf, kn), k)
			buf = closeTag(buf, kn)
			buf = writeValue(open(buf, vn), rules, action, x[k])
			buf = closeTag(buf, vn)
			buf = closeTag(buf, item)
		}
		if !rule.Flat {
			buf = closeTag(buf, name)
		}
		return buf
	default:
		buf = writeValue(open(buf, name), rules, action, v)
		return closeTag(buf, name)
	}
}

func writeValue(buf []byte, rules XMLRules, action string, v any) []byte {
	switch x := v.(type) {
	case nil:
	case string:
		buf = appendEscaped(buf, x)
	case json.Number:
		buf = append(buf, x...)
	case bool:
		if x {
			buf = append(buf, "true"...)
		} else {
			buf = append(buf, "false"...)
		}
	case map[string]any:
		buf = writeMembers(buf, rules, action, x)
	case []any:
		for _, it := range x {
			buf = writeValue(open(buf, "member"), rules, action, it)
			buf = closeTag(buf, "member")
		}
	}
	return buf
}

var marshalerType = reflect.TypeFor[json.Marshaler]()

// toTree turns a result value into the tree encoding/json would produce
// (maps, []any, strings, json.Number, bools), following json tags and
// omitempty, without a marshal/parse round trip.
func toTree(v reflect.Value) (any, error) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil, nil
		}
		v = v.Elem()
	}
	if v.Type().Implements(marshalerType) {
		raw, err := v.Interface().(json.Marshaler).MarshalJSON()
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var out any
		err = dec.Decode(&out)
		return out, err
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return json.Number(strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return json.Number(strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		return json.Number(strconv.FormatFloat(v.Float(), 'g', -1, 64)), nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil, nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return base64.StdEncoding.EncodeToString(v.Bytes()), nil
		}
		out := make([]any, v.Len())
		for i := range out {
			x, err := toTree(v.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			x, err := toTree(it.Value())
			if err != nil {
				return nil, err
			}
			out[it.Key().String()] = x
		}
		return out, nil
	case reflect.Struct:
		t := v.Type()
		out := make(map[string]any, t.NumField())
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" && opts == "" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			if strings.Contains(opts, "omitempty") && isEmpty(fv) {
				continue
			}
			x, err := toTree(fv)
			if err != nil {
				return nil, err
			}
			out[name] = x
		}
		return out, nil
	}
	return nil, nil
}

// isEmpty is encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
