package frame

import (
	"bytes"
	"testing"

	"github.com/omnibroker/broker/core"
)

// BenchmarkEncodeDelivery is the hot write path: basic.deliver, content
// header with a few properties and one 256-byte body frame.
func BenchmarkEncodeDelivery(b *testing.B) {
	body := make([]byte, 256)
	p := Properties{Flags: FlagContentType | FlagDeliveryMode | FlagHeaders, ContentType: "application/json",
		DeliveryMode: 2, Headers: core.Table{"k": "v", "n": int64(1)}}
	m := &BasicDeliver{ConsumerTag: "amq.ctag-0123456789abcdef", DeliveryTag: 1, Exchange: "amq.topic", RoutingKey: "a.b.c"}
	buf := make([]byte, 0, 1024)
	b.SetBytes(256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendDeliver(buf[:0], 1, m)
		buf = AppendContent(buf, 1, ClassBasic, &p, body, 131072)
	}
}

// BenchmarkDecodePublish is the hot read path: basic.publish, its content
// header and body frame.
func BenchmarkDecodePublish(b *testing.B) {
	var in []byte
	in = AppendMethod(in, 1, &BasicPublish{Exchange: "amq.topic", RoutingKey: "a.b.c"})
	in = AppendContent(in, 1, ClassBasic, &Properties{Flags: FlagDeliveryMode | FlagHeaders, DeliveryMode: 2,
		Headers: core.Table{"k": "v"}}, make([]byte, 256), 131072)
	r := bytes.NewReader(in)
	fr := NewReader(r)
	fr.Max = 131072
	b.SetBytes(256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Reset(in)
		f, _ := fr.ReadFrame()
		if _, err := ReadMethod(f.Payload); err != nil {
			b.Fatal(err)
		}
		f, _ = fr.ReadFrame()
		if _, err := ReadHeader(f.Payload); err != nil {
			b.Fatal(err)
		}
		if f, _ = fr.ReadFrame(); len(f.Payload) != 256 {
			b.Fatal("body")
		}
	}
}
