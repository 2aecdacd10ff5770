package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// OutboxDir is where the outbox lives under the storage's key prefix:
// PREFIX/.bucketftp/events/{pending,leases,dead}/ID.json. The s3store hides
// PREFIX/.bucketftp/ from FTP.
const OutboxDir = ".bucketftp/events/"

// S3Outbox is an Outbox in the bucket the files are in, so any replica
// can deliver what another wrote. A lease is an object created with
// If-None-Match: * and rewritten (or taken over once expired) with
// If-Match its ETag, so of two replicas racing for an event one wins.
type S3Outbox struct {
	c       *s3.Client
	bucket  string
	base    string // key prefix of the outbox, ending in "/"
	owner   string
	timeout time.Duration
}

var _ Outbox = (*S3Outbox)(nil)

// NewS3Outbox is the outbox of bucket under prefix (the storage's key
// prefix, "" for the whole bucket); timeout bounds each request (default
// 30s).
func NewS3Outbox(c *s3.Client, bucket, prefix string, timeout time.Duration) *S3Outbox {
	base := OutboxDir
	if prefix != "" {
		base = prefix + "/" + OutboxDir
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &S3Outbox{c: c, bucket: bucket, base: base, owner: randomMark(), timeout: timeout}
}

func (o *S3Outbox) key(sub, id string) string { return o.base + sub + "/" + id + ".json" }

func (o *S3Outbox) put(ctx context.Context, key string, b []byte, ifMatch, ifNoneMatch string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	in := &s3.PutObjectInput{Bucket: &o.bucket, Key: &key, Body: bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))), ContentType: aws.String("application/json")}
	if ifMatch != "" {
		in.IfMatch = &ifMatch
	}
	if ifNoneMatch != "" {
		in.IfNoneMatch = &ifNoneMatch
	}
	out, err := o.c.PutObject(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

func (o *S3Outbox) get(ctx context.Context, key string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	out, err := o.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &o.bucket, Key: &key})
	if err != nil {
		if status(err) == http.StatusNotFound {
			return nil, "", ErrGone
		}
		return nil, "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxEventSize))
	return b, aws.ToString(out.ETag), err
}

func (o *S3Outbox) del(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	_, err := o.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &o.bucket, Key: &key})
	if status(err) == http.StatusNotFound {
		return nil
	}
	return err
}

// status is the HTTP status of a failed request (0 for none).
func status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// lostRace reports a conditional write refused because the object exists
// or changed.
func lostRace(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
		return true
	}
	s := status(err)
	return s == http.StatusPreconditionFailed || s == http.StatusConflict
}

func (o *S3Outbox) Put(ctx context.Context, id string, b []byte) error {
	if !validID(id) {
		return fmt.Errorf("events outbox: invalid id %q", id)
	}
	_, err := o.put(ctx, o.key("pending", id), b, "", "")
	return err
}

func (o *S3Outbox) Pending(ctx context.Context, limit int) ([]string, error) {
	pfx := o.base + "pending/"
	p := s3.NewListObjectsV2Paginator(o.c, &s3.ListObjectsV2Input{Bucket: &o.bucket, Prefix: &pfx, MaxKeys: aws.Int32(int32(min(limit, 1000)))})
	var ids []string
	for p.HasMorePages() && len(ids) < limit {
		lctx, cancel := context.WithTimeout(ctx, o.timeout)
		out, err := p.NextPage(lctx)
		cancel()
		if err != nil {
			return nil, err
		}
		for _, obj := range out.Contents {
			name := strings.TrimPrefix(aws.ToString(obj.Key), pfx)
			if id, ok := strings.CutSuffix(name, ".json"); ok && validID(id) && len(ids) < limit {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

func (o *S3Outbox) Read(ctx context.Context, id string) ([]byte, error) {
	b, _, err := o.get(ctx, o.key("pending", id))
	return b, err
}

func (o *S3Outbox) Claim(ctx context.Context, id string, now, until time.Time) (*Lease, error) {
	l := &Lease{ID: id, Until: until}
	key := o.key("leases", id)
	etag, err := o.put(ctx, key, l.doc(o.owner), "", "*")
	if err == nil {
		l.token = etag
		return l, nil
	}
	if !lostRace(err) {
		return nil, err
	}
	b, cur, err := o.get(ctx, key)
	if errors.Is(err, ErrGone) {
		// Released between the two requests: the next scan tries again.
		return &Lease{ID: id, Until: now}, ErrClaimed
	}
	if err != nil {
		return nil, err
	}
	var held leaseDoc
	if json.Unmarshal(b, &held) == nil && held.Until.After(now) {
		return &Lease{ID: id, Until: held.Until, Attempts: held.Attempts}, ErrClaimed
	}
	// Expired (or damaged): take it over, if nobody else did first.
	l.Attempts = held.Attempts
	etag, err = o.put(ctx, key, l.doc(o.owner), cur, "")
	if lostRace(err) {
		return &Lease{ID: id, Until: now}, ErrClaimed
	}
	if err != nil {
		return nil, err
	}
	l.token = etag
	return l, nil
}

func (o *S3Outbox) Hold(ctx context.Context, l *Lease) error {
	etag, err := o.put(ctx, o.key("leases", l.ID), l.doc(o.owner), l.token, "")
	if lostRace(err) {
		return ErrClaimed
	}
	if err != nil {
		return err
	}
	l.token = etag
	return nil
}

// Done deletes the event, then its lease: while the event is there the
// lease keeps other replicas off it, so none sends it again. (A crash
// between the two leaves a small lease object with no event.)
func (o *S3Outbox) Done(ctx context.Context, l *Lease) error {
	if err := o.del(ctx, o.key("pending", l.ID)); err != nil {
		return err
	}
	return o.del(ctx, o.key("leases", l.ID))
}

func (o *S3Outbox) Dead(ctx context.Context, l *Lease, b []byte) error {
	if _, err := o.put(ctx, o.key("dead", l.ID), b, "", ""); err != nil {
		return err
	}
	return o.Done(ctx, l)
}
