package sqs

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

type queueURLIn struct {
	QueueUrl string
}

type queueURLOut struct {
	QueueUrl string
}

type createQueueIn struct {
	QueueName  string
	Attributes map[string]string
	Tags       map[string]string `json:"tags"`
}

// CreateQueue creates a durable core queue NAME (FIFO for FifoQueue=true /
// .fifo), or returns the URL of an existing one when the given attributes
// equal its current ones (SQS API Reference "CreateQueue").
func (s *Service) createQueue(r *awsapi.Request) (any, error) {
	var in createQueueIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.QueueName == "" {
		return nil, errMissingParam("QueueName")
	}
	fifo := in.Attributes["FifoQueue"] == "true"
	if fifo && !sqsName(in.QueueName, true) {
		return nil, errInvalidParam("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
	}
	if !fifo && !sqsName(in.QueueName, false) {
		return nil, errInvalidParam("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	if info, err := s.b.Queue(in.QueueName, ""); err == nil {
		if info.Config.Exclusive {
			return nil, errQueueExists("FifoQueue")
		}
		if err := sameAttrs(&info.Config, in.Attributes); err != nil {
			return nil, err
		}
		return queueURLOut{s.queueURL(r, in.QueueName)}, nil
	}
	cfg := core.QueueConfig{Name: in.QueueName, Durable: true, FIFO: fifo,
		VisibilityTimeout: defaultVisibility, Retention: defaultRetention * time.Second, MaxMessageSize: maxMessageSize}
	if fifo {
		cfg.DedupWindow = dedupWindow
	}
	if err := s.applyAttrs(&cfg, in.Attributes, true, fifo); err != nil {
		return nil, err
	}
	if len(in.Tags) > 50 {
		return nil, errInvalidParam("Too many tags added for queue %s.", in.QueueName)
	}
	for k, v := range in.Tags {
		cfg.Attributes[attrTagPrefix+k] = v
	}
	if _, err := s.b.DeclareQueue(cfg); err != nil {
		if errors.Is(err, core.ErrPrecondition) || errors.Is(err, core.ErrLocked) {
			return nil, errQueueExists("FifoQueue")
		}
		return nil, err
	}
	return queueURLOut{s.queueURL(r, in.QueueName)}, nil
}

// sameAttrs checks CreateQueue's attributes against an existing queue.
func sameAttrs(cfg *core.QueueConfig, attrs map[string]string) error {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := attrs[k]
		if _, ok := intAttrs[k]; ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				v = strconv.FormatInt(n, 10)
			}
		}
		cur, _ := effectiveAttr(cfg, k)
		if k == "FifoQueue" && v == "false" && !cfg.FIFO {
			continue
		}
		if cur != v {
			return errQueueExists(k)
		}
	}
	return nil
}

type getQueueURLIn struct {
	QueueName              string
	QueueOwnerAWSAccountId string
}

func (s *Service) getQueueURL(r *awsapi.Request) (any, error) {
	var in getQueueURLIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.QueueName == "" {
		return nil, errMissingParam("QueueName")
	}
	if in.QueueOwnerAWSAccountId != "" && in.QueueOwnerAWSAccountId != s.opts.AccountID {
		return nil, errNoQueue(r)
	}
	info, err := s.b.Queue(in.QueueName, "")
	if err != nil || info.Config.Exclusive {
		return nil, errNoQueue(r)
	}
	return queueURLOut{s.queueURL(r, in.QueueName)}, nil
}

type listIn struct {
	QueueNamePrefix string
	QueueUrl        string
	MaxResults      awsapi.Int
	NextToken       string
}

type listQueuesOut struct {
	QueueUrls []string `json:",omitempty"`
	NextToken string   `json:",omitempty"`
}

// page applies MaxResults/NextToken to sorted names: the token is the
// base64 of the last name returned.
func page(names []string, in listIn) ([]string, string, error) {
	sort.Strings(names)
	if in.NextToken != "" {
		last, err := base64.StdEncoding.DecodeString(in.NextToken)
		if err != nil {
			return nil, "", errInvalidParam("Invalid or expired next token.")
		}
		i := sort.SearchStrings(names, string(last))
		for i < len(names) && names[i] <= string(last) {
			i++
		}
		names = names[i:]
	}
	limit := 1000
	if in.MaxResults.Set {
		if in.MaxResults.V < 1 || in.MaxResults.V > 1000 {
			return nil, "", errInvalidParam("Value %s for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", in.MaxResults.Raw)
		}
		limit = int(in.MaxResults.V)
	}
	next := ""
	if len(names) > limit {
		names = names[:limit]
		if in.MaxResults.Set {
			next = base64.StdEncoding.EncodeToString([]byte(names[limit-1]))
		}
	}
	return names, next, nil
}

