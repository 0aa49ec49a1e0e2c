package amqp

import (
	"time"

	"github.com/omnibroker/broker/core"
)

// intArg reads an integer-typed table value of any width.
func intArg(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case uint8:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int64:
		return x, true
	case int:
		return int64(x), true
	case uint64:
		return int64(x), true
	}
	return 0, false
}

// normalizeArgs makes declare arguments compare equal across clients that
// encode the same number with different integer widths (pika sends 'l',
// Java 'I') or a string as bytes, as RabbitMQ's equivalence check does.
func normalizeArgs(args core.Table) core.Table {
	if len(args) == 0 {
		return args
	}
	out := make(core.Table, len(args))
	for k, v := range args {
		if n, ok := intArg(v); ok {
			out[k] = n
		} else if b, ok := v.([]byte); ok {
			out[k] = string(b)
		} else {
			out[k] = v
		}
	}
	return out
}

func strArg(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

func invalidArg(name, queue string, v any, why string) error {
	return newErr(ReplyPreconditionFailed, "invalid arg '%s' for queue '%s' in vhost '/': {%s,%v}", name, queue, why, v)
}

// queueConfig maps queue.declare onto a core.QueueConfig, validating the
// RabbitMQ queue arguments (https://www.rabbitmq.com/docs/queues#optional-arguments).
func queueConfig(name string, durable, exclusive, autoDelete bool, owner string, args core.Table) (core.QueueConfig, error) {
	cfg := core.QueueConfig{Name: name, Durable: durable, Exclusive: exclusive, AutoDelete: autoDelete, Args: normalizeArgs(args)}
	if exclusive {
		cfg.Owner = owner
	}
	nonNeg := func(k string) (int64, bool, error) {
		v, ok := args[k]
		if !ok {
			return 0, false, nil
		}
		n, isInt := intArg(v)
		if !isInt {
			return 0, false, invalidArg(k, name, v, "unacceptable_type")
		}
		if n < 0 {
			return 0, false, invalidArg(k, name, v, "value_negative")
		}
		return n, true, nil
	}
	if n, ok, err := nonNeg("x-message-ttl"); err != nil {
		return cfg, err
	} else if ok {
		cfg.MessageTTL = max(time.Duration(n)*time.Millisecond, time.Millisecond)
	}
	if n, ok, err := nonNeg("x-expires"); err != nil {
		return cfg, err
	} else if ok {
		if n == 0 {
			return cfg, invalidArg("x-expires", name, n, "value_zero")
		}
		cfg.Expires = time.Duration(n) * time.Millisecond
	}
	if n, ok, err := nonNeg("x-max-length"); err != nil {
		return cfg, err
	} else if ok {
		cfg.MaxLength = n
		if n == 0 {
			cfg.MaxLength = -1 // sentinel fixed below: a zero-length queue
		}
	}
	if n, ok, err := nonNeg("x-max-length-bytes"); err != nil {
		return cfg, err
	} else if ok {
		cfg.MaxBytes = max(n, 1)
	}
	if cfg.MaxLength == -1 {
		// x-max-length 0 keeps nothing; the core's 0 means unlimited, so
		// the closest faithful setting is a one-byte byte limit.
		cfg.MaxLength, cfg.MaxBytes = 0, 1
	}
	if v, ok := args["x-overflow"]; ok {
		s, _ := strArg(v)
		switch s {
		case "drop-head":
			cfg.Overflow = core.OverflowDropHead
		case "reject-publish":
			cfg.Overflow = core.OverflowRejectPublish
		case "reject-publish-dlx":
			cfg.Overflow = core.OverflowRejectPublishDLX
		default:
			return cfg, invalidArg("x-overflow", name, v, "invalid_overflow")
		}
	}
	if v, ok := args["x-dead-letter-exchange"]; ok {
		s, isStr := strArg(v)
		if !isStr {
			return cfg, invalidArg("x-dead-letter-exchange", name, v, "unacceptable_type")
		}
		cfg.HasDeadLetter, cfg.DeadLetterExchange = true, s
	}
	if v, ok := args["x-dead-letter-routing-key"]; ok {
		s, isStr := strArg(v)
		if !isStr {
			return cfg, invalidArg("x-dead-letter-routing-key", name, v, "unacceptable_type")
		}
		if !cfg.HasDeadLetter {
			return cfg, newErr(ReplyPreconditionFailed, "invalid arg 'x-dead-letter-routing-key' for queue '%s' in vhost '/': Key 'x-dead-letter-exchange' is mandatory if 'x-dead-letter-routing-key' is defined", name)
		}
		cfg.DeadLetterRoutingKey = s
	}
	if n, ok, err := nonNeg("x-max-priority"); err != nil {
		return cfg, err
	} else if ok {
		if n > 255 {
			return cfg, invalidArg("x-max-priority", name, n, "value_too_large")
		}
		cfg.MaxPriority = uint8(n)
	}
	if v, ok := args["x-single-active-consumer"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return cfg, invalidArg("x-single-active-consumer", name, v, "unacceptable_type")
		}
		cfg.SingleActiveConsumer = b
	}
	if n, ok, err := nonNeg("x-delivery-limit"); err != nil {
		return cfg, err
	} else if ok {
		// RabbitMQ counts returns: a limit of N allows N+1 deliveries.
		cfg.MaxDeliveries = int(n) + 1
	}
	if v, ok := args["x-queue-type"]; ok {
		s, _ := strArg(v)
		switch s {
		case "classic":
		case "quorum", "stream":
			// Replicated types must be durable and shared, as in RabbitMQ.
			if !durable || exclusive || autoDelete {
				return cfg, newErr(ReplyPreconditionFailed, "invalid property '%s' for queue '%s' in vhost '/'", nonDurableProp(durable, exclusive), name)
			}
		default:
			return cfg, invalidArg("x-queue-type", name, v, "unsupported_queue_type")
		}
	}
	return cfg, nil
}

func nonDurableProp(durable, exclusive bool) string {
	switch {
	case !durable:
		return "non-durable"
	case exclusive:
		return "exclusive"
	}
	return "auto-delete"
}

// exchangeKind validates an exchange type.
func exchangeKind(t string) (core.ExchangeKind, error) {
	switch k := core.ExchangeKind(t); k {
	case core.KindDirect, core.KindFanout, core.KindTopic, core.KindHeaders:
		return k, nil
	}
	return "", newErr(ReplyCommandInvalid, "invalid exchange type '%s'", t)
}
