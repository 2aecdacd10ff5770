package storage

// AbortedUploadCounter is implemented by backends that abort multipart
// uploads (s3store: failed, cut or stale ones) and count them, for the
// bucketftp_multipart_uploads_aborted_total metric. Like Pinger it is asked
// of the server's own backend, not of a wrapper.
type AbortedUploadCounter interface {
	AbortedUploads() int64
}
