package mqtt

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
)

func TestReasonFor(t *testing.T) {
	for _, c := range []struct {
		err  error
		want byte
	}{
		{nil, 0x00},
		{fmt.Errorf("x: %w", core.ErrAccessDenied), 0x87},
		{fmt.Errorf("x: %w", core.ErrLocked), 0x87},
		{fmt.Errorf("x: %w", core.ErrQuotaExceeded), 0x97},
		{fmt.Errorf("x: %w", core.ErrTooLarge), 0x95},
		{errPacketTooLarge, 0x95},
		{fmt.Errorf("x: %w", core.ErrClosed), 0x8B},
		{fmt.Errorf("x: %w", core.ErrUnavailable), 0x88},
		{fmt.Errorf("x: %w", core.ErrInvalidArg), 0x83},
		{packets.ErrMalformedTopic, 0x81},
		{fmt.Errorf("%w: detail", packets.ErrProtocolViolationNoPacketID), 0x82},
		{packets.ErrTopicAliasInvalid, 0x94},
		{errors.New("anything else"), 0x80},
	} {
		if got := reasonFor(c.err); got != c.want {
			t.Errorf("reasonFor(%v) = %#x, want %#x", c.err, got, c.want)
		}
	}
}

func TestConnackV3(t *testing.T) {
	for rc, want := range map[byte]byte{0x00: 0, 0x84: 1, 0x85: 2, 0x86: 4, 0x87: 5, 0x88: 3, 0x8B: 3, 0x80: 3} {
		if got := connackV3(rc); got != want {
			t.Errorf("connackV3(%#x) = %d, want %d", rc, got, want)
		}
	}
	for rc, want := range map[byte]byte{0: 0, 1: 1, 2: 2, 0x8F: 0x80, 0x97: 0x80} {
		if got := subackV3(rc); got != want {
			t.Errorf("subackV3(%#x) = %#x, want %#x", rc, got, want)
		}
	}
}
