package app

import (
	"net/http"

	"github.com/omnibroker/broker/listeners"
)

// newWS returns the WebSocket front door that hands connections to the MQTT
// and STOMP handlers (either may be nil); nil means not built yet.
func newWS(env Env, mqtt, stomp listeners.ConnHandler) (http.Handler, error) {
	return nil, nil
}
