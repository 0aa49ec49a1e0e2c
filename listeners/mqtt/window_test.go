package mqtt

import "testing"

func TestWindow(t *testing.T) {
	w := newWindow(3)
	if w.get(1) != nil || !w.free(1) || w.slots != nil {
		t.Fatal("empty window")
	}
	a, b := &outMsg{id: 1}, &outMsg{id: 5}
	w.put(a)
	w.put(b)
	if w.n != 2 || w.get(1) != a || w.get(5) != b || w.get(4) != nil || w.free(4) {
		t.Fatal("lookup by id must check the id, not only the slot")
	}
	if w.del(4) != nil || w.n != 2 {
		t.Fatal("deleting another id of an occupied slot")
	}
	if w.del(1) != a || w.n != 1 || !w.free(4) {
		t.Fatal("delete")
	}
	if newWindow(65535).size != maxWindow || newWindow(0).size != 1 {
		t.Fatal("size bounds")
	}
}

// Packet ids handed out never collide with ids in flight or awaiting PUBCOMP.
func TestAllocID(t *testing.T) {
	c := &conn{sess: newSession("x", 0, false), inflight: newWindow(4), clientRecv: 4}
	c.sess.outRel[2] = true
	seen := map[uint16]bool{}
	for i := 0; i < 3; i++ {
		id := c.allocIDLocked()
		if id == 0 || id == 2 || seen[id] {
			t.Fatalf("id %d", id)
		}
		seen[id] = true
		c.inflight.put(&outMsg{id: id})
	}
	if !c.windowFull() {
		t.Fatal("3 in flight + 1 awaiting PUBCOMP fill a window of 4")
	}
	c.nextID = 65534
	c.inflight = newWindow(4)
	if a, b := c.allocIDLocked(), c.allocIDLocked(); a != 65535 || b != 1 {
		t.Fatalf("wrap: %d %d", a, b)
	}
}
