// Package test holds the black-box harness shared by the end-to-end suites
// in its subdirectories (test/amqp, test/mqtt, test/stomp, test/sqs,
// test/sns, test/cross, test/crash): StartBroker starts a whole broker on
// 127.0.0.1:0 ports with real listeners, and WaitFor polls a condition.
package test
