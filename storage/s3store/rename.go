package s3store

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/bucketftp/bucketftp/storage"
)

// renameConcurrency bounds the objects moved at once by a directory rename.
const renameConcurrency = 8

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
	// What the directory cache knew of either side is dropped, whatever
	// the outcome: a failed directory rename may have moved some keys.
	defer func() {
		s.recent.forget(fk)
		s.recent.forget(tk)
		s.dirs.dropTree(fk + "/")
		s.dirs.dropTree(tk + "/")
		fp, _ := splitKey(fk)
		tp, _ := splitKey(tk)
		s.dirs.drop(fp)
		s.dirs.drop(tp)
	}()
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
		// The renamed file replaces the user's interrupted upload at to
		// (resume.go), as a new upload does.
		s.discardPending(ctx, tk, false)
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
