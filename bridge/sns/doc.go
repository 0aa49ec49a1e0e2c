// Package sns serves the Amazon SNS API (AWS Query protocol) on the
// broker's core, registered on the shared AWS endpoint (bridge/awsapi).
//
// Mapping (ARCHITECTURE.md): SNS topic T is the subtree T of amq.topic.
// Publish routes key T on amq.topic (a '.' inside a topic name, as in
// "orders.fifo", travels as '/', the MQTT convention), so MQTT `T/x`, STOMP
// `/topic/T.x` and AMQP `amq.topic` key `T.x` reach T's subscribers too.
//
// Each subscription owns a durable internal core queue bound to amq.topic
// with key T.# (matching T itself and its subtree) and, when it has one,
// its filter policy (a core
// binding filter of kind FilterKind, compiled once when bound). One
// consumer per subscription turns every message into what the endpoint
// receives — the signed SNS JSON envelope, or the raw body with message
// attributes — and delivers it: to an SQS queue by publishing on the
// default exchange, to an HTTP/HTTPS endpoint by POST with the
// DeliveryPolicy's retries, then the subscription's dead-letter queue. The
// internal delivery is acknowledged only once the target has it, so
// pending deliveries survive a restart; a slow endpoint only holds up its
// own subscription.
//
// Topics, subscriptions, tags and the signing key are kept in core.Meta
// (namespace "sns"). Envelopes are signed with SignatureVersion 1
// (SHA1withRSA) or 2 (SHA256withRSA) using a key the broker generates once
// and persists; its certificate is served at the SigningCertURL.
//
// Filter policies follow the SNS developer guide ("Amazon SNS message
// filtering", "Filter policy constraints") with AWS's exact validation
// texts (see filter.go and testdata/, recorded from AWS by LocalStack).
// Policies whose branches pin a key to exact strings are indexed
// (filterindex.go), so a topic with thousands of filtered subscriptions
// evaluates only the few policies a message's values select.
//
// HTTP/HTTPS retries follow the DeliveryPolicy phases (immediate,
// pre-backoff, backoff by backoffFunction, post-backoff); the default is 3
// retries 20 s apart, then the RedrivePolicy dead-letter queue.
//
// Known limits: FIFO deduplication state is in memory (lost on restart);
// email, SMS, Lambda, Firehose and mobile push endpoints are refused as
// unsupported protocols; AddPermission/RemovePermission and data
// protection policies are not implemented.
package sns
