// Package stomp is the STOMP 1.0, 1.1 and 1.2 front door: it turns frames
// read by package frame into calls on the core (publish, declare, bind,
// consume with a credit window, ack/nack) and core deliveries into MESSAGE
// frames. It serves plain TCP, TLS and, through listeners/ws, WebSocket
// connections: anything that is a net.Conn.
//
// Per connection there is one reader (the ServeConn goroutine: read, parse,
// call the core; blocking there is TCP backpressure) and one writer that
// drains a queue bounded in bytes. Core delivery handlers never block: when
// the queue is over its soft limit they refuse (the core keeps the message)
// and the writer resumes them once it has drained.
//
// Destination and header mapping: see README.md. Spec references are to
// https://stomp.github.io/stomp-specification-1.2.html.
package stomp
