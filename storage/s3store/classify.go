package s3store

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/bucketftp/bucketftp/storage"
)

// classify turns an S3 error into a storage error of the right kind, from
// the API error code and the HTTP status, never from message text. It runs
// after the SDK's own retries. context.Canceled passes through.
func classify(op, name string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return storage.E(op, name, kindOf(err), err)
}

func kindOf(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload":
			return storage.ErrNotFound
		case "AccessDenied", "Forbidden", "AllAccessDisabled", "InvalidAccessKeyId",
			"SignatureDoesNotMatch", "AccountProblem", "InvalidObjectState":
			return storage.ErrPermission
		case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
			"RequestTimeTooSkewed", "OperationAborted", "XMinioServerNotInitialized",
			"XMinioReadQuorum", "XMinioWriteQuorum", "Throttling", "ThrottlingException":
			return storage.ErrTransient
		case "XMinioStorageFull", "InsufficientStorage":
			return storage.ErrNoSpace
		case "EntityTooLarge", "XMinioAdminBucketQuotaExceeded":
			return storage.ErrQuota
		case "KeyTooLongError", "XMinioInvalidObjectName", "InvalidObjectName", "XMinioInvalidResourceName":
			return storage.ErrInvalidName
		case "PreconditionFailed":
			return storage.ErrTransient // the object changed under us; trying again is right
		case "NotImplemented":
			return storage.ErrNotSupported
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch status := re.HTTPStatusCode(); {
		case status == 404:
			return storage.ErrNotFound
		case status == 403 || status == 401:
			return storage.ErrPermission
		case status == 507:
			return storage.ErrNoSpace
		case status == 413:
			return storage.ErrQuota
		case status == 400 && re.Response != nil && re.Response.Request.Method == http.MethodHead:
			// A HEAD has no error body; its only client-chosen part is the
			// key, so a 400 means the store will not take that name
			// (MinIO refuses backslashes, for one).
			return storage.ErrInvalidName
		case status == 429 || status >= 500:
			return storage.ErrTransient
		}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return storage.ErrTransient
	}
	return errUnclassified
}

// errUnclassified is the kind of an S3 error no rule matches: the front end
// reports it as a local error (451) with a reference to the log.
var errUnclassified = errors.New("unclassified S3 error")
