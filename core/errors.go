package core

import "errors"

// Sentinel errors. Adapters map them (with errors.Is) onto their protocol's
// reason codes in one table-tested reasonFor function each.
var (
	ErrNotFound      = errors.New("not found")           // exchange, queue, lease, key
	ErrExists        = errors.New("already exists")      // create of an existing entity with other settings
	ErrPrecondition  = errors.New("precondition failed") // inequivalent redeclare, if-unused, if-empty
	ErrAccessDenied  = errors.New("access denied")       // bad credentials, internal exchange, reserved name
	ErrLocked        = errors.New("resource locked")     // exclusive queue owned by another connection
	ErrInvalidName   = errors.New("invalid name")        // empty or over-long or reserved names
	ErrInvalidArg    = errors.New("invalid argument")    // bad argument value or type
	ErrTooLarge      = errors.New("message too large")   // body over the queue's max message size
	ErrQuotaExceeded = errors.New("quota exceeded")      // reject-publish overflow, too many entities
	ErrUnavailable   = errors.New("unavailable")         // store failure, shutting down
	ErrClosed        = errors.New("closed")              // consumer or broker closed
	ErrInUse         = errors.New("in use")              // delete of a queue/exchange with consumers/bindings
	ErrNotEmpty      = errors.New("not empty")           // delete if-empty of a queue with messages
)
