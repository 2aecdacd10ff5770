package s3store

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/bucketftp/bucketftp/storage"
)

// Copies inside the bucket, for rename, MFMT (a copy onto itself) and
// APPE/REST+STOR (the old object's first bytes start the new one): one
// CopyObject up to CopyPartSize, parts copied by UploadPartCopy into a
// multipart upload (upload.go) above.

// copySource is an existing object whose first n bytes start a new one.
type copySource struct {
	key, etag string
	n         int64
	h         *storage.Hashing // an APPE's checksums, going on from the old file's; nil: none
}

// copySourceHeader is the x-amz-copy-source value naming key in bucket.
func copySourceHeader(bucket, key string) string {
	return url.PathEscape(bucket) + "/" + strings.ReplaceAll(url.PathEscape(key), "%2F", "/")
}

// copyTimeout bounds a copy of n bytes inside the store: the request
// timeout plus a second per 16 MiB.
func (s *Store) copyTimeout(n int64) time.Duration {
	return s.cfg.Timeout + time.Duration(n>>24)*time.Second
}

// copyObject copies src to dst inside the bucket: CopyObject up to
// CopyPartSize (5 GiB), a multipart UploadPartCopy above. meta, when not
// nil, replaces the object's metadata. It returns the new object's ETag.
func (s *Store) copyObject(ctx context.Context, name, src, dst string, size int64, meta map[string]string) (string, error) {
	if size <= s.cfg.CopyPartSize {
		ctx, cancel := context.WithTimeout(ctx, s.copyTimeout(size))
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
	head, err := s.head(ctx, "copy", name, src)
	if err != nil {
		return "", err
	}
	if meta == nil {
		meta = head.Metadata
	}
	m := &multipart{s: s, name: name, key: dst}
	if err := m.create(ctx, "copy", meta); err != nil {
		return "", err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	m.copyParts(gctx, g, 1, &copySource{key: src, etag: aws.ToString(head.ETag), n: size})
	if err := g.Wait(); err != nil {
		m.abort(ctx)
		return "", err
	}
	etag, err := m.complete(ctx)
	if err != nil {
		m.abort(ctx)
		return "", err
	}
	if aws.ToInt32(head.TagCount) > 0 {
		s.copyTags(ctx, name, src, dst)
	}
	return etag, nil
}

// copyTags gives dst the tags of src (the recorded checksums of a
// multipart upload, checksums.go), as CopyObject does by itself: a copy in
// parts carries none. The copy is done either way; without them HASH
// computes the checksums by reading.
func (s *Store) copyTags(ctx context.Context, name, src, dst string) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &s.cfg.Bucket, Key: &src})
	if err == nil {
		_, err = s.c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: &s.cfg.Bucket, Key: &dst,
			Tagging: &types.Tagging{TagSet: out.TagSet}}, s.requiredSum()...)
	}
	if err != nil {
		s.log.Warn("s3: copying an object's tags", "path", name, "err", err)
	}
}

// copyParts starts copying the first src.n bytes of src into the upload as
// parts first, first+1, ..., in g; it returns the number of the next part.
func (m *multipart) copyParts(ctx context.Context, g *errgroup.Group, first int, src *copySource) int {
	num := first
	for _, rg := range copyRanges(src.n, m.s.cfg.CopyPartSize) {
		partNum := int32(num)
		g.Go(func() error { return m.copyPart(ctx, src, partNum, rg) })
		num++
	}
	return num
}

// copyRanges splits [0,n) into ranges of at most limit bytes, each at
// least 5 MiB (n is at least 5 MiB, limit at least 10 MiB).
func copyRanges(n, limit int64) [][2]int64 {
	count := (n + limit - 1) / limit
	size := (n + count - 1) / count
	var rs [][2]int64
	for start := int64(0); start < n; start += size {
		rs = append(rs, [2]int64{start, min(start+size, n) - 1})
	}
	return rs
}

// copyPart copies bytes rg (inclusive) of src, as long as it still has
// its ETag, into the upload as part num.
func (m *multipart) copyPart(ctx context.Context, src *copySource, num int32, rg [2]int64) error {
	ctx, cancel := context.WithTimeout(ctx, m.s.copyTimeout(rg[1]-rg[0]))
	defer cancel()
	out, err := m.s.c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &m.s.cfg.Bucket, Key: &m.key, UploadId: &m.id,
		PartNumber: aws.Int32(num), CopySource: aws.String(copySourceHeader(m.s.cfg.Bucket, src.key)),
		CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", rg[0], rg[1])), CopySourceIfMatch: aws.String(src.etag)})
	if err != nil {
		return classify("append", m.name, err)
	}
	r := out.CopyPartResult
	m.done(types.CompletedPart{PartNumber: aws.Int32(num), ETag: r.ETag,
		ChecksumCRC32: r.ChecksumCRC32, ChecksumCRC32C: r.ChecksumCRC32C, ChecksumCRC64NVME: r.ChecksumCRC64NVME,
		ChecksumSHA1: r.ChecksumSHA1, ChecksumSHA256: r.ChecksumSHA256}, rg[1]-rg[0]+1)
	return nil
}
