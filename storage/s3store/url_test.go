package s3store

import (
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the URL key table in docs/s3.md from urlKeys")

func TestParseURL(t *testing.T) {
	t.Parallel()
	c, err := ParseURL("s3://bucket/some/prefix/?endpoint=http://minio:9000&region=eu-west-1&path_style=true&part_size=16777216&timeout=10s")
	if err != nil {
		t.Fatal(err)
	}
	if c.Bucket != "bucket" || c.Prefix != "some/prefix" || c.Endpoint != "http://minio:9000" || c.Region != "eu-west-1" ||
		!c.PathStyle || c.PartSize != 16<<20 || c.Timeout != 10*time.Second {
		t.Fatalf("parsed %+v", c)
	}
	for _, bad := range []string{"s3://", "file:///x", "s3://b?part_size=1", "s3://b?nope=1", "s3://b?endpoint=ftp://x"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) succeeded", bad)
		}
	}
}

// TestURLKeyDefaults: the default a key's doc row shows is what a URL
// without the key gets.
func TestURLKeyDefaults(t *testing.T) {
	t.Parallel()
	var want Config
	want.setDefaults()
	for _, k := range urlKeys {
		if k.def == "" {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseURL("s3://b?" + k.name + "=" + k.def)
			if err != nil {
				t.Fatal(err)
			}
			c.Bucket = ""
			c.setDefaults()
			if !reflect.DeepEqual(c, want) {
				t.Fatalf("%s=%s gives %+v; without it: %+v", k.name, k.def, c, want)
			}
		})
	}
}

// TestURLKeysDoc: the key table in docs/s3.md, between the s3-keys marker
// comments, is urlKeysMarkdown's. To regenerate it after changing urlKeys:
//
//	go test ./storage/s3store -run TestURLKeysDoc -update
func TestURLKeysDoc(t *testing.T) {
	const (
		doc   = "../../docs/s3.md"
		begin = "<!-- s3-keys:begin"
		end   = "<!-- s3-keys:end -->"
	)
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok1 := strings.Cut(string(b), begin)
	comment, rest, ok2 := strings.Cut(rest, "-->\n")
	table, tail, ok3 := strings.Cut(rest, end)
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("%s has no %s ... --> and %s markers", doc, begin, end)
	}
	want := "\n" + urlKeysMarkdown() + "\n"
	if *update {
		out := head + begin + comment + "-->\n" + want + end + tail
		if err := os.WriteFile(doc, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if table != want {
		t.Fatalf("the URL key table in docs/s3.md differs from urlKeys in url.go: run go test ./storage/s3store -run TestURLKeysDoc -update\nwant:\n%s\nhave:\n%s", want, table)
	}
}
