package sqs_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/omnibroker/broker/config"
	"github.com/omnibroker/broker/test"
)

func TestQueueLifecycle(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 30*time.Second)

	url := mustCreate(t, c, "orders", map[string]string{"DelaySeconds": "0", "VisibilityTimeout": "45"})
	if want := "http://" + b.AWS + "/000000000000/orders"; url != want {
		t.Fatalf("url %s, want %s", url, want)
	}
	if again := mustCreate(t, c, "orders", map[string]string{"VisibilityTimeout": "45"}); again != url {
		t.Fatalf("idempotent create gave %s", again)
	}
	_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders"), Attributes: map[string]string{"DelaySeconds": "5"}})
	wantCode(t, err, "QueueAlreadyExists")
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bad name!")})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("std"), Attributes: map[string]string{"ContentBasedDeduplication": "true"}})
	wantCode(t, err, "InvalidAttributeName")
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("std"), Attributes: map[string]string{"VisibilityTimeout": "99999"}})
	wantCode(t, err, "InvalidAttributeValue")

	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
	if err != nil || *got.QueueUrl != url {
		t.Fatalf("GetQueueUrl: %v %v", got, err)
	}
	_, err = c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
	wantCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")

	for i := 0; i < 5; i++ {
		mustCreate(t, c, fmt.Sprintf("page-%d", i), nil)
	}
	l, err := c.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("page-"), MaxResults: aws.Int32(2)})
	if err != nil || len(l.QueueUrls) != 2 || l.NextToken == nil {
		t.Fatalf("ListQueues page 1: %+v %v", l, err)
	}
	var all []string
	all = append(all, l.QueueUrls...)
	for l.NextToken != nil {
		l, err = c.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("page-"), MaxResults: aws.Int32(2), NextToken: l.NextToken})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, l.QueueUrls...)
	}
	if len(all) != 5 || !strings.HasSuffix(all[4], "/page-4") {
		t.Fatalf("paged list: %v", all)
	}

	ga, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"VisibilityTimeout": "45", "DelaySeconds": "0", "MaximumMessageSize": "1048576",
		"MessageRetentionPeriod": "345600", "ReceiveMessageWaitTimeSeconds": "0", "QueueArn": "arn:aws:sqs:us-east-1:000000000000:orders",
		"ApproximateNumberOfMessages": "0", "SqsManagedSseEnabled": "true"} {
		if ga.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, ga.Attributes[k], v)
		}
	}
	if _, err := strconv.ParseInt(ga.Attributes["CreatedTimestamp"], 10, 64); err != nil {
		t.Errorf("CreatedTimestamp %q", ga.Attributes["CreatedTimestamp"])
	}
	_, err = c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{
		"DelaySeconds": "2", "KmsMasterKeyId": "alias/x", "Policy": `{"Version":"2012-10-17"}`, "ReceiveMessageWaitTimeSeconds": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	ga, _ = c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"DelaySeconds", "KmsMasterKeyId", "Policy", "ReceiveMessageWaitTimeSeconds"}})
	if ga.Attributes["DelaySeconds"] != "2" || ga.Attributes["KmsMasterKeyId"] != "alias/x" || ga.Attributes["ReceiveMessageWaitTimeSeconds"] != "3" || len(ga.Attributes) != 4 {
		t.Fatalf("after set: %v", ga.Attributes)
	}
	if info, _ := b.Core().Queue("orders", ""); info.Config.DeliveryDelay != 2*time.Second || !info.Config.Durable {
		t.Fatalf("core config not mapped: %+v", info.Config)
	}
	_, err = c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"FifoQueue": "true"}})
	wantCode(t, err, "InvalidAttributeName")

	if _, err := c.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: &url, Tags: map[string]string{"team": "a", "env": "dev"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagQueue(ctx, &sqs.UntagQueueInput{QueueUrl: &url, TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: &url})
	if err != nil || len(tags.Tags) != 1 || tags.Tags["team"] != "a" {
		t.Fatalf("tags %v %v", tags, err)
	}

	if _, err := c.AddPermission(ctx, &sqs.AddPermissionInput{QueueUrl: &url, Label: aws.String("p1"), AWSAccountIds: []string{"111111111111"}, Actions: []string{"ReceiveMessage"}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AddPermission(ctx, &sqs.AddPermissionInput{QueueUrl: &url, Label: aws.String("p1"), AWSAccountIds: []string{"111111111111"}, Actions: []string{"SendMessage"}})
	wantCode(t, err, "InvalidParameterValue")
	ga, _ = c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"Policy"}})
	if !strings.Contains(ga.Attributes["Policy"], `"Sid":"p1"`) || !strings.Contains(ga.Attributes["Policy"], "SQS:ReceiveMessage") {
		t.Fatalf("policy: %s", ga.Attributes["Policy"])
	}
	if _, err := c.RemovePermission(ctx, &sqs.RemovePermissionInput{QueueUrl: &url, Label: aws.String("p1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.RemovePermission(ctx, &sqs.RemovePermissionInput{QueueUrl: &url, Label: aws.String("p1")})
	wantCode(t, err, "InvalidParameterValue")

	if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &url}); err != nil {
		t.Fatal(err)
	}
	_, err = c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &url})
	wantCode(t, err, "AWS.SimpleQueueService.PurgeQueueInProgress")

	if _, err := c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &url}); err != nil {
		t.Fatal(err)
	}
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x")})
	wantCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")
	if _, err := b.Core().Queue("orders", ""); err == nil {
		t.Fatal("core queue survived DeleteQueue")
	}
}