// sqsQueues lists the core queues an SQS client can address: durable,
// not exclusive, with a valid SQS name.
func (s *Service) sqsQueues(keep func(*core.QueueConfig) bool) []string {
	var names []string
	for _, q := range s.b.Queues() {
		c := &q.Config
		if !c.Durable || c.Exclusive || !sqsName(c.Name, c.FIFO) {
			continue
		}
		if keep == nil || keep(c) {
			names = append(names, c.Name)
		}
	}
	return names
}

func (s *Service) listQueues(r *awsapi.Request) (any, error) {
	var in listIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	names, next, err := page(s.sqsQueues(func(c *core.QueueConfig) bool {
		return strings.HasPrefix(c.Name, in.QueueNamePrefix)
	}), in)
	if err != nil {
		return nil, err
	}
	out := listQueuesOut{NextToken: next}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, s.queueURL(r, n))
	}
	return out, nil
}

type deadLetterSourcesOut struct {
	QueueUrls []string `json:"queueUrls"`
	NextToken string   `json:",omitempty"`
}

func (s *Service) listDeadLetterSourceQueues(r *awsapi.Request) (any, error) {
	var in listIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, _, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	names, next, err := page(s.sqsQueues(func(c *core.QueueConfig) bool {
		return c.HasDeadLetter && c.DeadLetterExchange == "" && c.DeadLetterRoutingKey == name
	}), in)
	if err != nil {
		return nil, err
	}
	out := deadLetterSourcesOut{QueueUrls: []string{}, NextToken: next}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, s.queueURL(r, n))
	}
	return out, nil
}

func (s *Service) deleteQueue(r *awsapi.Request) (any, error) {
	var in queueURLIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, _, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if _, err := s.b.DeleteQueue(name, false, false); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil, errNoQueue(r)
		}
		return nil, err
	}
	s.forgetQueue(name)
	return nil, nil
}

// forgetQueue drops the bridge's per-queue state of a deleted queue.
func (s *Service) forgetQueue(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.purged, name)
	for k := range s.sent {
		if q, _, _ := strings.Cut(k, "\x00"); q == name {
			delete(s.sent, k)
		}
	}
}

type getAttrsIn struct {
	QueueUrl       string
	AttributeNames []string
}

type attrsOut struct {
	Attributes map[string]string `json:",omitempty"`
}

func (s *Service) getQueueAttributes(r *awsapi.Request) (any, error) {
	var in getAttrsIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	_, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	attrs, err := s.queueAttributes(info, r.Region, in.AttributeNames)
	if err != nil {
		return nil, err
	}
	return attrsOut{attrs}, nil
}

type setAttrsIn struct {
	QueueUrl   string
	Attributes map[string]string
}

func (s *Service) setQueueAttributes(r *awsapi.Request) (any, error) {
	var in setAttrsIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	for _, ro := range readOnlyAttrs {
		if _, ok := in.Attributes[ro]; ok {
			return nil, errAttrName("Unknown Attribute %s.", ro)
		}
	}
	return nil, s.updateQueue(r, name, info, func(cfg *core.QueueConfig) error {
		return s.applyAttrs(cfg, in.Attributes, false, info.Config.FIFO)
	})
}

// updateQueue applies fn to a private copy of the queue's settings (fn may
// look up other queues) and stores the result.
func (s *Service) updateQueue(r *awsapi.Request, name string, info core.QueueInfo, fn func(*core.QueueConfig) error) error {
	cfg := info.Config
	attrs := make(map[string]string, len(cfg.Attributes)+4)
	for k, v := range cfg.Attributes {
		attrs[k] = v
	}
	cfg.Attributes = attrs
	if err := fn(&cfg); err != nil {
		return err
	}
	err := s.b.UpdateQueue(name, func(c *core.QueueConfig) error {
		*c = cfg
		return nil
	})
	if errors.Is(err, core.ErrNotFound) {
		return errNoQueue(r)
	}
	return err
}

func (s *Service) purgeQueue(r *awsapi.Request) (any, error) {
	var in queueURLIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, _, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	s.mu.Lock()
	if last, ok := s.purged[name]; ok && now.Sub(last) < 60*time.Second {
		s.mu.Unlock()
		return nil, errPurgeInProgress(name)
	}
	s.purged[name] = now
	s.mu.Unlock()
	if _, err := s.b.PurgeQueue(name, ""); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil, errNoQueue(r)
		}
		return nil, err
	}
	return nil, nil
}

