package s3store

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// urlKey is one query key of an s3:// storage URL.
type urlKey struct {
	name string
	def  string // the default, as a value of the key; "" when it has none
	note string // Markdown: the default in words, after def or instead of it
	help string // Markdown
	set  func(c *Config, v string) error
}

// urlKeys is every key ParseURL accepts. The key table of docs/s3.md is
// urlKeysMarkdown's rendering of it; TestURLKeysDoc fails when the two
// differ, and `go test ./storage/s3store -run TestURLKeysDoc -update`
// rewrites the table in docs/s3.md.
var urlKeys = []urlKey{
	{
		name: "endpoint", note: "AWS",
		help: "the store's URL, e.g. `http://minio:9000`, `https://<account>.r2.cloudflarestorage.com`, `https://storage.googleapis.com`",
		set:  func(c *Config, v string) error { c.Endpoint = v; return nil },
	},
	{
		name: "region", note: "from the AWS configuration, else `us-east-1`",
		help: "signing region",
		set:  func(c *Config, v string) error { c.Region = v; return nil },
	},
	{
		name: "path_style", def: "false",
		help: "bucket in the path (MinIO, Ceph RGW) instead of the host name",
		set:  func(c *Config, v string) (err error) { c.PathStyle, err = strconv.ParseBool(v); return err },
	},
	{
		name: "part_size", def: "6291456", note: "6 MiB",
		help: "size of the first 1,000 parts of a multipart upload; it doubles every 1,000 parts (up to 5 GiB), so 10,000 parts hold about 5.9 TiB",
		set:  func(c *Config, v string) (err error) { c.PartSize, err = strconv.ParseInt(v, 10, 64); return err },
	},
	{
		name: "concurrency", def: "4",
		help: "parts of one upload sent at once",
		set:  func(c *Config, v string) (err error) { c.Concurrency, err = strconv.Atoi(v); return err },
	},
	{
		name: "memory_budget", def: "268435456", note: "256 MiB",
		help: "part buffers of all uploads together; uploads wait for room instead of exceeding it",
		set:  func(c *Config, v string) (err error) { c.MemoryBudget, err = strconv.ParseInt(v, 10, 64); return err },
	},
	{
		name: "download_concurrency", def: "0",
		help: "part-sized ranges of one download fetched ahead of the client (ranged GETs, each into a part buffer from `memory_budget`). " +
			"0 is one GET per download, fastest when the store is near; a few help when the store is far and one S3 stream is slower than the clients",
		set: func(c *Config, v string) (err error) { c.DownloadConcurrency, err = strconv.Atoi(v); return err },
	},
	{
		name: "copy_part_size", def: "5368709120", note: "5 GiB",
		help: "largest file a rename copies with one CopyObject; larger ones are copied in parts of this size, `concurrency` at a time (UploadPartCopy). " +
			"At least 10 MiB; lower it when single copies of big files take longer than `timeout`",
		set: func(c *Config, v string) (err error) { c.CopyPartSize, err = strconv.ParseInt(v, 10, 64); return err },
	},
	{
		name: "timeout", def: "30s",
		help: "bound on each request (see [errors.md](errors.md))",
		set:  func(c *Config, v string) (err error) { c.Timeout, err = time.ParseDuration(v); return err },
	},
	{
		name: "stale_upload_age", def: "24h",
		help: "abort our multipart uploads older than this, at start and hourly, unless a part was stored within it (a running upload; one ListParts per old upload); negative: never",
		set:  func(c *Config, v string) (err error) { c.StaleUploadAge, err = time.ParseDuration(v); return err },
	},
	{
		name: "resume_window", def: "24h",
		help: "keep an interrupted upload's stored parts this long for its owner to resume (REST + STOR, APPE); then the cleanup aborts it (negative: abort at once)",
		set:  func(c *Config, v string) (err error) { c.ResumeWindow, err = time.ParseDuration(v); return err },
	},
}

// ParseURL reads s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path_style=true
// plus the tuning keys of urlKeys (docs/s3.md lists them all).
func ParseURL(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return Config{}, fmt.Errorf("storage URL %q: want s3://bucket[/prefix][?endpoint=...]", RedactURL(s))
	}
	c := Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	var errs []error
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		err := errors.New("unknown key")
		if i := slices.IndexFunc(urlKeys, func(uk urlKey) bool { return uk.name == k }); i >= 0 {
			err = urlKeys[i].set(&c, v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("storage URL key %q: %w", k, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// urlKeysMarkdown renders urlKeys as the Markdown table of docs/s3.md.
func urlKeysMarkdown() string {
	var b strings.Builder
	b.WriteString("| key | default | meaning |\n|---|---|---|\n")
	for _, k := range urlKeys {
		def := k.note
		if k.def != "" {
			def = "`" + k.def + "`"
			if k.note != "" {
				def += " (" + k.note + ")"
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.name, def, k.help)
	}
	return b.String()
}

// RedactURL drops the query string of a storage URL (s3://, file://,
// mem://), where credentials could sit, so the URL can be logged or put in
// an error message.
func RedactURL(u string) string {
	base, _, _ := strings.Cut(u, "?")
	return base
}
