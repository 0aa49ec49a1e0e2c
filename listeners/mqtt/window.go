package mqtt

// maxWindow caps outbound QoS 1/2 messages in flight per connection (the
// client's Receive Maximum may be larger; sending fewer is allowed
// [MQTT-3.3.4-9]), and the session's core prefetch. With publisher flow
// control (flow.go) the rest of a backlog waits in the core queue, where
// it slows the publishers down, instead of in the client's socket: 256
// took the p99 of unthrottled QoS 1 1 -> 1 from 82-116 ms (1,024) to
// 34-56 ms at the same throughput (BENCHMARKS.md, session 4).
const maxWindow = 256

// window holds the outbound QoS 1/2 deliveries awaiting PUBACK/PUBREC,
// indexed by packet id modulo its size: no map on the per-message path.
// Packet ids are allocated so that their slots are free.
type window struct {
	slots []*outMsg // allocated on first use: idle connections hold none
	size  int
	n     int
}

func newWindow(size int) window { return window{size: min(max(size, 1), maxWindow)} }

func (w *window) get(id uint16) *outMsg {
	if w.slots == nil {
		return nil
	}
	if o := w.slots[int(id)%w.size]; o != nil && o.id == id {
		return o
	}
	return nil
}

func (w *window) free(id uint16) bool { return w.slots == nil || w.slots[int(id)%w.size] == nil }

func (w *window) put(o *outMsg) {
	if w.slots == nil {
		w.slots = make([]*outMsg, w.size)
	}
	w.slots[int(o.id)%w.size] = o
	w.n++
}

func (w *window) del(id uint16) *outMsg {
	o := w.get(id)
	if o != nil {
		w.slots[int(id)%w.size] = nil
		w.n--
	}
	return o
}