func TestSendReceiveDelete(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 30*time.Second)
	url := mustCreate(t, c, "work", nil)

	attrs := map[string]types.MessageAttributeValue{
		"name":         {DataType: aws.String("String"), StringValue: aws.String("héllo ✓")},
		"count":        {DataType: aws.String("Number"), StringValue: aws.String("42.5")},
		"blob":         {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 255}},
		"kind":         {DataType: aws.String("String.custom"), StringValue: aws.String("c")},
		"content-type": {DataType: aws.String("String"), StringValue: aws.String("application/json")},
	}
	sent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(`{"a":1}` + "\r\n\t<&>"), MessageAttributes: attrs,
		MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-abc")}}})
	if err != nil {
		t.Fatal(err)
	}
	if *sent.MD5OfMessageAttributes != attrMD5(attrs) || sent.MD5OfMessageSystemAttributes == nil {
		t.Fatalf("send MD5s: %v vs %s", *sent.MD5OfMessageAttributes, attrMD5(attrs))
	}
	rec, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}, VisibilityTimeout: 1})
	if err != nil || len(rec.Messages) != 1 {
		t.Fatalf("receive: %+v %v", rec, err)
	}
	m := rec.Messages[0]
	if *m.MessageId != *sent.MessageId || *m.Body != `{"a":1}`+"\r\n\t<&>" || *m.MD5OfMessageAttributes != attrMD5(attrs) {
		t.Fatalf("received %+v", m)
	}
	if m.Attributes["ApproximateReceiveCount"] != "1" || m.Attributes["SenderId"] != "guest" || m.Attributes["AWSTraceHeader"] != "Root=1-abc" || m.Attributes["SentTimestamp"] == "" {
		t.Fatalf("system attributes %v", m.Attributes)
	}
	if string(m.MessageAttributes["blob"].BinaryValue) != "\x00\x01\x02\xff" || *m.MessageAttributes["kind"].DataType != "String.custom" || *m.MessageAttributes["count"].DataType != "Number" {
		t.Fatalf("attributes %+v", m.MessageAttributes)
	}
	// Prefix selection returns only matching attributes, with their own MD5.
	if sel := attrMD5(map[string]types.MessageAttributeValue{"name": attrs["name"]}); sel == "" {
		t.Fatal("md5")
	}

	// Visibility timeout: it comes back with a new handle; the old one is stale.
	var again *sqs.ReceiveMessageOutput
	test.WaitFor(t, 5*time.Second, "redelivery", func() bool {
		again, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MessageAttributeNames: []string{"na.*", "name"},
			AttributeNames: []types.QueueAttributeName{"ApproximateReceiveCount"}})
		return err == nil && len(again.Messages) == 1
	})
	m2 := again.Messages[0]
	if m2.Attributes["ApproximateReceiveCount"] != "2" || len(m2.MessageAttributes) != 1 || *m2.ReceiptHandle == *m.ReceiptHandle {
		t.Fatalf("redelivery %+v", m2)
	}
	if *m2.MD5OfMessageAttributes != attrMD5(map[string]types.MessageAttributeValue{"name": attrs["name"]}) {
		t.Fatalf("subset MD5")
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatalf("stale handle on a standard queue: %v", err)
	}
	if info, _ := b.Core().Queue("work", ""); info.Unacked != 1 {
		t.Fatalf("stale delete removed the redelivered message: %+v", info)
	}
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: m2.ReceiptHandle, VisibilityTimeout: 600}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m2.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: aws.String("garbage")})
	wantCode(t, err, "ReceiptHandleIsInvalid")
	if info, _ := b.Core().Queue("work", ""); info.Ready+info.Unacked != 0 {
		t.Fatalf("queue not empty: %+v", info)
	}

	// Validation errors.
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("bad \x01 char")})
	wantCode(t, err, "InvalidMessageContents")
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("")})
	wantCode(t, err, "MissingParameter")
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"),
		MessageAttributes: map[string]types.MessageAttributeValue{"e": {DataType: aws.String("String"), StringValue: aws.String("")}}})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 11})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 21})
	wantCode(t, err, "InvalidParameterValue")

	// A delete after the visibility timeout still removes a message that
	// nobody received since (the AWS snapshot test_delete_after_visibility_timeout).
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("slow")}); err != nil {
		t.Fatal(err)
	}
	late, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, VisibilityTimeout: 1})
	if err != nil || len(late.Messages) != 1 {
		t.Fatal(late, err)
	}
	test.WaitFor(t, 5*time.Second, "visibility timeout", func() bool {
		info, _ := b.Core().Queue("work", "")
		return info.Ready == 1
	})
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: late.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if info, _ := b.Core().Queue("work", ""); info.Ready+info.Unacked != 0 {
		t.Fatalf("late delete left the message: %+v", info)
	}

	// Delay: per message.
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("later"), DelaySeconds: 1}); err != nil {
		t.Fatal(err)
	}
	ga, _ := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessagesDelayed"}})
	if ga.Attributes["ApproximateNumberOfMessagesDelayed"] != "1" {
		t.Fatalf("delayed: %v", ga.Attributes)
	}
	r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 5})
	if err != nil || len(r.Messages) != 1 || *r.Messages[0].Body != "later" {
		t.Fatalf("delayed receive %+v %v", r, err)
	}
}

