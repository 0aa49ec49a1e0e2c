// Package config is the broker.yaml schema: defaults, loading with unknown
// keys rejected, environment overrides and validation.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole broker.yaml.
type Config struct {
	Node      Node      `yaml:"node"`
	Listeners Listeners `yaml:"listeners"`
	AWS       AWS       `yaml:"aws"`
	Users     []User    `yaml:"users"`
	Limits    Limits    `yaml:"limits"`
	STOMP     STOMP     `yaml:"stomp"`
}

// Node is the node section.
type Node struct {
	Name          string `yaml:"name"`
	DataDir       string `yaml:"data_dir"`
	Sync          string `yaml:"sync"`           // interval | always
	ShutdownGrace string `yaml:"shutdown_grace"` // duration, e.g. "10s"
	// MemoryHighWatermark is the fraction of physical memory the broker may
	// use before publishers are blocked (0 = never block).
	MemoryHighWatermark float64 `yaml:"memory_high_watermark"`
}

// Listeners holds one section per front door; an empty addr turns it off.
type Listeners struct {
	AMQP  Listener `yaml:"amqp"`
	MQTT  Listener `yaml:"mqtt"`
	STOMP Listener `yaml:"stomp"`
	WS    Listener `yaml:"ws"`
	AWS   Listener `yaml:"aws"`
	Admin Listener `yaml:"admin"`
}

// Listener is one listening address with optional TLS.
type Listener struct {
	Addr     string `yaml:"addr"`
	TLS      *TLS   `yaml:"tls,omitempty"`
	MaxConns int    `yaml:"max_conns,omitempty"` // 0 = unlimited
}

// TLS names a certificate and key file.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// AWS configures the SQS/SNS bridge.
type AWS struct {
	Region    string `yaml:"region"`
	AccountID string `yaml:"account_id"`
	// Host overrides the host:port used in queue URLs (default: the request's Host).
	Host string `yaml:"host,omitempty"`
}

// User is a login (also the SigV4 access key id and secret).
type User struct {
	Name     string `yaml:"name"`
	Password string `yaml:"password"`
}

// Limits bound what clients may send.
type Limits struct {
	MaxFrameBytes   int `yaml:"max_frame_bytes"`   // largest AMQP frame / STOMP frame / MQTT packet
	MaxMessageBytes int `yaml:"max_message_bytes"` // largest message body
}

// STOMP holds STOMP-specific settings.
type STOMP struct {
	// DefaultDestination is the kind of a destination given without a
	// /queue/ or /topic/ prefix: "queue" (ActiveMQ style) or "topic".
	DefaultDestination string `yaml:"default_destination"`
}

// Default returns the built-in defaults; broker.yaml at the repository root
// holds exactly these.
func Default() *Config {
	return &Config{
		Node: Node{Name: "broker-1", DataDir: "./data", Sync: "interval", ShutdownGrace: "10s", MemoryHighWatermark: 0.4},
		Listeners: Listeners{
			AMQP:  Listener{Addr: ":5672"},
			MQTT:  Listener{Addr: ":1883"},
			STOMP: Listener{Addr: ":61613"},
			WS:    Listener{Addr: ":15675"},
			AWS:   Listener{Addr: ":4566"},
			Admin: Listener{Addr: ":15672"},
		},
		AWS:    AWS{Region: "us-east-1", AccountID: "000000000000"},
		Users:  []User{{Name: "guest", Password: "guest"}},
		Limits: Limits{MaxFrameBytes: 4 << 20, MaxMessageBytes: 4 << 20},
		STOMP:  STOMP{DefaultDestination: "queue"},
	}
}

