package sqs_test

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os/exec"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/omnibroker/broker/test"
)

// client returns an aws-sdk-go-v2 SQS client (AWS JSON 1.0) for addr.
func client(addr, key, secret string) *sqs.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String("http://" + addr)
		o.RetryMaxAttempts = 1
	})
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// apiCode returns the error code an SDK error carries ("" if none).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %s, got success", code)
	}
	if got := apiCode(err); got != code {
		t.Fatalf("want error %s, got %q (%v)", code, got, err)
	}
}

func mustCreate(t *testing.T, c *sqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(ctxT(t, 10*time.Second), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return *out.QueueUrl
}

// attrMD5 is an independent implementation of the SQS message attribute
// digest (SQS Developer Guide "Calculating the MD5 message digest for
// message attributes").
func attrMD5(attrs map[string]types.MessageAttributeValue) string {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	w := func(b []byte) {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(b)))
		h.Write(l[:])
		h.Write(b)
	}
	for _, n := range names {
		a := attrs[n]
		w([]byte(n))
		w([]byte(*a.DataType))
		if a.StringValue != nil {
			h.Write([]byte{1})
			w([]byte(*a.StringValue))
		} else {
			h.Write([]byte{2})
			w(a.BinaryValue)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// killRestart kills the broker binary started by test.StartBinary with
// SIGKILL, starts it again on the same data directory and returns the new
// AWS address (the new process is killed when the test ends).
func killRestart(t *testing.T, bin, data string, cmd *exec.Cmd) string {
	t.Helper()
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	cmd2, addr := test.StartBinary(t, bin, data, "aws")
	t.Cleanup(func() { cmd2.Process.Kill(); cmd2.Wait() })
	return addr
}
