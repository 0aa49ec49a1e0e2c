// Package stomp holds the STOMP end-to-end suites (package stomp_test):
// go-stomp (Go) and Debian's python3-stomp against the whole broker over
// TCP, TLS and WebSocket, for STOMP 1.0, 1.1 and 1.2, plus raw-socket
// malformed frames.
package stomp
