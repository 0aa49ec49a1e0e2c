package frame

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/omnibroker/broker/core"
)

func TestGoldenFrames(t *testing.T) {
	cases := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"heartbeat", AppendHeartbeat(nil), []byte{8, 0, 0, 0, 0, 0, 0, 0xCE}},
		{"tune-ok", AppendMethod(nil, 0, &ConnectionTuneOk{ChannelMax: 2047, FrameMax: 131072, Heartbeat: 60}),
			[]byte{1, 0, 0, 0, 0, 0, 12, 0, 10, 0, 31, 0x07, 0xFF, 0, 2, 0, 0, 0, 60, 0xCE}},
		{"channel.open on 1", AppendMethod(nil, 1, &ChannelOpen{}),
			[]byte{1, 0, 1, 0, 0, 0, 5, 0, 20, 0, 10, 0, 0xCE}},
		{"basic.publish", AppendMethod(nil, 1, &BasicPublish{Exchange: "x", RoutingKey: "k", Mandatory: true}),
			[]byte{1, 0, 1, 0, 0, 0, 11, 0, 60, 0, 40, 0, 0, 1, 'x', 1, 'k', 1, 0xCE}},
		{"basic.nack bits", AppendMethod(nil, 2, &BasicNack{DeliveryTag: 5, Multiple: true, Requeue: true}),
			[]byte{1, 0, 2, 0, 0, 0, 13, 0, 60, 0, 120, 0, 0, 0, 0, 0, 0, 0, 5, 3, 0xCE}},
		{"content persistent 2-byte body split at frame_max 9+1", AppendContent(nil, 1, 60, &Properties{Flags: FlagDeliveryMode, DeliveryMode: 2}, []byte("ab"), 9),
			[]byte{2, 0, 1, 0, 0, 0, 15, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x10, 0, 2, 0xCE,
				3, 0, 1, 0, 0, 0, 1, 'a', 0xCE, 3, 0, 1, 0, 0, 0, 1, 'b', 0xCE}},
	}
	dm := &BasicDeliver{ConsumerTag: "t", DeliveryTag: 9, Redelivered: true, Exchange: "e", RoutingKey: "k"}
	cases = append(cases, struct {
		name string
		got  []byte
		want []byte
	}{"deliver fast path", AppendDeliver(nil, 4, dm), AppendMethod(nil, 4, dm)})
	for _, c := range cases {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, c.got, c.want)
		}
	}
}

func TestGoldenTable(t *testing.T) {
	// One entry per type so the encoding is deterministic.
	w := Writer{}
	w.Table(core.Table{"a": int32(-2)})
	want := []byte{0, 0, 0, 7, 1, 'a', 'I', 0xFF, 0xFF, 0xFF, 0xFE}
	if !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("got %v want %v", w.Bytes(), want)
	}
	// pika encodes a Python int as 'l' and a str as 'S'; Java's client
	// sends 'x' for byte arrays and RabbitMQ 's' for int16.
	in := []byte{0, 0, 0, 25, 1, 'n', 'l', 0, 0, 0, 0, 0, 0, 0, 7, 1, 's', 'S', 0, 0, 0, 2, 'h', 'i', 1, 'h', 's', 0xFF, 0xFF}
	tb := NewBuf(in).Table()
	if tb["n"] != int64(7) || tb["s"] != "hi" || tb["h"] != int16(-1) {
		t.Fatalf("decoded %#v", tb)
	}
}

func allTypes() core.Table {
	return core.Table{
		"bool": true, "i8": int8(-8), "u8": uint8(8), "i16": int16(-16), "u16": uint16(16),
		"i32": int32(-32), "u32": uint32(32), "i64": int64(-64), "f32": float32(1.5), "f64": 2.25,
		"dec": core.Decimal{Scale: 2, Value: 12345}, "str": "héllo", "bytes": []byte{0, 1, 2},
		"ts": time.Unix(1700000000, 0).UTC(), "void": nil,
		"nested": core.Table{"deep": core.Table{"x": "y"}, "arr": []any{int64(1), "two", []any{true}}},
		"arr":    []any{int32(1), core.Table{"k": "v"}, nil},
	}
}

