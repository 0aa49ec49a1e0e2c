package engine

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, dir string) *Engine {
	t.Helper()
	e, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// loc is where an append was stored: its record and entry.
type loc struct {
	seq uint64
	idx int
}

func (l loc) before(m loc) bool { return l.seq < m.seq || l.seq == m.seq && l.idx < m.idx }

// appendN appends queue-0, queue-1, ... without waiting in between and
// returns where each went, in completion order.
func appendN(t *testing.T, e *Engine, queue string, n int) []loc {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	locs := make([]loc, 0, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		e.Append(queue, []byte(fmt.Sprintf("%s-%d", queue, i)), func(seq uint64, base int, err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			locs = append(locs, loc{seq, base})
			mu.Unlock()
		})
	}
	wg.Wait()
	return locs
}

func TestAppendRemoveRecover(t *testing.T) {
	dir := t.TempDir()
	e := open(t, dir)
	a := appendN(t, e, "a", 100)
	b := appendN(t, e, "b/with odd.chars*", 10)
	if !sort.SliceIsSorted(a, func(i, j int) bool { return a[i].before(a[j]) }) {
		t.Fatal("completions out of order")
	}
	// in-order removals (purge path) and out-of-order ones (delete path)
	for _, l := range a[:60] {
		e.Remove("a", l.seq, l.idx)
	}
	e.Remove("a", a[80].seq, a[80].idx)
	e.Remove("b/with odd.chars*", b[5].seq, b[5].idx)
	time.Sleep(3 * flushPeriod)
	if err := e.MetaPut("ns", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	e.Close()

	e = open(t, dir)
	defer e.Close()
	got := map[string]int{}
	err := e.Recover(func(q string, seq uint64, _ int, rec []byte) bool {
		got[q]++
		return q != "b/with odd.chars*" // b's messages are orphans: deleted
	})
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != 39 || got["b/with odd.chars*"] != 9 {
		t.Fatalf("recovered %v", got)
	}
	e.Close()
	e = open(t, dir)
	defer e.Close()
	clear(got)
	if err := e.Recover(func(q string, _ uint64, _ int, _ []byte) bool { got[q]++; return true }); err != nil {
		t.Fatal(err)
	}
	if got["a"] != 39 || got["b/with odd.chars*"] != 0 {
		t.Fatalf("orphans not deleted: recovered %v", got)
	}
	meta, err := e.MetaLoad()
	if err != nil || string(meta["ns"]["k"]) != "v" {
		t.Fatalf("meta %v %v", meta, err)
	}
	e.Purge("a")
	if st, _ := e.Stats(); st.Messages != 0 {
		t.Fatalf("purge left %d", st.Messages)
	}
}

func TestUnwritableDirNamesKey(t *testing.T) {
	_, err := Open(Options{Dir: "/proc/no/such", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		t.Fatal("opened an impossible directory")
	}
	if want := "node.data_dir"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
}

// TestSyncAlwaysGroupCommits: with SyncAlways every confirmation waits for
// an fsync of the store, and one fsync covers many writes.
func TestSyncAlwaysGroupCommits(t *testing.T) {
	if !groupSyncSupported {
		t.Skip("group commit is Linux-only; JetStream fsyncs every write elsewhere")
	}
	e, err := Open(Options{Dir: t.TempDir(), SyncAlways: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	seqs := appendN(t, e, "q", 2000)
	syncs := e.syncs.Load()
	if len(seqs) != 2000 || syncs == 0 {
		t.Fatalf("confirmed %d writes with %d fsyncs", len(seqs), syncs)
	}
	if syncs >= 2000 {
		t.Fatalf("%d fsyncs for 2000 writes: not batched", syncs)
	}
	t.Logf("2000 confirmed writes, %d fsyncs", syncs)
}