func TestLongPollWakesOnArrival(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 30*time.Second)
	url := mustCreate(t, c, "poll", nil)
	start := time.Now()
	r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1})
	if err != nil || len(r.Messages) != 0 || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("empty long poll: %v %v after %v", r, err, time.Since(start))
	}
	got := make(chan *sqs.ReceiveMessageOutput, 1)
	go func() {
		r, _ := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 20, MaxNumberOfMessages: 10})
		got <- r
	}()
	// Nothing observable says the poll is parked in the broker: give it a moment.
	time.Sleep(300 * time.Millisecond)
	sentAt := time.Now()
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("wake")}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r == nil || len(r.Messages) != 1 || *r.Messages[0].Body != "wake" {
			t.Fatalf("long poll got %+v", r)
		}
		if time.Since(sentAt) > 5*time.Second {
			t.Fatalf("long poll returned %v after the send", time.Since(sentAt))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not wake on arrival")
	}
}

func TestBatches(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 30*time.Second)
	url := mustCreate(t, c, "batch", nil)

	var entries []types.SendMessageBatchRequestEntry
	for i := 0; i < 10; i++ {
		entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprintf("e%d", i)), MessageBody: aws.String(fmt.Sprintf("m%d", i))})
	}
	entries[3].MessageBody = aws.String("bad\x00")
	res, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
	if err != nil || len(res.Successful) != 9 || len(res.Failed) != 1 || *res.Failed[0].Id != "e3" || *res.Failed[0].Code != "InvalidMessageContents" || !res.Failed[0].SenderFault {
		t.Fatalf("batch: %+v %v", res, err)
	}
	_, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: append(entries, entries...)})
	wantCode(t, err, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
	_, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries[:2:2][:1]})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{entries[0], entries[0]}})
	wantCode(t, err, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
	_, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{{Id: aws.String("a b"), MessageBody: aws.String("x")}}})
	wantCode(t, err, "AWS.SimpleQueueService.InvalidBatchEntryId")
	_, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{}})
	wantCode(t, err, "AWS.SimpleQueueService.EmptyBatchRequest")
	big := strings.Repeat("x", 600*1024)
	_, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: &big}, {Id: aws.String("b"), MessageBody: &big}}})
	wantCode(t, err, "AWS.SimpleQueueService.BatchRequestTooLong")

	var handles []types.DeleteMessageBatchRequestEntry
	var vis []types.ChangeMessageVisibilityBatchRequestEntry
	for len(handles) < 10 {
		r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Messages {
			id := aws.String(fmt.Sprintf("d%d", len(handles)))
			handles = append(handles, types.DeleteMessageBatchRequestEntry{Id: id, ReceiptHandle: m.ReceiptHandle})
			vis = append(vis, types.ChangeMessageVisibilityBatchRequestEntry{Id: id, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 100})
		}
	}
	cv, err := c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &url, Entries: vis})
	if err != nil || len(cv.Successful) != 10 {
		t.Fatalf("change visibility batch %+v %v", cv, err)
	}
	handles[9].ReceiptHandle = aws.String("not-a-handle")
	del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: handles})
	if err != nil || len(del.Successful) != 9 || len(del.Failed) != 1 || *del.Failed[0].Code != "ReceiptHandleIsInvalid" {
		t.Fatalf("delete batch %+v %v", del, err)
	}
	if info, _ := b.Core().Queue("batch", ""); info.Unacked != 1 || info.Ready != 0 {
		t.Fatalf("after batch delete: %+v", info)
	}
}

