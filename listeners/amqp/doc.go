// Package amqp is the AMQP 0-9-1 front door: a RabbitMQ-compatible
// listener that turns frames into calls on the protocol-neutral core.
//
// Each connection has one reader goroutine (ServeConn: read a frame,
// decode it with listeners/amqp/frame, run the method against the core)
// and one writer goroutine draining a byte queue bounded by a soft limit
// (deliveries pause: the core handler returns false and the consumer is
// resumed once the queue drains) and a hard limit (the reader stops
// reading: TCP backpressure on the publisher).
//
// Channels own the wire state: delivery tags mapped to core lease ids,
// consumer tags, publisher-confirm sequence numbers (acknowledged in order,
// folded with multiple=true), transactions and the direct reply-to queue.
// Exceptions follow RabbitMQ: soft errors close the channel, hard errors
// the connection, with the reply codes of errors.go. README.md documents
// the mapping onto the core.
//
// Lock order: channel.mu, then outbox.mu; confirmSet.mu, then outbox.mu.
// No lock is held across a core call or a network write.
package amqp
