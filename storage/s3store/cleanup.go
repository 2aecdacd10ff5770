package s3store

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const cleanupEvery = time.Hour

// cleanupLoop aborts stale multipart uploads at start and every hour: those
// a crash or a lost connection to the store left behind.
func (s *Store) cleanupLoop(ctx context.Context) {
	defer close(s.cleanupDone)
	if s.cfg.StaleUploadAge < 0 {
		return
	}
	t := time.NewTicker(cleanupEvery)
	defer t.Stop()
	for {
		if n, err := s.AbortStaleUploads(ctx, s.cfg.StaleUploadAge); err != nil {
			s.log.Warn("stale multipart cleanup failed", "err", err)
		} else if n > 0 {
			s.log.Info("aborted stale multipart uploads", "count", n, "older_than", s.cfg.StaleUploadAge)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// AbortStaleUploads aborts multipart uploads under the store's prefix that
// began more than age ago, and returns how many it aborted.
func (s *Store) AbortStaleUploads(ctx context.Context, age time.Duration) (int, error) {
	cutoff := time.Now().Add(-age)
	// The prefix is matched here, not sent: MinIO lists uploads only for
	// an empty prefix or an exact key.
	in := &s3.ListMultipartUploadsInput{Bucket: &s.cfg.Bucket}
	ours := ""
	if s.cfg.Prefix != "" {
		ours = s.cfg.Prefix + "/"
	}
	aborted := 0
	for {
		lctx, cancel := s.opCtx(ctx)
		out, err := s.c.ListMultipartUploads(lctx, in)
		cancel()
		if err != nil {
			return aborted, classify("cleanup", "/", err)
		}
		for _, u := range out.Uploads {
			if !strings.HasPrefix(aws.ToString(u.Key), ours) || aws.ToTime(u.Initiated).After(cutoff) {
				continue
			}
			actx, cancel := s.opCtx(ctx)
			_, err := s.c.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: u.Key, UploadId: u.UploadId})
			cancel()
			if err != nil {
				return aborted, classify("cleanup", "/", err)
			}
			aborted++
			s.aborted.Add(1)
		}
		if !aws.ToBool(out.IsTruncated) {
			return aborted, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
