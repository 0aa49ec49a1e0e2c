package sqs

import (
	"encoding/json"
	"strconv"
	"time"
)

// FIFO deduplication survives a restart: AWS promises that a send with a
// deduplication id seen in the last 5 minutes is accepted but not
// delivered again, whatever happened to the first copy. The ids accepted
// in each second are written as one metadata record (namespace
// nsDedup, key = the second's Unix time) by a journal goroutine; New
// reloads the records younger than the window and records older than it
// are deleted. A crash loses at most the last second's ids, and only for
// messages that were also consumed and deleted within that second.

const (
	nsDedup       = "_sqs.dedup"
	dedupInterval = time.Second
)

// dedupRecord is one journalled id (JSON field names kept short).
type dedupRecord struct {
	Key string `json:"k"`
	ID  string `json:"i"`
	Seq string `json:"s,omitempty"`
	Exp int64  `json:"e"` // Unix nanoseconds
}

// loadDedup fills s.sent from the journal (called by New).
func (s *Service) loadDedup() {
	now := time.Now()
	meta := s.b.Meta(nsDedup)
	for key, val := range meta.List() {
		var recs []dedupRecord
		if err := json.Unmarshal(val, &recs); err != nil {
			s.log.Warn("dropping unreadable deduplication record", "key", key, "err", err)
			_ = meta.Delete(key)
			continue
		}
		live := 0
		for _, r := range recs {
			if exp := time.Unix(0, r.Exp); now.Before(exp) {
				s.sent[r.Key] = dedupEntry{id: r.ID, seq: r.Seq, exp: exp}
				live++
			}
		}
		if live == 0 {
			_ = meta.Delete(key)
		}
	}
}

// journalDedup writes the ids remembered since its last round, once per
// dedupInterval, until the service closes (then once more).
func (s *Service) journalDedup() {
	defer s.wg.Done()
	t := time.NewTicker(dedupInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			s.flushDedup(time.Now())
			return
		case now := <-t.C:
			s.flushDedup(now)
		}
	}
}

func (s *Service) flushDedup(now time.Time) {
	s.mu.Lock()
	fresh := s.fresh
	s.fresh = nil
	s.mu.Unlock()
	meta := s.b.Meta(nsDedup)
	if len(fresh) > 0 {
		val, _ := json.Marshal(fresh)
		key := strconv.FormatInt(now.UnixNano(), 10)
		if err := meta.Put(key, val); err != nil {
			s.log.Error("journal FIFO deduplication ids", "err", err)
		}
	}
	// Records whose newest id has expired: every id in a record expires
	// at most dedupInterval after its key's time plus the window.
	cutoff := now.Add(-dedupWindow - 2*dedupInterval).UnixNano()
	for _, key := range meta.Keys() {
		if ts, err := strconv.ParseInt(key, 10, 64); err == nil && ts < cutoff {
			_ = meta.Delete(key)
		}
	}
}
