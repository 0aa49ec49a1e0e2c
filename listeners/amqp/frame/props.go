package frame

import (
	"fmt"
	"time"

	"github.com/omnibroker/broker/core"
)

// Property flag bits of the basic class content header, most significant
// first (AMQP 0-9-1 §4.2.6.1; amqp0-9-1.xml class "basic" fields).
const (
	FlagContentType     = 1 << 15
	FlagContentEncoding = 1 << 14
	FlagHeaders         = 1 << 13
	FlagDeliveryMode    = 1 << 12
	FlagPriority        = 1 << 11
	FlagCorrelationID   = 1 << 10
	FlagReplyTo         = 1 << 9
	FlagExpiration      = 1 << 8
	FlagMessageID       = 1 << 7
	FlagTimestamp       = 1 << 6
	FlagType            = 1 << 5
	FlagUserID          = 1 << 4
	FlagAppID           = 1 << 3
	FlagClusterID       = 1 << 2
)

// Properties are the basic class content properties. Flags says which are
// present; Set* helpers keep it in step.
type Properties struct {
	Flags           uint16
	ContentType     string
	ContentEncoding string
	Headers         core.Table
	DeliveryMode    uint8
	Priority        uint8
	CorrelationID   string
	ReplyTo         string
	Expiration      string
	MessageID       string
	Timestamp       time.Time
	Type            string
	UserID          string
	AppID           string
	ClusterID       string
}

func (p *Properties) read(r *Buf) {
	flags := r.Short()
	// Bit 0 set means another flag word follows (§4.2.6.1); the basic class
	// has only 14 properties, so extra words carry nothing we know of, but
	// they must still be consumed.
	for more := flags&1 != 0; more && r.Err == nil; {
		more = r.Short()&1 != 0
	}
	p.Flags = flags &^ 1
	if flags&FlagContentType != 0 {
		p.ContentType = r.Shortstr()
	}
	if flags&FlagContentEncoding != 0 {
		p.ContentEncoding = r.Shortstr()
	}
	if flags&FlagHeaders != 0 {
		p.Headers = r.Table()
	}
	if flags&FlagDeliveryMode != 0 {
		p.DeliveryMode = r.Octet()
	}
	if flags&FlagPriority != 0 {
		p.Priority = r.Octet()
	}
	if flags&FlagCorrelationID != 0 {
		p.CorrelationID = r.Shortstr()
	}
	if flags&FlagReplyTo != 0 {
		p.ReplyTo = r.Shortstr()
	}
	if flags&FlagExpiration != 0 {
		p.Expiration = r.Shortstr()
	}
	if flags&FlagMessageID != 0 {
		p.MessageID = r.Shortstr()
	}
	if flags&FlagTimestamp != 0 {
		p.Timestamp = r.Timestamp()
	}
	if flags&FlagType != 0 {
		p.Type = r.Shortstr()
	}
	if flags&FlagUserID != 0 {
		p.UserID = r.Shortstr()
	}
	if flags&FlagAppID != 0 {
		p.AppID = r.Shortstr()
	}
	if flags&FlagClusterID != 0 {
		p.ClusterID = r.Shortstr()
	}
}

func (p *Properties) write(w *Writer) {
	f := p.Flags &^ 1
	w.Short(f)
	if f&FlagContentType != 0 {
		w.Shortstr(p.ContentType)
	}
	if f&FlagContentEncoding != 0 {
		w.Shortstr(p.ContentEncoding)
	}
	if f&FlagHeaders != 0 {
		w.Table(p.Headers)
	}
	if f&FlagDeliveryMode != 0 {
		w.Octet(p.DeliveryMode)
	}
	if f&FlagPriority != 0 {
		w.Octet(p.Priority)
	}
	if f&FlagCorrelationID != 0 {
		w.Shortstr(p.CorrelationID)
	}
	if f&FlagReplyTo != 0 {
		w.Shortstr(p.ReplyTo)
	}
	if f&FlagExpiration != 0 {
		w.Shortstr(p.Expiration)
	}
	if f&FlagMessageID != 0 {
		w.Shortstr(p.MessageID)
	}
	if f&FlagTimestamp != 0 {
		w.LongLong(uint64(p.Timestamp.Unix()))
	}
	if f&FlagType != 0 {
		w.Shortstr(p.Type)
	}
	if f&FlagUserID != 0 {
		w.Shortstr(p.UserID)
	}
	if f&FlagAppID != 0 {
		w.Shortstr(p.AppID)
	}
	if f&FlagClusterID != 0 {
		w.Shortstr(p.ClusterID)
	}
}

// FromCore fills p from core properties (the delivery direction).
func (p *Properties) FromCore(c *core.Properties) {
	*p = Properties{}
	set := func(flag uint16, dst *string, v string) {
		if v != "" {
			*dst = v
			p.Flags |= flag
		}
	}
	set(FlagContentType, &p.ContentType, c.ContentType)
	set(FlagContentEncoding, &p.ContentEncoding, c.ContentEncoding)
	set(FlagCorrelationID, &p.CorrelationID, c.CorrelationID)
	set(FlagReplyTo, &p.ReplyTo, c.ReplyTo)
	set(FlagMessageID, &p.MessageID, c.MessageID)
	set(FlagType, &p.Type, c.Type)
	set(FlagUserID, &p.UserID, c.UserID)
	set(FlagAppID, &p.AppID, c.AppID)
	if len(c.Headers) > 0 {
		p.Headers = c.Headers
		p.Flags |= FlagHeaders
	}
	if c.Persistent {
		p.DeliveryMode = 2
		p.Flags |= FlagDeliveryMode
	}
	if c.HasPriority {
		p.Priority = c.Priority
		p.Flags |= FlagPriority
	}
	if c.Expiration > 0 {
		p.Expiration = fmt.Sprint(c.Expiration.Milliseconds())
		p.Flags |= FlagExpiration
	}
	if !c.Timestamp.IsZero() {
		p.Timestamp = c.Timestamp
		p.Flags |= FlagTimestamp
	}
}

// ErrExpiration is returned by ToCore for an expiration that is not a
// non-negative integer number of milliseconds (RabbitMQ answers 406).
var ErrExpiration = fmt.Errorf("invalid expiration")

// ToCore converts p to core properties (the publish direction).
// Expiration must be a decimal count of milliseconds; "0" means expire at
// once unless delivered immediately, which the core models as 1 ms.
func (p *Properties) ToCore(c *core.Properties) error {
	*c = core.Properties{
		ContentType: p.ContentType, ContentEncoding: p.ContentEncoding, CorrelationID: p.CorrelationID,
		ReplyTo: p.ReplyTo, MessageID: p.MessageID, Type: p.Type, UserID: p.UserID, AppID: p.AppID,
		Headers: p.Headers, Persistent: p.DeliveryMode == 2,
	}
	if p.Flags&FlagPriority != 0 {
		c.Priority, c.HasPriority = p.Priority, true
	}
	if p.Flags&FlagTimestamp != 0 {
		c.Timestamp = p.Timestamp
	}
	if p.Flags&FlagExpiration != 0 {
		ms, ok := parseMillis(p.Expiration)
		if !ok {
			return fmt.Errorf("%w '%s'", ErrExpiration, p.Expiration)
		}
		c.Expiration = max(time.Duration(ms)*time.Millisecond, time.Millisecond)
	}
	return nil
}

func parseMillis(s string) (int64, bool) {
	if s == "" || len(s) > 15 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}
