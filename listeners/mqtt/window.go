package mqtt

// maxWindow caps outbound QoS 1/2 messages in flight per connection (the
// client's Receive Maximum may be larger; sending fewer is allowed).
const maxWindow = 1024

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
