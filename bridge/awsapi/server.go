package awsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/omnibroker/broker/core"
)

// DefaultMaxBody bounds a request body: a 1 MiB SQS batch JSON-escaped or
// percent-encoded stays well below it.
const DefaultMaxBody = 10 << 20

// Handler serves one action; see the package documentation.
type Handler func(r *Request) (any, error)

// Service is one AWS API served by the dispatcher.
type Service struct {
	// Name is the SigV4 credential-scope service name ("sqs", "sns").
	Name string
	// TargetPrefix is the X-Amz-Target prefix of JSON 1.0 requests
	// ("AmazonSQS"); "" when the service speaks Query only.
	TargetPrefix string
	// JSONTypePrefix is prepended to an error's Type in "__type"
	// ("com.amazonaws.sqs#").
	JSONTypePrefix string
	// XMLNamespace is the xmlns of Query responses.
	XMLNamespace string
	// Actions by name.
	Actions map[string]Handler
	// QueryRules reshape flattened Query parameters for Request.Decode.
	QueryRules QueryRules
	// XMLRules shape Query (XML) results.
	XMLRules XMLRules
	// Owns, when set, claims an unsigned Query request whose action name
	// several services share (SQS and SNS both have AddPermission).
	Owns func(r *http.Request, form url.Values) bool
	// MapError turns errors that are not *Error into one (nil = internal).
	MapError func(error) *Error
}

// Options configure a Server.
type Options struct {
	Auth      Credentials // required: SigV4 secrets (usually the *core.Broker)
	Logger    *slog.Logger
	Region    string // default region when the request names none
	AccountID string
	Host      string // host[:port] for resource URLs; "" = the request's Host
	MaxBody   int64  // 0 = DefaultMaxBody
}

// Server is the AWS HTTP dispatcher; it implements http.Handler.
type Server struct {
	opts Options
	log  *slog.Logger

	mu       sync.RWMutex
	services []*Service
	byTarget map[string]*Service
	byName   map[string]*Service

	hookOnce sync.Once
	hmu      sync.Mutex
	hooks    []func()
}

// OnShutdown registers fn to run when the http.Server serving this handler
// begins a graceful shutdown (http.Server.RegisterOnShutdown), for example
// to end long polls so that the drain does not wait for them.
func (s *Server) OnShutdown(fn func()) {
	s.hmu.Lock()
	s.hooks = append(s.hooks, fn)
	s.hmu.Unlock()
}

func (s *Server) runHooks() {
	s.hmu.Lock()
	hooks := append([]func(){}, s.hooks...)
	s.hmu.Unlock()
	for _, fn := range hooks {
		fn()
	}
}

// NewServer returns a dispatcher with no services.
func NewServer(o Options) *Server {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: o, log: o.Logger, byTarget: map[string]*Service{}, byName: map[string]*Service{}}
}

// Register adds a service. It panics on a duplicate name or target prefix
// (a wiring bug).
func (s *Server) Register(svc Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byName[svc.Name]; dup {
		panic(fmt.Sprintf("awsapi: service %q registered twice", svc.Name))
	}
	p := &svc
	s.services = append(s.services, p)
	s.byName[svc.Name] = p
	if svc.TargetPrefix != "" {
		if _, dup := s.byTarget[svc.TargetPrefix]; dup {
			panic(fmt.Sprintf("awsapi: target prefix %q registered twice", svc.TargetPrefix))
		}
		s.byTarget[svc.TargetPrefix] = p
	}
}

// Region returns the default region.
func (s *Server) Region() string { return s.opts.Region }

// AccountID returns the account id used in URLs and ARNs.
func (s *Server) AccountID() string { return s.opts.AccountID }

