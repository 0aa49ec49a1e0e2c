package sqs_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/omnibroker/broker/config"
	"github.com/omnibroker/broker/test"
)

// botoScript drives the Query protocol with Debian's python3-boto3
// (botocore 1.29 speaks Query/XML to SQS). MD5s are recomputed here, in
// Python, from the documented algorithm.
const botoScript = `
import sys, hashlib, struct, time, boto3
from botocore.exceptions import ClientError
ep, key, secret = sys.argv[1], sys.argv[2], sys.argv[3]
c = boto3.client('sqs', endpoint_url=ep, region_name='eu-west-1', aws_access_key_id=key, aws_secret_access_key=secret)
proto = c.meta.service_model.protocol
assert proto == sys.argv[4], proto

def md5(b): return hashlib.md5(b).hexdigest()
def amd5(attrs):
    h = hashlib.md5()
    def put(b): h.update(struct.pack('>I', len(b))); h.update(b)
    for n in sorted(attrs):
        a = attrs[n]
        put(n.encode()); put(a['DataType'].encode())
        if 'StringValue' in a: h.update(b'\x01'); put(a['StringValue'].encode())
        else: h.update(b'\x02'); put(a['BinaryValue'])
    return h.hexdigest()
def code(fn, **kw):
    try: fn(**kw)
    except ClientError as e: return e.response['Error']['Code']
    raise AssertionError('no error from %s' % fn)

url = c.create_queue(QueueName='py', Attributes={'VisibilityTimeout': '5'})['QueueUrl']
assert url.endswith('/000000000000/py'), url
assert 'Messages' not in c.receive_message(QueueUrl=url, WaitTimeSeconds=0)  # empty result parses
assert c.create_queue(QueueName='py', Attributes={'VisibilityTimeout': '5'})['QueueUrl'] == url
assert code(c.create_queue, QueueName='py', Attributes={'VisibilityTimeout': '6'}) == 'QueueAlreadyExists'
assert code(c.get_queue_url, QueueName='nope') == 'AWS.SimpleQueueService.NonExistentQueue'
assert c.get_queue_url(QueueName='py')['QueueUrl'] == url

body = 'hello <&> "q" \r\n\t ü 😀'
attrs = {'s': {'DataType': 'String', 'StringValue': 'v ü <x>'}, 'n': {'DataType': 'Number', 'StringValue': '-1.5e3'},
         'b': {'DataType': 'Binary', 'BinaryValue': b'\x00\xff\x10'}, 'c': {'DataType': 'String.custom', 'StringValue': 'c'}}
r = c.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)
assert r['MD5OfMessageBody'] == md5(body.encode()), r
assert r['MD5OfMessageAttributes'] == amd5(attrs), r
m = c.receive_message(QueueUrl=url, MessageAttributeNames=['All'], AttributeNames=['All'], WaitTimeSeconds=1)['Messages'][0]
assert m['Body'] == body, repr(m['Body'])
assert m['MD5OfBody'] == md5(body.encode())
assert m['MessageAttributes'] == attrs, m['MessageAttributes']
assert m['MD5OfMessageAttributes'] == amd5(m['MessageAttributes'])
assert m['Attributes']['ApproximateReceiveCount'] == '1' and m['Attributes']['SenderId'] == key, m['Attributes']
c.change_message_visibility(QueueUrl=url, ReceiptHandle=m['ReceiptHandle'], VisibilityTimeout=10)
c.delete_message(QueueUrl=url, ReceiptHandle=m['ReceiptHandle'])
assert code(c.delete_message, QueueUrl=url, ReceiptHandle='bogus') == 'ReceiptHandleIsInvalid'

res = c.send_message_batch(QueueUrl=url, Entries=[
    {'Id': 'a', 'MessageBody': 'one', 'MessageAttributes': {'k': {'DataType': 'String', 'StringValue': 'v'}}},
    {'Id': 'b', 'MessageBody': 'two', 'DelaySeconds': 0},
    {'Id': 'c', 'MessageBody': 'bad\x01'}])
assert sorted(e['Id'] for e in res['Successful']) == ['a', 'b'], res
assert res['Failed'][0]['Id'] == 'c' and res['Failed'][0]['Code'] == 'InvalidMessageContents' and res['Failed'][0]['SenderFault'], res
assert code(c.send_message_batch, QueueUrl=url, Entries=[{'Id': str(i), 'MessageBody': 'x'} for i in range(11)]) == 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest'
got = []
while len(got) < 2:
    got += c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get('Messages', [])
d = c.delete_message_batch(QueueUrl=url, Entries=[{'Id': 'x%d' % i, 'ReceiptHandle': m['ReceiptHandle']} for i, m in enumerate(got)])
assert len(d['Successful']) == 2 and not d.get('Failed'), d
assert code(c.receive_message, QueueUrl=url, MaxNumberOfMessages=11) == 'InvalidParameterValue'

a = c.get_queue_attributes(QueueUrl=url, AttributeNames=['All'])['Attributes']
assert a['VisibilityTimeout'] == '5' and a['QueueArn'] == 'arn:aws:sqs:eu-west-1:000000000000:py' and a['ApproximateNumberOfMessages'] == '0', a
c.set_queue_attributes(QueueUrl=url, Attributes={'DelaySeconds': '1', 'MaximumMessageSize': '2048'})
a = c.get_queue_attributes(QueueUrl=url, AttributeNames=['DelaySeconds', 'MaximumMessageSize'])['Attributes']
assert a == {'DelaySeconds': '1', 'MaximumMessageSize': '2048'}, a
assert code(c.send_message, QueueUrl=url, MessageBody='x' * 2049) == 'InvalidParameterValue'
assert code(c.set_queue_attributes, QueueUrl=url, Attributes={'Bogus': '1'}) == 'InvalidAttributeName'

c.tag_queue(QueueUrl=url, Tags={'a': '1', 'b': '2'})
c.untag_queue(QueueUrl=url, TagKeys=['b'])
assert c.list_queue_tags(QueueUrl=url)['Tags'] == {'a': '1'}
c.add_permission(QueueUrl=url, Label='l1', AWSAccountIds=['111111111111', '222222222222'], Actions=['SendMessage', 'ReceiveMessage'])
pol = c.get_queue_attributes(QueueUrl=url, AttributeNames=['Policy'])['Attributes']['Policy']
assert '"Sid":"l1"' in pol and 'arn:aws:iam::222222222222:root' in pol, pol
c.remove_permission(QueueUrl=url, Label='l1')
assert code(c.remove_permission, QueueUrl=url, Label='l1') == 'InvalidParameterValue'

dlq = c.create_queue(QueueName='py-dlq')['QueueUrl']
src = c.create_queue(QueueName='py-src', Attributes={'RedrivePolicy': '{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:000000000000:py-dlq","maxReceiveCount":"1"}'})['QueueUrl']
assert c.list_dead_letter_source_queues(QueueUrl=dlq)['queueUrls'] == [src]
c.send_message(QueueUrl=src, MessageBody='poison')
m = c.receive_message(QueueUrl=src, WaitTimeSeconds=1)['Messages'][0]
c.change_message_visibility(QueueUrl=src, ReceiptHandle=m['ReceiptHandle'], VisibilityTimeout=0)
dl = []
for _ in range(20):
    dl = c.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, AttributeNames=['All']).get('Messages', [])
    if dl: break
assert dl and dl[0]['Body'] == 'poison' and dl[0]['Attributes']['DeadLetterQueueSourceArn'].endswith(':py-src'), dl

f = c.create_queue(QueueName='py.fifo', Attributes={'FifoQueue': 'true', 'ContentBasedDeduplication': 'true'})['QueueUrl']
s1 = c.send_message(QueueUrl=f, MessageBody='f1', MessageGroupId='g')
s2 = c.send_message(QueueUrl=f, MessageBody='f1', MessageGroupId='g')
assert s1['MessageId'] == s2['MessageId'] and s1['SequenceNumber'] == s2['SequenceNumber'], (s1, s2)
c.send_message(QueueUrl=f, MessageBody='f2', MessageGroupId='g')
assert code(c.send_message, QueueUrl=f, MessageBody='x') == 'MissingParameter'
order = []
while len(order) < 2:
    for m in c.receive_message(QueueUrl=f, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=['All']).get('Messages', []):
        assert m['Attributes']['MessageGroupId'] == 'g'
        order.append(m['Body'])
        c.delete_message(QueueUrl=f, ReceiptHandle=m['ReceiptHandle'])
assert order == ['f1', 'f2'], order

urls = c.list_queues(QueueNamePrefix='py')['QueueUrls']
assert sorted(u.rsplit('/', 1)[1] for u in urls) == ['py', 'py-dlq', 'py-src', 'py.fifo'], urls
c.purge_queue(QueueUrl=url)
assert code(c.purge_queue, QueueUrl=url) == 'AWS.SimpleQueueService.PurgeQueueInProgress'
c.delete_queue(QueueUrl=url)
assert code(c.get_queue_attributes, QueueUrl=url) == 'AWS.SimpleQueueService.NonExistentQueue'
print('OK')
`

