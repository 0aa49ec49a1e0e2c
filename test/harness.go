package test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/omnibroker/broker/app"
	"github.com/omnibroker/broker/config"
	"github.com/omnibroker/broker/core"
)

// Broker is a running broker under test.
type Broker struct {
	App     *app.App
	Config  *config.Config
	DataDir string

	AMQP, MQTT, STOMP, WS, AWS, Admin string // host:port of each listener ("" when off)
}

// Core returns the broker's core, for assertions that no client can make.
func (b *Broker) Core() *core.Broker { return b.App.Broker() }

// Option changes the configuration before start.
type Option func(*config.Config)

// WithDataDir runs on a given store directory (restart tests); by default
// each broker gets a fresh temporary one.
func WithDataDir(dir string) Option { return func(c *config.Config) { c.Node.DataDir = dir } }

// InMemory runs without a store.
func InMemory() Option { return func(c *config.Config) { c.Node.DataDir = "" } }

// WithUsers replaces the users (none = anonymous).
func WithUsers(users ...config.User) Option { return func(c *config.Config) { c.Users = users } }

// WithTLS serves TLS on the named listeners ("amqp", "mqtt", "stomp",
// "ws", "aws") with cert; see NewCert.
func WithTLS(cert *Cert, names ...string) Option {
	return func(c *config.Config) {
		for _, n := range names {
			c.ListenerMap()[n].TLS = &config.TLS{Cert: cert.CertFile, Key: cert.KeyFile}
		}
	}
}

// WithConfig applies any change.
func WithConfig(fn func(*config.Config)) Option { return Option(fn) }

// StartBroker starts a broker with every listener on 127.0.0.1:0 and stops it
// when the test ends.
func StartBroker(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	cfg := config.Default()
	cfg.Node.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Node.ShutdownGrace = "5s"
	for _, l := range cfg.ListenerMap() {
		l.Addr = "127.0.0.1:0"
	}
	for _, o := range opts {
		o(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	level := slog.LevelWarn
	if os.Getenv("BROKER_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	a, err := app.Start(cfg, log)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	b := &Broker{App: a, Config: cfg, DataDir: cfg.Node.DataDir,
		AMQP: a.Addr("amqp"), MQTT: a.Addr("mqtt"), STOMP: a.Addr("stomp"), WS: a.Addr("ws"), AWS: a.Addr("aws"), Admin: a.Addr("admin")}
	t.Cleanup(func() { b.Stop(t) })
	return b
}

// Stop shuts the broker down (idempotent); restart with StartBroker(t, WithDataDir(b.DataDir)).
func (b *Broker) Stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.App.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	defer func() { recover() }() // logging after the test ended
	w.t.Log(string(p))
	return len(p), nil
}

// WaitFor polls fn every 10 ms until it returns true or d passes.
func WaitFor(t testing.TB, d time.Duration, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Cert is a self-signed certificate for 127.0.0.1 and localhost.
type Cert struct {
	CertFile, KeyFile string
	Pool              *x509.CertPool
	PEM               []byte
}

// NewCert writes a fresh self-signed certificate into t's temp dir.
func NewCert(t testing.TB) *Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	c := &Cert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), Pool: x509.NewCertPool()}
	c.PEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	os.WriteFile(c.CertFile, c.PEM, 0o600)
	os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c.Pool.AppendCertsFromPEM(c.PEM)
	return c
}

// Python runs a python3 script with args and returns its combined output;
// the test fails when python3 or the module it imports is missing.
func Python(t testing.TB, timeout time.Duration, script string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return runCmd(ctx, PythonBin(), append([]string{"-c", script}, args...)...)
}
