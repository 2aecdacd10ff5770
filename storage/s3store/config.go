package s3store

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Config configures a Store. Zero values take the defaults noted.
type Config struct {
	Bucket    string
	Prefix    string // key prefix, without leading or trailing slash; "" for the whole bucket
	Endpoint  string // e.g. http://minio:9000; "" means AWS
	Region    string // default: from the AWS configuration, else us-east-1
	PathStyle bool   // bucket in the path rather than the host name (MinIO, Ceph)

	// PartSize is the size of the first 1,000 parts of a multipart upload
	// (default 6 MiB, at least 5 MiB). Each further 1,000 parts double it,
	// so 10,000 parts hold about 5.9 TiB.
	PartSize int64
	// Concurrency is how many parts of one upload are sent at once
	// (default 4). One upload holds at most Concurrency+1 part buffers.
	Concurrency int
	// MemoryBudget caps the part buffers of all uploads together (default
	// 256 MiB); uploads wait for buffer space rather than exceed it.
	MemoryBudget int64
	// DownloadConcurrency is how many part-sized ranges of one download
	// are fetched ahead of the client, each into a part buffer from the
	// memory budget. Default 0: one GET per download, which is fastest when
	// the store is near (each byte is copied once less); a few help with a
	// distant store whose single stream is slower than the clients.
	DownloadConcurrency int
	// CopyPartSize is the largest object a rename (or MFMT) copies with one
	// CopyObject request, and the part size of the multipart copy
	// (UploadPartCopy, Concurrency parts at once) above it. Default and
	// maximum 5 GiB, S3's limit for one copy, minimum 10 MiB; smaller
	// values split large copies into parallel requests that each finish
	// within Timeout.
	CopyPartSize int64

	// Timeout bounds each request to the store (default 30s), so clients
	// get a reply in bounded time when the store is down.
	Timeout time.Duration
	// DirCacheTTL is how long what the store learned about a directory
	// (that it exists, which subdirectories it has) is trusted before it
	// is asked again (default 5s; negative: ask every time). See dircache.go.
	DirCacheTTL time.Duration
	// StaleUploadAge: multipart uploads under Prefix older than this are
	// aborted at start and every hour (default 24h; negative disables).
	StaleUploadAge time.Duration
	// ResumeWindow is how long an interrupted upload is kept for its
	// owner to continue (resume.go; default 24h; negative: interrupted
	// uploads are aborted).
	ResumeWindow time.Duration

	// Credentials overrides the AWS SDK's default chain (environment,
	// shared config and profile, web identity, container and instance
	// roles). Tests use static keys.
	Credentials aws.CredentialsProvider
}

const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
	maxParts    = 10000
	maxKeyLen   = 1024
)

func (c *Config) setDefaults() {
	if c.PartSize == 0 {
		c.PartSize = 6 << 20
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = 256 << 20
	}
	if c.CopyPartSize == 0 {
		c.CopyPartSize = maxPartSize
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.DirCacheTTL == 0 {
		c.DirCacheTTL = defaultDirCacheTTL
	}
	if c.StaleUploadAge == 0 {
		c.StaleUploadAge = 24 * time.Hour
	}
	if c.ResumeWindow == 0 {
		c.ResumeWindow = 24 * time.Hour
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Bucket == "" {
		errs = append(errs, errors.New("s3: no bucket"))
	}
	if c.PartSize != 0 && (c.PartSize < minPartSize || c.PartSize > maxPartSize) {
		errs = append(errs, fmt.Errorf("s3: part size %d outside 5 MiB..5 GiB", c.PartSize))
	}
	if c.CopyPartSize != 0 && (c.CopyPartSize < 2*minPartSize || c.CopyPartSize > maxPartSize) {
		errs = append(errs, fmt.Errorf("s3: copy part size %d outside 10 MiB..5 GiB", c.CopyPartSize))
	}
	if c.Concurrency < 0 || c.DownloadConcurrency < 0 || c.MemoryBudget < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("s3: concurrency, download concurrency, memory budget and timeout must not be negative"))
	}
	if c.MemoryBudget != 0 && c.MemoryBudget < max(c.PartSize, minPartSize) {
		errs = append(errs, fmt.Errorf("s3: memory budget %d is smaller than one part", c.MemoryBudget))
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("s3: endpoint %q is not an http(s) URL", c.Endpoint))
		}
	}
	return errors.Join(errs...)
}
