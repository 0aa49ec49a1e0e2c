package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

type creds map[string]string

func (c creds) UserPassword(n string) (string, bool) { p, ok := c[n]; return p, ok }
func (c creds) AnonymousAllowed() bool               { return len(c) == 0 }

type echoIn struct {
	QueueUrl   string
	Count      Int
	Attributes map[string]string
	Names      []string `json:"AttributeNames"`
	Entries    []struct {
		Id   string
		Tags map[string]string
	}
}

func newTestServer(c creds) *Server {
	s := NewServer(Options{Auth: c, Region: "us-east-1", AccountID: "000000000000"})
	s.Register(Service{
		Name: "sqs", TargetPrefix: "AmazonSQS", JSONTypePrefix: "com.amazonaws.sqs#",
		XMLNamespace: "http://queue.amazonaws.com/doc/2012-11-05/",
		QueryRules: QueryRules{
			"Attribute":     {JSON: "Attributes", Kind: Map},
			"AttributeName": {JSON: "AttributeNames", Kind: List},
			"Entry":         {JSON: "Entries", Kind: List},
			"Tag":           {JSON: "Tags", Kind: Map, Key: "Key"},
		},
		XMLRules: XMLRules{"Attributes": {Name: "Attribute", Kind: Map, Flat: true}, "Urls": {Name: "QueueUrl", Flat: true}},
		Actions: map[string]Handler{
			"Echo": func(r *Request) (any, error) {
				var in echoIn
				if err := r.Decode(&in); err != nil {
					return nil, err
				}
				return map[string]any{"In": in, "Attributes": in.Attributes, "Urls": []string{"a", "b"}, "Key": r.AccessKey}, nil
			},
			"Fail": func(r *Request) (any, error) {
				return nil, &Error{Code: "AWS.SimpleQueueService.NonExistentQueue", Type: "QueueDoesNotExist", Message: "The specified queue does not exist."}
			},
			"AddPermission": func(r *Request) (any, error) { return map[string]string{"Who": "sqs"}, nil },
		},
	})
	s.Register(Service{
		Name: "sns", XMLNamespace: "http://sns.amazonaws.com/doc/2010-03-31/",
		Owns: func(_ *http.Request, f url.Values) bool { return f.Has("TopicArn") },
		Actions: map[string]Handler{
			"AddPermission": func(r *Request) (any, error) { return map[string]string{"Who": "sns"}, nil },
		},
	})
	return s
}

func TestQueryTree(t *testing.T) {
	form, _ := url.ParseQuery("Action=Echo&QueueUrl=http%3A%2F%2Fx%2Fq&Count=7&Attribute.1.Name=A&Attribute.1.Value=1&Attribute.2.Name=B&Attribute.2.Value=2" +
		"&AttributeName.2=Y&AttributeName.1=X&Entry.1.Id=e1&Entry.1.Tag.1.Key=k&Entry.1.Tag.1.Value=v&Entry.2.Id=e2")
	tree := QueryTree(form, newTestServer(nil).byName["sqs"].QueryRules)
	got, _ := json.Marshal(tree)
	want := `{"AttributeNames":["X","Y"],"Attributes":{"A":"1","B":"2"},"Count":"7","Entries":[{"Id":"e1","Tags":{"k":"v"}},{"Id":"e2"}],"QueueUrl":"http://x/q"}`
	if string(got) != want {
		t.Fatalf("tree\n got %s\nwant %s", got, want)
	}
}

