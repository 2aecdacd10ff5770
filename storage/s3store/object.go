package s3store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Object is one small object read whole and polled by ETag: a users file
// kept in the bucket (--users s3://BUCKET/KEY). Its client is a Store's,
// so the endpoint, region, path style, credentials, AWS_CA_BUNDLE and
// request timeout work as they do for storage.
type Object struct {
	s       *Store
	key     string
	maxSize int64
}

// NewObject reads the object at cfg.Bucket / cfg.Prefix (the key, as
// ParseURL gives it for s3://BUCKET/KEY), at most maxSize bytes of it.
func NewObject(ctx context.Context, cfg Config, maxSize int64, log *slog.Logger) (*Object, error) {
	if cfg.Prefix == "" {
		return nil, fmt.Errorf("s3://%s: no object key", cfg.Bucket)
	}
	cfg.StaleUploadAge = -1 // it uploads nothing: nothing to clean up
	s, err := New(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return &Object{s: s, key: cfg.Prefix, maxSize: maxSize}, nil
}

// String is the object's URL, without the query.
func (o *Object) String() string { return "s3://" + o.s.cfg.Bucket + "/" + o.key }

// Close releases the client.
func (o *Object) Close() error { return o.s.Close() }

// Fetch returns the object's content and ETag, unless its ETag is still
// etag: then it asks with If-None-Match, and a 304 (or the same ETag from a
// store that ignores the condition) returns changed false and no content.
// Errors are classified like the Store's.
func (o *Object) Fetch(ctx context.Context, etag string) (b []byte, newETag string, changed bool, err error) {
	ctx, cancel := o.s.opCtx(ctx)
	defer cancel()
	in := &s3.GetObjectInput{Bucket: &o.s.cfg.Bucket, Key: &o.key}
	if etag != "" && !strings.HasPrefix(etag, "sha256:") {
		in.IfNoneMatch = aws.String(etag)
	}
	out, err := o.s.c.GetObject(ctx, in)
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == 304 {
			return nil, etag, false, nil
		}
		return nil, "", false, classify("get", o.String(), err)
	}
	defer out.Body.Close()
	newETag = aws.ToString(out.ETag)
	if etag != "" && newETag == etag {
		return nil, etag, false, nil
	}
	b, err = io.ReadAll(io.LimitReader(out.Body, o.maxSize+1))
	if err != nil {
		return nil, "", false, classify("get", o.String(), err)
	}
	if int64(len(b)) > o.maxSize {
		return nil, "", false, fmt.Errorf("%s: larger than %d bytes", o, o.maxSize)
	}
	if newETag == "" { // a store without ETags: the content is the version
		sum := sha256.Sum256(b)
		if newETag = "sha256:" + hex.EncodeToString(sum[:]); newETag == etag {
			return nil, etag, false, nil
		}
	}
	return b, newETag, true, nil
}