func TestTableRoundTrip(t *testing.T) {
	w := Writer{}
	w.Table(allTypes())
	r := NewBuf(w.Bytes())
	got := r.Table()
	if r.Err != nil || r.Len() != 0 {
		t.Fatalf("err %v left %d", r.Err, r.Len())
	}
	if !reflect.DeepEqual(got, allTypes()) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, allTypes())
	}
}

func TestAllMethodsRoundTrip(t *testing.T) {
	samples := []Method{
		&ConnectionStart{0, 9, core.Table{"product": "x", "capabilities": core.Table{"basic.nack": true}}, "PLAIN AMQPLAIN", "en_US"},
		&ConnectionStartOk{core.Table{"a": "b"}, "PLAIN", "\x00guest\x00guest", "en_US"},
		&ConnectionTune{2047, 131072, 60}, &ConnectionOpen{"/", "", true},
		&ConnectionClose{320, "CONNECTION_FORCED - shutdown", 0, 0}, &ConnectionBlocked{"low on memory"},
		&ConnectionUpdateSecret{"s", "r"}, &ChannelFlow{true}, &ChannelClose{404, "NOT_FOUND", 50, 10},
		&ExchangeDeclare{"x", "topic", true, true, true, true, true, core.Table{"alternate-exchange": "ae"}},
		&ExchangeDelete{"x", true, true}, &ExchangeBind{"d", "s", "k", true, core.Table{}},
		&ExchangeUnbind{"d", "s", "k", true, core.Table{"x": int64(1)}},
		&QueueDeclare{"q", true, true, true, true, true, core.Table{"x-max-length": int64(10)}},
		&QueueDeclareOk{"q", 3, 4}, &QueueBind{"q", "e", "k", true, core.Table{}}, &QueuePurge{"q", true},
		&QueuePurgeOk{7}, &QueueDelete{"q", true, true, true}, &QueueDeleteOk{9}, &QueueUnbind{"q", "e", "k", core.Table{}},
		&BasicQos{0, 10, true}, &BasicConsume{"q", "t", true, true, true, true, core.Table{"x-priority": int32(5)}},
		&BasicConsumeOk{"t"}, &BasicCancel{"t", true}, &BasicCancelOk{"t"}, &BasicPublish{"e", "k", true, true},
		&BasicReturn{312, "NO_ROUTE", "e", "k"}, &BasicDeliver{"t", 1 << 40, true, "e", "k"}, &BasicGet{"q", true},
		&BasicGetOk{1, true, "e", "k", 5}, &BasicGetEmpty{}, &BasicAck{1, true}, &BasicReject{2, true},
		&BasicRecoverAsync{true}, &BasicRecover{true}, &BasicNack{3, true, true}, &ConfirmSelect{true},
	}
	seen := map[uint32]bool{}
	for _, m := range samples {
		seen[m.ID()] = true
	}
	for id, ctor := range ctors {
		if !seen[id] {
			samples = append(samples, ctor())
		}
	}
	for _, m := range samples {
		f := AppendMethod(nil, 3, m)
		fr := NewReader(bytes.NewReader(f))
		fr.Max = 1 << 20
		got, err := fr.ReadFrame()
		if err != nil || got.Type != TypeMethod || got.Channel != 3 {
			t.Fatalf("%s: frame %+v %v", Name(m.ID()), got, err)
		}
		back, err := ReadMethod(got.Payload)
		if err != nil {
			t.Fatalf("%s: %v", Name(m.ID()), err)
		}
		if !reflect.DeepEqual(normalize(back), normalize(m)) {
			t.Errorf("%s: round trip\n got %#v\nwant %#v", Name(m.ID()), back, m)
		}
	}
	if len(ctors) != 64 {
		t.Errorf("codec knows %d methods, the 0-9-1 spec with RabbitMQ extensions has 64", len(ctors))
	}
}

