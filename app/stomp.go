package app

import (
	"context"

	"github.com/omnibroker/broker/listeners"
	"github.com/omnibroker/broker/listeners/stomp"
)

// newSTOMP returns the STOMP connection handler and its closer, which also
// says goodbye to STOMP-over-WebSocket connections.
func newSTOMP(env Env) (listeners.ConnHandler, func(context.Context) error, error) {
	s, err := stomp.New(stomp.Options{
		Broker:             env.Broker,
		Logger:             env.Logger,
		ServerName:         "omnibroker/" + Version,
		MaxFrameBytes:      env.Config.Limits.MaxFrameBytes,
		MaxMessageBytes:    env.Config.Limits.MaxMessageBytes,
		DefaultDestination: env.Config.STOMP.DefaultDestination,
	})
	if err != nil {
		return nil, nil, err
	}
	return s, s.Shutdown, nil
}
