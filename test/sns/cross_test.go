package sns_test

import (
	"encoding/json"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/go-stomp/stomp/v3"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/omnibroker/broker/test"
)

func mqttClient(t *testing.T, addr, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetUsername("guest").SetPassword("guest").SetCleanSession(true).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func amqpChannel(t *testing.T, addr string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial("amqp://guest:guest@" + addr + "/")
	if err != nil {
		t.Fatalf("amqp dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// MQTT publish to orders/eu and AMQP publish to amq.topic orders.eu reach
// the SQS subscribers of SNS topic "orders" (ARCHITECTURE.md: topic T is
// the subtree T of amq.topic), filter policies applying to the headers.
func TestOtherProtocolsReachSNSSubscribers(t *testing.T) {
	e := start(t)
	topic := e.topic(t, "orders", nil)
	allURL, allARN := e.queue(t, "orders-all", nil)
	euURL, euARN := e.queue(t, "orders-eu-only", nil)
	e.subscribe(t, topic, allARN, nil)
	e.subscribe(t, topic, euARN, map[string]string{"FilterPolicy": `{"region": ["eu"]}`})

	mq := mqttClient(t, e.b.MQTT, "cross-pub")
	if tok := mq.Publish("orders/eu", 1, false, "from mqtt"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt publish: %v", tok.Error())
	}
	ch := amqpChannel(t, e.b.AMQP)
	if err := ch.Publish("amq.topic", "orders.eu", false, false, amqp.Publishing{Body: []byte("from amqp"), DeliveryMode: amqp.Persistent,
		Headers: amqp.Table{"region": "eu"}}); err != nil {
		t.Fatal(err)
	}
	// Not T's subtree: "ordersx" and "other.orders".
	ch.Publish("amq.topic", "ordersx", false, false, amqp.Publishing{Body: []byte("no")})
	ch.Publish("amq.topic", "other.orders", false, false, amqp.Publishing{Body: []byte("no")})

	got := e.receive(t, allURL, 2, 10*time.Second)
	var msgs []string
	for _, b := range got {
		var env envelope
		if err := json.Unmarshal([]byte(b), &env); err != nil || env.Type != "Notification" || env.TopicArn != topic || env.Signature == "" {
			t.Fatalf("envelope %s: %v", b, err)
		}
		msgs = append(msgs, env.Message)
	}
	sort.Strings(msgs)
	if strings.Join(msgs, ",") != "from amqp,from mqtt" {
		t.Fatalf("orders subscribers got %v", msgs)
	}
	eu := e.receive(t, euURL, 1, 5*time.Second)
	if len(eu) != 1 || !strings.Contains(eu[0], `"Message":"from amqp"`) || !strings.Contains(eu[0], `"region":{"Type":"String","Value":"eu"}`) {
		t.Fatalf("filtered subscriber got %v", eu)
	}
	if more := e.receive(t, allURL, 1, 1500*time.Millisecond); len(more) != 0 {
		t.Fatalf("messages outside the subtree delivered: %v", more)
	}
}

// An SNS Publish to "orders" reaches MQTT subscribers of orders/#, STOMP
// subscribers of /topic/orders and AMQP queues bound with orders.#.
func TestSNSPublishReachesOtherProtocols(t *testing.T) {
	e := start(t)
	ctx := ctxT(t, 30*time.Second)
	topic := e.topic(t, "orders", nil)

	mq := mqttClient(t, e.b.MQTT, "cross-sub")
	mqttGot := make(chan string, 4)
	if tok := mq.Subscribe("orders/#", 1, func(_ paho.Client, m paho.Message) { mqttGot <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt subscribe: %v", tok.Error())
	}

	nc, err := net.Dial("tcp", e.b.STOMP)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := stomp.Connect(nc, stomp.ConnOpt.Login("guest", "guest"), stomp.ConnOpt.Host("/"))
	if err != nil {
		t.Fatalf("stomp connect: %v", err)
	}
	t.Cleanup(func() { sc.Disconnect() })
	ssub, err := sc.Subscribe("/topic/orders", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}

	ch := amqpChannel(t, e.b.AMQP)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "orders.#", "amq.topic", false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}

	// The STOMP and MQTT subscriptions are bound once their SUBSCRIBE was
	// processed; publish until the slowest of them has one.
	msg := "sns says hi"
	pub := must[*sns.PublishOutput](t)(e.sns.Publish(ctx, &sns.PublishInput{TopicArn: &topic, Message: &msg,
		MessageAttributes: map[string]types.MessageAttributeValue{"region": {DataType: aws.String("String"), StringValue: aws.String("eu")}}}))
	_ = pub
	select {
	case d := <-deliveries:
		if string(d.Body) != msg || d.RoutingKey != "orders" || d.Headers["region"] != "eu" {
			t.Fatalf("amqp delivery %q key %q headers %v", d.Body, d.RoutingKey, d.Headers)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no AMQP delivery")
	}
	select {
	case got := <-mqttGot:
		if got != msg {
			t.Fatalf("mqtt got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no MQTT delivery")
	}
	select {
	case m := <-ssub.C:
		if m.Err != nil || string(m.Body) != msg {
			t.Fatalf("stomp got %v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no STOMP delivery")
	}
}

// Topics, subscriptions (with their filter policies) and pending
// deliveries survive a restart.
func TestDurableAcrossRestart(t *testing.T) {
	b := test.StartBroker(t)
	e := attach(t, b)
	ctx := ctxT(t, 60*time.Second)
	topic := e.topic(t, "durable", map[string]string{"DisplayName": "D"})
	_, qarn := e.queue(t, "durable-q", nil)
	sub := e.subscribe(t, topic, qarn, map[string]string{"FilterPolicy": `{"keep": ["yes"]}`, "RawMessageDelivery": "true"})
	ep := newEndpoint(t)
	ep.tolerant = true
	ep.fail.Store(1 << 30) // keeps the HTTP deliveries pending
	must[*sns.SubscribeOutput](t)(e.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("http"), Endpoint: &ep.srv.URL,
		Attributes: map[string]string{"DeliveryPolicy": `{"healthyRetryPolicy": {"numRetries": 100, "minDelayTarget": 1, "maxDelayTarget": 1}}`}}))
	test.WaitFor(t, 10*time.Second, "http subscription confirmed", func() bool {
		a := must[*sns.GetTopicAttributesOutput](t)(e.sns.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &topic})).Attributes
		return a["SubscriptionsConfirmed"] == "2"
	})
	for _, keep := range []string{"yes", "no", "yes"} {
		must[*sns.PublishOutput](t)(e.sns.Publish(ctx, &sns.PublishInput{TopicArn: &topic, Message: aws.String("m-" + keep),
			MessageAttributes: map[string]types.MessageAttributeValue{"keep": {DataType: aws.String("String"), StringValue: aws.String(keep)}}}))
	}
	test.WaitFor(t, 10*time.Second, "http endpoint retrying", func() bool { return ep.visits.Load() >= 3 })
	e.stop(t)

	ep.fail.Store(0) // the endpoint recovers while the broker is down
	b2 := test.StartBroker(t, test.WithDataDir(b.DataDir))
	e2 := attach(t, b2)
	ctx2 := ctxT(t, 60*time.Second)
	attrs := must[*sns.GetTopicAttributesOutput](t)(e2.sns.GetTopicAttributes(ctx2, &sns.GetTopicAttributesInput{TopicArn: &topic})).Attributes
	if attrs["DisplayName"] != "D" || attrs["SubscriptionsConfirmed"] != "2" {
		t.Fatalf("topic after restart: %v", attrs)
	}
	sa := must[*sns.GetSubscriptionAttributesOutput](t)(e2.sns.GetSubscriptionAttributes(ctx2, &sns.GetSubscriptionAttributesInput{SubscriptionArn: &sub})).Attributes
	if sa["FilterPolicy"] != `{"keep": ["yes"]}` || sa["RawMessageDelivery"] != "true" {
		t.Fatalf("subscription after restart: %v", sa)
	}
	url := "http://" + e2.addr + "/000000000000/durable-q"
	got := e2.receive(t, url, 2, 10*time.Second)
	sort.Strings(got)
	if len(got) != 2 || got[0] != "m-yes" || got[1] != "m-yes" {
		t.Fatalf("queue after restart: %v", got)
	}
	// The filter policy still applies after recovery.
	must[*sns.PublishOutput](t)(e2.sns.Publish(ctx2, &sns.PublishInput{TopicArn: &topic, Message: aws.String("m-no2"),
		MessageAttributes: map[string]types.MessageAttributeValue{"keep": {DataType: aws.String("String"), StringValue: aws.String("no")}}}))
	must[*sns.PublishOutput](t)(e2.sns.Publish(ctx2, &sns.PublishInput{TopicArn: &topic, Message: aws.String("m-yes2"),
		MessageAttributes: map[string]types.MessageAttributeValue{"keep": {DataType: aws.String("String"), StringValue: aws.String("yes")}}}))
	if got := e2.receive(t, url, 2, 3*time.Second); len(got) != 1 || got[0] != "m-yes2" {
		t.Fatalf("filter after restart: %v", got)
	}
	// The three pending HTTP deliveries (sent before the restart) arrive.
	test.WaitFor(t, 15*time.Second, "pending http deliveries", func() bool { return len(ep.notifications()) >= 5 })
	seen := map[string]bool{}
	for _, n := range ep.notifications() {
		seen[n.Message] = true
	}
	for _, m := range []string{"m-yes", "m-no", "m-no2", "m-yes2"} {
		if !seen[m] {
			t.Fatalf("http endpoint missing %s: %v", m, seen)
		}
	}
}