// normalize maps a nil table to an empty one (both encode the same).
func normalize(m Method) Method {
	v := reflect.ValueOf(m).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Type() == reflect.TypeOf(core.Table{}) && f.IsNil() {
			f.Set(reflect.ValueOf(core.Table{}))
		}
	}
	return m
}

func TestPropertiesRoundTrip(t *testing.T) {
	c := core.Properties{ContentType: "text/plain", ContentEncoding: "gzip", CorrelationID: "c", ReplyTo: "r",
		MessageID: "m", Type: "t", UserID: "guest", AppID: "a", Timestamp: time.Unix(1700000000, 0).UTC(),
		Expiration: 1500 * time.Millisecond, Priority: 7, HasPriority: true, Persistent: true, Headers: allTypes()}
	var p Properties
	p.FromCore(&c)
	f := AppendContent(nil, 1, ClassBasic, &p, []byte("body"), 0)
	fr := NewReader(bytes.NewReader(f))
	fr.Max = 1 << 20
	hf, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader(hf.Payload)
	if err != nil || h.BodySize != 4 || h.ClassID != ClassBasic {
		t.Fatalf("%+v %v", h, err)
	}
	var back core.Properties
	if err := h.Props.ToCore(&back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("got %#v\nwant %#v", back, c)
	}
	bf, _ := fr.ReadFrame()
	if string(bf.Payload) != "body" || bf.Type != TypeBody {
		t.Fatalf("body frame %+v", bf)
	}
	bad := Properties{Flags: FlagExpiration, Expiration: "-5"}
	if err := bad.ToCore(&back); !errors.Is(err, ErrExpiration) {
		t.Fatalf("expiration -5: %v", err)
	}
}

func TestReaderLimits(t *testing.T) {
	big := AppendMethod(nil, 1, &BasicPublish{Exchange: string(bytes.Repeat([]byte("x"), 200))})
	fr := NewReader(bytes.NewReader(big))
	fr.Max = 100
	if _, err := fr.ReadFrame(); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("oversized frame: %v", err)
	}
	bad := AppendHeartbeat(nil)
	bad[len(bad)-1] = 0xCD
	if _, err := NewReader(bytes.NewReader(bad)).ReadFrame(); !errors.Is(err, ErrBadFrameEnd) {
		t.Fatalf("bad end: %v", err)
	}
	if _, err := NewReader(bytes.NewReader([]byte{9, 0, 0, 0, 0, 0, 0, 0xCE})).ReadFrame(); !errors.Is(err, ErrBadType) {
		t.Fatalf("bad type: %v", err)
	}
	if _, err := ReadMethod([]byte{0, 99, 0, 1}); !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("unknown: %v", err)
	}
	// A table claiming 4 GiB must fail without allocating it.
	if _, err := ReadMethod([]byte{0, 50, 0, 10, 0, 0, 1, 'q', 0, 0xFF, 0xFF, 0xFF, 0xFF}); !errors.Is(err, ErrSyntax) {
		t.Fatalf("huge table: %v", err)
	}
	// Trailing garbage after the arguments.
	p := AppendMethod(nil, 1, &BasicAck{DeliveryTag: 1})
	payload := append(append([]byte{}, p[7:len(p)-1]...), 0)
	if _, err := ReadMethod(payload); !errors.Is(err, ErrSyntax) {
		t.Fatalf("trailing: %v", err)
	}
	// Deep nesting is refused.
	deep := core.Table{}
	for i := 0; i < MaxTableDepth+5; i++ {
		deep = core.Table{"d": deep}
	}
	w := Writer{}
	w.Table(deep)
	if r := NewBuf(w.Bytes()); r.Table() != nil || r.Err == nil {
		t.Fatal("deep nesting accepted")
	}
	if f := float32(math.Inf(1)); f == 0 {
		t.Fatal("unreachable")
	}
}
