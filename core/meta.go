package core

import (
	"fmt"
	"sort"
	"sync"
)

// MetaStore is a small durable key-value namespace for metadata that front
// doors own (sessions, retained messages, topics, subscriptions). Reads are
// served from memory; writes go through to the engine before returning.
type MetaStore struct {
	b  *Broker
	ns string
}

type metaCache struct {
	mu sync.RWMutex
	m  map[string]map[string][]byte
}

// Meta returns the namespace ns. Namespaces starting with "_" are the core's own.
func (b *Broker) Meta(ns string) *MetaStore { return &MetaStore{b: b, ns: ns} }

// Put stores val under key.
func (s *MetaStore) Put(key string, val []byte) error {
	if s.b.eng != nil {
		if err := s.b.eng.MetaPut(s.ns, key, val); err != nil {
			return fmt.Errorf("meta put %s/%s: %w: %v", s.ns, key, ErrUnavailable, err)
		}
	}
	c := &s.b.meta
	c.mu.Lock()
	m := c.m[s.ns]
	if m == nil {
		m = map[string][]byte{}
		c.m[s.ns] = m
	}
	m[key] = append([]byte(nil), val...)
	c.mu.Unlock()
	return nil
}

// Get returns the value under key or ErrNotFound.
func (s *MetaStore) Get(key string) ([]byte, error) {
	c := &s.b.meta
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[s.ns][key]
	if !ok {
		return nil, fmt.Errorf("meta %s/%s: %w", s.ns, key, ErrNotFound)
	}
	return v, nil
}

// Delete removes key; deleting a missing key is not an error.
func (s *MetaStore) Delete(key string) error {
	if s.b.eng != nil {
		if err := s.b.eng.MetaDelete(s.ns, key); err != nil {
			return fmt.Errorf("meta delete %s/%s: %w: %v", s.ns, key, ErrUnavailable, err)
		}
	}
	c := &s.b.meta
	c.mu.Lock()
	delete(c.m[s.ns], key)
	c.mu.Unlock()
	return nil
}

// List returns a copy of every key and value in the namespace.
func (s *MetaStore) List() map[string][]byte {
	c := &s.b.meta
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string][]byte, len(c.m[s.ns]))
	for k, v := range c.m[s.ns] {
		out[k] = v
	}
	return out
}

// Keys returns the keys of the namespace in sorted order.
func (s *MetaStore) Keys() []string {
	c := &s.b.meta
	c.mu.RLock()
	keys := make([]string, 0, len(c.m[s.ns]))
	for k := range c.m[s.ns] {
		keys = append(keys, k)
	}
	c.mu.RUnlock()
	sort.Strings(keys)
	return keys
}
