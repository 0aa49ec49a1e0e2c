package sqs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

// A receipt handle names one lease: base64url("v1 EPOCH QUEUE LEASE
// MESSAGEID"). The lease id is new on every delivery, so a handle from an
// earlier receive no longer matches once the message was delivered again.
// Lease ids restart with the process, so the handle also carries the
// process's random epoch: a handle from before a restart is stale.
var epoch = strconv.FormatUint(rand.Uint64(), 36)

// appendHandle appends the handle of a lease to dst (a receive renders all
// its handles into one buffer).
func appendHandle(dst []byte, queue string, lease uint64, msgID string) []byte {
	var buf [192]byte
	b := append(buf[:0], "v1 "...)
	b = append(b, epoch...)
	b = append(b, ' ')
	b = append(b, queue...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, lease, 10)
	b = append(b, ' ')
	b = append(b, msgID...)
	return base64.RawURLEncoding.AppendEncode(dst, b)
}

// handleLen is the length of a handle of a queue name length (the lease
// id is counted at its widest).
func handleLen(queueLen, msgIDLen int) int {
	return base64.RawURLEncoding.EncodedLen(len("v1  ") + len(epoch) + queueLen + 1 + 20 + 1 + msgIDLen)
}

type handle struct {
	queue string
	lease uint64 // 0 = from an earlier process: stale
	msgID string
}

// decodeHandleIn decodes h into buf: the handle's strings share buf, so
// they are valid only while buf is not reused.
func decodeHandleIn(h string, buf *[768]byte) (handle, bool) {
	if len(h) > 1024 {
		return handle{}, false
	}
	n, err := base64.RawURLEncoding.Decode(buf[:], unsafe.Slice(unsafe.StringData(h), len(h)))
	if err != nil {
		return handle{}, false
	}
	raw := unsafe.String(&buf[0], n)
	var p [5]string
	for i := 0; i < 4; i++ {
		var ok bool
		if p[i], raw, ok = strings.Cut(raw, " "); !ok {
			return handle{}, false
		}
	}
	p[4] = raw
	if p[0] != "v1" || p[1] == "" || p[2] == "" || strings.IndexByte(p[4], ' ') >= 0 {
		return handle{}, false
	}
	lease, err := strconv.ParseUint(p[3], 10, 64)
	if err != nil || lease == 0 {
		return handle{}, false
	}
	if p[1] != epoch {
		lease = 0
	}
	return handle{queue: p[2], lease: lease, msgID: p[4]}, true
}

type handleIn struct {
	Id                string
	QueueUrl          string
	ReceiptHandle     *string
	VisibilityTimeout awsapi.Int
	Entries           []handleIn

	handle string // ReceiptHandle points here when decoded by DecodeFastJSON
}

type batchIDOut struct {
	Id string
}

type handleBatchOut struct {
	Successful []batchIDOut
	Failed     []batchError
}

// settle deletes (visibility < 0) or changes the visibility of one
// received message. A stale delete on a standard queue still removes the
// message when nobody received it since its visibility ran out, and
// otherwise succeeds without effect (SQS API Reference "DeleteMessage");
// FIFO queues reject stale handles as expired.
func (s *Service) settle(r *awsapi.Request, name string, fifo bool, in *handleIn, visibility time.Duration) error {
	if in.ReceiptHandle == nil || *in.ReceiptHandle == "" {
		return errMissingParam("ReceiptHandle")
	}
	var buf [768]byte
	h, ok := decodeHandleIn(*in.ReceiptHandle, &buf) // h does not outlive buf
	if !ok || h.queue != name {
		return errReceiptInvalid(*in.ReceiptHandle)
	}
	err := fmt.Errorf("lease from an earlier run: %w", core.ErrNotFound)
	if h.lease == 0 {
		// stale: handled below
	} else if visibility < 0 {
		err = s.b.Ack(name, h.lease)
	} else {
		err = s.b.ChangeLease(name, h.lease, visibility)
	}
	if err == nil && fifo {
		s.forgetAttempts(name)
	}
	if errors.Is(err, core.ErrNotFound) {
		if _, qerr := s.b.Queue(name, ""); qerr != nil {
			return errNoQueue(r)
		}
		if !fifo {
			if visibility < 0 && h.lease != 0 {
				// Visibility ran out and nobody received it since: SQS deletes it.
				_, err := s.b.AckExpired(name, h.lease)
				return err
			}
			return nil
		}
		if visibility < 0 {
			return errReceiptExpired(*in.ReceiptHandle)
		}
		return errNotInflight()
	}
	return err
}

