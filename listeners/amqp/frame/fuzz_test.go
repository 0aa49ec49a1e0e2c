package frame

import (
	"bytes"
	"testing"

	"github.com/omnibroker/broker/core"
)

// FuzzReadFrame feeds arbitrary bytes to the frame reader and the method and
// header decoders: no panic, no allocation above the limit, and whatever
// decodes re-encodes to something that decodes again.
func FuzzReadFrame(f *testing.F) {
	f.Add(AppendHeartbeat(nil))
	f.Add(AppendMethod(nil, 1, &QueueDeclare{Queue: "q", Durable: true, Arguments: allTypes()}))
	f.Add(AppendMethod(nil, 0, &ConnectionStartOk{ClientProperties: core.Table{"capabilities": core.Table{"a": true}}, Mechanism: "PLAIN", Response: "\x00a\x00b"}))
	f.Add(AppendContent(nil, 1, 60, &Properties{Flags: FlagHeaders | FlagExpiration, Headers: allTypes(), Expiration: "100"}, []byte("hello"), 4096))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 51, 0xCE})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewReader(bytes.NewReader(data))
		fr.Max = 1 << 16
		for {
			fm, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch fm.Type {
			case TypeMethod:
				m, err := ReadMethod(fm.Payload)
				if err != nil {
					continue
				}
				enc := AppendMethod(nil, 0, m)
				again, err := ReadMethod(enc[7 : len(enc)-1])
				if err != nil || again.ID() != m.ID() {
					t.Fatalf("re-decode of %s: %v", Name(m.ID()), err)
				}
			case TypeHeader:
				h, err := ReadHeader(fm.Payload)
				if err != nil {
					continue
				}
				out := AppendContent(nil, 0, h.ClassID, &h.Props, nil, 0)
				h2, err := ReadHeader(out[7 : len(out)-1])
				if err != nil || h2.Props.Flags != h.Props.Flags {
					t.Fatalf("re-decode header: %v", err)
				}
			}
		}
	})
}

// FuzzTable decodes arbitrary field tables.
func FuzzTable(f *testing.F) {
	w := Writer{}
	w.Table(allTypes())
	f.Add(w.Bytes())
	f.Add([]byte{0, 0, 0, 3, 1, 'a', 'V'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewBuf(data)
		tb := r.Table()
		if r.Err != nil {
			return
		}
		w := Writer{}
		w.Table(tb)
		if r2 := NewBuf(w.Bytes()); r2.Table() == nil || r2.Err != nil {
			t.Fatalf("re-decode: %v", r2.Err)
		}
		_, _ = DecodeTableBody(data)
	})
}
