package stomp

import (
	"fmt"
	"strings"

	"github.com/omnibroker/broker/core"
)

type destKind int

const (
	destQueue    destKind = iota // /queue/Q: queue Q, declared durable on first use
	destTopic                    // /topic/K: amq.topic, key K
	destExchange                 // /exchange/E[/K]
	destAmqQueue                 // /amq/queue/Q: existing queue Q
	destTemp                     // /temp-queue/N: this connection's private queue
	destReply                    // /reply-queue/Q: another connection's temp queue
)

// dest is a parsed destination (ARCHITECTURE.md "How each front door maps
// onto the core", STOMP row; RabbitMQ STOMP "Destinations").
type dest struct {
	kind     destKind
	raw      string
	exchange string // publish target
	key      string // routing key (or queue name for the default exchange)
	queue    string // queue to consume from, when fixed by the name
}

const (
	tempPrefix    = "stomp-temp-"
	topicExchange = "amq.topic"
)

// parseDest parses a destination header. Names without a known prefix take
// the configured default kind (ActiveMQ treats them as queues).
func (c *conn) parseDest(s string) (dest, error) {
	d := dest{raw: s}
	bad := func() (dest, error) {
		return dest{}, errProto("invalid destination", "'"+s+"' is not a valid destination")
	}
	switch {
	case s == "":
		return bad()
	case strings.HasPrefix(s, "/queue/"):
		d.kind, d.queue = destQueue, s[len("/queue/"):]
		d.key = d.queue
		if strings.HasPrefix(d.queue, "amq.") {
			// RabbitMQ STOMP: /queue/ declares on first use, and amq.* queue
			// names are the server's (reach existing ones with /amq/queue/).
			return dest{}, fmt.Errorf("queue name '%s' contains reserved prefix 'amq.*': %w", d.queue, core.ErrAccessDenied)
		}
	case strings.HasPrefix(s, "/topic/"):
		d.kind, d.exchange, d.key = destTopic, topicExchange, topicKey(s[len("/topic/"):])
	case strings.HasPrefix(s, "/exchange/"):
		rest := s[len("/exchange/"):]
		d.kind = destExchange
		d.exchange, d.key, _ = strings.Cut(rest, "/")
		if d.exchange == "" {
			return bad()
		}
	case strings.HasPrefix(s, "/amq/queue/"):
		d.kind, d.queue = destAmqQueue, s[len("/amq/queue/"):]
		d.key = d.queue
	case strings.HasPrefix(s, "/temp-queue/"):
		name := s[len("/temp-queue/"):]
		if name == "" {
			return bad()
		}
		d.kind, d.queue = destTemp, c.tempQueueName(name)
		d.key = d.queue
	case strings.HasPrefix(s, "/reply-queue/"):
		d.kind, d.queue = destReply, s[len("/reply-queue/"):]
		d.key = d.queue
	case strings.HasPrefix(s, "/"):
		return bad()
	default:
		if c.s.o.DefaultDestination == "topic" {
			return c.parseDest("/topic/" + s)
		}
		return c.parseDest("/queue/" + s)
	}
	if (d.kind == destQueue || d.kind == destAmqQueue || d.kind == destReply) && d.queue == "" {
		return bad()
	}
	if d.kind == destTopic && d.key == "" {
		return bad()
	}
	return d, nil
}

// topicKey maps ActiveMQ's multi-level wildcard '>' onto '#'.
func topicKey(k string) string {
	if !strings.Contains(k, ">") {
		return k
	}
	w := strings.Split(k, ".")
	for i := range w {
		if w[i] == ">" {
			w[i] = "#"
		}
	}
	return strings.Join(w, ".")
}

func (c *conn) tempQueueName(n string) string {
	return tempPrefix + c.id + "-" + n
}

// messageDest is the destination header of a MESSAGE: where it was
// published, in STOMP terms (RabbitMQ STOMP behaves the same).
func (c *conn) messageDest(m *core.Message, s *subscription) string {
	switch m.Exchange {
	case "":
		if s != nil && s.dest.kind == destTemp && m.RoutingKey == s.dest.queue {
			return s.dest.raw
		}
		if strings.HasPrefix(m.RoutingKey, tempPrefix) {
			return "/reply-queue/" + m.RoutingKey
		}
		if s != nil && s.dest.kind == destAmqQueue && m.RoutingKey == s.dest.queue {
			return s.dest.raw
		}
		return "/queue/" + m.RoutingKey
	case topicExchange:
		return "/topic/" + m.RoutingKey
	}
	return "/exchange/" + m.Exchange + "/" + m.RoutingKey
}

// inReplyTo rewrites a reply-to header on SEND: /temp-queue/N becomes the
// bare core queue name (so AMQP and other responders can publish to it on
// the default exchange); other values travel unchanged.
func (c *conn) inReplyTo(v string) (string, error) {
	if strings.HasPrefix(v, "/temp-queue/") && len(v) > len("/temp-queue/") {
		d, err := c.parseDest(v)
		if err != nil {
			return "", err
		}
		if err := c.ensureTemp(d, true); err != nil {
			return "", err
		}
		return d.queue, nil
	}
	return v, nil
}

// outReplyTo is the inverse for MESSAGE frames: a bare temp queue name reads
// /reply-queue/NAME, to which any STOMP client can SEND.
func outReplyTo(v string) string {
	if strings.HasPrefix(v, tempPrefix) {
		return "/reply-queue/" + v
	}
	return v
}
