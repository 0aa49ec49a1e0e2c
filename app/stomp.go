package app

import (
	"context"

	"github.com/omnibroker/broker/listeners"
)

// newSTOMP returns the STOMP connection handler and an optional closer run at
// shutdown; a nil handler means the protocol is not built yet.
func newSTOMP(env Env) (listeners.ConnHandler, func(context.Context) error, error) {
	return nil, nil, nil
}
