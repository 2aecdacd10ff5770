//go:build linux

package s3store

import "syscall"

// allocBuffer maps size bytes of anonymous memory, outside the Go heap; the
// pages become resident as they are written. mapped is false for the heap
// fallback.
func allocBuffer(size int) (b []byte, mapped bool) {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]byte, size), false
	}
	return b, true
}

// dropBuffer gives the pages of a mapped buffer back to the system; b stays
// valid (reading zeros until written again).
func dropBuffer(b []byte) {
	_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
}
