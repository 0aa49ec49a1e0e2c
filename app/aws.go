package app

import (
	"context"
	"net/http"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/bridge/sqs"
)

// newAWS returns the SQS/SNS HTTP handler: one awsapi dispatcher with every
// AWS service registered on it, and a closer that ends SQS long polls.
func newAWS(env Env) (http.Handler, func(context.Context) error, error) {
	srv := awsapi.NewServer(awsapi.Options{
		Auth:      env.Broker,
		Logger:    env.Logger,
		Region:    env.Config.AWS.Region,
		AccountID: env.Config.AWS.AccountID,
		Host:      env.Config.AWS.Host,
	})
	q := sqs.New(env.Broker, sqs.Options{Logger: env.Logger, Region: env.Config.AWS.Region, AccountID: env.Config.AWS.AccountID})
	q.Register(srv)
	return srv, q.Close, nil
}
