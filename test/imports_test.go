package test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/omnibroker/broker/"

// TestImportRules enforces STYLE.md: core and config import none of our
// packages (core only its engine); only core/engine imports NATS; listeners
// and bridges import core but never core/engine, NATS, or each other (ws
// may hand connections to listener packages).
func TestImportRules(t *testing.T) {
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == "testdata" || n == "data" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if msg := violation(pkg, p); msg != "" {
				t.Errorf("%s imports %s: %s", rel, p, msg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func top(pkg string) string {
	parts := strings.Split(pkg, "/")
	if len(parts) >= 2 && (parts[0] == "listeners" || parts[0] == "bridge") {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

func violation(pkg, imp string) string {
	nats := strings.HasPrefix(imp, "github.com/nats-io/")
	own := strings.HasPrefix(imp, module)
	target := strings.TrimPrefix(imp, module)
	switch {
	case pkg == "core/engine" || strings.HasPrefix(pkg, "core/engine/"):
		if own {
			return "core/engine imports none of our packages"
		}
	case pkg == "core" || strings.HasPrefix(pkg, "core/"):
		if nats {
			return "only core/engine may import NATS"
		}
		if own && target != "core" && target != "core/engine" && !strings.HasPrefix(target, "core/") {
			return "core imports only core/engine"
		}
	case pkg == "config":
		if own {
			return "config is a leaf"
		}
	case strings.HasPrefix(pkg, "listeners") || strings.HasPrefix(pkg, "bridge"):
		if nats {
			return "front doors never import NATS"
		}
		if !own {
			return ""
		}
		if target == "core/engine" || strings.HasPrefix(target, "core/engine/") {
			return "front doors call core, never the engine"
		}
		if target == "app" || strings.HasPrefix(target, "cmd") || target == "config" || strings.HasPrefix(target, "test") {
			return "front doors do not import wiring, config or tests"
		}
		self, other := top(pkg), top(target)
		if other == "core" || other == self || other == "listeners" || target == "bridge/awsapi" && strings.HasPrefix(self, "bridge/") {
			return ""
		}
		if self == "listeners/ws" && strings.HasPrefix(other, "listeners/") {
			return ""
		}
		if strings.HasPrefix(other, "listeners/") || strings.HasPrefix(other, "bridge/") {
			return "front doors never import each other"
		}
	}
	return ""
}

func TestViolationTable(t *testing.T) {
	for _, c := range []struct {
		pkg, imp string
		bad      bool
	}{
		{"core", "github.com/nats-io/nats.go", true},
		{"core/engine", "github.com/nats-io/nats.go", false},
		{"core", module + "core/engine", false},
		{"listeners/amqp", module + "core", false},
		{"listeners/amqp", module + "core/engine", true},
		{"listeners/amqp", module + "listeners/mqtt", true},
		{"listeners/amqp/frame", module + "listeners/amqp", false},
		{"listeners/ws", module + "listeners/mqtt", false},
		{"bridge/sns", module + "bridge/sqs", true},
		{"bridge/sns", module + "bridge/awsapi", false},
		{"config", module + "core", true},
		{"app", module + "listeners/amqp", false},
	} {
		if got := violation(c.pkg, c.imp) != ""; got != c.bad {
			t.Errorf("%s -> %s: violation=%v, want %v", c.pkg, c.imp, got, c.bad)
		}
	}
	_ = os.Getenv
}
