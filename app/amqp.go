package app

import (
	"context"

	"github.com/omnibroker/broker/listeners"
	"github.com/omnibroker/broker/listeners/amqp"
)

// newAMQP returns the AMQP 0-9-1 connection handler.
func newAMQP(env Env) (listeners.ConnHandler, func(context.Context) error, error) {
	o := amqp.Options{Broker: env.Broker, Logger: env.Logger, Version: Version}
	if l := env.Config.Limits; l.MaxFrameBytes > 0 {
		// RabbitMQ proposes 128 KiB frames; larger frames only cost memory.
		o.FrameMax = min(l.MaxFrameBytes, 128<<10)
	}
	if l := env.Config.Limits; l.MaxMessageBytes > 0 {
		o.MaxMessageBytes = l.MaxMessageBytes
	}
	return amqp.New(o), nil, nil
}
