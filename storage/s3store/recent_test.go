package s3store

import (
	"fmt"
	"testing"
)

// TestRecentPutsForgetsOldestFirst: when full, the oldest upload is
// forgotten, one per new upload; a key added again counts from then.
func TestRecentPutsForgetsOldestFirst(t *testing.T) {
	r := newRecentPuts()
	key := func(i int) string { return fmt.Sprintf("d/f%05d", i) }
	for i := range maxRecent {
		r.add(key(i), 1, "e", nil)
	}
	r.add(key(0), 1, "e2", nil) // added again: now the newest
	for i := maxRecent; i < maxRecent+10; i++ {
		r.add(key(i), 1, "e", nil)
	}
	// The ring was full with 0..1023: the second add of 0 took the first
	// slot, the ten after it those of 1..10.
	for i := range maxRecent + 10 {
		_, ok := r.get(key(i))
		if want := i == 0 || i > 10; ok != want {
			t.Errorf("%s remembered = %v, want %v", key(i), ok, want)
		}
	}
	if p, _ := r.get(key(0)); p.etag != "e2" {
		t.Errorf("%s: etag %q, want the newer add's", key(0), p.etag)
	}
	if len(r.m) > maxRecent {
		t.Errorf("%d remembered, more than %d", len(r.m), maxRecent)
	}
	r.forget(key(20))
	r.add(key(9999), 1, "e", nil)
	if _, ok := r.get(key(20)); ok {
		t.Error("a forgotten key is remembered")
	}
}
