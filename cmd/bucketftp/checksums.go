package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bucketftp/bucketftp/storage"
)

// checksumAlgos reads --checksums: algorithm names, comma-separated
// ("sha256,crc32"), or "none".
func checksumAlgos(v string) (algos []string, none bool, err error) {
	if strings.EqualFold(strings.TrimSpace(v), "none") {
		return nil, true, nil
	}
	algos = []string{}
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		a, ok := storage.ParseAlgorithm(f)
		if !ok {
			return nil, false, fmt.Errorf("--checksums: unknown algorithm %q (sha256, crc32, md5, sha1, sha512 or none)", f)
		}
		if !slices.Contains(algos, a) {
			algos = append(algos, a)
		}
	}
	return algos, false, nil
}
