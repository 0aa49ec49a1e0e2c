package mqtt

import (
	"errors"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
)

// MQTT 5 reason codes used by this adapter (MQTT 5.0 §2.4, table 2-6).
const (
	rcSuccess             byte = 0x00
	rcDisconnectWithWill  byte = 0x04
	rcNoSubscriptionFound byte = 0x11
	rcUnspecified         byte = 0x80
	rcMalformed           byte = 0x81
	rcProtocolError       byte = 0x82
	rcImplementation      byte = 0x83
	rcUnsupportedVersion  byte = 0x84
	rcClientIDInvalid     byte = 0x85
	rcBadUserOrPassword   byte = 0x86
	rcNotAuthorized       byte = 0x87
	rcServerUnavailable   byte = 0x88
	rcServerShuttingDown  byte = 0x8B
	rcBadAuthMethod       byte = 0x8C
	rcKeepAliveTimeout    byte = 0x8D
	rcSessionTakenOver    byte = 0x8E
	rcTopicFilterInvalid  byte = 0x8F
	rcTopicNameInvalid    byte = 0x90
	rcPacketIDNotFound    byte = 0x92
	rcReceiveMaxExceeded  byte = 0x93
	rcTopicAliasInvalid   byte = 0x94
	rcPacketTooLarge      byte = 0x95
	rcQuotaExceeded       byte = 0x97
	rcPayloadFormat       byte = 0x99
	rcSharedNotSupported  byte = 0x9E
)

// reasonFor maps an error from the core or the codec onto an MQTT 5 reason
// code. A client never sees the Go error text.
func reasonFor(err error) byte {
	var code packets.Code
	switch {
	case err == nil:
		return rcSuccess
	case errors.Is(err, errPacketTooLarge), errors.Is(err, core.ErrTooLarge):
		return rcPacketTooLarge
	case errors.As(err, &code):
		if code.Code == 0 {
			return rcUnspecified
		}
		return code.Code
	case errors.Is(err, core.ErrAccessDenied), errors.Is(err, core.ErrLocked):
		return rcNotAuthorized
	case errors.Is(err, core.ErrQuotaExceeded):
		return rcQuotaExceeded
	case errors.Is(err, core.ErrInvalidName):
		return rcTopicNameInvalid
	case errors.Is(err, core.ErrClosed):
		return rcServerShuttingDown
	case errors.Is(err, core.ErrUnavailable):
		return rcServerUnavailable
	case errors.Is(err, core.ErrInvalidArg), errors.Is(err, core.ErrPrecondition), errors.Is(err, core.ErrExists):
		return rcImplementation
	}
	return rcUnspecified
}

// connackV3 maps an MQTT 5 CONNACK reason code onto the MQTT 3.1.1 return
// codes (MQTT 3.1.1 §3.2.2.3): 1 unacceptable protocol version, 2 identifier
// rejected, 3 server unavailable, 4 bad user name or password, 5 not
// authorized.
func connackV3(rc byte) byte {
	switch rc {
	case rcSuccess:
		return 0
	case rcUnsupportedVersion:
		return 1
	case rcClientIDInvalid:
		return 2
	case rcBadUserOrPassword:
		return 4
	case rcNotAuthorized, rcBadAuthMethod:
		return 5
	}
	return 3
}

// subackV3 maps an MQTT 5 SUBACK reason code onto MQTT 3.1.1 (0x80 failure).
func subackV3(rc byte) byte {
	if rc <= 2 {
		return rc
	}
	return 0x80
}
