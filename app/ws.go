package app

import (
	"net/http"

	"github.com/omnibroker/broker/listeners"
	"github.com/omnibroker/broker/listeners/ws"
)

// newWS returns the WebSocket front door that hands connections to the MQTT
// and STOMP handlers (either may be nil: that path answers 503).
func newWS(env Env, mqtt, stomp listeners.ConnHandler) (http.Handler, error) {
	return ws.New(ws.Options{MQTT: mqtt, STOMP: stomp, Logger: env.Logger,
		MaxMessageBytes: int64(env.Config.Limits.MaxFrameBytes) + 64<<10}), nil
}