func TestBoto3Query(t *testing.T) {
	b := test.StartBroker(t, test.WithUsers(config.User{Name: "guest", Password: "guest"}))
	out, err := test.Python(t, 60*time.Second, botoScript, "http://"+b.AWS, "guest", "guest", "query")
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "OK") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

// TestBoto3JSON runs the same script with a current boto3 (>= 1.34.90
// speaks AWS JSON 1.0 to SQS) when the python3 on PATH has one.
func TestBoto3JSON(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	if out, err := test.Run(ctx, "python3", "-c", "import boto3; c = boto3.client('sqs', region_name='us-east-1'); assert c.meta.service_model.protocol == 'json'"); err != nil {
		t.Skipf("no python3 with a JSON-protocol boto3 on PATH: %s", out)
	}
	b := test.StartBroker(t, test.WithUsers(config.User{Name: "guest", Password: "guest"}))
	out, err := test.Run(ctx, "python3", "-c", botoScript, "http://"+b.AWS, "guest", "guest", "json")
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "OK") {
		t.Fatalf("boto3 (JSON): %v\n%s", err, out)
	}
}

func TestBoto3SigV4Rejection(t *testing.T) {
	b := test.StartBroker(t, test.WithUsers(config.User{Name: "guest", Password: "guest"}))
	script := `
import sys, boto3
from botocore.exceptions import ClientError
for key, secret, want in [('guest', 'nope', 'SignatureDoesNotMatch'), ('nobody', 'guest', 'InvalidClientTokenId')]:
    c = boto3.client('sqs', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=key, aws_secret_access_key=secret)
    try:
        c.list_queues()
        raise SystemExit('accepted bad credentials ' + key)
    except ClientError as e:
        assert e.response['Error']['Code'] == want, e.response
        assert e.response['ResponseMetadata']['HTTPStatusCode'] == 403
print('OK')
`
	out, err := test.Python(t, 30*time.Second, script, "http://"+b.AWS)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "OK") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}

