package mqtt

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// Plain TCP connections are read and (inline) written with raw
// non-blocking read(2)/write(2) calls through syscall.RawConn: the
// runtime's poller still parks the reader until the socket is readable
// and honours read deadlines, but each call skips the scheduler's
// entersyscall/exitsyscall bookkeeping, which on an otherwise idle
// process also wakes the runtime's monitor thread (a futex per call, the
// largest single cost per message at low rates). The sockets are
// non-blocking, so a raw call never holds its thread for long. TLS and
// WebSocket connections frame their bytes and keep the ordinary paths.

// rawConnOf returns the RawConn of a plain TCP connection, or nil.
func rawConnOf(nc net.Conn) syscall.RawConn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	rc.Control(func(fd uintptr) {
		// Best effort (Linux): an error leaves the default.
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, notSentLowat)
	})
	return rc
}

// tcpNotSentLowat is Linux's TCP_NOTSENT_LOWAT socket option (not in
// package syscall).
const tcpNotSentLowat = 25

// notSentLowat bounds the bytes a subscriber's socket holds that are not
// yet sent (kernel default: the whole send buffer, autotuned up to 4 MiB).
// A subscriber reading slower than it is fed then has its backlog in its
// core queue, where flow control (flow.go) sees it, rather than in
// megabytes of kernel buffer; and the writer is woken every ~64 KiB the
// client reads instead of every third of the send buffer (hundreds of
// milliseconds on a slow reader, which looked like a stalled consumer).
// Bytes in flight on the network are not counted: throughput over long
// links still gets the whole autotuned buffer.
const notSentLowat = 128 << 10

// rawReader reads a plain TCP socket; Read blocks (in the poller) until
// data, EOF, an error, a deadline or Close.
type rawReader struct{ rc syscall.RawConn }

func (r rawReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			n0, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait for the poller
			}
			n, errno = int(n0), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err // deadline, closed connection
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: errno}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// directWriter writes to a TCP socket without ever blocking: what the
// kernel does not take at once is kept in rest, as is everything after it
// (the writer goroutine sends rest, and meets any error, on its ordinary
// path).
type directWriter struct {
	rc   syscall.RawConn
	rest []byte
}

func (w *directWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(w.rest) == 0 {
		wrote := 0
		_ = w.rc.Write(func(fd uintptr) bool {
			for {
				r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
				if e == syscall.EINTR {
					continue
				}
				if e == 0 {
					wrote = int(r)
				}
				return true // never wait for the socket
			}
		})
		p = p[wrote:]
	}
	if len(p) > 0 {
		w.rest = append(w.rest, p...)
	}
	return n, nil
}

// rawWriter is the writer goroutine's blocking write on a plain TCP
// socket: it parks in the poller while the socket is full and honours
// write deadlines.
type rawWriter struct{ rc syscall.RawConn }

func (w rawWriter) Write(p []byte) (int, error) {
	n := 0
	var errno syscall.Errno
	err := w.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until the socket takes more
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, &net.OpError{Op: "write", Net: "tcp", Err: errno}
	}
	return n, nil
}