func do(t *testing.T, s *Server, req *http.Request) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestJSONAndQueryResults(t *testing.T) {
	s := newTestServer(nil)
	req := httptest.NewRequest("POST", "/", strings.NewReader(`{"QueueUrl":"u","Count":3,"Attributes":{"A":"<&>"},"AttributeNames":["All"]}`))
	req.Header.Set("X-Amz-Target", "AmazonSQS.Echo")
	res, body := do(t, s, req)
	if res.StatusCode != 200 || !strings.Contains(body, `"Count":3`) || !strings.Contains(body, `"AttributeNames":["All"]`) {
		t.Fatalf("json: %d %s", res.StatusCode, body)
	}
	req = httptest.NewRequest("POST", "/", strings.NewReader("Action=Echo&Attribute.1.Name=A&Attribute.1.Value=%3C%26%3E"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, body = do(t, s, req)
	var x struct {
		XMLName xml.Name
		Result  struct {
			Attr []struct{ Name, Value string } `xml:"Attribute"`
			URLs []string                       `xml:"QueueUrl"`
		} `xml:"EchoResult"`
		ReqID string `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal([]byte(body), &x); err != nil || res.StatusCode != 200 {
		t.Fatalf("xml %d %v: %s", res.StatusCode, err, body)
	}
	if x.XMLName.Local != "EchoResponse" || len(x.Result.Attr) != 1 || x.Result.Attr[0].Value != "<&>" || len(x.Result.URLs) != 2 || x.ReqID == "" {
		t.Fatalf("xml shape: %+v\n%s", x, body)
	}
}

func TestErrorsInProtocolOfRequest(t *testing.T) {
	s := newTestServer(nil)
	req := httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "AmazonSQS.Fail")
	res, body := do(t, s, req)
	if res.StatusCode != 400 || res.Header.Get("x-amzn-query-error") != "AWS.SimpleQueueService.NonExistentQueue;Sender" ||
		!strings.Contains(body, `"__type":"com.amazonaws.sqs#QueueDoesNotExist"`) {
		t.Fatalf("json error: %d %v %s", res.StatusCode, res.Header, body)
	}
	req = httptest.NewRequest("GET", "/?Action=Fail", nil)
	res, body = do(t, s, req)
	var e struct {
		Error     struct{ Type, Code, Message string }
		RequestId string
	}
	if err := xml.Unmarshal([]byte(body), &e); err != nil || res.StatusCode != 400 || e.Error.Code != "AWS.SimpleQueueService.NonExistentQueue" || e.Error.Type != "Sender" || e.RequestId == "" {
		t.Fatalf("xml error %d %v: %s", res.StatusCode, err, body)
	}
	req = httptest.NewRequest("POST", "/", strings.NewReader(`{"Count":"x"}`))
	req.Header.Set("X-Amz-Target", "AmazonSQS.Echo")
	if res, body = do(t, s, req); res.StatusCode != 400 || strings.Contains(body, "strconv") {
		t.Fatalf("bad int: %d %s", res.StatusCode, body)
	}
	req = httptest.NewRequest("POST", "/", strings.NewReader(`{"Count":`))
	req.Header.Set("X-Amz-Target", "AmazonSQS.Echo")
	if res, body = do(t, s, req); res.StatusCode != 400 || !strings.Contains(body, "SerializationException") {
		t.Fatalf("bad json: %d %s", res.StatusCode, body)
	}
	req = httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "AmazonSQS.Nope")
	if res, body = do(t, s, req); res.StatusCode != 400 || !strings.Contains(body, `"__type":"com.amazon.coral.service#UnknownOperationException"`) ||
		res.Header.Get("x-amzn-query-error") != "InvalidAction;Sender" {
		t.Fatalf("unknown action: %d %v %s", res.StatusCode, res.Header, body)
	}
}

func TestRouting(t *testing.T) {
	s := newTestServer(nil)
	for _, c := range []struct{ form, want string }{
		{"Action=AddPermission&QueueUrl=x", "sqs"},
		{"Action=AddPermission&TopicArn=x", "sns"},
	} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(c.form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if _, body := do(t, s, req); !strings.Contains(body, "<Who>"+c.want+"</Who>") {
			t.Errorf("%s: %s", c.form, body)
		}
	}
	// The credential scope wins over Owns.
	req := signed(t, "POST", "/", "Action=AddPermission&TopicArn=x", "guest", "guest", "sqs")
	if _, body := do(t, s, req); !strings.Contains(body, "<Who>sqs</Who>") {
		t.Errorf("scope routing: %s", body)
	}
}

func signed(t *testing.T, method, path, body, key, secret, service string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1:4566"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), service, "eu-west-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestSigV4(t *testing.T) {
	s := newTestServer(creds{"guest": "guest"})
	if res, body := do(t, s, signed(t, "POST", "/", "Action=Echo&Count=1", "guest", "guest", "sqs")); res.StatusCode != 200 || !strings.Contains(body, "<Key>guest</Key>") {
		t.Fatalf("good signature: %d %s", res.StatusCode, body)
	}
	if res, body := do(t, s, signed(t, "GET", "/?Action=Echo&Count=1&Attribute.1.Name=a%20b", "", "guest", "guest", "sqs")); res.StatusCode != 200 {
		t.Fatalf("good signature (query): %d %s", res.StatusCode, body)
	}
	if res, body := do(t, s, signed(t, "POST", "/", "Action=Echo", "guest", "wrong", "sqs")); res.StatusCode != 403 || !strings.Contains(body, "SignatureDoesNotMatch") {
		t.Fatalf("bad secret: %d %s", res.StatusCode, body)
	}
	if res, body := do(t, s, signed(t, "POST", "/", "Action=Echo", "nobody", "x", "sqs")); res.StatusCode != 403 || !strings.Contains(body, "InvalidClientTokenId") {
		t.Fatalf("bad key: %d %s", res.StatusCode, body)
	}
	req := signed(t, "POST", "/", "Action=Echo", "guest", "guest", "sqs")
	req.Body = io.NopCloser(strings.NewReader("Action=Echo&Count=2")) // tampered body
	if res, body := do(t, s, req); res.StatusCode != 403 || !strings.Contains(body, "SignatureDoesNotMatch") {
		t.Fatalf("tampered: %d %s", res.StatusCode, body)
	}
	old := httptest.NewRequest("POST", "http://127.0.0.1:4566/", strings.NewReader("Action=Echo"))
	sum := sha256.Sum256([]byte("Action=Echo"))
	v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "guest", SecretAccessKey: "guest"}, old, hex.EncodeToString(sum[:]), "sqs", "us-east-1", time.Now().Add(-time.Hour))
	if res, body := do(t, s, old); res.StatusCode != 403 || !strings.Contains(body, "Signature expired") {
		t.Fatalf("replayed: %d %s", res.StatusCode, body)
	}
	pre := httptest.NewRequest("GET", "http://127.0.0.1:4566/?Action=Echo&Count=5", nil)
	q := pre.URL.Query()
	q.Set("X-Amz-Expires", "60")
	pre.URL.RawQuery = q.Encode()
	uri, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: "guest", SecretAccessKey: "guest"}, pre, "UNSIGNED-PAYLOAD", "sqs", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res, body := do(t, s, httptest.NewRequest("GET", uri, nil)); res.StatusCode != 200 || !strings.Contains(body, "<Key>guest</Key>") {
		t.Fatalf("presigned: %d %s", res.StatusCode, body)
	}
	if res, _ := do(t, s, httptest.NewRequest("GET", strings.Replace(uri, "Count=5", "Count=6", 1), nil)); res.StatusCode != 403 {
		t.Fatalf("tampered presigned URL accepted: %d", res.StatusCode)
	}
	req = httptest.NewRequest("POST", "/", strings.NewReader("Action=Echo"))
	if res, body := do(t, s, req); res.StatusCode != 403 || !strings.Contains(body, "MissingAuthenticationToken") {
		t.Fatalf("unsigned: %d %s", res.StatusCode, body)
	}
	req = httptest.NewRequest("POST", "/", strings.NewReader("Action=Echo"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=garbage")
	if res, body := do(t, s, req); res.StatusCode != 403 || !strings.Contains(body, "IncompleteSignature") {
		t.Fatalf("malformed: %d %s", res.StatusCode, body)
	}
}

// FuzzQueryTree: any form decodes without panic into a JSON-marshalable tree.
func FuzzQueryTree(f *testing.F) {
	for _, s := range []string{"Action=Echo&Attribute.1.Name=A&Attribute.1.Value=1", "Entry.1.Tag.1.Key=k&Entry.1=x&Entry.1.Id=y",
		"AttributeName.0=x&AttributeName.-1=y&AttributeName.99999999999999999999=z", "a.b.c.d.e.f.g.h.i=1&a=2&a.b=3", "Tag.1.Value=x"} {
		f.Add(s)
	}
	rules := newTestServer(nil).byName["sqs"].QueryRules
	f.Fuzz(func(t *testing.T, s string) {
		form, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		if _, err := json.Marshal(QueryTree(form, rules)); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzServe: arbitrary bodies on both protocols yield an AWS error or a result, never a panic or a 500.
func FuzzServe(f *testing.F) {
	f.Add(`{"QueueUrl":"u","Count":3}`, true, "")
	f.Add(`Action=Echo&Count=3&Entry.1.Id=x`, false, "")
	f.Add(`Action=Echo&Count=1e3`, false, "AWS4-HMAC-SHA256 Credential=a/b/c/sqs/aws4_request, SignedHeaders=host, Signature=00")
	f.Add(`{"Entries":[{"Id":1}]}`, true, "AWS4-HMAC-SHA256 ,,,")
	s := newTestServer(creds{"a": "b"})
	s2 := newTestServer(nil)
	f.Fuzz(func(t *testing.T, body string, isJSON bool, auth string) {
		for _, srv := range []*Server{s, s2} {
			req := httptest.NewRequest("POST", "/", strings.NewReader(body))
			if isJSON {
				req.Header.Set("X-Amz-Target", "AmazonSQS.Echo")
			} else {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if auth != "" {
				req.Header.Set("Authorization", auth)
				req.Header.Set("X-Amz-Date", "20250101T000000Z")
			}
			res, _ := do(t, srv, req)
			if res.StatusCode >= 500 {
				t.Fatalf("status %d for %q", res.StatusCode, body)
			}
		}
	})
}

// FuzzParseForm: parseForm accepts what url.ParseQuery accepts, with the
// same values in the same order, added after those already in the form.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"Action=Echo&Count=1", "a=1&a=2&b=%41&c", "a=%zz", "a;b=1", "&&=&a=", "a+b=c+d&a+b=e", "x=%E2%82%AC&y=%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		std, stdErr := url.ParseQuery(s)
		form := url.Values{"a": {"pre"}}
		err := parseForm(form, s)
		if (err != nil) != (stdErr != nil) {
			t.Fatalf("%q: parseForm error %v, url.ParseQuery %v", s, err, stdErr)
		}
		if err != nil {
			return
		}
		want := url.Values{"a": {"pre"}}
		for k, v := range std {
			want[k] = append(want[k], v...)
		}
		if !reflect.DeepEqual(form, want) {
			t.Fatalf("%q:\n got %v\nwant %v", s, form, want)
		}
	})
}
