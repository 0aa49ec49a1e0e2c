package listeners

import "sync"

// CloseCounts counts how many connections ended for each close reason. Every
// protocol front door keeps one; /metrics exports them by protocol.
type CloseCounts struct {
	mu sync.Mutex
	m  map[CloseReason]uint64
}

// Add counts one connection that ended with r.
func (c *CloseCounts) Add(r CloseReason) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[CloseReason]uint64{}
	}
	c.m[r]++
	c.mu.Unlock()
}

// Closes returns a copy of the counts.
func (c *CloseCounts) Closes() map[CloseReason]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[CloseReason]uint64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// CloseCounter is implemented by front doors that count close reasons.
type CloseCounter interface {
	CloseCounts() map[CloseReason]uint64
}
