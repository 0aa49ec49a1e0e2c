// Package mqtt is the MQTT 3.1.1 and 5.0 front door. It serves one MQTT
// connection per ServeConn call on any net.Conn (TCP, TLS, or a WebSocket
// wrapped by listeners/ws) and turns packets into core calls:
//
//   - PUBLISH goes to core.Publish on amq.topic with the topic mapped to a
//     routing key (a/b -> a.b, a '.' inside a level travels as '/').
//   - Every session owns one core queue (transient for clean sessions,
//     durable "mqtt-subscription-<client id>" for persistent ones); each
//     subscription is a binding of that queue (+ -> *, # -> #). One core
//     consumer per session, paced by the client's Receive Maximum.
//   - Retained messages, session state, the QoS 2 exchanges in flight of
//     persistent sessions and wills (armed while connected, pending when
//     delayed) live in core.Meta namespaces, written as they change so
//     that they survive a crash.
//   - MQTT-only delivery flags (QoS 2, RETAIN) travel in
//     core.Message.Private, which other protocols never show.
//
// Only the packet codec of github.com/mochi-mqtt/server/v2 (its packets
// package) is used; mochi's server, topic tree, retained and inflight stores
// are not. See README.md for the property mapping and the known limits.
package mqtt
