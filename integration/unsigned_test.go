package integration

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/bucketftp/bucketftp/storage/s3store"
)

// signingProxy records how each upload request (PUT of an object or a
// part) signs its body: its x-amz-content-sha256 and x-amz-checksum-crc32.
type signingProxy struct {
	addr string

	mu   sync.Mutex
	seen []string // "PUT <payload hash> <crc32 or -> <path>"
}

func newSigningProxy(t testing.TB, target string) *signingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &signingProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host // keep the signed Host header
	}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") == "" && !q.Has("tagging") {
			crc := r.Header.Get("X-Amz-Checksum-Crc32")
			if crc == "" {
				crc = "-"
			}
			p.mu.Lock()
			p.seen = append(p.seen, strings.Join([]string{r.Method, r.Header.Get("X-Amz-Content-Sha256"), crc, r.URL.Path}, " "))
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = "http://" + l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *signingProxy) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.seen
	p.seen = nil
	return s
}

// TestUnsignedPayloadWithChecksum: over http://, uploads that carry their
// body's CRC32 are signed UNSIGNED-PAYLOAD (the body hashed once, by
// CRC32), a single PUT and every part of a multipart upload alike; a byte
// changed on the way still fails the upload, with nothing stored and no
// multipart upload left open.
func TestUnsignedPayloadWithChecksum(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	flip := newSumsProxy(t, shared.endpoint)
	sign := newSigningProxy(t, flip.addr)
	via := *shared
	via.endpoint = sign.addr
	store := via.newStore(t, bucket, "", func(c *s3store.Config) { c.PartSize = 5 << 20 })
	ctx := t.Context()

	small := []byte("a small file, one PUT\n")
	big := make([]byte, 11<<20) // three parts
	if _, err := io.ReadFull(patterned(int64(len(big))), big); err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name string
		data []byte
		puts int // PUTs of data: 1, or one per part
	}{{"small", small, 1}, {"big", big, 3}}

	for _, f := range files {
		if _, err := store.Put(ctx, "/"+f.name, bytes.NewReader(f.data), int64(len(f.data))); err != nil {
			t.Fatalf("Put %s: %v", f.name, err)
		}
		seen := sign.take()
		if len(seen) != f.puts {
			t.Errorf("%s: %d upload requests %q, want %d", f.name, len(seen), seen, f.puts)
		}
		for _, s := range seen {
			fs := strings.Fields(s)
			if fs[1] != "UNSIGNED-PAYLOAD" || fs[2] == "-" {
				t.Errorf("%s: upload request %q, want x-amz-content-sha256 UNSIGNED-PAYLOAD with x-amz-checksum-crc32", f.name, s)
			}
		}
		got := readObject(ctx, t, bucket, f.name)
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s: stored %d bytes, want the %d sent", f.name, len(got), len(f.data))
		}
	}
	for _, f := range files {
		name := "flip-" + f.name
		flip.flip.Store(true)
		before := flip.flipped.Load()
		_, err := store.Put(ctx, "/"+name, bytes.NewReader(f.data), int64(len(f.data)))
		if flip.flipped.Load() == before {
			t.Fatalf("%s: the proxy changed no byte", name)
		}
		if err == nil {
			t.Errorf("Put %s with a byte changed on the way: no error", name)
		}
		if _, err := shared.client.StatObject(ctx, bucket, name, miniogo.StatObjectOptions{}); err == nil {
			t.Errorf("%s is visible", name)
		}
		if n := shared.openUploads(t, bucket); n != 0 {
			t.Errorf("%s: %d multipart uploads left open", name, n)
		}
	}
	flip.flip.Store(false)
	flip.mu.Lock()
	defer flip.mu.Unlock()
	for _, p := range flip.problems {
		t.Error(p)
	}
}

func readObject(ctx context.Context, t *testing.T, bucket, key string) []byte {
	t.Helper()
	obj, err := shared.client.GetObject(ctx, bucket, key, miniogo.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
