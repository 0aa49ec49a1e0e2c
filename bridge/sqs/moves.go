package sqs

import (
	"context"
	"encoding/base64"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

// moveTask is a dead-letter queue redrive (StartMessageMoveTask): it moves
// the messages that were in the source queue when it started to the
// destination queue, or to each message's original source queue.
type moveTask struct {
	handle, sourceArn, destArn string
	src, dest                  string
	rate                       int64
	started                    time.Time
	toMove                     int64
	moved                      atomic.Int64
	cancel                     context.CancelFunc

	mu      sync.Mutex
	status  string // RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED
	failure string
}

func (t *moveTask) state() (string, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status, t.failure
}

func (t *moveTask) finish(status, failure string) {
	t.mu.Lock()
	if t.status == "RUNNING" || t.status == "CANCELLING" {
		if t.status == "CANCELLING" {
			status, failure = "CANCELLED", ""
		}
		t.status, t.failure = status, failure
	}
	t.mu.Unlock()
}

type moveIn struct {
	SourceArn                    string
	DestinationArn               string
	MaxNumberOfMessagesPerSecond awsapi.Int
	TaskHandle                   string
	MaxResults                   awsapi.Int
}

type moveResult struct {
	TaskHandle                        string `json:",omitempty"`
	Status                            string
	SourceArn                         string
	DestinationArn                    string `json:",omitempty"`
	MaxNumberOfMessagesPerSecond      *int64 `json:",omitempty"`
	ApproximateNumberOfMessagesMoved  int64
	ApproximateNumberOfMessagesToMove int64
	FailureReason                     string `json:",omitempty"`
	StartedTimestamp                  int64
}

func (s *Service) isDeadLetterQueue(name string) bool {
	for _, q := range s.b.Queues() {
		c := q.Config
		if c.HasDeadLetter && c.DeadLetterExchange == "" && c.DeadLetterRoutingKey == name {
			return true
		}
	}
	return false
}

func (s *Service) startMessageMoveTask(r *awsapi.Request) (any, error) {
	var in moveIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.SourceArn == "" {
		return nil, errMissingParam("SourceArn")
	}
	src, ok := s.nameFromARN(in.SourceArn)
	info, err := s.b.Queue(src, "")
	if !ok || err != nil {
		return nil, errResourceNotFound("The resource that you specified for the SourceArn parameter doesn't exist.")
	}
	if !s.isDeadLetterQueue(src) {
		return nil, errInvalidParam("Source queue must be configured as a Dead Letter Queue.")
	}
	t := &moveTask{handle: base64.StdEncoding.EncodeToString([]byte(core.NewID() + ":" + in.SourceArn)),
		sourceArn: in.SourceArn, destArn: in.DestinationArn, src: src, started: time.Now(), status: "RUNNING",
		toMove: int64(info.Ready + info.Delayed)}
	if in.DestinationArn != "" {
		dest, ok := s.nameFromARN(in.DestinationArn)
		if _, err := s.b.Queue(dest, ""); !ok || err != nil {
			return nil, errResourceNotFound("The resource that you specified for the DestinationArn parameter doesn't exist.")
		}
		t.dest = dest
	}
	if in.MaxNumberOfMessagesPerSecond.Set {
		if v := in.MaxNumberOfMessagesPerSecond.V; v < 1 || v > 500 {
			return nil, errInvalidParam("Value %s for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500.", in.MaxNumberOfMessagesPerSecond.Raw)
		}
		t.rate = in.MaxNumberOfMessagesPerSecond.V
	}
	s.mu.Lock()
	for _, o := range s.moves {
		if st, _ := o.state(); o.src == src && (st == "RUNNING" || st == "CANCELLING") {
			s.mu.Unlock()
			return nil, errInvalidParam("There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
		}
	}
	s.moves[t.handle] = t
	s.saveMove(t)
	s.launchMove(t)
	s.mu.Unlock()
	return map[string]string{"TaskHandle": t.handle}, nil
}

// runMove moves up to t.toMove messages: publish the copy, wait until it
// is stored, then ack the original (at-least-once, never lost).
func (s *Service) runMove(ctx context.Context, t *moveTask) {
	defer func() {
		if st, why := t.state(); st == "FAILED" {
			s.log.Warn("message move task failed", "dest", t.dest, "source", t.src, "reason", why, "moved", t.moved.Load())
		}
	}()
	var tick *time.Ticker
	if t.rate > 0 {
		tick = time.NewTicker(time.Second / time.Duration(t.rate))
		defer tick.Stop()
	}
	// A user's cancel ends the task; a shutdown leaves it RUNNING so that
	// it resumes after the restart.
	stopped := func() {
		if s.ctx.Err() == nil {
			t.finish("CANCELLED", "")
		}
	}
	lastSave := time.Now()
	for t.moved.Load() < t.toMove {
		if time.Since(lastSave) >= moveSaveEvery {
			s.saveMove(t)
			lastSave = time.Now()
		}
		if ctx.Err() != nil {
			stopped()
			return
		}
		if tick != nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				stopped()
				return
			}
		}
		ds, err := s.b.Get(ctx, t.src, core.GetOptions{Max: 1, Lease: time.Minute})
		if err != nil {
			if ctx.Err() != nil {
				stopped()
				return
			}
			t.finish("FAILED", "AWS.SimpleQueueService.NonExistentQueue")
			return
		}
		if len(ds) == 0 {
			break
		}
		d := ds[0]
		dest := t.dest
		if dest == "" {
			dest, _ = d.Message.Props.Headers["x-first-death-queue"].(string)
		}
		m := d.Message.Clone()
		h := make(core.Table, len(m.Props.Headers))
		for k, v := range m.Props.Headers {
			if !deathHeader(k) {
				h[k] = v
			}
		}
		m.Props.Headers = h
		m.Sequence = 0
		m.DedupID = "" // a redrive is not a duplicate of the original send
		done := make(chan error, 1)
		var res core.PublishResult
		if dest != "" {
			res, err = s.b.Publish("", dest, m, func(err error) { done <- err })
		}
		if dest == "" || err != nil || res.Routed == 0 {
			_ = s.b.Nack(t.src, true, d.ID)
			t.finish("FAILED", "AWS.SimpleQueueService.NonExistentQueue")
			return
		}
		if err := <-done; err != nil {
			_ = s.b.Nack(t.src, true, d.ID)
			t.finish("FAILED", "AWS.SimpleQueueService.InternalError")
			return
		}
		_ = s.b.Ack(t.src, d.ID)
		t.moved.Add(1)
	}
	t.finish("COMPLETED", "")
}

