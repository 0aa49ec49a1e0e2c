package mqtt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/mochi-mqtt/server/v2/packets"
)

// errPacketTooLarge is returned by readPacket when a packet's declared size
// is over the negotiated maximum; nothing of it has been allocated.
var errPacketTooLarge = fmt.Errorf("mqtt: %w", packets.ErrPacketTooLarge)

// readPacket reads one control packet. The remaining length is checked
// against max (the whole packet, [MQTT-3.2.2-15]/[MQTT-3.1.2-24]) before
// any buffer is allocated. version selects the v5 property parsing. A
// malformed packet gives an error wrapping a packets.Code (0x81/0x82); the
// decoder is guarded against panics on truncated input.
func readPacket(br *bufio.Reader, version byte, max int) (pk packets.Packet, err error) {
	hb, err := br.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		// [MQTT-3.3.1-4] QoS 3, [MQTT-2.1.3-1] bad reserved flags: malformed.
		var code packets.Code
		if errors.As(err, &code) {
			return pk, packets.Code{Code: packets.ErrMalformedPacket.Code, Reason: code.Reason}
		}
		return pk, packets.ErrMalformedPacket
	}
	n, lenBytes, err := packets.DecodeLength(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return pk, io.ErrUnexpectedEOF
		}
		return pk, packets.ErrMalformedVariableByteInteger
	}
	if max > 0 && 1+lenBytes+n > max {
		return pk, errPacketTooLarge
	}
	pk.FixedHeader.Remaining = n
	pk.ProtocolVersion = version
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		if errors.Is(err, io.EOF) {
			return pk, io.ErrUnexpectedEOF
		}
		return pk, err
	}
	return pk, decodeBody(&pk, buf)
}

// packetBuffered reports whether br holds a whole packet: reading it
// cannot block.
func packetBuffered(br *bufio.Reader) bool {
	n := br.Buffered()
	if n < 2 {
		return false
	}
	b, _ := br.Peek(min(n, 5))
	rem, mul := 0, 1
	for i := 1; i < len(b); i++ { // Variable Byte Integer [MQTT-1.5.5-1]
		rem += int(b[i]&0x7f) * mul
		if b[i]&0x80 == 0 {
			return 1+i+rem <= n
		}
		mul *= 128
	}
	return false
}

// decodeBody decodes the variable header and payload of pk from buf.
func decodeBody(pk *packets.Packet, buf []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			// The library indexes past the end of some truncated packets
			// (e.g. a v5 SUBSCRIBE without its options byte).
			err = packets.ErrMalformedPacket
		}
	}()
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectDecode(buf)
	case packets.Publish:
		err = pk.PublishDecode(buf)
	case packets.Puback:
		err = pk.PubackDecode(buf)
	case packets.Pubrec:
		err = pk.PubrecDecode(buf)
	case packets.Pubrel:
		err = pk.PubrelDecode(buf)
	case packets.Pubcomp:
		err = pk.PubcompDecode(buf)
	case packets.Subscribe:
		err = pk.SubscribeDecode(buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(buf)
	case packets.Pingreq:
		if len(buf) != 0 {
			err = packets.ErrMalformedPacket
		}
	case packets.Disconnect:
		// The library skips a lone reason code (remaining length 1), e.g.
		// 0x04 "disconnect with will message" [MQTT-3.14.2-1].
		if pk.ProtocolVersion == 5 && len(buf) >= 1 {
			pk.ReasonCode = buf[0]
			if len(buf) > 1 {
				err = pk.DisconnectDecode(buf)
			}
		}
	case packets.Auth:
		err = pk.AuthDecode(buf)
	default:
		// [MQTT-2.1.2-1]: CONNACK, SUBACK, ... and type 0 are not for a server.
		err = packets.ErrProtocolViolation
	}
	if err != nil {
		var code packets.Code
		if !errors.As(err, &code) {
			err = fmt.Errorf("%w: %v", packets.ErrMalformedPacket, err)
		}
	}
	return err
}

// encodePacket appends the wire form of pk to buf.
func encodePacket(buf *bytes.Buffer, pk *packets.Packet) error {
	switch pk.FixedHeader.Type {
	case packets.Connack:
		return pk.ConnackEncode(buf)
	case packets.Publish:
		return pk.PublishEncode(buf)
	case packets.Puback:
		return pk.PubackEncode(buf)
	case packets.Pubrec:
		return pk.PubrecEncode(buf)
	case packets.Pubrel:
		return pk.PubrelEncode(buf)
	case packets.Pubcomp:
		return pk.PubcompEncode(buf)
	case packets.Suback:
		return pk.SubackEncode(buf)
	case packets.Unsuback:
		return pk.UnsubackEncode(buf)
	case packets.Pingresp:
		return pk.PingrespEncode(buf)
	case packets.Disconnect:
		return pk.DisconnectEncode(buf)
	case packets.Connect:
		return pk.ConnectEncode(buf)
	case packets.Subscribe:
		return pk.SubscribeEncode(buf)
	case packets.Unsubscribe:
		return pk.UnsubscribeEncode(buf)
	case packets.Pingreq:
		return pk.PingreqEncode(buf)
	case packets.Auth:
		return pk.AuthEncode(buf)
	}
	return fmt.Errorf("mqtt: cannot encode packet type %d", pk.FixedHeader.Type)
}
