// Package sqs holds the end-to-end tests of the Amazon SQS API: the
// aws-sdk-go-v2 client (AWS JSON 1.0), Debian's python3-boto3 and awscli
// (Query protocol), against a whole broker started by test.StartBroker.
package sqs