func (s *Service) visibilityParam(in *handleIn) (time.Duration, error) {
	if !in.VisibilityTimeout.Set {
		return 0, errMissingParam("VisibilityTimeout")
	}
	if v := in.VisibilityTimeout.V; v < 0 || v > maxVisibility {
		return 0, errInvalidParam("Value %s for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.", in.VisibilityTimeout.Raw)
	}
	return time.Duration(in.VisibilityTimeout.V) * time.Second, nil
}

func (s *Service) deleteMessage(r *awsapi.Request) (any, error) {
	var in handleIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.settle(r, name, info.Config.FIFO, &in, -1)
}

func (s *Service) changeMessageVisibility(r *awsapi.Request) (any, error) {
	var in handleIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	v, err := s.visibilityParam(&in)
	if err != nil {
		return nil, err
	}
	return nil, s.settle(r, name, info.Config.FIFO, &in, v)
}

func (s *Service) handleBatch(r *awsapi.Request, entryName string, change bool) (any, error) {
	var in handleIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatch(ids, entryName); err != nil {
		return nil, err
	}
	out := handleBatchOut{Successful: []batchIDOut{}, Failed: []batchError{}}
	if !change && !info.Config.FIFO {
		return s.deleteStandardBatch(r, name, in.Entries, out)
	}
	for i := range in.Entries {
		e := &in.Entries[i]
		v := time.Duration(-1)
		if change {
			if v, err = s.visibilityParam(e); err != nil {
				out.Failed = append(out.Failed, failure(e.Id, err))
				continue
			}
		}
		if err := s.settle(r, name, info.Config.FIFO, e, v); err != nil {
			out.Failed = append(out.Failed, failure(e.Id, err))
			continue
		}
		out.Successful = append(out.Successful, batchIDOut{e.Id})
	}
	return out, nil
}

func (s *Service) deleteMessageBatch(r *awsapi.Request) (any, error) {
	return s.handleBatch(r, "DeleteMessageBatchRequestEntry", false)
}

func (s *Service) changeMessageVisibilityBatch(r *awsapi.Request) (any, error) {
	return s.handleBatch(r, "ChangeMessageVisibilityBatchRequestEntry", true)
}

// deleteStandardBatch acks every valid handle of a standard queue in one
// core call; stale handles succeed without effect as in settle.
func (s *Service) deleteStandardBatch(r *awsapi.Request, name string, entries []handleIn, out handleBatchOut) (any, error) {
	leases := make([]uint64, 0, len(entries))
	ok := make([]batchIDOut, 0, len(entries))
	for i := range entries {
		e := &entries[i]
		if e.ReceiptHandle == nil || *e.ReceiptHandle == "" {
			out.Failed = append(out.Failed, failure(e.Id, errMissingParam("ReceiptHandle")))
			continue
		}
		var buf [768]byte
		h, valid := decodeHandleIn(*e.ReceiptHandle, &buf) // h is used in this iteration only
		if !valid || h.queue != name {
			out.Failed = append(out.Failed, failure(e.Id, errReceiptInvalid(*e.ReceiptHandle)))
			continue
		}
		if h.lease != 0 {
			leases = append(leases, h.lease)
		}
		ok = append(ok, batchIDOut{e.Id})
	}
	if len(leases) > 0 {
		if err := s.b.Ack(name, leases...); err != nil && !errors.Is(err, core.ErrNotFound) {
			return nil, err
		} else if err != nil {
			if _, qerr := s.b.Queue(name, ""); qerr != nil {
				return nil, errNoQueue(r)
			}
			// Some handles were stale: late deletes of messages nobody received since.
			for _, l := range leases {
				if _, err := s.b.AckExpired(name, l); err != nil && !errors.Is(err, core.ErrNotFound) {
					return nil, err
				}
			}
		}
	}
	out.Successful = append(out.Successful, ok...)
	return out, nil
}

// forgetAttempts drops the remembered FIFO receive attempts of a queue once
// one of its messages was deleted or had its visibility changed: a retry
// with the same ReceiveRequestAttemptId then receives afresh (SQS API
// Reference "ReceiveMessage": retries return the same messages only while
// none of them was modified).
func (s *Service) forgetAttempts(queue string) {
	prefix := queue + "\x00"
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.attempt {
		if strings.HasPrefix(k, prefix) {
			delete(s.attempt, k)
		}
	}
}