// ServeHTTP decodes, authenticates, dispatches and renders one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	reqID := core.NewID()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("aws handler panic", "panic", p, "remote", hr.RemoteAddr)
			writeError(w, Query, nil, reqID, ErrInternal)
		}
	}()
	if hs, ok := hr.Context().Value(http.ServerContextKey).(*http.Server); ok {
		s.hookOnce.Do(func() { hs.RegisterOnShutdown(s.runHooks) })
	}
	r := &Request{HTTP: hr, RequestID: reqID, Region: s.opts.Region, URLHost: s.opts.Host}
	if r.URLHost == "" {
		r.URLHost = hr.Host
	}
	if target := hr.Header.Get("X-Amz-Target"); target != "" {
		r.Protocol = JSON
		prefix, action, _ := strings.Cut(target, ".")
		s.mu.RLock()
		r.Service = s.byTarget[prefix]
		s.mu.RUnlock()
		r.Action = action
	} else {
		r.Protocol = Query
	}
	body, err := readBody(hr, s.opts.MaxBody)
	if err != nil {
		writeError(w, r.Protocol, r.Service, reqID, Errorf("InvalidRequest", "The request body could not be read."))
		return
	}
	if int64(len(body)) > s.opts.MaxBody {
		writeError(w, r.Protocol, r.Service, reqID, ErrTooLarge)
		return
	}
	sig, signed, aerr := parseAuth(hr)
	if r.Protocol == Query {
		if e := s.parseQuery(r, body); e != nil {
			writeError(w, Query, nil, reqID, e)
			return
		}
		r.Service = s.pickService(hr, r.Form, r.Action, sig.Service)
	} else {
		r.Body = body
	}
	if r.Service == nil {
		if r.Protocol == Query && r.Action == "" {
			writeError(w, r.Protocol, nil, reqID, ErrMissingAction)
			return
		}
		writeError(w, r.Protocol, nil, reqID, unknownOperation(r.Protocol, r.Action))
		return
	}
	if aerr != nil {
		writeError(w, r.Protocol, r.Service, reqID, aerr)
		return
	}
	if e := s.authenticate(r, sig, signed, body); e != nil {
		s.log.Warn("aws request refused", "reason", e.Code, "remote", hr.RemoteAddr, "action", r.Action)
		writeError(w, r.Protocol, r.Service, reqID, e)
		return
	}
	h, ok := r.Service.Actions[r.Action]
	if !ok {
		writeError(w, r.Protocol, r.Service, reqID, unknownOperation(r.Protocol, r.Action))
		return
	}
	res, err := h(r)
	if err != nil {
		writeError(w, r.Protocol, r.Service, reqID, s.toError(r, err))
		return
	}
	s.writeResult(w, r, res)
}

// readBody reads at most max+1 bytes of the body like io.ReadAll, but
// starting with a buffer of the announced Content-Length (+1 for the final
// EOF read), so a batch is not grown and copied several times.
func readBody(hr *http.Request, max int64) ([]byte, error) {
	lr := io.LimitReader(hr.Body, max+1)
	n := hr.ContentLength
	if n <= 0 || n > max {
		return io.ReadAll(lr)
	}
	b := make([]byte, 0, n+1)
	for {
		k, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

func (s *Server) parseQuery(r *Request, body []byte) *Error {
	form := make(url.Values, 8+bytes.Count(body, []byte{'&'}))
	if err := parseForm(form, r.HTTP.URL.RawQuery); err != nil {
		return Errorf("MalformedQueryString", "The query string is malformed.")
	}
	if len(body) > 0 {
		ct, _, _ := mime.ParseMediaType(r.HTTP.Header.Get("Content-Type"))
		if ct == "" || ct == "application/x-www-form-urlencoded" {
			// The form's strings share the body's bytes (never rewritten).
			if err := parseForm(form, unsafe.String(unsafe.SliceData(body), len(body))); err != nil {
				return Errorf("MalformedQueryString", "The request body is not a valid form.")
			}
		}
	}
	r.Form = form
	r.Action = form.Get("Action")
	return nil
}

// parseForm adds the pairs of the query string s to form as
// url.ParseQuery would (failing where it reports an error), but with one
// slice backing the values of all the keys seen once.
func parseForm(form url.Values, s string) error {
	pairs := strings.Count(s, "&") + 1
	if strings.IndexByte(s, ';') >= 0 || pairs > maxFastFormPairs {
		f, err := url.ParseQuery(s) // its own rules for these
		if err != nil {
			return err
		}
		for k, v := range f {
			form[k] = append(form[k], v...)
		}
		return nil
	}
	strs := make([]string, pairs)
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return err
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return err
		}
		if vs, ok := form[k]; ok || len(strs) == 0 {
			form[k] = append(vs, v)
		} else {
			strs[0] = v
			form[k] = strs[:1:1]
			strs = strs[1:]
		}
	}
	return nil
}

