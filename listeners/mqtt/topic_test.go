package mqtt

import "testing"

func TestTopicMapping(t *testing.T) {
	for _, c := range []struct{ topic, key string }{
		{"a/b/c", "a.b.c"},
		{"telemetry/dev.42", "telemetry.dev/42"},
		{"/a", ".a"},
		{"a//b", "a..b"},
		{"$SYS/broker", "$SYS.broker"},
	} {
		if got := topicToKey(c.topic); got != c.key {
			t.Errorf("topicToKey(%q) = %q, want %q", c.topic, got, c.key)
		}
		if got := keyToTopic(c.key); got != c.topic {
			t.Errorf("keyToTopic(%q) = %q, want %q", c.key, got, c.topic)
		}
	}
	for _, c := range []struct{ filter, key string }{
		{"a/+/c", "a.*.c"}, {"#", "#"}, {"a/#", "a.#"}, {"a.b/+", "a/b.*"},
	} {
		if got := filterToKey(c.filter); got != c.key {
			t.Errorf("filterToKey(%q) = %q, want %q", c.filter, got, c.key)
		}
	}
}

func TestValidFilter(t *testing.T) {
	for f, want := range map[string]bool{
		"a/b": true, "#": true, "a/#": true, "+": true, "+/+/#": true, "a/+/b": true,
		"": false, "a/#/b": false, "a#": false, "a/b+": false, "#/a": false, "a\x00": false,
	} {
		if got := validFilter(f); got != want {
			t.Errorf("validFilter(%q) = %v, want %v", f, got, want)
		}
	}
	for n, want := range map[string]bool{"a/b": true, "a/+": false, "#": false, "": false, "a b": true} {
		if got := validTopicName(n); got != want {
			t.Errorf("validTopicName(%q) = %v, want %v", n, got, want)
		}
	}
}

func TestParseShared(t *testing.T) {
	g, f, shared, ok := parseShared("$share/grp/a/+")
	if g != "grp" || f != "a/+" || !shared || !ok {
		t.Fatalf("got %q %q %v %v", g, f, shared, ok)
	}
	if _, _, shared, ok := parseShared("$share/grp"); !shared || ok {
		t.Fatal("$share/grp must be a malformed shared filter")
	}
	if _, _, shared, ok := parseShared("$share//a"); !shared || ok {
		t.Fatal("empty share name must be malformed")
	}
	if _, f, shared, ok := parseShared("a/b"); shared || !ok || f != "a/b" {
		t.Fatal("plain filter")
	}
}

func TestMatchFilter(t *testing.T) {
	for _, c := range []struct {
		f, t string
		want bool
	}{
		{"a/b", "a/b", true}, {"a/+", "a/b", true}, {"a/+", "a/b/c", false},
		{"a/#", "a", true}, {"a/#", "a/b/c", true}, {"#", "a/b", true},
		{"+/+", "/a", true}, {"+", "a/b", false}, {"a/b", "a/c", false},
		{"#", "$SYS/x", false}, {"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/x", true},
		{"a/+/c", "a//c", true}, {"a/b/c", "a/b", false},
	} {
		if got := matchFilter(c.f, c.t); got != c.want {
			t.Errorf("matchFilter(%q, %q) = %v, want %v", c.f, c.t, got, c.want)
		}
	}
}
