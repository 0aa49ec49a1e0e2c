package sqs

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/omnibroker/broker/bridge/awsapi"
	"github.com/omnibroker/broker/core"
)

// SQS error codes: Code is the Query code (also sent in x-amzn-query-error
// to JSON clients), Type the JSON 1.0 error shape. Messages follow the
// recorded AWS responses in shared/aws-snapshots/sqs.snapshot.json.

func errInvalidParam(format string, args ...any) *awsapi.Error {
	return &awsapi.Error{Code: "InvalidParameterValue", Type: "InvalidParameterValueException", Message: fmt.Sprintf(format, args...)}
}

func errMissingParam(name string) *awsapi.Error {
	return &awsapi.Error{Code: "MissingParameter", Type: "MissingRequiredParameterException",
		Message: "The request must contain the parameter " + name + "."}
}

func errNoQueue(r *awsapi.Request) *awsapi.Error {
	msg := "The specified queue does not exist."
	if r.Protocol == awsapi.Query {
		msg = "The specified queue does not exist for this wsdl version."
	}
	return &awsapi.Error{Code: "AWS.SimpleQueueService.NonExistentQueue", Type: "QueueDoesNotExist", Message: msg}
}

func errQueueExists(attr string) *awsapi.Error {
	return &awsapi.Error{Code: "QueueAlreadyExists", Type: "QueueNameExists",
		Message: "A queue already exists with the same name and a different value for attribute " + attr}
}

func errAttrName(format string, args ...any) *awsapi.Error {
	return &awsapi.Error{Code: "InvalidAttributeName", Type: "InvalidAttributeName", Message: fmt.Sprintf(format, args...)}
}

func errAttrValue(format string, args ...any) *awsapi.Error {
	return &awsapi.Error{Code: "InvalidAttributeValue", Type: "InvalidAttributeValue", Message: fmt.Sprintf(format, args...)}
}

func errTooManyEntries(n int) *awsapi.Error {
	return &awsapi.Error{Code: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", Type: "TooManyEntriesInBatchRequest",
		Message: fmt.Sprintf("Maximum number of entries per request are 10. You have sent %d.", n)}
}

func errEmptyBatch(entry string) *awsapi.Error {
	return &awsapi.Error{Code: "AWS.SimpleQueueService.EmptyBatchRequest", Type: "EmptyBatchRequest",
		Message: "There should be at least one " + entry + " in the request."}
}

var errBatchID = &awsapi.Error{Code: "AWS.SimpleQueueService.InvalidBatchEntryId", Type: "InvalidBatchEntryId",
	Message: "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."}

func errDistinct(id string) *awsapi.Error {
	return &awsapi.Error{Code: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", Type: "BatchEntryIdsNotDistinct",
		Message: "Id " + id + " repeated."}
}

func errBatchTooLong(n int) *awsapi.Error {
	return &awsapi.Error{Code: "AWS.SimpleQueueService.BatchRequestTooLong", Type: "BatchRequestTooLong",
		Message: fmt.Sprintf("Batch requests cannot be longer than %d bytes. You have sent %d bytes.", maxMessageSize, n)}
}

func errReceiptInvalid(h string) *awsapi.Error {
	return &awsapi.Error{Code: "ReceiptHandleIsInvalid", Type: "ReceiptHandleIsInvalid",
		Message: fmt.Sprintf("The input receipt handle \"%s\" is not a valid receipt handle.", h)}
}

func errReceiptExpired(h string) *awsapi.Error {
	return errInvalidParam("Value %s for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", h)
}

func errNotInflight() *awsapi.Error {
	return &awsapi.Error{Code: "AWS.SimpleQueueService.MessageNotInflight", Type: "MessageNotInflight",
		Message: "Message does not exist or is not available for visibility timeout change."}
}

var errInvalidContents = &awsapi.Error{Code: "InvalidMessageContents", Type: "InvalidMessageContents",
	Message: "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"}

func errPurgeInProgress(name string) *awsapi.Error {
	return &awsapi.Error{Status: http.StatusForbidden, Code: "AWS.SimpleQueueService.PurgeQueueInProgress", Type: "PurgeQueueInProgress",
		Message: "Only one PurgeQueue operation on " + name + " is allowed every 60 seconds."}
}

func errResourceNotFound(msg string) *awsapi.Error {
	return &awsapi.Error{Code: "ResourceNotFoundException", Type: "ResourceNotFoundException", Message: msg}
}

var errOverLimit = &awsapi.Error{Code: "OverLimit", Type: "OverLimit", Message: "The specified action violates a limit."}

var errUnavailable = &awsapi.Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Type: "ServiceUnavailable",
	Message: "The request has failed due to a temporary failure of the server."}

// reasonFor maps core sentinels onto SQS errors (nil: internal failure).
func reasonFor(err error) *awsapi.Error {
	switch {
	case errors.Is(err, core.ErrNotFound): // a queue deleted while the request ran
		return &awsapi.Error{Code: "AWS.SimpleQueueService.NonExistentQueue", Type: "QueueDoesNotExist", Message: "The specified queue does not exist."}
	case errors.Is(err, core.ErrTooLarge):
		return errInvalidParam("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", maxMessageSize)
	case errors.Is(err, core.ErrQuotaExceeded):
		return errOverLimit
	case errors.Is(err, core.ErrUnavailable), errors.Is(err, core.ErrClosed):
		return errUnavailable
	case errors.Is(err, core.ErrInvalidName):
		return errInvalidParam("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	case errors.Is(err, core.ErrAccessDenied), errors.Is(err, core.ErrLocked):
		return &awsapi.Error{Status: http.StatusForbidden, Code: "AccessDenied", Type: "AccessDeniedException",
			Message: "Access to the resource is denied."}
	case errors.Is(err, core.ErrInvalidArg), errors.Is(err, core.ErrPrecondition):
		return errInvalidParam("One or more parameters are invalid.")
	}
	return nil
}
