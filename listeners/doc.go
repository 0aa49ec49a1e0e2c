// Package listeners holds what every protocol front door shares: the TCP/TLS
// accept loop with a connection limit, per-connection goroutines with panic
// recovery, typed close reasons and graceful shutdown. Each protocol
// (listeners/amqp, mqtt, stomp) implements ConnHandler; listeners/ws hands
// WebSocket connections to the same handlers.
package listeners
