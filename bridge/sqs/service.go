package sqs

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

// Options configure the SQS service.
type Options struct {
	Logger    *slog.Logger
	Region    string // default region for ARNs
	AccountID string // the one account; queue URLs are /ACCOUNT/NAME
}

// Service is the SQS API on a core broker.
type Service struct {
	b    *core.Broker
	log  *slog.Logger
	opts Options

	ctx    context.Context // cancelled by Close: ends long polls
	cancel context.CancelFunc

	mu      sync.Mutex
	purged  map[string]time.Time  // last PurgeQueue per queue
	sent    map[string]dedupEntry // FIFO: queue\x00dedup id -> original message
	fresh   []dedupRecord         // sent entries not yet journalled (dedup.go)
	journal bool                  // FIFO deduplication ids are journalled
	attempt map[string]attemptEntry
	moves   map[string]*moveTask // message move tasks by handle
	wg      sync.WaitGroup
}

type dedupEntry struct {
	id, seq string
	exp     time.Time
}

// New returns the SQS service; register it on a dispatcher with Register.
func New(b *core.Broker, o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{b: b, log: o.Logger, opts: o, ctx: ctx, cancel: cancel, purged: map[string]time.Time{},
		sent: map[string]dedupEntry{}, attempt: map[string]attemptEntry{}, moves: map[string]*moveTask{}}
	if b != nil && b.Durable() {
		s.journal = true
		s.loadDedup()
		s.loadMoves()
		s.wg.Add(1)
		go s.journalDedup()
	}
	return s
}

// Close ends pending long polls and message move tasks. Idempotent.
func (s *Service) Close(context.Context) error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// Register adds the SQS API (JSON 1.0 target prefix AmazonSQS, and Query)
// to srv.
func (s *Service) Register(srv *awsapi.Server) {
	srv.Register(awsapi.Service{
		Name:           "sqs",
		TargetPrefix:   "AmazonSQS",
		JSONTypePrefix: "com.amazonaws.sqs#",
		XMLNamespace:   "http://queue.amazonaws.com/doc/2012-11-05/",
		Actions:        s.actions(),
		QueryRules:     queryRules,
		XMLRules:       xmlRules,
		Owns: func(r *http.Request, form url.Values) bool {
			return form.Has("QueueUrl") || r.URL.Path != "/"
		},
		MapError: reasonFor,
	})
	// Graceful shutdown: pending long polls answer at once (empty) instead
	// of holding the HTTP drain for up to 20 s.
	srv.OnShutdown(s.cancel)
}

func (s *Service) actions() map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"CreateQueue":                  s.createQueue,
		"GetQueueUrl":                  s.getQueueURL,
		"ListQueues":                   s.listQueues,
		"DeleteQueue":                  s.deleteQueue,
		"GetQueueAttributes":           s.getQueueAttributes,
		"SetQueueAttributes":           s.setQueueAttributes,
		"PurgeQueue":                   s.purgeQueue,
		"TagQueue":                     s.tagQueue,
		"UntagQueue":                   s.untagQueue,
		"ListQueueTags":                s.listQueueTags,
		"AddPermission":                s.addPermission,
		"RemovePermission":             s.removePermission,
		"ListDeadLetterSourceQueues":   s.listDeadLetterSourceQueues,
		"SendMessage":                  s.sendMessage,
		"SendMessageBatch":             s.sendMessageBatch,
		"ReceiveMessage":               s.receiveMessage,
		"DeleteMessage":                s.deleteMessage,
		"DeleteMessageBatch":           s.deleteMessageBatch,
		"ChangeMessageVisibility":      s.changeMessageVisibility,
		"ChangeMessageVisibilityBatch": s.changeMessageVisibilityBatch,
		"StartMessageMoveTask":         s.startMessageMoveTask,
		"CancelMessageMoveTask":        s.cancelMessageMoveTask,
		"ListMessageMoveTasks":         s.listMessageMoveTasks,
	}
}

// queryRules reshape Query parameters into the JSON 1.0 members (the
// locationName / flattened traits of the SQS 2012-11-05 model).
var queryRules = awsapi.QueryRules{
	"Attribute":                      {JSON: "Attributes", Kind: awsapi.Map},
	"AttributeName":                  {JSON: "AttributeNames", Kind: awsapi.List},
	"MessageAttribute":               {JSON: "MessageAttributes", Kind: awsapi.Map},
	"MessageAttributeName":           {JSON: "MessageAttributeNames", Kind: awsapi.List},
	"MessageSystemAttribute":         {JSON: "MessageSystemAttributes", Kind: awsapi.Map},
	"MessageSystemAttributeName":     {JSON: "MessageSystemAttributeNames", Kind: awsapi.List},
	"Tag":                            {JSON: "Tags", Kind: awsapi.Map, Key: "Key", Value: "Value"},
	"TagKey":                         {JSON: "TagKeys", Kind: awsapi.List},
	"AWSAccountId":                   {JSON: "AWSAccountIds", Kind: awsapi.List},
	"ActionName":                     {JSON: "Actions", Kind: awsapi.List},
	"SendMessageBatchRequestEntry":   {JSON: "Entries", Kind: awsapi.List},
	"DeleteMessageBatchRequestEntry": {JSON: "Entries", Kind: awsapi.List},
	"ChangeMessageVisibilityBatchRequestEntry": {JSON: "Entries", Kind: awsapi.List},
	"StringListValue":                          {JSON: "StringListValues", Kind: awsapi.List},
	"BinaryListValue":                          {JSON: "BinaryListValues", Kind: awsapi.List},
}

