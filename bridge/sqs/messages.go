package sqs

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

type sendIn struct {
	Id                      string
	QueueUrl                string
	MessageBody             *string
	DelaySeconds            awsapi.Int
	MessageAttributes       map[string]msgAttr
	MessageSystemAttributes map[string]msgAttr
	MessageDeduplicationId  *string
	MessageGroupId          *string
	Entries                 []sendIn

	body string // MessageBody points here when decoded by DecodeFastJSON
}

type sendOut struct {
	Id                           string `json:",omitempty"`
	MessageId                    string
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string `json:",omitempty"`
	MD5OfMessageSystemAttributes string `json:",omitempty"`
	SequenceNumber               string `json:",omitempty"`
}

type batchError struct {
	Id          string
	SenderFault bool
	Code        string
	Message     string
}

type sendBatchOut struct {
	Successful []sendOut
	Failed     []batchError
}

// prepared holds a pending message and its core message (allocated
// together, one block per batch).
type prepared struct {
	p pending
	m core.Message
}

// pending is one message on its way into the store.
type pending struct {
	m   *core.Message
	out sendOut
	// text holds the message's id and hex body MD5, so that a batch's
	// strings share its one allocation (see prepare, publishBatch).
	text [36 + 32]byte
	dup  string // FIFO dedup cache key
	err  error  // the store's verdict (publish)
}

