package awsapi

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Error is an AWS API error. Code is what the Query protocol (XML <Code>,
// the x-amzn-query-error header) carries; Type is the JSON 1.0 error shape
// ("__type" after '#'), which defaults to Code.
type Error struct {
	Status  int    // HTTP status; 0 = 400
	Code    string // e.g. "AWS.SimpleQueueService.NonExistentQueue"
	Type    string // e.g. "QueueDoesNotExist"; "" = Code
	Message string
	Fault   string // "Sender" (default) or "Receiver"
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns a 400 Sender error whose JSON type equals its code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) status() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

func (e *Error) fault() string {
	if e.Fault == "" {
		if e.status() >= 500 {
			return "Receiver"
		}
		return "Sender"
	}
	return e.Fault
}

func (e *Error) jsonType() string {
	if e.Type != "" {
		return e.Type
	}
	return e.Code
}

// Common errors of every AWS Query/JSON service.
var (
	ErrInternal = &Error{Status: http.StatusInternalServerError, Code: "InternalFailure", Type: "InternalFailure",
		Message: "The request processing has failed because of an unknown error, exception or failure."}
	ErrInvalidClientTokenID = &Error{Status: http.StatusForbidden, Code: "InvalidClientTokenId", Type: "InvalidClientTokenId",
		Message: "The security token included in the request is invalid."}
	ErrSignatureDoesNotMatch = &Error{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch", Type: "SignatureDoesNotMatch",
		Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	ErrMissingAuth = &Error{Status: http.StatusForbidden, Code: "MissingAuthenticationToken", Type: "MissingAuthenticationToken",
		Message: "Request is missing Authentication Token"}
	ErrIncompleteSignature = &Error{Status: http.StatusForbidden, Code: "IncompleteSignature", Type: "IncompleteSignature",
		Message: "The request signature does not conform to AWS standards."}
	ErrMissingAction = &Error{Status: http.StatusBadRequest, Code: "MissingAction", Type: "MissingAction",
		Message: "The request must contain the parameter Action."}
	ErrTooLarge = &Error{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge", Type: "RequestEntityTooLarge",
		Message: "Request body is too large."}
)

// InvalidAction is the error for an unknown action.
func InvalidAction(action string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "InvalidAction", Type: "InvalidAction",
		Message: "The action " + action + " is not valid for this web service."}
}

// unknownOperation is the error for an unknown action: Query services call
// it InvalidAction; AWS JSON endpoints answer with Coral's
// UnknownOperationException (the query-compatible code stays InvalidAction).
func unknownOperation(proto Protocol, action string) *Error {
	e := InvalidAction(action)
	if proto == JSON {
		e.Type = "com.amazon.coral.service#UnknownOperationException"
	}
	return e
}

// writeError renders e in the protocol of the request.
func writeError(w http.ResponseWriter, proto Protocol, svc *Service, reqID string, e *Error) {
	h := w.Header()
	h.Set("x-amzn-RequestId", reqID)
	if proto == JSON {
		typ := e.jsonType()
		if svc != nil && svc.JSONTypePrefix != "" && !strings.Contains(typ, "#") {
			typ = svc.JSONTypePrefix + typ
		}
		body, _ := marshalJSON(map[string]string{"__type": typ, "message": e.Message})
		// awsQueryCompatible: SDKs take the Query code and fault from this header.
		h.Set("x-amzn-query-error", e.Code+";"+e.fault())
		h.Set("Content-Type", "application/x-amz-json-1.0")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(e.status())
		w.Write(body)
		return
	}
	ns := ""
	if svc != nil {
		ns = svc.XMLNamespace
	}
	buf := make([]byte, 0, 256+len(e.Message))
	buf = append(buf, `<?xml version="1.0"?><ErrorResponse`...)
	if ns != "" {
		buf = append(buf, ` xmlns="`...)
		buf = appendEscaped(buf, ns)
		buf = append(buf, '"')
	}
	buf = append(buf, "><Error><Type>"...)
	buf = append(buf, e.fault()...)
	buf = append(buf, "</Type><Code>"...)
	buf = appendEscaped(buf, e.Code)
	buf = append(buf, "</Code><Message>"...)
	buf = appendEscaped(buf, e.Message)
	buf = append(buf, "</Message><Detail/></Error><RequestId>"...)
	buf = appendEscaped(buf, reqID)
	buf = append(buf, "</RequestId></ErrorResponse>"...)
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(e.status())
	w.Write(buf)
}

type appendWriter struct{ b *[]byte }

func (a appendWriter) Write(p []byte) (int, error) { *a.b = append(*a.b, p...); return len(p), nil }

// appendEscaped appends s with XML character escaping.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if xmlSpecial[s[i]] {
			return appendEscapedSlow(dst, s)
		}
	}
	return append(dst, s...) // nothing xml.EscapeText would change
}

// xmlSpecial marks the bytes xml.EscapeText may change: controls, non-ASCII
// (it checks UTF-8), quotes, '&', '<' and '>'.
var xmlSpecial = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x20 || c >= 0x7f || strings.IndexByte(`"'&<>`, byte(c)) >= 0
	}
	return t
}()

// appendEscapedSlow is apart so that the plain path does not move dst to
// the heap (xml.EscapeText's writer takes its address).
//
//go:noinline
func appendEscapedSlow(dst []byte, s string) []byte {
	xml.EscapeText(appendWriter{&dst}, []byte(s))
	return dst
}
