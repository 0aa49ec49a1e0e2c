package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/omnibroker/broker/core"
)

// ErrSyntax is wrapped by every decoding error of a frame payload (reply
// code 502 SYNTAX_ERROR / 501 FRAME_ERROR at the session's discretion).
var ErrSyntax = errors.New("syntax error")

// MaxTableDepth bounds nesting of tables and arrays.
const MaxTableDepth = 32

// Buf decodes AMQP domains from a payload. The first error sticks in Err
// and every later read returns a zero value, so decoders read straight
// through and check Err once.
type Buf struct {
	b   []byte
	Err error
}

// NewBuf returns a decoder over b.
func NewBuf(b []byte) *Buf { return &Buf{b: b} }

// Len is the number of unread bytes.
func (r *Buf) Len() int { return len(r.b) }

func (r *Buf) fail(what string) {
	if r.Err == nil {
		r.Err = fmt.Errorf("%w: truncated or invalid %s", ErrSyntax, what)
	}
	r.b = nil
}

func (r *Buf) take(n int, what string) []byte {
	if r.Err != nil || n < 0 || n > len(r.b) {
		r.fail(what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// Octet reads an octet.
func (r *Buf) Octet() uint8 {
	b := r.take(1, "octet")
	if b == nil {
		return 0
	}
	return b[0]
}

// Short reads a 16-bit big-endian integer.
func (r *Buf) Short() uint16 {
	b := r.take(2, "short")
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

// Long reads a 32-bit integer.
func (r *Buf) Long() uint32 {
	b := r.take(4, "long")
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// LongLong reads a 64-bit integer.
func (r *Buf) LongLong() uint64 {
	b := r.take(8, "longlong")
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Shortstr reads a short string (octet length, up to 255 bytes).
func (r *Buf) Shortstr() string {
	n := int(r.Octet())
	return string(r.take(n, "shortstr"))
}

// LongstrBytes reads a long string (32-bit length) without copying.
func (r *Buf) LongstrBytes() []byte {
	n := r.Long()
	if uint64(n) > uint64(len(r.b)) {
		r.fail("longstr")
		return nil
	}
	return r.take(int(n), "longstr")
}

// Longstr reads a long string.
func (r *Buf) Longstr() string { return string(r.LongstrBytes()) }

// Timestamp reads a 64-bit POSIX time in seconds.
func (r *Buf) Timestamp() time.Time {
	return time.Unix(int64(r.LongLong()), 0).UTC()
}

// Table reads a field table.
func (r *Buf) Table() core.Table { return r.table(0) }

func (r *Buf) table(depth int) core.Table {
	raw := r.LongstrBytes()
	if r.Err != nil {
		return nil
	}
	return decodeTableBody(r, raw, depth)
}

// DecodeTableBody decodes the contents of a field table given without its
// 32-bit length (the AMQPLAIN response format).
func DecodeTableBody(raw []byte) (core.Table, error) {
	r := &Buf{}
	t := decodeTableBody(r, raw, 0)
	return t, r.Err
}

func decodeTableBody(parent *Buf, raw []byte, depth int) core.Table {
	if depth > MaxTableDepth {
		parent.fail("table (nested too deep)")
		return nil
	}
	t := core.Table{}
	sub := Buf{b: raw}
	for sub.Len() > 0 && sub.Err == nil {
		k := sub.Shortstr()
		v := sub.value(depth)
		if sub.Err == nil {
			t[k] = v
		}
	}
	if sub.Err != nil {
		parent.fail("field table")
		return nil
	}
	return t
}

// value reads one field value: a type octet then the value. The tags are
// RabbitMQ's (the 0-9-1 errata), which amqp091-go, pika and every current
// client use; the conflicting spec tags 'U' and 'L' are accepted too.
func (r *Buf) value(depth int) any {
	switch tag := r.Octet(); tag {
	case 't':
		return r.Octet() != 0
	case 'b':
		return int8(r.Octet())
	case 'B':
		return r.Octet()
	case 's', 'U':
		return int16(r.Short())
	case 'u':
		return r.Short()
	case 'I':
		return int32(r.Long())
	case 'i':
		return r.Long()
	case 'l', 'L':
		return int64(r.LongLong())
	case 'f':
		return math.Float32frombits(r.Long())
	case 'd':
		return math.Float64frombits(r.LongLong())
	case 'D':
		scale := r.Octet()
		return core.Decimal{Scale: scale, Value: int32(r.Long())}
	case 'S':
		return r.Longstr()
	case 'x':
		b := r.LongstrBytes()
		if b == nil {
			return []byte{}
		}
		return append([]byte(nil), b...)
	case 'A':
		return r.array(depth + 1)
	case 'T':
		return r.Timestamp()
	case 'F':
		return r.table(depth + 1)
	case 'V':
		return nil
	default:
		if r.Err == nil {
			r.Err = fmt.Errorf("%w: unknown field type %q", ErrSyntax, tag)
		}
		r.b = nil
		return nil
	}
}

func (r *Buf) array(depth int) []any {
	if depth > MaxTableDepth {
		r.fail("array (nested too deep)")
		return nil
	}
	raw := r.LongstrBytes()
	if r.Err != nil {
		return nil
	}
	out := []any{}
	sub := Buf{b: raw}
	for sub.Len() > 0 && sub.Err == nil {
		v := sub.value(depth)
		if sub.Err == nil {
			out = append(out, v)
		}
	}
	if sub.Err != nil {
		r.fail("field array")
		return nil
	}
	return out
}

// Writer encodes AMQP domains by appending to a byte slice.
type Writer struct{ b []byte }

// Bytes returns what was written.
func (w *Writer) Bytes() []byte { return w.b }

// Octet appends an octet.
func (w *Writer) Octet(v uint8) { w.b = append(w.b, v) }

// Short appends a 16-bit integer.
func (w *Writer) Short(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }

// Long appends a 32-bit integer.
func (w *Writer) Long(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }

// LongLong appends a 64-bit integer.
func (w *Writer) LongLong(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }

// Shortstr appends a short string, truncated to 255 bytes.
func (w *Writer) Shortstr(s string) {
	if len(s) > 255 {
		s = s[:255]
	}
	w.b = append(w.b, byte(len(s)))
	w.b = append(w.b, s...)
}

// Longstr appends a long string.
func (w *Writer) Longstr(s string) {
	w.Long(uint32(len(s)))
	w.b = append(w.b, s...)
}

// Bits packs consecutive bit fields into octets (§4.2.5.2: bits are
// packed into octets, low bit first).
func (w *Writer) Bits(bits ...bool) {
	var o uint8
	for i, b := range bits {
		if b {
			o |= 1 << uint(i)
		}
	}
	w.Octet(o)
}

// Table appends a field table.
func (w *Writer) Table(t core.Table) {
	at := len(w.b)
	w.Long(0)
	w.tableBody(t)
	binary.BigEndian.PutUint32(w.b[at:], uint32(len(w.b)-at-4))
}

// AppendTableBody appends a table's fields without the length prefix.
func AppendTableBody(dst []byte, t core.Table) []byte {
	w := Writer{b: dst}
	w.tableBody(t)
	return w.b
}

func (w *Writer) tableBody(t core.Table) {
	for k, v := range t {
		w.Shortstr(k)
		w.value(v)
	}
}

func (w *Writer) value(v any) {
	switch x := v.(type) {
	case nil:
		w.Octet('V')
	case bool:
		w.Octet('t')
		if x {
			w.Octet(1)
		} else {
			w.Octet(0)
		}
	case int8:
		w.Octet('b')
		w.Octet(uint8(x))
	case uint8:
		w.Octet('B')
		w.Octet(x)
	case int16:
		w.Octet('s')
		w.Short(uint16(x))
	case uint16:
		w.Octet('u')
		w.Short(x)
	case int32:
		w.Octet('I')
		w.Long(uint32(x))
	case uint32:
		w.Octet('i')
		w.Long(x)
	case int64:
		w.Octet('l')
		w.LongLong(uint64(x))
	case int:
		w.Octet('l')
		w.LongLong(uint64(x))
	case uint64:
		// No unsigned 64-bit tag exists in RabbitMQ's table; values above
		// math.MaxInt64 wrap, as in RabbitMQ.
		w.Octet('l')
		w.LongLong(x)
	case float32:
		w.Octet('f')
		w.Long(math.Float32bits(x))
	case float64:
		w.Octet('d')
		w.LongLong(math.Float64bits(x))
	case core.Decimal:
		w.Octet('D')
		w.Octet(x.Scale)
		w.Long(uint32(x.Value))
	case string:
		w.Octet('S')
		w.Longstr(x)
	case []byte:
		w.Octet('x')
		w.Long(uint32(len(x)))
		w.b = append(w.b, x...)
	case time.Time:
		w.Octet('T')
		w.LongLong(uint64(x.Unix()))
	case core.Table:
		w.Octet('F')
		w.Table(x)
	case map[string]any:
		w.Octet('F')
		w.Table(core.Table(x))
	case []any:
		w.Octet('A')
		at := len(w.b)
		w.Long(0)
		for _, e := range x {
			w.value(e)
		}
		binary.BigEndian.PutUint32(w.b[at:], uint32(len(w.b)-at-4))
	default:
		// Unknown Go types are sent as their string form rather than
		// corrupting the table.
		w.Octet('S')
		w.Longstr(fmt.Sprint(x))
	}
}