// maxFastFormPairs: longer forms go through url.ParseQuery (and its limit
// on the number of parameters).
const maxFastFormPairs = 1000

// pickService chooses the service of a Query request: the credential
// scope's service name, else the only service with the action, else the
// first whose Owns claims it.
func (s *Server) pickService(hr *http.Request, form url.Values, action, scope string) *Service {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if svc, ok := s.byName[scope]; ok {
		if _, has := svc.Actions[action]; has || action == "" {
			return svc
		}
	}
	var cands []*Service
	for _, svc := range s.services {
		if _, ok := svc.Actions[action]; ok {
			cands = append(cands, svc)
		}
	}
	switch len(cands) {
	case 0:
		if svc, ok := s.byName[scope]; ok {
			return svc
		}
		return nil
	case 1:
		return cands[0]
	}
	for _, svc := range cands {
		if svc.Owns != nil && svc.Owns(hr, form) {
			return svc
		}
	}
	return cands[0]
}

func (s *Server) authenticate(r *Request, sig sigV4, signed bool, body []byte) *Error {
	anon := s.opts.Auth == nil || s.opts.Auth.AnonymousAllowed()
	if signed && sig.Region != "" {
		r.Region = sig.Region
	}
	if anon {
		if signed {
			r.AccessKey = sig.AccessKey
		}
		return nil
	}
	if !signed {
		return ErrMissingAuth
	}
	secret, ok := s.opts.Auth.UserPassword(sig.AccessKey)
	if !ok {
		return ErrInvalidClientTokenID
	}
	if e := sig.checkTime(time.Now()); e != nil {
		return e
	}
	if !sig.verify(r.HTTP, body, secret) {
		return ErrSignatureDoesNotMatch
	}
	r.AccessKey = sig.AccessKey
	return nil
}

func (s *Server) toError(r *Request, err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	if r.Service.MapError != nil {
		if e := r.Service.MapError(err); e != nil {
			return e
		}
	}
	s.log.Error("aws action failed", "service", r.Service.Name, "action", r.Action, "err", err)
	return ErrInternal
}

func (s *Server) writeResult(w http.ResponseWriter, r *Request, res any) {
	h := w.Header()
	// The three header values share one slice; the keys are written in
	// canonical form (Header.Set would canonicalize and allocate each).
	vals := make([]string, 3)
	vals[0] = r.RequestID
	h["X-Amzn-Requestid"] = vals[0:1:1]
	// Results render into a pooled buffer (the response writer copies it).
	bp := resultBufs.Get().(*[]byte)
	var out []byte
	defer func() {
		if out != nil && cap(out) <= maxPooledResult {
			*bp = out[:0]
			resultBufs.Put(bp)
		}
	}()
	var err error
	if r.Protocol == JSON {
		ok := false
		if a, is := res.(JSONAppender); is {
			out, ok = a.AppendJSON((*bp)[:0])
		}
		if res == nil {
			out = append((*bp)[:0], "{}"...)
		} else if !ok {
			out, err = marshalJSON(res)
		}
		vals[1] = "application/x-amz-json-1.0"
	} else {
		out, err = appendQueryResult((*bp)[:0], r.Service, r.Action, r.RequestID, res)
		vals[1] = "text/xml"
	}
	if err != nil {
		s.log.Error("aws encode result", "action", r.Action, "err", err)
		writeError(w, r.Protocol, r.Service, r.RequestID, ErrInternal)
		return
	}
	h["Content-Type"] = vals[1:2:2]
	vals[2] = strconv.Itoa(len(out))
	h["Content-Length"] = vals[2:3:3]
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// resultBufs recycles the buffers of results (the response
// writer copies the bytes before writeResult returns).
var resultBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledResult keeps exceptionally large results out of the pool.
const maxPooledResult = 1 << 20

// marshalJSON encodes v without HTML escaping (AWS sends "<" as is).
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
