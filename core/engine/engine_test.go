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

func appendN(t *testing.T, e *Engine, queue string, n int) []uint64 {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	seqs := make([]uint64, 0, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		e.Append(queue, []byte(fmt.Sprintf("%s-%d", queue, i)), func(seq uint64, err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seqs = append(seqs, seq)
			mu.Unlock()
		})
	}
	wg.Wait()
	return seqs
}

func TestAppendRemoveRecover(t *testing.T) {
	dir := t.TempDir()
	e := open(t, dir)
	a := appendN(t, e, "a", 100)
	b := appendN(t, e, "b/with odd.chars*", 10)
	if !sort.SliceIsSorted(a, func(i, j int) bool { return a[i] < a[j] }) {
		t.Fatal("completions out of order")
	}
	// in-order removals (purge path) and out-of-order ones (delete path)
	for _, s := range a[:60] {
		e.Remove("a", s, 0)
	}
	e.Remove("a", a[80], 0)
	e.Remove("b/with odd.chars*", b[5], 0)
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
	st, _ := e.Stats()
	if st.Messages != 39 {
		t.Fatalf("orphans not deleted: %d messages stored", st.Messages)
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
