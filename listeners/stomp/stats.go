package stomp

import (
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

	listeners.CloseCounts // connections ended, by reason
}

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// CloseCounts returns how many connections ended for each reason.
func (s *Server) CloseCounts() map[listeners.CloseReason]uint64 { return s.stats.Closes() }