func TestMessageSizeLimits(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 60*time.Second)
	url := mustCreate(t, c, "big", nil)
	body := strings.Repeat("é", 1<<19) // 1,048,576 bytes of UTF-8
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body}); err != nil {
		t.Fatalf("1 MiB message: %v", err)
	}
	r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if err != nil || len(r.Messages) != 1 || *r.Messages[0].Body != body {
		t.Fatalf("1 MiB receive: %v", err)
	}
	over := body + "x"
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &over})
	wantCode(t, err, "InvalidParameterValue")
	if !strings.Contains(err.Error(), "Message must be shorter than 1048576 bytes") {
		t.Fatalf("message: %v", err)
	}
	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"MaximumMessageSize": "1024"}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(strings.Repeat("a", 1025))})
	if wantCode(t, err, "InvalidParameterValue"); !strings.Contains(err.Error(), "shorter than 1024 bytes") {
		t.Fatal(err)
	}
	res, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("big"), MessageBody: aws.String(strings.Repeat("a", 1025))}, {Id: aws.String("ok"), MessageBody: aws.String("a")}}})
	if err != nil || len(res.Failed) != 1 || len(res.Successful) != 1 || *res.Failed[0].Message != "One or more parameters cannot be validated. Reason: Message must be shorter than 1024 bytes." {
		t.Fatalf("batch with an oversized entry: %+v %v", res, err)
	}
}

func TestSigV4Rejection(t *testing.T) {
	b := test.StartBroker(t, test.WithUsers(config.User{Name: "alice", Password: "s3cret"}))
	ctx := ctxT(t, 30*time.Second)
	good := client(b.AWS, "alice", "s3cret")
	url := mustCreate(t, good, "secure", nil)
	_, err := client(b.AWS, "alice", "wrong").SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x")})
	wantCode(t, err, "SignatureDoesNotMatch")
	_, err = client(b.AWS, "mallory", "s3cret").ListQueues(ctx, &sqs.ListQueuesInput{})
	wantCode(t, err, "InvalidClientTokenId")
	if _, err := good.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("ok")}); err != nil {
		t.Fatal(err)
	}
	r, err := good.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"SenderId"}})
	if err != nil || len(r.Messages) != 1 || r.Messages[0].Attributes["SenderId"] != "alice" {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestRestartKeepsQueuesAndMessages(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 60*time.Second)
	url := mustCreate(t, c, "durable", map[string]string{"VisibilityTimeout": "7"})
	furl := mustCreate(t, c, "durable.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	if _, err := c.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: &url, Tags: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(fmt.Sprint("m", i)),
			MessageAttributes: map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number"), StringValue: aws.String(fmt.Sprint(i))}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &furl, MessageBody: aws.String(fmt.Sprint("f", i)), MessageGroupId: aws.String("g")}); err != nil {
			t.Fatal(err)
		}
	}
	before, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if err != nil || len(before.Messages) != 1 {
		t.Fatal(before, err)
	}
	b.Stop(t)
	b2 := test.StartBroker(t, test.WithDataDir(b.DataDir))
	c2 := client(b2.AWS, "guest", "guest")
	url2 := "http://" + b2.AWS + "/000000000000/durable"
	// A receipt handle from before the restart is stale: accepted, no effect
	// (lease ids restart with the process and must not hit another message).
	if _, err := c2.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url2, ReceiptHandle: before.Messages[0].ReceiptHandle}); err != nil {
		t.Fatalf("stale handle after restart: %v", err)
	}
	ga, err := c2.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url2, AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil || ga.Attributes["VisibilityTimeout"] != "7" || ga.Attributes["ApproximateNumberOfMessages"] != "3" {
		t.Fatalf("after restart: %v %v", ga, err)
	}
	tags, _ := c2.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: &url2})
	if tags.Tags["k"] != "v" {
		t.Fatalf("tags lost: %v", tags.Tags)
	}
	r, err := c2.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url2, MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
	if err != nil || len(r.Messages) != 3 || *r.Messages[0].MessageAttributes["n"].DataType != "Number" {
		t.Fatalf("messages after restart: %+v %v", r, err)
	}
	furl2 := "http://" + b2.AWS + "/000000000000/durable.fifo"
	var bodies []string
	for len(bodies) < 3 {
		fr, err := c2.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &furl2, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil || len(fr.Messages) == 0 {
			t.Fatalf("fifo after restart: %v %v", fr, err)
		}
		for _, m := range fr.Messages {
			bodies = append(bodies, *m.Body)
			c2.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &furl2, ReceiptHandle: m.ReceiptHandle})
		}
	}
	if strings.Join(bodies, ",") != "f0,f1,f2" {
		t.Fatalf("fifo order after restart: %v", bodies)
	}
}

