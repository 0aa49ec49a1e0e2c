package test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// BuildBroker builds cmd/broker into t's temp dir and returns its path, for
// tests that must kill -9 a real broker process.
func BuildBroker(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	bin := filepath.Join(t.TempDir(), "broker")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/broker")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build broker: %v\n%s", err, out)
	}
	return bin
}

// StartBinary runs the broker binary on dataDir with only the listener
// proto ("amqp", "mqtt", ...) on, at 127.0.0.1:0, and returns the process
// and the address it logged. The caller kills or stops the process.
func StartBinary(t testing.TB, bin, dataDir, proto string) (*exec.Cmd, string) {
	t.Helper()
	var sb strings.Builder
	fmt.Fprintf(&sb, "node: { data_dir: %q }\nlisteners:\n", dataDir)
	for _, n := range []string{"amqp", "mqtt", "stomp", "ws", "aws", "admin"} {
		addr := ""
		if n == proto {
			addr = "127.0.0.1:0"
		}
		fmt.Fprintf(&sb, "  %s: { addr: %q }\n", n, addr)
	}
	cfg := filepath.Join(t.TempDir(), "broker.yaml")
	if err := os.WriteFile(cfg, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`listener up.*proto=` + regexp.QuoteMeta(proto) + ` addr=(\S+)`)
	sc := bufio.NewScanner(stderr)
	addr := ""
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
		if strings.Contains(sc.Text(), "broker started") {
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if addr == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("broker did not report its %s address", proto)
	}
	return cmd, addr
}
