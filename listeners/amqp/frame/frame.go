package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame types (AMQP 0-9-1 §4.2.3 and the amqp0-9-1.xml constants).
const (
	TypeMethod    = 1
	TypeHeader    = 2
	TypeBody      = 3
	TypeHeartbeat = 8

	// End is the frame-end octet that terminates every frame (§4.2.3).
	End = 0xCE
	// MinSize is frame-min-size: the smallest frame_max a peer may
	// negotiate and the largest frame allowed before tuning (§4.2.3).
	MinSize = 4096
	// Overhead is the frame header (7) plus the frame-end octet.
	Overhead = 8
)

// ProtocolHeader is what an AMQP 0-9-1 client sends first (§4.2.2).
var ProtocolHeader = []byte{'A', 'M', 'Q', 'P', 0, 0, 9, 1}

// Frame is one decoded frame. Payload aliases the reader's buffer and is
// valid until the next ReadFrame.
type Frame struct {
	Type    byte
	Channel uint16
	Payload []byte
}

// Errors returned by the reader; the session maps them onto connection
// exceptions (501 FRAME_ERROR).
var (
	ErrBadFrameEnd = errors.New("frame end octet is not 0xCE")
	ErrFrameSize   = errors.New("frame larger than frame_max")
	ErrBadType     = errors.New("unknown frame type")
)

// Reader reads frames from r, reusing one payload buffer.
type Reader struct {
	r   io.Reader
	hdr [7]byte
	buf []byte
	// Max is the largest accepted frame including the 8 bytes of
	// overhead (the negotiated frame_max); 0 means MinSize.
	Max int
}

// NewReader returns a Reader over r (which should be buffered).
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// ReadFrame reads one frame. A frame whose size exceeds Max is refused
// before its payload is read or allocated (§4.2.3: "frame_max").
func (fr *Reader) ReadFrame() (Frame, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Type: fr.hdr[0], Channel: binary.BigEndian.Uint16(fr.hdr[1:3])}
	size := binary.BigEndian.Uint32(fr.hdr[3:7])
	limit := fr.Max
	if limit <= 0 {
		limit = MinSize
	}
	if uint64(size)+Overhead > uint64(limit) {
		return f, fmt.Errorf("%w: %d > %d", ErrFrameSize, uint64(size)+Overhead, limit)
	}
	switch f.Type {
	case TypeMethod, TypeHeader, TypeBody, TypeHeartbeat:
	default:
		return f, fmt.Errorf("%w %d", ErrBadType, f.Type)
	}
	n := int(size) + 1
	if cap(fr.buf) < n {
		fr.buf = make([]byte, n, max(n, 512))
	}
	b := fr.buf[:n]
	if _, err := io.ReadFull(fr.r, b); err != nil {
		return f, err
	}
	if b[size] != End {
		return f, ErrBadFrameEnd
	}
	f.Payload = b[:size]
	// Do not pin a huge buffer after a single large frame.
	if cap(fr.buf) > 1<<20 && n < 1<<16 {
		fr.buf = nil
	}
	return f, nil
}

// appendFrameStart appends a frame header with a zero size and returns the
// offset of the size field for patchFrame.
func appendFrameStart(dst []byte, typ byte, channel uint16) ([]byte, int) {
	dst = append(dst, typ, byte(channel>>8), byte(channel), 0, 0, 0, 0)
	return dst, len(dst) - 4
}

// patchFrame fills in the size and appends the frame-end octet.
func patchFrame(dst []byte, sizeAt int) []byte {
	binary.BigEndian.PutUint32(dst[sizeAt:], uint32(len(dst)-sizeAt-4))
	return append(dst, End)
}

// AppendHeartbeat appends a heartbeat frame (channel 0, empty payload, §4.2.7).
func AppendHeartbeat(dst []byte) []byte {
	return append(dst, TypeHeartbeat, 0, 0, 0, 0, 0, 0, End)
}

// AppendMethod appends a method frame carrying m on channel.
func AppendMethod(dst []byte, channel uint16, m Method) []byte {
	dst, at := appendFrameStart(dst, TypeMethod, channel)
	w := Writer{b: dst}
	id := m.ID()
	w.Short(uint16(id >> 16))
	w.Short(uint16(id))
	m.write(&w)
	return patchFrame(w.b, at)
}

// AppendDeliver appends a basic.deliver method frame; it is AppendMethod
// without the interface call, for the delivery hot path.
func AppendDeliver(dst []byte, channel uint16, m *BasicDeliver) []byte {
	dst, at := appendFrameStart(dst, TypeMethod, channel)
	w := Writer{b: dst}
	w.Short(ClassBasic)
	w.Short(60)
	m.write(&w)
	return patchFrame(w.b, at)
}

// AppendContent appends a content header frame and the body frames that
// carry body, each at most frameMax bytes in total (§4.2.6). frameMax 0
// means unlimited.
func AppendContent(dst []byte, channel uint16, classID uint16, p *Properties, body []byte, frameMax int) []byte {
	dst, at := appendFrameStart(dst, TypeHeader, channel)
	w := Writer{b: dst}
	w.Short(classID)
	w.Short(0) // weight, unused
	w.LongLong(uint64(len(body)))
	p.write(&w)
	dst = patchFrame(w.b, at)
	chunk := len(body)
	if frameMax > Overhead {
		chunk = frameMax - Overhead
	}
	for len(body) > 0 {
		n := min(chunk, len(body))
		dst = append(dst, TypeBody, byte(channel>>8), byte(channel), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		dst = append(dst, body[:n]...)
		dst = append(dst, End)
		body = body[n:]
	}
	return dst
}

// Header is a decoded content header frame (§4.2.6.1).
type Header struct {
	ClassID  uint16
	BodySize uint64
	Props    Properties
}

// ReadHeader decodes a content header payload.
func ReadHeader(payload []byte) (Header, error) {
	r := NewBuf(payload)
	h := Header{ClassID: r.Short()}
	r.Short() // weight
	h.BodySize = r.LongLong()
	h.Props.read(r)
	if r.Err != nil {
		return Header{}, r.Err
	}
	if r.Len() != 0 {
		return Header{}, fmt.Errorf("%w: %d trailing bytes in content header", ErrSyntax, r.Len())
	}
	return h, nil
}
