package s3store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketftp/bucketftp/storage"
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
// began more than age ago, and returns how many it aborted. An interrupted
// upload kept for resuming (resume.go) is aborted instead when its resume
// window has passed, however old it is, and its record deleted with it.
func (s *Store) AbortStaleUploads(ctx context.Context, age time.Duration) (int, error) {
	cutoff := time.Now().Add(-age)
	kept, expired := s.resumeRecords(ctx)
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
			id := aws.ToString(u.UploadId)
			if !strings.HasPrefix(aws.ToString(u.Key), ours) || kept[id] {
				continue
			}
			if _, ok := expired[id]; !ok && (aws.ToTime(u.Initiated).After(cutoff) || s.partSince(ctx, u.Key, u.UploadId, cutoff)) {
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
			for _, doc := range expired {
				if err := s.DeleteDoc(ctx, doc); err != nil {
					s.log.Warn("s3: deleting an expired resume record", "err", err)
				}
			}
			return aborted, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// partSince reports whether the upload got a part after cutoff: it is
// still running (an upload that lasts longer than the age, another
// replica's upload when the age is short), whatever its start. When the
// parts cannot be listed it says so too: the next cleanup asks again.
func (s *Store) partSince(ctx context.Context, key, id *string, cutoff time.Time) bool {
	p := s3.NewListPartsPaginator(s.c, &s3.ListPartsInput{Bucket: &s.cfg.Bucket, Key: key, UploadId: id})
	for p.HasMorePages() {
		lctx, cancel := s.opCtx(ctx)
		out, err := p.NextPage(lctx)
		cancel()
		if err != nil {
			return !errors.Is(classify("cleanup", "/", err), storage.ErrNotFound)
		}
		for _, part := range out.Parts {
			if aws.ToTime(part.LastModified).After(cutoff) {
				return true
			}
		}
	}
	return false
}

// resumeRecords reads the records of interrupted uploads: the upload ids
// still within their resume window (kept), and those past it with their
// records' names (expired). Without records (none, or the store cannot be
// read) both are empty and the age rule alone applies.
func (s *Store) resumeRecords(ctx context.Context) (kept map[string]bool, expired map[string]string) {
	kept, expired = map[string]bool{}, map[string]string{}
	if s.cfg.ResumeWindow <= 0 {
		return kept, expired
	}
	docs, err := s.ListDocs(ctx, resumeArea)
	if err != nil {
		s.log.Debug("s3: listing resume records", "err", err)
		return kept, expired
	}
	now := time.Now()
	for _, d := range docs {
		b, _, err := s.ReadDoc(ctx, d.Name)
		if err != nil {
			continue
		}
		var rec pendingUpload
		if json.Unmarshal(b, &rec) != nil || rec.UploadID == "" {
			continue
		}
		if s.expired(&rec, now) {
			expired[rec.UploadID] = d.Name
		} else {
			kept[rec.UploadID] = true
		}
	}
	return kept, expired
}
