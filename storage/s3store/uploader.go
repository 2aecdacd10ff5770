package s3store

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"mime"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketftp/bucketftp/storage"
)

// Who stored an object through bucketftp, as user metadata
// (x-amz-meta-bucketftp-user, -client, -session), so the bucket's own
// notifications and a HEAD name the uploader.
const (
	metaUser    = "bucketftp-user"
	metaClient  = "bucketftp-client"
	metaSession = "bucketftp-session"
)

// uploaderMeta is the metadata of an upload whose context names its
// uploader (storage.WithUploader); nil otherwise. Values that are not
// printable ASCII (S3 metadata travels in HTTP headers) are RFC 2047
// encoded, as S3 itself returns such values.
func uploaderMeta(ctx context.Context) map[string]string {
	u, ok := storage.UploaderFrom(ctx)
	if !ok {
		return nil
	}
	m := map[string]string{}
	for k, v := range map[string]string{metaUser: u.User, metaClient: u.Client, metaSession: u.Session} {
		if v != "" {
			m[k] = headerSafe(v)
		}
	}
	return m
}

func headerSafe(v string) string {
	for _, r := range v {
		if r < 0x20 || r > 0x7e {
			return mime.QEncoding.Encode("utf-8", v)
		}
	}
	return v
}

// recordPut reports a PutObject's result to the upload's caller
// (storage.RecordUpload).
func recordPut(ctx context.Context, out *s3.PutObjectOutput) {
	storage.RecordUpload(ctx, aws.ToString(out.ETag), aws.ToString(out.VersionId), checksums(map[string]*string{
		"crc32": out.ChecksumCRC32, "crc32c": out.ChecksumCRC32C, "crc64nvme": out.ChecksumCRC64NVME,
		"sha1": out.ChecksumSHA1, "sha256": out.ChecksumSHA256,
	}))
}

// recordComplete is recordPut for a multipart upload.
func recordComplete(ctx context.Context, out *s3.CompleteMultipartUploadOutput) {
	storage.RecordUpload(ctx, aws.ToString(out.ETag), aws.ToString(out.VersionId), checksums(map[string]*string{
		"crc32": out.ChecksumCRC32, "crc32c": out.ChecksumCRC32C, "crc64nvme": out.ChecksumCRC64NVME,
		"sha1": out.ChecksumSHA1, "sha256": out.ChecksumSHA256,
	}))
}

// checksums turns the base64 checksums S3 returned into hex; composite
// ones of a multipart upload ("...-N", a checksum of the parts' checksums)
// are left out, as they are not the object's.
func checksums(in map[string]*string) map[string]string {
	out := map[string]string{}
	for algo, v := range in {
		s := aws.ToString(v)
		if s == "" || strings.Contains(s, "-") {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			continue
		}
		out[algo] = hex.EncodeToString(b)
	}
	return out
}

// Client returns the store's S3 client, bucket and key prefix, for server
// parts that keep their own objects under the reserved prefix
// PREFIX/.bucketftp/ (the event outbox). Requests through it get the
// store's endpoint, credentials and CA bundle; each caller bounds its own
// requests.
func (s *Store) Client() (c *s3.Client, bucket, prefix string) {
	return s.c, s.cfg.Bucket, s.cfg.Prefix
}
