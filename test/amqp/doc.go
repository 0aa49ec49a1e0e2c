// Package amqp holds the end-to-end tests (package amqp_test) of the AMQP
// 0-9-1 listener with real, independent clients: rabbitmq/amqp091-go,
// Debian's python3-pika and amqp-tools, plus raw-socket tests that feed
// malformed frames.
package amqp
