//go:build !linux

package s3store

func allocBuffer(size int) ([]byte, bool) { return make([]byte, size), false }

func dropBuffer([]byte) {}
