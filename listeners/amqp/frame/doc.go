// Package frame is the AMQP 0-9-1 server codec: the protocol header, the
// general frame format (method, content header, content body, heartbeat),
// every method of the connection, channel, exchange, queue, basic, confirm
// and tx classes (with RabbitMQ's extensions), the basic content header
// properties and field tables with every AMQP and RabbitMQ field type.
//
// It is a leaf: it knows nothing of sessions or of the broker, apart from
// using core.Table and core.Decimal as the in-memory form of field tables so
// that headers cross to the core without a copy. Every length read from the
// wire is checked against the remaining input and the negotiated maximum
// before anything is allocated.
//
// References: AMQP 0-9-1 specification (amqp0-9-1.pdf, amqp0-9-1.xml) and
// RabbitMQ's errata (https://www.rabbitmq.com/amqp-0-9-1-errata.html) for
// the field-table type tags actually used on the wire.
package frame
