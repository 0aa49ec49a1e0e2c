package app

import (
	"context"
	"net/http"

	"github.com/omnibroker/broker/bridge/awsapi"
)

// newAWS returns the SQS/SNS HTTP handler: one awsapi dispatcher with every
// AWS service registered on it.
func newAWS(env Env) (http.Handler, func(context.Context) error, error) {
	srv := awsapi.NewServer(awsapi.Options{
		Auth:      env.Broker,
		Logger:    env.Logger,
		Region:    env.Config.AWS.Region,
		AccountID: env.Config.AWS.AccountID,
		Host:      env.Config.AWS.Host,
	})
	return srv, nil, nil
}
