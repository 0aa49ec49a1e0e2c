//go:build !linux

package engine

// groupSyncSupported is false off Linux: sync: always falls back to
// JetStream's own fsync of every write.
const groupSyncSupported = false

func openSyncFD(string) (int, error) { return -1, nil }

func closeSyncFD(int) {}

func (e *Engine) syncNow() error { return nil }
