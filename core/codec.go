package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Binary encoding of messages for the store. Layout (all integers uvarint
// unless noted): version byte, then fields in a fixed order; strings and
// byte slices are length-prefixed. Tables carry a type tag per value so that
// every Go type in Table survives a round trip.

const codecVersion = 1

// maxDecodeDepth bounds nested tables/arrays on decode.
const maxDecodeDepth = 32

var errCorrupt = errors.New("corrupt record")

// Value type tags for tables.
const (
	tagNil byte = iota
	tagString
	tagBytes
	tagBool
	tagInt8
	tagInt16
	tagInt32
	tagInt64
	tagUint8
	tagUint16
	tagUint32
	tagUint64
	tagFloat32
	tagFloat64
	tagTime
	tagDecimal
	tagTable
	tagArray
)

// EncodeMessage appends the binary form of m to dst.
func EncodeMessage(dst []byte, m *Message) []byte {
	dst = append(dst, codecVersion)
	p := &m.Props
	for _, s := range [...]string{p.ContentType, p.ContentEncoding, p.CorrelationID, p.ReplyTo, p.MessageID, p.Type, p.UserID, p.AppID, m.GroupID, m.DedupID, m.ID, m.Exchange, m.RoutingKey} {
		dst = appendString(dst, s)
	}
	dst = appendTime(dst, p.Timestamp)
	dst = binary.AppendVarint(dst, int64(p.Expiration))
	var flags byte
	if p.HasPriority {
		flags |= 1
	}
	if p.Persistent {
		flags |= 2
	}
	dst = append(dst, flags, p.Priority)
	dst = binary.AppendVarint(dst, int64(m.Delay))
	dst = appendTime(dst, m.SentAt)
	dst = binary.AppendUvarint(dst, m.Sequence)
	dst = appendTable(dst, p.Headers)
	dst = appendBytes(dst, m.Body)
	if len(m.Private) > 0 {
		// Optional trailer: records without it (and older ones) decode
		// with a nil Private.
		dst = appendTable(dst, m.Private)
	}
	return dst
}

// DecodeMessage parses a record written by EncodeMessage. It never panics
// on bad input and never allocates more than len(b) for any field.
func DecodeMessage(b []byte) (*Message, error) {
	d := decoder{b: b}
	if v := d.byte(); v != codecVersion {
		return nil, fmt.Errorf("%w: version %d", errCorrupt, v)
	}
	m := &Message{}
	p := &m.Props
	for _, s := range [...]*string{&p.ContentType, &p.ContentEncoding, &p.CorrelationID, &p.ReplyTo, &p.MessageID, &p.Type, &p.UserID, &p.AppID, &m.GroupID, &m.DedupID, &m.ID, &m.Exchange, &m.RoutingKey} {
		*s = d.string()
	}
	p.Timestamp = d.time()
	p.Expiration = time.Duration(d.varint())
	flags := d.byte()
	p.HasPriority = flags&1 != 0
	p.Persistent = flags&2 != 0
	p.Priority = d.byte()
	m.Delay = time.Duration(d.varint())
	m.SentAt = d.time()
	m.Sequence = d.uvarint()
	p.Headers = d.table(0)
	m.Body = d.bytes()
	if d.err == nil && len(d.b) > 0 {
		m.Private = d.table(0)
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst []byte, s []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(dst, 0)
	}
	return binary.AppendVarint(dst, t.UnixNano())
}

func appendTable(dst []byte, t Table) []byte {
	if t == nil {
		return binary.AppendUvarint(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(t))+1)
	for k, v := range t {
		dst = appendString(dst, k)
		dst = appendValue(dst, v)
	}
	return dst
}

func appendValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, tagNil)
	case string:
		return appendString(append(dst, tagString), x)
	case []byte:
		return appendBytes(append(dst, tagBytes), x)
	case bool:
		if x {
			return append(dst, tagBool, 1)
		}
		return append(dst, tagBool, 0)
	case int8:
		return append(dst, tagInt8, byte(x))
	case int16:
		return binary.AppendVarint(append(dst, tagInt16), int64(x))
	case int32:
		return binary.AppendVarint(append(dst, tagInt32), int64(x))
	case int:
		return binary.AppendVarint(append(dst, tagInt64), int64(x))
	case int64:
		return binary.AppendVarint(append(dst, tagInt64), x)
	case uint8:
		return append(dst, tagUint8, x)
	case uint16:
		return binary.AppendUvarint(append(dst, tagUint16), uint64(x))
	case uint32:
		return binary.AppendUvarint(append(dst, tagUint32), uint64(x))
	case uint64:
		return binary.AppendUvarint(append(dst, tagUint64), x)
	case float32:
		return binary.BigEndian.AppendUint32(append(dst, tagFloat32), math.Float32bits(x))
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, tagFloat64), math.Float64bits(x))
	case time.Time:
		return binary.AppendVarint(append(dst, tagTime), x.UnixNano())
	case Decimal:
		return binary.AppendVarint(append(dst, tagDecimal, x.Scale), int64(x.Value))
	case Table:
		return appendTable(append(dst, tagTable), x)
	case map[string]any:
		return appendTable(append(dst, tagTable), Table(x))
	case []any:
		dst = binary.AppendUvarint(append(dst, tagArray), uint64(len(x)))
		for _, e := range x {
			dst = appendValue(dst, e)
		}
		return dst
	default:
		// Unknown types travel as their string form rather than being lost.
		return appendString(append(dst, tagString), fmt.Sprint(x))
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.raw()) }

func (d *decoder) bytes() []byte {
	r := d.raw()
	if r == nil {
		return nil
	}
	return append([]byte(nil), r...)
}

func (d *decoder) time() time.Time {
	n := d.varint()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (d *decoder) table(depth int) Table {
	n := d.uvarint()
	if n == 0 || d.err != nil {
		return nil
	}
	n--
	if depth > maxDecodeDepth || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	t := make(Table, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.string()
		t[k] = d.value(depth + 1)
	}
	return t
}

func (d *decoder) value(depth int) any {
	if depth > maxDecodeDepth {
		d.fail()
		return nil
	}
	switch d.byte() {
	case tagNil:
		return nil
	case tagString:
		return d.string()
	case tagBytes:
		return d.bytes()
	case tagBool:
		return d.byte() != 0
	case tagInt8:
		return int8(d.byte())
	case tagInt16:
		return int16(d.varint())
	case tagInt32:
		return int32(d.varint())
	case tagInt64:
		return d.varint()
	case tagUint8:
		return d.byte()
	case tagUint16:
		return uint16(d.uvarint())
	case tagUint32:
		return uint32(d.uvarint())
	case tagUint64:
		return d.uvarint()
	case tagFloat32:
		if len(d.b) < 4 {
			d.fail()
			return nil
		}
		v := math.Float32frombits(binary.BigEndian.Uint32(d.b))
		d.b = d.b[4:]
		return v
	case tagFloat64:
		if len(d.b) < 8 {
			d.fail()
			return nil
		}
		v := math.Float64frombits(binary.BigEndian.Uint64(d.b))
		d.b = d.b[8:]
		return v
	case tagTime:
		return time.Unix(0, d.varint())
	case tagDecimal:
		s := d.byte()
		return Decimal{Scale: s, Value: int32(d.varint())}
	case tagTable:
		t := d.table(depth)
		if t == nil {
			return Table{}
		}
		return t
	case tagArray:
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.fail()
			return nil
		}
		a := make([]any, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			a = append(a, d.value(depth+1))
		}
		return a
	default:
		d.fail()
		return nil
	}
}
