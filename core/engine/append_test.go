package engine

import (
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestParsePubAck(t *testing.T) {
	hdr := nats.Header{}
	hdr.Set("Status", "503")
	cases := []struct {
		name string
		msg  *nats.Msg
		seq  uint64
		err  string
	}{
		{"ack", &nats.Msg{Data: []byte(`{"stream":"MSGS","seq":42}`)}, 42, ""},
		{"ack with domain", &nats.Msg{Data: []byte(`{"stream":"MSGS","domain":"x","seq":18446744073709551615}`)}, 18446744073709551615, ""},
		{"error", &nats.Msg{Data: []byte(`{"error":{"code":503,"err_code":10077,"description":"resource limits exceeded"},"stream":"MSGS","seq":0}`)}, 0, "resource limits exceeded (503)"},
		{"no responders", &nats.Msg{Header: hdr}, 0, "status 503"},
		{"no seq", &nats.Msg{Data: []byte(`{"stream":"MSGS"}`)}, 0, "bad acknowledgement"},
		{"zero seq", &nats.Msg{Data: []byte(`{"stream":"MSGS","seq":0}`)}, 0, "bad acknowledgement"},
		{"overflowing seq", &nats.Msg{Data: []byte(`{"seq":123456789012345678901}`)}, 0, "bad acknowledgement"},
		{"garbled error", &nats.Msg{Data: []byte(`{"error":`)}, 0, "bad acknowledgement"},
	}
	for _, c := range cases {
		seq, err := parsePubAck(c.msg)
		if c.err == "" {
			if err != nil || seq != c.seq {
				t.Errorf("%s: got %d, %v; want %d", c.name, seq, err, c.seq)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: got %d, %v; want error containing %q", c.name, seq, err, c.err)
		}
	}
}

// A record the store refuses fails its own Append only; the window slot is
// returned and later appends succeed.
func TestAppendRefusedRecordFailsAlone(t *testing.T) {
	e := open(t, t.TempDir())
	defer e.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	var got error
	e.Append("q", make([]byte, 9<<20), func(_ uint64, err error) { got = err; wg.Done() })
	wg.Wait()
	if got == nil {
		t.Fatal("oversized record was stored")
	}
	if n := len(e.window); n != 0 {
		t.Fatalf("%d window slots leaked", n)
	}
	for range 3 {
		seqs := appendN(t, e, "q", cap(e.window)+10)
		if len(seqs) != cap(e.window)+10 {
			t.Fatalf("stored %d", len(seqs))
		}
	}
}
