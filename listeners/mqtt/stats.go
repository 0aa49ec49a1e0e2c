package mqtt

import (
	"sync"
	"sync/atomic"

	"github.com/omnibroker/broker/listeners"
)

// Stats are the MQTT front door's counters.
type Stats struct {
	Connections atomic.Int64  // open connections past CONNECT
	PublishIn   atomic.Uint64 // PUBLISH packets accepted from clients
	PublishOut  atomic.Uint64 // PUBLISH packets written to clients

	mu     sync.Mutex
	closes map[listeners.CloseReason]uint64
}

// Stats returns the handler's counters.
func (h *Handler) Stats() *Stats { return &h.stats }

// Closes returns how many connections ended for each reason.
func (s *Stats) Closes() map[listeners.CloseReason]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[listeners.CloseReason]uint64, len(s.closes))
	for k, v := range s.closes {
		out[k] = v
	}
	return out
}

func (s *Stats) closed(r listeners.CloseReason) {
	s.mu.Lock()
	if s.closes == nil {
		s.closes = map[listeners.CloseReason]uint64{}
	}
	s.closes[r]++
	s.mu.Unlock()
}
