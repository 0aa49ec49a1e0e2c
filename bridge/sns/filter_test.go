package sns

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/omnibroker/broker/core"
)

// snapshotErrors maps step names of the recorded AWS responses
// (testdata/sns_filter_policy.snapshot.json, LocalStack's recordings
// against AWS) to the policy that produced them (LocalStack's
// tests/aws/services/sns/test_sns_filter_policy.py).
var snapshotErrors = []struct {
	test, step string
	policy     string
	scope      Scope
	prefix     string // stripped from the recorded message
}{
	{"test_validate_policy", "error-condition-list", `{"key": [["value"]]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy", "error-condition-operator", `{"key": [{"wrong-operator": true}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy", "error-condition-two-operators", `{"key": [{"suffix": "value", "prefix": "value2"}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-empty-array", `{"key": []}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-is-numeric", `{"key": [{"suffix": 100}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-is-none", `{"key": [{"suffix": null}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-is-not-list-and-operator", `{"key": {"suffix": "value"}}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-empty-list", `{"key": [{"suffix": []}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-list-wrong-type", `{"key": [{"suffix": ["test", "test2"]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-is-not-list-two-ops", `{"key": {"suffix": "value", "prefix": "value"}}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-is-not-list-and-no-operator", `{"key": {"not-an-operator": "value"}}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-bad-type", `{"key": [{"cidr": ["bad-filter"]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-bad-cidr-str", `{"key": [{"cidr": "bad-filter"}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-bad-cidr-str-slash", `{"key": [{"cidr": "bad-filter/64"}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-bad-cidr-str-slash-2", `{"key": [{"cidr": "bad-/64filter"}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-bad-cidr-v4", `{"key": [{"cidr": "xx.11.xx/8"}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_string_operators", "error-condition-bad-cidr-v6", `{"key": [{"cidr": "xxxx:db8:1234:1a00::/64"}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-empty", `{"key": [{"numeric": []}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-wrong-operator", `{"key": [{"numeric": ["operator"]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-operator-order", `{"key": [{"numeric": [1, "<="]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-type", `{"key": [{"numeric": ["=", "000"]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-missing-value", `{"key": [{"numeric": [">="]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-wrong-range-order", `{"key": [{"numeric": ["<", 100, ">", 10]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-wrong-range-operators", `{"key": [{"numeric": [">=", 1, ">", 2]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-wrong-value-order", `{"key": [{"numeric": [">", 3, "<", 1]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-missing-range-value", `{"key": [{"numeric": [">", 20, "<="]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-missing-range-operator", `{"key": [{"numeric": [">", 20, 30]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-wrong-second-range-operator", `{"key": [{"numeric": [">", 20, "test"]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-wrong-range-value-1-type", `{"key": [{"numeric": [">", "20", "<", "30"]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-wrong-range-value-2-type", `{"key": [{"numeric": [">", 20, "<", "30"]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_numeric_operator", "error-numeric-too-many-range", `{"key": [{"numeric": [">", 20, "<", 30, "<", 50]}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_exists_operator", "error-condition-none", `{"key": [{"exists": null}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_exists_operator", "error-condition-string", `{"key": [{"exists": "no"}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_nested_anything_but_operator", "error-condition-wrong-operator", `{"key": [{"anything-but": {"wrong-operator": null}}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_nested_anything_but_operator", "error-condition-anything-but-suffix", `{"key": [{"anything-but": {"suffix": "test"}}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_nested_anything_but_operator", "error-condition-anything-but-exists", `{"key": [{"anything-but": {"exists": false}}]}`, ScopeAttributes, subscribePrefix},
	{"test_validate_policy_nested_anything_but_operator", "error-condition-anything-but-prefix-wrong-type", `{"key": [{"anything-but": {"prefix": false}}]}`, ScopeAttributes, subscribePrefix},
	{"test_policy_complexity", "error-complexity-in-one-condition", manyValues("key", 151), ScopeAttributes, subscribePrefix},
	{"test_policy_complexity", "error-complexity-in-two-conditions", `{"key1": ` + valueList(100) + `, "key2": ` + valueList(51) + `}`, ScopeAttributes, subscribePrefix},
	{"test_policy_complexity", "error-complexity-too-many-fields", `{"key1": ["value1"], "key2": ["value2"], "key3": ["value3"], "key4": ["value4"], "key5": ["value5"], "key6": ["value6"]}`, ScopeAttributes, subscribePrefix},
	{"test_policy_complexity_with_or", "error-complexity-or-flat", `{"source": ["aws.cloudwatch", "aws.events", "aws.test", "aws.test2"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency", "t1", "t2", "t3", "t4"]}, {"metricType": ["MetricType", "TestType", "TestType2", "TestType3"], "$or": [{"metricId": [1234, 4321, 5678, 9012]}, {"spaceId": [1, 2, 3, 4]}]}]}`, ScopeAttributes, subscribePrefix},
	{"test_policy_complexity_with_or", "error-complexity-or-nested", `{"$or": [{"metricName": ["CPUUtilization", "ReadLatency", "TestValue"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}], "detail": {"scope": ["Service", "Test"], "$or": [{"source": ["aws.cloudwatch"]}, {"type": ["CloudWatch Alarm State Change", "TestValue", "TestValue2"]}]}}`, ScopeBody, subscribePrefix},
	{"test_sub_filter_policy_nested_property", "sub-filter-policy-nested-error", `{"object": {"key": [{"prefix": "auto-"}]}}`, ScopeAttributes, setPrefix},
	{"test_sub_filter_policy_nested_property_constraints", "sub-filter-policy-nested-error-too-many-combinations", `{"key_a": {"key_b": {"key_c": ["value_one", "value_two", "value_three", "value_four"]}}, "key_d": {"key_e": ["value_one", "value_two", "value_three"]}, "key_f": ["value_one", "value_two", "value_three"]}`, ScopeBody, setPrefix},
	{"test_sub_filter_policy_nested_property_constraints", "sub-filter-policy-max-attr-keys", `{"key_a": ["value_one"], "key_b": ["value_two"], "key_c": ["value_three"], "key_d": ["value_four"], "key_e": ["value_five"], "key_f": ["value_six"]}`, ScopeBody, setPrefix},
	{"test_sub_filter_policy_nested_property_constraints", "sub-filter-policy-rule-no-list", `{"key_a": "value_one"}`, ScopeBody, setPrefix},
}

const (
	subscribePrefix = "Invalid parameter: Attributes Reason: "
	setPrefix       = "Invalid parameter: "
)

func valueList(n int) string {
	vals := make([]string, n)
	for i := range vals {
		vals[i] = `"value` + string(rune('0'+i%10)) + strings.Repeat("x", i/10) + `"`
	}
	return "[" + strings.Join(vals, ", ") + "]"
}

func manyValues(key string, n int) string { return `{"` + key + `": ` + valueList(n) + `}` }

func loadSnapshot(t *testing.T) map[string]map[string]json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile("testdata/sns_filter_policy.snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]struct {
		Recorded map[string]json.RawMessage `json:"recorded-content"`
	}
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]json.RawMessage{}
	for k, v := range all {
		out[k[strings.LastIndex(k, "::")+2:]] = v.Recorded
	}
	return out
}

// TestPolicyErrorsMatchAWS compares every recorded validation error,
// location suffix included, with the compiler's.
func TestPolicyErrorsMatchAWS(t *testing.T) {
	snap := loadSnapshot(t)
	for _, tc := range snapshotErrors {
		t.Run(tc.step, func(t *testing.T) {
			rec, ok := snap[tc.test][tc.step]
			if !ok {
				t.Fatalf("no recording %s/%s", tc.test, tc.step)
			}
			var resp struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(rec, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.Error.Code != "InvalidParameter" {
				t.Fatalf("recorded code %q", resp.Error.Code)
			}
			want := strings.TrimPrefix(resp.Error.Message, tc.prefix)
			_, err := CompilePolicy(tc.policy, tc.scope)
			if err == nil {
				t.Fatalf("policy %s accepted; AWS said %q", tc.policy, want)
			}
			pe, ok := err.(*PolicyError)
			if !ok {
				t.Fatalf("error %T", err)
			}
			if pe.Reason != want {
				t.Errorf("policy %s\n got: %q\nwant: %q", tc.policy, pe.Reason, want)
			}
		})
	}
}

func TestPolicySyntaxErrorsMatchAWS(t *testing.T) {
	// shared/aws-snapshots/sns.snapshot.json: invalid-json-filter-policy and
	// subscribe-invalid-filter-policy.
	cases := map[string]string{
		"{invalidjson}": "FilterPolicy: failed to parse JSON. Unexpected character ('i' (code 105)): was expecting double-quote to start field name\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 2]",
		"invalid-json":  "FilterPolicy: failed to parse JSON. Unrecognized token 'invalid': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 8]",
	}
	for policy, want := range cases {
		_, err := CompilePolicy(policy, ScopeAttributes)
		if err == nil || err.Error() != want {
			t.Errorf("%s:\n got %v\nwant %s", policy, err, want)
		}
	}
}

func TestPolicyLimitsAccepted(t *testing.T) {
	// test_policy_complexity_with_or: exactly 150 combinations is accepted.
	ok150 := `{"source": ["aws.cloudwatch", "aws.events", "aws.test"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency", "TestVal", "TestVal2", "TestVal3", "TestVal4"]}, {"metricType": ["MetricType", "TestType", "TestType2", "TestType3"], "$or": [{"metricId": [1234, 4321, 5678, 9012]}, {"spaceId": [1, 2, 3, 4, 5, 6, 7]}]}]}`
	for _, p := range []string{ok150, manyValues("k", 150), `{}`, `{"a":["x"],"b":["x"],"c":["x"],"d":["x"],"e":["x"]}`,
		`{"key": [{"anything-but": {"prefix": "test-"}}]}`, `{"key": [{"anything-but": ["test", "test2"]}]}`, `{"key": [{"anything-but": "test"}]}`} {
		if _, err := CompilePolicy(p, ScopeAttributes); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

type attrMsg map[string]Attr

func msgWithAttrs(a attrMsg) *core.Message {
	m := &core.Message{}
	AttrsToHeaders(m, a)
	return m
}

func str(s string) Attr { return Attr{Type: "String", Str: s} }
func num(s string) Attr { return Attr{Type: "Number", Str: s} }
func arr(s string) Attr { return Attr{Type: "String.Array", Str: s} }

// TestAttributePolicies: examples of the SNS developer guide ("Filter
// policy examples", "String/Numeric value matching", "Key matching") and
// the recorded AWS behaviour (TestSNSFilterPolicyAttributes).
func TestAttributePolicies(t *testing.T) {
	cases := []struct {
		policy string
		attrs  attrMsg
		want   bool
	}{
		// exact string and number
		{`{"customer_interests": ["rugby", "football", "baseball"]}`, attrMsg{"customer_interests": str("rugby")}, true},
		{`{"customer_interests": ["rugby", "football", "baseball"]}`, attrMsg{"customer_interests": str("soccer")}, false},
		{`{"customer_interests": ["rugby"]}`, attrMsg{}, false},
		{`{"price_usd": [301.5]}`, attrMsg{"price_usd": num("301.50")}, true},
		{`{"price_usd": [301.5]}`, attrMsg{"price_usd": str("301.5")}, false},
		// String.Array: any element
		{`{"customer_interests": ["rugby", "tennis"]}`, attrMsg{"customer_interests": arr(`["rugby", "soccer"]`)}, true},
		{`{"store": ["value1"]}`, attrMsg{"store": arr(`["value1", "value2"]`)}, true},
		{`{"store": ["value1"]}`, attrMsg{"store": arr(`["value2", "value3"]`)}, false},
		// numeric ranges (TestSNSFilterPolicyAttributes::test_filter_policy)
		{`{"attr1": [{"numeric": [">", 0, "<=", 100]}]}`, attrMsg{"attr1": num("99")}, true},
		{`{"attr1": [{"numeric": [">", 0, "<=", 100]}]}`, attrMsg{"attr1": num("111")}, false},
		{`{"attr1": [{"numeric": [">", 0, "<=", 100]}]}`, attrMsg{"attr1": num("100")}, true},
		{`{"attr1": [{"numeric": [">", 0, "<=", 100]}]}`, attrMsg{"attr1": num("0")}, false},
		{`{"price_usd": [{"numeric": ["=", 301.5]}]}`, attrMsg{"price_usd": num("301.5")}, true},
		{`{"price_usd": [{"numeric": ["<", 0]}]}`, attrMsg{"price_usd": num("-1e2")}, true},
		{`{"price_usd": [{"numeric": [">=", 100]}]}`, attrMsg{"price_usd": str("200")}, false},
		// null with anything-but: no attributes -> no match
		{`{"attr1": [null, {"anything-but": "whatever"}]}`, attrMsg{}, false},
		// anything-but
		{`{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}`, attrMsg{"customer_interests": str("football")}, true},
		{`{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}`, attrMsg{"customer_interests": str("rugby")}, false},
		{`{"customer_interests": [{"anything-but": "rugby"}]}`, attrMsg{}, false},
		{`{"price": [{"anything-but": [100, 500]}]}`, attrMsg{"price": num("100")}, false},
		{`{"price": [{"anything-but": [100, 500]}]}`, attrMsg{"price": num("101")}, true},
		{`{"event": [{"anything-but": {"prefix": "order-"}}]}`, attrMsg{"event": str("order-cancelled")}, false},
		{`{"event": [{"anything-but": {"prefix": "order-"}}]}`, attrMsg{"event": str("data-entry")}, true},
		// prefix, suffix, equals-ignore-case
		{`{"customer_interests": [{"prefix": "bas"}]}`, attrMsg{"customer_interests": str("baseball")}, true},
		{`{"customer_interests": [{"prefix": "bas"}]}`, attrMsg{"customer_interests": str("rugby")}, false},
		{`{"customer_interests": [{"suffix": "ball"}]}`, attrMsg{"customer_interests": str("baseball")}, true},
		{`{"customer_interests": [{"suffix": "ball"}]}`, attrMsg{"customer_interests": str("ballet")}, false},
		{`{"customer_interests": [{"equals-ignore-case": "tennis"}]}`, attrMsg{"customer_interests": str("TeNnIs")}, true},
		{`{"customer_interests": [{"equals-ignore-case": "tennis"}]}`, attrMsg{"customer_interests": str("tennis2")}, false},
		// exists (test_exists_filter_policy)
		{`{"store": [{"exists": true}]}`, attrMsg{"store": num("99"), "def": num("99")}, true},
		{`{"store": [{"exists": true}]}`, attrMsg{"attr1": num("111")}, false},
		{`{"store": [{"exists": false}]}`, attrMsg{"def": num("99")}, true},
		{`{"store": [{"exists": false}]}`, attrMsg{"store": num("99"), "def": num("99")}, false},
		// cidr
		{`{"source_ip": [{"cidr": "10.0.0.0/24"}]}`, attrMsg{"source_ip": str("10.0.0.255")}, true},
		{`{"source_ip": [{"cidr": "10.0.0.0/24"}]}`, attrMsg{"source_ip": str("10.0.1.0")}, false},
		{`{"source_ip": [{"cidr": "10.0.0.0/24"}]}`, attrMsg{"source_ip": str("10.0.0.256")}, false},
		// AND across keys
		{`{"store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}]}`, attrMsg{"store": str("example_corp"), "event": str("order_placed")}, true},
		{`{"store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}]}`, attrMsg{"store": str("example_corp"), "event": str("order_cancelled")}, false},
		{`{"store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}]}`, attrMsg{"store": str("example_corp")}, false},
		// $or ("Filter policy examples": OR logic)
		{`{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}`, attrMsg{"source": str("aws.cloudwatch"), "namespace": str("AWS/EC2")}, true},
		{`{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}`, attrMsg{"source": str("aws.cloudwatch"), "namespace": str("AWS/S3")}, false},
		// Binary attributes never match values
		{`{"b": ["x"]}`, attrMsg{"b": {Type: "Binary", Bytes: []byte("x")}}, false},
		{`{"b": [{"exists": true}]}`, attrMsg{"b": {Type: "Binary", Bytes: []byte("x")}}, true},
		{`{}`, attrMsg{}, true},
	}
	for _, tc := range cases {
		p, err := CompilePolicy(tc.policy, ScopeAttributes)
		if err != nil {
			t.Fatalf("%s: %v", tc.policy, err)
		}
		if got := p.Match(msgWithAttrs(tc.attrs)); got != tc.want {
			t.Errorf("%s on %v: got %v want %v", tc.policy, tc.attrs, got, tc.want)
		}
		// The same through the binding filter (indexed when anchored).
		f, err := compileSpec(FilterSpec(ScopeAttributes, tc.policy))
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(msgWithAttrs(tc.attrs)); got != tc.want {
			t.Errorf("indexed=%v %s on %v: got %v want %v", f.(*Policy).indexed, tc.policy, tc.attrs, got, tc.want)
		}
	}
}

// Headers published on other protocols (AMQP typed headers) are filtered
// by their Go type.
func TestAttributePolicyOnForeignHeaders(t *testing.T) {
	p, err := CompilePolicy(`{"n": [{"numeric": [">", 10]}], "s": ["eu"]}`, ScopeAttributes)
	if err != nil {
		t.Fatal(err)
	}
	m := &core.Message{Props: core.Properties{Headers: core.Table{"n": int32(11), "s": "eu"}}}
	if !p.Match(m) {
		t.Error("typed headers should match")
	}
	m = &core.Message{Props: core.Properties{Headers: core.Table{"n": int64(3), "s": "eu"}}}
	if p.Match(m) {
		t.Error("n=3 should not match")
	}
}

// TestBodyPolicies: TestSNSFilterPolicyBody recordings.
func TestBodyPolicies(t *testing.T) {
	onBody := `{"object": {"key": [{"prefix": "auto-"}, "hardcodedvalue"], "nested_key": [{"exists": false}]}, "test": [{"exists": false}]}`
	dot := `{"object.nested": ["string.value"]}`
	deep := `{"object.nested.test": ["string.value"]}`
	arrays1 := `{"headers": {"route-to": ["queue1"]}}`
	s3 := `{"Records": {"s3": {"object": {"key": [{"prefix": "auto-"}]}}, "eventName": [{"prefix": "ObjectCreated:"}]}}`
	or := `{"$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}], "detail": {"scope": ["Service"], "$or": [{"source": ["aws.cloudwatch"]}, {"type": ["CloudWatch Alarm State Change"]}]}}`
	ip := `{"detail": {"$or": [{"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}, {"sourceIPAddressV6": [{"cidr": "2001:db8:1234:1a00::/64"}]}]}}`
	cases := []struct {
		policy, body string
		want         bool
	}{
		{onBody, `{"object": {"key": "auto-test"}}`, true},
		{onBody, `{"object": {"key": "hardcodedvalue"}}`, true},
		{onBody, `{"object": {"key": "test-auto"}}`, false},
		{onBody, `{"object": {"key": "auto-test"}, "test": "just-exists"}`, false},
		{onBody, `{"object": {"key": "auto-test", "nested_key": "just-exists"}}`, false},
		{onBody, `{"object": {"test": "auto-test"}}`, false},
		{onBody, `{"test": "auto-test"}`, false},
		{onBody, `Regular string message`, false},
		{onBody, `"Regular string message"`, false},
		{dot, `{"object": {"nested": "string.value"}}`, true},
		{dot, `{"object.nested": "string.value"}`, true},
		{dot, `{"object": {"nested": "test-auto"}}`, false},
		{deep, `{"object": {"nested": {"test": "string.value"}}}`, true},
		{deep, `{"object.nested.test": "string.value"}`, true},
		{deep, `{"object.nested": {"test": "string.value"}}`, true},
		{deep, `{"object": {"nested.test": "string.value"}}`, true},
		{deep, `{"object": {"nested": {"test": "string.notvalue"}}}`, false},
		{arrays1, `{"headers": {"route-to": ["queue3"]}}`, false},
		{arrays1, `{"headers": {"route-to": ["queue1"]}}`, true},
		{arrays1, `{"headers": {"route-to": ["queue2"]}}`, false},
		{arrays1, `{"headers": {"route-to": ["queue1", "queue2"]}}`, true},
		{s3, `{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": [[{"key": "auto-insurance-2314.xml"}]]}}, {"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "home-insurance-2314.xml"}}}]}`, true},
		{s3, `{"Records": [{"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "auto-insurance-2314.xml"}}}]}`, false},
		{s3, `{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "home-insurance-2314.xml"}}}]}`, false},
		{s3, `{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "auto-insurance-2314.xml", "size": 17}}}]}`, true},
		{or, `{"metricName": "CPUUtilization", "detail": {"scope": "aws.cloudwatch", "type": "CloudWatch Alarm State Change"}}`, false},
		{or, `{"metricName": "CPUUtilization", "detail": {"scope": "Service", "type": "CPUUtilization"}}`, false},
		{or, `{"metricName": "CPUUtilization", "detail": {"type": "CloudWatch Alarm State Change"}}`, false},
		{or, `{"metricName": "CPUUtilization", "detail": {"scope": "Service"}}`, false},
		{or, `{"metricName": "CPUUtilization", "scope": "Service"}`, false},
		{or, `{"metricName": "AWS/EC2", "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"}}`, false},
		{or, `{"namespace": "CPUUtilization", "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"}}`, false},
		{or, `{"metricName": "CPUUtilization", "detail": {"scope": "Service", "source": "aws.cloudwatch"}}`, true},
		{or, `{"metricName": "ReadLatency", "detail": {"scope": "Service", "source": "aws.cloudwatch"}}`, true},
		{or, `{"namespace": "AWS/EC2", "detail": {"scope": "Service", "source": "aws.cloudwatch"}}`, true},
		{or, `{"namespace": "AWS/ES", "detail": {"scope": "Service", "source": "aws.cloudwatch"}}`, true},
		{or, `{"metricName": "CPUUtilization", "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"}}`, true},
		{`{"detail": {"eventVersion": [""]}}`, `{"resources": [], "detail": {"eventVersion": "", "responseElements": null}}`, true},
		{ip, `{"id": "1", "detail": {"sourceIPAddress": "10.0.0.255"}}`, true},
		{ip, `{"id": "2", "detail": {"sourceIPAddress": "10.0.0.256"}}`, false},
		{ip, `{"id": "3", "detail": {"sourceIPAddressV6": "2001:0db8:1234:1a00:0000:0000:0000:0000"}}`, true},
		{ip, `{"id": "4", "detail": {"sourceIPAddressV6": "2001:0db8:123f:1a01:0000:0000:0000:0000"}}`, false},
		{`{"n": [{"numeric": [">=", 1.5]}], "b": [true], "z": [null]}`, `{"n": 1.5, "b": true, "z": null}`, true},
		{`{"n": [{"numeric": [">=", 1.5]}], "b": [true], "z": [null]}`, `{"n": "1.5", "b": true, "z": null}`, false},
	}
	for _, tc := range cases {
		p, err := CompilePolicy(tc.policy, ScopeBody)
		if err != nil {
			t.Fatalf("%s: %v", tc.policy, err)
		}
		if got := p.Match(&core.Message{Body: []byte(tc.body)}); got != tc.want {
			t.Errorf("%s on %s: got %v want %v", tc.policy, tc.body, got, tc.want)
		}
		f, err := compileSpec(FilterSpec(ScopeBody, tc.policy))
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(&core.Message{Body: []byte(tc.body)}); got != tc.want {
			t.Errorf("indexed=%v %s on %s: got %v want %v", f.(*Policy).indexed, tc.policy, tc.body, got, tc.want)
		}
	}
}

func TestFilterSpecViaCoreBinding(t *testing.T) {
	f, err := compileSpec(FilterSpec(ScopeBody, `{"a": ["b"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Match(&core.Message{Body: []byte(`{"a":"b"}`)}) || f.Match(&core.Message{Body: []byte(`{"a":"c"}`)}) {
		t.Error("spec filter mismatch")
	}
	if _, err := compileSpec("nonsense"); err == nil {
		t.Error("spec without scope accepted")
	}
}

func FuzzCompilePolicy(f *testing.F) {
	for _, tc := range snapshotErrors {
		f.Add(tc.policy)
	}
	f.Add(`{"a": {"b": [{"numeric": [">", 1, "<", 2]}]}, "$or": [{"c": ["d"]}, {"e": [{"exists": true}]}]}`)
	f.Add(`{"a": [{"cidr": "::1/128"}, {"anything-but": {"prefix": "x"}}, {"equals-ignore-case": "Q"}]}`)
	f.Fuzz(func(t *testing.T, policy string) {
		for _, scope := range []Scope{ScopeAttributes, ScopeBody} {
			p, err := CompilePolicy(policy, scope)
			if err != nil {
				if _, ok := err.(*PolicyError); !ok {
					t.Fatalf("error type %T", err)
				}
				continue
			}
			m := &core.Message{Body: []byte(policy), Props: core.Properties{Headers: core.Table{"a": "b", "key": "value"}}}
			direct := p.Match(m)
			f, err := compileSpec(FilterSpec(scope, policy))
			if err != nil {
				t.Fatalf("spec refused an accepted policy: %v", err)
			}
			m2 := &core.Message{Body: []byte(policy), Props: core.Properties{Headers: core.Table{"a": "b", "key": "value"}}}
			if f.Match(m2) != direct {
				t.Fatalf("indexed and direct evaluation disagree on %q", policy)
			}
		}
	})
}

// FuzzPublishForm feeds arbitrary Query forms to the Publish input reader
// (message attributes and batch members): no panic, and accepted
// attributes always carry a known data type.
func FuzzPublishForm(f *testing.F) {
	f.Add("Message=x&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=v")
	f.Add("MessageAttributes.entry.1.Name=b&MessageAttributes.entry.1.Value.DataType=Binary&MessageAttributes.entry.1.Value.BinaryValue=AgME")
	f.Add("MessageAttributes.entry.99999999999.Name=a&MessageAttributes.entry.-1.Name=b&MessageAttributes.entry.x.Name=c")
	f.Add("MessageAttributes.entry.1.Name=l&MessageAttributes.entry.1.Value.DataType=String.Array&MessageAttributes.entry.1.Value.StringValue=%5B1%2C%22a%22%5D")
	f.Fuzz(func(t *testing.T, q string) {
		form, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		in, err := readPubInput(form)
		if err != nil {
			return
		}
		for n, a := range in.attrs {
			switch baseType(a.Type) {
			case "String", "Number", "Binary":
			default:
				t.Fatalf("attribute %s accepted with type %q", n, a.Type)
			}
			m := &core.Message{}
			AttrsToHeaders(m, map[string]Attr{n: a})
			if back := HeadersToAttrs(m)[n]; back.Type != a.Type && n != "content-type" && n != "correlation-id" && n != "reply-to" {
				t.Fatalf("round trip of %s: %+v -> %+v", n, a, back)
			}
		}
		members(form, "PublishBatchRequestEntries.member.")
	})
}

// Many indexed policies side by side: each message matches exactly the
// policies its values select, whatever else is indexed; dropped policies
// leave the index.
func TestFilterIndexManyPolicies(t *testing.T) {
	var fs []core.Filter
	for i := range 500 {
		f, err := compileSpec(FilterSpec(ScopeAttributes, fmt.Sprintf(`{"customer": ["c%d", "shared"], "n": [{"numeric": [">", %d]}]}`, i, i)))
		if err != nil {
			t.Fatal(err)
		}
		if !f.(*Policy).indexed {
			t.Fatal("anchored policy not indexed")
		}
		fs = append(fs, f)
	}
	count := func(customer, n string) int {
		m := msgWithAttrs(attrMsg{"customer": str(customer), "n": num(n)})
		hits := 0
		for _, f := range fs {
			if f.Match(m) {
				hits++
			}
		}
		return hits
	}
	if got := count("c7", "1000"); got != 1 {
		t.Errorf("c7: %d hits", got)
	}
	if got := count("shared", "250"); got != 250 {
		t.Errorf("shared n=250: %d hits", got)
	}
	if got := count("nobody", "1000"); got != 0 {
		t.Errorf("nobody: %d hits", got)
	}
	// Same spec, same policy.
	again, _ := compileSpec(FilterSpec(ScopeAttributes, `{"customer": ["c0", "shared"], "n": [{"numeric": [">", 0]}]}`))
	if again != fs[0] {
		t.Error("a recompiled spec should share the policy")
	}
	fs, again = nil, nil
	for range 5 {
		runtime.GC()
	}
	test := func() int {
		index.mu.RLock()
		defer index.mu.RUnlock()
		return len(index.byKey[ScopeAttributes]["customer"]["shared"])
	}
	for i := 0; i < 50 && test() > 0; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := test(); n != 0 {
		t.Errorf("%d index entries left after the policies were dropped", n)
	}
}
