package engine

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

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
	e.Append("q", make([]byte, 9<<20), func(_ uint64, _ int, err error) { got = err; wg.Done() })
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

func appendBatch(t *testing.T, e *Engine, queue string, recs [][]byte) uint64 {
	t.Helper()
	ch := make(chan uint64, 1)
	e.AppendBatch(queue, len(recs), 0, func(dst []byte, i int) []byte { return append(dst, recs[i]...) }, func(seq uint64, base int, err error) {
		if err != nil {
			t.Error(err)
		}
		if base != 0 {
			t.Errorf("a lone batch stored at entry %d", base)
		}
		ch <- seq
	})
	return <-ch
}

// Entries of batch records are removed one by one: a record goes once all
// of its entries are removed, and entries removed while others are live
// stay removed across a restart (removal notes), which are themselves
// deleted once the records they name are gone.
func TestBatchRecordsPartialRemovalSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := open(t, dir)
	var seqs []uint64
	for b := 0; b < 5; b++ {
		recs := make([][]byte, 10)
		for i := range recs {
			recs[i] = []byte(fmt.Sprintf("b%d-%d", b, i))
		}
		seqs = append(seqs, appendBatch(t, e, "a", recs))
	}
	single := appendN(t, e, "a", 1)[0]
	removed := map[string]bool{}
	rm := func(b, i int) {
		e.Remove("a", seqs[b], i)
		removed[fmt.Sprintf("b%d-%d", b, i)] = true
	}
	for i := 0; i < 10; i++ {
		rm(0, i) // whole record: purged
	}
	for i := 0; i < 5; i++ {
		rm(1, i)
	}
	rm(2, 3)
	rm(2, 7)
	time.Sleep(3 * flushPeriod) // notes written while the records stay
	rm(2, 0)
	for i := 0; i < 10; i++ {
		if i != 4 {
			rm(4, i)
		}
	}
	e.Close()

	e = open(t, dir)
	defer e.Close()
	got := map[string]bool{}
	where := map[string][2]uint64{}
	err := e.Recover(func(q string, seq uint64, idx int, rec []byte) bool {
		if got[string(rec)] {
			t.Errorf("%s recovered twice", rec)
		}
		got[string(rec)] = true
		where[string(rec)] = [2]uint64{seq, uint64(idx)}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < 5; b++ {
		for i := 0; i < 10; i++ {
			k := fmt.Sprintf("b%d-%d", b, i)
			if got[k] == removed[k] {
				t.Errorf("%s: recovered %v, removed %v", k, got[k], removed[k])
			}
			if got[k] && where[k] != [2]uint64{seqs[b], uint64(i)} {
				t.Errorf("%s recovered at %v, stored at %d/%d", k, where[k], seqs[b], i)
			}
		}
	}
	if !got["a-0"] {
		t.Error("single record lost")
	}
	// Remove the rest: every record and every note goes.
	for k, w := range where {
		e.Remove("a", w[0], int(w[1]))
		_ = k
	}
	e.Remove("a", single.seq, single.idx)
	time.Sleep(4 * flushPeriod)
	e.flush(true)
	if st, _ := e.Stats(); st.Messages != 0 {
		t.Fatalf("%d records or notes left after every entry was removed", st.Messages)
	}
}

func TestSplitBatchRejectsCorruptRecords(t *testing.T) {
	for _, rec := range [][]byte{{batchMark}, {batchMark, 0}, {batchMark, 2, 1, 0, 0, 0, 'a'}, {batchMark, 1, 5, 0, 0, 0, 'a'}, {batchMark, 0xff}, {batchMark, 1, 1, 0}} {
		if _, err := splitBatch(rec); err == nil {
			t.Errorf("%q: accepted", rec)
		}
	}
	if recs, err := splitBatch([]byte{batchMark, 2, 1, 0, 0, 0, 'a', 0, 0, 0, 0}); err != nil || len(recs) != 2 || string(recs[0]) != "a" || len(recs[1]) != 0 {
		t.Errorf("valid record: %q %v", recs, err)
	}
	if recs, err := splitBatch([]byte{1, 2, 3}); recs != nil || err != nil {
		t.Errorf("single record: %q %v", recs, err)
	}
}

// Appends made while an earlier record of their queue awaits its
// acknowledgement are stored together: fewer records than appends, in
// submission order, each at the (seq, base) its callback got; a restart
// recovers each once, at that place; removing them all empties the store.
func TestConcurrentAppendsMerge(t *testing.T) {
	dir := t.TempDir()
	e := open(t, dir)
	const writers, per = 8, 200
	var mu sync.Mutex
	at := map[string]loc{}
	put := func(rec string, l loc, err error) {
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		at[rec] = l
		mu.Unlock()
	}
	name := func(w, i int) string { return fmt.Sprintf("w%d-%d", w, i) }
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine sync.WaitGroup
			for i := 0; i < per; i++ {
				rec := name(w, i)
				mine.Add(1)
				if i%5 == 4 { // batch records among the single ones
					e.AppendBatch("m", 2, 0, func(dst []byte, k int) []byte { return append(dst, rec+"ab"[k:k+1]...) }, func(seq uint64, base int, err error) {
						put(rec+"a", loc{seq, base}, err)
						put(rec+"b", loc{seq, base + 1}, err)
						mine.Done()
					})
					continue
				}
				e.Append("m", []byte(rec), func(seq uint64, base int, err error) { put(rec, loc{seq, base}, err); mine.Done() })
			}
			mine.Wait()
		}()
	}
	wg.Wait()
	records := map[uint64]bool{}
	for _, l := range at {
		records[l.seq] = true
	}
	if len(records) >= len(at) {
		t.Fatalf("%d appends in %d records: none merged", len(at), len(records))
	}
	t.Logf("%d entries in %d records", len(at), len(records))
	for w := 0; w < writers; w++ {
		var prev loc
		for i := 0; i < per; i++ {
			l, ok := at[name(w, i)]
			if !ok {
				l = at[name(w, i)+"a"]
			}
			if i > 0 && !prev.before(l) {
				t.Fatalf("%s stored at %v, after %v of the append before it", name(w, i), l, prev)
			}
			prev = l
			if !ok {
				prev = at[name(w, i)+"b"]
			}
		}
	}
	e.Close()

	e = open(t, dir)
	defer e.Close()
	got := map[string]loc{}
	err := e.Recover(func(q string, seq uint64, idx int, rec []byte) bool {
		if _, dup := got[string(rec)]; dup || q != "m" {
			t.Errorf("%s of %q recovered twice or misplaced", rec, q)
		}
		got[string(rec)] = loc{seq, idx}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, at) {
		t.Fatalf("recovered %d entries, stored %d (or at other places)", len(got), len(at))
	}
	for _, l := range at {
		e.Remove("m", l.seq, l.idx)
	}
	time.Sleep(4 * flushPeriod)
	e.flush(true)
	if st, _ := e.Stats(); st.Messages != 0 {
		t.Fatalf("%d records or notes left after every entry was removed", st.Messages)
	}
}