// TestAWSCLI drives Debian's awscli (/usr/bin/aws, v2.9 with its own
// botocore: Query protocol for SQS).
func TestAWSCLI(t *testing.T) {
	b := test.StartBroker(t, test.WithUsers(config.User{Name: "guest", Password: "guest"}))
	t.Setenv("AWS_ACCESS_KEY_ID", "guest")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "guest")
	t.Setenv("AWS_DEFAULT_REGION", "us-east-1")
	t.Setenv("AWS_PAGER", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	ctx := ctxT(t, 90*time.Second)
	aws := func(args ...string) map[string]any {
		t.Helper()
		out, err := test.Run(ctx, "/usr/bin/aws", append([]string{"--endpoint-url", "http://" + b.AWS, "--output", "json", "sqs"}, args...)...)
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
		var v map[string]any
		if strings.TrimSpace(out) != "" {
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("aws %v: %v\n%s", args, err, out)
			}
		}
		return v
	}
	url, _ := aws("create-queue", "--queue-name", "cli", "--attributes", "VisibilityTimeout=40")["QueueUrl"].(string)
	if !strings.HasSuffix(url, "/000000000000/cli") {
		t.Fatalf("url %q", url)
	}
	aws("send-message", "--queue-url", url, "--message-body", "from the cli",
		"--message-attributes", `{"k":{"DataType":"String","StringValue":"v"}}`)
	msgs, _ := aws("receive-message", "--queue-url", url, "--message-attribute-names", "All", "--wait-time-seconds", "2")["Messages"].([]any)
	if len(msgs) != 1 {
		t.Fatalf("receive: %v", msgs)
	}
	m := msgs[0].(map[string]any)
	if m["Body"] != "from the cli" || m["MessageAttributes"].(map[string]any)["k"].(map[string]any)["StringValue"] != "v" {
		t.Fatalf("message %v", m)
	}
	aws("delete-message", "--queue-url", url, "--receipt-handle", m["ReceiptHandle"].(string))
	attrs := aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"].(map[string]any)
	if attrs["VisibilityTimeout"] != "40" || attrs["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("attributes %v", attrs)
	}
	if urls, _ := aws("list-queues")["QueueUrls"].([]any); len(urls) != 1 || urls[0] != url {
		t.Fatalf("list-queues %v", urls)
	}
	aws("delete-queue", "--queue-url", url)
	out, err := test.Run(ctx, "/usr/bin/aws", "--endpoint-url", "http://"+b.AWS, "sqs", "get-queue-url", "--queue-name", "cli")
	if err == nil || !strings.Contains(out, "AWS.SimpleQueueService.NonExistentQueue") {
		t.Fatalf("get-queue-url after delete: %v\n%s", err, out)
	}
}
