// Package crash kills a process that runs the broker core with kill -9 in
// the middle of a confirmed publish stream, restarts on the same store and
// checks that every confirmed message is there exactly once and that
// messages acked well before the crash do not come back.
package crash

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omnibroker/broker/core"
)

const (
	queueName = "crash-q"
	preAcked  = 200
)

// TestCrashChild is the process that gets killed; it only runs re-executed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("CRASH_CHILD_DIR")
	if dir == "" {
		t.Skip("runs only as the child of TestKill9ConfirmedMessagesSurvive")
	}
	sync := os.Getenv("CRASH_CHILD_SYNC") == "always"
	b, err := core.Open(core.Options{DataDir: dir, SyncAlways: sync, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := b.DeclareQueue(core.QueueConfig{Name: queueName, Durable: true}); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	confirmed := make(chan int, 4096)
	pub := func(i int) {
		m := &core.Message{Body: []byte("m-" + strconv.Itoa(i)), Props: core.Properties{Persistent: true}}
		if _, err := b.Publish("", queueName, m, func(err error) {
			if err == nil {
				confirmed <- i
			}
		}); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
	}
	// Phase 1: publish, confirm and ack the first preAcked messages.
	for i := 0; i < preAcked; i++ {
		pub(i)
		<-confirmed
	}
	ds, err := b.Get(context.Background(), queueName, core.GetOptions{Max: preAcked})
	if err != nil || len(ds) != preAcked {
		fmt.Println("error get", len(ds), err)
		os.Exit(1)
	}
	for _, d := range ds {
		b.Ack(queueName, d.ID)
	}
	time.Sleep(300 * time.Millisecond) // well past the store's ack flush period
	fmt.Fprintln(out, "acked")
	out.Flush()
	// Phase 2: stream confirmed publishes until killed.
	go func() {
		for i := range confirmed {
			fmt.Fprintln(out, "ok", i)
			if len(confirmed) == 0 {
				out.Flush()
			}
		}
	}()
	for i := preAcked; ; i++ {
		pub(i)
	}
}

func TestKill9ConfirmedMessagesSurvive(t *testing.T) {
	for _, mode := range []string{"interval", "always"} {
		t.Run("sync="+mode, func(t *testing.T) { crashOnce(t, mode) })
	}
}

func crashOnce(t *testing.T, mode string) {
	dir := t.TempDir()
	target := 20000
	if mode == "always" {
		target = 300
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), "CRASH_CHILD_DIR="+dir, "CRASH_CHILD_SYNC="+mode)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	confirmed := map[int]bool{}
	sc := bufio.NewScanner(stdout)
	acked := false
	deadline := time.Now().Add(2 * time.Minute)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "acked":
			acked = true
		case strings.HasPrefix(line, "ok "):
			n, _ := strconv.Atoi(line[3:])
			confirmed[n] = true
		case strings.HasPrefix(line, "error"):
			t.Fatalf("child: %s", line)
		}
		if len(confirmed) >= target || time.Now().After(deadline) {
			break
		}
	}
	// kill -9 mid-stream: the child is still publishing.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	cmd.Wait()
	if !acked || len(confirmed) < target {
		t.Fatalf("child did not get far enough: acked=%v confirmed=%d", acked, len(confirmed))
	}

	b, err := core.Open(core.Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	seen := map[int]int{}
	for {
		ds, err := b.Get(context.Background(), queueName, core.GetOptions{Max: 1000, NoAck: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			n, err := strconv.Atoi(strings.TrimPrefix(string(d.Message.Body), "m-"))
			if err != nil {
				t.Fatalf("bad body %q", d.Message.Body)
			}
			seen[n]++
		}
	}
	lost, dup, back := 0, 0, 0
	for n := range confirmed {
		if seen[n] == 0 {
			lost++
		}
	}
	for n, c := range seen {
		if c > 1 {
			dup++
		}
		if n < preAcked {
			back++
		}
	}
	t.Logf("sync=%s confirmed=%d recovered=%d (unconfirmed extras=%d)", mode, len(confirmed), len(seen), len(seen)-len(confirmed)+back)
	if lost > 0 || dup > 0 || back > 0 {
		t.Fatalf("after kill -9: %d confirmed messages lost, %d duplicated, %d acked messages came back", lost, dup, back)
	}
}