// Load reads path over the defaults, applies environment overrides and
// validates. Unknown keys are errors naming their path.
func Load(path string) (*Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		if err := Decode(data, cfg); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := ApplyEnv(cfg, os.Environ()); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Decode parses YAML over cfg, rejecting unknown keys.
func Decode(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Grace returns the shutdown grace period.
func (c *Config) Grace() time.Duration {
	d, err := time.ParseDuration(c.Node.ShutdownGrace)
	if err != nil || d <= 0 {
		return 10 * time.Second
	}
	return d
}

// Validate checks every key and returns all problems joined, each naming
// its key path.
func (c *Config) Validate() error {
	var errs []error
	switch c.Node.Sync {
	case "interval", "always":
	default:
		errs = append(errs, fmt.Errorf("node.sync: %q is not interval or always", c.Node.Sync))
	}
	if c.Node.ShutdownGrace != "" {
		if d, err := time.ParseDuration(c.Node.ShutdownGrace); err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("node.shutdown_grace: %q is not a positive duration", c.Node.ShutdownGrace))
		}
	}
	if c.Node.MemoryHighWatermark < 0 || c.Node.MemoryHighWatermark > 1 {
		errs = append(errs, fmt.Errorf("node.memory_high_watermark: %v is not between 0 and 1", c.Node.MemoryHighWatermark))
	}
	for name, l := range c.ListenerMap() {
		key := "listeners." + name
		if l.Addr != "" {
			if _, port, err := net.SplitHostPort(l.Addr); err != nil || port == "" {
				errs = append(errs, fmt.Errorf("%s.addr: %q is not host:port", key, l.Addr))
			}
		}
		if l.TLS != nil && (l.TLS.Cert == "" || l.TLS.Key == "") {
			errs = append(errs, fmt.Errorf("%s.tls: cert and key are both required", key))
		}
		if l.MaxConns < 0 {
			errs = append(errs, fmt.Errorf("%s.max_conns: must not be negative", key))
		}
	}
	if c.AWS.Region == "" {
		errs = append(errs, errors.New("aws.region: empty"))
	}
	if len(c.AWS.AccountID) != 12 || strings.Trim(c.AWS.AccountID, "0123456789") != "" {
		errs = append(errs, fmt.Errorf("aws.account_id: %q is not 12 digits", c.AWS.AccountID))
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		if u.Name == "" {
			errs = append(errs, fmt.Errorf("users[%d].name: empty", i))
		}
		if seen[u.Name] {
			errs = append(errs, fmt.Errorf("users[%d].name: duplicate %q", i, u.Name))
		}
		seen[u.Name] = true
	}
	if c.Limits.MaxFrameBytes < 4096 {
		errs = append(errs, fmt.Errorf("limits.max_frame_bytes: %d is below 4096", c.Limits.MaxFrameBytes))
	}
	if c.Limits.MaxMessageBytes < 1 {
		errs = append(errs, fmt.Errorf("limits.max_message_bytes: %d must be positive", c.Limits.MaxMessageBytes))
	}
	switch c.STOMP.DefaultDestination {
	case "queue", "topic":
	default:
		errs = append(errs, fmt.Errorf("stomp.default_destination: %q is not queue or topic", c.STOMP.DefaultDestination))
	}
	return errors.Join(errs...)
}

// ListenerMap returns the listener sections by their key name.
func (c *Config) ListenerMap() map[string]*Listener {
	return map[string]*Listener{
		"amqp": &c.Listeners.AMQP, "mqtt": &c.Listeners.MQTT, "stomp": &c.Listeners.STOMP,
		"ws": &c.Listeners.WS, "aws": &c.Listeners.AWS, "admin": &c.Listeners.Admin,
	}
}

// ApplyEnv applies BROKER_<PATH> overrides, where PATH is the upper-cased
// yaml key path joined by "_" (BROKER_LISTENERS_AMQP_ADDR,
// BROKER_NODE_DATA_DIR, BROKER_AWS_ACCOUNT_ID). Scalar keys only.
func ApplyEnv(cfg *Config, environ []string) error {
	fields := map[string]reflect.Value{}
	collectFields(reflect.ValueOf(cfg).Elem(), "BROKER", fields)
	var errs []error
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "BROKER_") {
			continue
		}
		f, ok := fields[k]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no such setting", k))
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(v)
		case reflect.Float64:
			var x float64
			if _, err := fmt.Sscan(v, &x); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a number", k, v))
				continue
			}
			f.SetFloat(x)
		case reflect.Int:
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not an integer", k, v))
				continue
			}
			f.SetInt(int64(n))
		}
	}
	return errors.Join(errs...)
}

func collectFields(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Struct:
			collectFields(f, name, out)
		case reflect.String, reflect.Int, reflect.Float64:
			out[name] = f
		}
	}
}