// validID: FIFO group and deduplication ids are 1-128 alphanumeric or
// punctuation characters (SendMessage MessageGroupId/MessageDeduplicationId).
func validID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// prepare validates one SendMessage(Batch) entry against the queue and
// builds its core message. batch selects the batch wording of FIFO errors.
func (s *Service) prepare(r *awsapi.Request, cfg *core.QueueConfig, in *sendIn, batch bool, into *prepared) (*pending, error) {
	if in.MessageBody == nil || *in.MessageBody == "" {
		return nil, errMissingParam("MessageBody")
	}
	body := *in.MessageBody
	if !validChars(body) {
		return nil, errInvalidContents
	}
	if in.DelaySeconds.Set {
		if cfg.FIFO && in.DelaySeconds.V != 0 {
			return nil, errInvalidParam("Value %s for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", in.DelaySeconds.Raw)
		}
		if in.DelaySeconds.V < 0 || in.DelaySeconds.V > maxDelay {
			return nil, errInvalidParam("Value %s for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= %d.", in.DelaySeconds.Raw, maxDelay)
		}
	}
	size, err := validateAttrs(in.MessageAttributes)
	if err != nil {
		return nil, err
	}
	for n, a := range in.MessageSystemAttributes {
		if n != "AWSTraceHeader" || a.DataType != "String" || a.StringValue == nil || *a.StringValue == "" {
			return nil, errInvalidParam("Message system attribute name '%s' is invalid.", n)
		}
	}
	limit := cfg.MaxMessageSize
	if limit <= 0 || limit > maxMessageSize {
		limit = maxMessageSize
	}
	if len(body)+size > limit {
		if batch { // the wording AWS uses in SendMessageBatch Failed entries
			return nil, errInvalidParam("One or more parameters cannot be validated. Reason: Message must be shorter than %d bytes.", limit)
		}
		return nil, errInvalidParam("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", limit)
	}
	if in.MessageGroupId != nil && !validID(*in.MessageGroupId) {
		return nil, errInvalidParam("Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.", *in.MessageGroupId)
	}
	if in.MessageDeduplicationId != nil && !validID(*in.MessageDeduplicationId) {
		return nil, errInvalidParam("Value %s for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.", *in.MessageDeduplicationId)
	}
	sender := r.AccessKey
	if sender == "" {
		sender = s.opts.AccountID
	}
	// The body's bytes are the body string's own (no copy): neither the
	// request buffer it may share nor a message body is written in place.
	if into == nil {
		into = &prepared{}
	}
	m := &into.m
	*m = core.Message{Body: unsafe.Slice(unsafe.StringData(body), len(body)), Props: core.Properties{Persistent: true, UserID: sender}}
	toHeaders(m, in.MessageAttributes)
	if a, ok := in.MessageSystemAttributes["AWSTraceHeader"]; ok {
		if m.Props.Headers == nil {
			m.Props.Headers = core.Table{}
		}
		m.Props.Headers[hdrTrace] = *a.StringValue
	}
	p := &into.p
	*p = pending{m: m}
	sum := md5.Sum(m.Body)
	hex.Encode(p.text[36:], sum[:])
	m.BodyMD5 = unsafe.String(&p.text[36], 32) // p.text is never rewritten once set
	p.out = sendOut{Id: in.Id, MD5OfMessageBody: m.BodyMD5, MD5OfMessageAttributes: md5OfAttrs(in.MessageAttributes),
		MD5OfMessageSystemAttributes: md5OfAttrs(in.MessageSystemAttributes)}
	if in.MessageGroupId != nil {
		m.GroupID = *in.MessageGroupId
	}
	if in.DelaySeconds.Set && !cfg.FIFO {
		// An explicit 0 overrides the queue's DelaySeconds; core reads 0 as "queue default".
		m.Delay = time.Duration(in.DelaySeconds.V) * time.Second
		if m.Delay == 0 && cfg.DeliveryDelay > 0 {
			m.Delay = time.Nanosecond
		}
	}
	if !cfg.FIFO {
		return p, nil
	}
	if in.MessageGroupId == nil {
		if batch {
			return nil, errInvalidParam("The request must contain the parameter MessageGroupId.")
		}
		return nil, errMissingParam("MessageGroupId")
	}
	dedup := ""
	if in.MessageDeduplicationId != nil {
		dedup = *in.MessageDeduplicationId
	} else if cfg.Attributes["ContentBasedDeduplication"] == "true" {
		sum := sha256.Sum256(m.Body)
		dedup = hex.EncodeToString(sum[:])
	} else {
		return nil, errInvalidParam("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
	}
	m.DedupID = dedup
	if cfg.Attributes["DeduplicationScope"] == "messageGroup" {
		m.DedupID = m.GroupID + "\x00" + dedup
	}
	p.dup = cfg.Name + "\x00" + m.DedupID
	return p, nil
}

// publish hands prepared messages to the core and returns once the store
// has given its verdict on each (in p.err).
func (s *Service) publish(name string, ps []*pending) {
	var wg sync.WaitGroup
	if len(ps) > 1 && ps[0].dup == "" {
		s.publishBatch(name, ps, &wg)
		wg.Wait()
		return
	}
	now := time.Now()
	for _, p := range ps {
		p.m.ID = core.NewID()
		p.out.MessageId = p.m.ID
		if p.dup != "" {
			s.mu.Lock()
			if d, ok := s.sent[p.dup]; ok && now.Before(d.exp) {
				p.out.MessageId, p.out.SequenceNumber = d.id, d.seq
				s.mu.Unlock()
				continue
			}
			s.mu.Unlock()
		}
		wg.Add(1)
		res, err := s.b.Publish("", name, p.m, func(err error) { p.err = err; wg.Done() })
		if err != nil {
			p.err = err
			wg.Done()
			continue
		}
		if res.Routed == 0 {
			wg.Wait() // done has run: unroutable
			p.err = fmt.Errorf("queue '%s': %w", name, core.ErrNotFound)
			continue
		}
		if p.dup != "" {
			if p.m.Sequence != 0 {
				p.out.SequenceNumber = fmt.Sprintf("%020d", p.m.Sequence)
				s.remember(p.dup, dedupEntry{id: p.m.ID, seq: p.out.SequenceNumber, exp: now.Add(dedupWindow)})
			} else if d, ok := s.recall(p.dup); ok {
				p.out.MessageId, p.out.SequenceNumber = d.id, d.seq
			}
		}
	}
	wg.Wait()
}

// publishBatch hands the messages of a standard queue's batch to the core
// together: their store copies make one record.
func (s *Service) publishBatch(name string, ps []*pending, wg *sync.WaitGroup) {
	ms := make([]*core.Message, len(ps))
	for i, p := range ps {
		core.PutID((*[36]byte)(p.text[:36]))
		p.m.ID = unsafe.String(&p.text[0], 36) // p.text is never rewritten once set
		p.out.MessageId = p.m.ID
		ms[i] = p.m
	}
	wg.Add(len(ps))
	res, err := s.b.PublishBatch("", name, ms, func(i int, err error) { ps[i].err = err; wg.Done() })
	if err != nil {
		for _, p := range ps {
			p.err = err
			wg.Done()
		}
		return
	}
	wg.Wait()
	for i, r := range res {
		if r.Routed == 0 {
			ps[i].err = fmt.Errorf("queue '%s': %w", name, core.ErrNotFound)
		}
	}
}

func (s *Service) remember(key string, d dedupEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sent) > 100000 {
		now := time.Now()
		for k, e := range s.sent {
			if now.After(e.exp) {
				delete(s.sent, k)
			}
		}
	}
	s.sent[key] = d
	if s.journal {
		s.fresh = append(s.fresh, dedupRecord{Key: key, ID: d.id, Seq: d.seq, Exp: d.exp.UnixNano()})
	}
}

