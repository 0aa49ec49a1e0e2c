// Package awsapi is the HTTP front end shared by the AWS-compatible bridges
// (bridge/sqs, bridge/sns): one http.Handler that
//
//   - decodes both AWS wire protocols: AWS JSON 1.0 (POST with
//     X-Amz-Target: <TargetPrefix>.<Action>, JSON body) and Query (form
//     POST, or GET with a query string, carrying Action=<Action>);
//   - verifies SigV4 (Authorization header or presigned query) against the
//     core users: access key id = user name, secret = core.UserPassword;
//     anonymous requests are accepted when core.AnonymousAllowed();
//   - routes the request to a registered service: by X-Amz-Target prefix,
//     else by the service name in the SigV4 credential scope, else by the
//     Action name (Service.Owns breaks ties between services sharing one);
//   - renders results and errors in the protocol of the request: JSON
//     (errors carry "__type" and the x-amzn-query-error header) or XML
//     (<ActionResponse><ActionResult>…, errors as <ErrorResponse> with a
//     RequestId).
//
// # Registering a service
//
//	srv := awsapi.NewServer(awsapi.Options{Auth: broker, Logger: log, Region: "us-east-1", AccountID: "000000000000"})
//	srv.Register(awsapi.Service{
//		Name:          "sns",                  // SigV4 credential-scope service name
//		TargetPrefix:  "",                     // X-Amz-Target prefix ("AmazonSQS"); "" = Query only
//		JSONTypePrefix: "",                    // "__type" namespace for JSON errors
//		XMLNamespace:  "http://sns.amazonaws.com/doc/2010-03-31/",
//		Actions:       map[string]awsapi.Handler{"CreateTopic": createTopic, ...},
//		QueryRules:    awsapi.QueryRules{...}, // optional: flattened Query names -> JSON shape
//		XMLRules:      awsapi.XMLRules{...},   // optional: JSON result members -> XML elements
//		Owns:          func(r *http.Request, form url.Values) bool { return form.Has("TopicArn") },
//		MapError:      func(err error) *awsapi.Error { ... }, // optional: non-*Error errors
//	})
//	var h http.Handler = srv
//
// A Handler receives a *Request (Action, Protocol, raw Form or Body,
// authenticated AccessKey, Region, RequestID, URLHost) and returns a result
// value or an error. Request.Decode(&in) fills a struct with JSON tags from
// either protocol (the Query form is turned into the JSON shape with the
// service's QueryRules; scalars arrive as strings, so numeric fields should
// use awsapi.Int). The result value is marshalled with encoding/json for
// JSON requests; for Query requests the same JSON tree is written as XML
// inside <ActionResponse><ActionResult>, lists and maps following XMLRules
// (default: <member> lists and <entry><key/><value/></entry> maps). A
// handler that needs full control of its XML returns an XMLResult (raw inner
// XML of the ActionResult element). Errors should be *Error (Code = the
// Query error code, Type = the JSON error shape name); other errors go
// through Service.MapError, else become a 500 InternalFailure without the Go
// text.
//
// Server.OnShutdown(fn) runs fn when the http.Server serving the handler
// starts a graceful shutdown (SQS ends its long polls there).
package awsapi