func TestConcurrentSendReceive(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 60*time.Second)
	url := mustCreate(t, c, "conc", nil)
	const producers, per = 4, 50
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i += 10 {
				var es []types.SendMessageBatchRequestEntry
				for j := 0; j < 10; j++ {
					es = append(es, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(fmt.Sprintf("%d-%d", p, i+j))})
				}
				if _, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: es}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	seen := map[string]bool{}
	var mu sync.Mutex
	for cns := 0; cns < 3; cns++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				done := len(seen) == producers*per
				mu.Unlock()
				if done || ctx.Err() != nil {
					return
				}
				r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					t.Error(err)
					return
				}
				var del []types.DeleteMessageBatchRequestEntry
				for i, m := range r.Messages {
					mu.Lock()
					if seen[*m.Body] {
						t.Errorf("duplicate %s", *m.Body)
					}
					seen[*m.Body] = true
					mu.Unlock()
					del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
				}
				if len(del) > 0 {
					if res, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: del}); err != nil || len(res.Failed) > 0 {
						t.Errorf("delete: %v %v", res, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != producers*per {
		t.Fatalf("received %d of %d", len(seen), producers*per)
	}
}

// aws.host replaces the request's Host in queue URLs; lookups ignore the host.
func TestConfiguredHost(t *testing.T) {
	b := test.StartBroker(t, test.WithConfig(func(c *config.Config) { c.AWS.Host = "sqs.example.test:4566" }))
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 10*time.Second)
	url := mustCreate(t, c, "hosted", nil)
	if url != "http://sqs.example.test:4566/000000000000/hosted" {
		t.Fatalf("url %s", url)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	other := "https://sqs.eu-west-1.amazonaws.com/000000000000/hosted"
	if r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &other}); err != nil || len(r.Messages) != 1 {
		t.Fatalf("lookup by account + name: %v %v", r, err)
	}
	wrong := "http://" + b.AWS + "/111111111111/hosted"
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &wrong, MessageBody: aws.String("x")})
	wantCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")
}

// With no users configured any credentials (or none checked) are accepted.
func TestAnonymousWhenNoUsers(t *testing.T) {
	b := test.StartBroker(t, test.WithUsers())
	c := client(b.AWS, "anyone", "anything")
	ctx := ctxT(t, 10*time.Second)
	url := mustCreate(t, c, "open", map[string]string{"MessageRetentionPeriod": "60"})
	if info, _ := b.Core().Queue("open", ""); info.Config.Retention != time.Minute {
		t.Fatalf("retention not mapped: %v", info.Config.Retention)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
}

// A graceful shutdown answers pending long polls (empty, 200) instead of
// cutting their connections when the grace period ends.
func TestShutdownEndsLongPolls(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 30*time.Second)
	url := mustCreate(t, c, "poll", nil)
	type result struct {
		out *sqs.ReceiveMessageOutput
		err error
	}
	got := make(chan result, 1)
	go func() {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 20})
		got <- result{out, err}
	}()
	// Nothing observable says the poll is parked in the broker: give it a moment.
	time.Sleep(300 * time.Millisecond)
	b.Stop(t)
	r := <-got
	if r.err != nil || len(r.out.Messages) != 0 {
		t.Fatalf("long poll at shutdown: %+v %v", r.out, r.err)
	}
}
