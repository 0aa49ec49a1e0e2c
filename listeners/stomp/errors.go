package stomp

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners"
	"github.com/omnibroker/broker/listeners/stomp/frame"
)

// protoError is a protocol-level failure with the text the client sees.
type protoError struct {
	msg    string // ERROR frame "message" header
	detail string // ERROR frame body
	reason listeners.CloseReason
}

func (e *protoError) Error() string { return e.msg + ": " + e.detail }

func errProto(msg, detail string) error {
	return &protoError{msg: msg, detail: detail, reason: listeners.ReasonProtocolError}
}

// reasonFor maps any error met while serving a frame onto the ERROR frame's
// message header, its body and the connection's close reason. Core errors
// carry curated texts; anything else is reported as an internal error
// without its Go text. STOMP 1.2 "ERROR": the server then closes.
func reasonFor(err error) (msg, detail string, reason listeners.CloseReason) {
	var pe *protoError
	if errors.As(err, &pe) {
		return pe.msg, pe.detail, pe.reason
	}
	text := coreText(err)
	switch {
	case errors.Is(err, frame.ErrTooLarge), errors.Is(err, frame.ErrTooManyHeader):
		return "frame too large", err.Error(), listeners.ReasonTooLarge
	case errors.Is(err, frame.ErrBadCommand), errors.Is(err, frame.ErrBadHeader), errors.Is(err, frame.ErrBadEscape),
		errors.Is(err, frame.ErrBadLength), errors.Is(err, frame.ErrNoNull):
		return "malformed frame", err.Error(), listeners.ReasonProtocolError
	case errors.Is(err, core.ErrNotFound):
		return "not_found", text, listeners.ReasonProtocolError
	case errors.Is(err, core.ErrAccessDenied):
		return "access_refused", text, listeners.ReasonProtocolError
	case errors.Is(err, core.ErrLocked):
		return "resource_locked", text, listeners.ReasonResourceLocked
	case errors.Is(err, core.ErrTooLarge):
		return "message too large", text, listeners.ReasonTooLarge
	case errors.Is(err, core.ErrInvalidName), errors.Is(err, core.ErrInvalidArg):
		return "invalid argument", text, listeners.ReasonProtocolError
	case errors.Is(err, core.ErrPrecondition), errors.Is(err, core.ErrExists), errors.Is(err, core.ErrInUse), errors.Is(err, core.ErrNotEmpty):
		return "precondition_failed", text, listeners.ReasonProtocolError
	case errors.Is(err, core.ErrQuotaExceeded):
		return "queue full", text, listeners.ReasonProtocolError
	case errors.Is(err, core.ErrUnavailable), errors.Is(err, core.ErrClosed):
		return "server unavailable", text, listeners.ReasonShutdown
	}
	return "internal error", "the broker could not process the frame", listeners.ReasonServerError
}

// coreText drops the trailing sentinel (": not found") from a core error.
func coreText(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i > 0 {
		return s[:i]
	}
	return s
}

// readCloseReason classifies a read error that ends the connection without
// an ERROR frame (the peer is gone or silent).
func readCloseReason(err error) (listeners.CloseReason, bool) {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return listeners.ReasonTimeout, true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return listeners.ReasonEOF, true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return listeners.ReasonEOF, true
	}
	return "", false
}
