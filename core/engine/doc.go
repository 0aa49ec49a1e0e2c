// Package engine is the store of the broker: an embedded NATS JetStream
// server, connected in-process (no TCP port). It is the only package that
// imports nats-server or nats.go.
//
// Layout (see shared/jetstream-measurements.md for why):
//   - one shared stream MSGS with one subject per durable queue
//     (q.<base64url(queue)>) and no JetStream consumers: the core keeps
//     delivery state and leases in memory;
//   - acks fold into a purge of the queue's subject up to the lowest live
//     sequence when they arrive in order, and into DeleteMsg otherwise;
//   - a batch record (AppendBatch: messages published together, see
//     core.PublishBatch; or appends merged because they arrived while an
//     earlier record of their queue awaited its acknowledgement, see
//     merge.go) holds several entries and is one store write; it
//     stays until each entry is removed. Entries removed while others of
//     their record live are written once per flush period to a note on
//     q.<base64url(queue)>.n, which Recover applies; a note is deleted once
//     the records it names are gone;
//   - metadata in one key-value bucket META, keys <namespace>.<base64url(key)>.
//
// Appends are pipelined (plain publishes with a bounded window, the
// acknowledgement parsed by hand) and merged per queue under load (group
// commit); the done callback of Append runs once JetStream has
// acknowledged the write, with the record and the append's first entry in
// it, in append order, on the engine's completion goroutine.
package engine
