package s3store

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

// newTestStore is a Store on bucket "b" of the fake store at endpoint,
// without the stale-upload cleanup.
func newTestStore(t *testing.T, endpoint string) *Store {
	t.Helper()
	return newTestStoreWith(t, Config{
		Bucket: "b", Endpoint: endpoint, Region: "us-east-1", PathStyle: true, StaleUploadAge: -1,
	})
}

// newTestStoreWith is New with static test credentials and a 2s timeout
// unless cfg sets one.
func newTestStoreWith(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider("k", "s", "")
	s, err := New(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
