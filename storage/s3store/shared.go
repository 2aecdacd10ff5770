package s3store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/bucketftp/bucketftp/storage"
)

var _ storage.SharedDocs = (*Store)(nil)

// sharedArea is where the documents server processes share live, under
// the store's prefix: PREFIX/.bucketftp/quota/..., PREFIX/.bucketftp/bans/...
const sharedArea = ".bucketftp/"

// maxDocSize bounds what ReadDoc reads.
const maxDocSize = 4 << 20

func (s *Store) docKey(name string) string {
	if s.cfg.Prefix == "" {
		return sharedArea + name
	}
	return s.cfg.Prefix + "/" + sharedArea + name
}

// ReadDoc returns a shared document and its ETag.
func (s *Store) ReadDoc(ctx context.Context, name string) ([]byte, string, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(s.docKey(name))})
	if err != nil {
		return nil, "", classify("readdoc", name, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxDocSize+1))
	if err != nil {
		return nil, "", classify("readdoc", name, err)
	}
	if len(b) > maxDocSize {
		return nil, "", storage.E("readdoc", name, errUnclassified, errors.New("document larger than 4 MiB"))
	}
	return b, aws.ToString(out.ETag), nil
}

// SwapDoc writes a shared document with If-Match (or If-None-Match: * for
// a new one).
func (s *Store) SwapDoc(ctx context.Context, name string, b []byte, version string) (string, error) {
	in := s.docPut(name, b)
	if version == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(version)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.c.PutObject(ctx, in)
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			switch ae.ErrorCode() {
			case "PreconditionFailed", "ConditionalRequestConflict":
				return "", storage.E("swapdoc", name, storage.ErrConflict, err)
			case "NotImplemented":
				return "", storage.E("swapdoc", name, storage.ErrNotSupported, err)
			}
		}
		if version != "" && errors.Is(classify("swapdoc", name, err), storage.ErrNotFound) {
			// If-Match on a document removed since it was read.
			return "", storage.E("swapdoc", name, storage.ErrConflict, err)
		}
		return "", classify("swapdoc", name, err)
	}
	return aws.ToString(out.ETag), nil
}

// PutDoc writes a shared document unconditionally.
func (s *Store) PutDoc(ctx context.Context, name string, b []byte) (string, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.c.PutObject(ctx, s.docPut(name, b))
	if err != nil {
		return "", classify("putdoc", name, err)
	}
	return aws.ToString(out.ETag), nil
}

func (s *Store) docPut(name string, b []byte) *s3.PutObjectInput {
	return &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(s.docKey(name)),
		Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))), ContentType: aws.String("application/json")}
}

// ListDocs lists the shared documents under dir.
func (s *Store) ListDocs(ctx context.Context, dir string) ([]storage.DocInfo, error) {
	pfx := s.docKey(dir)
	area := s.docKey("")
	var out []storage.DocInfo
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: &pfx})
	for p.HasMorePages() {
		pctx, cancel := s.opCtx(ctx)
		page, err := p.NextPage(pctx)
		cancel()
		if err != nil {
			return nil, classify("listdocs", dir, err)
		}
		for _, o := range page.Contents {
			out = append(out, storage.DocInfo{Name: strings.TrimPrefix(aws.ToString(o.Key), area),
				Version: aws.ToString(o.ETag), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	return out, nil
}

// DeleteDoc removes a shared document.
func (s *Store) DeleteDoc(ctx context.Context, name string) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(s.docKey(name))})
	if err != nil && !errors.Is(classify("deletedoc", name, err), storage.ErrNotFound) {
		return classify("deletedoc", name, err)
	}
	return nil
}
