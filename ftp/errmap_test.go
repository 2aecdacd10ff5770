package ftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
)

// TestMapError pins every row of the error-to-reply table.
func TestMapError(t *testing.T) {
	t.Parallel()
	kind := func(k error) error {
		return fmt.Errorf("RNTO /x: %w", storage.E("rename", "/x", k, errors.New("backend said no: bucket=secret-bucket")))
	}
	cases := []struct {
		name     string
		err      error
		after150 bool
		code     int
		ref      bool
	}{
		{"not found", kind(storage.ErrNotFound), false, 550, false},
		{"permission", kind(storage.ErrPermission), false, 550, false},
		{"exists", kind(storage.ErrExist), false, 550, false},
		{"not empty", kind(storage.ErrNotEmpty), false, 550, false},
		{"invalid name", kind(storage.ErrInvalidName), false, 553, false},
		{"quota before 150", kind(storage.ErrQuota), false, 552, false},
		{"quota after 150", kind(storage.ErrQuota), true, 552, false},
		{"no space before 150", kind(storage.ErrNoSpace), false, 452, true},
		{"no space after 150", kind(storage.ErrNoSpace), true, 452, true},
		{"transient before 150", kind(storage.ErrTransient), false, 450, true},
		{"transient after 150", kind(storage.ErrTransient), true, 451, true},
		{"deadline before 150", context.DeadlineExceeded, false, 450, true},
		{"not supported", kind(storage.ErrNotSupported), false, 502, false},
		{"rename across storages", kind(storage.ErrCrossDevice), false, 553, false},
		{"not found after 150", kind(storage.ErrNotFound), true, 451, true},
		{"unknown before 150", io.ErrClosedPipe, false, 451, true},
		{"unknown after 150", io.ErrClosedPipe, true, 451, true},
		{"aborted", errAborted, true, 426, false},
		{"cancelled", context.Canceled, true, 426, false},
		{"data connection broke", &dataConnError{err: io.ErrUnexpectedEOF}, true, 426, false},
		{"data connection never opened", &dataConnError{opening: true, err: io.ErrUnexpectedEOF}, false, 425, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := mapError(tc.err, tc.after150)
			if m.code != tc.code || m.ref != tc.ref {
				t.Fatalf("mapError = %d (ref %v), want %d (ref %v)", m.code, m.ref, tc.code, tc.ref)
			}
			if m.text == "" || m.text[len(m.text)-1] != '.' {
				t.Fatalf("reply text %q must be a sentence", m.text)
			}
		})
	}
}
