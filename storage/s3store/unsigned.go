package s3store

import (
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Payload signing of uploads (docs/s3.md, "Checksums"): SigV4 signs a
// request's body by its SHA-256 (x-amz-content-sha256) unless the request
// says UNSIGNED-PAYLOAD. Over https:// the SDK sends PutObject and
// UploadPart unsigned already, TLS guarding the body; over http:// it
// hashes every body, which was 41% of the server's CPU in a 1 GiB STOR.
// A PutObject or UploadPart that carries its body's CRC32
// (x-amz-checksum-crc32, checksums.go) is sent UNSIGNED-PAYLOAD on any
// endpoint: the store verifies the body by that CRC32 and refuses one that
// does not match, so each byte is hashed once. The headers, the checksum
// among them, stay signed. An upload without the CRC32 (a store that
// refuses the checksum headers, an upload copying its old bytes in the
// store) keeps the signed payload.

// unsignedWith are the per-operation options of an upload whose body
// carries sum, its CRC32: none when sum is nil.
func unsignedWith(sum *string) []func(*s3.Options) {
	if sum == nil {
		return nil
	}
	return []func(*s3.Options){s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)}
}
