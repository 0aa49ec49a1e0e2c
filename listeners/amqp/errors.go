package amqp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/omnibroker/broker/core"
)

// Reply codes (AMQP 0-9-1 §1.5.2.9 "constants" and amqp0-9-1.xml). Codes
// below 500 other than 320 are soft errors that close the channel; the
// others are hard errors that close the connection.
const (
	ReplySuccess            = 200
	ReplyContentTooLarge    = 311
	ReplyNoRoute            = 312
	ReplyNoConsumers        = 313
	ReplyConnectionForced   = 320
	ReplyInvalidPath        = 402
	ReplyAccessRefused      = 403
	ReplyNotFound           = 404
	ReplyResourceLocked     = 405
	ReplyPreconditionFailed = 406
	ReplyFrameError         = 501
	ReplySyntaxError        = 502
	ReplyCommandInvalid     = 503
	ReplyChannelError       = 504
	ReplyUnexpectedFrame    = 505
	ReplyResourceError      = 506
	ReplyNotAllowed         = 530
	ReplyNotImplemented     = 540
	ReplyInternalError      = 541
)

var replyNames = map[uint16]string{
	ReplySuccess: "OK", ReplyContentTooLarge: "CONTENT_TOO_LARGE", ReplyNoRoute: "NO_ROUTE",
	ReplyNoConsumers: "NO_CONSUMERS", ReplyConnectionForced: "CONNECTION_FORCED", ReplyInvalidPath: "INVALID_PATH",
	ReplyAccessRefused: "ACCESS_REFUSED", ReplyNotFound: "NOT_FOUND", ReplyResourceLocked: "RESOURCE_LOCKED",
	ReplyPreconditionFailed: "PRECONDITION_FAILED", ReplyFrameError: "FRAME_ERROR", ReplySyntaxError: "SYNTAX_ERROR",
	ReplyCommandInvalid: "COMMAND_INVALID", ReplyChannelError: "CHANNEL_ERROR", ReplyUnexpectedFrame: "UNEXPECTED_FRAME",
	ReplyResourceError: "RESOURCE_ERROR", ReplyNotAllowed: "NOT_ALLOWED", ReplyNotImplemented: "NOT_IMPLEMENTED",
	ReplyInternalError: "INTERNAL_ERROR",
}

// isHard reports whether a reply code is a connection exception
// (§1.5.2.9: soft-error codes are 311-406 except 320).
func isHard(code uint16) bool {
	switch code {
	case ReplyContentTooLarge, ReplyNoRoute, ReplyNoConsumers, ReplyAccessRefused, ReplyNotFound,
		ReplyResourceLocked, ReplyPreconditionFailed:
		return false
	}
	return true
}

// amqpError is a protocol exception: it closes the channel (soft) or the
// connection (hard) with Code and Text, naming the offending method.
type amqpError struct {
	Code     uint16
	Text     string // full reply text, "NAME - detail" as RabbitMQ writes it
	MethodID uint32 // class<<16|method that caused it, 0 if none
}

func (e *amqpError) Error() string { return e.Text }

// newErr builds an exception with RabbitMQ's "NAME - detail" reply text.
func newErr(code uint16, format string, args ...any) *amqpError {
	return &amqpError{Code: code, Text: truncate(replyNames[code] + " - " + fmt.Sprintf(format, args...))}
}

func truncate(s string) string {
	if len(s) > 255 {
		return s[:255]
	}
	return s
}

// reasonFor maps a core error onto an AMQP reply code and a reply text
// without the Go sentinel suffix. Protocol exceptions pass through.
func reasonFor(err error) *amqpError {
	var ae *amqpError
	if errors.As(err, &ae) {
		return ae
	}
	for _, r := range reasonTable {
		if errors.Is(err, r.err) {
			msg := strings.TrimSuffix(err.Error(), ": "+r.err.Error())
			return newErr(r.code, "%s", msg)
		}
	}
	// Never leak a Go error string to a client.
	return newErr(ReplyInternalError, "internal error")
}

// reasonTable is the one mapping from core sentinels to reply codes.
var reasonTable = []struct {
	err  error
	code uint16
}{
	{core.ErrNotFound, ReplyNotFound},
	{core.ErrAccessDenied, ReplyAccessRefused},
	{core.ErrLocked, ReplyResourceLocked},
	{core.ErrPrecondition, ReplyPreconditionFailed},
	{core.ErrExists, ReplyPreconditionFailed},
	{core.ErrInUse, ReplyPreconditionFailed},
	{core.ErrNotEmpty, ReplyPreconditionFailed},
	{core.ErrInvalidArg, ReplyPreconditionFailed},
	{core.ErrInvalidName, ReplyPreconditionFailed},
	{core.ErrTooLarge, ReplyPreconditionFailed},
	{core.ErrQuotaExceeded, ReplyPreconditionFailed},
	{core.ErrClosed, ReplyConnectionForced},
	{core.ErrUnavailable, ReplyInternalError},
}
