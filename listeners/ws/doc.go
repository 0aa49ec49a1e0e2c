// Package ws is the WebSocket transport: it upgrades HTTP requests on
// /mqtt, /stomp and /ws (where the Sec-WebSocket-Protocol the client offers
// chooses: "mqtt" or "v10.stomp", "v11.stomp", "v12.stomp"), wraps each
// WebSocket as a net.Conn and hands it to the MQTT or STOMP
// listeners.ConnHandler. It knows no protocol beyond that choice: MQTT
// travels in binary messages (MQTT 5.0 §6 "Using WebSocket as a network
// transport"), STOMP in text messages, one frame per message.
package ws
