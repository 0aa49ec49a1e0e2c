// Package cmd tests the broker binary itself: flags, startup errors that
// name the key or address, and graceful shutdown on SIGTERM.
package cmd

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "brokerbin")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "broker")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/broker").CombinedOutput()
	if err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeConfig(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "broker.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// allOff turns every listener off except those given.
func allOff(on map[string]string) string {
	var sb strings.Builder
	sb.WriteString("listeners:\n")
	for _, n := range []string{"amqp", "mqtt", "stomp", "ws", "aws", "admin"} {
		sb.WriteString("  " + n + ": { addr: \"" + on[n] + "\" }\n")
	}
	return sb.String()
}

func runBroker(t *testing.T, args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestHelpAndVersion(t *testing.T) {
	out, code := runBroker(t, "--help")
	if code != 0 || !strings.Contains(out, "-config") || !strings.Contains(out, "-version") {
		t.Fatalf("--help (%d): %s", code, out)
	}
	out, code = runBroker(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "broker ") {
		t.Fatalf("--version (%d): %s", code, out)
	}
}

func TestStartupErrorsNameTheCause(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ro := filepath.Join(t.TempDir(), "ro")
	os.MkdirAll(ro, 0o500)
	cases := []struct{ name, cfg, want string }{
		{"port in use", allOff(map[string]string{"admin": busy.Addr().String()}), "listeners.admin.addr " + busy.Addr().String()},
		{"bad value", "node: { sync: sometimes }\n", "node.sync"},
		{"unknown key", "node: { nmae: x }\n", "nmae"},
		{"data dir", "node: { data_dir: /proc/nope/data }\n" + allOff(nil), "node.data_dir"},
	}
	if os.Getuid() != 0 { // root writes anywhere
		cases = append(cases, struct{ name, cfg, want string }{"read-only dir", "node: { data_dir: " + ro + "/d }\n" + allOff(nil), "node.data_dir"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := runBroker(t, "--config", writeConfig(t, c.cfg))
			if code == 0 {
				t.Fatalf("exit 0 for %s: %s", c.name, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, c.want) || !strings.HasPrefix(last, "broker: ") {
				t.Fatalf("want one line naming %q, got:\n%s", c.want, out)
			}
		})
	}
	_, code := runBroker(t, "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code == 0 {
		t.Fatal("missing config file accepted")
	}
}

func TestSIGTERMShutsDownGracefully(t *testing.T) {
	cfg := "node: { data_dir: " + filepath.Join(t.TempDir(), "d") + " }\n" + allOff(map[string]string{"admin": "127.0.0.1:0"})
	cmd := exec.Command(bin, "--config", writeConfig(t, cfg))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	up := regexp.MustCompile(`listener up.*proto=admin addr=(\S+)`)
	addr := ""
	for sc.Scan() {
		if m := up.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
		if strings.Contains(sc.Text(), "broker started") {
			break
		}
	}
	if addr == "" {
		t.Fatal("no listener logged")
	}
	if c, err := net.Dial("tcp", addr); err != nil {
		t.Fatalf("admin not listening: %v", err)
	} else {
		c.Close()
	}
	cmd.Process.Signal(syscall.SIGTERM)
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	err := cmd.Wait()
	if err != nil || !strings.Contains(rest.String(), "stopped") {
		t.Fatalf("exit %v after SIGTERM; log:\n%s", err, rest.String())
	}
}
