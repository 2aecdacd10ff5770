//go:build linux

package s3store

import "syscall"

// allocBuffer maps size bytes of anonymous memory, outside the Go heap; the
// pages become resident as they are written.
func allocBuffer(size int) []byte {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]byte, size)
	}
	return b
}

// dropBuffer gives b's pages back to the system; b stays valid (reading
// zeros until written again). For heap memory (allocBuffer's fallback) the
// call fails harmlessly.
func dropBuffer(b []byte) {
	_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
}
