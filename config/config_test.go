package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestShippedFileEqualsDefault(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "broker.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("broker.yaml differs from Default():\n%+v\n%+v", cfg, Default())
	}
}

func TestUnknownKeyNamesPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b.yaml")
	os.WriteFile(p, []byte("listeners:\n  amqp:\n    adr: \":1\"\n"), 0o600)
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), "adr") {
		t.Fatalf("want unknown key error, got %v", err)
	}
}

func TestValidateNamesKeys(t *testing.T) {
	c := Default()
	c.Node.Sync = "sometimes"
	c.Listeners.MQTT.Addr = "nope"
	c.Listeners.STOMP.TLS = &TLS{Cert: "x"}
	c.AWS.AccountID = "12"
	err := c.Validate()
	for _, want := range []string{"node.sync", "listeners.mqtt.addr", "listeners.stomp.tls", "aws.account_id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s in %v", want, err)
		}
	}
}

func TestEnvOverride(t *testing.T) {
	c := Default()
	if err := ApplyEnv(c, []string{"BROKER_LISTENERS_AMQP_ADDR=:5673", "BROKER_NODE_DATA_DIR=", "PATH=/bin"}); err != nil {
		t.Fatal(err)
	}
	if c.Listeners.AMQP.Addr != ":5673" || c.Node.DataDir != "" {
		t.Fatalf("override not applied: %+v", c)
	}
	if err := ApplyEnv(c, []string{"BROKER_NOPE=1"}); err == nil {
		t.Fatal("unknown override accepted")
	}
}

func TestEmptyFileIsDefault(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b.yaml")
	os.WriteFile(p, nil, 0o600)
	cfg, err := Load(p)
	if err != nil || !reflect.DeepEqual(cfg, Default()) {
		t.Fatal(err)
	}
}
