package app

import (
	"context"
	"errors"
	"net/http"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/bridge/sns"
	"github.com/omnibroker/broker/bridge/sqs"
)

// newAWS returns the SQS/SNS HTTP handler: one awsapi dispatcher with SQS
// and SNS registered on it (SNS also serves its signing certificate and
// subscription links), and a closer that ends SQS long polls and SNS
// deliveries.
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
	closeSNS, err := sns.Register(srv, env.Broker, sns.Options{Logger: env.Logger, Region: env.Config.AWS.Region, AccountID: env.Config.AWS.AccountID})
	if err != nil {
		q.Close(context.Background())
		return nil, nil, err
	}
	closer := func(ctx context.Context) error {
		return errors.Join(q.Close(ctx), closeSNS(ctx))
	}
	return sns.Handler(env.Broker, srv), closer, nil
}
