package sns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

// Options configure the SNS bridge.
type Options struct {
	Logger    *slog.Logger
	Region    string // default region
	AccountID string
	// RetryDelay, when set, replaces the DeliveryPolicy delay between HTTP
	// delivery attempts (tests); the number of retries still follows the
	// policy (default 3 retries, 20 s apart).
	RetryDelay time.Duration
	// HTTPClient delivers to http/https endpoints; nil = a client with a
	// 15 s timeout.
	HTTPClient *http.Client
	// Prefetch is the number of deliveries in flight per subscription
	// (FIFO topics: per message group); 0 = 64.
	Prefetch int
}

// Bridge is the SNS API on a core broker.
type Bridge struct {
	b      *core.Broker
	log    *slog.Logger
	opts   Options
	meta   *core.MetaStore
	signer *Signer
	client *http.Client

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.RWMutex
	topics     map[string]*topic        // by ARN
	subs       map[string]*subscription // by ARN
	byEndpoint map[string]string        // endpointKey -> subscription ARN
	tokens     map[string]string        // confirmation token -> subscription ARN
	workers    map[string]*worker       // by subscription ARN
	dedup      map[string]dedupEntry    // FIFO topics: topic ARN \x00 dedup id
	seq        atomic.Uint64            // FIFO sequence numbers
	closed     bool

	// base is the scheme://host of the latest API request: envelope URLs
	// follow the address clients use now (it may change across restarts).
	base atomic.Pointer[string]
}

type dedupEntry struct {
	id, seq string
	exp     time.Time
}

// bridges lets Handler find the bridge of a broker.
var bridges sync.Map // *core.Broker -> *Bridge

// Register adds the SNS API to srv, recovers topics and subscriptions
// from the broker's metadata and starts delivering. The returned closer
// stops delivery (pending deliveries stay queued in the core).
func Register(srv *awsapi.Server, b *core.Broker, o Options) (func(context.Context) error, error) {
	br, err := New(b, o)
	if err != nil {
		return nil, err
	}
	br.register(srv)
	return br.Close, nil
}

// New builds the bridge without registering it (tests, benchmarks).
func New(b *core.Broker, o Options) (*Bridge, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "000000000000"
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 64
	}
	ctx, cancel := context.WithCancel(context.Background())
	br := &Bridge{b: b, log: o.Logger.With("proto", "sns"), opts: o, meta: b.Meta(metaNS), ctx: ctx, cancel: cancel,
		topics: map[string]*topic{}, subs: map[string]*subscription{}, byEndpoint: map[string]string{}, tokens: map[string]string{},
		workers: map[string]*worker{}, dedup: map[string]dedupEntry{}}
	br.client = o.HTTPClient
	if br.client == nil {
		br.client = &http.Client{Timeout: 15 * time.Second}
	}
	br.seq.Store(uint64(time.Now().UnixNano()))
	signer, err := loadSigner(br.meta)
	if err != nil {
		cancel()
		return nil, err
	}
	br.signer = signer
	if err := br.load(); err != nil {
		cancel()
		return nil, err
	}
	for _, s := range br.sortedSubs("") {
		if s.Pending {
			continue
		}
		if err := br.bind(s); err != nil {
			br.log.Error("sns: restore subscription", "sub", s.ARN, "err", err)
			continue
		}
		br.startWorker(s)
	}
	bridges.Store(b, br)
	return br, nil
}

// Close stops every delivery worker. Idempotent.
func (br *Bridge) Close(context.Context) error {
	br.mu.Lock()
	if br.closed {
		br.mu.Unlock()
		return nil
	}
	br.closed = true
	ws := make([]*worker, 0, len(br.workers))
	for _, w := range br.workers {
		ws = append(ws, w)
	}
	br.mu.Unlock()
	br.cancel()
	for _, w := range ws {
		w.stop()
	}
	br.wg.Wait()
	bridges.CompareAndDelete(br.b, br)
	return nil
}

func (br *Bridge) register(srv *awsapi.Server) {
	srv.Register(awsapi.Service{
		Name:         "sns",
		XMLNamespace: xmlns,
		Actions:      br.actions(),
		Owns: func(r *http.Request, form url.Values) bool {
			return form.Has("TopicArn") || form.Has("SubscriptionArn")
		},
		MapError: reasonFor,
	})
}

func (br *Bridge) actions() map[string]awsapi.Handler {
	acts := br.actionTable()
	for name, h := range acts {
		acts[name] = func(r *awsapi.Request) (any, error) {
			br.noteBase(r)
			return h(r)
		}
	}
	return acts
}

