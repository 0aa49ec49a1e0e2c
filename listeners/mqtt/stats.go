package mqtt

import (
	"sync/atomic"

	"github.com/omnibroker/broker/listeners"
)

// Stats are the MQTT front door's counters.
type Stats struct {
	Connections atomic.Int64  // open connections past CONNECT
	PublishIn   atomic.Uint64 // PUBLISH packets accepted from clients
	PublishOut  atomic.Uint64 // PUBLISH packets written to clients

	listeners.CloseCounts // connections ended, by reason
}

// Stats returns the handler's counters.
func (h *Handler) Stats() *Stats { return &h.stats }

// CloseCounts returns how many connections ended for each reason.
func (h *Handler) CloseCounts() map[listeners.CloseReason]uint64 { return h.stats.Closes() }
