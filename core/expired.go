package core

import "fmt"

// AckExpired settles a message by a lease id that already ended without a
// settle (the lease expired or was handed back) when the message has not
// been delivered again since: it is still waiting in the queue. It reports
// whether it removed the message. A client that finishes after its lease
// ran out can thus still delete the message, unless another consumer has
// taken it meanwhile (whose newer lease then decides).
//
// It scans the ready messages: meant for the rare late settle, not as the
// normal ack path.
func (b *Broker) AckExpired(queueName string, leaseID uint64) (bool, error) {
	q, err := b.queue(queueName)
	if err != nil {
		return false, err
	}
	if leaseID == 0 {
		return false, fmt.Errorf("lease 0: %w", ErrInvalidArg)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for lvl := range q.ready {
		d := &q.ready[lvl]
		for i := 0; i < d.len(); i++ {
			if e := d.at(i); e.lastLease == leaseID && e.lease == 0 && !e.done {
				d.removeAt(i)
				q.nready--
				q.forgetLocked(e)
				b.stats.Acked.Add(1)
				return true, nil
			}
		}
	}
	return false, nil
}
