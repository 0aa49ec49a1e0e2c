// Package sqs is the Amazon SQS API (2012-11-05, all 23 actions) on the
// protocol-neutral core, served through bridge/awsapi in both wire
// protocols (AWS JSON 1.0 and Query).
//
// Mapping (ARCHITECTURE.md "How each front door maps onto the core"):
//
//   - An SQS queue NAME is the durable core queue NAME; a ".fifo" name with
//     FifoQueue=true is a core FIFO queue with a 5-minute deduplication
//     window. URLs are http://HOST/ACCOUNT/NAME, ARNs
//     arn:aws:sqs:REGION:ACCOUNT:NAME; any region is accepted.
//   - Attributes map onto QueueConfig (VisibilityTimeout, DelaySeconds ->
//     DeliveryDelay, MessageRetentionPeriod -> Retention,
//     MaximumMessageSize -> MaxMessageSize, RedrivePolicy -> dead-letter to
//     the default exchange with the DLQ name as key after maxReceiveCount
//     deliveries); every attribute, tags ("tag:KEY") and the Policy are kept
//     in QueueConfig.Attributes, which core persists.
//   - SendMessage publishes a persistent message to the default exchange
//     with routing key NAME and answers once it is stored. Message
//     attributes become core headers (String -> string, Number -> string,
//     Binary -> []byte; a DataType the value does not imply is kept in an
//     "x-sqs-type.NAME" header); content-type, correlation-id and reply-to
//     become the core properties.
//   - ReceiveMessage is core Get with a lease of the visibility timeout and
//     long polling; the receipt handle names the lease, so DeleteMessage is
//     core Ack and ChangeMessageVisibility core ChangeLease. A message thus
//     moves between SQS receivers and AMQP/STOMP consumers under one lease
//     model.
package sqs