func (s *Service) cancelMessageMoveTask(r *awsapi.Request) (any, error) {
	var in moveIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.TaskHandle == "" {
		return nil, errMissingParam("TaskHandle")
	}
	s.mu.Lock()
	t, ok := s.moves[in.TaskHandle]
	s.mu.Unlock()
	if !ok {
		return nil, errResourceNotFound("Task does not exist.")
	}
	t.mu.Lock()
	running := t.status == "RUNNING"
	if running {
		t.status = "CANCELLING"
	}
	t.mu.Unlock()
	if !running {
		return nil, errResourceNotFound("Task does not exist.")
	}
	s.saveMove(t)
	t.cancel()
	return map[string]int64{"ApproximateNumberOfMessagesMoved": t.moved.Load()}, nil
}

func (s *Service) listMessageMoveTasks(r *awsapi.Request) (any, error) {
	var in moveIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.SourceArn == "" {
		return nil, errMissingParam("SourceArn")
	}
	src, ok := s.nameFromARN(in.SourceArn)
	if _, err := s.b.Queue(src, ""); !ok || err != nil {
		return nil, errResourceNotFound("The resource that you specified for the SourceArn parameter doesn't exist.")
	}
	max := int64(1)
	if in.MaxResults.Set {
		if max = in.MaxResults.V; max < 1 || max > 10 {
			return nil, errInvalidParam("Value %s for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10.", in.MaxResults.Raw)
		}
	}
	s.mu.Lock()
	var ts []*moveTask
	for _, t := range s.moves {
		if t.src == src {
			ts = append(ts, t)
		}
	}
	s.mu.Unlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].started.After(ts[j].started) })
	out := struct{ Results []moveResult }{Results: []moveResult{}}
	for i, t := range ts {
		if int64(i) >= max {
			break
		}
		st, why := t.state()
		res := moveResult{Status: st, SourceArn: t.sourceArn, DestinationArn: t.destArn,
			ApproximateNumberOfMessagesMoved: t.moved.Load(), ApproximateNumberOfMessagesToMove: t.toMove,
			FailureReason: why, StartedTimestamp: t.started.UnixMilli()}
		if st == "RUNNING" {
			res.TaskHandle = t.handle
		}
		if t.rate > 0 {
			rate := t.rate
			res.MaxNumberOfMessagesPerSecond = &rate
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}
