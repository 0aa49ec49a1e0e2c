package sns_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/omnibroker/broker/config"
	"github.com/omnibroker/broker/test"
)

// botoScript drives Debian's python3-boto3 (Query protocol for SNS):
// topics, an SQS subscription with a filter policy, publish with
// attributes, publish_batch, envelope checks and error codes.
const botoScript = `
import sys, json, time, boto3, botocore
endpoint, key, secret = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret)
sns = boto3.client("sns", **kw)
sqs = boto3.client("sqs", **kw)

arn = sns.create_topic(Name="boto-topic", Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
assert arn == "arn:aws:sns:us-east-1:000000000000:boto-topic", arn
assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
url = sqs.create_queue(QueueName="boto-q")["QueueUrl"]
qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True,
                    Attributes={"FilterPolicy": json.dumps({"color": ["red", {"prefix": "blu"}]})})["SubscriptionArn"]
attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
assert attrs["FilterPolicyScope"] == "MessageAttributes" and attrs["PendingConfirmation"] == "false", attrs

try:
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn + "2", Attributes={"FilterPolicy": json.dumps({"key": [{"exists": "no"}]})})
    raise SystemExit("invalid policy accepted")
except botocore.exceptions.ClientError as e:
    err = e.response["Error"]
    assert err["Code"] == "InvalidParameter", err
    assert err["Message"].startswith("Invalid parameter: Attributes Reason: FilterPolicy: exists match pattern must be either true or false."), err

for color in ["red", "green", "blue"]:
    sns.publish(TopicArn=arn, Message="paint it " + color, Subject="colors",
                MessageAttributes={"color": {"DataType": "String", "StringValue": color}})
res = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
    {"Id": "1", "Message": "batch red", "MessageAttributes": {"color": {"DataType": "String", "StringValue": "red"}}},
    {"Id": "2", "Message": "batch black", "MessageAttributes": {"color": {"DataType": "String", "StringValue": "black"}}},
])
assert len(res["Successful"]) == 2 and res["Failed"] == [], res

def depth():
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"])
deadline = time.time() + 15
while depth() < 3 and time.time() < deadline:
    time.sleep(0.1)
time.sleep(0.5)
assert depth() == 3, depth()  # the black one was filtered out
got = []
while len(got) < 3 and time.time() < deadline:
    for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        env = json.loads(m["Body"])
        assert env["Type"] == "Notification" and env["TopicArn"] == arn and env["SignatureVersion"] == "1", env
        got.append(env["Message"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
assert sorted(got) == ["batch red", "paint it blue", "paint it red"], got

try:
    sns.get_topic_attributes(TopicArn=arn + "-missing")
    raise SystemExit("missing topic found")
except sns.exceptions.NotFoundException as e:
    assert e.response["Error"]["Message"] == "Topic does not exist"

assert arn in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
sns.unsubscribe(SubscriptionArn=sub)
sns.delete_topic(TopicArn=arn)
print("OK", len(got))
`

func TestBoto3(t *testing.T) {
	e := start(t)
	out, err := test.Python(t, 90*time.Second, botoScript, "http://"+e.addr, "guest", "guest")
	if err != nil || !strings.Contains(out, "OK 3") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

// TestAWSCLI drives Debian's awscli (/usr/bin/aws v2, its own botocore).
func TestAWSCLI(t *testing.T) {
	e := start(t, test.WithUsers(config.User{Name: "guest", Password: "guest"}))
	t.Setenv("AWS_ACCESS_KEY_ID", "guest")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "guest")
	t.Setenv("AWS_DEFAULT_REGION", "us-east-1")
	t.Setenv("AWS_PAGER", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	ctx := ctxT(t, 90*time.Second)
	cli := func(args ...string) (map[string]any, string, error) {
		t.Helper()
		out, err := test.Run(ctx, "/usr/bin/aws", append([]string{"--endpoint-url", "http://" + e.addr, "--output", "json"}, args...)...)
		var v map[string]any
		if err == nil && strings.TrimSpace(out) != "" {
			if jerr := json.Unmarshal([]byte(out), &v); jerr != nil {
				t.Fatalf("aws %v: %v\n%s", args, jerr, out)
			}
		}
		return v, out, err
	}
	ok := func(args ...string) map[string]any {
		t.Helper()
		v, out, err := cli(args...)
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
		return v
	}
	arn, _ := ok("sns", "create-topic", "--name", "cli-topic")["TopicArn"].(string)
	if arn != "arn:aws:sns:us-east-1:000000000000:cli-topic" {
		t.Fatalf("arn %q", arn)
	}
	url, _ := ok("sqs", "create-queue", "--queue-name", "cli-q")["QueueUrl"].(string)
	ok("sns", "subscribe", "--topic-arn", arn, "--protocol", "sqs", "--notification-endpoint", "arn:aws:sqs:us-east-1:000000000000:cli-q",
		"--attributes", `{"RawMessageDelivery":"true"}`)
	id, _ := ok("sns", "publish", "--topic-arn", arn, "--message", "from awscli")["MessageId"].(string)
	if len(id) != 36 {
		t.Fatalf("MessageId %q", id)
	}
	msgs, _ := ok("sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "5")["Messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["Body"] != "from awscli" {
		t.Fatalf("received %v", msgs)
	}
	subs, _ := ok("sns", "list-subscriptions-by-topic", "--topic-arn", arn)["Subscriptions"].([]any)
	if len(subs) != 1 || subs[0].(map[string]any)["Protocol"] != "sqs" {
		t.Fatalf("subscriptions %v", subs)
	}
	_, out, err := cli("sns", "publish", "--topic-arn", arn+"x", "--message", "m")
	if err == nil || !strings.Contains(out, "NotFound") || !strings.Contains(out, "Topic does not exist") {
		t.Fatalf("publish to a missing topic: %v\n%s", err, out)
	}
	ok("sns", "delete-topic", "--topic-arn", arn)
}
