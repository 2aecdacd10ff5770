package s3store

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
)

// TestCABundle: with AWS_CA_BUNDLE naming the CA of an HTTPS store, the
// store is trusted (the SDK accepts our HTTP client and applies the
// bundle); without it, the same store's certificate is refused.
func TestCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
	}))
	t.Cleanup(srv.Close)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(bundle, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Setenv("AWS_CA_BUNDLE", bundle)
	s := newTestStore(t, srv.URL)
	if _, err := s.Stat(t.Context(), "/f"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("with the bundle: %v, want not found from the store", err)
	}

	t.Setenv("AWS_CA_BUNDLE", "")
	os.Unsetenv("AWS_CA_BUNDLE")
	s = newTestStore(t, srv.URL)
	if _, err := s.Stat(t.Context(), "/f"); errors.Is(err, storage.ErrNotFound) || err == nil {
		t.Fatalf("without the bundle the self-signed store was trusted: %v", err)
	}
}
