package s3store

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/bucketftp/bucketftp/storage"
)

// renameConcurrency bounds the objects moved at once by a directory rename.
const renameConcurrency = 8

func copySourceHeader(bucket, key string) string {
	return url.PathEscape(bucket) + "/" + strings.ReplaceAll(url.PathEscape(key), "%2F", "/")
}

// Rename copies then deletes: a source object is deleted only after its
// copy succeeded. A directory moves key by key, a few at a time.
func (s *Store) Rename(ctx context.Context, from, to string) error {
	e, meta, err := s.stat(ctx, from)
	if err != nil {
		return err
	}
	if t, err := s.Stat(ctx, to); err == nil && t.IsDir {
		return storage.E("rename", to, storage.ErrExist, errors.New("target is a directory"))
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	fk, err := s.key("rename", from)
	if err != nil {
		return err
	}
	tk, err := s.key("rename", to)
	if err != nil {
		return err
	}
	if !e.IsDir {
		etag, err := s.move(ctx, from, fk, tk, e.Size)
		if err != nil {
			return err
		}
		// The copy kept a time set by MFMT in the metadata; index it
		// under the new name. The rename itself is done either way.
		if t, ok := metaMtime(meta); ok {
			if err := s.indexMtime(ctx, to, tk, t, etag); err != nil {
				s.log.Warn("s3: indexing the modification time of a renamed file", "path", to, "err", err)
			}
		}
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(renameConcurrency)
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: aws.String(fk + "/")})
	for p.HasMorePages() {
		lctx, cancel := s.opCtx(gctx)
		out, err := p.NextPage(lctx)
		cancel()
		if err != nil {
			_ = g.Wait()
			return classify("rename", from, err)
		}
		for _, o := range out.Contents {
			src := aws.ToString(o.Key)
			dst := tk + strings.TrimPrefix(src, fk)
			size := aws.ToInt64(o.Size)
			g.Go(func() error {
				_, err := s.move(gctx, from, src, dst, size)
				return err
			})
		}
	}
	return g.Wait()
}

// move copies src to dst, then deletes src; it returns the copy's ETag.
func (s *Store) move(ctx context.Context, name, src, dst string, size int64) (string, error) {
	etag, err := s.copyObject(ctx, name, src, dst, size, nil)
	if err != nil {
		return "", err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err = s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &src})
	return etag, classify("rename", name, err)
}

// copyObject copies src to dst inside the bucket: CopyObject up to
// CopyPartSize (5 GiB), a multipart UploadPartCopy above. meta, when not
// nil, replaces the object's metadata. It returns the new object's ETag.
func (s *Store) copyObject(ctx context.Context, name, src, dst string, size int64, meta map[string]string) (string, error) {
	if size <= s.cfg.CopyPartSize {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout+time.Duration(size>>24)*time.Second)
		defer cancel()
		in := &s3.CopyObjectInput{Bucket: &s.cfg.Bucket, Key: &dst, CopySource: aws.String(copySourceHeader(s.cfg.Bucket, src))}
		if meta != nil {
			in.Metadata = meta
			in.MetadataDirective = types.MetadataDirectiveReplace
		}
		out, err := s.c.CopyObject(ctx, in)
		if err != nil {
			return "", classify("copy", name, err)
		}
		if out.CopyObjectResult == nil {
			return "", nil
		}
		return aws.ToString(out.CopyObjectResult.ETag), nil
	}
	hctx, cancel := s.opCtx(ctx)
	head, err := s.c.HeadObject(hctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &src})
	cancel()
	if err != nil {
		return "", classify("copy", name, err)
	}
	if meta == nil {
		meta = head.Metadata
	}
	m := &multipart{s: s, name: name, key: dst}
	cctx, cancel := s.opCtx(ctx)
	out, err := s.c.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &dst, Metadata: meta})
	cancel()
	if err != nil {
		return "", classify("copy", name, err)
	}
	m.id = aws.ToString(out.UploadId)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	cs := &copySource{key: src, etag: aws.ToString(head.ETag), n: size}
	for i, rg := range copyRanges(size, s.cfg.CopyPartSize) {
		g.Go(func() error { return m.copyPart(gctx, cs, int32(i+1), rg) })
	}
	if err := g.Wait(); err != nil {
		m.abort(ctx)
		return "", err
	}
	etag, err := m.complete(ctx)
	if err != nil {
		m.abort(ctx)
		return "", err
	}
	return etag, nil
}

// SetModTime records t in the object's metadata (a copy onto itself), which
// Stat and MDTM then report, and in the directory's time index, which
// listings read (ListObjectsV2 returns no metadata).
func (s *Store) SetModTime(ctx context.Context, name string, t time.Time) error {
	e, err := s.Stat(ctx, name)
	if err != nil {
		return err
	}
	if e.IsDir {
		return storage.E("setmodtime", name, storage.ErrNotSupported, errors.New("directories have no stored time"))
	}
	k, err := s.key("setmodtime", name)
	if err != nil {
		return err
	}
	etag, err := s.copyObject(ctx, name, k, k, e.Size, map[string]string{mtimeKey: strconv.FormatInt(t.Unix(), 10)})
	if err != nil {
		return err
	}
	return s.indexMtime(ctx, name, k, t.Unix(), etag)
}