type tagIn struct {
	QueueUrl string
	Tags     map[string]string
	TagKeys  []string
}

type tagsOut struct {
	Tags map[string]string `json:",omitempty"`
}

func (s *Service) tagQueue(r *awsapi.Request) (any, error) {
	var in tagIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, errMissingParam("Tags")
	}
	return nil, s.updateQueue(r, name, info, func(cfg *core.QueueConfig) error {
		for k, v := range in.Tags {
			cfg.Attributes[attrTagPrefix+k] = v
		}
		if len(tags(cfg)) > 50 {
			return errInvalidParam("Too many tags added for queue %s.", name)
		}
		return nil
	})
}

func (s *Service) untagQueue(r *awsapi.Request) (any, error) {
	var in tagIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, errMissingParam("TagKeys")
	}
	return nil, s.updateQueue(r, name, info, func(cfg *core.QueueConfig) error {
		for _, k := range in.TagKeys {
			delete(cfg.Attributes, attrTagPrefix+k)
		}
		return nil
	})
}

func (s *Service) listQueueTags(r *awsapi.Request) (any, error) {
	var in queueURLIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	_, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return tagsOut{tags(&info.Config)}, nil
}

type permissionIn struct {
	QueueUrl      string
	Label         string
	AWSAccountIds []string
	Actions       []string
}

type policyDoc struct {
	Version   string
	Id        string
	Statement []policyStatement
}

type policyStatement struct {
	Sid       string
	Effect    string
	Principal map[string]any
	Action    any
	Resource  string
}

func validLabel(l string) bool {
	return l != "" && len(l) <= 80 && strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

// AddPermission adds a statement labelled Label to the queue's Policy.
func (s *Service) addPermission(r *awsapi.Request) (any, error) {
	var in permissionIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	switch {
	case in.Label == "":
		return nil, errMissingParam("Label")
	case !validLabel(in.Label):
		return nil, errInvalidParam("Value %s for parameter Label is invalid. Reason: Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.", in.Label)
	case len(in.AWSAccountIds) == 0:
		return nil, errMissingParam("AWSAccountIds")
	case len(in.Actions) == 0:
		return nil, errMissingParam("Actions")
	}
	arn := s.arn(r.Region, name)
	return nil, s.updateQueue(r, name, info, func(cfg *core.QueueConfig) error {
		doc := policyDoc{Version: "2008-10-17", Id: arn + "/SQSDefaultPolicy"}
		if p := cfg.Attributes["Policy"]; p != "" {
			_ = json.Unmarshal([]byte(p), &doc)
		}
		for _, st := range doc.Statement {
			if st.Sid == in.Label {
				return errInvalidParam("Value %s for parameter Label is invalid. Reason: Already exists.", in.Label)
			}
		}
		var principals []string
		for _, a := range in.AWSAccountIds {
			principals = append(principals, "arn:aws:iam::"+a+":root")
		}
		var acts []string
		for _, a := range in.Actions {
			acts = append(acts, "SQS:"+a)
		}
		st := policyStatement{Sid: in.Label, Effect: "Allow", Principal: map[string]any{"AWS": oneOrMany(principals)},
			Action: oneOrMany(acts), Resource: arn}
		doc.Statement = append(doc.Statement, st)
		v, _ := json.Marshal(doc)
		cfg.Attributes["Policy"] = string(v)
		return nil
	})
}

func oneOrMany(s []string) any {
	if len(s) == 1 {
		return s[0]
	}
	return s
}

func (s *Service) removePermission(r *awsapi.Request) (any, error) {
	var in permissionIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, info, err := s.lookup(r, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.Label == "" {
		return nil, errMissingParam("Label")
	}
	return nil, s.updateQueue(r, name, info, func(cfg *core.QueueConfig) error {
		var doc policyDoc
		if p := cfg.Attributes["Policy"]; p != "" {
			_ = json.Unmarshal([]byte(p), &doc)
		}
		for i, st := range doc.Statement {
			if st.Sid == in.Label {
				doc.Statement = append(doc.Statement[:i], doc.Statement[i+1:]...)
				if len(doc.Statement) == 0 {
					delete(cfg.Attributes, "Policy")
				} else {
					v, _ := json.Marshal(doc)
					cfg.Attributes["Policy"] = string(v)
				}
				return nil
			}
		}
		return errInvalidParam("Value %s for parameter Label is invalid. Reason: can't find label.", in.Label)
	})
}
