package mqtt

import (
	"strings"
)

// topicToKey maps an MQTT topic name to an amq.topic routing key:
// '/' separates levels and becomes '.', a '.' inside a level travels as '/'
// (ARCHITECTURE.md "How each front door maps onto the core").
func topicToKey(topic string) string {
	if !strings.ContainsAny(topic, "/.") {
		return topic // one level, no dot: the same string, no allocation
	}
	b := []byte(topic)
	for i, c := range b {
		switch c {
		case '/':
			b[i] = '.'
		case '.':
			b[i] = '/'
		}
	}
	return string(b)
}

// keyToTopic is the inverse of topicToKey.
func keyToTopic(key string) string { return topicToKey(key) }

// filterToKey maps a validated MQTT topic filter to a binding key:
// '+' -> '*', '#' -> '#'.
func filterToKey(filter string) string {
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch l {
		case "+":
			levels[i] = "*"
		case "#":
		default:
			levels[i] = strings.ReplaceAll(l, ".", "/")
		}
	}
	return strings.Join(levels, ".")
}

// validTopicName checks a PUBLISH topic name. [MQTT-3.3.2-2] no wildcards;
// [MQTT-4.7.3-1] at least one character; [MQTT-1.5.4-2] no U+0000.
func validTopicName(t string) bool {
	return t != "" && !strings.ContainsAny(t, "+#\x00")
}

// validFilter checks a topic filter. [MQTT-4.7.1-1] '#' only as the last
// level on its own; [MQTT-4.7.1-2] '+' occupies an entire level;
// [MQTT-4.7.3-1] non-empty.
func validFilter(f string) bool {
	if f == "" || strings.ContainsRune(f, 0) {
		return false
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return false
		}
		if strings.Contains(l, "+") && l != "+" {
			return false
		}
	}
	return true
}

// parseShared splits "$share/group/filter" [MQTT-4.8.2-1]. ok is false for
// a plain filter; err reports a malformed shared filter [MQTT-4.8.2-2].
func parseShared(f string) (group, filter string, shared, ok bool) {
	if !strings.HasPrefix(f, "$share/") {
		return "", f, false, true
	}
	rest := f[len("$share/"):]
	i := strings.IndexByte(rest, '/')
	if i <= 0 {
		return "", "", true, false
	}
	group, filter = rest[:i], rest[i+1:]
	if strings.ContainsAny(group, "+#") || !validFilter(filter) {
		return "", "", true, false
	}
	return group, filter, true, true
}

// matchFilter reports whether topic matches filter under MQTT rules,
// including [MQTT-4.7.2-1]: a filter starting with a wildcard does not
// match a topic starting with '$'.
func matchFilter(filter, topic string) bool {
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true // [MQTT-4.7.1-2] also matches the parent level
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore && !tmore {
			return true
		}
		if !tmore {
			// "a/#" matches "a"
			return fmore && frest == "#"
		}
		if !fmore {
			return false
		}
		filter, topic = frest, trest
	}
}
