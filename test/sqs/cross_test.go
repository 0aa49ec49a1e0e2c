package sqs_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/go-stomp/stomp/v3"
	"github.com/omnibroker/broker/test"
	amqp "github.com/rabbitmq/amqp091-go"
)

// SQS and AMQP share queue NAME, its messages and its lease model.
func TestCrossProtocolAMQP(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 30*time.Second)
	url := mustCreate(t, c, "xq", nil)

	conn, err := amqp.Dial("amqp://guest:guest@" + b.AMQP + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}

	// SQS -> AMQP: attributes become headers, content-type the property.
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("to amqp"), MessageAttributes: map[string]types.MessageAttributeValue{
		"s":            {DataType: aws.String("String"), StringValue: aws.String("v")},
		"n":            {DataType: aws.String("Number"), StringValue: aws.String("7")},
		"bin":          {DataType: aws.String("Binary"), BinaryValue: []byte{1, 2}},
		"content-type": {DataType: aws.String("String"), StringValue: aws.String("text/plain")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume("xq", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var d amqp.Delivery
	select {
	case d = <-deliveries:
	case <-time.After(5 * time.Second):
		t.Fatal("AMQP consumer got nothing")
	}
	if string(d.Body) != "to amqp" || d.ContentType != "text/plain" || d.Headers["s"] != "v" || d.Headers["n"] != "7" {
		t.Fatalf("AMQP delivery: body %q ct %q headers %v", d.Body, d.ContentType, d.Headers)
	}
	if bin, _ := d.Headers["bin"].([]byte); string(bin) != "\x01\x02" {
		t.Fatalf("binary header %T %v", d.Headers["bin"], d.Headers["bin"])
	}
	if err := d.Ack(false); err != nil {
		t.Fatal(err)
	}
	if err := ch.Cancel(d.ConsumerTag, false); err != nil {
		t.Fatal(err)
	}

	// AMQP -> SQS: typed headers become typed attributes with a matching MD5.
	err = ch.PublishWithContext(ctx, "", "xq", false, false, amqp.Publishing{Body: []byte("to sqs"), ContentType: "application/json",
		DeliveryMode: amqp.Persistent, Headers: amqp.Table{"count": int32(5), "name": "x", "ok": true}})
	if err != nil {
		t.Fatal(err)
	}
	var r *sqs.ReceiveMessageOutput
	test.WaitFor(t, 5*time.Second, "AMQP message in SQS", func() bool {
		r, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MessageAttributeNames: []string{"All"}, VisibilityTimeout: 1})
		return err == nil && len(r.Messages) == 1
	})
	m := r.Messages[0]
	want := map[string]types.MessageAttributeValue{
		"count":        {DataType: aws.String("Number"), StringValue: aws.String("5")},
		"name":         {DataType: aws.String("String"), StringValue: aws.String("x")},
		"ok":           {DataType: aws.String("String"), StringValue: aws.String("true")},
		"content-type": {DataType: aws.String("String"), StringValue: aws.String("application/json")},
	}
	if *m.Body != "to sqs" || len(m.MessageAttributes) != len(want) || *m.MD5OfMessageAttributes != attrMD5(want) {
		t.Fatalf("SQS view of AMQP message: %+v", m)
	}
	for k, v := range want {
		if *m.MessageAttributes[k].StringValue != *v.StringValue || *m.MessageAttributes[k].DataType != *v.DataType {
			t.Fatalf("attribute %s: %+v", k, m.MessageAttributes[k])
		}
	}

	// One lease model: the SQS visibility timeout expires and the message
	// goes to an AMQP consumer, flagged redelivered.
	deliveries, err = ch.Consume("xq", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d = <-deliveries:
		if string(d.Body) != "to sqs" || !d.Redelivered {
			t.Fatalf("after visibility timeout: %q redelivered=%v", d.Body, d.Redelivered)
		}
		d.Ack(false)
	case <-time.After(10 * time.Second):
		t.Fatal("message did not come back after the visibility timeout")
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatalf("stale delete after AMQP redelivery: %v", err)
	}
}

func TestCrossProtocolSTOMP(t *testing.T) {
	b := test.StartBroker(t)
	c := client(b.AWS, "guest", "guest")
	ctx := ctxT(t, 30*time.Second)
	url := mustCreate(t, c, "sq", nil)
	conn, err := stomp.Dial("tcp", b.STOMP, stomp.ConnOpt.Login("guest", "guest"), stomp.ConnOpt.Host("/"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Disconnect()
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("to stomp"),
		MessageAttributes: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String("v")}}}); err != nil {
		t.Fatal(err)
	}
	sub, err := conn.Subscribe("/queue/sq", stomp.AckClient)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-sub.C:
		if msg.Err != nil || string(msg.Body) != "to stomp" || msg.Header.Get("k") != "v" {
			t.Fatalf("STOMP message: %+v", msg)
		}
		conn.Ack(msg)
	case <-time.After(5 * time.Second):
		t.Fatal("STOMP subscriber got nothing")
	}
	sub.Unsubscribe()
	if err := conn.Send("/queue/sq", "text/plain", []byte("from stomp"), stomp.SendOpt.Header("tag", "t1"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	var r *sqs.ReceiveMessageOutput
	test.WaitFor(t, 5*time.Second, "STOMP message in SQS", func() bool {
		r, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MessageAttributeNames: []string{"All"}})
		return err == nil && len(r.Messages) == 1
	})
	m := r.Messages[0]
	if *m.Body != "from stomp" || m.MessageAttributes["tag"].StringValue == nil || *m.MessageAttributes["tag"].StringValue != "t1" {
		t.Fatalf("SQS view of STOMP message: %+v %+v", m, m.MessageAttributes)
	}
	if *m.MD5OfMessageAttributes != attrMD5(m.MessageAttributes) {
		t.Fatal("attribute MD5 mismatch")
	}
}
