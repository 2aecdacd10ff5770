//go:build !linux

package s3store

func allocBuffer(size int) []byte { return make([]byte, size) }

func dropBuffer([]byte) {}