func (s *Service) recall(key string) (dedupEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.sent[key]
	return d, ok
}

func (s *Service) sendError(r *awsapi.Request, err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return errNoQueue(r)
	}
	return err
}

// SendMessage publishes to the default exchange with routing key NAME, as
// a persistent message; the reply is sent once the store has it.
func (s *Service) sendMessage(r *awsapi.Request) (any, error) {
	var in sendIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	p, err := s.prepare(r, &info.Config, &in, false, nil)
	if err != nil {
		return nil, err
	}
	s.publish(name, []*pending{p})
	if err := p.err; err != nil {
		return nil, s.sendError(r, err)
	}
	p.out.Id = ""
	return p.out, nil
}

// checkBatch applies the batch rules shared by the three batch actions.
func checkBatch(ids []string, entryName string) error {
	if len(ids) == 0 {
		return errEmptyBatch(entryName)
	}
	if len(ids) > maxBatch {
		return errTooManyEntries(len(ids))
	}
	for i, id := range ids {
		if id == "" || len(id) > 80 || !validBatchID(id) {
			return errBatchID
		}
		for _, prev := range ids[:i] { // at most 10 entries: no map needed
			if prev == id {
				return errDistinct(id)
			}
		}
	}
	return nil
}

func validBatchID(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func failure(id string, err error) batchError {
	var ae *awsapi.Error
	if !errors.As(err, &ae) {
		if ae = reasonFor(err); ae == nil {
			ae = awsapi.ErrInternal
		}
	}
	return batchError{Id: id, SenderFault: ae.Status < 500, Code: ae.Code, Message: ae.Message}
}

func (s *Service) sendMessageBatch(r *awsapi.Request) (any, error) {
	var in sendIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	total := 0
	for i := range in.Entries {
		ids[i] = in.Entries[i].Id
		if b := in.Entries[i].MessageBody; b != nil {
			total += len(*b)
		}
		sz, _ := validateAttrs(in.Entries[i].MessageAttributes)
		total += sz
	}
	if err := checkBatch(ids, "SendMessageBatchRequestEntry"); err != nil {
		return nil, err
	}
	if total > maxMessageSize {
		return nil, errBatchTooLong(total)
	}
	out := sendBatchOut{Successful: make([]sendOut, 0, len(in.Entries)), Failed: []batchError{}}
	ps := make([]*pending, 0, len(in.Entries))
	block := make([]prepared, len(in.Entries)) // one allocation for the batch
	for i := range in.Entries {
		e := &in.Entries[i]
		p, err := s.prepare(r, &info.Config, e, true, &block[i])
		if err != nil {
			var ae *awsapi.Error
			if info.Config.FIFO && errors.As(err, &ae) && (e.MessageGroupId == nil || ae.Message == "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly") {
				return nil, err // FIFO id errors fail the whole batch, as AWS does
			}
			out.Failed = append(out.Failed, failure(e.Id, err))
			continue
		}
		ps = append(ps, p)
	}
	s.publish(name, ps)
	for _, p := range ps {
		if err := p.err; err != nil {
			out.Failed = append(out.Failed, failure(p.out.Id, s.sendError(r, err)))
			continue
		}
		out.Successful = append(out.Successful, p.out)
	}
	return out, nil
}

type receiveIn struct {
	QueueUrl                    string
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
	MaxNumberOfMessages         awsapi.Int
	VisibilityTimeout           awsapi.Int
	WaitTimeSeconds             awsapi.Int
	ReceiveRequestAttemptId     string
}

type messageOut struct {
	MessageId              string
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	Attributes             map[string]string  `json:",omitempty"`
	MD5OfMessageAttributes string             `json:",omitempty"`
	MessageAttributes      map[string]msgAttr `json:",omitempty"`
}

type receiveOut struct {
	Messages []messageOut `json:",omitempty"`
}

type attemptEntry struct {
	out receiveOut
	exp time.Time
}

// ReceiveMessage leases up to MaxNumberOfMessages messages for the
// visibility timeout, long-polling up to WaitTimeSeconds for the first.
func (s *Service) receiveMessage(r *awsapi.Request) (any, error) {
	var in receiveIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	cfg := &info.Config
	max := int64(1)
	if in.MaxNumberOfMessages.Set {
		if max = in.MaxNumberOfMessages.V; max < 1 || max > maxBatch {
			return nil, errInvalidParam("Value %s for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", in.MaxNumberOfMessages.Raw)
		}
	}
	lease := visibility(cfg)
	if in.VisibilityTimeout.Set {
		if v := in.VisibilityTimeout.V; v < 0 || v > maxVisibility {
			return nil, errInvalidParam("Value %s for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= %d, if provided.", in.VisibilityTimeout.Raw, maxVisibility)
		}
		lease = time.Duration(in.VisibilityTimeout.V) * time.Second
	}
	if lease == 0 {
		lease = time.Millisecond // visible again at once
	}
	wait, _ := strconv.Atoi(cfg.Attributes["ReceiveMessageWaitTimeSeconds"])
	if in.WaitTimeSeconds.Set {
		if v := in.WaitTimeSeconds.V; v < 0 || v > maxWait {
			return nil, errInvalidParam("Value %s for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", in.WaitTimeSeconds.Raw)
		}
		wait = int(in.WaitTimeSeconds.V)
	}
	attemptKey := ""
	if cfg.FIFO && in.ReceiveRequestAttemptId != "" {
		attemptKey = name + "\x00" + r.AccessKey + "\x00" + in.ReceiveRequestAttemptId
		s.mu.Lock()
		a, ok := s.attempt[attemptKey]
		s.mu.Unlock()
		if ok && time.Now().Before(a.exp) {
			return a.out, nil
		}
	}
	// FIFO: several messages of a group may come in one receive, in order
	// (SQS Developer Guide "FIFO queue logic"). A long poll ends when the
	// client goes away or the service shuts down (Stop).
	ctx := r.Context()
	ds, err := s.b.Get(ctx, name, core.GetOptions{Max: int(max), Lease: lease, Wait: time.Duration(wait) * time.Second, GroupBatch: true, Stop: s.ctx.Done()})
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil, errNoQueue(r)
		}
		if ctx.Err() != nil || s.ctx.Err() != nil {
			return receiveOut{}, nil
		}
		return nil, err
	}
	sysNames := append(append([]string(nil), in.AttributeNames...), in.MessageSystemAttributeNames...)
	out := receiveOut{}
	if len(ds) > 0 {
		out.Messages = make([]messageOut, 0, len(ds))
	}
	// The receipt handles share one buffer (one allocation per receive).
	n := 0
	for _, d := range ds {
		n += handleLen(len(name), len(d.Message.ID))
	}
	hb := make([]byte, 0, n)
	for _, d := range ds {
		start := len(hb)
		hb = appendHandle(hb, name, d.ID, d.Message.ID)
		h := unsafe.String(&hb[start], len(hb)-start) // hb's bytes are never rewritten
		out.Messages = append(out.Messages, s.messageOut(r, d, h, sysNames, in.MessageAttributeNames))
	}
	if attemptKey != "" && len(out.Messages) > 0 {
		s.mu.Lock()
		now := time.Now()
		for k, a := range s.attempt {
			if now.After(a.exp) {
				delete(s.attempt, k)
			}
		}
		s.attempt[attemptKey] = attemptEntry{out: out, exp: now.Add(min(lease, dedupWindow))}
		s.mu.Unlock()
	}
	return out, nil
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// messageOut renders a delivery with the system and message attributes asked for.
func (s *Service) messageOut(r *awsapi.Request, d *core.Delivery, handle string, sysNames, attrNames []string) messageOut {
	m := d.Message
	sum := m.BodyMD5
	if sum == "" {
		sum = md5Hex(m.Body) // published elsewhere, or recovered from the store
	}
	// Message bodies are never written in place once published, so the
	// body string can share their bytes.
	o := messageOut{MessageId: m.ID, ReceiptHandle: handle, MD5OfBody: sum,
		Body: unsafe.String(unsafe.SliceData(m.Body), len(m.Body))}
	if len(sysNames) > 0 {
		all := map[string]string{
			"SenderId":                         m.Props.UserID,
			"SentTimestamp":                    ms(m.SentAt),
			"ApproximateReceiveCount":          strconv.Itoa(d.DeliveryCount + s.priorReceives(m)),
			"ApproximateFirstReceiveTimestamp": ms(d.FirstDelivery),
		}
		if all["SenderId"] == "" {
			all["SenderId"] = s.opts.AccountID
		}
		if m.GroupID != "" {
			all["MessageGroupId"] = m.GroupID
		}
		if m.DedupID != "" {
			dd := m.DedupID
			if _, after, ok := cutNUL(dd); ok {
				dd = after
			}
			all["MessageDeduplicationId"] = dd
		}
		if m.Sequence != 0 {
			all["SequenceNumber"] = fmt.Sprintf("%020d", m.Sequence)
		}
		if t, ok := m.Props.Headers[hdrTrace].(string); ok {
			all["AWSTraceHeader"] = t
		}
		if src, ok := m.Props.Headers["x-first-death-queue"].(string); ok {
			all["DeadLetterQueueSourceArn"] = s.arn(r.Region, src)
		}
		o.Attributes = map[string]string{}
		for _, n := range sysNames {
			if n == "All" {
				o.Attributes = all
				break
			}
			if v, ok := all[n]; ok {
				o.Attributes[n] = v
			}
		}
		if len(o.Attributes) == 0 {
			o.Attributes = nil
		}
	}
	if len(attrNames) > 0 {
		o.MessageAttributes = selectAttrs(fromHeaders(m), attrNames)
		o.MD5OfMessageAttributes = md5OfAttrs(o.MessageAttributes)
	}
	return o
}

func cutNUL(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// priorReceives is how often a dead-lettered message was received in its
// source queue: SQS carries the receive count over to the dead-letter
// queue. Core dead-letters after the source's MaxDeliveries deliveries.
func (s *Service) priorReceives(m *core.Message) int {
	src, ok := m.Props.Headers["x-first-death-queue"].(string)
	if !ok || m.Props.Headers["x-first-death-reason"] != "delivery_limit" {
		return 0
	}
	info, err := s.b.Queue(src, "")
	if err != nil {
		return 0
	}
	return info.Config.MaxDeliveries
}
