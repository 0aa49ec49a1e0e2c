package app

import (
	"context"

	"github.com/omnibroker/broker/listeners"
	"github.com/omnibroker/broker/listeners/mqtt"
)

// newMQTT returns the MQTT connection handler (TCP, TLS and, through
// listeners/ws, WebSocket) and its closer run at shutdown.
func newMQTT(env Env) (listeners.ConnHandler, func(context.Context) error, error) {
	h, err := mqtt.New(mqtt.Options{
		Broker:         env.Broker,
		Logger:         env.Logger,
		MaxPacketSize:  env.Config.Limits.MaxFrameBytes,
		MaxMessageSize: env.Config.Limits.MaxMessageBytes,
	})
	if err != nil {
		return nil, nil, err
	}
	return h, h.Close, nil
}
