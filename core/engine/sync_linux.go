//go:build linux

package engine

import (
	"golang.org/x/sys/unix"
)

// groupSyncSupported: on Linux, sync: always is a group commit with
// syncfs(2) on the store's file system: JetStream writes each record to the
// OS before acknowledging it, and one syncfs after a batch of
// acknowledgements makes the whole batch durable before any of it is
// confirmed.
const groupSyncSupported = true

func openSyncFD(dir string) (int, error) {
	return unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

func closeSyncFD(fd int) { unix.Close(fd) }

func (e *Engine) syncNow() error { return unix.Syncfs(e.syncFD) }
