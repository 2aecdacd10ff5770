package storage_test

import (
	"testing"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/faultstore"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

// plain has none of memstore's abilities.
type plain struct{ storage.Backend }

// hiding is a wrapper without the abilities' methods.
type hiding struct{ storage.Backend }

func (h hiding) Unwrap() storage.Backend { return h.Backend }

func TestAs(t *testing.T) {
	t.Parallel()
	mem := memstore.New()
	fault := faultstore.New(mem)
	twice := faultstore.New(fault)
	tests := []struct {
		name string
		b    storage.Backend
		want storage.Backend // what As returns; nil: it reports false
	}{
		{"adapter", mem, mem},
		{"adapter without", plain{mem}, nil},
		{"wrapper", fault, fault},
		{"wrapper of a wrapper", twice, twice},
		{"wrapper of an adapter without", faultstore.New(plain{mem}), nil},
		{"wrapper of a wrapper without", faultstore.New(hiding{mem}), nil},
		{"wrapper that hides", hiding{mem}, nil},
		{"wrapper of nothing", faultstore.New(nil), nil},
		{"nil", nil, nil},
	}
	for _, tc := range tests {
		a, ok := storage.As[storage.Appender](tc.b)
		if ok != (tc.want != nil) || (ok && any(a) != any(tc.want)) {
			t.Errorf("%s: As[Appender] = %v, %v; want %v", tc.name, a, ok, tc.want)
		}
		if !ok && a != nil {
			t.Errorf("%s: As[Appender] reports false with %v, want nil", tc.name, a)
		}
		if got := storage.Has[storage.ModTimeSetter](tc.b); got != (tc.want != nil) {
			t.Errorf("%s: Has[ModTimeSetter] = %v", tc.name, got)
		}
		for _, ab := range storage.Abilities() {
			// memstore lacks some (HeldPutter): a wrapper has what is
			// under it, no more.
			if got := ab.Has(tc.b); got != (tc.want != nil && ab.Has(mem)) {
				t.Errorf("%s: Abilities %s Has = %v", tc.name, ab.Name, got)
			}
		}
	}
}

func TestAbilities(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, a := range storage.Abilities() {
		if a.Name == "" || seen[a.Name] {
			t.Errorf("ability named %q twice or not at all", a.Name)
		}
		seen[a.Name] = true
		if !a.Implements(faultstore.New(plain{memstore.New()})) || a.Implements(plain{memstore.New()}) {
			t.Errorf("%s: Implements is wrong", a.Name)
		}
	}
	for _, want := range []string{"Appender", "ModTimeSetter", "PrefixLister"} {
		if !seen[want] {
			t.Errorf("Abilities lacks %s", want)
		}
	}
}
