package app

import (
	"context"
	"net/http"
)

// newAWS returns the SQS/SNS HTTP handler and an optional closer; nil means
// not built yet.
func newAWS(env Env) (http.Handler, func(context.Context) error, error) {
	return nil, nil, nil
}
