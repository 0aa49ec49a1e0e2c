// Package sns holds the end-to-end tests of the SNS API: the
// aws-sdk-go-v2 SNS and SQS clients, boto3 and awscli (Debian), an HTTP
// endpoint that confirms subscriptions and verifies signatures, and
// cross-protocol fan-out with MQTT, AMQP and STOMP.
package sns