// xmlRules name the flattened lists and maps of SQS Query responses.
var xmlRules = awsapi.XMLRules{
	"QueueUrls":                     {Name: "QueueUrl", Flat: true},
	"queueUrls":                     {Name: "QueueUrl", Flat: true},
	"Messages":                      {Name: "Message", Flat: true},
	"Attributes":                    {Name: "Attribute", Kind: awsapi.Map, Flat: true},
	"MessageAttributes":             {Name: "MessageAttribute", Kind: awsapi.Map, Flat: true},
	"Tags":                          {Name: "Tag", Kind: awsapi.Map, Flat: true, Key: "Key", Value: "Value"},
	"SendMessageBatch.Successful":   {Name: "SendMessageBatchResultEntry", Flat: true},
	"DeleteMessageBatch.Successful": {Name: "DeleteMessageBatchResultEntry", Flat: true},
	"ChangeMessageVisibilityBatch.Successful": {Name: "ChangeMessageVisibilityBatchResultEntry", Flat: true},
	"Failed":           {Name: "BatchResultErrorEntry", Flat: true},
	"Results":          {Name: "ListMessageMoveTasksResultEntry", Flat: true},
	"StringListValues": {Name: "StringListValue", Flat: true},
	"BinaryListValues": {Name: "BinaryListValue", Flat: true},
}

// queueURL is http://HOST/ACCOUNT/NAME.
func (s *Service) queueURL(r *awsapi.Request, name string) string {
	scheme := "http"
	if r.HTTP.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.URLHost + "/" + s.opts.AccountID + "/" + name
}

// arn is arn:aws:sqs:REGION:ACCOUNT:NAME.
func (s *Service) arn(region, name string) string {
	if region == "" {
		region = s.opts.Region
	}
	return "arn:aws:sqs:" + region + ":" + s.opts.AccountID + ":" + name
}

// nameFromARN returns the queue name of an SQS ARN of this account.
func (s *Service) nameFromARN(arn string) (string, bool) {
	p := strings.Split(arn, ":")
	if len(p) != 6 || p[0] != "arn" || p[2] != "sqs" || p[4] != s.opts.AccountID || p[5] == "" {
		return "", false
	}
	return p[5], true
}

// queueName resolves a QueueUrl (or, for Query requests posted to the
// queue URL itself, the path) to a queue name. The URL's host and region
// are ignored; the account must be ours.
func (s *Service) queueName(r *awsapi.Request, queueURL string) (string, error) {
	if queueURL == "" && r.Protocol == awsapi.Query && r.HTTP.URL.Path != "/" {
		queueURL = r.HTTP.URL.Path
	}
	if queueURL == "" {
		return "", errMissingParam("QueueUrl")
	}
	path := queueURL
	if i := strings.Index(path, "://"); i >= 0 {
		path = path[i+3:]
		j := strings.IndexByte(path, '/')
		if j < 0 {
			return "", errNoQueue(r)
		}
		path = path[j:]
	}
	path = strings.Trim(path, "/")
	acct, name, ok := strings.Cut(path, "/")
	if !ok {
		return "", errNoQueue(r)
	}
	if acct != s.opts.AccountID || name == "" || strings.Contains(name, "/") {
		return "", errNoQueue(r)
	}
	return name, nil
}

// lookup resolves a QueueUrl and returns the queue's snapshot.
func (s *Service) lookup(r *awsapi.Request, queueURL string) (string, core.QueueInfo, error) {
	name, err := s.queueName(r, queueURL)
	if err != nil {
		return "", core.QueueInfo{}, err
	}
	info, err := s.b.Queue(name, "")
	if err != nil {
		if errors.Is(err, core.ErrNotFound) || errors.Is(err, core.ErrLocked) {
			return "", core.QueueInfo{}, errNoQueue(r)
		}
		return "", core.QueueInfo{}, err
	}
	if info.Config.Exclusive {
		return "", core.QueueInfo{}, errNoQueue(r)
	}
	return name, info, nil
}

// sqsName reports whether name is a valid SQS queue name: 1-80
// alphanumerics, hyphens and underscores, plus ".fifo" for FIFO queues.
func sqsName(name string, fifo bool) bool {
	base := name
	if fifo {
		var ok bool
		if base, ok = strings.CutSuffix(name, ".fifo"); !ok {
			return false
		}
	}
	if len(name) < 1 || len(name) > 80 || base == "" {
		return false
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