func (br *Bridge) actionTable() map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"CreateTopic":               br.createTopic,
		"DeleteTopic":               br.deleteTopic,
		"ListTopics":                br.listTopics,
		"GetTopicAttributes":        br.getTopicAttributes,
		"SetTopicAttributes":        br.setTopicAttributes,
		"TagResource":               br.tagResource,
		"UntagResource":             br.untagResource,
		"ListTagsForResource":       br.listTagsForResource,
		"Subscribe":                 br.subscribe,
		"ConfirmSubscription":       br.confirmSubscription,
		"Unsubscribe":               br.unsubscribe,
		"ListSubscriptions":         br.listSubscriptions,
		"ListSubscriptionsByTopic":  br.listSubscriptionsByTopic,
		"GetSubscriptionAttributes": br.getSubscriptionAttributes,
		"SetSubscriptionAttributes": br.setSubscriptionAttributes,
		"Publish":                   br.publish,
		"PublishBatch":              br.publishBatch,
	}
}

const xmlns = "http://sns.amazonaws.com/doc/2010-03-31/"

// Handler wraps the AWS endpoint handler next with what SNS serves outside
// the signed API: the signing certificate (GET SigningCertURL) and the
// SubscribeURL / UnsubscribeURL links that endpoints follow without
// credentials (GET ?Action=ConfirmSubscription|Unsubscribe).
func Handler(b *core.Broker, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := bridges.Load(b)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		br := v.(*Bridge)
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/SimpleNotificationService-") {
			if r.URL.Path != br.signer.CertPath() {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/x-pem-file")
			w.Write(br.signer.CertPEM())
			return
		}
		if r.Method == http.MethodGet && r.Header.Get("Authorization") == "" && !r.URL.Query().Has("X-Amz-Signature") {
			switch act := r.URL.Query().Get("Action"); act {
			case "ConfirmSubscription", "Unsubscribe":
				br.serveLink(w, r, act)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// serveLink answers an unsigned SubscribeURL / UnsubscribeURL request.
func (br *Bridge) serveLink(w http.ResponseWriter, r *http.Request, action string) {
	req := &awsapi.Request{HTTP: r, Action: action, Protocol: awsapi.Query, Form: r.URL.Query(),
		Region: br.opts.Region, RequestID: core.NewID(), URLHost: r.Host}
	if parts := arnParts(req.Form.Get("TopicArn") + req.Form.Get("SubscriptionArn")); len(parts) >= 4 {
		req.Region = parts[3]
	}
	var res any
	var err error
	if action == "Unsubscribe" {
		res, err = br.unsubscribe(req)
	} else {
		res, err = br.confirmSubscription(req)
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", req.RequestID)
	if err != nil {
		ae := reasonFor(err)
		var e *awsapi.Error
		if errors.As(err, &e) {
			ae = e
		}
		st := ae.Status
		if st == 0 {
			st = http.StatusBadRequest
		}
		w.WriteHeader(st)
		x := newXML()
		x.raw(`<?xml version="1.0"?><ErrorResponse xmlns="` + xmlns + `"><Error><Type>Sender</Type>`)
		x.elem("Code", ae.Code).elem("Message", ae.Message)
		x.raw(`</Error>`).elem("RequestId", req.RequestID).raw(`</ErrorResponse>`)
		w.Write(x.b)
		return
	}
	x := newXML()
	x.raw(`<?xml version="1.0"?><` + action + `Response xmlns="` + xmlns + `">`)
	if inner, ok := res.(awsapi.XMLResult); ok && len(inner) > 0 {
		x.raw("<" + action + "Result>").raw(string(inner)).raw("</" + action + "Result>")
	}
	x.raw("<ResponseMetadata>").elem("RequestId", req.RequestID).raw("</ResponseMetadata></" + action + "Response>")
	w.Write(x.b)
}

// Errors.

func invalidParam(format string, args ...any) *awsapi.Error {
	return &awsapi.Error{Status: 400, Code: "InvalidParameter", Type: "InvalidParameterException",
		Message: "Invalid parameter: " + fmt.Sprintf(format, args...)}
}

func paramValueInvalid(format string, args ...any) *awsapi.Error {
	return &awsapi.Error{Status: 400, Code: "ParameterValueInvalid", Type: "InvalidParameterValueException",
		Message: fmt.Sprintf(format, args...)}
}

var (
	errTopicNotFound = &awsapi.Error{Status: 404, Code: "NotFound", Type: "NotFoundException", Message: "Topic does not exist"}
	errSubNotFound   = &awsapi.Error{Status: 404, Code: "NotFound", Type: "NotFoundException", Message: "Subscription does not exist"}
	errResNotFound   = &awsapi.Error{Status: 404, Code: "ResourceNotFound", Type: "ResourceNotFoundException", Message: "Resource does not exist"}
)

// reasonFor maps core errors onto SNS errors (awsapi.Service.MapError).
func reasonFor(err error) *awsapi.Error {
	switch {
	case errors.Is(err, core.ErrNotFound):
		return &awsapi.Error{Status: 404, Code: "NotFound", Type: "NotFoundException", Message: "Resource does not exist"}
	case errors.Is(err, core.ErrTooLarge):
		return invalidParam("Message too long")
	case errors.Is(err, core.ErrQuotaExceeded):
		return &awsapi.Error{Status: 403, Code: "Throttled", Type: "ThrottledException", Message: "Rate exceeded"}
	case errors.Is(err, core.ErrAccessDenied):
		return &awsapi.Error{Status: 403, Code: "AuthorizationError", Type: "AuthorizationErrorException", Message: "User is not authorized to perform this action"}
	case errors.Is(err, core.ErrInvalidArg), errors.Is(err, core.ErrInvalidName):
		return invalidParam("Request")
	case errors.Is(err, core.ErrUnavailable), errors.Is(err, core.ErrClosed):
		return &awsapi.Error{Status: 503, Code: "ServiceUnavailable", Type: "ServiceUnavailableException", Message: "Service is unavailable", Fault: "Receiver"}
	}
	return nil
}

// Query form helpers.

// members returns the sub-forms prefix.N.* in N order (N from 1).
func members(form url.Values, prefix string) []url.Values {
	byN := map[int]url.Values{}
	for k, v := range form {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		ns, sub, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(ns)
		if err != nil || n < 1 {
			continue
		}
		if byN[n] == nil {
			byN[n] = url.Values{}
		}
		byN[n][sub] = v
	}
	keys := make([]int, 0, len(byN))
	for n := range byN {
		keys = append(keys, n)
	}
	sort.Ints(keys)
	out := make([]url.Values, len(keys))
	for i, n := range keys {
		out[i] = byN[n]
	}
	return out
}

// attrMap reads an Attributes.entry.N.key/value map.
func attrMap(form url.Values, prefix string) map[string]string {
	out := map[string]string{}
	for _, e := range members(form, prefix+".entry.") {
		out[e.Get("key")] = e.Get("value")
	}
	return out
}

// xmlBuf builds escaped XML.
type xmlBuf struct{ b []byte }

func newXML() *xmlBuf { return &xmlBuf{b: make([]byte, 0, 256)} }

func (x *xmlBuf) raw(s string) *xmlBuf { x.b = append(x.b, s...); return x }

func (x *xmlBuf) elem(name, val string) *xmlBuf {
	x.b = append(x.b, '<')
	x.b = append(x.b, name...)
	x.b = append(x.b, '>')
	x.text(val)
	x.b = append(x.b, "</"...)
	x.b = append(x.b, name...)
	x.b = append(x.b, '>')
	return x
}

func (x *xmlBuf) text(s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			x.b = append(x.b, "&lt;"...)
		case '>':
			x.b = append(x.b, "&gt;"...)
		case '&':
			x.b = append(x.b, "&amp;"...)
		case '"':
			x.b = append(x.b, "&quot;"...)
		case '\'':
			x.b = append(x.b, "&apos;"...)
		case '\r':
			x.b = append(x.b, "&#13;"...)
		case '\n', '\t':
			x.b = append(x.b, c)
		default:
			if c < 0x20 {
				// Not representable in XML 1.0, even as a reference.
				x.b = append(x.b, "\uFFFD"...)
				continue
			}
			x.b = append(x.b, c)
		}
	}
}

func (x *xmlBuf) entries(name string, m map[string]string) *xmlBuf {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	x.raw("<" + name + ">")
	for _, k := range keys {
		x.raw("<entry>").elem("key", k).elem("value", m[k]).raw("</entry>")
	}
	return x.raw("</" + name + ">")
}

func (x *xmlBuf) result() awsapi.XMLResult { return awsapi.XMLResult(x.b) }

// baseURL is the scheme://host of the API as the client reached it.
func baseURL(r *awsapi.Request) string {
	scheme := "http"
	if r.HTTP != nil && r.HTTP.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.URLHost
}

// noteBase records the address of an API request.
func (br *Bridge) noteBase(r *awsapi.Request) {
	if r.URLHost == "" {
		return
	}
	u := baseURL(r)
	if p := br.base.Load(); p == nil || *p != u {
		br.base.Store(&u)
	}
}

// baseFor is the base URL for s's envelopes: the current API address,
// else the one s was created through.
func (br *Bridge) baseFor(s *subscription) string {
	if p := br.base.Load(); p != nil {
		return *p
	}
	return s.BaseURL
}
