package sqs

import (
	"context"
	"encoding/json"
	"time"
)

// Message move tasks are durable: a task's record (namespace nsMoves, key
// = its handle) is written when it starts, as it progresses (at most once
// a second) and when it ends. After a restart a RUNNING task resumes
// with what it still had to move, a CANCELLING one is CANCELLED, and
// ListMessageMoveTasks still shows finished ones until they are older than
// moveRetention (AWS keeps them 14 days).

const (
	nsMoves       = "_sqs.moves"
	moveRetention = 14 * 24 * time.Hour
	moveSaveEvery = time.Second
)

type moveRecord struct {
	Handle, SourceArn, DestArn string
	Src, Dest                  string
	Rate                       int64 `json:",omitempty"`
	Started                    time.Time
	ToMove, Moved              int64
	Status                     string
	Failure                    string `json:",omitempty"`
}

// save writes t's record (no-op without a store).
func (s *Service) saveMove(t *moveTask) {
	if !s.journal {
		return
	}
	st, why := t.state()
	v, _ := json.Marshal(moveRecord{Handle: t.handle, SourceArn: t.sourceArn, DestArn: t.destArn, Src: t.src, Dest: t.dest,
		Rate: t.rate, Started: t.started, ToMove: t.toMove, Moved: t.moved.Load(), Status: st, Failure: why})
	if err := s.b.Meta(nsMoves).Put(t.handle, v); err != nil {
		s.log.Error("save message move task", "source", t.src, "err", err)
	}
}

// loadMoves restores move tasks at start and resumes running ones.
func (s *Service) loadMoves() {
	meta := s.b.Meta(nsMoves)
	now := time.Now()
	for key, v := range meta.List() {
		var r moveRecord
		if err := json.Unmarshal(v, &r); err != nil || r.Handle != key {
			s.log.Warn("dropping unreadable message move task", "key", key, "err", err)
			_ = meta.Delete(key)
			continue
		}
		if now.Sub(r.Started) > moveRetention {
			_ = meta.Delete(key)
			continue
		}
		t := &moveTask{handle: r.Handle, sourceArn: r.SourceArn, destArn: r.DestArn, src: r.Src, dest: r.Dest,
			rate: r.Rate, started: r.Started, toMove: r.ToMove, status: r.Status, failure: r.Failure}
		t.moved.Store(r.Moved)
		if t.status == "CANCELLING" {
			t.status = "CANCELLED"
			s.saveMove(t)
		}
		s.moves[t.handle] = t
		if t.status == "RUNNING" {
			s.log.Info("resuming message move task", "source", t.src, "moved", r.Moved, "to_move", r.ToMove)
			s.launchMove(t)
		}
	}
}

// launchMove runs t in the background until it ends or the service closes.
// The caller holds s.mu or runs before the service is shared.
func (s *Service) launchMove(t *moveTask) {
	ctx, cancel := context.WithCancel(s.ctx)
	t.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		s.runMove(ctx, t)
		s.saveMove(t) // final state, or RUNNING with its progress at shutdown
	}()
}
