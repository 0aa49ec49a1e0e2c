package stomp

import (
	"sync"
	"sync/atomic"

	"github.com/omnibroker/broker/listeners"
)

// Stats are the STOMP server's counters.
type Stats struct {
	Active    atomic.Int64  // open connections
	Accepted  atomic.Uint64 // connections served since start
	FramesIn  atomic.Uint64 // frames read (heart-beats excluded)
	Published atomic.Uint64 // SENDs handed to the core
	Delivered atomic.Uint64 // MESSAGE frames queued for writing

	mu     sync.Mutex
	closes map[listeners.CloseReason]uint64
}

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

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }
